//! Accuracy, per-class accuracy and the confusion matrix.

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::prelude::*;

use super::batches::{argmax_rows, one_hot, to_images};
use crate::data::Dataset;
use crate::ops::Backend;
use crate::{Error, Network};

/// The result of running a network over a data set in inference mode.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Evaluation {
    pub images: usize,
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Accuracy of each class (NaN for a class with no images).
    pub per_class: Vec<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

/// Runs `network` over all of `data` in batches of `batch_size`.
pub fn evaluate<E: Dtype, D: Backend<E>>(
    network: &Network<E, D>,
    data: &Dataset,
    batch_size: usize,
) -> Result<Evaluation, Error> {
    let classes = network.spec().classes;
    let device = network.device().clone();
    let mut confusion = vec![vec![0usize; classes]; classes];
    let mut loss_sum = 0.0;
    let mut pixels = Vec::new();
    let indices: Vec<usize> = (0..data.len()).collect();

    for chunk in indices.chunks(batch_size.max(1)) {
        data.batch_f32(chunk, &mut pixels);
        let labels: Vec<usize> = chunk.iter().map(|&i| data.labels[i]).collect();
        if let Some(bad) = labels.iter().find(|&&l| l >= classes) {
            return Err(Error::Invalid(format!(
                "label {bad} does not fit a network with {classes} classes"
            )));
        }
        let logits = network.forward(to_images(&device, data, &pixels, chunk.len()))?;
        for (label, predicted) in labels.iter().zip(argmax_rows(&logits)) {
            confusion[*label][predicted] += 1;
        }
        let targets = one_hot(&device, &labels, classes);
        let loss = cross_entropy_with_logits_loss(logits, targets).as_vec()[0];
        loss_sum += loss.to_f64().unwrap_or(f64::NAN) * chunk.len() as f64;
    }

    let correct: usize = (0..classes).map(|c| confusion[c][c]).sum();
    let per_class = confusion
        .iter()
        .enumerate()
        .map(|(c, row)| row[c] as f64 / row.iter().sum::<usize>() as f64)
        .collect();
    Ok(Evaluation {
        images: data.len(),
        accuracy: correct as f64 / data.len().max(1) as f64,
        loss: loss_sum / data.len().max(1) as f64,
        per_class,
        confusion,
    })
}
