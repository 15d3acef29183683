//! Training end to end on small networks: the loss falls, checkpoints
//! round-trip exactly, and a batch of one is handled as case A07 asks.

mod train_support;

use dfdx::prelude::*;
use resnet_core::optim::{Optimizer, OptimizerConfig};
use resnet_core::train::{check_running_stats, train};
use resnet_core::weights::{load_checkpoint, network_tensors, save_checkpoint};
use resnet_core::{Network, Spec};
use train_support::{halves, options, tiny_spec, Record};

#[test]
fn loss_falls_and_test_accuracy_rises_on_a_tiny_network() {
    train_support::tiny_network_learns(&Cpu::default());
}

#[test]
fn a_checkpoint_round_trip_gives_identical_outputs() {
    let dev = Cpu::default();
    let mut net = Network::<f32, Cpu>::with_seed(&tiny_spec(), &dev, 5).unwrap();
    let data = halves(16);
    let opts = options(1, 8);
    let mut optimizer = Optimizer::new(opts.optimizer);
    train(
        &mut net,
        &mut optimizer,
        &data,
        &data,
        &opts,
        1,
        &mut Record(vec![]),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let names = data.class_names.clone();
    save_checkpoint(&mut net, &names, 1, &path).unwrap();
    let (mut loaded, info) = load_checkpoint::<f32, Cpu>(&path, &dev).unwrap();

    assert_eq!(info.epoch, 1);
    assert_eq!(info.class_names, names);
    assert_eq!(&info.spec, net.spec());
    assert_eq!(
        network_tensors(&mut loaded).unwrap(),
        network_tensors(&mut net).unwrap()
    );
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&(4, 1, 8, 8));
    let a = net.forward(x.clone()).unwrap().as_vec();
    let b = loaded.forward(x).unwrap().as_vec();
    assert_eq!(a, b);
}

/// A07: the defaults at [32, 32, 3] reach 1x1 maps in the last stack.
#[test]
fn a_batch_of_one_is_a_clear_error_and_leaves_no_nan() {
    let dev = Cpu::default();
    let spec = Spec::new([32, 32, 3], 10);
    let mut net = Network::<f32, Cpu>::new(&spec, &dev).unwrap();
    let before = network_tensors(&mut net).unwrap();

    let one: Tensor<(usize, usize, usize, usize), f32, Cpu> =
        dev.sample_normal_like(&(1, 3, 32, 32));
    let err = net
        .forward_train(one.traced(Gradients::leaky()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch of 1"), "{err}");
    assert!(err.contains("1x1"), "{err}");
    check_running_stats(&mut net).unwrap();
    assert_eq!(network_tensors(&mut net).unwrap(), before);

    let two: Tensor<(usize, usize, usize, usize), f32, Cpu> =
        dev.sample_normal_like(&(2, 3, 32, 32));
    let logits = net.forward_train(two.traced(Gradients::leaky())).unwrap();
    let targets = dev.tensor_from_vec(
        (0..20)
            .map(|i| if i == 3 || i == 17 { 1.0 } else { 0.0 })
            .collect(),
        (2usize, 10usize),
    );
    let loss = dfdx::losses::cross_entropy_with_logits_loss(logits, targets);
    assert!(loss.array().is_finite());
    let mut grads = loss.backward();
    let mut optimizer = Optimizer::new(OptimizerConfig::Sgd {
        lr: 0.01,
        momentum: 0.9,
        weight_decay: 1e-4,
    });
    optimizer.update(&mut net, &mut grads).unwrap();
    check_running_stats(&mut net).unwrap();
    let after = network_tensors(&mut net).unwrap();
    let var = &after["layer4.2.bn3.running_var"].values;
    assert!(var.iter().all(|v| v.is_finite() && *v >= 0.0));
    assert_ne!(
        after["layer4.2.bn3.running_var"],
        before["layer4.2.bn3.running_var"]
    );
}

/// A07: in inference each image's logits do not depend on its batch.
#[test]
fn inference_logits_do_not_depend_on_the_batch() {
    let dev = Cpu::default();
    let spec = Spec::new([32, 32, 3], 10);
    let net = Network::<f32, Cpu>::new(&spec, &dev).unwrap();
    let batch: Tensor<(usize, usize, usize, usize), f32, Cpu> =
        dev.sample_normal_like(&(8, 3, 32, 32));
    let all = net.forward(batch.clone()).unwrap().as_vec();
    let values = batch.as_vec();
    for i in [0, 5, 7] {
        let single = values[i * 3072..(i + 1) * 3072].to_vec();
        let one = net
            .forward(dev.tensor_from_vec(single, (1, 3, 32, 32)))
            .unwrap()
            .as_vec();
        for (a, b) in one.iter().zip(&all[i * 10..(i + 1) * 10]) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "image {i}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn a_wrong_channel_count_is_named_at_run_time() {
    let dev = Cpu::default();
    let net = Network::<f32, Cpu>::new(&tiny_spec(), &dev).unwrap();
    let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.zeros_like(&(2, 3, 8, 8));
    let err = net.forward(x).unwrap_err().to_string();
    assert!(err.contains("expected 1 channel, got 3"), "{err}");
}

#[test]
fn a_network_summarizes_itself_like_matlab() {
    let dev = Cpu::default();
    let net = Network::<f32, Cpu>::new(&Spec::new([224, 224, 3], 10), &dev).unwrap();
    let summary = net.summary();
    assert_eq!(summary.layers, 176);
    assert_eq!(summary.connections, 191);
    assert_eq!(summary.learnables, 214);
    assert_eq!(summary.states, 106);
    assert_eq!(summary.parameters, 23_555_082);
    assert_eq!(summary.final_activation, [7, 7, 2048]);
}

/// A07 through `train`: with 1x1 maps in the last stack a batch of one is
/// refused before any step, naming the batch and the map; with larger maps
/// (the tiny spec ends in 4x4) a batch of one trains, as in PyTorch.
#[test]
fn train_refuses_a_batch_of_one_only_when_the_maps_reach_1x1() {
    let dev = Cpu::default();
    let mut deep = tiny_spec();
    deep.stack_depth = vec![1, 1, 1, 1];
    deep.num_filters = vec![4, 4, 4, 4];
    let mut net = Network::<f32, Cpu>::with_seed(&deep, &dev, 1).unwrap();
    let before = network_tensors(&mut net).unwrap();
    let data = halves(8);
    let opts = options(1, 1);
    let mut optimizer = Optimizer::new(opts.optimizer);
    let err = train(
        &mut net,
        &mut optimizer,
        &data,
        &data,
        &opts,
        1,
        &mut Record(vec![]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("batch size 1") && err.contains("1x1"), "{err}");
    assert_eq!(network_tensors(&mut net).unwrap(), before);

    let mut net = Network::<f32, Cpu>::with_seed(&tiny_spec(), &dev, 1).unwrap();
    let mut optimizer = Optimizer::new(opts.optimizer);
    let history = train(
        &mut net,
        &mut optimizer,
        &data,
        &data,
        &opts,
        1,
        &mut Record(vec![]),
    )
    .unwrap();
    assert!(history[0].train_loss.is_finite(), "{history:?}");
    check_running_stats(&mut net).unwrap();
}
