//! Reading a PyTorch state dict saved as safetensors.
//!
//! Unlike [`crate::weights::read_safetensors`], which reads our own
//! checkpoints, this reader accepts PyTorch's integer batch counters
//! (`num_batches_tracked`, int64) beside the floating-point tensors, and
//! turns the safetensors crate's terse errors into sentences that say what
//! is wrong with the file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype as SafeDtype, TensorView};
use safetensors::{SafeTensorError, SafeTensors};

use crate::weights::{to_f32, HostTensor, WeightsError};

/// The suffix of PyTorch's batch counters, which import ignores.
pub const BATCH_COUNTER: &str = "num_batches_tracked";

/// The metadata key of the input layer's statistics (JSON) in exported
/// files.
pub const INPUT_STATS_KEY: &str = "resnet_input_stats";

/// The metadata key of the class names (a JSON list) in exported files.
pub const CLASS_NAMES_KEY: &str = "resnet_class_names";

/// The tensors of a state-dict file, by name, as f32.
#[derive(Debug, Clone, PartialEq)]
pub struct StateDict {
    /// Every entry, batch counters included (their value widened to f32).
    pub tensors: HashMap<String, HostTensor>,
    /// How many weights were stored in each floating-point dtype other
    /// than F32 (and so were converted), e.g. `{"F16": 267}`; batch
    /// counters are not counted.
    pub converted: BTreeMap<String, usize>,
    /// The file's own metadata (`{"format": "pt"}` for files that
    /// `safetensors.torch.save_file` wrote).
    pub metadata: HashMap<String, String>,
}

/// Reads a state dict from a safetensors file.
///
/// Floating-point tensors (F32, F64, F16, BF16) are read as f32; entries
/// named `*.num_batches_tracked` may have any integer or float dtype.
///
/// # Errors
/// [`WeightsError::Read`] when the file cannot be read;
/// [`WeightsError::Format`] when it is not a safetensors file (too short,
/// a PyTorch pickle or zip archive, a damaged header), with a sentence
/// saying which; [`WeightsError::Content`] when the tensor data is cut
/// short (with the bytes the header describes and those present) or to
/// name every tensor whose dtype is not floating point.
pub fn read_state_dict(path: &Path) -> Result<StateDict, WeightsError> {
    let bytes = std::fs::read(path).map_err(|error| WeightsError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| {
        // A cut-short file is a safetensors file, just not a whole one.
        let truncated = matches!(e, SafeTensorError::MetadataIncompleteBuffer);
        let (path, message) = (path.to_path_buf(), explain(&bytes, e));
        if truncated {
            WeightsError::Content { path, message }
        } else {
            WeightsError::Format { path, message }
        }
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| WeightsError::Format {
        path: path.to_path_buf(),
        message: explain(&bytes, e),
    })?;

    let mut entries = file.tensors();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tensors = HashMap::new();
    let mut converted = BTreeMap::new();
    let mut not_float = Vec::new();
    for (name, view) in entries {
        let values = if name.ends_with(BATCH_COUNTER) {
            counter_value(&view)
        } else {
            to_f32(&view)
        };
        let Some(values) = values else {
            not_float.push(format!("{name} {:?}", view.dtype()));
            continue;
        };
        if view.dtype() != SafeDtype::F32 && !name.ends_with(BATCH_COUNTER) {
            *converted.entry(format!("{:?}", view.dtype())).or_insert(0) += 1;
        }
        let shape = view.shape().to_vec();
        tensors.insert(name, HostTensor { shape, values });
    }

    if !not_float.is_empty() {
        let message = format!(
            "weights must be F32, F64, F16 or BF16, but {} tensor{} {}: {}",
            not_float.len(),
            if not_float.len() == 1 { " is" } else { "s are" },
            "stored otherwise",
            abbreviate(&not_float, 6)
        );
        return Err(WeightsError::Content {
            path: path.to_path_buf(),
            message,
        });
    }
    Ok(StateDict {
        tensors,
        converted,
        metadata: header.metadata().clone().unwrap_or_default(),
    })
}

/// A batch counter's value as f32, from any integer or float dtype.
fn counter_value(view: &TensorView) -> Option<Vec<f32>> {
    let data = view.data();
    let values = match view.dtype() {
        SafeDtype::I64 => data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        SafeDtype::I32 => data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        SafeDtype::U8 => data.iter().map(|b| *b as f32).collect(),
        _ => return to_f32(view),
    };
    Some(values)
}

/// Lists up to `shown` items, then how many more there are.
pub(crate) fn abbreviate(items: &[String], shown: usize) -> String {
    let mut text = items
        .iter()
        .take(shown)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > shown {
        text.push_str(&format!(" and {} more", items.len() - shown));
    }
    text
}

/// Why `bytes` is not a safetensors file, in a sentence.
pub(crate) fn explain(bytes: &[u8], error: SafeTensorError) -> String {
    const SAVE: &str = "save the state dict with safetensors.torch.save_file (see the README, \
                        \"PyTorch interop\")";
    if bytes.starts_with(b"PK\x03\x04") {
        return format!("it is a zip archive, as torch.save writes; {SAVE}");
    }
    if bytes.first() == Some(&0x80) && bytes.get(1).is_some_and(|p| (2..=5).contains(p)) {
        return format!("it is a Python pickle, as older torch.save writes; {SAVE}");
    }

    let declared = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .unwrap_or(0);
    let after = bytes.len().saturating_sub(8);
    match error {
        SafeTensorError::HeaderTooSmall => format!(
            "it has {} bytes, fewer than the 8-byte header length every safetensors file \
             starts with",
            bytes.len()
        ),
        SafeTensorError::HeaderTooLarge => format!(
            "its first 8 bytes announce a header of {declared} bytes, beyond the 100 MB \
             safetensors allows"
        ),
        SafeTensorError::InvalidHeaderLength => format!(
            "its first 8 bytes announce a header of {declared} bytes but only {after} follow \
             (a truncated file, or another format)"
        ),
        SafeTensorError::InvalidHeader | SafeTensorError::InvalidHeaderStart => {
            "its header is not UTF-8 text".to_string()
        }
        SafeTensorError::InvalidHeaderDeserialization => {
            "its header is not the JSON table a safetensors file starts with".to_string()
        }
        SafeTensorError::MetadataIncompleteBuffer => {
            let header = usize::try_from(declared).unwrap_or(usize::MAX);
            let held = after.saturating_sub(header);
            match data_length(bytes, header) {
                Some(needed) if needed > held => format!(
                    "the file is truncated: its header describes {needed} bytes of tensor \
                     data, the file holds {held}"
                ),
                Some(needed) => {
                    format!("its header describes {needed} bytes of data, but {held} follow")
                }
                None => "its tensor data does not match its header".to_string(),
            }
        }
        SafeTensorError::InvalidOffset(name) => format!(
            "the byte range of tensor {name} does not follow the previous tensor's (a damaged \
             header)"
        ),
        SafeTensorError::TensorInvalidInfo => {
            "a tensor's byte range does not match its shape and dtype (a damaged header)"
                .to_string()
        }
        SafeTensorError::ValidationOverflow => {
            "a tensor's shape is too large to address (a damaged header)".to_string()
        }
        other => format!("{other:?}"),
    }
}

/// The end of the last tensor's byte range, from the JSON header.
fn data_length(bytes: &[u8], header: usize) -> Option<usize> {
    let text = std::str::from_utf8(bytes.get(8..8 + header)?).ok()?;
    let table: serde_json::Value = serde_json::from_str(text).ok()?;
    table
        .as_object()?
        .iter()
        .filter(|(key, _)| *key != "__metadata__")
        .filter_map(|(_, info)| info.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .and_then(|end| usize::try_from(end).ok())
        .or(Some(0))
}
