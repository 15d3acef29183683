//! The training defaults of `resnet train`, in one place so they can be
//! tuned together. Each applies when neither the command line nor a resumed
//! run's metrics.json gives a value.

/// The config trained when `--config` is not given.
pub const CONFIG: &str = "mnist";

/// Passes over the training set.
pub const EPOCHS: usize = 8;

/// Images per mini-batch.
pub const BATCH_SIZE: usize = 64;

/// "sgd" or "adam".
pub const OPTIMIZER: &str = "sgd";

/// The learning rate of the first epoch; a cosine schedule lowers it.
pub const LEARNING_RATE: f64 = 0.1;

/// Where the cosine schedule ends, as a fraction of the first rate.
pub const LR_FLOOR: f64 = 0.01;

/// SGD momentum (ignored by Adam).
pub const MOMENTUM: f64 = 0.9;

/// L2 weight decay.
pub const WEIGHT_DECAY: f64 = 5e-4;

/// Random shifts of up to this many pixels augment the training images.
pub const MAX_SHIFT: usize = 2;

/// Seeds the weights, the shuffling, the augmentation and a folder's
/// holdout split.
pub const SEED: u64 = 0;

/// The fraction of each class of a folder without train/ and test/ that is
/// held out for testing.
pub const HOLDOUT: f64 = 0.2;

/// The smallest batch evaluation runs with; the training loop evaluates
/// each epoch with `max(batch size, EVAL_BATCH_SIZE)`, and `resnet eval`
/// uses the same so that both report the same accuracy.
pub const EVAL_BATCH_SIZE: usize = 64;
