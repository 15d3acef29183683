//! What the training tests share: a tiny spec, a two-class data set it
//! learns in a few steps, an observer that keeps the batch losses, and
//! the options of a short SGD run.

use resnet_core::data::Dataset;
use resnet_core::ops::Backend;
use resnet_core::optim::{Optimizer, OptimizerConfig};
use resnet_core::train::{train, BatchProgress, EpochMetrics, Observer};
use resnet_core::train::{Schedule, TrainOptions};
use resnet_core::{Error, Network, Spec};
use resnet_spec::{BottleneckType, Pooling};

/// Input [8, 8, 1], 2 classes, one basic block per stack.
pub fn tiny_spec() -> Spec {
    let mut spec = Spec::new([8, 8, 1], 2);
    spec.initial_filter_size = [3, 3];
    spec.initial_num_filters = 4;
    spec.initial_stride = [1, 1];
    spec.initial_pooling = Pooling::None;
    spec.bottleneck_type = BottleneckType::None;
    spec.stack_depth = vec![1, 1];
    spec.num_filters = vec![4, 8];
    spec
}

/// Class 0 is bright in the top half, class 1 in the bottom half, with a
/// deterministic speckle so that no two images are alike.
pub fn halves(n: usize) -> Dataset {
    let mut images = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = i % 2;
        for y in 0..8 {
            for x in 0..8 {
                let bright = (y < 4) == (label == 0);
                let speckle = ((i * 31 + y * 7 + x * 13) % 50) as u8;
                images.push(if bright { 180 + speckle } else { speckle });
            }
        }
        labels.push(label);
    }
    Dataset {
        height: 8,
        width: 8,
        channels: 1,
        class_names: vec!["top".into(), "bottom".into()],
        images,
        labels,
    }
}

pub struct Record(pub Vec<f64>);

impl Observer for Record {
    fn batch(&mut self, progress: &BatchProgress) {
        self.0.push(progress.loss);
    }
    fn epoch(&mut self, _metrics: &EpochMetrics) -> Result<(), Error> {
        Ok(())
    }
}

pub fn options(epochs: usize, batch_size: usize) -> TrainOptions {
    TrainOptions {
        epochs,
        batch_size,
        optimizer: OptimizerConfig::Sgd {
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 0.0,
        },
        schedule: Schedule::Constant(0.05),
        seed: 7,
        max_shift: 0,
    }
}

/// Trains the tiny spec on `dev` for 3 epochs of 8 batches and checks
/// that every batch was seen, the loss halved and the test accuracy
/// passed 90 %.
pub fn tiny_network_learns<D: Backend<f32>>(dev: &D) {
    let mut net = Network::<f32, D>::with_seed(&tiny_spec(), dev, 3).unwrap();
    let data = halves(64);
    let opts = options(3, 8);
    let mut optimizer = Optimizer::new(opts.optimizer);
    let mut record = Record(Vec::new());

    let history = train(
        &mut net,
        &mut optimizer,
        &data,
        &data,
        &opts,
        1,
        &mut record,
    )
    .unwrap();

    assert_eq!(history.len(), 3);
    assert_eq!(record.0.len(), 3 * 8);
    let (first, last) = (history[0].train_loss, history[2].train_loss);
    assert!(last < 0.5 * first, "loss went from {first} to {last}");
    assert!(history[2].test_accuracy > 0.9, "{history:?}");
}
