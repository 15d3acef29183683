//! 2-D convolution.

use dfdx::prelude::*;
use resnet_spec::Pad;

use super::Image;
use crate::Error;

/// Stride, padding and groups of a convolution; the kernel size comes from
/// the weight `[out_channels, in_channels / groups, kh, kw]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dGeometry {
    /// `[height, width]`.
    pub stride: [usize; 2],
    pub pad: Pad,
    pub groups: usize,
}

/// The device side of [`conv2d`].
pub trait ConvKernel<E: Dtype>: Storage<E> {}

impl<E: Dtype> ConvKernel<E> for Cpu {}

/// Convolves `x` `[n, c, h, w]` with `weight` `[o, c / groups, kh, kw]` and
/// adds `bias` `[o]`.
pub fn conv2d<E: Dtype, D: ConvKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    weight: &Tensor<(usize, usize, usize, usize), E, D>,
    bias: Option<&Tensor<(usize,), E, D>>,
    geometry: &Conv2dGeometry,
) -> Result<Image<E, D, T>, Error> {
    let _ = (x, weight, bias, geometry);
    todo!("conv2d")
}
