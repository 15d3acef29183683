//! The CUDA path against the CPU: each op's output and input gradient, a
//! whole network's logits in inference and training mode (within 1e-3 of
//! the largest value), and a short training run whose loss falls. Built
//! only with the `cuda` feature; `scripts/gpu_check.sh` runs it on a
//! machine with an NVIDIA GPU.
#![cfg(feature = "cuda")]

mod train_support;

use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use resnet_core::ops::{Backend, BatchNormConfig, Conv2dGeometry, PoolGeometry};
use resnet_core::spec::Pad;
use resnet_core::{Network, Spec};

type Image<D, T = NoneTape> = Tensor<(usize, usize, usize, usize), f32, D, T>;

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// `actual` within `1e-3` of `expected`, relative to `expected`'s largest
/// magnitude.
fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    let scale = expected.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= 1e-3 * scale,
            "{what}[{i}]: cuda {a}, cpu {e}"
        );
    }
}

/// The output of `op` and the gradient of `sum(output^2)` with respect to
/// the input, on device `dev`.
fn output_and_grad<D: Backend<f32>>(
    dev: &D,
    shape: [usize; 4],
    op: impl Fn(Image<D, OwnedTape<f32, D>>) -> Image<D, OwnedTape<f32, D>>,
) -> (Vec<f32>, Vec<f32>) {
    let [n, c, h, w] = shape;
    let x: Image<D> = dev.tensor_from_vec(random(n * c * h * w, 1), (n, c, h, w));
    let y = op(x.leaky_trace());
    let values = y.retaped::<NoneTape>().as_vec();
    let grads = y.square().sum::<(), _>().backward();
    (values, grads.get(&x).as_vec())
}

fn vector<D: Backend<f32>>(dev: &D, values: Vec<f32>) -> Tensor<(usize,), f32, D> {
    let len = values.len();
    dev.tensor_from_vec(values, (len,))
}

fn same_on_both(what: &str, shape: [usize; 4], run: impl Fn(bool) -> (Vec<f32>, Vec<f32>)) {
    let (cuda_y, cuda_g) = run(true);
    let (cpu_y, cpu_g) = run(false);
    assert_close(&cuda_y, &cpu_y, &format!("{what} {shape:?} output"));
    assert_close(&cuda_g, &cpu_g, &format!("{what} {shape:?} input gradient"));
}

fn conv_on<D: Backend<f32>>(dev: &D, shape: [usize; 4]) -> (Vec<f32>, Vec<f32>) {
    let weight = dev.tensor_from_vec(random(8 * 2 * 3 * 3, 2), (8, 2, 3, 3));
    let bias = vector(dev, random(8, 3));
    let geometry = Conv2dGeometry {
        stride: [2, 2],
        pad: Pad {
            top: 0,
            bottom: 1,
            left: 0,
            right: 1,
        },
        groups: 2,
    };
    output_and_grad(dev, shape, |x| {
        D::conv2d(x, &weight, Some(&bias), &geometry).unwrap()
    })
}

fn pool_geometry() -> PoolGeometry {
    PoolGeometry {
        window: [3, 3],
        stride: [2, 2],
        pad: Pad {
            top: 1,
            bottom: 1,
            left: 1,
            right: 1,
        },
    }
}

fn batch_norm_on<D: Backend<f32>>(
    dev: &D,
    shape: [usize; 4],
    training: bool,
) -> (Vec<f32>, Vec<f32>) {
    let c = shape[1];
    let (scale, offset) = (vector(dev, random(c, 4)), vector(dev, random(c, 5)));
    let config = BatchNormConfig {
        relu: true,
        ..BatchNormConfig::default()
    };
    output_and_grad(dev, shape, |x| {
        let (mut mean, mut var) = (vector(dev, vec![0.1; c]), vector(dev, vec![2.0; c]));
        if training {
            D::batch_norm2d_train(x, &scale, &offset, &mut mean, &mut var, &config).unwrap()
        } else {
            D::batch_norm2d_eval(x, &scale, &offset, &mean, &var, &config).unwrap()
        }
    })
}

#[test]
fn each_op_matches_the_cpu() {
    let (cuda, cpu) = (Cuda::default(), Cpu::default());
    let shape = [3, 4, 11, 9];
    same_on_both("conv2d", shape, |gpu| {
        if gpu {
            conv_on(&cuda, shape)
        } else {
            conv_on(&cpu, shape)
        }
    });
    let geometry = pool_geometry();
    same_on_both("max_pool2d", shape, |gpu| {
        if gpu {
            output_and_grad(&cuda, shape, |x| Cuda::max_pool2d(x, &geometry).unwrap())
        } else {
            output_and_grad(&cpu, shape, |x| Cpu::max_pool2d(x, &geometry).unwrap())
        }
    });
    same_on_both("avg_pool2d", shape, |gpu| {
        if gpu {
            output_and_grad(&cuda, shape, |x| {
                Cuda::avg_pool2d(x, &geometry, false).unwrap()
            })
        } else {
            output_and_grad(&cpu, shape, |x| {
                Cpu::avg_pool2d(x, &geometry, false).unwrap()
            })
        }
    });
    for training in [true, false] {
        same_on_both(&format!("batch norm, training {training}"), shape, |gpu| {
            if gpu {
                batch_norm_on(&cuda, shape, training)
            } else {
                batch_norm_on(&cpu, shape, training)
            }
        });
    }
}

fn small_spec() -> Spec {
    let mut spec = Spec::new([32, 32, 3], 10);
    spec.initial_num_filters = 16;
    spec.stack_depth = vec![1, 1, 1];
    spec.num_filters = vec![8, 16, 32];
    spec
}

#[test]
fn a_network_gives_the_cpu_logits_in_both_modes() {
    let (cuda, cpu) = (Cuda::default(), Cpu::default());
    let spec = small_spec();
    let mut on_gpu = Network::<f32, Cuda>::with_seed(&spec, &cuda, 11).unwrap();
    let mut on_cpu = Network::<f32, Cpu>::with_seed(&spec, &cpu, 11).unwrap();
    let values = random(4 * 3 * 32 * 32, 12);
    let x_gpu: Image<Cuda> = cuda.tensor_from_vec(values.clone(), (4, 3, 32, 32));
    let x_cpu: Image<Cpu> = cpu.tensor_from_vec(values, (4, 3, 32, 32));

    let eval_gpu = on_gpu.forward(x_gpu.clone()).unwrap().as_vec();
    let eval_cpu = on_cpu.forward(x_cpu.clone()).unwrap().as_vec();
    assert_close(&eval_gpu, &eval_cpu, "inference logits");

    let train_gpu = on_gpu.forward_train(x_gpu.leaky_trace()).unwrap();
    let train_cpu = on_cpu.forward_train(x_cpu.leaky_trace()).unwrap();
    let (train_gpu, train_cpu) = (
        train_gpu.retaped::<NoneTape>(),
        train_cpu.retaped::<NoneTape>(),
    );
    assert_close(&train_gpu.as_vec(), &train_cpu.as_vec(), "training logits");
}

#[test]
fn training_on_the_gpu_lowers_the_loss() {
    train_support::tiny_network_learns(&Cuda::default());
}
