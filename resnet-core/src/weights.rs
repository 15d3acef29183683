//! Weight files: safetensors with torchvision's tensor names.
//!
//! A checkpoint is one safetensors file holding every learnable and state
//! tensor of a network under its torchvision name (`conv1.weight`,
//! `layer1.0.bn1.running_var`, `fc.bias`, ...) as f32, and in its metadata
//! the spec (TOML), the input statistics and the class names, so that a
//! checkpoint alone rebuilds the network that wrote it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use dfdx::prelude::*;
use safetensors::tensor::{Dtype as SafeDtype, TensorView};
use safetensors::SafeTensors;

use crate::interop::file::explain;
use crate::layers::{TensorKind, TensorVisitor};
use crate::network::InputStats;
use crate::ops::Backend;
use crate::{Network, Spec};

/// What can go wrong reading or writing weight files.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    // The io error is part of the message, not a `source`, so that a
    // printed error chain names it once.
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a safetensors file: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Content { path: PathBuf, message: String },
    #[error("{path} does not fit the network: {message}")]
    Mismatch { path: PathBuf, message: String },
    #[error("{0}")]
    Network(#[from] crate::Error),
}

/// What a checkpoint carries besides tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointInfo {
    pub spec: Spec,
    pub input_stats: InputStats,
    pub class_names: Vec<String>,
    /// Epochs trained so far.
    pub epoch: usize,
}

/// A tensor read from a file: shape and values as f32.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Every tensor of `network` by name, copied to the host as f32.
pub fn network_tensors<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
) -> Result<BTreeMap<String, HostTensor>, crate::Error> {
    struct Collect(BTreeMap<String, HostTensor>);
    impl<E: Dtype, D: Backend<E>> TensorVisitor<E, D> for Collect {
        fn visit<S: Shape>(
            &mut self,
            name: &str,
            _kind: TensorKind,
            tensor: &mut Tensor<S, E, D>,
        ) -> Result<(), crate::Error> {
            let values = tensor
                .as_vec()
                .iter()
                .map(|v| v.to_f32().unwrap_or(f32::NAN))
                .collect();
            let shape = tensor.shape().concrete().into();
            self.0
                .insert(name.to_string(), HostTensor { shape, values });
            Ok(())
        }
    }
    let mut collect = Collect(BTreeMap::new());
    network.visit(&mut collect)?;
    Ok(collect.0)
}

/// Copies `tensors` into `network`, by name. Every missing, unexpected or
/// mis-shaped name is reported in one message; `num_batches_tracked`
/// (PyTorch's batch counter) is accepted and ignored.
pub fn load_tensors<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    tensors: &HashMap<String, HostTensor>,
) -> Result<(), String> {
    struct Load<'a> {
        tensors: &'a HashMap<String, HostTensor>,
        seen: Vec<String>,
        problems: Vec<String>,
    }
    impl<E: Dtype, D: Backend<E>> TensorVisitor<E, D> for Load<'_> {
        fn visit<S: Shape>(
            &mut self,
            name: &str,
            _kind: TensorKind,
            tensor: &mut Tensor<S, E, D>,
        ) -> Result<(), crate::Error> {
            let expected: Vec<usize> = tensor.shape().concrete().into();
            let Some(found) = self.tensors.get(name) else {
                self.problems.push(format!("missing {name} {expected:?}"));
                return Ok(());
            };
            self.seen.push(name.to_string());
            if found.shape != expected {
                self.problems.push(format!(
                    "{name} has shape {:?}, the network needs {expected:?}",
                    found.shape
                ));
                return Ok(());
            }
            let values = found
                .values
                .iter()
                .map(|v| E::from_f32(*v).unwrap())
                .collect();
            *tensor = tensor.device().tensor_from_vec(values, *tensor.shape());
            Ok(())
        }
    }

    let mut load = Load {
        tensors,
        seen: Vec::new(),
        problems: Vec::new(),
    };
    network.visit(&mut load).map_err(|e| e.to_string())?;
    let mut unexpected: Vec<_> = tensors
        .iter()
        .filter(|(name, _)| !name.ends_with("num_batches_tracked") && !load.seen.contains(name))
        .map(|(name, t)| format!("unexpected {name} {:?}", t.shape))
        .collect();
    unexpected.sort();
    load.problems.extend(unexpected);
    if load.problems.is_empty() {
        network.set_initialized();
        Ok(())
    } else {
        Err(load.problems.join("; "))
    }
}

/// Reads every tensor of a safetensors file as f32 (f32, f64, f16 and
/// bf16 files are accepted), with the file's metadata.
pub fn read_safetensors(
    path: &Path,
) -> Result<(HashMap<String, HostTensor>, HashMap<String, String>), WeightsError> {
    let bytes = std::fs::read(path).map_err(|error| WeightsError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let format = |message: String| WeightsError::Format {
        path: path.to_path_buf(),
        message,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| format(explain(&bytes, e)))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| format(explain(&bytes, e)))?;
    let mut tensors = HashMap::new();
    for (name, view) in file.tensors() {
        let values = to_f32(&view).ok_or_else(|| WeightsError::Content {
            path: path.to_path_buf(),
            message: format!(
                "tensor {name} has dtype {:?}; expected F32, F64, F16 or BF16",
                view.dtype()
            ),
        })?;
        let shape = view.shape().to_vec();
        tensors.insert(name, HostTensor { shape, values });
    }
    Ok((tensors, header.metadata().clone().unwrap_or_default()))
}

/// The values of a floating-point tensor as f32; `None` for any other
/// dtype.
pub(crate) fn to_f32(view: &TensorView) -> Option<Vec<f32>> {
    let data = view.data();
    let values = match view.dtype() {
        SafeDtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        SafeDtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        SafeDtype::F16 => data
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        SafeDtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    };
    Some(values)
}

/// Writes tensors and metadata to `path` atomically: into a temporary file
/// beside it, which then replaces `path`, so a crash never leaves a
/// half-written file.
pub fn write_safetensors(
    path: &Path,
    tensors: &BTreeMap<String, HostTensor>,
    metadata: HashMap<String, String>,
) -> Result<(), WeightsError> {
    let write_err = |error: std::io::Error| WeightsError::Write {
        path: path.to_path_buf(),
        error,
    };
    let bytes: BTreeMap<&str, Vec<u8>> = tensors
        .iter()
        .map(|(name, t)| {
            let raw = t.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.as_str(), raw)
        })
        .collect();
    let mut views = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let view = TensorView::new(SafeDtype::F32, t.shape.clone(), &bytes[name.as_str()])
            .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
        views.push((name.as_str(), view));
    }
    let data = safetensors::serialize(views, &Some(metadata))
        .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
    write_atomic(path, &data)
}

/// Writes `data` to `path` through a temporary file beside it that then
/// replaces `path`.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), WeightsError> {
    let write_err = |error: std::io::Error| WeightsError::Write {
        path: path.to_path_buf(),
        error,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // tempfile's errors name the random file; the folder is what matters.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => format!("folder {} does not exist", dir.display()),
            kind => format!("cannot create a file in {}: {kind}", dir.display()),
        };
        write_err(std::io::Error::new(e.kind(), why))
    })?;
    std::io::Write::write_all(&mut file, data).map_err(write_err)?;
    // Temporary files are created private; a weight file is for sharing.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let readable = std::fs::Permissions::from_mode(0o644);
        file.as_file()
            .set_permissions(readable)
            .map_err(write_err)?;
    }
    file.as_file().sync_all().map_err(write_err)?;
    file.persist(path).map_err(|e| write_err(e.error))?;
    Ok(())
}

/// Saves a network with everything needed to rebuild it.
pub fn save_checkpoint<E: Dtype, D: Backend<E>>(
    network: &mut Network<E, D>,
    class_names: &[String],
    epoch: usize,
    path: &Path,
) -> Result<(), WeightsError> {
    let tensors = network_tensors(network)?;
    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), "resnet-checkpoint".to_string());
    metadata.insert("spec".to_string(), network.spec().to_toml());
    let stats = serde_json::to_string(network.input_stats()).expect("plain data serializes");
    metadata.insert("input_stats".to_string(), stats);
    let names = serde_json::to_string(class_names).expect("plain data serializes");
    metadata.insert("class_names".to_string(), names);
    metadata.insert("epoch".to_string(), epoch.to_string());
    write_safetensors(path, &tensors, metadata)
}

/// Reads a checkpoint written by [`save_checkpoint`] and rebuilds its
/// network on `device`.
pub fn load_checkpoint<E: Dtype, D: Backend<E>>(
    path: &Path,
    device: &D,
) -> Result<(Network<E, D>, CheckpointInfo), WeightsError> {
    let (tensors, metadata) = read_safetensors(path)?;
    let content = |message: String| WeightsError::Content {
        path: path.to_path_buf(),
        message,
    };
    let field = |key: &str| {
        metadata.get(key).ok_or_else(|| {
            content(format!(
                "metadata has no '{key}': not a checkpoint written by resnet train (use \
                 `resnet import` for other weight files)"
            ))
        })
    };
    let spec = Spec::from_toml_str(field("spec")?, &format!("{}#spec", path.display()))
        .map_err(|e| content(e.to_string()))?;
    let input_stats: InputStats =
        serde_json::from_str(field("input_stats")?).map_err(|e| content(e.to_string()))?;
    let class_names: Vec<String> =
        serde_json::from_str(field("class_names")?).map_err(|e| content(e.to_string()))?;
    let epoch = field("epoch")?
        .parse()
        .map_err(|_| content("epoch is not a number".into()))?;

    let mut network = Network::new(&spec, device)?;
    network.set_input_stats(input_stats.clone())?;
    load_tensors(&mut network, &tensors).map_err(|message| WeightsError::Mismatch {
        path: path.to_path_buf(),
        message,
    })?;
    let info = CheckpointInfo {
        spec,
        input_stats,
        class_names,
        epoch,
    };
    Ok((network, info))
}
