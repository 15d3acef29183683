//! What the interop tests share: torchvision specs, torchvision's own key
//! list (committed by scripts/torch_parity.py), the weight formula of that
//! script, a safetensors writer independent of the library, and digest
//! comparisons.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use resnet_core::weights::HostTensor;
use resnet_core::Spec;
use safetensors::tensor::{Dtype, TensorView};
use serde_json::Value;

/// The spec of `configs/torchvision/NAME.toml` with another input size and
/// class count, built zero-initialized (the tests load weights into it).
pub fn torchvision_spec(name: &str, input: [usize; 3], classes: usize) -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/torchvision")
        .join(format!("{name}.toml"));
    let mut spec = Spec::from_toml_file(&path).expect("the torchvision configs are valid");
    if input[2] != spec.input[2] {
        spec.mean = None;
        spec.std = None;
    }
    spec.input = input;
    spec.classes = classes;
    spec.initialize = false;
    spec.validate().expect("the changed spec is valid");
    spec
}

/// One state-dict entry of torchvision's own model: name, shape, dtype.
pub type Key = (String, Vec<usize>, String);

/// torchvision's state-dict entries of a 1000-class `arch`, in order, as
/// scripts/torch_parity.py wrote them.
pub fn torchvision_keys(arch: &str) -> Vec<Key> {
    let value = fixture(&format!("{arch}_keys.json"));
    value
        .as_array()
        .expect("a list of entries")
        .iter()
        .map(|entry| {
            let name = entry[0].as_str().unwrap().to_string();
            let shape = entry[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (name, shape, entry[2].as_str().unwrap().to_string())
        })
        .collect()
}

/// A JSON file of tests/fixtures/torch/.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture present");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The script's `s` for the first `n` indices of tensor `name`, in f64:
/// sin(0.731 * ((i * 7919) mod 1000003) + 0.013 * bytesum(name)).
pub fn wave(name: &str, n: usize) -> Vec<f64> {
    let phase = 0.013 * name.bytes().map(f64::from).sum::<f64>();
    (0..n as u64)
        .map(|i| (0.731 * ((i * 7919) % 1_000_003) as f64 + phase).sin())
        .collect()
}

/// The script's value of every element of tensor `name` of `shape`, as
/// f32 (see the table at the top of scripts/torch_parity.py).
pub fn formula(name: &str, shape: &[usize]) -> Vec<f32> {
    let s = wave(name, shape.iter().product());
    let value = |s: f64| -> f64 {
        if name.ends_with("running_var") {
            1.0 + 0.5 * s * s
        } else if name.ends_with("running_mean") || name.ends_with("bias") {
            0.1 * s
        } else if shape.len() == 4 {
            s / ((shape[1] * shape[2] * shape[3]) as f64).sqrt()
        } else if shape.len() == 2 {
            s / (shape[1] as f64).sqrt()
        } else {
            1.0 + 0.25 * s
        }
    };
    s.into_iter().map(|s| value(s) as f32).collect()
}

/// The script's input batch `[batch, 3, size, size]` before normalization:
/// 0.5 + 0.5 * s("input").
pub fn formula_input(len: usize) -> Vec<f32> {
    wave("input", len)
        .into_iter()
        .map(|s| (0.5 + 0.5 * s) as f32)
        .collect()
}

/// ImageNet's mean and std as the torchvision configs hold them.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The input the script feeds torch: [`formula_input`] of `[batch, 3,
/// size, size]` normalized per channel in f64 and rounded to f32.
pub fn normalized_input(batch: usize, size: usize) -> Vec<f32> {
    let plane = size * size;
    formula_input(batch * 3 * plane)
        .into_iter()
        .enumerate()
        .map(|(i, x)| {
            let c = i / plane % 3;
            ((x as f64 - IMAGENET_MEAN[c] as f64) / IMAGENET_STD[c] as f64) as f32
        })
        .collect()
}

/// One entry to write: float values, or an int64 counter.
pub enum Entry {
    F32(Vec<usize>, Vec<f32>),
    I64(Vec<usize>, Vec<i64>),
    I32(Vec<usize>, Vec<i32>),
}

/// Writes a safetensors file with the safetensors crate directly, as
/// PyTorch's `save_file` would (not through the library under test).
pub fn write_file(path: &Path, entries: Vec<(String, Entry)>) {
    let raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = entries
        .into_iter()
        .map(|(name, entry)| match entry {
            Entry::F32(shape, v) => {
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (name, Dtype::F32, shape, bytes)
            }
            Entry::I64(shape, v) => {
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (name, Dtype::I64, shape, bytes)
            }
            Entry::I32(shape, v) => {
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                (name, Dtype::I32, shape, bytes)
            }
        })
        .collect();
    let views: Vec<(String, TensorView)> = raw
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    let mut metadata = HashMap::new();
    metadata.insert("format".to_string(), "pt".to_string());
    safetensors::serialize_to_file(views, &Some(metadata), path).unwrap();
}

/// The entries of torchvision's `keys` with values from `value(name,
/// shape)` and counters 0: a file as `save_file(model.state_dict())`
/// writes it.
pub fn torchvision_entries(
    keys: &[Key],
    mut value: impl FnMut(&str, &[usize]) -> Vec<f32>,
) -> Vec<(String, Entry)> {
    keys.iter()
        .map(|(name, shape, dtype)| {
            let entry = if dtype == "int64" {
                Entry::I64(shape.clone(), vec![0])
            } else {
                Entry::F32(shape.clone(), value(name, shape))
            };
            (name.clone(), entry)
        })
        .collect()
}

/// The same entries as an in-memory state dict (counters widened to f32).
pub fn torchvision_map(
    keys: &[Key],
    mut value: impl FnMut(&str, &[usize]) -> Vec<f32>,
) -> HashMap<String, HostTensor> {
    keys.iter()
        .map(|(name, shape, dtype)| {
            let values = if dtype == "int64" {
                vec![0.0]
            } else {
                value(name, shape)
            };
            let tensor = HostTensor {
                shape: shape.clone(),
                values,
            };
            (name.clone(), tensor)
        })
        .collect()
}

/// The largest |ours - torch| over torch's max |x| among the values a
/// digest keeps (the first 8 and the strided samples), after checking the
/// shape and that the sums agree within the same tolerance.
pub fn digest_error(ours: &[f64], shape: &[usize], digest: &Value, tolerance: f64) -> f64 {
    let expected_shape: Vec<usize> = digest["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(shape, expected_shape.as_slice(), "shape");
    let max_abs = digest["max_abs"].as_f64().unwrap();
    let scale = max_abs.max(f64::MIN_POSITIVE);
    let mut worst: f64 = 0.0;

    let first = digest["first"].as_array().unwrap();
    for (i, expected) in first.iter().enumerate() {
        worst = worst.max((ours[i] - expected.as_f64().unwrap()).abs() / scale);
    }
    let step = digest["step"].as_u64().unwrap() as usize;
    for (k, expected) in digest["strided"].as_array().unwrap().iter().enumerate() {
        worst = worst.max((ours[k * step] - expected.as_f64().unwrap()).abs() / scale);
    }
    let ours_max = ours.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    worst = worst.max((ours_max - max_abs).abs() / scale);

    // Each element within e = tolerance * max |x| moves the sum by at most
    // n * e and the sum of squares by at most 2 * e * sum |x| + n * e^2.
    let n = ours.len() as f64;
    let e = tolerance * scale;
    let sum: f64 = ours.iter().sum();
    let sum_sq: f64 = ours.iter().map(|v| v * v).sum();
    let expected_sum = digest["sum"].as_f64().unwrap();
    let expected_sq = digest["sum_sq"].as_f64().unwrap();
    let sum_abs = digest["sum_abs"].as_f64().unwrap();
    assert!(
        (sum - expected_sum).abs() <= n * e,
        "sum {sum} against torch's {expected_sum}"
    );
    assert!(
        (sum_sq - expected_sq).abs() <= 2.0 * e * sum_abs + n * e * e,
        "sum of squares {sum_sq} against torch's {expected_sq}"
    );
    worst
}
