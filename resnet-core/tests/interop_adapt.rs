//! Case A06: ResNet-18 in torchvision's layout for other channel counts,
//! and importing RGB weights into them.

mod interop_support;

use dfdx::prelude::*;
use interop_support::*;
use resnet_core::interop::{adapt_input_channels, import_state_dict, ImportError, ImportOptions};
use resnet_core::spec::Summary;
use resnet_core::weights::{network_tensors, HostTensor};
use resnet_core::Network;

#[test]
fn a06_parameter_counts_for_one_and_four_channels() {
    let count = |channels| {
        let spec = torchvision_spec("resnet18", [64, 64, channels], 1000);
        Summary::new(&spec).unwrap().parameters
    };
    assert_eq!(count(1), 11_683_240);
    assert_eq!(count(4), 11_692_648);
}

#[test]
fn a06_one_channel_sums_and_four_channels_repeat_and_rescale() {
    let rgb = HostTensor {
        shape: vec![1, 3, 1, 1],
        values: vec![0.2, -0.1, 0.4],
    };
    let gray = adapt_input_channels(&rgb, 1).unwrap();
    assert_eq!(gray.shape, vec![1, 1, 1, 1]);
    assert!((gray.values[0] - 0.5).abs() < 1e-7, "{:?}", gray.values);

    let four = adapt_input_channels(&rgb, 4).unwrap();
    assert_eq!(four.shape, vec![1, 4, 1, 1]);
    for (got, expected) in four.values.iter().zip([0.15, -0.075, 0.3, 0.15]) {
        assert!((got - expected).abs() < 1e-7, "{:?}", four.values);
    }

    let flat = HostTensor {
        shape: vec![3],
        values: vec![1.0; 3],
    };
    assert!(adapt_input_channels(&flat, 1).unwrap_err().contains("[3]"));
}

/// A torchvision-layout ResNet-18 for `channels` with normalization off,
/// holding the formula weights of an RGB file.
fn imported(channels: usize, options: &ImportOptions) -> Result<Network<f32, Cpu>, ImportError> {
    let mut spec = torchvision_spec("resnet18", [64, 64, channels], 1000);
    spec.mean = None;
    spec.std = None;
    let mut network = Network::new(&spec, &Cpu::default()).unwrap();
    let tensors = torchvision_map(&torchvision_keys("resnet18"), formula);
    let report = import_state_dict(&mut network, tensors, options)?;
    if channels != 3 {
        assert_eq!(report.changes.len(), 1, "{:?}", report.changes);
        assert!(report.changes[0].starts_with("conv1.weight: adapted [64, 3, 7, 7]"));
    }
    Ok(network)
}

/// One gray batch `[2, channels, 64, 64]` whose channels all repeat the
/// same image.
fn gray_batch(channels: usize) -> Tensor<(usize, usize, usize, usize), f32, Cpu> {
    let image = formula_input(2 * 64 * 64);
    let mut values = Vec::with_capacity(image.len() * channels);
    for n in 0..2 {
        for _ in 0..channels {
            values.extend_from_slice(&image[n * 4096..(n + 1) * 4096]);
        }
    }
    Cpu::default().tensor_from_vec(values, (2, channels, 64, 64))
}

fn relative_gap(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    let gap = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs() as f64));
    gap / scale
}

#[test]
fn a06_adapted_networks_compute_what_the_rgb_network_computes_on_gray() {
    let adapt = ImportOptions {
        adapt_input_channels: true,
        ..ImportOptions::default()
    };
    let rgb = imported(3, &ImportOptions::default()).unwrap();
    let reference = rgb.forward(gray_batch(3)).unwrap().as_vec();

    let mut one = imported(1, &adapt).unwrap();
    let logits = one.forward(gray_batch(1)).unwrap().as_vec();
    let gap = relative_gap(&logits, &reference);
    eprintln!("1 channel against RGB on gray: {gap:.2e} of max |logit|");
    assert!(gap < 1e-5, "{gap}");

    // Six channels repeat R, G, B twice at half scale: exact again.
    let six = imported(6, &adapt).unwrap();
    let logits = six.forward(gray_batch(6)).unwrap().as_vec();
    let gap = relative_gap(&logits, &reference);
    eprintln!("6 channels against RGB on gray: {gap:.2e} of max |logit|");
    assert!(gap < 1e-5, "{gap}");

    // Four channels are [R, G, B, R] * 3/4, element by element.
    let rgb_kernels = formula("conv1.weight", &[64, 3, 7, 7]);
    let mut four = imported(4, &adapt).unwrap();
    let ours = &network_tensors(&mut four).unwrap()["conv1.weight"];
    assert_eq!(ours.shape, vec![64, 4, 7, 7]);
    for (i, got) in ours.values.iter().enumerate() {
        let (o, c, k) = (i / 196, i / 49 % 4, i % 49);
        let expected = rgb_kernels[(o * 3 + c % 3) * 49 + k] as f64 * 0.75;
        assert_eq!(*got, expected as f32, "conv1.weight[{i}]");
    }

    // The adapted kernel is the sum of the file's three, computed here
    // from the formula directly.
    let ours = &network_tensors(&mut one).unwrap()["conv1.weight"];
    for (i, got) in ours.values.iter().enumerate().step_by(97) {
        let (o, k) = (i / 49, i % 49);
        let sum: f64 = (0..3)
            .map(|c| rgb_kernels[(o * 3 + c) * 49 + k] as f64)
            .sum();
        assert_eq!(*got, sum as f32, "conv1.weight[{i}]");
    }

    let message = one.forward(gray_batch(3)).unwrap_err().to_string();
    assert!(message.contains("expected 1 channel, got 3"), "{message}");
}

#[test]
fn channel_mismatch_without_the_option_names_conv1_and_the_option() {
    let err = imported(1, &ImportOptions::default())
        .err()
        .expect("a mismatch");
    let ImportError::Mismatch { mismatch, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(mismatch.mis_shaped.len(), 1);
    assert_eq!(mismatch.mis_shaped[0].name, "conv1.weight");
    assert_eq!(mismatch.mis_shaped[0].file, vec![64, 3, 7, 7]);
    assert_eq!(mismatch.mis_shaped[0].network, vec![64, 1, 7, 7]);
    assert!(err.to_string().contains("adapt_input_channels"), "{err}");
}
