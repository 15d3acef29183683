//! The CPU convolution: im2col and a `gemm` product per image and group,
//! spread over the batch.
//!
//! For image `n` and group `g`, with `col` the im2col matrix of the
//! group's input channels (`depth = channels * kh * kw` rows by `positions
//! = oh * ow` columns) and `W` the group's weight as an `out x depth`
//! matrix:
//! - forward: `Y = W col (+ bias)`, written straight into NCHW order;
//! - grad weight: `dW += dY col^T`, summed over the batch;
//! - grad input: `dx += col2im(W^T dY)`;
//! - grad bias: the sum of `dY` over the batch and positions.
//!
//! A 1x1 stride-1 unpadded convolution uses the input itself as `col`. The
//! backward pass rebuilds `col` rather than keeping the forward's, so no
//! buffer outlives the call that needs it.

use dfdx::prelude::*;
use gemm::Parallelism;

use super::layout::{over_batch, read, GradSink};
use super::matmul::{matmul, GemmFloat, Mat, MatMut};
use super::window::{col2im, im2col, Window};
use crate::ops::conv::{Conv2dDims, ConvKernel, Vector, Weight4};
use crate::ops::Image;

/// The sizes of the per-image, per-group products.
struct Plan {
    dims: Conv2dDims,
    window: Window,
    /// Input channels per group.
    in_group: usize,
    /// Output channels per group.
    out_group: usize,
    /// Rows of `col`: `in_group * kh * kw`.
    depth: usize,
    /// Columns of `col`: `oh * ow`.
    positions: usize,
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
        Plan {
            dims: *dims,
            window,
            in_group,
            out_group: dims.out_channels / dims.groups,
            depth: in_group * window.taps(),
            positions: window.out_len(),
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

    /// Length of the im2col buffer: none for a pointwise convolution.
    fn col_len(&self) -> usize {
        if self.dims.is_pointwise() {
            0
        } else {
            self.depth * self.positions
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

    /// Forward pass of one image `x` into its output `y`.
    fn forward_image<E: GemmFloat>(
        &self,
        x: &[E],
        weight: &[E],
        bias: Option<&[E]>,
        y: &mut [E],
        col: &mut [E],
        parallelism: Parallelism,
    ) {
        let parallel = matches!(parallelism, Parallelism::Rayon(_));
        let y_len = self.out_group * self.positions;

        for g in 0..self.dims.groups {
            let x = self.x_group(x, g);
            let y = &mut y[g * y_len..][..y_len];

            // The bias is the starting value the product adds to.
            if let Some(bias) = bias {
                let bias = &bias[g * self.out_group..][..self.out_group];
                for (row, &b) in y.chunks_mut(self.positions).zip(bias) {
                    row.fill(b);
                }
            }

            let rhs = if self.dims.is_pointwise() {
                Mat::rows(x, self.in_group, self.positions)
            } else {
                im2col(&self.window, x, col, parallel);
                Mat::rows(&*col, self.depth, self.positions)
            };
            let dst = MatMut::rows(y, self.out_group, self.positions);
            matmul(dst, bias.is_some(), self.w_group(weight, g), rhs, parallelism);
        }
    }

    /// Backward pass of one image: adds into its input gradient `grad_x`
    /// and into the batch's running weight and bias gradients.
    #[allow(clippy::too_many_arguments)]
    fn backward_image<E: GemmFloat>(
        &self,
        x: &[E],
        weight: &[E],
        grad_y: &[E],
        grad_x: &mut [E],
        grad_weight: &mut [E],
        grad_bias: Option<&mut [E]>,
        col: &mut [E],
        parallelism: Parallelism,
    ) {
        let parallel = matches!(parallelism, Parallelism::Rayon(_));
        let y_len = self.out_group * self.positions;
        let x_len = self.in_group * self.window.in_len();
        let w_len = self.out_group * self.depth;

        for g in 0..self.dims.groups {
            let x = self.x_group(x, g);
            let w = self.w_group(weight, g);
            let grad_y = Mat::rows(&grad_y[g * y_len..][..y_len], self.out_group, self.positions);
            let grad_x = &mut grad_x[g * x_len..][..x_len];
            let grad_w = &mut grad_weight[g * w_len..][..w_len];
            let grad_w = MatMut::rows(grad_w, self.out_group, self.depth);

            if self.dims.is_pointwise() {
                let x = Mat::rows(x, self.in_group, self.positions);
                matmul(grad_w, true, grad_y, x.t(), parallelism);
                let grad_x = MatMut::rows(grad_x, self.in_group, self.positions);
                matmul(grad_x, true, w.t(), grad_y, parallelism);
            } else {
                im2col(&self.window, x, col, parallel);
                let col_t = Mat::rows(&*col, self.depth, self.positions).t();
                matmul(grad_w, true, grad_y, col_t, parallelism);

                // The same buffer now takes the gradient of col.
                let grad_col = MatMut::rows(&mut *col, self.depth, self.positions);
                matmul(grad_col, false, w.t(), grad_y, parallelism);
                col2im(&self.window, col, grad_x, parallel);
            }
        }

        if let Some(grad_bias) = grad_bias {
            for (gb, row) in grad_bias.iter_mut().zip(grad_y.chunks(self.positions)) {
                *gb += row.iter().fold(E::default(), |sum, &v| sum + v);
            }
        }
    }
}

fn forward<E: GemmFloat>(
    dev: &Cpu,
    dims: &Conv2dDims,
    x: &Image<E, Cpu>,
    weight: &Weight4<E, Cpu>,
    bias: Option<&Vector<E, Cpu>>,
) -> Result<Image<E, Cpu>, CpuError> {
    let plan = Plan::new(dims);
    let x = read(x);
    let weight = read(weight);
    let bias = bias.map(read);
    let (x_image, y_image) = (plan.x_image(), plan.y_image());

    let mut out = vec![E::default(); dims.batch * y_image];
    over_batch(dims.batch, &mut out, y_image, |images, out, parallelism| {
        let mut col = vec![E::default(); plan.col_len()];
        for (i, n) in images.enumerate() {
            let x = &x[n * x_image..][..x_image];
            let y = &mut out[i * y_image..][..y_image];
            let bias = bias.as_deref();
            plan.forward_image(x, &weight, bias, y, &mut col, parallelism);
        }
    });
    dev.try_tensor_from_vec(out, dims.out_shape())
}

#[allow(clippy::too_many_arguments)]
fn backward<E: GemmFloat>(
    dims: &Conv2dDims,
    x: &Image<E, Cpu>,
    grad_x: &mut [E],
    weight: &Weight4<E, Cpu>,
    grad_weight: &mut [E],
    bias: Option<(&Vector<E, Cpu>, &mut CachableVecOf<E>)>,
    grad_out: &[E],
) {
    let plan = Plan::new(dims);
    let x_shape = x.shape().concrete();
    let x_strides = x.strides();
    let x = read(x);
    let w_values = read(weight);
    let (x_image, y_image) = (plan.x_image(), plan.y_image());
    let with_bias = bias.is_some();

    // Each chunk of images sums its own weight and bias gradients; the
    // chunks' sums are added at the end.
    let mut grad_x = GradSink::new(grad_x, x_shape, x_strides);
    let partials = over_batch(dims.batch, grad_x.values(), x_image, |images, gx, par| {
        let mut col = vec![E::default(); plan.col_len()];
        let mut gw = vec![E::default(); plan.weight_len()];
        let mut gb = vec![E::default(); if with_bias { dims.out_channels } else { 0 }];
        for (i, n) in images.enumerate() {
            let xn = &x[n * x_image..][..x_image];
            let gy = &grad_out[n * y_image..][..y_image];
            let gxn = &mut gx[i * x_image..][..x_image];
            let gbn = with_bias.then_some(&mut gb[..]);
            plan.backward_image(xn, &w_values, gy, gxn, &mut gw, gbn, &mut col, par);
        }
        (gw, gb)
    });
    grad_x.finish();

    let w_shape = weight.shape().concrete();
    let mut grad_w = GradSink::new(grad_weight, w_shape, weight.strides());
    add_all(grad_w.values(), partials.iter().map(|(gw, _)| gw));
    grad_w.finish();

    if let Some((bias, grad_b)) = bias {
        let mut grad_b = GradSink::new(&mut grad_b[..], bias.shape().concrete(), bias.strides());
        add_all(grad_b.values(), partials.iter().map(|(_, gb)| gb));
        grad_b.finish();
    }
}

type CachableVecOf<E> = <Cpu as Storage<E>>::Vec;

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
            fn conv2d_forward(
                &self,
                dims: &Conv2dDims,
                x: &Image<$float, Self>,
                weight: &Weight4<$float, Self>,
                bias: Option<&Vector<$float, Self>>,
            ) -> Result<Image<$float, Self>, Self::Err> {
                forward(self, dims, x, weight, bias)
            }

            fn conv2d_backward(
                &self,
                dims: &Conv2dDims,
                x: &Image<$float, Self>,
                grad_x: &mut Self::Vec,
                weight: &Weight4<$float, Self>,
                grad_weight: &mut Self::Vec,
                bias: Option<(&Vector<$float, Self>, &mut Self::Vec)>,
                grad_out: &Self::Vec,
            ) -> Result<(), Self::Err> {
                backward(dims, x, grad_x, weight, grad_weight, bias, grad_out);
                Ok(())
            }
        }
    )*};
}

cpu_conv_kernel!(f32, f64);
