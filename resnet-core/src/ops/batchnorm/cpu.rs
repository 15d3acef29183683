//! The CPU batch norm kernel, for `f32` and `f64`.
//!
//! A batch `[n, c, h, w]` is row-major, so channel `c` of image `n` is the
//! contiguous plane `(n * channels + c) * h * w ..` of `h * w` values.
//! Per-channel sums run in parallel over channels and visit the planes of
//! each channel in turn, accumulating in `f64` in several lanes; the
//! element-wise passes run in parallel over planes. Nothing is allocated
//! per element.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::{BatchNormKernel, ChannelAffine, ChannelGrads, Image, Moments, Statistics};

/// Values one rayon task handles at least, so that small planes (1x1 maps
/// of many channels) are not spread one by one.
const GRAIN: usize = 1 << 14;

/// Independent accumulators per sum, which lets the compiler vectorize
/// and keeps rounding errors from piling up in one running total.
const LANES: usize = 8;

/// Values per lane summed in the element type before the sum moves to
/// `f64`: few enough that `f32` rounding stays near its unit roundoff.
const BLOCK: usize = 32;

/// The element types the kernel computes in.
trait Real: Dtype + Send + Sync {
    fn widen(self) -> f64;
    fn narrow(value: f64) -> Self;
    /// `value` where `y > 0`, else 0: the ReLU's gradient mask. Written
    /// with bit masks because a branch here mispredicts on half the values
    /// and keeps the loop from being vectorized.
    fn where_positive(y: Self, value: Self) -> Self;
}

impl Real for f32 {
    fn widen(self) -> f64 {
        self as f64
    }
    fn narrow(value: f64) -> Self {
        value as f32
    }
    #[inline(always)]
    fn where_positive(y: Self, value: Self) -> Self {
        let mask = ((y > 0.0) as u32).wrapping_neg();
        f32::from_bits(value.to_bits() & mask)
    }
}

impl Real for f64 {
    fn widen(self) -> f64 {
        self
    }
    fn narrow(value: f64) -> Self {
        value
    }
    #[inline(always)]
    fn where_positive(y: Self, value: Self) -> Self {
        let mask = ((y > 0.0) as u64).wrapping_neg();
        f64::from_bits(value.to_bits() & mask)
    }
}

/// The sizes the kernel needs: images, channels and values per plane.
#[derive(Debug, Clone, Copy)]
struct Layout {
    batch: usize,
    channels: usize,
    plane: usize,
}

impl Layout {
    fn new([n, c, h, w]: [usize; 4]) -> Self {
        Layout {
            batch: n,
            channels: c,
            plane: h * w,
        }
    }

    fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    /// The planes of `channel`, one per image.
    fn planes<'a, F>(&self, data: &'a [F], channel: usize) -> impl Iterator<Item = &'a [F]> {
        let (channels, plane) = (self.channels, self.plane);
        (0..self.batch).map(move |b| &data[(b * channels + channel) * plane..][..plane])
    }

    /// Planes per task in the element-wise passes.
    fn planes_per_task(&self) -> usize {
        (GRAIN / self.plane.max(1)).max(1)
    }

    /// Channels per task in the per-channel sums.
    fn channels_per_task(&self) -> usize {
        (GRAIN / (self.batch * self.plane).max(1)).max(1)
    }
}

/// The per-channel constants in the form the passes use. `gain` is
/// computed once here, so the backward pass recomputes the forward's
/// output bit for bit when it needs the ReLU's mask.
struct Coefficients<F> {
    channels: Vec<Channel<F>>,
}

/// One channel's constants, copied out before a loop over its values so
/// that the loop reads them from registers.
#[derive(Debug, Clone, Copy)]
struct Channel<F> {
    mean: F,
    inv_std: F,
    gain: F,
    offset: F,
}

impl<F: Real> Coefficients<F> {
    fn new(affine: &ChannelAffine<F>) -> Self {
        let channels = (0..affine.mean.len())
            .map(|c| Channel {
                mean: affine.mean[c],
                inv_std: affine.inv_std[c],
                gain: affine.scale[c] * affine.inv_std[c],
                offset: affine.offset[c],
            })
            .collect();
        Coefficients { channels }
    }
}

impl<F: Real> Channel<F> {
    /// The output for input `x`, before any ReLU.
    #[inline(always)]
    fn output(&self, x: F) -> F {
        (x - self.mean) * self.gain + self.offset
    }

    /// The normalized input `(x - mean) * inv_std`.
    #[inline(always)]
    fn xhat(&self, x: F) -> F {
        (x - self.mean) * self.inv_std
    }

    /// The output's gradient `dy`, zero where the ReLU cut the output off.
    #[inline(always)]
    fn masked(&self, relu: bool, x: F, dy: F) -> F {
        if relu {
            F::where_positive(self.output(x), dy)
        } else {
            dy
        }
    }
}

/// The batch statistics: per channel, sums of `x - shift` and of its
/// square, with `shift` the channel's first value so that a large mean
/// does not cancel the variance away.
fn moments<F: Real>(x: &[F], layout: Layout) -> Moments {
    let count = (layout.batch * layout.plane) as f64;
    let per_channel: Vec<(f64, f64)> = (0..layout.channels)
        .into_par_iter()
        .with_min_len(layout.channels_per_task())
        .map(|channel| {
            let shift = layout
                .planes(x, channel)
                .flatten()
                .next()
                .map_or(0.0, |v| v.widen());
            let mut sum = [0.0; LANES];
            let mut squares = [0.0; LANES];
            for plane in layout.planes(x, channel) {
                shifted_sums(plane, shift, &mut sum, &mut squares);
            }
            let d = sum.iter().sum::<f64>() / count;
            let var = squares.iter().sum::<f64>() / count - d * d;
            // Rounding can leave a constant channel a hair below zero.
            (shift + d, if var < 0.0 { 0.0 } else { var })
        })
        .collect();
    let (mean, var) = per_channel.into_iter().unzip();
    Moments { mean, var }
}

fn shifted_sums<F: Real>(
    plane: &[F],
    shift: f64,
    sum: &mut [f64; LANES],
    squares: &mut [f64; LANES],
) {
    let mut chunks = plane.chunks_exact(LANES);
    for chunk in &mut chunks {
        for lane in 0..LANES {
            let d = chunk[lane].widen() - shift;
            sum[lane] += d;
            squares[lane] += d * d;
        }
    }
    for (lane, value) in chunks.remainder().iter().enumerate() {
        let d = value.widen() - shift;
        sum[lane] += d;
        squares[lane] += d * d;
    }
}

/// Normalizes `data` in place.
fn apply<F: Real>(data: &mut [F], layout: Layout, coefficients: &Coefficients<F>, relu: bool) {
    if layout.len() == 0 {
        return;
    }
    let zero = F::default();
    data.par_chunks_mut(layout.plane)
        .with_min_len(layout.planes_per_task())
        .enumerate()
        .for_each(|(index, plane)| {
            let k = coefficients.channels[index % layout.channels];
            if relu {
                for value in plane {
                    let y = k.output(*value);
                    *value = if y < zero { zero } else { y };
                }
            } else {
                for value in plane {
                    *value = k.output(*value);
                }
            }
        });
}

/// Per channel, the sums of the (masked) output gradient `g` and of
/// `g * xhat`: the offset's and the scale's gradients.
fn channel_sums<F: Real>(
    x: &[F],
    grad_out: &[F],
    layout: Layout,
    coefficients: &Coefficients<F>,
    relu: bool,
) -> (Vec<f64>, Vec<f64>) {
    (0..layout.channels)
        .into_par_iter()
        .with_min_len(layout.channels_per_task())
        .map(|channel| {
            let k = coefficients.channels[channel];
            let mut sum_g = [0.0; LANES];
            let mut sum_gx = [0.0; LANES];
            let planes = layout
                .planes(x, channel)
                .zip(layout.planes(grad_out, channel));
            for (xs, dys) in planes {
                if relu {
                    plane_grad_sums::<F, true>(k, xs, dys, &mut sum_g, &mut sum_gx);
                } else {
                    plane_grad_sums::<F, false>(k, xs, dys, &mut sum_g, &mut sum_gx);
                }
            }
            (sum_g.iter().sum::<f64>(), sum_gx.iter().sum::<f64>())
        })
        .unzip()
}

/// Adds one plane's `g` and `g * xhat` to the lanes; `RELU` is a
/// constant so that each variant compiles to its own loop. Each block of
/// `LANES * BLOCK` values is first turned into `g` and `g * xhat` in a
/// stack buffer (a plain element-wise loop, which vectorizes), then summed
/// lane by lane in the element type, and the block's sums are added in
/// `f64`.
fn plane_grad_sums<F: Real, const RELU: bool>(
    k: Channel<F>,
    xs: &[F],
    dys: &[F],
    sum_g: &mut [f64; LANES],
    sum_gx: &mut [f64; LANES],
) {
    let zero = F::default();
    let mut g = [zero; LANES * BLOCK];
    let mut gx = [zero; LANES * BLOCK];
    for (x_block, dy_block) in xs.chunks(LANES * BLOCK).zip(dys.chunks(LANES * BLOCK)) {
        let len = x_block.len();
        let (g, gx) = (&mut g[..len], &mut gx[..len]);
        for (((g, gx), &x), &dy) in g.iter_mut().zip(gx.iter_mut()).zip(x_block).zip(dy_block) {
            *g = k.masked(RELU, x, dy);
            *gx = *g * k.xhat(x);
        }

        let mut block_g = [zero; LANES];
        let mut block_gx = [zero; LANES];
        for (g_lanes, gx_lanes) in g.chunks(LANES).zip(gx.chunks(LANES)) {
            for (lane, (&g, &gx)) in g_lanes.iter().zip(gx_lanes).enumerate() {
                block_g[lane] += g;
                block_gx[lane] += gx;
            }
        }
        for lane in 0..LANES {
            sum_g[lane] += block_g[lane].widen();
            sum_gx[lane] += block_gx[lane].widen();
        }
    }
}

/// Adds the input's gradient. With batch statistics it is
/// `gain * (g - mean(g) - xhat * mean(g * xhat))`, the two means taken
/// over the channel; with running statistics it is `gain * g`.
#[allow(clippy::too_many_arguments)]
fn add_input_grad<F: Real>(
    x: &[F],
    grad_out: &[F],
    grad_x: &mut [F],
    layout: Layout,
    coefficients: &Coefficients<F>,
    relu: bool,
    centering: Option<(&[F], &[F])>,
) {
    if layout.len() == 0 {
        return;
    }
    let plane = layout.plane;
    grad_x
        .par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .zip(grad_out.par_chunks(plane))
        .with_min_len(layout.planes_per_task())
        .enumerate()
        .for_each(|(index, ((dxs, xs), dys))| {
            let channel = index % layout.channels;
            let k = coefficients.channels[channel];
            let values = dxs.iter_mut().zip(xs).zip(dys);
            match centering {
                Some((mean_g, mean_gx)) => {
                    let (mg, mgx) = (mean_g[channel], mean_gx[channel]);
                    for ((dx, &x), &dy) in values {
                        let g = k.masked(relu, x, dy);
                        *dx += k.gain * (g - mg - k.xhat(x) * mgx);
                    }
                }
                None => {
                    for ((dx, &x), &dy) in values {
                        *dx += k.gain * k.masked(relu, x, dy);
                    }
                }
            }
        });
}

fn backward<F: Real>(
    x: &[F],
    shape: [usize; 4],
    affine: &ChannelAffine<F>,
    statistics: Statistics,
    relu: bool,
    grad_x: &mut [F],
    grad_out: &[F],
) -> Result<ChannelGrads<F>, CpuError> {
    let layout = Layout::new(shape);
    let len = layout.len();
    if x.len() != len || grad_x.len() != len || grad_out.len() != len {
        return Err(CpuError::WrongNumElements);
    }
    let coefficients = Coefficients::new(affine);
    let (sum_g, sum_gx) = channel_sums(x, grad_out, layout, &coefficients, relu);

    let centering = match statistics {
        Statistics::Batch => {
            let count = (layout.batch * layout.plane) as f64;
            let mean_g: Vec<F> = sum_g.iter().map(|s| F::narrow(s / count)).collect();
            let mean_gx: Vec<F> = sum_gx.iter().map(|s| F::narrow(s / count)).collect();
            Some((mean_g, mean_gx))
        }
        Statistics::Running => None,
    };
    let centering = centering
        .as_ref()
        .map(|(g, gx)| (g.as_slice(), gx.as_slice()));
    add_input_grad(x, grad_out, grad_x, layout, &coefficients, relu, centering);

    Ok(ChannelGrads {
        scale: sum_gx.into_iter().map(F::narrow).collect(),
        offset: sum_g.into_iter().map(F::narrow).collect(),
    })
}

macro_rules! cpu_kernel {
    ($float:ty) => {
        impl BatchNormKernel<$float> for Cpu {
            type Input = Vec<$float>;

            fn batch_norm_read(&self, x: &Image<$float, Self>) -> Result<Vec<$float>, CpuError> {
                // A contiguous tensor's buffer holds exactly its elements in
                // row-major order, so a plain copy reads it.
                let x = x.clone().try_contiguous()?;
                let mut data = vec![0.0; x.shape().num_elements()];
                x.copy_into(&mut data);
                Ok(data)
            }

            fn batch_norm_moments(
                &self,
                x: &Vec<$float>,
                shape: [usize; 4],
            ) -> Result<Moments, CpuError> {
                Ok(moments(x, Layout::new(shape)))
            }

            fn batch_norm_apply(
                &self,
                mut x: Vec<$float>,
                shape: [usize; 4],
                affine: &ChannelAffine<$float>,
                relu: bool,
            ) -> Result<Image<$float, Self>, CpuError> {
                let coefficients = Coefficients::new(affine);
                apply(&mut x, Layout::new(shape), &coefficients, relu);
                let [n, c, h, w] = shape;
                self.try_tensor_from_vec(x, (n, c, h, w))
            }

            fn batch_norm_backward(
                &self,
                x: &Vec<$float>,
                shape: [usize; 4],
                affine: &ChannelAffine<$float>,
                statistics: Statistics,
                relu: bool,
                grad_x: &mut <Self as Storage<$float>>::Vec,
                grad_out: &<Self as Storage<$float>>::Vec,
            ) -> Result<ChannelGrads<$float>, CpuError> {
                backward(x, shape, affine, statistics, relu, grad_x, grad_out)
            }

            fn batch_norm_accumulate(
                &self,
                grad: &mut <Self as Storage<$float>>::Vec,
                values: &[$float],
            ) -> Result<(), CpuError> {
                if grad.len() != values.len() {
                    return Err(CpuError::WrongNumElements);
                }
                for (g, v) in grad.iter_mut().zip(values) {
                    *g += *v;
                }
                Ok(())
            }
        }
    };
}

cpu_kernel!(f32);
cpu_kernel!(f64);
