//! The CPU convolution: im2col and a `gemm` product per group, over one
//! image or a block of images at a time.
//!
//! For a group with `W` its weight as an `out x depth` matrix (`depth =
//! channels * kh * kw`) and `col` the im2col matrix of its input channels
//! (`depth` rows, one column per output position of every image in the
//! block):
//! - forward: `Y = W col (+ bias)`;
//! - grad weight: `dW += dY col^T`, summed over the batch;
//! - grad input: `dx += col2im(W^T dY)`;
//! - grad bias: the sum of `dY` over the batch and positions.
//!
//! Large maps go one image per product, images spread over the threads,
//! results written straight into NCHW order; a 1x1 stride-1 unpadded
//! convolution then multiplies the input itself, without im2col. Small
//! maps (deep layers) would make thin products, so a block of images
//! shares one product, spread over the threads by `gemm`, at the price of
//! copying results into place. The backward pass rebuilds `col` rather
//! than keeping the forward's, so no buffer outlives the call that needs
//! it.

use dfdx::prelude::*;
use gemm::Parallelism;

use super::layout::{over_batch, read, strides_of, GradSink};
use super::matmul::{matmul, GemmFloat, Mat, MatMut};
use super::window::{col2im, im2col, Window};
use crate::ops::conv::{Conv2dDims, ConvKernel, Vector, Weight4};
use crate::ops::Image;

/// Maps with fewer output positions than this share products in blocks
/// of images.
const SMALL_MAP: usize = 512;

/// The most values a block's im2col buffer may hold.
const BLOCK_BUDGET: usize = 1 << 23;

/// The sizes of the per-group products.
struct Plan {
    dims: Conv2dDims,
    window: Window,
    /// Input channels per group.
    in_group: usize,
    /// Output channels per group.
    out_group: usize,
    /// Rows of `col`: `in_group * kh * kw`.
    depth: usize,
    /// Output positions of one image: `oh * ow`.
    positions: usize,
    /// Images per product.
    block: usize,
}

impl Plan {
    fn new(dims: &Conv2dDims) -> Self {
        let window = Window {
            in_size: dims.in_size,
            kernel: dims.kernel,
            stride: dims.stride,
            pad: [dims.pad.top, dims.pad.left],
            out_size: dims.out_size,
        };
        let in_group = dims.in_channels / dims.groups;
        let depth = in_group * window.taps();
        let positions = window.out_len();
        let block = if positions >= SMALL_MAP {
            1
        } else {
            (BLOCK_BUDGET / (depth * positions).max(1)).clamp(1, dims.batch.max(1))
        };
        Plan {
            dims: *dims,
            window,
            in_group,
            out_group: dims.out_channels / dims.groups,
            depth,
            positions,
            block,
        }
    }

    /// Values in one input image.
    fn x_image(&self) -> usize {
        self.dims.in_channels * self.window.in_len()
    }

    /// Values in one output image.
    fn y_image(&self) -> usize {
        self.dims.out_channels * self.positions
    }

    /// Values in the weight.
    fn weight_len(&self) -> usize {
        self.dims.out_channels * self.depth
    }

    /// Whether one image's group input is its own im2col matrix.
    fn multiplies_input(&self, images: usize) -> bool {
        images == 1 && self.dims.is_pointwise()
    }

    /// Length of the im2col buffer for blocks of `images`.
    fn col_len(&self, images: usize) -> usize {
        if self.multiplies_input(images) {
            0
        } else {
            self.depth * images * self.positions
        }
    }

    /// Length of the buffer that gathers a block's output rows.
    fn gather_len(&self, images: usize) -> usize {
        if images == 1 {
            0
        } else {
            self.out_group * images * self.positions
        }
    }

    /// The input channels of group `g` in image `x`.
    fn x_group<'a, E>(&self, x: &'a [E], g: usize) -> &'a [E] {
        let len = self.in_group * self.window.in_len();
        &x[g * len..][..len]
    }

    /// The weight of group `g` as an `out_group x depth` matrix.
    fn w_group<'a, E>(&self, weight: &'a [E], g: usize) -> Mat<'a, E> {
        let len = self.out_group * self.depth;
        Mat::rows(&weight[g * len..][..len], self.out_group, self.depth)
    }

    /// The rows of output channel `o` (of all groups) in image `i` of a
    /// block's outputs `ys`.
    fn y_row(&self, i: usize, o: usize) -> std::ops::Range<usize> {
        let start = i * self.y_image() + o * self.positions;
        start..start + self.positions
    }

    /// Forward pass of the consecutive images `xs` into their outputs `ys`.
    #[allow(clippy::too_many_arguments)]
    fn forward_block<E: GemmFloat>(
        &self,
        xs: &[&[E]],
        weight: &[E],
        bias: Option<&[E]>,
        ys: &mut [E],
        col: &mut [E],
        gather: &mut [E],
        parallelism: Parallelism,
    ) {
        let parallel = matches!(parallelism, Parallelism::Rayon(_));
        let (images, p) = (xs.len(), self.positions);
        let columns = images * p;

        for g in 0..self.dims.groups {
            let sources: Vec<&[E]> = xs.iter().map(|x| self.x_group(x, g)).collect();
            let rhs = if self.multiplies_input(images) {
                Mat::rows(sources[0], self.in_group, p)
            } else {
                im2col(&self.window, &sources, col, parallel);
                Mat::rows(&*col, self.depth, columns)
            };

            // One image writes in place; a block writes rows to copy out.
            let dst = if images == 1 {
                &mut ys[g * self.out_group * p..][..self.out_group * p]
            } else {
                &mut *gather
            };
            // The bias is the starting value the product adds to.
            if let Some(bias) = bias {
                let bias = &bias[g * self.out_group..][..self.out_group];
                for (row, &b) in dst.chunks_mut(columns).zip(bias) {
                    row.fill(b);
                }
            }
            let w = self.w_group(weight, g);
            let dst_mat = MatMut::rows(dst, self.out_group, columns);
            matmul(dst_mat, bias.is_some(), w, rhs, parallelism);

            if images > 1 {
                for (o, row) in gather.chunks(columns).enumerate() {
                    for (i, part) in row.chunks(p).enumerate() {
                        ys[self.y_row(i, g * self.out_group + o)].copy_from_slice(part);
                    }
                }
            }
        }
    }

    /// Backward pass of the consecutive images `xs`: adds into their input
    /// gradients `grad_xs` and into the running weight and bias gradients.
    #[allow(clippy::too_many_arguments)]
    fn backward_block<E: GemmFloat>(
        &self,
        xs: &[&[E]],
        weight: &[E],
        grad_ys: &[E],
        grad_xs: &mut [E],
        grad_weight: &mut [E],
        grad_bias: Option<&mut [E]>,
        col: &mut [E],
        gather: &mut [E],
        parallelism: Parallelism,
    ) {
        let parallel = matches!(parallelism, Parallelism::Rayon(_));
        let (images, p) = (xs.len(), self.positions);
        let columns = images * p;
        let x_len = self.in_group * self.window.in_len();
        let w_len = self.out_group * self.depth;

        for g in 0..self.dims.groups {
            let sources: Vec<&[E]> = xs.iter().map(|x| self.x_group(x, g)).collect();
            let w = self.w_group(weight, g);

            // The group's output gradient as an `out_group x columns`
            // matrix, gathered from the images of a block.
            let grad_y = if images == 1 {
                let rows = &grad_ys[g * self.out_group * p..][..self.out_group * p];
                Mat::rows(rows, self.out_group, p)
            } else {
                for (o, row) in gather.chunks_mut(columns).enumerate() {
                    for (i, part) in row.chunks_mut(p).enumerate() {
                        part.copy_from_slice(&grad_ys[self.y_row(i, g * self.out_group + o)]);
                    }
                }
                Mat::rows(&*gather, self.out_group, columns)
            };

            let grad_w = &mut grad_weight[g * w_len..][..w_len];
            let grad_w = MatMut::rows(grad_w, self.out_group, self.depth);
            let mut grad_x: Vec<&mut [E]> = grad_xs
                .chunks_mut(self.x_image())
                .map(|x| &mut x[g * x_len..][..x_len])
                .collect();

            if self.multiplies_input(images) {
                let x = Mat::rows(sources[0], self.in_group, p);
                matmul(grad_w, true, grad_y, x.t(), parallelism);
                let grad_x = MatMut::rows(&mut *grad_x[0], self.in_group, p);
                matmul(grad_x, true, w.t(), grad_y, parallelism);
            } else {
                im2col(&self.window, &sources, col, parallel);
                let col_t = Mat::rows(&*col, self.depth, columns).t();
                matmul(grad_w, true, grad_y, col_t, parallelism);

                // The same buffer now takes the gradient of col.
                let grad_col = MatMut::rows(&mut *col, self.depth, columns);
                matmul(grad_col, false, w.t(), grad_y, parallelism);
                col2im(&self.window, col, &mut grad_x, parallel);
            }
        }

        if let Some(grad_bias) = grad_bias {
            for image in grad_ys.chunks(self.y_image()) {
                for (gb, row) in grad_bias.iter_mut().zip(image.chunks(p)) {
                    *gb += row.iter().fold(E::default(), |sum, &v| sum + v);
                }
            }
        }
    }
}

/// What the CPU forward pass keeps for the backward pass.
pub struct SavedInput<E> {
    /// The input in row-major order.
    values: Vec<E>,
    /// The layout of the input's gradient buffer.
    strides: [usize; 4],
}

fn forward<E: GemmFloat>(
    dev: &Cpu,
    dims: &Conv2dDims,
    x: &Image<E, Cpu>,
    weight: &Weight4<E, Cpu>,
    bias: Option<&Vector<E, Cpu>>,
    save: bool,
) -> Result<(Image<E, Cpu>, SavedInput<E>), CpuError> {
    let plan = Plan::new(dims);
    let (x, strides) = read(x);
    let (weight, _) = read(weight);
    let bias = bias.map(|b| read(b).0);
    let bias = bias.as_deref();
    let (x_image, y_image) = (plan.x_image(), plan.y_image());
    let image = |n: usize| &x[n * x_image..][..x_image];

    let mut out = vec![E::default(); dims.batch * y_image];
    if plan.block == 1 {
        over_batch(dims.batch, &mut out, y_image, |images, out, parallelism| {
            let mut col = vec![E::default(); plan.col_len(1)];
            for (n, y) in images.zip(out.chunks_mut(y_image)) {
                plan.forward_block(&[image(n)], &weight, bias, y, &mut col, &mut [], parallelism);
            }
        });
    } else {
        let mut col = vec![E::default(); plan.col_len(plan.block)];
        let mut gather = vec![E::default(); plan.gather_len(plan.block)];
        for (b, ys) in out.chunks_mut(plan.block * y_image).enumerate() {
            let xs: Vec<&[E]> = (0..ys.len() / y_image).map(|i| image(b * plan.block + i)).collect();
            let (col, gather) = (&mut col[..plan.col_len(xs.len())], &mut gather[..]);
            let gather = &mut gather[..plan.gather_len(xs.len())];
            plan.forward_block(&xs, &weight, bias, ys, col, gather, Parallelism::Rayon(0));
        }
    }

    let out = dev.try_tensor_from_vec(out, dims.out_shape())?;
    let values = if save { x } else { Vec::new() };
    Ok((out, SavedInput { values, strides }))
}

#[allow(clippy::too_many_arguments)]
fn backward<E: GemmFloat>(
    dims: &Conv2dDims,
    saved: SavedInput<E>,
    grad_x: &mut [E],
    weight: &Weight4<E, Cpu>,
    grad_weight: &mut [E],
    bias: Option<(&Vector<E, Cpu>, &mut [E])>,
    grad_out: &[E],
) {
    let plan = Plan::new(dims);
    let x = saved.values;
    let (w_values, w_strides) = read(weight);
    let (x_image, y_image) = (plan.x_image(), plan.y_image());
    let bias_len = if bias.is_some() { dims.out_channels } else { 0 };
    let x_shape = [dims.batch, dims.in_channels, dims.in_size[0], dims.in_size[1]];
    let image = |n: usize| &x[n * x_image..][..x_image];

    // Each task sums its own weight and bias gradients; the sums are added
    // at the end.
    let mut grad_x = GradSink::new(grad_x, x_shape, saved.strides);
    let partials = if plan.block == 1 {
        over_batch(dims.batch, grad_x.values(), x_image, |images, gx, par| {
            let mut col = vec![E::default(); plan.col_len(1)];
            let mut gw = vec![E::default(); plan.weight_len()];
            let mut gb = vec![E::default(); bias_len];
            for (n, gx) in images.zip(gx.chunks_mut(x_image)) {
                let gy = &grad_out[n * y_image..][..y_image];
                let gb = (bias_len > 0).then_some(&mut gb[..]);
                let w = &w_values;
                plan.backward_block(&[image(n)], w, gy, gx, &mut gw, gb, &mut col, &mut [], par);
            }
            (gw, gb)
        })
    } else {
        let mut col = vec![E::default(); plan.col_len(plan.block)];
        let mut gather = vec![E::default(); plan.gather_len(plan.block)];
        let mut gw = vec![E::default(); plan.weight_len()];
        let mut gb = vec![E::default(); bias_len];
        let blocks = grad_x.values().chunks_mut(plan.block * x_image);
        for (b, gxs) in blocks.enumerate() {
            let count = gxs.len() / x_image;
            let xs: Vec<&[E]> = (0..count).map(|i| image(b * plan.block + i)).collect();
            let gys = &grad_out[b * plan.block * y_image..][..count * y_image];
            let col = &mut col[..plan.col_len(count)];
            let gather = &mut gather[..plan.gather_len(count)];
            let gbs = (bias_len > 0).then_some(&mut gb[..]);
            let par = Parallelism::Rayon(0);
            plan.backward_block(&xs, &w_values, gys, gxs, &mut gw, gbs, col, gather, par);
        }
        vec![(gw, gb)]
    };
    grad_x.finish();
    drop(x);

    let w_shape = weight.shape().concrete();
    let mut grad_w = GradSink::new(grad_weight, w_shape, w_strides);
    add_all(grad_w.values(), partials.iter().map(|(gw, _)| gw));
    grad_w.finish();

    if let Some((bias, grad_b)) = bias {
        let strides = strides_of(bias);
        let mut grad_b = GradSink::new(grad_b, bias.shape().concrete(), strides);
        add_all(grad_b.values(), partials.iter().map(|(_, gb)| gb));
        grad_b.finish();
    }
}

/// Adds every array of `parts` into `sum`.
fn add_all<'a, E: Dtype>(sum: &mut [E], parts: impl Iterator<Item = &'a Vec<E>>) {
    for part in parts {
        for (s, &p) in sum.iter_mut().zip(part) {
            *s += p;
        }
    }
}

macro_rules! cpu_conv_kernel {
    ($($float:ty),*) => {$(
        impl ConvKernel<$float> for Cpu {
            type ConvSaved = SavedInput<$float>;

            fn conv2d_forward(
                &self,
                dims: &Conv2dDims,
                x: &Image<$float, Self>,
                weight: &Weight4<$float, Self>,
                bias: Option<&Vector<$float, Self>>,
                save: bool,
            ) -> Result<(Image<$float, Self>, Self::ConvSaved), Self::Err> {
                forward(self, dims, x, weight, bias, save)
            }

            fn conv2d_backward(
                &self,
                dims: &Conv2dDims,
                saved: Self::ConvSaved,
                grad_x: &mut Self::Vec,
                weight: &Weight4<$float, Self>,
                grad_weight: &mut Self::Vec,
                bias: Option<(&Vector<$float, Self>, &mut Self::Vec)>,
                grad_out: &Self::Vec,
            ) -> Result<(), Self::Err> {
                let bias = bias.map(|(b, g)| (b, &mut g[..]));
                backward(dims, saved, grad_x, weight, grad_weight, bias, grad_out);
                Ok(())
            }
        }
    )*};
}

cpu_conv_kernel!(f32, f64);
