//! A residual block: a branch of convolutions added to a shortcut.

use dfdx::prelude::*;
use resnet_spec::BlockPlan;

use super::{BatchNorm2d, Conv2d, Init, Mode, TensorVisitor};
use crate::ops::{Backend, Image};
use crate::Error;

/// One basic or bottleneck block.
pub struct Block<E: Dtype, D: Backend<E>> {
    pub name: String,
    pub convs: Vec<Conv2d<E, D>>,
    pub bns: Vec<BatchNorm2d<E, D>>,
    pub shortcut: Option<(Conv2d<E, D>, Option<BatchNorm2d<E, D>>)>,
    pub bn_after_add: bool,
}

impl<E: Dtype, D: Backend<E>> Block<E, D> {
    /// Builds a block; `next_bn` numbers its batch norms.
    pub fn new(
        plan: &BlockPlan,
        device: &D,
        init: &mut Init,
        bn_constants: (f64, f64),
        next_bn: &mut usize,
    ) -> Self {
        let (epsilon, momentum) = bn_constants;
        let mut batch_norm = |p| {
            *next_bn += 1;
            BatchNorm2d::new(p, device, epsilon, momentum, *next_bn - 1)
        };
        let convs = plan
            .convs
            .iter()
            .map(|p| Conv2d::new(p, device, init))
            .collect();
        let bns = plan.bns.iter().map(&mut batch_norm).collect();
        let shortcut = plan.shortcut.as_ref().map(|(conv, bn)| {
            (
                Conv2d::new(conv, device, init),
                bn.as_ref().map(&mut batch_norm),
            )
        });
        Block {
            name: plan.name.clone(),
            convs,
            bns,
            shortcut,
            bn_after_add: plan.bn_after_add,
        }
    }

    /// Runs the block: conv, batch norm, ReLU for each branch convolution
    /// (no ReLU after the last), then the addition and a ReLU, with the last
    /// batch norm after the addition for "batchnorm-after-add".
    pub fn forward<T: Tape<E, D>>(
        &self,
        x: Image<E, D, T>,
        mode: &mut Mode<E, D>,
    ) -> Result<Image<E, D, T>, Error> {
        let (x, tape) = x.split_tape();
        let shortcut = match &self.shortcut {
            None => x.retaped::<T>(),
            Some((conv, bn)) => {
                let y = conv.forward(x.retaped::<T>())?;
                match bn {
                    Some(bn) => bn.forward(y, false, mode)?,
                    None => y,
                }
            }
        };

        let last = self.convs.len() - 1;
        let mut y = x.put_tape(tape);
        for (i, conv) in self.convs.iter().enumerate() {
            y = conv.forward(y)?;
            if i < last || !self.bn_after_add {
                y = self.bns[i].forward(y, i < last, mode)?;
            }
        }

        let sum = y + shortcut;
        if self.bn_after_add {
            self.bns[last].forward(sum, true, mode)
        } else {
            Ok(sum.relu())
        }
    }

    /// Visits every tensor of the block in torchvision's order.
    pub fn visit<V: TensorVisitor<E, D>>(&mut self, visitor: &mut V) -> Result<(), Error> {
        for (conv, bn) in self.convs.iter_mut().zip(self.bns.iter_mut()) {
            conv.visit(visitor)?;
            bn.visit(visitor)?;
        }
        if let Some((conv, bn)) = &mut self.shortcut {
            conv.visit(visitor)?;
            if let Some(bn) = bn {
                bn.visit(visitor)?;
            }
        }
        Ok(())
    }
}
