//! Numerical parity with torchvision: the same weights give the same
//! logits, running statistics and gradients as PyTorch.
//!
//! scripts/torch_parity.py set every tensor of torchvision's resnet18 and
//! resnet50 from a formula of its name and element index, ran a fixed
//! 2 x 3 x 64 x 64 batch in eval mode, then in train mode with a
//! cross-entropy loss and backward, and committed digests of the results
//! (tests/fixtures/torch/). These tests rebuild the weights from the same
//! formula, import them through `resnet_core::interop`, run the same
//! passes and compare: logits and running statistics within 1e-4 of the
//! largest magnitude, gradients within 1e-3.
//!
//! ResNet-50's train-mode pass is compared in f64 against torch's float64
//! run: at 64 x 64 its last stage normalizes 8 values per channel, which
//! makes that pass ill-conditioned, and torch's own float32 gradients of
//! the early layers differ from its float64 ones by several percent (the
//! fixture records the gap as "float32_vs_float64"). Its eval pass is
//! well-conditioned and is compared in f32.

mod interop_support;

use std::collections::HashMap;

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::prelude::*;
use interop_support::*;
use resnet_core::interop::{import_file, import_state_dict, ImportOptions};
use resnet_core::layers::{TensorKind, TensorVisitor};
use resnet_core::weights::network_tensors;
use resnet_core::{InputStats, Network};
use serde_json::Value;

const LOGITS: f64 = 1e-4;
const GRADS: f64 = 1e-3;

/// What one run of the passes produced, widened to f64.
struct Outputs {
    eval_logits: Vec<f64>,
    train: Option<TrainOutputs>,
}

struct TrainOutputs {
    logits: Vec<f64>,
    loss: f64,
    stats: HashMap<String, Vec<f64>>,
    grads: HashMap<String, Vec<f64>>,
}

/// Copies the gradients of the named learnables out of `grads`.
struct ReadGrads<'a, E: Dtype> {
    grads: &'a Gradients<E, Cpu>,
    names: Vec<String>,
    found: HashMap<String, Vec<f64>>,
}

impl<E: Dtype> TensorVisitor<E, Cpu> for ReadGrads<'_, E> {
    fn visit<S: Shape>(
        &mut self,
        name: &str,
        _kind: TensorKind,
        tensor: &mut Tensor<S, E, Cpu>,
    ) -> Result<(), resnet_core::Error> {
        if self.names.iter().any(|n| n == name) {
            let values = self.grads.get(tensor).as_vec();
            let values = values.iter().map(|v| v.to_f64().unwrap()).collect();
            self.found.insert(name.to_string(), values);
        }
        Ok(())
    }
}

fn identity(channels: usize) -> InputStats {
    InputStats {
        mean: vec![0.0; channels],
        std: vec![1.0; channels],
    }
}

fn widen<E: Dtype>(values: Vec<E>) -> Vec<f64> {
    values.iter().map(|v| v.to_f64().unwrap()).collect()
}

/// How the input reaches the network.
#[derive(PartialEq)]
enum Input {
    /// Raw pixels, normalized by the network with the config's mean and
    /// std (in the element type, as a user's images would be).
    Raw,
    /// The script's normalized values, bit for bit, into a network with
    /// the identity normalization: for passes so ill-conditioned that a
    /// rounding of 1 / std shows.
    Normalized,
}

/// Builds `arch` in torchvision's layout at 64 x 64, imports the formula
/// weights (through a file when `via_file`), and runs the eval pass, then
/// (with `case`) the train pass with the loss and backward.
fn run<E: Dtype>(arch: &str, via_file: bool, input: Input, case: Option<&Value>) -> Outputs
where
    Cpu: resnet_core::ops::Backend<E>,
{
    let dev = Cpu::default();
    let spec = torchvision_spec(arch, [64, 64, 3], 1000);
    let mut network = Network::<E, Cpu>::new(&spec, &dev).unwrap();
    let keys = torchvision_keys(arch);
    let options = ImportOptions::default();
    if via_file {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{arch}.safetensors"));
        write_file(&path, torchvision_entries(&keys, formula));
        import_file(&mut network, &path, &options).unwrap();
    } else {
        import_state_dict(&mut network, torchvision_map(&keys, formula), &options).unwrap();
    }

    let values = if input == Input::Raw {
        formula_input(2 * 3 * 64 * 64)
    } else {
        network.set_input_stats(identity(3)).unwrap();
        normalized_input(2, 64)
    };
    let input: Vec<E> = values
        .into_iter()
        .map(|v| E::from_f32(v).unwrap())
        .collect();
    let x = dev.tensor_from_vec(input, (2usize, 3usize, 64usize, 64usize));
    let eval_logits = widen(network.forward(x.clone()).unwrap().as_vec());
    let Some(case) = case else {
        return Outputs {
            eval_logits,
            train: None,
        };
    };

    let logits = network.forward_train(x.traced(Gradients::leaky())).unwrap();
    let train_logits = widen(logits.retaped::<NoneTape>().as_vec());
    let mut targets = vec![E::default(); 2 * 1000];
    for (row, label) in case["labels"].as_array().unwrap().iter().enumerate() {
        targets[row * 1000 + label.as_u64().unwrap() as usize] = E::ONE;
    }
    let targets = dev.tensor_from_vec(targets, (2usize, 1000usize));
    let loss = cross_entropy_with_logits_loss(logits, targets);
    let loss_value = loss.as_vec()[0].to_f64().unwrap();
    let grads = loss.backward();

    let wanted = case["float32"]["grads"].as_object().unwrap();
    let mut reader = ReadGrads {
        grads: &grads,
        names: wanted.keys().cloned().collect(),
        found: HashMap::new(),
    };
    network.visit(&mut reader).unwrap();
    let tensors = network_tensors(&mut network).unwrap();
    let stats = case["float32"]["running_stats"]
        .as_object()
        .unwrap()
        .keys()
        .map(|name| {
            let values = tensors[name].values.iter().map(|v| *v as f64).collect();
            (name.clone(), values)
        })
        .collect();
    Outputs {
        eval_logits,
        train: Some(TrainOutputs {
            logits: train_logits,
            loss: loss_value,
            stats,
            grads: reader.found,
        }),
    }
}

/// Compares one output with torch's digest, prints the error and checks
/// it against `tolerance`.
fn check(what: &str, ours: &[f64], shape: &[usize], digest: &Value, tolerance: f64) {
    let error = digest_error(ours, shape, digest, tolerance);
    eprintln!("{what}: {error:.2e} of max |x|");
    assert!(error <= tolerance, "{what}: {error:e} > {tolerance:e}");
}

fn check_train(arch: &str, train: &TrainOutputs, torch: &Value) {
    check(
        &format!("{arch} train logits"),
        &train.logits,
        &[2, 1000],
        &torch["train_logits"],
        LOGITS,
    );
    let loss = torch["loss"].as_f64().unwrap();
    let loss_error = (train.loss - loss).abs() / loss.abs();
    eprintln!("{arch} loss: {loss_error:.2e} relative");
    assert!(
        loss_error <= LOGITS,
        "loss {} against torch's {loss}",
        train.loss
    );

    for (name, digest) in torch["running_stats"].as_object().unwrap() {
        let values = &train.stats[name];
        check(
            &format!("{arch} {name}"),
            values,
            &[values.len()],
            digest,
            LOGITS,
        );
    }
    for (name, digest) in torch["grads"].as_object().unwrap() {
        let values = &train.grads[name];
        let shape: Vec<usize> = digest["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        check(
            &format!("{arch} grad {name}"),
            values,
            &shape,
            digest,
            GRADS,
        );
    }
}

#[test]
fn resnet18_matches_torchvision_in_float32() {
    let case = fixture("resnet18.json");
    let outputs = run::<f32>("resnet18", true, Input::Raw, Some(&case));
    let torch = &case["float32"];
    check(
        "resnet18 eval logits",
        &outputs.eval_logits,
        &[2, 1000],
        &torch["eval_logits"],
        LOGITS,
    );
    check_train("resnet18", outputs.train.as_ref().unwrap(), torch);
}

#[test]
fn resnet50_eval_matches_torchvision_in_float32() {
    let case = fixture("resnet50.json");
    let outputs = run::<f32>("resnet50", false, Input::Raw, None);
    let torch = &case["float32"];
    check(
        "resnet50 eval logits",
        &outputs.eval_logits,
        &[2, 1000],
        &torch["eval_logits"],
        LOGITS,
    );
}

#[test]
fn resnet50_train_matches_torchvision_in_float64() {
    let case = fixture("resnet50.json");
    let outputs = run::<f64>("resnet50", false, Input::Normalized, Some(&case));
    let torch = &case["float64"];
    check(
        "resnet50 f64 eval logits",
        &outputs.eval_logits,
        &[2, 1000],
        &torch["eval_logits"],
        LOGITS,
    );
    check_train("resnet50 f64", outputs.train.as_ref().unwrap(), torch);
}
