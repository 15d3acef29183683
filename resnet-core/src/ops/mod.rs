//! Convolution, pooling and batch normalization on dfdx tensors.
//!
//! Each op takes a feature map `[batch, channels, height, width]` with
//! runtime dimensions, records its hand-written backward on the input's
//! tape, and accumulates gradients for its parameters (which carry no tape,
//! as dfdx's own modules do). The CPU work sits behind one kernel trait per
//! op; [`portable`] builds the same ops from dfdx's own tensor ops for
//! devices without such kernels, and [`Backend`] picks one path per device.

pub mod batchnorm;
pub mod conv;
mod cpu;
pub mod pool;
pub mod portable;

use dfdx::prelude::{Cpu, Dtype, Tape};
use dfdx::tensor_ops::Device;

use crate::Error;
use conv::{Vector, Weight4};

pub use batchnorm::{batch_norm2d_eval, batch_norm2d_train, BatchNormConfig, BatchNormKernel};
pub use conv::{conv2d, Conv2dGeometry, ConvKernel};
pub use pool::{avg_pool2d, max_pool2d, PoolGeometry, PoolKernel};

/// A batch of feature maps `[batch, channels, height, width]`.
pub type Image<E, D, T = dfdx::tensor::NoneTape> =
    dfdx::tensor::Tensor<(usize, usize, usize, usize), E, D, T>;

/// A device that runs networks: dfdx's ops plus convolution, pooling and
/// batch normalization. The CPU runs the last three on its own kernels
/// (the free functions of this module); CUDA, with the `cuda` feature, on
/// compositions of dfdx's ops ([`portable`]). Layers call these methods,
/// never the free functions, so that each device gets its own path.
pub trait Backend<E: Dtype>: Device<E> {
    /// [`conv2d`] on this device.
    fn conv2d<T: Tape<E, Self>>(
        x: Image<E, Self, T>,
        weight: &Weight4<E, Self>,
        bias: Option<&Vector<E, Self>>,
        geometry: &Conv2dGeometry,
    ) -> Result<Image<E, Self, T>, Error>;

    /// [`max_pool2d`] on this device.
    fn max_pool2d<T: Tape<E, Self>>(
        x: Image<E, Self, T>,
        geometry: &PoolGeometry,
    ) -> Result<Image<E, Self, T>, Error>;

    /// [`avg_pool2d`] on this device.
    fn avg_pool2d<T: Tape<E, Self>>(
        x: Image<E, Self, T>,
        geometry: &PoolGeometry,
        count_include_pad: bool,
    ) -> Result<Image<E, Self, T>, Error>;

    /// [`batch_norm2d_train`] on this device.
    fn batch_norm2d_train<T: Tape<E, Self>>(
        x: Image<E, Self, T>,
        scale: &Vector<E, Self>,
        offset: &Vector<E, Self>,
        running_mean: &mut Vector<E, Self>,
        running_var: &mut Vector<E, Self>,
        config: &BatchNormConfig,
    ) -> Result<Image<E, Self, T>, Error>;

    /// [`batch_norm2d_eval`] on this device.
    fn batch_norm2d_eval<T: Tape<E, Self>>(
        x: Image<E, Self, T>,
        scale: &Vector<E, Self>,
        offset: &Vector<E, Self>,
        running_mean: &Vector<E, Self>,
        running_var: &Vector<E, Self>,
        config: &BatchNormConfig,
    ) -> Result<Image<E, Self, T>, Error>;
}

/// Implements [`Backend`] for a device by forwarding to one module's
/// functions.
macro_rules! backend_from {
    ($($module:tt)::+) => {
        fn conv2d<T: Tape<E, Self>>(
            x: Image<E, Self, T>,
            weight: &Weight4<E, Self>,
            bias: Option<&Vector<E, Self>>,
            geometry: &Conv2dGeometry,
        ) -> Result<Image<E, Self, T>, Error> {
            $($module)::+::conv2d(x, weight, bias, geometry)
        }

        fn max_pool2d<T: Tape<E, Self>>(
            x: Image<E, Self, T>,
            geometry: &PoolGeometry,
        ) -> Result<Image<E, Self, T>, Error> {
            $($module)::+::max_pool2d(x, geometry)
        }

        fn avg_pool2d<T: Tape<E, Self>>(
            x: Image<E, Self, T>,
            geometry: &PoolGeometry,
            count_include_pad: bool,
        ) -> Result<Image<E, Self, T>, Error> {
            $($module)::+::avg_pool2d(x, geometry, count_include_pad)
        }

        fn batch_norm2d_train<T: Tape<E, Self>>(
            x: Image<E, Self, T>,
            scale: &Vector<E, Self>,
            offset: &Vector<E, Self>,
            running_mean: &mut Vector<E, Self>,
            running_var: &mut Vector<E, Self>,
            config: &BatchNormConfig,
        ) -> Result<Image<E, Self, T>, Error> {
            $($module)::+::batch_norm2d_train(x, scale, offset, running_mean, running_var, config)
        }

        fn batch_norm2d_eval<T: Tape<E, Self>>(
            x: Image<E, Self, T>,
            scale: &Vector<E, Self>,
            offset: &Vector<E, Self>,
            running_mean: &Vector<E, Self>,
            running_var: &Vector<E, Self>,
            config: &BatchNormConfig,
        ) -> Result<Image<E, Self, T>, Error> {
            $($module)::+::batch_norm2d_eval(x, scale, offset, running_mean, running_var, config)
        }
    };
}

impl<E: Dtype> Backend<E> for Cpu
where
    Cpu: Device<E> + ConvKernel<E> + PoolKernel<E> + BatchNormKernel<E>,
{
    backend_from!(crate::ops);
}

#[cfg(feature = "cuda")]
impl<E: Dtype> Backend<E> for dfdx::tensor::Cuda
where
    dfdx::tensor::Cuda: Device<E>,
{
    backend_from!(crate::ops::portable);
}
