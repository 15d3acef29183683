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
use resnet::core::ops::Backend;
use resnet::core::weights::{load_checkpoint, CheckpointInfo};
use resnet::core::Network;

use crate::cli::DeviceName;
use crate::device;

/// The checkpoint's file name inside a run folder.
pub const CHECKPOINT: &str = "model.safetensors";

/// The network type the CPU-only commands (import, export) use.
pub type CpuNetwork = Network<f32, Cpu>;

/// Something a command does on whichever device `--device` names.
pub trait OnDevice {
    /// Runs on `device`.
    fn run<D: Backend<f32>>(self, device: D) -> Result<()>;
}

/// Runs `job` on the device `name` names.
///
/// Errors: the job's, or `--device cuda` without a usable GPU or without
/// CUDA support in this build.
pub fn on_device(name: DeviceName, job: impl OnDevice) -> Result<()> {
    match name {
        DeviceName::Cpu => job.run(Cpu::default()),
        DeviceName::Cuda => job.run(device::cuda()?),
    }
}

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

/// Loads a model folder's checkpoint onto `device`.
///
/// Errors: no checkpoint, or one that is corrupt or does not fit its spec.
pub fn load_model<D: Backend<f32>>(
    dir: &Path,
    device: &D,
) -> Result<(Network<f32, D>, CheckpointInfo)> {
    let path = checkpoint_in(dir)?;
    let (network, info) = load_checkpoint::<f32, D>(&path, device)
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
