//! A residual network built at run time from a [`Spec`].

use dfdx::prelude::*;
use resnet_spec::Spec;

use crate::ops::{Backend, Image};
use crate::Error;

/// A residual network whose layers follow the plan of a validated spec.
///
/// Activations have runtime dimensions; the typed wrapper
/// [`crate::typed::ResNet`] fixes input and output sizes at compile time.
pub struct Network<E: Dtype, D: Backend<E>> {
    spec: Spec,
    device: D,
    _e: std::marker::PhantomData<E>,
}

impl<E: Dtype, D: Backend<E>> Network<E, D> {
    /// Builds the network a spec describes, He-initialized unless
    /// `spec.initialize` is false.
    pub fn new(spec: &Spec, device: &D) -> Result<Self, Error> {
        Ok(Network {
            spec: spec.clone(),
            device: device.clone(),
            _e: Default::default(),
        })
    }

    /// The spec this network was built from.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The device the weights live on.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// Inference: batch norm uses the running statistics. Returns logits
    /// `[batch, classes]`.
    pub fn forward<T: Tape<E, D>>(
        &self,
        x: Image<E, D, T>,
    ) -> Result<Tensor<(usize, usize), E, D, T>, Error> {
        let _ = x;
        todo!("forward")
    }

    /// Training: batch norm uses the batch statistics and updates the
    /// running ones. Returns logits `[batch, classes]`.
    pub fn forward_train<T: Tape<E, D>>(
        &mut self,
        x: Image<E, D, T>,
    ) -> Result<Tensor<(usize, usize), E, D, T>, Error> {
        let _ = x;
        todo!("forward_train")
    }
}
