//! Turning data set rows into tensors.

use dfdx::prelude::*;

use crate::data::Dataset;
use crate::ops::{Backend, Image};

/// `n` images of `pixels` (CHW each, values in [0, 1]) as one tensor.
pub(crate) fn to_images<E: Dtype, D: Backend<E>>(
    device: &D,
    data: &Dataset,
    pixels: &[f32],
    n: usize,
) -> Image<E, D> {
    let values = pixels
        .iter()
        .map(|p| E::from_f32(*p).expect("finite pixel"))
        .collect();
    device.tensor_from_vec(values, (n, data.channels, data.height, data.width))
}

/// One-hot targets `[n, classes]`.
pub(crate) fn one_hot<E: Dtype, D: Backend<E>>(
    device: &D,
    labels: &[usize],
    classes: usize,
) -> Tensor<(usize, usize), E, D> {
    let mut values = vec![E::default(); labels.len() * classes];
    for (row, &label) in labels.iter().enumerate() {
        values[row * classes + label] = E::ONE;
    }
    device.tensor_from_vec(values, (labels.len(), classes))
}

/// The index of the largest logit of each row.
pub(crate) fn argmax_rows<E: Dtype, D: Backend<E>>(
    logits: &Tensor<(usize, usize), E, D>,
) -> Vec<usize> {
    let (_, classes) = *logits.shape();
    logits
        .as_vec()
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// How many rows have their largest logit at the label.
pub(crate) fn count_correct<E: Dtype, D: Backend<E>>(
    logits: &Tensor<(usize, usize), E, D>,
    labels: &[usize],
) -> usize {
    argmax_rows(logits)
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count()
}
