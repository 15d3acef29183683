//! Loading a torchvision state dict into a [`Network`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use dfdx::prelude::*;

use super::adapt::{adapt_input_channels, describe_adaptation, new_classifier};
use super::file::{abbreviate, read_state_dict, BATCH_COUNTER, CLASS_NAMES_KEY, INPUT_STATS_KEY};
use super::torchvision::{describe_stacks, differences};
use crate::layers::{TensorKind, TensorVisitor};
use crate::ops::Backend;
use crate::spec::Normalization;
use crate::weights::{load_tensors, HostTensor, WeightsError};
use crate::{Error, InputStats, Network};

/// The changes import may make, each off by default: without them a file
/// must match the network name for name and shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// When the file's classifier (`fc.weight`, `fc.bias`) has another
    /// number of classes than the network, re-create it for the network's
    /// classes (He-initialized weight, zero bias) and copy everything else:
    /// the start of fine-tuning.
    pub reinit_classifier: bool,
    /// When the network's first convolution reads another number of input
    /// channels than the file's `conv1.weight`, adapt the weight (see
    /// [`adapt_input_channels`](super::adapt_input_channels)): one channel
    /// takes the sum of the kernels, `n` channels repeat them cyclically,
    /// scaled by `c / n`.
    pub adapt_input_channels: bool,
    /// Seed of the re-created classifier's weights.
    pub seed: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Tensors copied from the file unchanged (bit for bit from an F32
    /// file).
    pub copied: usize,
    /// Batch counters (`num_batches_tracked`) in the file, ignored.
    pub ignored: usize,
    /// One line per change made on request (adapted stem, new
    /// classifier), as logged.
    pub changes: Vec<String>,
    /// Whether the input statistics came from the file's metadata (files
    /// that `resnet export` wrote carry them; torchvision's do not).
    pub input_stats: bool,
    /// The class names in the file's metadata, when it has them.
    pub class_names: Option<Vec<String>>,
}

/// One entry whose shape differs between the file and the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MisShaped {
    /// The torchvision name, e.g. `fc.weight`.
    pub name: String,
    /// Its shape in the file.
    pub file: Vec<usize>,
    /// The shape the network needs.
    pub network: Vec<usize>,
}

/// Every way a state dict fails to fit a network, found in one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mismatch {
    /// Entries the network needs and the file lacks, with the network's
    /// shapes, in the network's order.
    pub missing: Vec<(String, Vec<usize>)>,
    /// Entries of the file the network has no place for, with the file's
    /// shapes, by name (batch counters never count).
    pub unexpected: Vec<(String, Vec<usize>)>,
    /// Entries present in both with different shapes, in the network's
    /// order.
    pub mis_shaped: Vec<MisShaped>,
    /// The architectures of file and network when they differ, e.g. "the
    /// file has stacks [2, 2, 2, 2] of basic blocks, the network stacks
    /// [3, 4, 6, 3] of bottleneck blocks".
    pub architecture: Option<String>,
    /// Options that would make the file fit, in a sentence each.
    pub hints: Vec<String>,
}

impl Mismatch {
    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mis_shaped.is_empty()
    }
}

impl fmt::Display for Mismatch {
    /// One line: the two architectures when they differ, each kind of
    /// problem with its entries and shapes (the first few when there are
    /// many; the value holds them all), then the hints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.missing.len() + self.unexpected.len() + self.mis_shaped.len();
        let shown = if total <= 24 { 8 } else { 3 };
        let named = |list: &[(String, Vec<usize>)]| -> Vec<String> {
            list.iter()
                .map(|(name, shape)| format!("{name} {shape:?}"))
                .collect()
        };
        let mut parts = Vec::new();
        if !self.mis_shaped.is_empty() {
            let items: Vec<String> = self
                .mis_shaped
                .iter()
                .map(|m| {
                    format!(
                        "{} is {:?} in the file, {:?} in the network",
                        m.name, m.file, m.network
                    )
                })
                .collect();
            parts.push(format!(
                "{} mis-shaped: {}",
                items.len(),
                abbreviate(&items, shown)
            ));
        }
        if !self.missing.is_empty() {
            let items = named(&self.missing);
            parts.push(format!(
                "{} missing from the file: {}",
                items.len(),
                abbreviate(&items, shown)
            ));
        }
        if !self.unexpected.is_empty() {
            let items = named(&self.unexpected);
            parts.push(format!(
                "{} unexpected: {}",
                items.len(),
                abbreviate(&items, shown)
            ));
        }
        if let Some(architecture) = &self.architecture {
            write!(f, "another architecture: {architecture}; ")?;
        }
        write!(f, "{}", parts.join("; "))?;
        for hint in &self.hints {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read or is not a usable safetensors file.
    #[error(transparent)]
    File(#[from] WeightsError),
    /// The file's entries do not fit the network; `file` names the file
    /// (or says "the state dict" for tensors that came from memory).
    #[error("{file} does not fit the network: {mismatch}")]
    Mismatch {
        file: String,
        mismatch: Box<Mismatch>,
    },
    /// The network refused a tensor (should not happen after the checks).
    #[error(transparent)]
    Network(#[from] crate::Error),
}

/// Every tensor of `network` by torchvision name with its shape, in the
/// order torchvision's state dict lists them (batch counters aside).
pub fn network_shapes<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
) -> Result<Vec<(String, Vec<usize>)>, crate::Error> {
    struct Shapes(Vec<(String, Vec<usize>)>);
    impl<E: Dtype, D: Backend<E>> TensorVisitor<E, D> for Shapes {
        fn visit<S: Shape>(
            &mut self,
            name: &str,
            _kind: TensorKind,
            tensor: &mut Tensor<S, E, D>,
        ) -> Result<(), crate::Error> {
            self.0
                .push((name.to_string(), tensor.shape().concrete().into()));
            Ok(())
        }
    }
    let mut shapes = Shapes(Vec::new());
    network.visit(&mut shapes)?;
    Ok(shapes.0)
}

/// Reads a state dict saved as safetensors and imports it with
/// [`import_state_dict`]; logs what was loaded and what was converted.
///
/// # Errors
/// [`ImportError::File`] when the file is unreadable, not safetensors or
/// holds non-float weights; [`ImportError::Mismatch`] as
/// [`import_state_dict`] gives it, naming the file.
pub fn import_file<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    path: &Path,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let file = read_state_dict(path)?;
    for (dtype, count) in &file.converted {
        log::info!(
            "{}: converted {count} tensors from {dtype} to f32",
            path.display()
        );
    }
    let metadata = file.metadata;
    let mut report = import_state_dict(network, file.tensors, options).map_err(|e| match e {
        ImportError::Mismatch { mismatch, .. } => ImportError::Mismatch {
            file: path.display().to_string(),
            mismatch,
        },
        other => other,
    })?;
    log::info!(
        "{}: copied {} tensors unchanged, ignored {} {BATCH_COUNTER} entries",
        path.display(),
        report.copied,
        report.ignored
    );
    report.input_stats = restore_input_stats(network, &metadata, path);
    report.class_names = metadata
        .get(CLASS_NAMES_KEY)
        .and_then(|names| serde_json::from_str(names).ok());
    Ok(report)
}

/// Sets the network's input statistics from the metadata of a file that
/// `resnet export` wrote; returns whether it did. Logs one line either
/// way when the network normalizes with statistics of its training data
/// (zerocenter, zscore), since without them it sees shifted inputs.
fn restore_input_stats<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    metadata: &HashMap<String, String>,
    path: &Path,
) -> bool {
    let learned = matches!(
        network.normalization(),
        Normalization::Zerocenter | Normalization::Zscore
    );
    let stats = metadata
        .get(INPUT_STATS_KEY)
        .map(|json| serde_json::from_str::<InputStats>(json));
    let outcome = match stats {
        Some(Ok(stats)) => network.set_input_stats(stats.clone()).map(|()| stats),
        Some(Err(e)) => Err(Error::Invalid(format!(
            "its {INPUT_STATS_KEY} is not valid: {e}"
        ))),
        None => Err(Error::Invalid(format!(
            "it carries no {INPUT_STATS_KEY} (torchvision's files do not)"
        ))),
    };
    match outcome {
        Ok(stats) => {
            if learned {
                log::info!(
                    "{}: input statistics restored (mean {:?}, std {:?})",
                    path.display(),
                    stats.mean,
                    stats.std
                );
            }
            true
        }
        Err(why) => {
            if learned {
                log::warn!(
                    "{}: {why}, so the {:?} input layer keeps mean 0 and std 1; train on the \
                     data or use a config with normalization \"none\" and fixed mean and std",
                    path.display(),
                    network.normalization()
                );
            }
            false
        }
    }
}

/// Copies a torchvision state dict into `network`.
///
/// Names map one to one (`conv1.weight`, `bn1.running_var`,
/// `layer2.0.downsample.0.weight`, `fc.bias`, ...); `num_batches_tracked`
/// entries are accepted and ignored. The options allow two changes, each
/// logged in one line and listed in the report: a new classifier for
/// another class count, and an adapted first convolution for another
/// channel count. A spec outside torchvision's layout still imports, with
/// one warning that says how its outputs will differ from PyTorch's.
///
/// # Errors
/// [`ImportError::Mismatch`] listing, all at once, every entry missing from
/// `tensors`, every unexpected one and every mis-shaped one with both
/// shapes, plus hints (the option that would help, the two architectures
/// when they differ). The network is left untouched then.
pub fn import_state_dict<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    mut tensors: HashMap<String, HostTensor>,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let needs = network_shapes(network)?;
    let needed = |name: &str| {
        needs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.clone())
    };
    let mut changes = Vec::new();
    let mut replaced = 0;

    if options.adapt_input_channels {
        if let Some(line) = adapt_stem(&mut tensors, needed("conv1.weight"))? {
            changes.push(line);
            replaced += 1;
        }
    }
    if options.reinit_classifier {
        if let Some(line) = reinit_head(&mut tensors, needed("fc.weight"), options.seed) {
            changes.push(line);
            replaced += 2;
        }
    }

    let mismatch = compare(&needs, &tensors, options);
    if !mismatch.is_empty() {
        return Err(ImportError::Mismatch {
            file: "the state dict".to_string(),
            mismatch: Box::new(mismatch),
        });
    }

    load_tensors(network, &tensors).map_err(crate::Error::Invalid)?;
    for line in &changes {
        log::info!("{line}");
    }
    let differs = differences(network.spec());
    if !differs.is_empty() {
        log::warn!(
            "the weights loaded, but this spec is not torchvision's layout, so its outputs will \
             differ from PyTorch's: {}",
            differs.join("; ")
        );
    }
    Ok(ImportReport {
        copied: needs.len() - replaced,
        ignored: tensors
            .keys()
            .filter(|n| n.ends_with(BATCH_COUNTER))
            .count(),
        changes,
        input_stats: false,
        class_names: None,
    })
}

/// Replaces the file's `conv1.weight` by one adapted to the network's
/// channel count, when they differ; returns the log line.
fn adapt_stem(
    tensors: &mut HashMap<String, HostTensor>,
    needed: Option<Vec<usize>>,
) -> Result<Option<String>, ImportError> {
    let (Some(needed), Some(found)) = (needed, tensors.get("conv1.weight")) else {
        return Ok(None);
    };
    let same_filters = found.shape.len() == 4
        && needed.len() == 4
        && found.shape[0] == needed[0]
        && found.shape[2..] == needed[2..];
    if !same_filters || found.shape[1] == needed[1] {
        return Ok(None);
    }
    let (have, want) = (found.shape[1], needed[1]);
    let adapted = adapt_input_channels(found, want).map_err(crate::Error::Invalid)?;
    let line = format!(
        "conv1.weight: adapted {:?} to {:?} for {want} input channel{} ({})",
        found.shape,
        adapted.shape,
        if want == 1 { "" } else { "s" },
        describe_adaptation(have, want)
    );
    tensors.insert("conv1.weight".to_string(), adapted);
    Ok(Some(line))
}

/// Replaces the file's classifier by a new one for the network's classes
/// when the class counts differ and the feature counts agree; returns the
/// log line.
fn reinit_head(
    tensors: &mut HashMap<String, HostTensor>,
    needed: Option<Vec<usize>>,
    seed: u64,
) -> Option<String> {
    let needed = needed?;
    let found = tensors.get("fc.weight")?;
    let [classes, features] = needed[..] else {
        return None;
    };
    let [file_classes, file_features] = found.shape[..] else {
        return None;
    };
    let bias_fits = tensors.get("fc.bias").map(|b| b.shape == [classes]);
    if file_features != features || (file_classes == classes && bias_fits == Some(true)) {
        return None;
    }
    let (weight, bias) = new_classifier(classes, features, seed);
    tensors.insert("fc.weight".to_string(), weight);
    tensors.insert("fc.bias".to_string(), bias);
    Some(format!(
        "fc: the file has {file_classes} classes, the network {classes}; re-created fc.weight \
         [{classes}, {features}] (He init) and fc.bias [{classes}] (zeros)"
    ))
}

/// Every difference between what the network needs and what `tensors`
/// holds, with hints.
fn compare(
    needs: &[(String, Vec<usize>)],
    tensors: &HashMap<String, HostTensor>,
    options: &ImportOptions,
) -> Mismatch {
    let mut mismatch = Mismatch::default();
    for (name, shape) in needs {
        match tensors.get(name) {
            None => mismatch.missing.push((name.clone(), shape.clone())),
            Some(found) if &found.shape != shape => mismatch.mis_shaped.push(MisShaped {
                name: name.clone(),
                file: found.shape.clone(),
                network: shape.clone(),
            }),
            Some(_) => {}
        }
    }
    let mut unexpected: Vec<(String, Vec<usize>)> = tensors
        .iter()
        .filter(|(name, _)| !name.ends_with(BATCH_COUNTER))
        .filter(|(name, _)| !needs.iter().any(|(n, _)| n == *name))
        .map(|(name, t)| (name.clone(), t.shape.clone()))
        .collect();
    unexpected.sort();
    mismatch.unexpected = unexpected;
    if mismatch.is_empty() {
        return mismatch;
    }

    let only_head = mismatch.missing.is_empty()
        && mismatch.unexpected.is_empty()
        && mismatch
            .mis_shaped
            .iter()
            .all(|m| m.name.starts_with("fc."));
    if only_head && !options.reinit_classifier {
        mismatch.hints.push(
            "the file has another number of classes: the reinit_classifier option \
             (resnet import --reinit-classifier) re-creates the classifier"
                .to_string(),
        );
    }
    let stem_differs = mismatch.mis_shaped.iter().any(|m| m.name == "conv1.weight");
    if stem_differs && !options.adapt_input_channels {
        mismatch.hints.push(
            "the file's first convolution reads another number of channels: the \
             adapt_input_channels option (resnet import --adapt-input-channels) adapts it"
                .to_string(),
        );
    }
    let file_stacks = describe_stacks(tensors.keys().map(String::as_str));
    let network_stacks = describe_stacks(needs.iter().map(|(n, _)| n.as_str()));
    if let (Some(file), Some(network)) = (file_stacks, network_stacks) {
        if file != network {
            mismatch.architecture = Some(format!("the file has {file}, the network {network}"));
        }
    }
    mismatch
}
