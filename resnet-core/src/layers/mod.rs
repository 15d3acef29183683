//! The layers a residual network is made of, each holding its learnables
//! and state as dfdx tensors with runtime dimensions.

mod batchnorm;
mod block;
mod conv;
mod init;
mod linear;
mod visit;

pub use batchnorm::BatchNorm2d;
pub use block::Block;
pub use conv::Conv2d;
pub use init::Init;
pub use linear::Linear;
pub use visit::{TensorKind, TensorVisitor};

use dfdx::prelude::*;

/// Whether batch norm uses running statistics (inference) or the batch's
/// own and collects new running statistics (training).
pub enum Mode<E: Dtype, D: Storage<E>> {
    /// Inference: running statistics, nothing changes.
    Eval,
    /// Training: the new running statistics of each batch norm, by its
    /// index, applied once the forward pass is through.
    Train(Vec<Option<RunningStats<E, D>>>),
}

/// Running mean and variance of one batch norm.
pub type RunningStats<E, D> = (Tensor<(usize,), E, D>, Tensor<(usize,), E, D>);
