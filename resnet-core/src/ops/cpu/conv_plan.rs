//! The matrix products of one convolution, per group, over one image or a
//! block of images at a time.
//!
//! For a group with `W` its weight as an `out x depth` matrix (`depth =
//! channels * kh * kw`) and `col` the im2col matrix of its input channels
//! (`depth` rows, one column per output position of every image in the
//! block):
//! - forward: `Y = W col (+ bias)`;
//! - grad weight: `dW += dY col^T`;
//! - grad input: `dx += col2im(W^T dY)`;
//! - grad bias: the sum of `dY` over images and positions.
//!
//! One image writes its result straight into NCHW order, and a 1x1
//! stride-1 unpadded convolution multiplies the input itself, without
//! im2col. A block of images shares one product, which makes deep layers'
//! small maps into a product wide enough to run fast, at the price of
//! copying rows in and out through a gather buffer.

use std::mem::MaybeUninit;
use std::ops::Range;

use gemm::Parallelism;

use super::matmul::{matmul, GemmFloat, Mat, MatMut};
use super::window::{col2im, im2col, Window};
use crate::ops::conv::Conv2dDims;

/// Maps with fewer output positions than this share products in blocks
/// of images.
const SMALL_MAP: usize = 512;

/// The most values a block's im2col buffer may hold (32 MiB of f32).
const BLOCK_BUDGET: usize = 1 << 23;

/// The sizes of the per-group products of one convolution.
pub(super) struct Plan {
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
    /// Images per product: 1 for large maps, more for small ones.
    pub(super) block: usize,
}

/// The work buffers of one task.
pub(super) struct Scratch<E> {
    /// Room for the im2col matrix, later the gradient of it; im2col
    /// initializes it.
    col: Vec<MaybeUninit<E>>,
    /// A block's output rows (forward) or output gradient rows (backward).
    gather: Vec<E>,
}

impl<E: GemmFloat> Scratch<E> {
    /// Buffers for blocks of up to `images` images.
    pub(super) fn new(plan: &Plan, images: usize) -> Self {
        Scratch {
            col: uninit(plan.col_len(images)),
            gather: vec![E::default(); plan.gather_len(images)],
        }
    }
}

/// Room for `len` values, left uninitialized.
fn uninit<E>(len: usize) -> Vec<MaybeUninit<E>> {
    let mut values = Vec::with_capacity(len);
    // SAFETY: MaybeUninit needs no initialization.
    unsafe { values.set_len(len) };
    values
}

impl Plan {
    pub(super) fn new(dims: &Conv2dDims) -> Self {
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
            let fits = BLOCK_BUDGET / (depth * positions).max(1);
            fits.clamp(1, dims.batch.max(1))
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
    pub(super) fn x_image(&self) -> usize {
        self.dims.in_channels * self.window.in_len()
    }

    /// Values in one output image.
    pub(super) fn y_image(&self) -> usize {
        self.dims.out_channels * self.positions
    }

    /// Values in the weight.
    pub(super) fn weight_len(&self) -> usize {
        self.dims.out_channels * self.depth
    }

    /// Whether a product over `images` images multiplies the input itself.
    fn multiplies_input(&self, images: usize) -> bool {
        images == 1 && self.dims.is_pointwise()
    }

    /// Length of the im2col buffer for `images` images.
    fn col_len(&self, images: usize) -> usize {
        if self.multiplies_input(images) {
            0
        } else {
            self.depth * images * self.positions
        }
    }

    /// Length of the gather buffer for `images` images.
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

    /// Where output channel `o` of image `i` lies in a block's outputs.
    fn y_row(&self, i: usize, o: usize) -> Range<usize> {
        let start = i * self.y_image() + o * self.positions;
        start..start + self.positions
    }

    /// Forward pass of the consecutive images `xs` into their outputs `ys`
    /// (`xs.len()` images, at most the block size of `scratch`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward<E: GemmFloat>(
        &self,
        xs: &[&[E]],
        weight: &[E],
        bias: Option<&[E]>,
        ys: &mut [E],
        scratch: &mut Scratch<E>,
        parallelism: Parallelism,
    ) {
        let parallel = matches!(parallelism, Parallelism::Rayon(_));
        let (images, p) = (xs.len(), self.positions);
        let columns = images * p;
        let col = &mut scratch.col[..self.col_len(images)];
        let gather = &mut scratch.gather[..self.gather_len(images)];

        for g in 0..self.dims.groups {
            let sources: Vec<&[E]> = xs.iter().map(|x| self.x_group(x, g)).collect();
            let rhs = if self.multiplies_input(images) {
                Mat::rows(sources[0], self.in_group, p)
            } else {
                let col = im2col(&self.window, &sources, col, parallel);
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
            let dst = MatMut::rows(dst, self.out_group, columns);
            matmul(
                dst,
                bias.is_some(),
                self.w_group(weight, g),
                rhs,
                parallelism,
            );

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
    /// gradients `grad_xs` and into the running weight and bias gradients,
    /// given their output gradients `grad_ys`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn backward<E: GemmFloat>(
        &self,
        xs: &[&[E]],
        weight: &[E],
        grad_ys: &[E],
        grad_xs: &mut [E],
        grad_weight: &mut [E],
        grad_bias: Option<&mut [E]>,
        scratch: &mut Scratch<E>,
        parallelism: Parallelism,
    ) {
        let parallel = matches!(parallelism, Parallelism::Rayon(_));
        let (images, p) = (xs.len(), self.positions);
        let columns = images * p;
        let col = &mut scratch.col[..self.col_len(images)];
        let gather = &mut scratch.gather[..self.gather_len(images)];
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
                let col = im2col(&self.window, &sources, col, parallel);
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
