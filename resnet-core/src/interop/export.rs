//! Writing a [`Network`] as a torchvision state dict.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use dfdx::prelude::*;
use safetensors::tensor::{Dtype as SafeDtype, TensorView};

use super::file::{BATCH_COUNTER, CLASS_NAMES_KEY, INPUT_STATS_KEY};
use super::torchvision::differences;
use crate::ops::Backend;
use crate::weights::{network_tensors, write_atomic, HostTensor, WeightsError};
use crate::Network;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// Float tensors written (learnables and running statistics).
    pub tensors: usize,
    /// `num_batches_tracked` counters written, one per batch norm.
    pub counters: usize,
    /// How the spec departs from torchvision's layout (empty when
    /// `torchvision.models.resnetNN()` computes the same thing).
    pub differences: Vec<String>,
}

/// Writes `network` to `path` as a safetensors state dict that
/// `torchvision.models.resnetNN().load_state_dict(..., strict=True)`
/// accepts when the spec is in torchvision's layout (as
/// `configs/torchvision/` are).
///
/// Every learnable and running statistic is written as F32 under its
/// torchvision name, plus, for each batch norm, the int64 scalar
/// `NAME.num_batches_tracked` that PyTorch's state dicts carry, set to
/// `batches_tracked` (PyTorch reads it only for batch norms whose momentum
/// is None, which torchvision's are not, so 0 is a fine value when the
/// step count is unknown). The metadata holds `format = "pt"`, as
/// `safetensors.torch.save_file` writes, the spec as TOML under
/// `resnet_spec` and the input statistics as JSON under
/// `resnet_input_stats`. The file is written atomically. A spec outside
/// torchvision's layout is still exported, with one warning that says how
/// PyTorch's outputs will differ.
///
/// # Errors
/// [`WeightsError::Write`] when the file cannot be written.
pub fn export_file<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    path: &Path,
    batches_tracked: i64,
) -> Result<ExportReport, WeightsError> {
    export_file_with_names(network, path, batches_tracked, None)
}

/// [`export_file`], with the class names also written into the metadata
/// (under `resnet_class_names`, beside the input statistics under
/// `resnet_input_stats`), so that [`super::import_file`] gives back a
/// model that predicts the same named classes. PyTorch ignores both keys.
///
/// # Errors
/// [`WeightsError::Write`] when the file cannot be written.
pub fn export_file_with_names<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    path: &Path,
    batches_tracked: i64,
    class_names: Option<&[String]>,
) -> Result<ExportReport, WeightsError> {
    let tensors = network_tensors(network)?;
    let counters: Vec<String> = tensors
        .keys()
        .filter_map(|name| name.strip_suffix(".running_mean"))
        .map(|bn| format!("{bn}.{BATCH_COUNTER}"))
        .collect();

    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    metadata.insert("resnet_spec".to_string(), network.spec().to_toml());
    // The input layer's statistics are not tensors of the state dict, yet
    // without them a zero-centered network sees shifted inputs.
    let stats = serde_json::to_string(network.input_stats()).expect("plain data serializes");
    metadata.insert(INPUT_STATS_KEY.to_string(), stats);
    if let Some(names) = class_names {
        let names = serde_json::to_string(names).expect("strings serialize");
        metadata.insert(CLASS_NAMES_KEY.to_string(), names);
    }
    let data = serialize(&tensors, &counters, batches_tracked, metadata).map_err(|message| {
        WeightsError::Write {
            path: path.to_path_buf(),
            error: std::io::Error::other(message),
        }
    })?;
    write_atomic(path, &data)?;

    let report = ExportReport {
        tensors: tensors.len(),
        counters: counters.len(),
        differences: differences(network.spec()),
    };
    log::info!(
        "wrote {} ({} tensors, {} {BATCH_COUNTER} counters) in torchvision's names",
        path.display(),
        report.tensors,
        report.counters
    );
    if !report.differences.is_empty() {
        log::warn!(
            "{}: this spec is not torchvision's layout, so torchvision will {}: {}",
            path.display(),
            "refuse the file or compute something else",
            report.differences.join("; ")
        );
    }
    Ok(report)
}

/// The safetensors bytes of f32 `tensors` and i64 scalar `counters`.
fn serialize(
    tensors: &BTreeMap<String, HostTensor>,
    counters: &[String],
    value: i64,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, String> {
    let floats: Vec<(&str, Vec<u8>, &[usize])> = tensors
        .iter()
        .map(|(name, t)| {
            let bytes = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.as_str(), bytes, t.shape.as_slice())
        })
        .collect();
    let counter_bytes = value.to_le_bytes();

    let mut views = Vec::with_capacity(floats.len() + counters.len());
    for (name, bytes, shape) in &floats {
        let view = TensorView::new(SafeDtype::F32, shape.to_vec(), bytes);
        views.push((
            name.to_string(),
            view.map_err(|e| format!("{name}: {e:?}"))?,
        ));
    }
    for name in counters {
        let view = TensorView::new(SafeDtype::I64, vec![], &counter_bytes);
        views.push((name.clone(), view.map_err(|e| format!("{name}: {e:?}"))?));
    }
    safetensors::serialize(views, &Some(metadata)).map_err(|e| format!("{e:?}"))
}
