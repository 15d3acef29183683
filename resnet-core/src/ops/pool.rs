//! Max and average pooling.
//!
//! Both ops check the geometry, run the device's [`PoolKernel`] and, when
//! the input carries a tape, record the backward pass on it. The kernels
//! live with their device (`ops/cpu` for [`Cpu`]).

use dfdx::prelude::*;
use resnet_spec::Pad;

use super::conv::out_len;
use super::Image;
use crate::Error;

/// Window, stride and padding of a pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// `[height, width]`.
    pub window: [usize; 2],
    /// `[height, width]`.
    pub stride: [usize; 2],
    /// Padding on each side; each side must be smaller than the window
    /// along its axis.
    pub pad: Pad,
}

/// Every size of one pooling call, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dDims {
    /// Images in the batch.
    pub batch: usize,
    /// Channels (pooled independently).
    pub channels: usize,
    /// Input `[height, width]`.
    pub in_size: [usize; 2],
    /// Window `[height, width]`.
    pub window: [usize; 2],
    /// `[height, width]`.
    pub stride: [usize; 2],
    /// Padding on each side.
    pub pad: Pad,
    /// Output `[height, width]`.
    pub out_size: [usize; 2],
}

impl Pool2dDims {
    /// Checks `geometry` against an input `[n, c, h, w]` and works out the
    /// output size `floor((h + top + bottom - window_h) / stride_h) + 1`
    /// (likewise for the width). `op` names the caller in messages.
    ///
    /// Errors: [`Error::Invalid`] for a zero window or stride, or padding
    /// on some side as large as the window along that axis (a window could
    /// then lie wholly in the padding and have nothing to pool);
    /// [`Error::Shape`] when the padded input is smaller than the window or
    /// a map has more than 2^32 cells.
    pub fn new(op: &str, x: [usize; 4], geometry: &PoolGeometry) -> Result<Self, Error> {
        let [n, c, h, w] = x;
        let PoolGeometry {
            window,
            stride,
            pad,
        } = *geometry;
        let [kh, kw] = window;

        if window.contains(&0) {
            return Err(Error::Invalid(format!(
                "{op}: window must be at least 1x1, got {window:?}"
            )));
        }
        if stride.contains(&0) {
            return Err(Error::Invalid(format!(
                "{op}: stride must be at least 1 in both directions, got {stride:?}"
            )));
        }
        let sides = [
            ("top", pad.top, "height", kh),
            ("bottom", pad.bottom, "height", kh),
            ("left", pad.left, "width", kw),
            ("right", pad.right, "width", kw),
        ];
        for (side, p, axis, k) in sides {
            if p >= k {
                return Err(Error::Invalid(format!(
                    "{op}: padding {p} at the {side} must be smaller than the window \
                     {axis} {k}, or a window could hold padding only"
                )));
            }
        }
        if h.saturating_mul(w) > u32::MAX as usize {
            return Err(Error::Shape(format!(
                "{op}: a {h}x{w} map has more than 2^32 cells, the most a pooling \
                 kernel indexes"
            )));
        }
        let out_h = out_len(op, "height", h, pad.top, pad.bottom, kh, stride[0])?;
        let out_w = out_len(op, "width", w, pad.left, pad.right, kw, stride[1])?;

        Ok(Pool2dDims {
            batch: n,
            channels: c,
            in_size: [h, w],
            window,
            stride,
            pad,
            out_size: [out_h, out_w],
        })
    }

    /// The output shape `[n, c, out_h, out_w]`.
    pub fn out_shape(&self) -> (usize, usize, usize, usize) {
        let [oh, ow] = self.out_size;
        (self.batch, self.channels, oh, ow)
    }
}

/// What [`PoolKernel::max_pool2d_forward`] returns: the output and what the
/// backward pass needs, or the device's error.
pub type MaxPoolForward<E, D> =
    Result<(Image<E, D>, <D as PoolKernel<E>>::MaxPoolSaved), <D as HasErr>::Err>;

/// What [`PoolKernel::avg_pool2d_forward`] returns.
pub type AvgPoolForward<E, D> =
    Result<(Image<E, D>, <D as PoolKernel<E>>::AvgPoolSaved), <D as HasErr>::Err>;

/// The device side of [`max_pool2d`] and [`avg_pool2d`].
///
/// Gradient buffers are laid out like the tensors they belong to, and
/// kernels add to them.
pub trait PoolKernel<E: Dtype>: Storage<E> {
    /// What max pooling's forward pass hands to its backward pass: on the
    /// CPU, the winning cell of every window and the input's layout.
    type MaxPoolSaved: 'static;

    /// What average pooling's forward pass hands to its backward pass: on
    /// the CPU, the input's layout.
    type AvgPoolSaved: 'static;

    /// The maximum of each window over the cells that are not padding;
    /// NaN wins. When `save` is false the saved value holds no data.
    fn max_pool2d_forward(
        &self,
        dims: &Pool2dDims,
        x: &Image<E, Self>,
        save: bool,
    ) -> MaxPoolForward<E, Self>;

    /// Adds each output gradient to the input cell that won its window (the
    /// first one in row-major order on ties).
    fn max_pool2d_backward(
        &self,
        dims: &Pool2dDims,
        saved: Self::MaxPoolSaved,
        grad_x: &mut Self::Vec,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err>;

    /// The mean of each window; see [`avg_pool2d`] for the divisor.
    fn avg_pool2d_forward(
        &self,
        dims: &Pool2dDims,
        x: &Image<E, Self>,
        count_include_pad: bool,
    ) -> AvgPoolForward<E, Self>;

    /// Spreads each output gradient over its window's input cells, divided
    /// as in the forward pass.
    fn avg_pool2d_backward(
        &self,
        dims: &Pool2dDims,
        count_include_pad: bool,
        saved: Self::AvgPoolSaved,
        grad_x: &mut Self::Vec,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err>;
}

/// Borrows, inside a backward op, the gradient of a pooling op's input
/// (to add to) and of its output (to read), allocating both if needed.
/// The output is always a tensor the op made, so the entries differ.
///
/// A macro rather than a function: dfdx's ghost tensors have a type that
/// cannot be named outside dfdx.
macro_rules! input_and_output_grads {
    ($grads:expr, $input:expr, $output:expr) => {{
        $grads.try_alloc_for($input)?;
        $grads.try_alloc_for($output)?;

        // Both entries exist, so the second lookup inserts nothing and the
        // map moves no value while the first pointer is alive.
        let grad_out: *const _ = $grads.get_or_alloc_mut($output)?;
        let grad_x: *mut _ = $grads.get_or_alloc_mut($input)?;
        assert!(
            !std::ptr::eq(grad_x, grad_out),
            "pool: input and output share a gradient"
        );
        // SAFETY: two distinct live entries of the gradients, which nothing
        // else touches until the kernel returns.
        unsafe { (&mut *grad_x, &*grad_out) }
    }};
}

/// Max pooling of `x` `[n, c, h, w]` over `geometry.window`, giving `[n,
/// c, oh, ow]` sized as in [`Pool2dDims::new`].
///
/// Padding never wins a max: padded cells are skipped, not read as zeros,
/// so an all-negative map pools to negative values. NaN wins a window, as
/// in PyTorch. The gradient goes to the first maximal cell of each window.
/// Records its backward pass when `x` carries a tape, keeping only the
/// index of each window's winner, not the input.
///
/// Errors: the geometry errors of [`Pool2dDims::new`], and
/// [`Error::Device`] when the device fails.
pub fn max_pool2d<E: Dtype, D: PoolKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    geometry: &PoolGeometry,
) -> Result<Image<E, D, T>, Error> {
    let (n, c, h, w) = *x.shape();
    let dims = Pool2dDims::new("max_pool2d", [n, c, h, w], geometry)?;

    let (x, mut tape) = x.split_tape();
    let (out, saved) = x
        .device()
        .max_pool2d_forward(&dims, &x, T::OWNS_TAPE)
        .map_err(Error::device)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }

    let x_ghost = x.ghost();
    drop(x);
    let out_ghost = out.ghost();
    let device = out.device().clone();
    tape.add_backward_op(move |grads| {
        let (grad_x, grad_out) = input_and_output_grads!(grads, &x_ghost, &out_ghost);
        device.max_pool2d_backward(&dims, saved, grad_x, grad_out)
    });
    Ok(out.put_tape(tape))
}

/// Average pooling of `x` `[n, c, h, w]` over `geometry.window`, giving
/// `[n, c, oh, ow]` sized as in [`Pool2dDims::new`].
///
/// `count_include_pad` follows PyTorch's `AvgPool2d`: when true, each sum
/// is divided by the number of window cells that lie inside the padded
/// input, padding included (always the full window size for the
/// geometries [`Pool2dDims::new`] accepts); when false, by the number of
/// cells that are real input. Padded cells add nothing to the sum either
/// way. Records its backward pass when `x` carries a tape.
///
/// Errors: the geometry errors of [`Pool2dDims::new`], and
/// [`Error::Device`] when the device fails.
pub fn avg_pool2d<E: Dtype, D: PoolKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    geometry: &PoolGeometry,
    count_include_pad: bool,
) -> Result<Image<E, D, T>, Error> {
    let (n, c, h, w) = *x.shape();
    let dims = Pool2dDims::new("avg_pool2d", [n, c, h, w], geometry)?;

    let (x, mut tape) = x.split_tape();
    let (out, saved) = x
        .device()
        .avg_pool2d_forward(&dims, &x, count_include_pad)
        .map_err(Error::device)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }

    let x_ghost = x.ghost();
    drop(x);
    let out_ghost = out.ghost();
    let device = out.device().clone();
    tape.add_backward_op(move |grads| {
        let (grad_x, grad_out) = input_and_output_grads!(grads, &x_ghost, &out_ghost);
        device.avg_pool2d_backward(&dims, count_include_pad, saved, grad_x, grad_out)
    });
    Ok(out.put_tape(tape))
}
