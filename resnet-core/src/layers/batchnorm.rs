//! A batch normalization layer.

use dfdx::prelude::*;
use resnet_spec::BatchNormPlan;

use super::{Mode, TensorKind, TensorVisitor};
use crate::ops::{Backend, BatchNormConfig, Image};
use crate::Error;

/// Batch normalization over channels, with learnable scale and offset
/// (PyTorch's `weight` and `bias`) and running statistics as state.
pub struct BatchNorm2d<E: Dtype, D: Backend<E>> {
    pub name: String,
    pub scale: Tensor<(usize,), E, D>,
    pub offset: Tensor<(usize,), E, D>,
    pub running_mean: Tensor<(usize,), E, D>,
    pub running_var: Tensor<(usize,), E, D>,
    pub epsilon: f64,
    pub momentum: f64,
    /// Position among the network's batch norms, which keys the running
    /// statistics a training pass collects.
    pub index: usize,
}

impl<E: Dtype, D: Backend<E>> BatchNorm2d<E, D> {
    /// Scale 1 (0 with `zero_init`), offset 0, running mean 0, variance 1.
    pub fn new(
        plan: &BatchNormPlan,
        device: &D,
        epsilon: f64,
        momentum: f64,
        index: usize,
    ) -> Self {
        let c = (plan.channels,);
        let scale = if plan.zero_init {
            device.zeros_like(&c)
        } else {
            device.ones_like(&c)
        };
        BatchNorm2d {
            name: plan.name.clone(),
            scale,
            offset: device.zeros_like(&c),
            running_mean: device.zeros_like(&c),
            running_var: device.ones_like(&c),
            epsilon,
            momentum,
            index,
        }
    }

    /// Normalizes, then applies a ReLU when `relu` is set. In training mode
    /// the new running statistics go into `mode` rather than into the layer,
    /// so that inference can share the same code with `&self`.
    pub fn forward<T: Tape<E, D>>(
        &self,
        x: Image<E, D, T>,
        relu: bool,
        mode: &mut Mode<E, D>,
    ) -> Result<Image<E, D, T>, Error> {
        let config = BatchNormConfig {
            epsilon: self.epsilon,
            momentum: self.momentum,
            relu,
        };
        match mode {
            Mode::Eval => D::batch_norm2d_eval(
                x,
                &self.scale,
                &self.offset,
                &self.running_mean,
                &self.running_var,
                &config,
            ),
            Mode::Train(updates) => {
                let mut mean = self.running_mean.clone();
                let mut var = self.running_var.clone();
                let y = D::batch_norm2d_train(
                    x,
                    &self.scale,
                    &self.offset,
                    &mut mean,
                    &mut var,
                    &config,
                )
                .map_err(|e| Error::Invalid(format!("{}: {e}", self.name)))?;
                updates[self.index] = Some((mean, var));
                Ok(y)
            }
        }
    }

    /// Visits `NAME.weight`, `NAME.bias` (learnables) and
    /// `NAME.running_mean`, `NAME.running_var` (state).
    pub fn visit<V: TensorVisitor<E, D>>(&mut self, visitor: &mut V) -> Result<(), Error> {
        let name = &self.name;
        visitor.visit(
            &format!("{name}.weight"),
            TensorKind::Learnable,
            &mut self.scale,
        )?;
        visitor.visit(
            &format!("{name}.bias"),
            TensorKind::Learnable,
            &mut self.offset,
        )?;
        visitor.visit(
            &format!("{name}.running_mean"),
            TensorKind::State,
            &mut self.running_mean,
        )?;
        visitor.visit(
            &format!("{name}.running_var"),
            TensorKind::State,
            &mut self.running_var,
        )
    }
}
