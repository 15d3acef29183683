//! 2-D batch normalization with running statistics.
//!
//! Training mode normalizes each channel of a batch `[n, c, h, w]` with the
//! mean and biased variance of its `n * h * w` values and moves the running
//! statistics the way PyTorch does; inference mode normalizes with the
//! running statistics. Both can apply a ReLU in the same pass. The backward
//! pass is written by hand: in training mode the gradient of the input
//! flows through the batch statistics, in inference mode they are
//! constants.
//!
//! [`batch_norm2d_train`] and [`batch_norm2d_eval`] check their arguments
//! and drive the device's [`BatchNormKernel`]; the CPU kernel lives in
//! `batchnorm/cpu.rs`.
//!
//! dfdx 0.13 keeps a tensor's buffer private (its `Tensorlike` trait is
//! not exported), so a kernel sees the input through a copy it makes itself
//! (see [`BatchNormKernel::batch_norm_read`]): on the CPU one `memcpy` in
//! the forward pass, which becomes the output, and one in the backward
//! pass. The backward pass keeps the input's buffer alive, not a copy of
//! it.

mod cpu;

use dfdx::prelude::*;
use dfdx::tensor_ops::Device;

use super::Image;
use crate::Error;

/// A per-channel vector: scale, offset or a running statistic.
type Channels<E, D> = Tensor<(usize,), E, D>;

/// Constants of a batch normalization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root; at least 0.
    pub epsilon: f64,
    /// Weight of the new batch in the running statistics (PyTorch's
    /// convention), between 0 and 1.
    pub momentum: f64,
    /// Apply a ReLU to the output in the same pass.
    pub relu: bool,
}

impl Default for BatchNormConfig {
    /// PyTorch's defaults: epsilon 1e-5, momentum 0.1, no ReLU.
    fn default() -> Self {
        BatchNormConfig {
            epsilon: 1e-5,
            momentum: 0.1,
            relu: false,
        }
    }
}

/// Per-channel statistics of a batch, accumulated in `f64`.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    /// The mean of each channel's `n * h * w` values.
    pub mean: Vec<f64>,
    /// The biased variance: squared deviations summed and divided by the
    /// count itself (PyTorch normalizes with this one).
    pub var: Vec<f64>,
}

/// The per-channel constants of one normalization:
/// `y = (x - mean) * inv_std * scale + offset`, in the element type.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelAffine<E> {
    /// Subtracted from the input: the batch's mean or the running mean.
    pub mean: Vec<E>,
    /// `1 / sqrt(variance + epsilon)`.
    pub inv_std: Vec<E>,
    /// The learnable scale (PyTorch's `weight`).
    pub scale: Vec<E>,
    /// The learnable offset (PyTorch's `bias`).
    pub offset: Vec<E>,
}

/// Gradients of the scale and the offset from one backward pass, to be
/// added to what the gradient buffers hold.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelGrads<E> {
    /// `sum(g * xhat)` per channel, `g` the (masked) output gradient.
    pub scale: Vec<E>,
    /// `sum(g)` per channel.
    pub offset: Vec<E>,
}

/// Which statistics the output was normalized with, and so which gradient
/// of the input the backward pass computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistics {
    /// The batch's own (training): the gradient flows through the mean
    /// and variance.
    Batch,
    /// Constants (inference): the running statistics.
    Running,
}

/// The device side of the batch norm ops.
///
/// Shapes are `[n, c, h, w]` and have been checked against the
/// per-channel vectors. Gradient buffers are row-major (the ops make the
/// input contiguous first) and kernels add to them.
pub trait BatchNormKernel<E: Dtype>: Device<E> {
    /// The input as the kernel reads it.
    type Input: 'static;

    /// Reads `x` into the form the other methods take: on the CPU a
    /// row-major host copy.
    fn batch_norm_read(&self, x: &Image<E, Self>) -> Result<Self::Input, Self::Err>;

    /// Per-channel mean and biased variance over batch, height and width.
    fn batch_norm_moments(&self, x: &Self::Input, shape: [usize; 4]) -> Result<Moments, Self::Err>;

    /// `(x - mean) * inv_std * scale + offset` per channel, then a ReLU
    /// when `relu` is set; may reuse the input's memory for the output.
    fn batch_norm_apply(
        &self,
        x: Self::Input,
        shape: [usize; 4],
        affine: &ChannelAffine<E>,
        relu: bool,
    ) -> Result<Image<E, Self>, Self::Err>;

    /// Adds the gradient of the input to `grad_x` for the output's
    /// gradient `grad_out` (masked by `y > 0` when `relu` is set) and
    /// returns the gradients of the scale and the offset.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_backward(
        &self,
        x: &Self::Input,
        shape: [usize; 4],
        affine: &ChannelAffine<E>,
        statistics: Statistics,
        relu: bool,
        grad_x: &mut <Self as Storage<E>>::Vec,
        grad_out: &<Self as Storage<E>>::Vec,
    ) -> Result<ChannelGrads<E>, Self::Err>;

    /// Adds `values` to the gradient buffer of a per-channel vector.
    fn batch_norm_accumulate(
        &self,
        grad: &mut <Self as Storage<E>>::Vec,
        values: &[E],
    ) -> Result<(), Self::Err>;
}

/// Training mode: normalizes `x` `[n, c, h, w]` with each channel's batch
/// mean and biased variance over its `n * h * w` values, then
/// `y = scale * xhat + offset` (and a ReLU when `config.relu` is set).
///
/// The running statistics move PyTorch's way:
/// `running_mean = (1 - m) * running_mean + m * mean` and
/// `running_var = (1 - m) * running_var + m * var * count / (count - 1)`
/// with `m` the momentum and `count = n * h * w` (the unbiased variance
/// goes into the running one). They keep their ids; a tensor that
/// shares its buffer with them (a clone) keeps the old values. When `x`
/// carries a tape, the backward pass adds the gradients of `x` (through the
/// batch statistics), `scale` and `offset`.
///
/// Errors, all leaving the running statistics unchanged:
/// [`Error::Shape`] when `scale`, `offset` or a running statistic does not
/// have one value per channel; [`Error::Invalid`] for an epsilon below 0 or
/// a momentum outside 0..=1, for a batch with fewer than two values per
/// channel ("batch norm needs more than one value per channel: batch of 1
/// with 1x1 maps; use a batch size of at least 2"), and for statistics that
/// are not finite (an input holding NaN or infinity); [`Error::Device`]
/// when the device fails.
pub fn batch_norm2d_train<E: Dtype, D: BatchNormKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    scale: &Tensor<(usize,), E, D>,
    offset: &Tensor<(usize,), E, D>,
    running_mean: &mut Tensor<(usize,), E, D>,
    running_var: &mut Tensor<(usize,), E, D>,
    config: &BatchNormConfig,
) -> Result<Image<E, D, T>, Error> {
    let (n, c, h, w) = *x.shape();
    let count = check_train(
        (n, c, h, w),
        scale,
        offset,
        running_mean,
        running_var,
        config,
    )?;

    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let shape = [n, c, h, w];
    let input = dev.batch_norm_read(&x).map_err(Error::device)?;

    let moments = dev
        .batch_norm_moments(&input, shape)
        .map_err(Error::device)?;
    let (new_mean, new_var) = running_update(
        &running_mean.as_vec(),
        &running_var.as_vec(),
        &moments,
        config.momentum,
        count,
    )?;
    let affine = ChannelAffine::new(
        &moments.mean,
        &moments.var,
        scale.as_vec(),
        offset.as_vec(),
        config.epsilon,
        "batch",
    )?;

    let out = dev
        .batch_norm_apply(input, shape, &affine, config.relu)
        .map_err(Error::device)?;

    // Both new tensors exist before either replaces its running statistic.
    let new_mean = overwritten(running_mean, &new_mean)?;
    let new_var = overwritten(running_var, &new_var)?;
    *running_mean = new_mean;
    *running_var = new_var;

    if T::OWNS_TAPE {
        record_backward(
            &mut tape,
            x,
            scale,
            offset,
            &out,
            affine,
            Statistics::Batch,
            config,
        );
    }
    Ok(out.put_tape(tape))
}

/// Inference mode: `y = scale * (x - running_mean) / sqrt(running_var +
/// epsilon) + offset` per channel (and a ReLU when `config.relu` is set).
/// When `x` carries a tape, the backward pass adds the gradients of `x`,
/// `scale` and `offset`, the statistics being constants. The momentum is
/// not used.
///
/// Errors: [`Error::Shape`] when `scale`, `offset` or a running statistic
/// does not have one value per channel; [`Error::Invalid`] for an epsilon
/// below 0 and for a running variance whose `sqrt(var + epsilon)` is not a
/// positive finite number; [`Error::Device`] when the device fails.
pub fn batch_norm2d_eval<E: Dtype, D: BatchNormKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    scale: &Tensor<(usize,), E, D>,
    offset: &Tensor<(usize,), E, D>,
    running_mean: &Tensor<(usize,), E, D>,
    running_var: &Tensor<(usize,), E, D>,
    config: &BatchNormConfig,
) -> Result<Image<E, D, T>, Error> {
    let (n, c, h, w) = *x.shape();
    check_lengths(c, scale, offset, running_mean, running_var)?;
    config.check_epsilon()?;

    let mean: Vec<f64> = running_mean.as_vec().into_iter().map(widen).collect();
    let var: Vec<f64> = running_var.as_vec().into_iter().map(widen).collect();
    let affine = ChannelAffine::new(
        &mean,
        &var,
        scale.as_vec(),
        offset.as_vec(),
        config.epsilon,
        "running",
    )?;

    let x = x.try_contiguous().map_err(Error::device)?;
    let (x, mut tape) = x.split_tape();
    let dev = x.device().clone();
    let shape = [n, c, h, w];
    let input = dev.batch_norm_read(&x).map_err(Error::device)?;
    let out = dev
        .batch_norm_apply(input, shape, &affine, config.relu)
        .map_err(Error::device)?;

    if T::OWNS_TAPE {
        record_backward(
            &mut tape,
            x,
            scale,
            offset,
            &out,
            affine,
            Statistics::Running,
            config,
        );
    }
    Ok(out.put_tape(tape))
}

impl BatchNormConfig {
    pub(super) fn check_epsilon(&self) -> Result<(), Error> {
        if self.epsilon.is_finite() && self.epsilon >= 0.0 {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "batch norm epsilon must be a finite number of at least 0, got {}",
            self.epsilon
        )))
    }

    fn check_momentum(&self) -> Result<(), Error> {
        if (0.0..=1.0).contains(&self.momentum) {
            return Ok(());
        }
        Err(Error::Invalid(format!(
            "batch norm momentum must be between 0 and 1, got {}",
            self.momentum
        )))
    }
}

impl<E: Dtype> ChannelAffine<E> {
    /// The constants for normalizing with `mean` and `var` (batch or
    /// running, named by `source` in errors), or an [`Error::Invalid`]
    /// naming the channel whose statistics are not finite or whose
    /// `sqrt(var + epsilon)` is not positive.
    pub(super) fn new(
        mean: &[f64],
        var: &[f64],
        scale: Vec<E>,
        offset: Vec<E>,
        epsilon: f64,
        source: &str,
    ) -> Result<Self, Error> {
        let mut narrow_mean = Vec::with_capacity(mean.len());
        let mut inv_std = Vec::with_capacity(mean.len());
        for (channel, (&m, &v)) in mean.iter().zip(var).enumerate() {
            let (m_e, inv_e) = (narrow::<E>(m), narrow::<E>(1.0 / (v + epsilon).sqrt()));
            match (m_e, inv_e) {
                (Some(m_e), Some(inv_e)) => {
                    narrow_mean.push(m_e);
                    inv_std.push(inv_e);
                }
                _ => return Err(bad_statistics(source, channel, m, v, epsilon)),
            }
        }
        Ok(ChannelAffine {
            mean: narrow_mean,
            inv_std,
            scale,
            offset,
        })
    }
}

/// The error for a channel that cannot be normalized.
fn bad_statistics(source: &str, channel: usize, mean: f64, var: f64, epsilon: f64) -> Error {
    let why = if !mean.is_finite() || !var.is_finite() {
        "they are not finite (the input holds NaN or infinite values)".to_string()
    } else {
        format!("sqrt(variance + epsilon {epsilon}) is not a positive finite number")
    };
    let unchanged = if source == "batch" {
        "; the running statistics were left unchanged"
    } else {
        ""
    };
    Error::Invalid(format!(
        "batch norm cannot normalize channel {channel} with its {source} mean {mean} and \
         variance {var}: {why}{unchanged}"
    ))
}

/// The checks of training mode, before anything moves: per-channel
/// lengths, the constants, and more than one value per channel, whose
/// count it returns.
pub(super) fn check_train<E: Dtype, D: Storage<E>>(
    (n, c, h, w): (usize, usize, usize, usize),
    scale: &Channels<E, D>,
    offset: &Channels<E, D>,
    running_mean: &Channels<E, D>,
    running_var: &Channels<E, D>,
    config: &BatchNormConfig,
) -> Result<usize, Error> {
    check_lengths(c, scale, offset, running_mean, running_var)?;
    config.check_epsilon()?;
    config.check_momentum()?;
    values_per_channel(n, h, w)
}

/// Checks that every per-channel vector has one value per channel.
pub(super) fn check_lengths<E: Dtype, D: Storage<E>>(
    channels: usize,
    scale: &Channels<E, D>,
    offset: &Channels<E, D>,
    running_mean: &Channels<E, D>,
    running_var: &Channels<E, D>,
) -> Result<(), Error> {
    let vectors = [
        ("scale", scale),
        ("offset", offset),
        ("running mean", running_mean),
        ("running variance", running_var),
    ];
    for (name, vector) in vectors {
        let len = vector.shape().0;
        if len != channels {
            return Err(Error::Shape(format!(
                "batch norm {name} has {len} values but the input has {channels} channels; \
                 expected one value per channel"
            )));
        }
    }
    Ok(())
}

/// The number of values each channel's batch statistics are taken over,
/// or an error when it is below 2 (the variance is then undefined and
/// PyTorch's `n / (n - 1)` would divide by zero).
fn values_per_channel(n: usize, h: usize, w: usize) -> Result<usize, Error> {
    let count = n * h * w;
    if count >= 2 {
        return Ok(count);
    }
    let advice = if count == 1 {
        "use a batch size of at least 2"
    } else {
        "the batch holds no values"
    };
    Err(Error::Invalid(format!(
        "batch norm needs more than one value per channel: batch of {n} with {h}x{w} maps; \
         {advice}"
    )))
}

/// The running statistics after one batch, or an error when a batch
/// statistic or an updated value is not finite.
pub(super) fn running_update<E: Dtype>(
    old_mean: &[E],
    old_var: &[E],
    moments: &Moments,
    momentum: f64,
    count: usize,
) -> Result<(Vec<E>, Vec<E>), Error> {
    let bessel = count as f64 / (count - 1) as f64;
    let keep = 1.0 - momentum;
    let mut new_mean = Vec::with_capacity(old_mean.len());
    let mut new_var = Vec::with_capacity(old_var.len());

    for channel in 0..old_mean.len() {
        let (mean, var) = (moments.mean[channel], moments.var[channel]);
        if !mean.is_finite() || !var.is_finite() {
            return Err(bad_statistics("batch", channel, mean, var, 0.0));
        }
        let (old_m, old_v) = (widen(old_mean[channel]), widen(old_var[channel]));
        let m = keep * old_m + momentum * mean;
        let v = keep * old_v + momentum * var * bessel;
        match (narrow::<E>(m), narrow::<E>(v)) {
            (Some(m), Some(v)) => {
                new_mean.push(m);
                new_var.push(v);
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "batch norm running statistics of channel {channel} would become mean {m} \
                     and variance {v} (from running mean {old_m}, variance {old_v}); they are \
                     not finite and were left unchanged"
                )))
            }
        }
    }
    Ok((new_mean, new_var))
}

/// `stat` with `values` written in, keeping its id. Writing goes through
/// copy-on-write, so a clone sharing the old buffer keeps the old values.
pub(super) fn overwritten<E: Dtype, D: Device<E>>(
    stat: &Channels<E, D>,
    values: &[E],
) -> Result<Channels<E, D>, Error> {
    let mut fresh = stat.clone().try_contiguous().map_err(Error::device)?;
    fresh.copy_from(values);
    Ok(fresh)
}

/// Records the backward pass of one normalization on `tape`. It keeps the
/// input (its buffer, not a copy), the per-channel constants, and ghosts
/// of the scale, the offset and the output, which hold no data.
#[allow(clippy::too_many_arguments)]
fn record_backward<E: Dtype, D: BatchNormKernel<E>, T: Tape<E, D>>(
    tape: &mut T,
    x: Image<E, D>,
    scale: &Channels<E, D>,
    offset: &Channels<E, D>,
    out: &Image<E, D>,
    affine: ChannelAffine<E>,
    statistics: Statistics,
    config: &BatchNormConfig,
) {
    let scale = scale.ghost();
    let offset = offset.ghost();
    let out = out.ghost();
    let relu = config.relu;
    let (n, c, h, w) = *x.shape();
    let shape = [n, c, h, w];

    tape.add_backward_op(move |grads| {
        let dev = x.device().clone();
        grads.try_alloc_for(&x)?;
        grads.try_alloc_for(&out)?;

        // dfdx lends one gradient buffer at a time, so the output's
        // gradient is moved out while the input's is written, and put back.
        let empty = <D as Storage<E>>::try_alloc_len(&dev, 0)?;
        let grad_out = std::mem::replace(grads.get_or_alloc_mut(&out)?, empty);
        let result = dev.batch_norm_read(&x).and_then(|input| {
            let grad_x = grads.get_or_alloc_mut(&x)?;
            dev.batch_norm_backward(&input, shape, &affine, statistics, relu, grad_x, &grad_out)
        });
        *grads.get_or_alloc_mut(&out)? = grad_out;
        let param_grads = result?;

        dev.batch_norm_accumulate(grads.get_or_alloc_mut(&scale)?, &param_grads.scale)?;
        dev.batch_norm_accumulate(grads.get_or_alloc_mut(&offset)?, &param_grads.offset)
    });
}

/// An element as `f64` (NaN for a value `f64` cannot hold).
pub(super) fn widen<E: Dtype>(value: E) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

/// A finite `f64` as an element, or `None` when either is not finite.
pub(super) fn narrow<E: Dtype>(value: f64) -> Option<E> {
    let narrowed = E::from_f64(value)?;
    (value.is_finite() && widen(narrowed).is_finite()).then_some(narrowed)
}
