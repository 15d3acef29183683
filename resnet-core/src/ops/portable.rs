//! Convolution, pooling and batch normalization composed of dfdx's own
//! tensor ops, for devices that have no kernels of ours (CUDA).
//!
//! Each function keeps the contract of its namesake in the parent module
//! (the same arguments, output, errors and gradients) and runs on any dfdx
//! device; dfdx records the backward pass op by op, so nothing here writes a
//! gradient by hand. The price is memory and passes over the data:
//! convolution gathers the im2col matrix of the whole batch
//! (`in_channels * kh * kw` rows, `out_h * out_w * batch` columns) and keeps
//! it for the backward pass, pooling gathers a window-by-cell matrix, and
//! the window indices are built on the host for every call. The CPU
//! backend's kernels avoid all of that; on the CPU these functions serve the
//! tests that hold them to the kernels.
//!
//! Two differences with the kernels remain: the gradient of a max pool goes
//! to every cell that ties for a window's maximum (dfdx's `max` rule), not
//! to the first one only, and batch statistics are summed in the element
//! type rather than in `f64`.

use dfdx::prelude::*;
use dfdx::tensor_ops::Device;

use super::batchnorm::{
    check_lengths, check_train, narrow, overwritten, running_update, widen, BatchNormConfig,
    ChannelAffine, Moments,
};
use super::conv::{Conv2dDims, Conv2dGeometry, Vector, Weight4};
use super::pool::{Pool2dDims, PoolGeometry};
use super::Image;
use crate::Error;

type Matrix<E, D, T> = Tensor<(usize, usize), E, D, T>;

/// [`super::conv2d`] composed of dfdx ops: gathers the im2col matrix of the
/// batch and multiplies the weight with it (one product per group).
pub fn conv2d<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    weight: &Weight4<E, D>,
    bias: Option<&Vector<E, D>>,
    geometry: &Conv2dGeometry,
) -> Result<Image<E, D, T>, Error> {
    let dims = Conv2dDims::of(&x, weight, bias, geometry)?;
    let (n, c, h, w) = *x.shape();
    let (o, _, kh, kw) = *weight.shape();
    let [oh, ow] = dims.out_size;
    let (rows, cells, groups) = (c * kh * kw, oh * ow, dims.groups);

    // One column per image, one row per input value, then the im2col rows.
    let indices = window_indices(
        c,
        dims.in_size,
        dims.kernel,
        dims.stride,
        &dims.pad,
        [oh, ow],
    );
    let columns = x.try_reshape_like(&(n, c * h * w)).map_err(Error::device)?;
    let columns = gather_rows(columns, indices, E::default())?;
    let columns = columns
        .try_reshape_like(&(rows, cells * n))
        .map_err(Error::device)?;

    let weight = weight.retaped::<T>();
    let product = if groups == 1 {
        let weight = weight.try_reshape_like(&(o, rows)).map_err(Error::device)?;
        weight.try_matmul(columns).map_err(Error::device)?
    } else {
        let weight = weight
            .try_reshape_like(&(groups, o / groups, rows / groups))
            .map_err(Error::device)?;
        let columns = columns
            .try_reshape_like(&(groups, rows / groups, cells * n))
            .map_err(Error::device)?;
        let product = weight.try_matmul(columns).map_err(Error::device)?;
        product
            .try_reshape_like(&(o, cells * n))
            .map_err(Error::device)?
    };

    // [o, cells, n] to [n, o, oh, ow].
    let out = product
        .try_reshape_like(&(o, cells, n))
        .and_then(|p| p.try_permute::<_, Axes3<2, 0, 1>>())
        .and_then(|p| p.try_reshape_like(&(n, o, oh, ow)))
        .map_err(Error::device)?;
    match bias {
        None => Ok(out),
        Some(bias) => {
            let bias = bias
                .retaped::<T>()
                .try_broadcast_like::<_, Axes3<0, 2, 3>>(&(n, o, oh, ow))
                .map_err(Error::device)?;
            out.try_add(bias).map_err(Error::device)
        }
    }
}

/// [`super::max_pool2d`] composed of dfdx ops; padded cells hold minus
/// infinity, so they never win.
pub fn max_pool2d<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    geometry: &PoolGeometry,
) -> Result<Image<E, D, T>, Error> {
    let dims = pool_dims("max_pool2d", &x, geometry)?;
    let minus_infinity = E::from_f64(f64::NEG_INFINITY).unwrap_or_default();
    let windows = pool_windows(x, &dims, pool_indices(&dims), minus_infinity)?;
    let pooled = windows
        .try_max::<(usize, usize), Axis<0>>()
        .map_err(Error::device)?;
    unflatten_pooled(pooled, &dims)
}

/// [`super::avg_pool2d`] composed of dfdx ops; padded cells hold zero and
/// count or not as `count_include_pad` says.
pub fn avg_pool2d<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    geometry: &PoolGeometry,
    count_include_pad: bool,
) -> Result<Image<E, D, T>, Error> {
    let dims = pool_dims("avg_pool2d", &x, geometry)?;
    let dev = x.device().clone();
    let [kh, kw] = dims.window;
    let [oh, ow] = dims.out_size;
    let planes = dims.batch * dims.channels;

    // The divisor of every output cell, as a reciprocal per cell, read off
    // the same window indices the gather below uses.
    let indices = pool_indices(&dims);
    let padding = dims.in_size[0] * dims.in_size[1];
    let cells = oh * ow;
    let reciprocals: Vec<E> = (0..cells)
        .map(|cell| {
            let count = if count_include_pad {
                kh * kw
            } else {
                (0..kh * kw)
                    .filter(|k| indices[k * cells + cell] != padding)
                    .count()
            };
            E::from_f64(1.0 / count as f64).unwrap_or_default()
        })
        .collect();
    let reciprocals = dev
        .try_tensor_from_vec(reciprocals, (cells,))
        .and_then(|r| r.try_broadcast_like::<_, Axis<1>>(&(cells, planes)))
        .map_err(Error::device)?;

    let windows = pool_windows(x, &dims, indices, E::default())?;
    let sums = windows
        .try_sum::<(usize, usize), Axis<0>>()
        .map_err(Error::device)?;
    let means = sums.try_mul(reciprocals).map_err(Error::device)?;
    unflatten_pooled(means, &dims)
}

/// [`super::batch_norm2d_train`] composed of dfdx ops: the gradient flows
/// through the batch mean and variance as dfdx differentiates them.
pub fn batch_norm2d_train<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    scale: &Tensor<(usize,), E, D>,
    offset: &Tensor<(usize,), E, D>,
    running_mean: &mut Tensor<(usize,), E, D>,
    running_var: &mut Tensor<(usize,), E, D>,
    config: &BatchNormConfig,
) -> Result<Image<E, D, T>, Error> {
    let shape = *x.shape();
    let count = check_train(shape, scale, offset, running_mean, running_var, config)?;

    let mean = x
        .retaped::<T>()
        .try_mean::<(usize,), Axes3<0, 2, 3>>()
        .map_err(Error::device)?;
    let mean_values = mean.as_vec();
    let centered = mean
        .try_broadcast_like::<_, Axes3<0, 2, 3>>(&shape)
        .and_then(|m| x.try_sub(m))
        .map_err(Error::device)?;
    let var = centered
        .retaped::<T>()
        .try_square()
        .and_then(|s| s.try_mean::<(usize,), Axes3<0, 2, 3>>())
        .map_err(Error::device)?;

    // The running statistics move only once the batch's are known to be
    // finite, as the kernel path does.
    let moments = Moments {
        mean: mean_values.into_iter().map(widen).collect(),
        var: var.as_vec().into_iter().map(widen).collect(),
    };
    let (new_mean, new_var) = running_update(
        &running_mean.as_vec(),
        &running_var.as_vec(),
        &moments,
        config.momentum,
        count,
    )?;
    let epsilon = narrow::<E>(config.epsilon).unwrap_or_default();
    let inv_std = var
        .try_add(epsilon)
        .and_then(|v| v.try_sqrt())
        .and_then(|s| s.try_recip())
        .and_then(|r| r.try_broadcast_like::<_, Axes3<0, 2, 3>>(&shape))
        .map_err(Error::device)?;
    let normalized = centered.try_mul(inv_std).map_err(Error::device)?;
    let out = scale_and_shift(normalized, scale, offset, config.relu)?;

    let new_mean = overwritten(running_mean, &new_mean)?;
    let new_var = overwritten(running_var, &new_var)?;
    *running_mean = new_mean;
    *running_var = new_var;
    Ok(out)
}

/// [`super::batch_norm2d_eval`] composed of dfdx ops; the running
/// statistics are constants.
pub fn batch_norm2d_eval<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    scale: &Tensor<(usize,), E, D>,
    offset: &Tensor<(usize,), E, D>,
    running_mean: &Tensor<(usize,), E, D>,
    running_var: &Tensor<(usize,), E, D>,
    config: &BatchNormConfig,
) -> Result<Image<E, D, T>, Error> {
    let shape = *x.shape();
    let c = shape.1;
    check_lengths(c, scale, offset, running_mean, running_var)?;
    config.check_epsilon()?;

    let mean: Vec<f64> = running_mean.as_vec().into_iter().map(widen).collect();
    let var: Vec<f64> = running_var.as_vec().into_iter().map(widen).collect();
    let affine = ChannelAffine::new(
        &mean,
        &var,
        Vec::new(),
        Vec::new(),
        config.epsilon,
        "running",
    )?;
    let dev = x.device().clone();
    let per_channel = |values: Vec<E>| {
        dev.try_tensor_from_vec(values, (c,))
            .and_then(|t| t.try_broadcast_like::<_, Axes3<0, 2, 3>>(&shape))
            .map_err(Error::device)
    };
    let (mean, inv_std) = (per_channel(affine.mean)?, per_channel(affine.inv_std)?);
    let normalized = x
        .try_sub(mean)
        .and_then(|centered| centered.try_mul(inv_std))
        .map_err(Error::device)?;
    scale_and_shift(normalized, scale, offset, config.relu)
}

/// `normalized * scale + offset` per channel, then a ReLU when asked.
fn scale_and_shift<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    normalized: Image<E, D, T>,
    scale: &Tensor<(usize,), E, D>,
    offset: &Tensor<(usize,), E, D>,
    relu: bool,
) -> Result<Image<E, D, T>, Error> {
    let shape = *normalized.shape();
    let scale = scale
        .retaped::<T>()
        .try_broadcast_like::<_, Axes3<0, 2, 3>>(&shape)
        .map_err(Error::device)?;
    let offset = offset
        .retaped::<T>()
        .try_broadcast_like::<_, Axes3<0, 2, 3>>(&shape)
        .map_err(Error::device)?;
    let out = normalized
        .try_mul(scale)
        .and_then(|y| y.try_add(offset))
        .map_err(Error::device)?;
    if relu {
        out.try_relu().map_err(Error::device)
    } else {
        Ok(out)
    }
}

fn pool_dims<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    op: &str,
    x: &Image<E, D, T>,
    geometry: &PoolGeometry,
) -> Result<Pool2dDims, Error> {
    let (n, c, h, w) = *x.shape();
    Pool2dDims::new(op, [n, c, h, w], geometry)
}

/// The window indices of one channel plane (see [`window_indices`]).
fn pool_indices(dims: &Pool2dDims) -> Vec<usize> {
    window_indices(
        1,
        dims.in_size,
        dims.window,
        dims.stride,
        &dims.pad,
        dims.out_size,
    )
}

/// The windows of every channel of every image: `[window cells, output
/// cells, planes]` with `planes = batch * channels`, gathered at `indices`
/// (from [`pool_indices`]); padded cells hold `fill`.
fn pool_windows<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    dims: &Pool2dDims,
    indices: Vec<usize>,
    fill: E,
) -> Result<Tensor<(usize, usize, usize), E, D, T>, Error> {
    let [h, w] = dims.in_size;
    let [kh, kw] = dims.window;
    let [oh, ow] = dims.out_size;
    let planes = dims.batch * dims.channels;
    let flat = x
        .try_reshape_like(&(planes, h * w))
        .map_err(Error::device)?;
    gather_rows(flat, indices, fill)?
        .try_reshape_like(&(kh * kw, oh * ow, planes))
        .map_err(Error::device)
}

/// `[output cells, planes]` back to `[n, c, oh, ow]`.
fn unflatten_pooled<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    pooled: Matrix<E, D, T>,
    dims: &Pool2dDims,
) -> Result<Image<E, D, T>, Error> {
    pooled
        .try_permute::<_, Axes2<1, 0>>()
        .and_then(|p| p.try_reshape_like(&dims.out_shape()))
        .map_err(Error::device)
}

/// Gathers the rows `indices` of the transpose of `x` `[columns, len]`,
/// giving `[indices.len(), columns]`; the index `len` stands for a row of
/// `fill`.
fn gather_rows<E: Dtype, D: Device<E>, T: Tape<E, D>>(
    x: Matrix<E, D, T>,
    indices: Vec<usize>,
    fill: E,
) -> Result<Matrix<E, D, T>, Error> {
    let (columns, _) = *x.shape();
    let dev = x.device().clone();
    let fill = dev
        .try_tensor_from_vec(vec![fill; columns], (1, columns))
        .map_err(Error::device)?;
    let count = indices.len();
    let indices = dev
        .try_tensor_from_vec(indices, (count,))
        .map_err(Error::device)?;
    let transposed = x.try_permute::<_, Axes2<1, 0>>().map_err(Error::device)?;
    let padded = (transposed, fill)
        .try_concat_along(Axis::<0>)
        .map_err(Error::device)?;
    padded
        .try_gather::<(usize, usize), (usize,)>(indices)
        .map_err(Error::device)
}

/// For every cell of a `kernel` window (channel by channel, then row, then
/// column) and every output cell (row-major), the offset of the input value
/// it reads in one image `[channels, h, w]`, or `channels * h * w` where
/// the window lies in the padding. Laid out window cell major: entry
/// `k * out_cells + cell`.
fn window_indices(
    channels: usize,
    [h, w]: [usize; 2],
    [kh, kw]: [usize; 2],
    [sh, sw]: [usize; 2],
    pad: &resnet_spec::Pad,
    [oh, ow]: [usize; 2],
) -> Vec<usize> {
    let padding = channels * h * w;
    let mut indices = Vec::with_capacity(channels * kh * kw * oh * ow);
    for c in 0..channels {
        for i in 0..kh {
            for j in 0..kw {
                for oy in 0..oh {
                    let y = (oy * sh + i).checked_sub(pad.top).filter(|&y| y < h);
                    for ox in 0..ow {
                        let x = (ox * sw + j).checked_sub(pad.left).filter(|&x| x < w);
                        indices.push(match (y, x) {
                            (Some(y), Some(x)) => c * h * w + y * w + x,
                            _ => padding,
                        });
                    }
                }
            }
        }
    }
    indices
}

#[cfg(test)]
mod tests {
    use super::*;
    use resnet_spec::Pad;

    #[test]
    fn window_indices_mark_padding_and_follow_the_stride() {
        // A 2x3 map, 2x2 window, stride 1, one column of padding on the left.
        let pad = Pad {
            top: 0,
            bottom: 0,
            left: 1,
            right: 0,
        };
        let idx = window_indices(1, [2, 3], [2, 2], [1, 1], &pad, [1, 3]);
        // Window cell (0, 0) at output columns 0, 1, 2 reads x = -1, 0, 1.
        assert_eq!(&idx[0..3], &[6, 0, 1]);
        // Window cell (1, 1) reads row 1, x = 0, 1, 2.
        assert_eq!(&idx[9..12], &[3, 4, 5]);
        assert_eq!(idx.len(), 12);
    }
}
