//! A convolution layer.

use dfdx::prelude::*;
use resnet_spec::ConvPlan;

use super::{Init, TensorKind, TensorVisitor};
use crate::ops::{Backend, Conv2dGeometry, Image};
use crate::Error;

/// A 2-D convolution with an optional bias. The weight is laid out as
/// PyTorch's `[out, in, kh, kw]`.
pub struct Conv2d<E: Dtype, D: Backend<E>> {
    pub name: String,
    pub weight: Tensor<(usize, usize, usize, usize), E, D>,
    pub bias: Option<Tensor<(usize,), E, D>>,
    pub geometry: Conv2dGeometry,
}

impl<E: Dtype, D: Backend<E>> Conv2d<E, D> {
    /// Builds the convolution a plan describes; biases start at zero.
    pub fn new(plan: &ConvPlan, device: &D, init: &mut Init) -> Self {
        let [kh, kw] = plan.kernel;
        let shape = (plan.out_channels, plan.in_channels, kh, kw);
        let fan_in = plan.in_channels * kh * kw;
        let values = init.weights(shape.0 * shape.1 * kh * kw, fan_in);
        let weight = device.tensor_from_vec(cast(values), shape);
        let bias = plan.bias.then(|| device.zeros_like(&(plan.out_channels,)));
        Conv2d {
            name: plan.name.clone(),
            weight,
            bias,
            geometry: Conv2dGeometry {
                stride: plan.stride,
                pad: plan.pad,
                groups: 1,
            },
        }
    }

    /// Convolves a batch of feature maps.
    pub fn forward<T: Tape<E, D>>(&self, x: Image<E, D, T>) -> Result<Image<E, D, T>, Error> {
        D::conv2d(x, &self.weight, self.bias.as_ref(), &self.geometry)
    }

    /// Visits `NAME.weight` and `NAME.bias`.
    pub fn visit<V: TensorVisitor<E, D>>(&mut self, visitor: &mut V) -> Result<(), Error> {
        let name = &self.name;
        visitor.visit(
            &format!("{name}.weight"),
            TensorKind::Learnable,
            &mut self.weight,
        )?;
        if let Some(bias) = &mut self.bias {
            visitor.visit(&format!("{name}.bias"), TensorKind::Learnable, bias)?;
        }
        Ok(())
    }
}

/// Converts host values to the network's element type.
pub(crate) fn cast<E: Dtype>(values: Vec<f64>) -> Vec<E> {
    values
        .into_iter()
        .map(|v| E::from_f64(v).expect("a finite value fits every float type"))
        .collect()
}
