//! 2-D batch normalization with running statistics.

use dfdx::prelude::*;

use super::Image;
use crate::Error;

/// Constants of a batch normalization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Added to the variance before the square root.
    pub epsilon: f64,
    /// Weight of the new batch in the running statistics (PyTorch's
    /// convention).
    pub momentum: f64,
    /// Apply a ReLU to the output in the same pass.
    pub relu: bool,
}

/// The device side of the batch norm ops.
pub trait BatchNormKernel<E: Dtype>: Storage<E> {}

impl<E: Dtype> BatchNormKernel<E> for Cpu {}

/// Training mode: normalizes with the batch's statistics and updates the
/// running ones.
pub fn batch_norm2d_train<E: Dtype, D: BatchNormKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    scale: &Tensor<(usize,), E, D>,
    offset: &Tensor<(usize,), E, D>,
    running_mean: &mut Tensor<(usize,), E, D>,
    running_var: &mut Tensor<(usize,), E, D>,
    config: &BatchNormConfig,
) -> Result<Image<E, D, T>, Error> {
    let _ = (x, scale, offset, running_mean, running_var, config);
    todo!("batch_norm2d_train")
}

/// Inference mode: normalizes with the running statistics.
pub fn batch_norm2d_eval<E: Dtype, D: BatchNormKernel<E>, T: Tape<E, D>>(
    x: Image<E, D, T>,
    scale: &Tensor<(usize,), E, D>,
    offset: &Tensor<(usize,), E, D>,
    running_mean: &Tensor<(usize,), E, D>,
    running_var: &Tensor<(usize,), E, D>,
    config: &BatchNormConfig,
) -> Result<Image<E, D, T>, Error> {
    let _ = (x, scale, offset, running_mean, running_var, config);
    todo!("batch_norm2d_eval")
}
