//! The CPU convolution kernel: reads the tensors, spreads the images over
//! the threads and runs the products of [`Plan`] on them.
//!
//! Large maps go one image per product, the batch split over the threads;
//! small maps go in blocks of images, `gemm` spreading each product over
//! the threads instead. The backward pass rebuilds im2col matrices rather
//! than keeping the forward's, so no buffer outlives the call that needs
//! it; only the input itself is kept (in [`SavedInput`]).

use dfdx::prelude::*;
use gemm::Parallelism;

use super::conv_plan::{Plan, Scratch};
use super::layout::{init_zeros, over_batch, read, strides_of, GradSink};
use super::matmul::GemmFloat;
use crate::ops::conv::{Conv2dDims, ConvKernel, Vector, Weight4};
use crate::ops::Image;

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
    let mut plan = Plan::new(dims);
    if !save {
        // Inference runs one product per image: gemm picks its blocking
        // from the matrix sizes, so a product shared by a block of images
        // would round an image's output differently for each batch size.
        plan.block = 1;
    }
    let (x, strides) = read(x);
    let (weight, _) = read(weight);
    let bias = bias.map(|b| read(b).0);
    let bias = bias.as_deref();
    let (x_image, y_image) = (plan.x_image(), plan.y_image());
    let image = |n: usize| &x[n * x_image..][..x_image];

    // Each task zeroes its own part of the output before writing it, so
    // no thread waits for one large memset.
    let len = dims.batch * y_image;
    let mut out: Vec<E> = Vec::with_capacity(len);
    let cells = &mut out.spare_capacity_mut()[..len];
    if plan.block == 1 {
        over_batch(dims.batch, cells, y_image, |images, out, parallelism| {
            let out = init_zeros(out);
            let mut scratch = Scratch::new(&plan, 1);
            for (n, y) in images.zip(out.chunks_mut(y_image)) {
                let xs = [image(n)];
                plan.forward(&xs, &weight, bias, y, &mut scratch, parallelism);
            }
        });
    } else {
        let mut scratch = Scratch::new(&plan, plan.block);
        for (b, ys) in cells.chunks_mut(plan.block * y_image).enumerate() {
            let ys = init_zeros(ys);
            let xs: Vec<&[E]> = (0..ys.len() / y_image)
                .map(|i| image(b * plan.block + i))
                .collect();
            let parallelism = Parallelism::Rayon(0);
            plan.forward(&xs, &weight, bias, ys, &mut scratch, parallelism);
        }
    }
    // SAFETY: the tasks above zeroed (and then wrote) every value, whatever
    // the batch size: over_batch and chunks_mut cover all of `cells`.
    unsafe { out.set_len(len) };

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
    let image = |n: usize| &x[n * x_image..][..x_image];

    // Each task sums its own weight and bias gradients; the sums are added
    // at the end.
    let mut grad_x = GradSink::new(grad_x, in_shape(dims), saved.strides);
    let partials = if plan.block == 1 {
        over_batch(
            dims.batch,
            grad_x.values(),
            x_image,
            |images, gx, parallelism| {
                let mut scratch = Scratch::new(&plan, 1);
                let mut gw = vec![E::default(); plan.weight_len()];
                let mut gb = vec![E::default(); bias_len];
                for (n, gx) in images.zip(gx.chunks_mut(x_image)) {
                    let (xs, gy) = ([image(n)], &grad_out[n * y_image..][..y_image]);
                    let gb = (bias_len > 0).then_some(&mut gb[..]);
                    let w = &w_values;
                    plan.backward(&xs, w, gy, gx, &mut gw, gb, &mut scratch, parallelism);
                }
                (gw, gb)
            },
        )
    } else {
        let mut scratch = Scratch::new(&plan, plan.block);
        let mut gw = vec![E::default(); plan.weight_len()];
        let mut gb = vec![E::default(); bias_len];
        let blocks = grad_x.values().chunks_mut(plan.block * x_image);
        for (b, gxs) in blocks.enumerate() {
            let count = gxs.len() / x_image;
            let xs: Vec<&[E]> = (0..count).map(|i| image(b * plan.block + i)).collect();
            let gys = &grad_out[b * plan.block * y_image..][..count * y_image];
            let gbs = (bias_len > 0).then_some(&mut gb[..]);
            let (w, parallelism) = (&w_values, Parallelism::Rayon(0));
            plan.backward(&xs, w, gys, gxs, &mut gw, gbs, &mut scratch, parallelism);
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

/// The input shape `[n, c, h, w]`.
fn in_shape(dims: &Conv2dDims) -> [usize; 4] {
    let [h, w] = dims.in_size;
    [dims.batch, dims.in_channels, h, w]
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
