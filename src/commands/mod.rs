//! One module per subcommand; each `run` takes its parsed arguments and
//! returns an error for `main` to print.

pub mod eval;
pub mod interop;
pub mod predict;
pub mod summary;
pub mod train;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use dfdx::prelude::Cpu;
use resnet::core::weights::{load_checkpoint, CheckpointInfo};
use resnet::core::Network;

/// The checkpoint's file name inside a run folder.
pub const CHECKPOINT: &str = "model.safetensors";

/// The network type every command uses: f32 on the CPU.
pub type CpuNetwork = Network<f32, Cpu>;

/// The checkpoint path of a run folder given to `--model`.
///
/// Errors: the folder does not exist or holds no checkpoint.
pub fn checkpoint_in(dir: &Path) -> Result<PathBuf> {
    if !dir.is_dir() {
        bail!(
            "--model {} is not a folder (expected one written by resnet train)",
            dir.display()
        );
    }
    let path = dir.join(CHECKPOINT);
    if !path.is_file() {
        bail!(
            "--model {} has no {CHECKPOINT} (expected a folder written by resnet train --out)",
            dir.display()
        );
    }
    Ok(path)
}

/// Loads a model folder's checkpoint onto the CPU.
///
/// Errors: no checkpoint, or one that is corrupt or does not fit its spec.
pub fn load_model(dir: &Path) -> Result<(CpuNetwork, CheckpointInfo)> {
    let path = checkpoint_in(dir)?;
    let device = Cpu::default();
    let (network, info) = load_checkpoint::<f32, Cpu>(&path, &device)
        .with_context(|| format!("cannot load the model in {}", dir.display()))?;
    let plural = if info.epoch == 1 { "" } else { "s" };
    log::info!(
        "loaded {} ({} classes, trained {} epoch{plural})",
        path.display(),
        info.class_names.len(),
        info.epoch
    );
    Ok((network, info))
}
