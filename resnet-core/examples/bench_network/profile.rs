//! Where an iteration spends its time, by layer kind.
//!
//! The network's layers are private to it, so this module builds the same
//! layers from the plan and runs them in the order `Network::run` and
//! `Block::forward` do, with a probe after every layer. A probe notes the
//! forward time since the previous one and records an empty backward op
//! on the tape. dfdx runs backward ops in the reverse order of their
//! creation, so the time between two probes' backward ops is the backward
//! pass of the layer between them. If `Network::run` or `Block::forward`
//! change, this copy must follow them.
//!
//! The report is JSON: milliseconds per iteration by kind (medians over
//! the iterations) for forward and backward, and the convolutions'
//! floating-point operations by kind, so that a kind's rate can be set
//! against PyTorch's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::prelude::*;
use resnet_core::layers::{BatchNorm2d, Block, Conv2d, Init, Linear, Mode as BnMode};
use resnet_core::ops::{avg_pool2d, max_pool2d, Image, PoolGeometry};
use resnet_core::spec::{ConvPlan, Pooling};
use resnet_core::Spec;
use serde_json::{json, Value};

use super::{median, Batch, Failure, Mode};

/// Backward marks, in the order the backward pass reaches them.
#[derive(Clone, Default)]
struct Marks(Arc<Mutex<Vec<(&'static str, Instant)>>>);

/// Times the forward pass layer by layer and plants the backward marks.
struct Probe {
    last: Instant,
    forward: BTreeMap<&'static str, f64>,
    marks: Marks,
}

impl Probe {
    fn new() -> Self {
        Probe {
            last: Instant::now(),
            forward: BTreeMap::new(),
            marks: Marks::default(),
        }
    }

    /// Charges the time since the previous probe to `kind` and marks the
    /// spot on the tape.
    fn after<S: Shape, T: Tape<f32, Cpu>>(
        &mut self,
        kind: &'static str,
        x: Tensor<S, f32, Cpu, T>,
    ) -> Tensor<S, f32, Cpu, T> {
        let now = Instant::now();
        *self.forward.entry(kind).or_default() += ms(now - self.last);
        self.last = now;
        let (x, mut tape) = x.split_tape();
        let marks = self.marks.clone();
        tape.add_backward_op(move |_| {
            marks
                .0
                .lock()
                .expect("no thread panics holding it")
                .push((kind, Instant::now()));
            Ok(())
        });
        x.put_tape(tape)
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The layers of a network, built from its plan.
struct Layers {
    stem_conv: Conv2d<f32, Cpu>,
    stem_bn: BatchNorm2d<f32, Cpu>,
    stem_pool: Option<(Pooling, PoolGeometry)>,
    blocks: Vec<Block<f32, Cpu>>,
    fc: Linear<f32, Cpu>,
    batch_norms: usize,
}

impl Layers {
    fn new(spec: &Spec, dev: &Cpu) -> Result<Self, Failure> {
        let plan = spec.plan()?;
        let mut init = Init::he(0);
        let constants = (spec.bn_epsilon, spec.bn_momentum);
        let mut next_bn = 1;
        let stem_conv = Conv2d::new(&plan.stem_conv, dev, &mut init);
        let stem_bn = BatchNorm2d::new(&plan.stem_bn, dev, constants.0, constants.1, 0);
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
            .map(|b| Block::new(b, dev, &mut init, constants, &mut next_bn))
            .collect();
        let fc = Linear::new(&plan.fc, dev, &mut init);
        Ok(Layers {
            stem_conv,
            stem_bn,
            stem_pool,
            blocks,
            fc,
            batch_norms: next_bn,
        })
    }

    /// The forward pass with a probe after every layer.
    fn forward<T: Tape<f32, Cpu>>(
        &self,
        x: Image<f32, Cpu, T>,
        mode: &mut BnMode<f32, Cpu>,
        probe: &mut Probe,
    ) -> Result<Tensor<(usize, usize), f32, Cpu, T>, Failure> {
        let x = probe.after("input", x);
        let shape = *x.shape();
        let dev = x.device().clone();
        let shift = dev.tensor_from_vec(vec![-0.5f32; shape.1], (shape.1,));
        let scale = dev.tensor_from_vec(vec![1.0f32; shape.1], (shape.1,));
        let shift = shift.broadcast_like::<_, Axes3<0, 2, 3>>(&shape);
        let x = (x + shift) * scale.broadcast_like::<_, Axes3<0, 2, 3>>(&shape);
        let x = probe.after("normalize", x);

        let x = self.stem_conv.forward(x)?;
        let x = probe.after(conv_kind(&self.stem_conv), x);
        let mut x = self.stem_bn.forward(x, true, mode)?;
        x = probe.after("bn+relu", x);
        if let Some((kind, geometry)) = &self.stem_pool {
            x = match kind {
                Pooling::Average => avg_pool2d(x, geometry, true)?,
                _ => max_pool2d(x, geometry)?,
            };
            x = probe.after("pool", x);
        }
        for block in &self.blocks {
            x = block_forward(block, x, mode, probe)?;
        }

        let features = x.mean::<(usize, usize), Axes2<2, 3>>();
        let logits = self.fc.forward(features)?;
        Ok(probe.after("head (mean, fc)", logits))
    }
}

/// `Block::forward` with probes.
fn block_forward<T: Tape<f32, Cpu>>(
    block: &Block<f32, Cpu>,
    x: Image<f32, Cpu, T>,
    mode: &mut BnMode<f32, Cpu>,
    probe: &mut Probe,
) -> Result<Image<f32, Cpu, T>, Failure> {
    let (x, tape) = x.split_tape();
    let shortcut = match &block.shortcut {
        None => x.retaped::<T>(),
        Some((conv, bn)) => {
            let y = conv.forward(x.retaped::<T>())?;
            let y = probe.after(conv_kind(conv), y);
            match bn {
                Some(bn) => probe.after("bn", bn.forward(y, false, mode)?),
                None => y,
            }
        }
    };

    let last = block.convs.len() - 1;
    let mut y = x.put_tape(tape);
    for (i, conv) in block.convs.iter().enumerate() {
        y = probe.after(conv_kind(conv), conv.forward(y)?);
        if i < last || !block.bn_after_add {
            let kind = if i < last { "bn+relu" } else { "bn" };
            y = probe.after(kind, block.bns[i].forward(y, i < last, mode)?);
        }
    }

    let sum = y + shortcut;
    let out = if block.bn_after_add {
        block.bns[last].forward(sum, true, mode)?
    } else {
        sum.relu()
    };
    Ok(probe.after("add+relu", out))
}

/// A label such as "conv 3x3/2" (kernel and stride; no "/1").
fn conv_kind(conv: &Conv2d<f32, Cpu>) -> &'static str {
    let (_, _, kh, kw) = *conv.weight.shape();
    let stride = conv.geometry.stride;
    let label = if stride == [1, 1] {
        format!("conv {kh}x{kw}")
    } else {
        format!("conv {kh}x{kw}/{}", stride[0])
    };
    // A handful of labels per run; leaking them keeps the probes simple.
    Box::leak(label.into_boxed_str())
}

/// Forward floating-point operations of the plan's convolutions by kind,
/// in GFLOP for a batch of `n` (two per multiply-add).
fn conv_gflop(spec: &Spec, n: usize) -> Result<BTreeMap<String, f64>, Failure> {
    let plan = spec.plan()?;
    let mut convs: Vec<&ConvPlan> = vec![&plan.stem_conv];
    for block in &plan.blocks {
        convs.extend(&block.convs);
        convs.extend(block.shortcut.as_ref().map(|(c, _)| c));
    }
    let mut flops = BTreeMap::new();
    for c in convs {
        let [kh, kw] = c.kernel;
        let [oh, ow] = c.output;
        let macs = n * c.out_channels * c.in_channels * kh * kw * oh * ow;
        let kind = if c.stride == [1, 1] {
            format!("conv {kh}x{kw}")
        } else {
            format!("conv {kh}x{kw}/{}", c.stride[0])
        };
        *flops.entry(kind).or_insert(0.0) += 2.0 * macs as f64 / 1e9;
    }
    Ok(flops)
}

/// Runs `warmup` untimed and `iters` timed iterations of `mode` on the
/// layers of `config` and returns the breakdown.
pub fn run(
    config: &Path,
    mode: Mode,
    batch: &Batch,
    warmup: usize,
    iters: usize,
) -> Result<Value, Failure> {
    let spec = Spec::from_toml_file(config)?;
    let dev = Cpu::default();
    let layers = Layers::new(&spec, &dev)?;
    let mut forward: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut backward: BTreeMap<&str, Vec<f64>> = BTreeMap::new();

    for i in 0..warmup + iters {
        let mut probe = Probe::new();
        let mut marks = Vec::new();
        match mode {
            Mode::Infer => {
                let logits = layers.forward(batch.images.clone(), &mut BnMode::Eval, &mut probe)?;
                std::hint::black_box(logits.as_vec());
            }
            Mode::Train => {
                let mut bn_mode = BnMode::Train(vec![None; layers.batch_norms]);
                let x = batch.images.clone().traced(Gradients::leaky());
                let logits = layers.forward(x, &mut bn_mode, &mut probe)?;
                let loss = cross_entropy_with_logits_loss(logits, batch.targets.clone());
                let start = Instant::now();
                let grads = loss.backward();
                let end = Instant::now();
                drop(grads);
                marks.push(("loss", start));
                marks.extend(probe.marks.0.lock().expect("not poisoned").iter().copied());
                marks.push(("", end));
            }
        }
        if i < warmup {
            continue;
        }
        for (kind, ms) in &probe.forward {
            forward.entry(kind).or_default().push(*ms);
        }
        // The time from one mark to the next is the backward pass of the
        // layer that the first mark closes.
        let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
        for pair in marks.windows(2) {
            *sums.entry(pair[0].0).or_default() += ms(pair[1].1 - pair[0].1);
        }
        for (kind, ms) in sums {
            backward.entry(kind).or_default().push(ms);
        }
    }

    let medians = |by_kind: BTreeMap<&str, Vec<f64>>| -> BTreeMap<String, f64> {
        by_kind
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), median(&v)?)))
            .collect()
    };
    let forward = medians(forward);
    let backward = medians(backward);
    Ok(json!({
        "config": config,
        "mode": format!("{mode:?}").to_lowercase(),
        "batch": batch.labels.len(),
        "threads": rayon::current_num_threads(),
        "forward_ms": forward,
        "backward_ms": backward,
        "forward_total_ms": forward.values().sum::<f64>(),
        "backward_total_ms": backward.values().sum::<f64>(),
        "conv_gflop": conv_gflop(&spec, batch.labels.len())?,
    }))
}
