//! Optimizers: dfdx's SGD and Adam kernels applied to every learnable of a
//! network, with their per-tensor state kept by tensor name.

use std::collections::HashMap;

use dfdx::optim::{Momentum, WeightDecay};
use dfdx::prelude::*;
use dfdx::tensor_ops::{AdamConfig, SgdConfig};

use crate::layers::{TensorKind, TensorVisitor};
use crate::ops::Backend;
use crate::{Error, Network};

/// Which optimizer and its hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptimizerConfig {
    /// Mini-batch SGD with classic momentum and L2 weight decay.
    Sgd {
        lr: f64,
        momentum: f64,
        weight_decay: f64,
    },
    /// Adam with L2 weight decay.
    Adam { lr: f64, weight_decay: f64 },
}

/// An optimizer over a [`Network`]'s learnables.
pub struct Optimizer<E: Dtype, D: Storage<E>> {
    config: OptimizerConfig,
    /// Velocity (SGD) or first moment (Adam) by tensor name.
    first: HashMap<String, D::Vec>,
    /// Second moment (Adam) by tensor name.
    second: HashMap<String, D::Vec>,
    step: i32,
}

impl<E: Dtype, D: Backend<E>> Optimizer<E, D> {
    /// A fresh optimizer with no state.
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            first: HashMap::new(),
            second: HashMap::new(),
            step: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> OptimizerConfig {
        self.config
    }

    /// Changes the learning rate (for a schedule).
    pub fn set_lr(&mut self, lr: f64) {
        match &mut self.config {
            OptimizerConfig::Sgd { lr: l, .. } | OptimizerConfig::Adam { lr: l, .. } => *l = lr,
        }
    }

    /// Updates every learnable of `network` with its gradient in `grads`
    /// (a learnable the loss did not reach counts as a zero gradient).
    pub fn update(
        &mut self,
        network: &mut Network<E, D>,
        grads: &mut Gradients<E, D>,
    ) -> Result<(), Error> {
        self.step += 1;
        let mut visitor = Updater {
            optimizer: self,
            grads,
        };
        network.visit(&mut visitor)
    }
}

struct Updater<'a, E: Dtype, D: Storage<E>> {
    optimizer: &'a mut Optimizer<E, D>,
    grads: &'a mut Gradients<E, D>,
}

impl<E: Dtype, D: Backend<E>> TensorVisitor<E, D> for Updater<'_, E, D> {
    fn visit<S: Shape>(
        &mut self,
        name: &str,
        kind: TensorKind,
        tensor: &mut Tensor<S, E, D>,
    ) -> Result<(), Error> {
        if kind != TensorKind::Learnable {
            return Ok(());
        }
        let grad: &<D as Storage<E>>::Vec =
            self.grads.get_or_alloc_mut(tensor).map_err(Error::device)?;
        let opt = &mut *self.optimizer;
        let device = tensor.device().clone();
        let first = match opt.first.entry(name.to_string()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(<D as Storage<E>>::try_alloc_grad(&device, grad).map_err(Error::device)?)
            }
        };
        match opt.config {
            OptimizerConfig::Sgd {
                lr,
                momentum,
                weight_decay,
            } => {
                let cfg = SgdConfig {
                    lr,
                    momentum: (momentum > 0.0).then_some(Momentum::Classic(momentum)),
                    weight_decay: (weight_decay > 0.0).then_some(WeightDecay::L2(weight_decay)),
                };
                cfg.try_update(tensor, first, grad).map_err(Error::device)
            }
            OptimizerConfig::Adam { lr, weight_decay } => {
                let second = match opt.second.entry(name.to_string()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(
                        <D as Storage<E>>::try_alloc_grad(&device, grad).map_err(Error::device)?,
                    ),
                };
                let cfg = AdamConfig {
                    lr,
                    weight_decay: (weight_decay > 0.0).then_some(WeightDecay::L2(weight_decay)),
                    ..Default::default()
                };
                cfg.try_update(opt.step, tensor, first, second, grad)
                    .map_err(Error::device)
            }
        }
    }
}
