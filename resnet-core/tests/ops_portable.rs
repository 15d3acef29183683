//! The ops composed of dfdx's own tensor ops (`ops::portable`, what CUDA
//! runs) against the CPU kernels, which the other op tests hold to direct
//! implementations and finite differences: forward values, every gradient
//! and the running statistics, in f64 on the CPU.

use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use resnet_core::ops::{self, portable, BatchNormConfig, Conv2dGeometry, PoolGeometry};
use resnet_core::spec::Pad;

type Image = Tensor<(usize, usize, usize, usize), f64, Cpu>;
type Vector = Tensor<(usize,), f64, Cpu>;

fn random(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

fn image(dev: &Cpu, shape: [usize; 4], seed: u64) -> Image {
    let [n, c, h, w] = shape;
    dev.tensor_from_vec(random(n * c * h * w, seed), (n, c, h, w))
}

fn vector(dev: &Cpu, values: Vec<f64>) -> Vector {
    let len = values.len();
    dev.tensor_from_vec(values, (len,))
}

fn assert_close(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let tolerance = 1e-10 * (1.0 + e.abs());
        assert!(
            (a - e).abs() <= tolerance,
            "{what}[{i}]: portable {a}, kernel {e}"
        );
    }
}

fn pad(top: usize, bottom: usize, left: usize, right: usize) -> Pad {
    Pad {
        top,
        bottom,
        left,
        right,
    }
}

/// The output and the gradients (of the input, then of each parameter) of
/// `sum(op(x) * r)` for a fixed random `r`.
fn run<F>(x: &Image, params: &[&Vector], op: F) -> (Vec<f64>, Vec<Vec<f64>>)
where
    F: FnOnce(
        Tensor<(usize, usize, usize, usize), f64, Cpu, OwnedTape<f64, Cpu>>,
    ) -> Tensor<(usize, usize, usize, usize), f64, Cpu, OwnedTape<f64, Cpu>>,
{
    let y = op(x.leaky_trace());
    let (n, c, h, w) = *y.shape();
    let dev = x.device().clone();
    let r = dev.tensor_from_vec(random(n * c * h * w, 99), (n, c, h, w));
    let values = y.retaped::<NoneTape>().as_vec();
    let grads = (y * r).sum::<(), _>().backward();
    let mut all = vec![grads.get(x).as_vec()];
    all.extend(params.iter().map(|p| grads.get(*p).as_vec()));
    (values, all)
}

fn compare(what: &str, portable: (Vec<f64>, Vec<Vec<f64>>), kernel: (Vec<f64>, Vec<Vec<f64>>)) {
    assert_close(&portable.0, &kernel.0, &format!("{what} output"));
    for (i, (p, k)) in portable.1.iter().zip(&kernel.1).enumerate() {
        assert_close(p, k, &format!("{what} gradient {i}"));
    }
}

#[test]
fn convolution_matches_the_kernel_with_padding_strides_groups_and_bias() {
    let dev = Cpu::default();
    // (input, weight, stride, padding, groups, bias)
    let cases = [
        ([2, 3, 9, 8], [4, 3, 3, 3], [1, 1], pad(1, 1, 1, 1), 1, true),
        ([1, 2, 7, 7], [3, 2, 7, 7], [2, 2], pad(2, 3, 3, 2), 1, true),
        (
            [3, 4, 6, 5],
            [6, 2, 3, 2],
            [2, 1],
            pad(0, 1, 1, 0),
            2,
            false,
        ),
        ([2, 4, 5, 5], [8, 4, 1, 1], [1, 1], pad(0, 0, 0, 0), 1, true),
        (
            [2, 6, 8, 8],
            [6, 6, 1, 1],
            [2, 2],
            pad(0, 0, 0, 0),
            1,
            false,
        ),
        ([1, 3, 5, 7], [2, 3, 2, 2], [3, 3], pad(0, 0, 0, 0), 1, true),
    ];
    for (k, (x, w, stride, pad, groups, bias)) in cases.into_iter().enumerate() {
        let what = format!("conv case {k}");
        let x = image(&dev, x, k as u64);
        let weight = image(&dev, w, 100 + k as u64);
        let b = bias.then(|| vector(&dev, random(w[0], 200 + k as u64)));
        let geometry = Conv2dGeometry {
            stride,
            pad,
            groups,
        };
        let params: Vec<&Vector> = b.iter().collect();
        let ours = run(&x, &params, |x| {
            portable::conv2d(x, &weight, b.as_ref(), &geometry).unwrap()
        });
        let theirs = run(&x, &params, |x| {
            ops::conv2d(x, &weight, b.as_ref(), &geometry).unwrap()
        });
        // The weight's gradient is not among `params` (it is rank 4).
        compare(&what, ours, theirs);

        let weight_grad = |portable_path: bool| {
            let y = if portable_path {
                portable::conv2d(x.leaky_trace(), &weight, b.as_ref(), &geometry).unwrap()
            } else {
                ops::conv2d(x.leaky_trace(), &weight, b.as_ref(), &geometry).unwrap()
            };
            y.square().sum::<(), _>().backward().get(&weight).as_vec()
        };
        assert_close(
            &weight_grad(true),
            &weight_grad(false),
            &format!("{what} weight"),
        );
    }
}

#[test]
fn convolution_reports_the_same_shape_errors() {
    let dev = Cpu::default();
    let x = image(&dev, [1, 2, 4, 4], 1);
    let weight = image(&dev, [3, 3, 3, 3], 2);
    let geometry = Conv2dGeometry {
        stride: [1, 1],
        pad: pad(0, 0, 0, 0),
        groups: 1,
    };
    let ours = portable::conv2d(x.clone(), &weight, None, &geometry).unwrap_err();
    let theirs = ops::conv2d(x, &weight, None, &geometry).unwrap_err();
    assert_eq!(ours.to_string(), theirs.to_string());
    assert!(
        ours.to_string().contains("expected 3 input channels"),
        "{ours}"
    );
}

#[test]
fn pooling_matches_the_kernel() {
    let dev = Cpu::default();
    // (input, window, stride, padding)
    let cases = [
        ([2, 3, 9, 9], [3, 3], [2, 2], pad(1, 1, 1, 1)),
        ([1, 2, 8, 7], [3, 3], [2, 2], pad(0, 1, 0, 1)),
        ([2, 1, 5, 6], [2, 3], [1, 2], pad(1, 0, 2, 0)),
        ([1, 4, 7, 7], [7, 7], [1, 1], pad(0, 0, 0, 0)),
    ];
    for (k, (x, window, stride, pad)) in cases.into_iter().enumerate() {
        let x = image(&dev, x, 300 + k as u64);
        let geometry = PoolGeometry {
            window,
            stride,
            pad,
        };
        compare(
            &format!("max pool case {k}"),
            run(&x, &[], |x| portable::max_pool2d(x, &geometry).unwrap()),
            run(&x, &[], |x| ops::max_pool2d(x, &geometry).unwrap()),
        );
        for include in [true, false] {
            compare(
                &format!("avg pool case {k}, count_include_pad {include}"),
                run(&x, &[], |x| {
                    portable::avg_pool2d(x, &geometry, include).unwrap()
                }),
                run(&x, &[], |x| ops::avg_pool2d(x, &geometry, include).unwrap()),
            );
        }
    }
}

#[test]
fn max_pooling_of_an_all_negative_map_never_picks_the_padding() {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(vec![-3.0, -2.0, -5.0, -4.0], (1, 1, 2, 2));
    let geometry = PoolGeometry {
        window: [3, 3],
        stride: [2, 2],
        pad: pad(1, 1, 1, 1),
    };
    let y = portable::max_pool2d(x, &geometry).unwrap();
    assert_eq!(y.as_vec(), vec![-2.0]);
}

#[test]
fn batch_norm_matches_the_kernel_in_training_and_inference() {
    let dev = Cpu::default();
    for (k, shape) in [[4, 3, 5, 5], [2, 5, 1, 3], [8, 2, 2, 2]]
        .into_iter()
        .enumerate()
    {
        let c = shape[1];
        let x = image(&dev, shape, 400 + k as u64);
        let scale = vector(&dev, random(c, 410 + k as u64));
        let offset = vector(&dev, random(c, 420 + k as u64));
        let mean0 = vector(&dev, random(c, 430 + k as u64));
        let var0 = vector(
            &dev,
            random(c, 440 + k as u64).iter().map(|v| 1.5 + v).collect(),
        );
        for relu in [false, true] {
            let config = BatchNormConfig {
                epsilon: 1e-5,
                momentum: 0.1,
                relu,
            };
            let what = format!("batch norm case {k}, relu {relu}");

            let (mut pm, mut pv) = (mean0.clone(), var0.clone());
            let (mut km, mut kv) = (mean0.clone(), var0.clone());
            let ours = run(&x, &[&scale, &offset], |x| {
                portable::batch_norm2d_train(x, &scale, &offset, &mut pm, &mut pv, &config).unwrap()
            });
            let theirs = run(&x, &[&scale, &offset], |x| {
                ops::batch_norm2d_train(x, &scale, &offset, &mut km, &mut kv, &config).unwrap()
            });
            compare(&format!("{what} (training)"), ours, theirs);
            assert_close(&pm.as_vec(), &km.as_vec(), &format!("{what} running mean"));
            assert_close(
                &pv.as_vec(),
                &kv.as_vec(),
                &format!("{what} running variance"),
            );
            assert_ne!(
                pm.as_vec(),
                mean0.as_vec(),
                "{what}: the running mean did not move"
            );

            compare(
                &format!("{what} (inference)"),
                run(&x, &[&scale, &offset], |x| {
                    portable::batch_norm2d_eval(x, &scale, &offset, &mean0, &var0, &config).unwrap()
                }),
                run(&x, &[&scale, &offset], |x| {
                    ops::batch_norm2d_eval(x, &scale, &offset, &mean0, &var0, &config).unwrap()
                }),
            );
        }
    }
}

#[test]
fn batch_norm_keeps_its_statistics_when_the_batch_holds_nan() {
    let dev = Cpu::default();
    let mut values = random(2 * 2 * 3 * 3, 7);
    values[5] = f64::NAN;
    let x = dev.tensor_from_vec(values, (2, 2, 3, 3));
    let (scale, offset) = (vector(&dev, vec![1.0; 2]), vector(&dev, vec![0.0; 2]));
    let (mut mean, mut var) = (vector(&dev, vec![0.0; 2]), vector(&dev, vec![1.0; 2]));
    let config = BatchNormConfig::default();
    let err = portable::batch_norm2d_train(x, &scale, &offset, &mut mean, &mut var, &config)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("channel 0") && err.contains("unchanged"),
        "{err}"
    );
    assert_eq!(mean.as_vec(), vec![0.0; 2]);
    assert_eq!(var.as_vec(), vec![1.0; 2]);
}
