//! Walking over every tensor of a network by name.

use dfdx::prelude::*;

use crate::Error;

/// Whether a tensor is trained by the optimizer or is state (batch norm
/// running statistics) updated by the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorKind {
    Learnable,
    State,
}

/// Something that visits named tensors: an optimizer, a weight writer or
/// reader. Names are torchvision's state-dict keys.
pub trait TensorVisitor<E: Dtype, D: Storage<E>> {
    /// Visits one tensor; it may be replaced by one of the same shape.
    fn visit<S: Shape>(
        &mut self,
        name: &str,
        kind: TensorKind,
        tensor: &mut Tensor<S, E, D>,
    ) -> Result<(), Error>;
}
