//! A residual network built at run time from a [`Spec`].

use dfdx::prelude::*;
use resnet_spec::{Normalization, Plan, Pooling, Spec};

use crate::layers::{BatchNorm2d, Block, Conv2d, Init, Linear, Mode, TensorVisitor};
use crate::ops::{Backend, Image, PoolGeometry};
use crate::Error;

/// Per-channel statistics the input layer normalizes with: `x' = (x -
/// mean) / std`. They come from the training data ("zerocenter",
/// "zscore") or from the spec (fixed `mean` / `std` with "none").
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InputStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// A residual network whose layers follow the plan of a validated spec.
///
/// Activations have runtime dimensions checked against the plan; the typed
/// wrapper `typed::ResNet` also fixes input and output sizes at compile
/// time.
pub struct Network<E: Dtype, D: Backend<E>> {
    spec: Spec,
    plan: Plan,
    device: D,
    input_stats: InputStats,
    initialized: bool,
    stem_conv: Conv2d<E, D>,
    stem_bn: BatchNorm2d<E, D>,
    stem_pool: Option<(Pooling, PoolGeometry)>,
    blocks: Vec<Block<E, D>>,
    fc: Linear<E, D>,
    batch_norms: usize,
}

impl<E: Dtype, D: Backend<E>> Network<E, D> {
    /// Builds the network a spec describes: He-initialized from seed 0, or
    /// all zeros (and reported uninitialized) when `spec.initialize` is
    /// false.
    pub fn new(spec: &Spec, device: &D) -> Result<Self, Error> {
        Self::with_seed(spec, device, 0)
    }

    /// As [`Network::new`], drawing the initial weights from `seed`.
    pub fn with_seed(spec: &Spec, device: &D, seed: u64) -> Result<Self, Error> {
        check_buildable(spec)?;
        let plan = spec.plan().map_err(|e| Error::Invalid(e.to_string()))?;
        let mut init = if spec.initialize {
            Init::he(seed)
        } else {
            Init::zeros()
        };
        let bn_constants = (spec.bn_epsilon, spec.bn_momentum);
        let mut next_bn = 1;

        let stem_conv = Conv2d::new(&plan.stem_conv, device, &mut init);
        let stem_bn = BatchNorm2d::new(&plan.stem_bn, device, bn_constants.0, bn_constants.1, 0);
        let stem_pool = plan.stem_pool.as_ref().map(|p| {
            let geometry = PoolGeometry {
                window: p.window,
                stride: p.stride,
                pad: p.pad,
            };
            (p.kind, geometry)
        });
        let blocks = plan
            .blocks
            .iter()
            .map(|b| Block::new(b, device, &mut init, bn_constants, &mut next_bn))
            .collect();
        let fc = Linear::new(&plan.fc, device, &mut init);

        let channels = spec.input[2];
        let input_stats = InputStats {
            mean: spec.mean.clone().unwrap_or_else(|| vec![0.0; channels]),
            std: spec.std.clone().unwrap_or_else(|| vec![1.0; channels]),
        };
        Ok(Network {
            spec: spec.clone(),
            plan,
            device: device.clone(),
            input_stats,
            initialized: init.is_random(),
            stem_conv,
            stem_bn,
            stem_pool,
            blocks,
            fc,
            batch_norms: next_bn,
        })
    }

    /// The spec this network was built from.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The layer plan of the spec.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The MATLAB-style analysis of the network: counts of layers,
    /// connections, learnables and states, and the per-layer table.
    pub fn summary(&self) -> resnet_spec::Summary {
        resnet_spec::Summary::from_plan(&self.plan)
    }

    /// The device the weights live on.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// False for a network built with `initialize = false` until weights
    /// are loaded into it.
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// Marks the weights as set (after loading them).
    pub fn set_initialized(&mut self) {
        self.initialized = true;
    }

    /// The statistics the input layer normalizes with.
    pub fn input_stats(&self) -> &InputStats {
        &self.input_stats
    }

    /// Sets the input statistics, one value per channel.
    pub fn set_input_stats(&mut self, stats: InputStats) -> Result<(), Error> {
        let channels = self.spec.input[2];
        if stats.mean.len() != channels || stats.std.len() != channels {
            return Err(Error::Invalid(format!(
                "input statistics need {channels} values per channel list, got {} means and \
                 {} standard deviations",
                stats.mean.len(),
                stats.std.len()
            )));
        }
        if stats.std.iter().any(|s| !(*s > 0.0) || !s.is_finite()) {
            return Err(Error::Invalid(format!(
                "input standard deviations must be positive and finite, got {:?}",
                stats.std
            )));
        }
        self.input_stats = stats;
        Ok(())
    }

    /// Which normalization the input layer applies.
    pub fn normalization(&self) -> Normalization {
        self.spec.normalization
    }

    /// Inference: batch norm uses the running statistics. Takes images
    /// `[batch, channels, height, width]` and returns logits
    /// `[batch, classes]`.
    pub fn forward<T: Tape<E, D>>(
        &self,
        x: Image<E, D, T>,
    ) -> Result<Tensor<(usize, usize), E, D, T>, Error> {
        self.run(x, &mut Mode::Eval)
    }

    /// Training: batch norm uses the batch statistics and updates the
    /// running ones. Returns logits `[batch, classes]`.
    pub fn forward_train<T: Tape<E, D>>(
        &mut self,
        x: Image<E, D, T>,
    ) -> Result<Tensor<(usize, usize), E, D, T>, Error> {
        let mut mode = Mode::Train(vec![None; self.batch_norms]);
        let logits = self.run(x, &mut mode)?;
        if let Mode::Train(mut updates) = mode {
            self.for_each_batch_norm(|bn| {
                if let Some((mean, var)) = updates[bn.index].take() {
                    bn.running_mean = mean;
                    bn.running_var = var;
                }
            });
        }
        Ok(logits)
    }

    /// Class probabilities (softmax of the logits) in inference mode.
    pub fn predict(&self, x: Image<E, D>) -> Result<Tensor<(usize, usize), E, D>, Error> {
        Ok(self.forward(x)?.softmax::<Axis<1>>())
    }

    /// Visits every learnable and state tensor by its torchvision name.
    pub fn visit<V: TensorVisitor<E, D>>(&mut self, visitor: &mut V) -> Result<(), Error> {
        self.stem_conv.visit(visitor)?;
        self.stem_bn.visit(visitor)?;
        for block in &mut self.blocks {
            block.visit(visitor)?;
        }
        self.fc.visit(visitor)
    }

    fn run<T: Tape<E, D>>(
        &self,
        x: Image<E, D, T>,
        mode: &mut Mode<E, D>,
    ) -> Result<Tensor<(usize, usize), E, D, T>, Error> {
        self.check_input(&x)?;
        let x = self.normalize(x);

        let x = self.stem_conv.forward(x)?;
        let mut x = self.stem_bn.forward(x, true, mode)?;
        if let Some((kind, geometry)) = &self.stem_pool {
            x = match kind {
                Pooling::Average => D::avg_pool2d(x, geometry, true)?,
                _ => D::max_pool2d(x, geometry)?,
            };
        }
        for block in &self.blocks {
            x = block.forward(x, mode)?;
        }

        let features = x.mean::<(usize, usize), Axes2<2, 3>>();
        self.fc.forward(features)
    }

    /// Rejects images whose channels or size differ from the spec's input.
    fn check_input<T>(&self, x: &Image<E, D, T>) -> Result<(), Error> {
        let (n, c, h, w) = *x.shape();
        let [eh, ew, ec] = self.spec.input;
        if c != ec {
            let s = if ec == 1 { "" } else { "s" };
            return Err(Error::Shape(format!(
                "expected {ec} channel{s}, got {c} (images must be [batch, channels, height, \
                 width])"
            )));
        }
        if (h, w) != (eh, ew) {
            return Err(Error::Shape(format!(
                "expected images of {eh}x{ew}, got {h}x{w}"
            )));
        }
        if n == 0 {
            return Err(Error::Shape(
                "expected at least one image, got an empty batch".into(),
            ));
        }
        Ok(())
    }

    /// Applies the input layer's per-channel normalization.
    fn normalize<T: Tape<E, D>>(&self, x: Image<E, D, T>) -> Image<E, D, T> {
        let stats = &self.input_stats;
        let identity = stats.mean.iter().all(|m| *m == 0.0) && stats.std.iter().all(|s| *s == 1.0);
        if identity {
            return x;
        }
        let shape = *x.shape();
        let to_e = |v: &[f32], f: fn(f32) -> f32| -> Vec<E> {
            v.iter()
                .map(|x| E::from_f32(f(*x)).expect("finite"))
                .collect()
        };
        let shift = self
            .device
            .tensor_from_vec(to_e(&stats.mean, |m| -m), (shape.1,));
        let scale = self
            .device
            .tensor_from_vec(to_e(&stats.std, |s| 1.0 / s), (shape.1,));
        let shift = shift.broadcast_like::<_, Axes3<0, 2, 3>>(&shape);
        let scale = scale.broadcast_like::<_, Axes3<0, 2, 3>>(&shape);
        (x + shift) * scale
    }

    fn for_each_batch_norm(&mut self, mut f: impl FnMut(&mut BatchNorm2d<E, D>)) {
        f(&mut self.stem_bn);
        for block in &mut self.blocks {
            for bn in &mut block.bns {
                f(bn);
            }
            if let Some((_, Some(bn))) = &mut block.shortcut {
                f(bn);
            }
        }
    }
}

/// The most values one weight tensor or one image's activation may hold:
/// far beyond any ResNet (ResNet-152 has 60 million learnable values),
/// and below what would make allocation fail and abort the process.
const MOST_VALUES: usize = 1 << 31;

/// Refuses specs whose weights or activations could not be allocated,
/// with a message that names the sizes, instead of an abort later (as
/// [`Network::new`] does; a command calls it before loading data, which
/// would be resized to the spec's input). Sizes are multiplied without
/// overflow, however absurd the spec.
pub fn check_buildable(spec: &Spec) -> Result<(), Error> {
    let plan = spec.plan().map_err(|e| Error::Invalid(e.to_string()))?;
    let product = |dims: &[usize]| dims.iter().fold(1usize, |a, &b| a.saturating_mul(b));
    let convs = std::iter::once(&plan.stem_conv).chain(plan.blocks.iter().flat_map(|b| {
        b.convs
            .iter()
            .chain(b.shortcut.as_ref().map(|(conv, _)| conv))
    }));
    let (mut weights, mut largest) = (0usize, product(&plan.input));
    for conv in convs {
        let [kh, kw] = conv.kernel;
        weights = weights.saturating_add(product(&[conv.out_channels, conv.in_channels, kh, kw]));
        let [h, w] = conv.output;
        largest = largest.max(product(&[h, w, conv.out_channels]));
    }
    if weights > MOST_VALUES || largest > MOST_VALUES {
        return Err(Error::Invalid(format!(
            "the network is too large to build: {weights} convolution weights and activations \
             of up to {largest} values per image (at most {MOST_VALUES} each); use fewer \
             filters or a smaller input"
        )));
    }
    Ok(())
}
