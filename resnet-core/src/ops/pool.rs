//! Max and average pooling.

use dfdx::prelude::*;
use resnet_spec::Pad;

use super::Image;
use crate::Error;

/// Window, stride and padding of a pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// `[height, width]`.
    pub window: [usize; 2],
    /// `[height, width]`.
    pub stride: [usize; 2],
    pub pad: Pad,
}

/// The device side of [`max_pool2d`] and [`avg_pool2d`].
pub trait PoolKernel<E: Dtype>: Storage<E> {}

impl<E: Dtype> PoolKernel<E> for Cpu {}

/// Max pooling; padding never wins a max.
pub fn max_pool2d<E: Dtype, D: PoolKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    geometry: &PoolGeometry,
) -> Result<Image<E, D, T>, Error> {
    let _ = (x, geometry);
    todo!("max_pool2d")
}

/// Average pooling; `count_include_pad` as in PyTorch.
pub fn avg_pool2d<E: Dtype, D: PoolKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    geometry: &PoolGeometry,
    count_include_pad: bool,
) -> Result<Image<E, D, T>, Error> {
    let _ = (x, geometry, count_include_pad);
    todo!("avg_pool2d")
}
