//! The command line: subcommands and their arguments.
//!
//! Training options are `Option`s so that a value left out can come from a
//! resumed run's metrics.json before the defaults in [`crate::defaults`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Train, evaluate and run residual networks described by TOML specs.
#[derive(Debug, Parser)]
#[command(name = "resnet", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a network (default: the small MNIST config on the shipped digits).
    Train(TrainArgs),
    /// Report accuracy, per-class accuracy and the confusion matrix of a model.
    Eval(EvalArgs),
    /// Print the five most likely classes of each image.
    Predict(PredictArgs),
    /// Print the layers and learnables a config describes.
    Summary(SummaryArgs),
    /// Load a torchvision state dict (safetensors) into a model folder.
    Import(crate::commands::interop::ImportArgs),
    /// Write a model folder's weights as a torchvision state dict.
    Export(crate::commands::interop::ExportArgs),
}

/// Arguments of `resnet train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A config name from configs/ (e.g. mnist, resnet18) or a path to a TOML
    /// file [default: mnist, or the resumed run's config]
    #[arg(long, value_name = "NAME|PATH")]
    pub config: Option<String>,

    /// A folder of images, DIR/<class name>/*.png|jpg|jpeg, optionally split
    /// into DIR/train and DIR/test [default: the shipped MNIST digits]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Train up to this epoch (with --resume: the total, counting earlier
    /// epochs) [default: 8]
    #[arg(long, value_name = "N", value_parser = positive_usize, allow_negative_numbers = true)]
    pub epochs: Option<usize>,

    /// Images per mini-batch [default: 64]
    #[arg(long, value_name = "N", value_parser = positive_usize, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,

    /// The optimizer [default: sgd]
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerName>,

    /// The learning rate of the first epoch; a cosine schedule lowers it to
    /// 1% of it by the last epoch [default: 0.1]
    #[arg(long, value_name = "X", value_parser = positive_f64, allow_negative_numbers = true)]
    pub lr: Option<f64>,

    /// SGD momentum, in [0, 1) [default: 0.9]
    #[arg(long, value_name = "X", value_parser = unit_interval, allow_negative_numbers = true)]
    pub momentum: Option<f64>,

    /// L2 weight decay, 0 or more [default: 0.0005]
    #[arg(long, value_name = "X", value_parser = non_negative_f64, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,

    /// Seeds the weights, shuffling, augmentation and a folder's holdout
    /// split [default: 0]
    #[arg(long, value_name = "N", value_parser = seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,

    /// Where to write model.safetensors, metrics.json and training.png
    /// [default: runs/<config>-<YYYYmmdd-HHMMSS>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Continue the run in --out from its last checkpoint
    #[arg(long, requires = "out")]
    pub resume: bool,

    /// Plain log lines instead of a progress bar
    #[arg(long, short)]
    pub quiet: bool,

    /// Where to run: the CPU, or the first NVIDIA GPU (needs a build with
    /// `--features cuda`)
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu)]
    pub device: DeviceName,
}

/// The devices a command can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceName {
    /// The CPU, on all its cores.
    Cpu,
    /// The first NVIDIA GPU, through CUDA.
    Cuda,
}

/// The optimizers `resnet train` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerName {
    /// Mini-batch SGD with momentum and weight decay.
    Sgd,
    /// Adam with weight decay.
    Adam,
}

impl OptimizerName {
    /// The name as the command line and metrics.json write it.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerName::Sgd => "sgd",
            OptimizerName::Adam => "adam",
        }
    }

    /// Reads a name written by [`OptimizerName::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sgd" => Some(OptimizerName::Sgd),
            "adam" => Some(OptimizerName::Adam),
            _ => None,
        }
    }
}

/// Arguments of `resnet eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A folder written by `resnet train` (holding model.safetensors)
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,

    /// A folder of images to test on, laid out as for `resnet train --data`
    /// [default: the data the model was trained on (from metrics.json),
    /// else the shipped MNIST digits]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// The seed of a folder's holdout split [default: the training run's seed
    /// from metrics.json, else 0]
    #[arg(long, value_name = "N", value_parser = seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,

    /// Where to run: the CPU, or the first NVIDIA GPU (needs a build with
    /// `--features cuda`)
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu)]
    pub device: DeviceName,
}

/// Arguments of `resnet predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A folder written by `resnet train` (holding model.safetensors)
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,

    /// PNG or JPEG files, resized and converted to the model's input
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<PathBuf>,

    /// Where to run: the CPU, or the first NVIDIA GPU (needs a build with
    /// `--features cuda`)
    #[arg(long, value_enum, default_value_t = DeviceName::Cpu)]
    pub device: DeviceName,
}

/// Arguments of `resnet summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// A config name from configs/ or a path to a TOML file
    #[arg(value_name = "CONFIG")]
    pub config: String,

    /// Print the summary as JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Also write the layer graph for Graphviz to FILE
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
}

/// An integer of 1 or more.
pub fn positive_usize(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "expected a whole number of 1 or more, got '{text}'"
        )),
    }
}

/// A whole number of 0 or more, such as a seed.
pub fn seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("expected a whole number of 0 or more, got '{text}'"))
}

/// A finite number greater than 0.
fn positive_f64(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("expected a number greater than 0, got '{text}'")),
    }
}

/// A finite number of 0 or more.
fn non_negative_f64(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("expected a number of 0 or more, got '{text}'")),
    }
}

/// A number in [0, 1).
fn unit_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "expected a number from 0 up to (not including) 1, got '{text}'"
        )),
    }
}
