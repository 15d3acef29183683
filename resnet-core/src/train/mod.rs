//! Training and evaluation of a network on a [`Dataset`].
//!
//! The loop follows MATLAB's `trainnet` and PyTorch's usual recipe:
//! input statistics from the training data first, then shuffled
//! mini-batches with batch norm in training mode, a checkpoint after every
//! epoch, and evaluation in inference mode.

mod augment;
mod batches;
mod evaluate;
mod input_stats;
mod schedule;

pub use evaluate::{evaluate, Evaluation};
pub use input_stats::input_stats;
pub use schedule::Schedule;

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::data::Dataset;
use crate::layers::{TensorKind, TensorVisitor};
use crate::ops::Backend;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::spec::Plan;
use crate::{Error, Network};
use batches::{one_hot, to_images};

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    pub schedule: Schedule,
    /// Seeds the shuffling and the augmentation.
    pub seed: u64,
    /// Random shifts of up to this many pixels (0 turns augmentation off).
    pub max_shift: usize,
}

/// Loss and accuracy of one epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub learning_rate: f64,
    pub seconds: f64,
}

/// Progress of one mini-batch, for progress bars and logs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchProgress {
    pub epoch: usize,
    /// 1-based.
    pub batch: usize,
    pub batches: usize,
    /// Mean loss and accuracy of the epoch so far.
    pub loss: f64,
    pub accuracy: f64,
    pub images_per_second: f64,
}

/// Receives progress while training runs.
pub trait Observer {
    /// After every mini-batch.
    fn batch(&mut self, progress: &BatchProgress);
    /// After every epoch, once its metrics are known; an error stops
    /// training (for example a checkpoint that could not be written).
    fn epoch(&mut self, metrics: &EpochMetrics) -> Result<(), Error>;
}

/// Trains `network` on `train` for epochs `first_epoch..=options.epochs`
/// (1-based; greater than 1 when resuming), evaluating on `test` after each.
///
/// Stops with an error naming the epoch and batch when the loss or a batch
/// norm statistic stops being finite; the network then holds the weights
/// of the last completed step and the last checkpoint is untouched.
pub fn train<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    optimizer: &mut Optimizer<E, D>,
    train: &Dataset,
    test: &Dataset,
    options: &TrainOptions,
    first_epoch: usize,
    observer: &mut dyn Observer,
) -> Result<Vec<EpochMetrics>, Error> {
    check_batch_size(train, options.batch_size, network.plan())?;
    let batches = train.len() / options.batch_size;
    let mut history = Vec::new();

    for epoch in first_epoch..=options.epochs {
        let start = std::time::Instant::now();
        let lr = options.schedule.lr(epoch - 1, options.epochs);
        optimizer.set_lr(lr);
        let mut rng = StdRng::seed_from_u64(options.seed.wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);

        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut pixels = Vec::new();
        for (b, indices) in order.chunks_exact(options.batch_size).enumerate() {
            train.batch_f32(indices, &mut pixels);
            augment::shift(&mut pixels, train, options.max_shift, &mut rng);
            let labels: Vec<usize> = indices.iter().map(|&i| train.labels[i]).collect();
            let where_ = || format!("epoch {epoch}, batch {} of {batches}", b + 1);

            let step = step(network, optimizer, train, &pixels, &labels)
                .map_err(|e| Error::Invalid(format!("{}: {e}", where_())))?;
            if !step.loss.is_finite() {
                return Err(Error::Invalid(format!(
                    "the loss became {} at {}; try a smaller --lr",
                    step.loss,
                    where_()
                )));
            }
            check_running_stats(network)
                .map_err(|e| Error::Invalid(format!("{e} at {}; try a smaller --lr", where_())))?;

            loss_sum += step.loss * labels.len() as f64;
            correct += step.correct;
            seen += labels.len();
            observer.batch(&BatchProgress {
                epoch,
                batch: b + 1,
                batches,
                loss: loss_sum / seen as f64,
                accuracy: correct as f64 / seen as f64,
                images_per_second: seen as f64 / start.elapsed().as_secs_f64(),
            });
        }

        let evaluation = evaluate(network, test, options.batch_size.max(64))?;
        let metrics = EpochMetrics {
            epoch,
            train_loss: loss_sum / seen as f64,
            train_accuracy: correct as f64 / seen as f64,
            test_loss: evaluation.loss,
            test_accuracy: evaluation.accuracy,
            learning_rate: lr,
            seconds: start.elapsed().as_secs_f64(),
        };
        observer.epoch(&metrics)?;
        history.push(metrics);
    }
    Ok(history)
}

struct Step {
    loss: f64,
    correct: usize,
}

/// One forward, backward and update on a mini-batch.
fn step<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    optimizer: &mut Optimizer<E, D>,
    data: &Dataset,
    pixels: &[f32],
    labels: &[usize],
) -> Result<Step, Error> {
    let device = network.device().clone();
    let x = to_images(&device, data, pixels, labels.len());
    let logits = network.forward_train(x.traced(Gradients::leaky()))?;
    let correct = batches::count_correct(&logits.retaped::<NoneTape>(), labels);
    let targets = one_hot(&device, labels, network.spec().classes);
    let loss = cross_entropy_with_logits_loss(logits, targets);
    let value = loss.as_vec()[0].to_f64().unwrap_or(f64::NAN);
    if !value.is_finite() {
        return Ok(Step {
            loss: value,
            correct,
        });
    }
    let mut grads = loss.backward();
    optimizer.update(network, &mut grads)?;
    Ok(Step {
        loss: value,
        correct,
    })
}

/// Batch norm in training mode needs more than one value per channel, so
/// a batch of one image trains only when the smallest maps (the last
/// stack's) have more than one cell, as in PyTorch; and a dropped
/// remainder must not leave an epoch without a single batch.
fn check_batch_size(train: &Dataset, batch_size: usize, plan: &Plan) -> Result<(), Error> {
    let [h, w, _] = plan.final_activation();
    if batch_size == 0 || batch_size * h * w < 2 {
        return Err(Error::Invalid(format!(
            "batch size {batch_size} is too small: the last stack's maps are {h}x{w}, so \
             batch norm would see {} value{} per channel in training; use a batch size of at \
             least 2",
            batch_size * h * w,
            if batch_size * h * w == 1 { "" } else { "s" },
        )));
    }
    if train.len() < batch_size {
        return Err(Error::Invalid(format!(
            "the training set has {} images, fewer than one batch of {batch_size}; use a \
             smaller --batch-size",
            train.len()
        )));
    }
    Ok(())
}

/// Fails when any batch norm running statistic is NaN or infinite.
pub fn check_running_stats<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
) -> Result<(), Error> {
    struct Check;
    impl<E: Dtype, D: Backend<E>> TensorVisitor<E, D> for Check {
        fn visit<S: Shape>(
            &mut self,
            name: &str,
            kind: TensorKind,
            tensor: &mut Tensor<S, E, D>,
        ) -> Result<(), Error> {
            if kind == TensorKind::State
                && tensor
                    .as_vec()
                    .iter()
                    .any(|v| !v.to_f64().is_some_and(f64::is_finite))
            {
                return Err(Error::Invalid(format!("{name} is no longer finite")));
            }
            Ok(())
        }
    }
    network.visit(&mut Check)
}
