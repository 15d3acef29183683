//! `resnet train`: trains a config on a data set, writing a checkpoint,
//! metrics.json and training.png into the run folder after every epoch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use resnet::core::data::Split;
use resnet::core::network::check_buildable;
use resnet::core::optim::{Optimizer, OptimizerConfig};
use resnet::core::spec::{Choice, Normalization, Spec, Summary};
use resnet::core::train::{input_stats, train, Schedule, TrainOptions};
use resnet::core::weights::{load_checkpoint, save_checkpoint, CheckpointInfo};
use resnet::core::Network;

use resnet::core::ops::Backend;

use super::{on_device, OnDevice, CHECKPOINT};
use crate::cli::{OptimizerName, TrainArgs};
use crate::metrics::{Metrics, RunOptions};
use crate::progress::Progress;
use crate::{config, data, defaults, out_dir, plot};

/// A run folder being continued with `--resume`.
struct Resumed<D: Backend<f32>> {
    network: Network<f32, D>,
    info: CheckpointInfo,
    metrics: Option<Metrics>,
}

/// Runs `resnet train`.
///
/// Errors: bad arguments, config or data (see [`data::load`]), an
/// unwritable `--out`, a missing checkpoint with `--resume`, and a loss or
/// batch norm statistic that stops being finite (the last good checkpoint
/// is kept).
pub fn run(args: TrainArgs) -> Result<()> {
    on_device(args.device, args)
}

impl OnDevice for TrainArgs {
    fn run<D: Backend<f32>>(self, device: D) -> Result<()> {
        run_on(self, device)
    }
}

fn run_on<D: Backend<f32>>(args: TrainArgs, device: D) -> Result<()> {
    let started = Instant::now();
    let resumed = match &args.out {
        Some(out) if args.resume => Some(resume(out, &device)?),
        _ => None,
    };
    let previous = resumed.as_ref().and_then(|r| r.metrics.clone());
    let previous = previous.as_ref();

    let (name, config_path, spec) = pick_config(&args, resumed.as_ref())?;
    check_buildable(&spec).with_context(|| format!("config {}", config_path.display()))?;
    let options = pick_options(&args, previous);
    let first_epoch = resumed.as_ref().map_or(1, |r| r.info.epoch + 1);
    if first_epoch > options.epochs {
        let done = first_epoch - 1;
        bail!(
            "the checkpoint in {} has already trained {done} of --epochs {}; pass --epochs N \
             with N above {done} to train further",
            args.out.as_deref().unwrap_or(Path::new(".")).display(),
            options.epochs
        );
    }

    let out = args
        .out
        .clone()
        .unwrap_or_else(|| out_dir::default_path(&name));
    if !args.resume && out.join(CHECKPOINT).exists() {
        bail!(
            "--out {} already holds a {CHECKPOINT}; pass --resume to continue that run or \
             choose another --out",
            out.display()
        );
    }

    let folder = args
        .data
        .clone()
        .or_else(|| previous.and_then(|m| m.data.clone()));
    let split = data::load(folder.as_deref(), &spec, options.seed)?;
    check_data(&split, &options, resumed.as_ref())?;

    let _created = out_dir::ensure_writable(&out)?;

    let mut network = match resumed {
        Some(r) => r.network,
        None => new_network(&spec, &split, options.seed, &device)?,
    };

    let mut metrics = Metrics {
        config: name.clone(),
        config_path,
        spec: spec.clone(),
        // Absolute, so that `--resume` and `resnet eval` find it from
        // anywhere.
        data: folder.as_deref().map(absolute),
        class_names: split.train.class_names.clone(),
        options: options.clone(),
        epochs: previous.map(|m| m.epochs.clone()).unwrap_or_default(),
        test_accuracy: None,
        seconds: None,
    };
    metrics.epochs.retain(|m| m.epoch < first_epoch);
    let earlier_seconds = previous
        .and_then(|m| m.seconds)
        .unwrap_or_else(|| metrics.epochs.iter().map(|m| m.seconds).sum());

    log_plan(
        &name,
        &spec,
        &split,
        &options,
        first_epoch,
        &out,
        folder.as_deref(),
    );
    train_epochs(
        &mut network,
        &split,
        first_epoch,
        &out,
        &mut metrics,
        args.quiet,
    )?;

    let last = metrics.epochs.last().context("no epoch was trained")?;
    let seconds = earlier_seconds + started.elapsed().as_secs_f64();
    metrics.test_accuracy = Some(last.test_accuracy);
    metrics.seconds = Some(seconds);
    metrics.write(&out)?;

    print_result(&metrics, split.test.len(), &out);
    Ok(())
}

/// Trains epochs `first_epoch..=metrics.options.epochs`, saving the
/// checkpoint, metrics.json and the plot in `out` after each.
///
/// Errors: the core's (a loss that stops being finite names the epoch and
/// batch; the message adds which checkpoint is kept) or a file that cannot
/// be written.
fn train_epochs<D: Backend<f32>>(
    network: &mut Network<f32, D>,
    split: &Split,
    first_epoch: usize,
    out: &Path,
    metrics: &mut Metrics,
    quiet: bool,
) -> Result<()> {
    let options = metrics.options.clone();
    let mut progress = Progress::new(options.epochs, quiet);
    let mut optimizer = Optimizer::new(optimizer_config(&options));
    let schedule = Schedule::Cosine {
        base: options.lr,
        floor: options.lr_floor,
    };
    for epoch in first_epoch..=options.epochs {
        // The core's loop cannot hand the network to the observer, so it
        // runs one epoch at a time with that epoch's rate of the schedule;
        // shuffling and augmentation are seeded per epoch, so this trains
        // exactly as one call over all epochs would.
        let one_epoch = TrainOptions {
            epochs: epoch,
            batch_size: options.batch_size,
            optimizer: optimizer_config(&options),
            schedule: Schedule::Constant(schedule.lr(epoch - 1, options.epochs)),
            seed: options.seed,
            max_shift: options.max_shift,
        };
        let history = train(
            network,
            &mut optimizer,
            &split.train,
            &split.test,
            &one_epoch,
            epoch,
            &mut progress,
        );
        let history = match history {
            Ok(history) => history,
            Err(error) => {
                progress.clear();
                bail!("{error}; {}", kept_checkpoint(out, epoch - 1));
            }
        };

        metrics.epochs.extend(history);
        save_epoch(network, metrics, epoch, out)?;
    }
    Ok(())
}

/// The final lines on stdout: test accuracy, time, where the files are.
fn print_result(metrics: &Metrics, images: usize, out: &Path) {
    let accuracy = metrics.test_accuracy.unwrap_or(f64::NAN);
    let seconds = metrics.seconds.unwrap_or(f64::NAN);
    let epochs = metrics.options.epochs;
    let correct = (accuracy * images as f64).round() as usize;
    println!(
        "test accuracy {:.2}% ({correct} of {images} test images)",
        100.0 * accuracy
    );
    let plural = if epochs == 1 { "" } else { "s" };
    println!("time {} for {epochs} epoch{plural}", duration_text(seconds));
    println!(
        "wrote {CHECKPOINT}, {} and {} in {}",
        crate::metrics::FILE,
        plot::FILE,
        out.display()
    );
}

/// Opens the checkpoint and metrics of a run folder to continue.
fn resume<D: Backend<f32>>(out: &Path, device: &D) -> Result<Resumed<D>> {
    let path = out.join(CHECKPOINT);
    if !path.is_file() {
        bail!(
            "--resume: {} has no {CHECKPOINT} to continue from (leave out --resume to start a \
             new run)",
            out.display()
        );
    }
    let (network, info) = load_checkpoint::<f32, D>(&path, device)
        .with_context(|| format!("--resume: cannot load {}", path.display()))?;
    let metrics = Metrics::read_if_present(out)?;
    if metrics.is_none() {
        log::warn!(
            "{} has no {}; its history starts at epoch {}",
            out.display(),
            crate::metrics::FILE,
            info.epoch + 1
        );
    }
    log::info!("resuming {} after epoch {}", path.display(), info.epoch);
    Ok(Resumed {
        network,
        info,
        metrics,
    })
}

/// The config's name, file and spec: from `--config`, else the resumed
/// checkpoint, else the default. With both, they must describe one network.
fn pick_config<D: Backend<f32>>(
    args: &TrainArgs,
    resumed: Option<&Resumed<D>>,
) -> Result<(String, PathBuf, Spec)> {
    let Some(resumed) = resumed else {
        let found = config::load(args.config.as_deref().unwrap_or(defaults::CONFIG))?;
        return Ok((found.name, found.path, found.spec));
    };

    let (name, path) = match &resumed.metrics {
        Some(m) => (m.config.clone(), m.config_path.clone()),
        None => ("resumed".to_string(), PathBuf::new()),
    };
    let Some(given) = &args.config else {
        return Ok((name, path, resumed.info.spec.clone()));
    };
    let found = config::load(given)?;
    if found.spec != resumed.info.spec {
        bail!(
            "--config {given} describes another network than the checkpoint in {} (trained \
             with config {name}); leave out --config to continue that run",
            args.out.as_deref().unwrap_or(Path::new(".")).display()
        );
    }
    Ok((found.name, found.path, found.spec))
}

/// Each training option from the command line, else the resumed run, else
/// the default.
fn pick_options(args: &TrainArgs, previous: Option<&Metrics>) -> RunOptions {
    let before = previous.map(|m| &m.options);
    let optimizer = args
        .optimizer
        .or_else(|| before.and_then(|o| OptimizerName::from_name(&o.optimizer)))
        .unwrap_or(OptimizerName::from_name(defaults::OPTIMIZER).unwrap_or(OptimizerName::Sgd));
    RunOptions {
        epochs: args
            .epochs
            .or(before.map(|o| o.epochs))
            .unwrap_or(defaults::EPOCHS),
        batch_size: args
            .batch_size
            .or(before.map(|o| o.batch_size))
            .unwrap_or(defaults::BATCH_SIZE),
        optimizer: optimizer.name().to_string(),
        lr: args
            .lr
            .or(before.map(|o| o.lr))
            .unwrap_or(defaults::LEARNING_RATE),
        lr_floor: before.map(|o| o.lr_floor).unwrap_or(defaults::LR_FLOOR),
        momentum: args
            .momentum
            .or(before.map(|o| o.momentum))
            .unwrap_or(defaults::MOMENTUM),
        weight_decay: args
            .weight_decay
            .or(before.map(|o| o.weight_decay))
            .unwrap_or(defaults::WEIGHT_DECAY),
        max_shift: before.map(|o| o.max_shift).unwrap_or(defaults::MAX_SHIFT),
        seed: args
            .seed
            .or(before.map(|o| o.seed))
            .unwrap_or(defaults::SEED),
    }
}

/// The core's optimizer settings for `options`.
fn optimizer_config(options: &RunOptions) -> OptimizerConfig {
    match OptimizerName::from_name(&options.optimizer) {
        Some(OptimizerName::Adam) => OptimizerConfig::Adam {
            lr: options.lr,
            weight_decay: options.weight_decay,
        },
        _ => OptimizerConfig::Sgd {
            lr: options.lr,
            momentum: options.momentum,
            weight_decay: options.weight_decay,
        },
    }
}

/// Fails early, before a run folder is made, when the training set cannot
/// fill one batch or the classes differ from the resumed checkpoint's.
fn check_data<D: Backend<f32>>(
    split: &Split,
    options: &RunOptions,
    resumed: Option<&Resumed<D>>,
) -> Result<()> {
    if split.train.len() < options.batch_size {
        bail!(
            "the training set has {} images, fewer than one batch of {}; use a smaller \
             --batch-size or more images",
            split.train.len(),
            options.batch_size
        );
    }
    if let Some(r) = resumed {
        if r.info.class_names != split.train.class_names {
            bail!(
                "the checkpoint was trained on classes [{}] but the data has [{}]; pass the \
                 --data it was trained on",
                data::short_list(&r.info.class_names),
                data::short_list(&split.train.class_names)
            );
        }
    }
    Ok(())
}

/// A freshly initialized network with the input statistics of the
/// training images (for "zerocenter" and "zscore").
fn new_network<D: Backend<f32>>(
    spec: &Spec,
    split: &Split,
    seed: u64,
    device: &D,
) -> Result<Network<f32, D>> {
    let mut network = Network::with_seed(spec, device, seed)?;
    if let Some(stats) = input_stats(&split.train, spec.normalization) {
        let round = |v: &[f32]| -> Vec<String> { v.iter().map(|x| format!("{x:.4}")).collect() };
        let std = if spec.normalization == Normalization::Zscore {
            format!(", standard deviation [{}]", round(&stats.std).join(", "))
        } else {
            String::new()
        };
        log::info!(
            "input normalization {}: per-channel mean [{}]{std} of the training images",
            spec.normalization.name(),
            round(&stats.mean).join(", ")
        );
        network.set_input_stats(stats)?;
    }
    Ok(network)
}

/// Writes the checkpoint, metrics.json and the plot after an epoch. A plot
/// that fails is a warning: the weights and numbers matter more.
fn save_epoch<D: Backend<f32>>(
    model: &mut Network<f32, D>,
    metrics: &Metrics,
    epoch: usize,
    dir: &Path,
) -> Result<()> {
    save_checkpoint(model, &metrics.class_names, epoch, &dir.join(CHECKPOINT))?;
    metrics.write(dir)?;
    let title = format!(
        "{} on {}",
        metrics.config,
        data::describe(metrics.data.as_deref())
    );
    if let Err(error) = plot::write(&dir.join(plot::FILE), &title, &metrics.epochs) {
        log::warn!("could not draw {}: {error:#}", plot::FILE);
    }
    Ok(())
}

/// What the error of a failed epoch adds about the checkpoint on disk.
fn kept_checkpoint(out: &Path, last_good: usize) -> String {
    if last_good == 0 {
        return format!("no checkpoint was written to {}", out.display());
    }
    format!(
        "the last good checkpoint, after epoch {last_good}, is kept in {}",
        out.join(CHECKPOINT).display()
    )
}

/// One info line saying what is about to be trained.
fn log_plan(
    name: &str,
    spec: &Spec,
    split: &Split,
    options: &RunOptions,
    first_epoch: usize,
    out: &Path,
    folder: Option<&Path>,
) {
    if let Ok(summary) = Summary::new(spec) {
        log::info!(
            "config {name}: {} layers, {} learnable values",
            summary.layers,
            summary.parameters
        );
    }
    let batches = split.train.len() / options.batch_size;
    let plural = if batches == 1 { "" } else { "es" };
    log::info!(
        "training epochs {first_epoch} to {} on {}: {batches} batch{plural} of {} per epoch, {} \
         with learning rate {} (cosine to {}), seed {}; writing to {}",
        options.epochs,
        data::describe(folder),
        options.batch_size,
        options.optimizer,
        number(options.lr),
        number(options.lr * options.lr_floor),
        options.seed,
        out.display()
    );
}

/// "2 min 5 s", "41.2 s".
fn duration_text(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    format!("{} min {} s", whole / 60, whole % 60)
}

/// A rate as people write it: 0.1, 0.001, 1e-6, 1e38.
fn number(x: f64) -> String {
    if x != 0.0 && !(1e-4..1e4).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}

/// `path` made absolute (and free of `..`) when it exists, else as given.
fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}
