//! Convolution, pooling and batch normalization on dfdx tensors.
//!
//! Each op takes a feature map `[batch, channels, height, width]` with
//! runtime dimensions, records its hand-written backward on the input's
//! tape, and accumulates gradients for its parameters (which carry no tape,
//! as dfdx's own modules do). The device-specific work sits behind one
//! kernel trait per op so that a CUDA implementation can sit beside the CPU
//! one.

pub mod batchnorm;
pub mod conv;
mod cpu;
pub mod pool;

pub use batchnorm::{batch_norm2d_eval, batch_norm2d_train, BatchNormConfig, BatchNormKernel};
pub use conv::{conv2d, Conv2dGeometry, ConvKernel};
pub use pool::{avg_pool2d, max_pool2d, PoolGeometry, PoolKernel};

/// A batch of feature maps `[batch, channels, height, width]`.
pub type Image<E, D, T = dfdx::tensor::NoneTape> =
    dfdx::tensor::Tensor<(usize, usize, usize, usize), E, D, T>;

/// Everything a device must offer to run a network: dfdx's ops plus ours.
pub trait Backend<E: dfdx::shapes::Dtype>:
    dfdx::tensor_ops::Device<E> + ConvKernel<E> + PoolKernel<E> + BatchNormKernel<E>
{
}

impl<E, D> Backend<E> for D
where
    E: dfdx::shapes::Dtype,
    D: dfdx::tensor_ops::Device<E> + ConvKernel<E> + PoolKernel<E> + BatchNormKernel<E>,
{
}
