//! `resnet import` and `resnet export`: torchvision state dicts (saved as
//! safetensors) into a model folder, and a model folder back out to one.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use dfdx::prelude::Cpu;
use resnet::core::interop::{export_file_with_names, import_file, ImportOptions};
use resnet::core::weights::save_checkpoint;

use super::{load_model, CpuNetwork, CHECKPOINT};
use crate::{config, out_dir};

/// Arguments of `resnet import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The config describing the network, e.g.
    /// configs/torchvision/resnet50.toml
    #[arg(long, value_name = "NAME|PATH")]
    pub config: String,

    /// A torchvision state dict saved with safetensors.torch.save_file
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,

    /// The folder to write model.safetensors into (usable by eval and
    /// predict)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Number of classes, replacing the config's (fine-tuning; needs
    /// --reinit-classifier when it differs from the file's)
    #[arg(
        long,
        value_name = "N",
        value_parser = crate::cli::positive_usize,
        allow_negative_numbers = true
    )]
    pub classes: Option<usize>,

    /// Number of input channels, replacing the config's (needs
    /// --adapt-input-channels when it differs from the file's)
    #[arg(
        long,
        value_name = "N",
        value_parser = crate::cli::positive_usize,
        allow_negative_numbers = true
    )]
    pub channels: Option<usize>,

    /// Re-create the classifier when the file has another class count
    #[arg(long)]
    pub reinit_classifier: bool,

    /// Adapt conv1 when the file has another input channel count (one
    /// channel: sum of the kernels; N: repeated and scaled by 3/N)
    #[arg(long)]
    pub adapt_input_channels: bool,

    /// A text file with one class name per line [default: the names in a
    /// file `resnet export` wrote, else 0, 1, 2, ...]
    #[arg(long, value_name = "FILE")]
    pub class_names: Option<PathBuf>,

    /// Seed of a re-created classifier
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        value_parser = crate::cli::seed,
        allow_negative_numbers = true
    )]
    pub seed: u64,
}

/// Arguments of `resnet export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// A folder written by `resnet train` or `resnet import`
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,

    /// The safetensors file to write, in torchvision's names
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `resnet import`: builds the config's network, loads the file into
/// it and saves it as a model folder.
///
/// Errors: an unknown or invalid config (also after --classes or
/// --channels), an unreadable or non-safetensors file, entries that do not
/// fit (all listed), a class-name file with another count than the
/// classes, an unwritable --out.
pub fn run_import(args: ImportArgs) -> Result<()> {
    let found = config::load(&args.config)?;
    let mut spec = found.spec.clone();
    if let Some(classes) = args.classes {
        spec.classes = classes;
    }
    if let Some(channels) = args.channels.filter(|c| *c != spec.input[2]) {
        spec.input[2] = channels;
        // Fixed statistics are per channel; the config's no longer apply.
        spec.mean = None;
        spec.std = None;
    }
    spec.validate()
        .with_context(|| format!("config {} with the given options", found.path.display()))?;
    let named = class_names(args.class_names.as_ref(), spec.classes)?;
    let path = args.out.join(CHECKPOINT);
    if path.exists() {
        bail!(
            "--out {} already holds a {CHECKPOINT}; choose another --out or remove it first",
            args.out.display()
        );
    }

    let mut network = CpuNetwork::new(&spec, &Cpu::default())?;
    let options = ImportOptions {
        reinit_classifier: args.reinit_classifier,
        adapt_input_channels: args.adapt_input_channels,
        seed: args.seed,
    };
    let report = import_file(&mut network, &args.weights, &options)?;

    // Names from --class-names, else from a file `resnet export` wrote
    // (when its class count still fits), else the class indices.
    let from_file = report.class_names.filter(|n| n.len() == spec.classes);
    let class_names = match (named, from_file) {
        (Some(names), _) | (None, Some(names)) => names,
        (None, None) => (0..spec.classes).map(|c| c.to_string()).collect(),
    };
    let _created = out_dir::ensure_writable(&args.out)?;
    save_checkpoint(&mut network, &class_names, 0, &path)?;
    log::info!("wrote {}", path.display());
    Ok(())
}

/// Runs `resnet export`: writes a model folder's weights in torchvision's
/// names, loadable with `load_state_dict(..., strict=True)`.
///
/// Errors: a folder without a loadable checkpoint, an unwritable file.
pub fn run_export(args: ExportArgs) -> Result<()> {
    let (mut network, info) = load_model(&args.model, &Cpu::default())?;
    export_file_with_names(&mut network, &args.out, 0, Some(&info.class_names))?;
    Ok(())
}

/// The class names from a file, one a line, when one is given.
fn class_names(file: Option<&PathBuf>, classes: usize) -> Result<Option<Vec<String>>> {
    let Some(file) = file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read --class-names {}", file.display()))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != classes {
        bail!(
            "--class-names {} lists {} names, but the network has {classes} classes",
            file.display(),
            names.len()
        );
    }
    Ok(Some(names))
}
