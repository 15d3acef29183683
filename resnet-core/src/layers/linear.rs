//! The fully connected classifier.

use dfdx::prelude::*;
use resnet_spec::FcPlan;

use super::conv::cast;
use super::{Init, TensorKind, TensorVisitor};
use crate::ops::Backend;
use crate::Error;

/// A fully connected layer, weight `[out, in]` as PyTorch lays it out.
pub struct Linear<E: Dtype, D: Backend<E>> {
    pub name: String,
    pub weight: Tensor<(usize, usize), E, D>,
    pub bias: Tensor<(usize,), E, D>,
}

impl<E: Dtype, D: Backend<E>> Linear<E, D> {
    /// Builds the classifier a plan describes, He-initialized, zero bias.
    pub fn new(plan: &FcPlan, device: &D, init: &mut Init) -> Self {
        let shape = (plan.out_features, plan.in_features);
        let values = init.weights(shape.0 * shape.1, plan.in_features);
        Linear {
            name: plan.name.clone(),
            weight: device.tensor_from_vec(cast(values), shape),
            bias: device.zeros_like(&(plan.out_features,)),
        }
    }

    /// Maps features `[n, in]` to logits `[n, out]`.
    pub fn forward<T: Tape<E, D>>(
        &self,
        x: Tensor<(usize, usize), E, D, T>,
    ) -> Result<Tensor<(usize, usize), E, D, T>, Error> {
        let (n, features) = *x.shape();
        let (out, expected) = *self.weight.shape();
        if features != expected {
            return Err(Error::Shape(format!(
                "{}: expected {expected} features, got {features}",
                self.name
            )));
        }
        if !T::OWNS_TAPE {
            return Ok(self.forward_rows(x));
        }
        let weight = self
            .weight
            .retaped::<T>()
            .permute::<(usize, usize), Axes2<1, 0>>();
        let bias = self
            .bias
            .retaped::<T>()
            .broadcast_like::<_, Axis<0>>(&(n, out));
        Ok(x.matmul(weight) + bias)
    }

    /// Inference without a tape: each row on its own, so that an image's
    /// logits do not depend on the batch it comes in (a batched product
    /// rounds differently for each batch size, as gemm picks its blocking
    /// from the matrix sizes).
    fn forward_rows<T: Tape<E, D>>(
        &self,
        x: Tensor<(usize, usize), E, D, T>,
    ) -> Tensor<(usize, usize), E, D, T> {
        let (n, features) = *x.shape();
        let out = self.weight.shape().0;
        let (x, tape) = x.split_tape();
        let (values, weight, bias) = (x.as_vec(), self.weight.as_vec(), self.bias.as_vec());
        let mut logits = Vec::with_capacity(n * out);
        for row in values.chunks_exact(features) {
            for (o, w) in weight.chunks_exact(features).enumerate() {
                let dot: f64 = row
                    .iter()
                    .zip(w)
                    .map(|(a, b)| a.to_f64().unwrap_or(f64::NAN) * b.to_f64().unwrap_or(f64::NAN))
                    .sum();
                let total = dot + bias[o].to_f64().unwrap_or(f64::NAN);
                logits.push(E::from_f64(total).unwrap_or_default());
            }
        }
        self.weight
            .device()
            .tensor_from_vec(logits, (n, out))
            .put_tape(tape)
    }

    /// Visits `NAME.weight` and `NAME.bias`.
    pub fn visit<V: TensorVisitor<E, D>>(&mut self, visitor: &mut V) -> Result<(), Error> {
        let name = &self.name;
        visitor.visit(
            &format!("{name}.weight"),
            TensorKind::Learnable,
            &mut self.weight,
        )?;
        visitor.visit(
            &format!("{name}.bias"),
            TensorKind::Learnable,
            &mut self.bias,
        )
    }
}
