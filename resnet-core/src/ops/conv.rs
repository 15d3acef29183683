//! 2-D convolution.
//!
//! [`conv2d`] checks the shapes, runs the device's [`ConvKernel`] and, when
//! the input carries a tape, records the backward pass on it. The kernel
//! itself lives with its device (`ops/cpu` for [`Cpu`]).

use dfdx::prelude::*;
use resnet_spec::Pad;

use super::Image;
use crate::Error;

/// A convolution weight `[out_channels, in_channels / groups, kh, kw]`.
pub type Weight4<E, D> = Tensor<(usize, usize, usize, usize), E, D>;

/// A per-channel vector such as a bias `[channels]`.
pub type Vector<E, D> = Tensor<(usize,), E, D>;

/// Stride, padding and groups of a convolution; the kernel size comes from
/// the weight `[out_channels, in_channels / groups, kh, kw]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// `[height, width]`.
    pub stride: [usize; 2],
    /// Rows and columns of zeros added on each side of the input.
    pub pad: Pad,
    /// Number of channel groups; both channel counts must be multiples of
    /// it.
    pub groups: usize,
}

/// Every size of one convolution call, checked: what a kernel needs to run
/// it without looking at the tensors' shapes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dDims {
    /// Images in the batch.
    pub batch: usize,
    /// Channels of the input (all groups).
    pub in_channels: usize,
    /// Input `[height, width]`.
    pub in_size: [usize; 2],
    /// Channels of the output (all groups).
    pub out_channels: usize,
    /// Kernel `[height, width]`.
    pub kernel: [usize; 2],
    /// `[height, width]`.
    pub stride: [usize; 2],
    /// Padding on each side.
    pub pad: Pad,
    /// Channel groups.
    pub groups: usize,
    /// Output `[height, width]`.
    pub out_size: [usize; 2],
}

impl Conv2dDims {
    /// Checks that an input `[n, c, h, w]`, a weight `[o, c / groups, kh,
    /// kw]` and an optional bias of `bias_len` values fit together under
    /// `geometry`, and works out the output size
    /// `floor((h + top + bottom - kh) / stride) + 1` (likewise for the
    /// width).
    ///
    /// Errors: [`Error::Invalid`] for a zero stride or zero groups,
    /// [`Error::Shape`] for an empty weight, channel counts that the groups
    /// do not divide or that disagree with the weight, a bias of the wrong
    /// length, or an input smaller than the kernel after padding. Each
    /// message names the values it received.
    pub fn new(
        x: [usize; 4],
        weight: [usize; 4],
        bias_len: Option<usize>,
        geometry: &Conv2dGeometry,
    ) -> Result<Self, Error> {
        let [n, c, h, w] = x;
        let [o, cg, kh, kw] = weight;
        let Conv2dGeometry {
            stride,
            pad,
            groups,
        } = *geometry;

        if groups == 0 {
            return Err(Error::Invalid(
                "conv2d: groups must be at least 1, got 0".into(),
            ));
        }
        if stride.contains(&0) {
            return Err(Error::Invalid(format!(
                "conv2d: stride must be at least 1 in both directions, got {stride:?}"
            )));
        }
        if weight.contains(&0) {
            return Err(Error::Shape(format!(
                "conv2d: weight {weight:?} has an empty dimension; \
                 expected [out_channels, in_channels / groups, kh, kw], all at least 1"
            )));
        }
        if o % groups != 0 {
            return Err(Error::Shape(format!(
                "conv2d: {groups} groups do not divide the {o} output channels \
                 of weight {weight:?}"
            )));
        }
        if c != cg * groups {
            return Err(Error::Shape(format!(
                "conv2d: expected {} input channels (weight {weight:?}, {groups} group{}), \
                 got {c}",
                cg * groups,
                if groups == 1 { "" } else { "s" },
            )));
        }
        if let Some(len) = bias_len {
            if len != o {
                return Err(Error::Shape(format!(
                    "conv2d: bias has {len} values, expected {o} \
                     (one per output channel of weight {weight:?})"
                )));
            }
        }
        let out_h = out_len("conv2d", "height", h, pad.top, pad.bottom, kh, stride[0])?;
        let out_w = out_len("conv2d", "width", w, pad.left, pad.right, kw, stride[1])?;

        Ok(Conv2dDims {
            batch: n,
            in_channels: c,
            in_size: [h, w],
            out_channels: o,
            kernel: [kh, kw],
            stride,
            pad,
            groups,
            out_size: [out_h, out_w],
        })
    }

    /// [`Conv2dDims::new`] for the shapes of the tensors themselves.
    pub fn of<E: Dtype, D: Storage<E>, T>(
        x: &Image<E, D, T>,
        weight: &Weight4<E, D>,
        bias: Option<&Vector<E, D>>,
        geometry: &Conv2dGeometry,
    ) -> Result<Self, Error> {
        let (n, c, h, w) = *x.shape();
        let (o, cg, kh, kw) = *weight.shape();
        let bias_len = bias.map(|b| b.shape().0);
        Self::new([n, c, h, w], [o, cg, kh, kw], bias_len, geometry)
    }

    /// The output shape `[n, out_channels, out_h, out_w]`.
    pub fn out_shape(&self) -> (usize, usize, usize, usize) {
        let [oh, ow] = self.out_size;
        (self.batch, self.out_channels, oh, ow)
    }

    /// Whether the convolution is a plain matrix product per image: a 1x1
    /// kernel with stride 1 and no padding.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad == Pad::default()
    }
}

/// Output length along one axis, or a shape error naming the axis when the
/// padded input is shorter than the window.
pub(crate) fn out_len(
    op: &str,
    axis: &str,
    len: usize,
    pad_before: usize,
    pad_after: usize,
    window: usize,
    stride: usize,
) -> Result<usize, Error> {
    let padded = len + pad_before + pad_after;
    if padded < window {
        return Err(Error::Shape(format!(
            "{op}: input {axis} {len} with padding {pad_before} + {pad_after} is smaller \
             than the window {axis} {window}; the output would be empty"
        )));
    }
    Ok((padded - window) / stride + 1)
}

/// What [`ConvKernel::conv2d_forward`] returns: the output and what the
/// backward pass needs, or the device's error.
pub type ConvForward<E, D> =
    Result<(Image<E, D>, <D as ConvKernel<E>>::ConvSaved), <D as HasErr>::Err>;

/// The device side of [`conv2d`]: the forward pass and the three gradients.
///
/// Gradient buffers are laid out like the tensors they belong to, and
/// kernels add to them rather than overwrite them, so that a tensor used
/// twice collects both contributions.
pub trait ConvKernel<E: Dtype>: Storage<E> {
    /// What the forward pass hands to the backward pass: on the CPU, the
    /// input's values in row-major order and the layout of its gradient.
    type ConvSaved: 'static;

    /// Computes the convolution of `x` with `weight` plus `bias`; `dims`
    /// has been checked against the three shapes. When `save` is false the
    /// returned [`ConvKernel::ConvSaved`] holds no data.
    fn conv2d_forward(
        &self,
        dims: &Conv2dDims,
        x: &Image<E, Self>,
        weight: &Weight4<E, Self>,
        bias: Option<&Vector<E, Self>>,
        save: bool,
    ) -> ConvForward<E, Self>;

    /// Adds the gradients of the input, the weight and the bias (when there
    /// is one, given with its gradient) for the output's gradient
    /// `grad_out` (contiguous, of shape [`Conv2dDims::out_shape`]).
    #[allow(clippy::too_many_arguments)]
    fn conv2d_backward(
        &self,
        dims: &Conv2dDims,
        saved: Self::ConvSaved,
        grad_x: &mut Self::Vec,
        weight: &Weight4<E, Self>,
        grad_weight: &mut Self::Vec,
        bias: Option<(&Vector<E, Self>, &mut Self::Vec)>,
        grad_out: &Self::Vec,
    ) -> Result<(), Self::Err>;
}

/// Convolves `x` `[n, c, h, w]` (NCHW) with `weight` `[o, c / groups, kh,
/// kw]` (PyTorch's layout) and adds `bias` `[o]`, giving `[n, o, oh, ow]`
/// with `oh = floor((h + top + bottom - kh) / stride_h) + 1` and likewise
/// `ow`.
///
/// Padding is given per side, so MATLAB's "same" (the odd extra row or
/// column at the bottom or right) and PyTorch's symmetric padding are both
/// exact. When `x` carries a tape the backward pass is recorded on it: the
/// gradients of `x`, `weight` and `bias` are added to, the weight's and
/// bias's keyed by their own ids as dfdx's optimizers expect. The
/// recorded pass keeps the input's values (copied out once by the forward
/// pass) and shares the weight and bias; it rebuilds im2col matrices
/// rather than keeping them. Without a tape nothing is kept.
///
/// Errors: shape and argument errors from [`Conv2dDims::new`] (for
/// example "conv2d: expected 3 input channels (weight [64, 3, 7, 7], 1
/// group), got 1") and [`Error::Device`] when the device fails.
///
/// # Panics
/// The backward pass panics if the traced input is the weight or the bias
/// tensor itself (the same id), as dfdx's own binary ops do: their
/// gradients would be one buffer.
pub fn conv2d<E: Dtype, D: ConvKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    weight: &Weight4<E, D>,
    bias: Option<&Vector<E, D>>,
    geometry: &Conv2dGeometry,
) -> Result<Image<E, D, T>, Error> {
    let dims = Conv2dDims::of(&x, weight, bias, geometry)?;

    let (x, mut tape) = x.split_tape();
    let (out, saved) = x
        .device()
        .conv2d_forward(&dims, &x, weight, bias, T::OWNS_TAPE)
        .map_err(Error::device)?;
    if !T::OWNS_TAPE {
        return Ok(out.put_tape(tape));
    }

    // The backward pass reads the input from `saved`, so only its id and
    // layout stay here.
    let x_ghost = x.ghost();
    drop(x);
    let out_ghost = out.ghost();
    let weight = weight.clone();
    let bias = bias.cloned();
    tape.add_backward_op(move |grads| {
        grads.try_alloc_for(&x_ghost)?;
        grads.try_alloc_for(&weight)?;
        grads.try_alloc_for(&out_ghost)?;
        if let Some(b) = &bias {
            grads.try_alloc_for(b)?;
        }

        // Every entry exists now, so these lookups insert nothing and the
        // map moves no value while the pointers are alive.
        let grad_out: *const D::Vec = grads.get_or_alloc_mut(&out_ghost)?;
        let grad_x: *mut D::Vec = grads.get_or_alloc_mut(&x_ghost)?;
        let grad_weight: *mut D::Vec = grads.get_or_alloc_mut(&weight)?;
        let grad_bias: Option<*mut D::Vec> = match &bias {
            Some(b) => Some(grads.get_or_alloc_mut(b)?),
            None => None,
        };
        let bias_apart = !matches!(grad_bias, Some(gb) if gb == grad_x || gb == grad_weight);
        let distinct = grad_x != grad_weight && bias_apart;
        assert!(
            distinct,
            "conv2d: the traced input is also the weight or the bias; \
             their gradients would be one buffer"
        );

        // SAFETY: the pointers come from distinct (checked above), live
        // entries of `grads`, and the output is a tensor made by the forward
        // pass, so its entry is distinct too. Nothing else touches `grads`
        // until this call returns.
        unsafe {
            weight.device().conv2d_backward(
                &dims,
                saved,
                &mut *grad_x,
                &weight,
                &mut *grad_weight,
                bias.as_ref().zip(grad_bias.map(|g| &mut *g)),
                &*grad_out,
            )
        }
    });
    Ok(out.put_tape(tape))
}
