//! Importing torchvision state dicts: case A05 (another class count), the
//! entry counts of torchvision's own files, and bad files.
//!
//! The files are written in each test with the safetensors crate from the
//! key list torchvision itself produced (tests/fixtures/torch/*_keys.json,
//! written by scripts/torch_parity.py), so the expected names and shapes
//! do not come from our plan.

mod interop_support;

use std::collections::HashMap;

use dfdx::prelude::*;
use interop_support::*;
use resnet_core::interop::{import_file, import_state_dict, ImportError, ImportOptions};
use resnet_core::spec::Summary;
use resnet_core::weights::{network_tensors, HostTensor, WeightsError};
use resnet_core::Network;

fn count(keys: &[Key], test: impl Fn(&Key) -> bool) -> usize {
    keys.iter().filter(|k| test(k)).count()
}

#[test]
fn torchvision_files_have_the_entry_counts_of_a05() {
    let keys = torchvision_keys("resnet50");
    assert_eq!(keys.len(), 320);
    assert_eq!(count(&keys, |k| k.1.len() == 4), 53, "conv weights");
    let bns: Vec<&str> = keys
        .iter()
        .filter_map(|k| k.0.strip_suffix(".running_mean"))
        .collect();
    assert_eq!(bns.len(), 53, "batch norms");
    for bn in &bns {
        for part in [
            "weight",
            "bias",
            "running_mean",
            "running_var",
            "num_batches_tracked",
        ] {
            let name = format!("{bn}.{part}");
            assert_eq!(count(&keys, |k| k.0 == name), 1, "{name}");
        }
    }
    assert_eq!(count(&keys, |k| k.0.ends_with("num_batches_tracked")), 53);
    assert_eq!(53 + 5 * 53 + 2, 320);
    let head: Vec<_> = keys.iter().filter(|k| k.0.starts_with("fc.")).collect();
    assert_eq!(head.len(), 2);
    assert_eq!(head[0].1, vec![1000, 2048]);
    assert_eq!(head[1].1, vec![1000]);

    let keys = torchvision_keys("resnet18");
    assert_eq!(keys.len(), 122);
    assert_eq!(count(&keys, |k| k.0.ends_with("num_batches_tracked")), 20);
}

/// Our network's tensors are exactly torchvision's entries less the
/// batch counters, in the same order.
#[test]
fn torchvision_layout_networks_have_torchvision_names_and_shapes() {
    for arch in ["resnet18", "resnet50"] {
        let spec = torchvision_spec(arch, [224, 224, 3], 1000);
        let mut network = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();
        let ours = resnet_core::interop::network_shapes(&mut network).unwrap();
        let theirs: Vec<(String, Vec<usize>)> = torchvision_keys(arch)
            .into_iter()
            .filter(|k| !k.0.ends_with("num_batches_tracked"))
            .map(|k| (k.0, k.1))
            .collect();
        assert_eq!(ours, theirs, "{arch}");
    }
}

/// A bit pattern that differs for every element: a zero anywhere would
/// not show that values land in the right tensor.
fn pattern(name: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let salt = name
        .bytes()
        .fold(17u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    (0..n as u32)
        .map(|i| {
            let bits = i.wrapping_mul(2_654_435_761).wrapping_add(salt);
            f32::from_bits(0x3c00_0000 | (bits >> 9))
        })
        .collect()
}

#[test]
fn a05_strict_import_lists_exactly_the_head_and_reinit_copies_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resnet50.safetensors");
    let keys = torchvision_keys("resnet50");
    write_file(&path, torchvision_entries(&keys, pattern));
    let spec = torchvision_spec("resnet50", [224, 224, 3], 3);
    let mut network = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();

    let strict = import_file(&mut network, &path, &ImportOptions::default());
    let Err(ImportError::Mismatch { mismatch, .. }) = &strict else {
        panic!("expected a mismatch, got {strict:?}");
    };
    assert!(mismatch.missing.is_empty() && mismatch.unexpected.is_empty());
    let shaped: Vec<_> = mismatch
        .mis_shaped
        .iter()
        .map(|m| (m.name.as_str(), m.file.clone(), m.network.clone()))
        .collect();
    assert_eq!(
        shaped,
        vec![
            ("fc.weight", vec![1000, 2048], vec![3, 2048]),
            ("fc.bias", vec![1000], vec![3]),
        ]
    );
    let message = strict.unwrap_err().to_string();
    assert!(!message.contains('\n'), "{message}");
    assert!(!message.contains("num_batches_tracked"), "{message}");
    for text in [
        "fc.weight",
        "[1000, 2048]",
        "[3, 2048]",
        "fc.bias",
        "[1000]",
        "[3]",
    ] {
        assert!(message.contains(text), "{text} in {message}");
    }
    assert!(message.contains("reinit_classifier"), "{message}");
    assert!(
        !network.is_initialized(),
        "a failed import leaves the network alone"
    );

    let options = ImportOptions {
        reinit_classifier: true,
        ..ImportOptions::default()
    };
    let report = import_file(&mut network, &path, &options).unwrap();
    assert_eq!(report.copied, 265);
    assert_eq!(report.ignored, 53);
    assert_eq!(report.changes.len(), 1);
    assert!(
        report.changes[0].contains("[3, 2048]"),
        "{}",
        report.changes[0]
    );

    let tensors = network_tensors(&mut network).unwrap();
    let mut copied = 0;
    for (name, shape, dtype) in &keys {
        if dtype == "int64" || name.starts_with("fc.") {
            continue;
        }
        let ours = &tensors[name];
        assert_eq!(&ours.shape, shape, "{name}");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(
            bits(&ours.values) == bits(&pattern(name, shape)),
            "{name} not bit for bit"
        );
        copied += 1;
    }
    assert_eq!(copied, 265);

    let weight = &tensors["fc.weight"];
    assert_eq!(weight.shape, vec![3, 2048]);
    assert_eq!(tensors["fc.bias"].shape, vec![3]);
    assert!(tensors["fc.bias"].values.iter().all(|v| *v == 0.0));
    let n = weight.values.len() as f64;
    let std = (weight
        .values
        .iter()
        .map(|v| (*v as f64).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let he = (2.0f64 / 2048.0).sqrt();
    assert!(
        (std / he - 1.0).abs() < 0.05,
        "He init std {std}, expected about {he}"
    );

    assert_eq!(Summary::new(&spec).unwrap().parameters, 23_514_179);
    assert!(network.is_initialized());
}

#[test]
fn resnet18_file_imports_into_the_resnet18_layout() {
    let keys = torchvision_keys("resnet18");
    let tensors = torchvision_map(&keys, pattern);
    assert_eq!(tensors.len(), 122);
    let spec = torchvision_spec("resnet18", [64, 64, 3], 1000);
    let mut network = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();

    let report = import_state_dict(&mut network, tensors, &ImportOptions::default()).unwrap();
    assert_eq!(report.copied, 102);
    assert_eq!(report.ignored, 20);
    assert!(report.changes.is_empty());
}

/// A small torchvision-layout network and its state dict, for bad-file
/// tests that need a valid file to damage.
fn small_file(dir: &std::path::Path) -> (std::path::PathBuf, Network<f32, Cpu>) {
    let mut spec = torchvision_spec("resnet18", [32, 32, 3], 5);
    spec.stack_depth = vec![1, 1, 1, 1];
    spec.num_filters = vec![4, 4, 4, 4];
    spec.initial_num_filters = 4;
    let mut network = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();
    let entries = resnet_core::interop::network_shapes(&mut network)
        .unwrap()
        .into_iter()
        .map(|(name, shape)| {
            let values = pattern(&name, &shape);
            (name, Entry::F32(shape, values))
        })
        .collect();
    let path = dir.join("small.safetensors");
    write_file(&path, entries);
    (path, network)
}

#[test]
fn truncated_file_says_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut network) = small_file(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();

    let err = import_file(&mut network, &path, &ImportOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, ImportError::File(WeightsError::Content { .. })),
        "{message}"
    );
    assert!(message.contains("small.safetensors"), "{message}");
    assert!(message.contains("the file is truncated"), "{message}");
    assert!(message.contains("bytes of tensor data"), "{message}");
    assert!(!message.contains('\n'));

    // Cut inside the header: the length field promises more than follows.
    std::fs::write(&path, &bytes[..40]).unwrap();
    let message = import_file(&mut network, &path, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("truncated"), "{message}");
}

#[test]
fn integer_weights_are_refused_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("int.safetensors");
    let entries = vec![
        (
            "conv1.weight".to_string(),
            Entry::I32(vec![2, 2], vec![1, 2, 3, 4]),
        ),
        (
            "bn1.num_batches_tracked".to_string(),
            Entry::I64(vec![], vec![7]),
        ),
        ("fc.bias".to_string(), Entry::F32(vec![2], vec![0.5, 0.25])),
    ];
    write_file(&path, entries);
    let (_, mut network) = small_file(dir.path());

    let err = import_file(&mut network, &path, &ImportOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, ImportError::File(WeightsError::Content { .. })),
        "{message}"
    );
    assert!(message.contains("conv1.weight I32"), "{message}");
    assert!(message.contains("F32, F64, F16 or BF16"), "{message}");
    assert!(!message.contains("num_batches_tracked"), "{message}");
}

#[test]
fn files_of_other_formats_are_named_for_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let (_, mut network) = small_file(dir.path());
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "model.pt",
            b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl",
            "zip archive",
        ),
        (
            "old.pth",
            b"\x80\x02\x8a\x0alz\xfc\x9cF\xf9 j\xa8",
            "pickle",
        ),
        (
            "notes.txt",
            b"these are not weights, just some words",
            "header of",
        ),
        ("tiny.bin", b"abc", "fewer than the 8-byte header length"),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = import_file(&mut network, &path, &ImportOptions::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, ImportError::File(WeightsError::Format { .. })),
            "{message}"
        );
        assert!(message.contains(name), "{message}");
        assert!(message.contains("is not a safetensors file"), "{message}");
        assert!(message.contains(expected), "{expected} in {message}");
    }

    let missing = dir.path().join("absent.safetensors");
    let message = import_file(&mut network, &missing, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("cannot read") && message.contains("absent"),
        "{message}"
    );
}

#[test]
fn wrong_architecture_is_one_line_naming_both() {
    let tensors: HashMap<String, HostTensor> =
        torchvision_map(&torchvision_keys("resnet18"), |_, shape| {
            vec![0.0; shape.iter().product()]
        });
    let spec = torchvision_spec("resnet50", [64, 64, 3], 1000);
    let mut network = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();

    let err = import_state_dict(&mut network, tensors, &ImportOptions::default()).unwrap_err();
    let message = err.to_string();
    assert!(!message.contains('\n'));
    assert!(
        message.len() < 3000,
        "{} characters: {message}",
        message.len()
    );
    assert!(
        message.contains(
            "another architecture: the file has stacks [2, 2, 2, 2] of basic blocks, the \
             network stacks [3, 4, 6, 3] of bottleneck blocks"
        ),
        "{message}"
    );
    assert!(
        message.contains("and "),
        "long lists are cut short: {message}"
    );
    let ImportError::Mismatch { mismatch, .. } = err else {
        unreachable!()
    };
    // resnet50 has 267 tensors and resnet18 102: every resnet50 name that
    // resnet18 lacks is missing, every resnet18 name with no resnet50
    // counterpart unexpected, and each list is complete in the value.
    let both = 267 - mismatch.missing.len();
    assert_eq!(102 - mismatch.unexpected.len(), both);
    assert!(mismatch.mis_shaped.iter().any(|m| m.name == "fc.weight"));
    assert!(mismatch
        .missing
        .iter()
        .any(|m| m.0 == "layer4.2.bn3.running_var"));
}
