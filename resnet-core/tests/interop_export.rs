//! Exporting to torchvision's names: the file holds exactly the entries of
//! torchvision's own state dict, and import, export, re-import keeps every
//! tensor bit for bit.

mod interop_support;

use dfdx::prelude::*;
use interop_support::*;
use resnet_core::interop::{
    export_file, export_file_with_names, import_file, import_state_dict, ImportOptions,
};
use resnet_core::weights::network_tensors;
use resnet_core::Network;
use safetensors::SafeTensors;

/// Name, shape and dtype of every entry of a safetensors file, read with
/// the safetensors crate, in torchvision's order (`keys` gives it).
fn entries_in_file(path: &std::path::Path, keys: &[Key]) -> Vec<Key> {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut found: Vec<Key> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let dtype = match view.dtype() {
                safetensors::Dtype::F32 => "float32".to_string(),
                safetensors::Dtype::I64 => "int64".to_string(),
                other => format!("{other:?}"),
            };
            (name, view.shape().to_vec(), dtype)
        })
        .collect();
    let position = |name: &str| keys.iter().position(|k| k.0 == name).unwrap_or(usize::MAX);
    found.sort_by_key(|k| position(&k.0));
    found
}

#[test]
fn exported_resnet18_round_trips_bit_for_bit_with_torchvision_entries() {
    let dir = tempfile::tempdir().unwrap();
    let keys = torchvision_keys("resnet18");
    let spec = torchvision_spec("resnet18", [64, 64, 3], 1000);
    let mut network = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();
    let tensors = torchvision_map(&keys, formula);
    import_state_dict(&mut network, tensors, &ImportOptions::default()).unwrap();

    let path = dir.path().join("exported.safetensors");
    let report = export_file(&mut network, &path, 0).unwrap();
    assert_eq!((report.tensors, report.counters), (102, 20));
    assert!(report.differences.is_empty(), "{:?}", report.differences);
    assert_eq!(entries_in_file(&path, &keys), keys);

    let mut again = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();
    let imported = import_file(&mut again, &path, &ImportOptions::default()).unwrap();
    assert_eq!((imported.copied, imported.ignored), (102, 20));
    let before = network_tensors(&mut network).unwrap();
    let after = network_tensors(&mut again).unwrap();
    assert_eq!(before.len(), after.len());
    for (name, tensor) in &before {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(tensor.shape, after[name].shape, "{name}");
        assert!(
            bits(&tensor.values) == bits(&after[name].values),
            "{name} changed"
        );
        // And both hold the formula's values, as the torchvision file did.
        assert!(
            bits(&tensor.values) == bits(&formula(name, &tensor.shape)),
            "{name}"
        );
    }

    let bytes = std::fs::read(&path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap();
    assert_eq!(metadata["format"], "pt");
}

#[test]
fn exported_resnet50_has_exactly_torchvision_entries() {
    let dir = tempfile::tempdir().unwrap();
    let keys = torchvision_keys("resnet50");
    let spec = torchvision_spec("resnet50", [64, 64, 3], 1000);
    let mut network = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();

    let path = dir.path().join("resnet50.safetensors");
    let report = export_file(&mut network, &path, 7).unwrap();
    assert_eq!((report.tensors, report.counters), (267, 53));
    assert_eq!(entries_in_file(&path, &keys), keys);

    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let counter = file.tensor("layer4.2.bn3.num_batches_tracked").unwrap();
    assert_eq!(counter.data(), 7i64.to_le_bytes());
}

#[test]
fn exporting_a_matlab_layout_names_what_torchvision_would_do_differently() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = torchvision_spec("resnet18", [32, 32, 3], 4);
    spec.conv_bias = true;
    spec.padding = resnet_core::spec::PaddingMode::Same;
    let mut network = Network::<f32, Cpu>::new(&spec, &Cpu::default()).unwrap();

    let path = dir.path().join("matlab.safetensors");
    let report = export_file(&mut network, &path, 0).unwrap();
    assert_eq!(report.differences.len(), 2, "{:?}", report.differences);
    assert!(report.differences[0].contains("conv_bias = true"));
    assert!(report.differences[1].contains("padding = \"same\""));
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    assert!(file.tensor("conv1.bias").is_ok());
}

/// The input layer's statistics are not tensors of a state dict; they and
/// the class names travel in the metadata and come back on import.
#[test]
fn input_statistics_and_class_names_travel_in_the_metadata() {
    let dev = Cpu::default();
    let mut spec = resnet_core::Spec::new([16, 16, 3], 4);
    spec.initial_num_filters = 8;
    spec.bottleneck_type = resnet_core::spec::BottleneckType::None;
    spec.stack_depth = vec![1, 1];
    spec.num_filters = vec![8, 16];
    let mut net = Network::<f32, Cpu>::with_seed(&spec, &dev, 1).unwrap();
    let stats = resnet_core::InputStats {
        mean: vec![0.1, 0.2, 0.3],
        std: vec![1.0, 1.0, 1.0],
    };
    net.set_input_stats(stats.clone()).unwrap();
    let names: Vec<String> = ["cat", "dog", "owl", "yak"].map(String::from).to_vec();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("named.safetensors");
    export_file_with_names(&mut net, &path, 0, Some(&names)).unwrap();
    let mut fresh = Network::<f32, Cpu>::with_seed(&spec, &dev, 2).unwrap();
    assert_ne!(fresh.input_stats(), &stats);
    let report = import_file(&mut fresh, &path, &ImportOptions::default()).unwrap();

    assert!(report.input_stats);
    assert_eq!(report.class_names, Some(names));
    assert_eq!(fresh.input_stats(), &stats);
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(2, 3, 16, 16));
    assert_eq!(
        fresh.forward(x.clone()).unwrap().as_vec(),
        net.forward(x).unwrap().as_vec()
    );
}
