//! The types `resnet!` expands to: their sizes and specs, read back from
//! the type, against hand-written expectations and the spec crate's TOML
//! reader; and a forward pass through the typed shapes.

use std::path::Path;

use dfdx::nn::{Module, ModuleMut};
use dfdx::prelude::*;
use resnet::resnet;
use resnet::spec::{
    BottleneckType, DownsampleConv, Normalization, PaddingMode, Pooling, ResidualBlockType, Spec,
};

/// Every option away from its default, and every choice that is not the
/// default choice.
type Custom = resnet!(
    input: [224, 160],
    classes: 7,
    initial_filter_size: [7, 5],
    initial_num_filters: 32,
    initial_stride: [2, 1],
    initial_pooling: "average",
    residual_block_type: "batchnorm-after-add",
    bottleneck_type: "none",
    stack_depth: [2, 3, 1],
    num_filters: [32, 64, 96],
    normalization: "zscore",
    initialize: false,
    conv_bias: false,
    downsample_conv: "middle",
    padding: "symmetric",
    mean: [0.5],
    std: [0.25],
    bn_epsilon: 1e-3,
    bn_momentum: 0.01,
);

/// The remaining choices: no pooling, no normalization, zero-initialized
/// residual branches, and fixed statistics for three channels.
type Plain = resnet!(
    input: [64, 48, 3],
    classes: 2,
    initial_pooling: "none",
    normalization: "none",
    zero_init_residual: true,
    mean: [0.485, 0.456, -0.406],
    std: [0.229, 0.224, 0.225],
);

/// Only the required options.
type Defaults = resnet!(input: [224, 224, 3], classes: 10);

#[test]
fn inline_options_survive_the_type() {
    assert_eq!(Custom::INPUT, [224, 160, 1]);
    assert_eq!(Custom::CLASSES, 7);

    let spec = Custom::spec();
    assert_eq!(spec.input, [224, 160, 1]);
    assert_eq!(spec.classes, 7);
    assert_eq!(spec.initial_filter_size, [7, 5]);
    assert_eq!(spec.initial_num_filters, 32);
    assert_eq!(spec.initial_stride, [2, 1]);
    assert_eq!(spec.initial_pooling, Pooling::Average);
    assert_eq!(
        spec.residual_block_type,
        ResidualBlockType::BatchnormAfterAdd
    );
    assert_eq!(spec.bottleneck_type, BottleneckType::None);
    assert_eq!(spec.stack_depth, vec![2, 3, 1]);
    assert_eq!(spec.num_filters, vec![32, 64, 96]);
    assert_eq!(spec.normalization, Normalization::Zscore);
    assert!(!spec.initialize);
    assert!(!spec.conv_bias);
    assert_eq!(spec.downsample_conv, DownsampleConv::Middle);
    assert_eq!(spec.padding, PaddingMode::Symmetric);
    assert_eq!(spec.mean, Some(vec![0.5]));
    assert_eq!(spec.std, Some(vec![0.25]));
    assert!(!spec.zero_init_residual);
    assert_eq!(spec.bn_epsilon, 1e-3);
    assert_eq!(spec.bn_momentum, 0.01);
}

#[test]
fn remaining_choices_survive_the_type() {
    let spec = Plain::spec();
    assert_eq!(spec.input, [64, 48, 3]);
    assert_eq!(spec.classes, 2);
    assert_eq!(spec.initial_pooling, Pooling::None);
    assert_eq!(spec.normalization, Normalization::None);
    assert!(spec.zero_init_residual);
    // Compared bit for bit: the floats travel as their bits.
    assert_eq!(spec.mean, Some(vec![0.485f32, 0.456, -0.406]));
    assert_eq!(spec.std, Some(vec![0.229f32, 0.224, 0.225]));
}

#[test]
fn omitted_options_take_matlab_defaults() {
    let spec = Defaults::spec();
    assert_eq!(Defaults::INPUT, [224, 224, 3]);
    assert_eq!(Defaults::CLASSES, 10);
    assert_eq!(spec.initial_filter_size, [7, 7]);
    assert_eq!(spec.initial_num_filters, 64);
    assert_eq!(spec.initial_stride, [2, 2]);
    assert_eq!(spec.initial_pooling, Pooling::Max);
    assert_eq!(
        spec.residual_block_type,
        ResidualBlockType::BatchnormBeforeAdd
    );
    assert_eq!(spec.bottleneck_type, BottleneckType::DownsampleFirstConv);
    assert_eq!(spec.stack_depth, vec![3, 4, 6, 3]);
    assert_eq!(spec.num_filters, vec![64, 128, 256, 512]);
    assert_eq!(spec.normalization, Normalization::Zerocenter);
    assert!(spec.initialize);
    assert!(spec.conv_bias);
    assert_eq!(spec.downsample_conv, DownsampleConv::First);
    assert_eq!(spec.padding, PaddingMode::Same);
    assert_eq!(spec.mean, None);
    assert_eq!(spec.std, None);
    assert!(!spec.zero_init_residual);
    assert_eq!(spec.bn_epsilon, 1e-5);
    assert_eq!(spec.bn_momentum, 0.1);
}

type ResNet18 = resnet!(config = "configs/resnet18.toml");
type ResNet34 = resnet!(config = "configs/resnet34.toml");
type ResNet50 = resnet!(config = "configs/resnet50.toml");
type ResNet101 = resnet!(config = "configs/resnet101.toml");
type ResNet152 = resnet!(config = "configs/resnet152.toml");

/// The spec the spec crate reads from `configs/NAME.toml`.
fn config(name: &str) -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(format!("{name}.toml"));
    Spec::from_toml_file(&path).expect("the shipped configs are valid")
}

#[test]
fn config_files_give_the_spec_the_file_describes() {
    assert_eq!(ResNet18::spec(), config("resnet18"));
    assert_eq!(ResNet34::spec(), config("resnet34"));
    assert_eq!(ResNet50::spec(), config("resnet50"));
    assert_eq!(ResNet101::spec(), config("resnet101"));
    assert_eq!(ResNet152::spec(), config("resnet152"));

    assert_eq!(ResNet50::INPUT, [224, 224, 3]);
    assert_eq!(ResNet50::CLASSES, 10);
    assert_eq!(ResNet152::spec().stack_depth, vec![3, 8, 36, 3]);
}

resnet! {
    /// The small network of the forward test, written inline.
    pub type Tiny = {
        input: [8, 8, 1],
        classes: 3,
        initial_num_filters: 4,
        num_filters: [4, 8],
        stack_depth: [1, 1],
        initial_pooling: "none",
        initial_filter_size: 3,
        initial_stride: 1,
        bottleneck_type: "none",
    };

    /// The MNIST network of the shipped config.
    pub(crate) type Mnist = { config = "configs/mnist.toml" };
}

#[test]
fn named_items_are_aliases_with_element_and_device_parameters() {
    assert_eq!(<Tiny>::INPUT, [8, 8, 1]);
    assert_eq!(<Tiny>::CLASSES, 3);
    assert_eq!(<Tiny<f64>>::spec(), <Tiny>::spec());

    let tiny = <Tiny>::spec();
    assert_eq!(tiny.initial_num_filters, 4);
    assert_eq!(tiny.num_filters, vec![4, 8]);
    assert_eq!(tiny.stack_depth, vec![1, 1]);
    assert_eq!(tiny.initial_pooling, Pooling::None);
    assert_eq!(tiny.initial_filter_size, [3, 3]);
    assert_eq!(tiny.initial_stride, [1, 1]);
    assert_eq!(tiny.bottleneck_type, BottleneckType::None);

    assert_eq!(<Mnist<f32, Cpu>>::spec(), config("mnist"));
}

#[test]
fn typed_forward_gives_typed_logits_equal_to_the_runtime_network() {
    let dev = Cpu::seed_from_u64(7);
    let mut net: Tiny = Tiny::new(&dev).expect("a valid spec builds");
    let x: Tensor<Rank4<2, 1, 8, 8>, f32, Cpu> = dev.sample_normal();

    // The annotation is the point: the output type is [2, 3].
    let logits: Tensor<Rank2<2, 3>, f32, Cpu> = net.forward(x.clone()).unwrap();
    let values = logits.as_vec();
    assert!(values.iter().all(|v| v.is_finite()), "logits {values:?}");
    assert!(values.iter().any(|v| *v != 0.0), "logits {values:?}");

    // Probabilities against a softmax worked out here from the logits.
    let probabilities: Tensor<Rank2<2, 3>, f32, Cpu> = net.predict(x.clone()).unwrap();
    for (row, logits) in probabilities.array().iter().zip(logits.array()) {
        let sum: f32 = row.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-5,
            "softmax row {row:?} sums to {sum}"
        );

        let top = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let exps = logits.map(|l| (l - top).exp());
        let total: f32 = exps.iter().sum();
        for (p, e) in row.iter().zip(exps) {
            assert!(
                (p - e / total).abs() < 1e-6,
                "probabilities {row:?}, logits {logits:?}"
            );
        }
    }

    // The typed wrapper must hand the very same numbers as the runtime
    // network on the same images with runtime shapes.
    let runtime_x = dev.tensor_from_vec(x.as_vec(), (2usize, 1usize, 8usize, 8usize));
    let runtime = net.network().forward(runtime_x).unwrap();
    assert_eq!(runtime.shape(), &(2, 3));
    assert_eq!(runtime.as_vec(), values);

    // dfdx's traits run the same passes.
    let via_module: Tensor<Rank2<2, 3>, f32, Cpu> = Module::forward(&net, x.clone());
    assert_eq!(via_module.as_vec(), values);
    let train: Tensor<Rank2<2, 3>, f32, Cpu> = ModuleMut::forward_mut(&mut net, x.clone());
    assert!(train.as_vec().iter().all(|v| v.is_finite()));
}

#[test]
fn typed_forward_accepts_a_runtime_batch_size() {
    let dev = Cpu::seed_from_u64(11);
    let net: Tiny = Tiny::new(&dev).expect("a valid spec builds");
    let x: Tensor<(usize, Const<1>, Const<8>, Const<8>), f32, Cpu> =
        dev.sample_normal_like(&(5, Const, Const, Const));

    let logits: Tensor<(usize, Const<3>), f32, Cpu> = net.forward(x).unwrap();
    assert_eq!(logits.shape().0, 5);
    assert!(logits.as_vec().iter().all(|v| v.is_finite()));
}

/// With the `cuda` feature a generated type runs on the GPU as well and
/// gives the CPU's logits; `scripts/gpu_check.sh` runs this test.
#[cfg(feature = "cuda")]
#[test]
fn a_typed_network_on_cuda_gives_the_cpu_logits() {
    let (cpu, cuda) = (Cpu::default(), Cuda::default());
    let on_cpu: Tiny = Tiny::new(&cpu).expect("a valid spec builds");
    let on_gpu: Tiny<f32, Cuda> = Tiny::new(&cuda).expect("a valid spec builds");
    let x: Tensor<Rank4<2, 1, 8, 8>, f32, Cpu> = cpu.sample_normal();
    let x_gpu: Tensor<Rank4<2, 1, 8, 8>, f32, Cuda> = cuda.tensor(x.array());

    let a: Tensor<Rank2<2, 3>, f32, Cpu> = on_cpu.forward(x).unwrap();
    let b: Tensor<Rank2<2, 3>, f32, Cuda> = on_gpu.forward(x_gpu).unwrap();
    let scale = a.as_vec().iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    for (a, b) in a.as_vec().iter().zip(b.as_vec()) {
        assert!((a - b).abs() <= 1e-3 * scale, "cpu {a}, cuda {b}");
    }
}
