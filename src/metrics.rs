//! metrics.json: what a training run did, rewritten after every epoch.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use resnet::core::spec::Spec;
use resnet::core::train::EpochMetrics;
use serde::{Deserialize, Serialize};

/// The file name inside a run folder.
pub const FILE: &str = "metrics.json";

/// The training options a run used, kept so that `--resume` and `resnet
/// eval` can reuse them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    /// The last epoch to train.
    pub epochs: usize,
    pub batch_size: usize,
    /// "sgd" or "adam".
    pub optimizer: String,
    /// The learning rate of the first epoch.
    pub lr: f64,
    /// The cosine schedule's last rate, as a fraction of `lr`.
    pub lr_floor: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Largest random shift of the augmentation, in pixels.
    pub max_shift: usize,
    pub seed: u64,
}

/// The content of metrics.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The config's name (its file name without `.toml`).
    pub config: String,
    /// The config file the run was started from.
    pub config_path: PathBuf,
    /// The spec trained (also stored in the checkpoint).
    pub spec: Spec,
    /// The data folder, or `None` for the shipped digits.
    pub data: Option<PathBuf>,
    pub class_names: Vec<String>,
    pub options: RunOptions,
    /// One entry per completed epoch, oldest first.
    pub epochs: Vec<EpochMetrics>,
    /// The final test accuracy, once training finished.
    pub test_accuracy: Option<f64>,
    /// Training time of all runs so far (resumed ones included), in seconds,
    /// once training finished.
    pub seconds: Option<f64>,
}

impl Metrics {
    /// Reads `dir/metrics.json`.
    ///
    /// Errors: the file cannot be read or is not a metrics file.
    pub fn read(dir: &Path) -> Result<Metrics> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a metrics file of resnet train", path.display()))
    }

    /// Reads `dir/metrics.json` if it exists.
    ///
    /// Errors: it exists but cannot be read or parsed.
    pub fn read_if_present(dir: &Path) -> Result<Option<Metrics>> {
        if dir.join(FILE).exists() {
            Metrics::read(dir).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Writes `dir/metrics.json` atomically (a temporary file beside it,
    /// then a rename), so a crash never leaves half a file.
    ///
    /// Errors: the folder is not writable.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("encoding metrics")?;
        crate::out_dir::write_atomic(&dir.join(FILE), text.as_bytes())
    }
}
