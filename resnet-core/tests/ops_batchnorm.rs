//! Batch normalization checked against a naive reference written here,
//! hand-computed numbers, PyTorch's running-statistics formula and finite
//! differences.

use dfdx::prelude::*;
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use resnet_core::ops::{batch_norm2d_eval, batch_norm2d_train, BatchNormConfig};
use resnet_core::Error;

type Shape4 = (usize, usize, usize, usize);

fn config(epsilon: f64, momentum: f64, relu: bool) -> BatchNormConfig {
    BatchNormConfig {
        epsilon,
        momentum,
        relu,
    }
}

fn random(len: usize, seed: u64, low: f64, high: f64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen_range(low..high)).collect()
}

fn numel((n, c, h, w): Shape4) -> usize {
    n * c * h * w
}

/// Where element `i` of the plane of image `b`, channel `ch` sits.
fn at((_, c, h, w): Shape4, b: usize, ch: usize, i: usize) -> usize {
    (b * c + ch) * h * w + i
}

/// The values of one channel over the batch.
fn channel_values(x: &[f64], shape: Shape4, ch: usize) -> Vec<f64> {
    let (n, _, h, w) = shape;
    (0..n)
        .flat_map(|b| (0..h * w).map(move |i| (b, i)))
        .map(|(b, i)| x[at(shape, b, ch, i)])
        .collect()
}

/// Mean and biased variance of each channel, two passes in f64.
fn reference_moments(x: &[f64], shape: Shape4) -> (Vec<f64>, Vec<f64>) {
    (0..shape.1)
        .map(|ch| {
            let values = channel_values(x, shape, ch);
            let count = values.len() as f64;
            let mean = values.iter().sum::<f64>() / count;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count;
            (mean, var)
        })
        .unzip()
}

/// `scale * (x - mean) / sqrt(var + eps) + offset`, then a ReLU if asked.
#[allow(clippy::too_many_arguments)]
fn reference_normalize(
    x: &[f64],
    shape: Shape4,
    mean: &[f64],
    var: &[f64],
    scale: &[f64],
    offset: &[f64],
    epsilon: f64,
    relu: bool,
) -> Vec<f64> {
    let (n, c, h, w) = shape;
    let mut y = vec![0.0; x.len()];
    for b in 0..n {
        for ch in 0..c {
            for i in 0..h * w {
                let k = at(shape, b, ch, i);
                let v = scale[ch] * (x[k] - mean[ch]) / (var[ch] + epsilon).sqrt() + offset[ch];
                y[k] = if relu { v.max(0.0) } else { v };
            }
        }
    }
    y
}

fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tolerance * (1.0 + e.abs()),
            "{what}[{i}]: got {a}, expected {e}"
        );
    }
}

fn to_f64(v: Vec<f32>) -> Vec<f64> {
    v.into_iter().map(f64::from).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Everything one batch norm call takes, as plain vectors.
struct Case {
    shape: Shape4,
    x: Vec<f64>,
    scale: Vec<f64>,
    offset: Vec<f64>,
    running_mean: Vec<f64>,
    running_var: Vec<f64>,
}

impl Case {
    fn random(shape: Shape4, seed: u64) -> Self {
        let c = shape.1;
        Case {
            shape,
            x: random(numel(shape), seed, -2.0, 3.0),
            scale: random(c, seed + 1, 0.5, 1.5),
            offset: random(c, seed + 2, -0.5, 0.5),
            running_mean: random(c, seed + 3, -0.3, 0.3),
            running_var: random(c, seed + 4, 0.5, 2.0),
        }
    }
}

/// The output and the running mean and variance after a training step.
type Trained = (Vec<f64>, Vec<f64>, Vec<f64>);

/// Runs the training op on `case` in f64 without a tape.
fn run_train(case: &Case, cfg: &BatchNormConfig) -> Result<Trained, Error> {
    let dev = Cpu::default();
    let vector = |v: &[f64]| dev.tensor_from_vec(v.to_vec(), (v.len(),));
    let x = dev.tensor_from_vec(case.x.clone(), case.shape);
    let scale = vector(&case.scale);
    let offset = vector(&case.offset);
    let mut mean = vector(&case.running_mean);
    let mut var = vector(&case.running_var);
    let y = batch_norm2d_train(x, &scale, &offset, &mut mean, &mut var, cfg)?;
    Ok((y.as_vec(), mean.as_vec(), var.as_vec()))
}

fn run_eval(case: &Case, cfg: &BatchNormConfig) -> Result<Vec<f64>, Error> {
    let dev = Cpu::default();
    let vector = |v: &[f64]| dev.tensor_from_vec(v.to_vec(), (v.len(),));
    let x = dev.tensor_from_vec(case.x.clone(), case.shape);
    let scale = vector(&case.scale);
    let offset = vector(&case.offset);
    let mean = vector(&case.running_mean);
    let var = vector(&case.running_var);
    Ok(batch_norm2d_eval(x, &scale, &offset, &mean, &var, cfg)?.as_vec())
}

#[test]
fn train_normalizes_hand_computed_channel() {
    // One channel holding 1, 2, 3, 4: mean 2.5, biased variance 1.25,
    // unbiased 5/3, so y = (x - 2.5) / sqrt(1.25) = +-0.4472136, +-1.3416408.
    let case = Case {
        shape: (2, 1, 1, 2),
        x: vec![1.0, 2.0, 3.0, 4.0],
        scale: vec![1.0],
        offset: vec![0.0],
        running_mean: vec![0.0],
        running_var: vec![1.0],
    };
    let (y, mean, var) = run_train(&case, &config(0.0, 0.1, false)).unwrap();
    let expected = [
        -1.341_640_786_5,
        -0.447_213_595_5,
        0.447_213_595_5,
        1.341_640_786_5,
    ];
    assert_close(&y, &expected, 1e-10, "y");
    assert_close(&mean, &[0.25], 1e-12, "running mean");
    assert_close(&var, &[0.9 + 0.1 * 5.0 / 3.0], 1e-12, "running variance");
}

#[test]
fn train_forward_matches_reference_in_f64() {
    for relu in [false, true] {
        let case = Case::random((3, 4, 5, 6), 11);
        let eps = 1e-5;
        let (y, _, _) = run_train(&case, &config(eps, 0.1, relu)).unwrap();
        let (mean, var) = reference_moments(&case.x, case.shape);
        let expected = reference_normalize(
            &case.x,
            case.shape,
            &mean,
            &var,
            &case.scale,
            &case.offset,
            eps,
            relu,
        );
        assert_close(&y, &expected, 1e-12, &format!("y (relu {relu})"));
        if relu {
            assert!(y.contains(&0.0) && y.iter().any(|&v| v > 0.0));
        }
    }
}

#[test]
fn train_forward_in_f32_survives_a_large_mean() {
    // Values near 1000 with a spread of about 1: a one-pass f32 variance
    // would lose most of its digits.
    let shape = (4, 3, 7, 7);
    let x32: Vec<f32> = random(numel(shape), 5, -1.0, 1.0)
        .iter()
        .map(|v| (1000.0 + v) as f32)
        .collect();
    let x = to_f64(x32.clone());
    let (scale, offset) = (random(3, 6, 0.5, 1.5), random(3, 7, -0.5, 0.5));
    let eps = 1e-5;

    for relu in [false, true] {
        let dev = Cpu::default();
        let xt = dev.tensor_from_vec(x32.clone(), shape);
        let s = dev.tensor_from_vec(to_f32(&scale), (3,));
        let o = dev.tensor_from_vec(to_f32(&offset), (3,));
        let mut rm: Tensor<(usize,), f32, Cpu> = dev.zeros_like(&(3,));
        let mut rv: Tensor<(usize,), f32, Cpu> = dev.ones_like(&(3,));
        let y = batch_norm2d_train(xt, &s, &o, &mut rm, &mut rv, &config(eps, 0.1, relu));
        let y = to_f64(y.unwrap().as_vec());

        let (mean, var) = reference_moments(&x, shape);
        let expected = reference_normalize(&x, shape, &mean, &var, &scale, &offset, eps, relu);
        // The inputs carry f32 rounding of about 6e-5 at 1000, which the
        // normalization divides by a standard deviation of about 0.58.
        assert_close(&y, &expected, 3e-4, "y");
        let n = (4 * 7 * 7) as f64;
        let expected_var: Vec<f64> = var.iter().map(|v| 0.9 + 0.1 * v * n / (n - 1.0)).collect();
        assert_close(
            &to_f64(rv.as_vec()),
            &expected_var,
            1e-6,
            "running variance",
        );
    }
}

#[test]
fn eval_forward_matches_reference_in_f64_and_f32() {
    for relu in [false, true] {
        let case = Case::random((2, 3, 4, 5), 21);
        let eps = 1e-3;
        let cfg = config(eps, 0.1, relu);
        let expected = reference_normalize(
            &case.x,
            case.shape,
            &case.running_mean,
            &case.running_var,
            &case.scale,
            &case.offset,
            eps,
            relu,
        );
        let y = run_eval(&case, &cfg).unwrap();
        assert_close(&y, &expected, 1e-12, "y f64");

        let dev = Cpu::default();
        let vector = |v: &[f64]| dev.tensor_from_vec(to_f32(v), (3,));
        let y32 = batch_norm2d_eval(
            dev.tensor_from_vec(to_f32(&case.x), case.shape),
            &vector(&case.scale),
            &vector(&case.offset),
            &vector(&case.running_mean),
            &vector(&case.running_var),
            &cfg,
        );
        assert_close(&to_f64(y32.unwrap().as_vec()), &expected, 1e-5, "y f32");
    }
}

#[test]
fn eval_gives_each_image_the_same_output_at_batch_1_and_batch_8() {
    // Inference treats every value on its own, so an image's output must be
    // bit for bit the same whatever batch it comes in (A07), in f32 too.
    let case = Case::random((8, 3, 2, 2), 31);
    let cfg = config(1e-5, 0.1, true);
    let dev = Cpu::default();
    let vector = |v: &[f64]| dev.tensor_from_vec(to_f32(v), (3,));
    let (scale, offset) = (vector(&case.scale), vector(&case.offset));
    let (mean, var) = (vector(&case.running_mean), vector(&case.running_var));
    let eval = |x: Vec<f32>, n: usize| {
        let x = dev.tensor_from_vec(x, (n, 3, 2, 2));
        batch_norm2d_eval(x, &scale, &offset, &mean, &var, &cfg)
            .unwrap()
            .as_vec()
    };

    let x = to_f32(&case.x);
    let whole = eval(x.clone(), 8);
    let per_image = 3 * 2 * 2;
    for (image, expected) in x.chunks(per_image).zip(whole.chunks(per_image)) {
        assert_eq!(eval(image.to_vec(), 1), expected);
    }
}

#[test]
fn running_statistics_follow_pytorch_over_two_steps() {
    let shape = (3, 2, 3, 4);
    let momentum = 0.3;
    let cfg = config(1e-5, momentum, false);
    let dev = Cpu::default();
    let scale = dev.tensor_from_vec(vec![1.0, 1.0], (2,));
    let offset = dev.tensor_from_vec(vec![0.0, 0.0], (2,));
    let mut mean = dev.tensor_from_vec(vec![0.5, -0.5], (2,));
    let mut var = dev.tensor_from_vec(vec![2.0, 0.5], (2,));
    let (mut expected_mean, mut expected_var) = (vec![0.5, -0.5], vec![2.0, 0.5]);
    let count = (3 * 3 * 4) as f64;

    for step in 0..2 {
        let x = random(numel(shape), 40 + step, -1.0, 4.0);
        let xt = dev.tensor_from_vec(x.clone(), shape);
        batch_norm2d_train(xt, &scale, &offset, &mut mean, &mut var, &cfg).unwrap();

        let (batch_mean, batch_var) = reference_moments(&x, shape);
        for ch in 0..2 {
            expected_mean[ch] = (1.0 - momentum) * expected_mean[ch] + momentum * batch_mean[ch];
            let unbiased = batch_var[ch] * count / (count - 1.0);
            expected_var[ch] = (1.0 - momentum) * expected_var[ch] + momentum * unbiased;
        }
        assert_close(&mean.as_vec(), &expected_mean, 1e-12, "running mean");
        assert_close(&var.as_vec(), &expected_var, 1e-12, "running variance");
    }
}

#[test]
fn running_statistics_are_copied_on_write() {
    // A layer may pass a clone of its statistics; the clone's update must
    // not reach the original.
    let case = Case::random((2, 3, 2, 2), 51);
    let dev = Cpu::default();
    let vector = |v: &[f64]| dev.tensor_from_vec(v.to_vec(), (3,));
    let original = vector(&case.running_var);
    let mut updated = original.clone();
    let mut mean = vector(&case.running_mean);
    let x = dev.tensor_from_vec(case.x.clone(), case.shape);
    let cfg = BatchNormConfig::default();
    batch_norm2d_train(
        x,
        &vector(&case.scale),
        &vector(&case.offset),
        &mut mean,
        &mut updated,
        &cfg,
    )
    .unwrap();
    assert_eq!(original.as_vec(), case.running_var);
    assert_ne!(updated.as_vec(), case.running_var);
}

#[test]
fn batch_of_one_with_1x1_maps_is_an_error_and_keeps_the_statistics() {
    let dev = Cpu::default();
    let scale = dev.tensor_from_vec(vec![1.0f32; 3], (3,));
    let offset = dev.tensor_from_vec(vec![0.0f32; 3], (3,));
    let mut mean = dev.tensor_from_vec(vec![0.1f32, 0.2, 0.3], (3,));
    let mut var = dev.tensor_from_vec(vec![1.1f32, 1.2, 1.3], (3,));
    let x = dev.tensor_from_vec(vec![0.5f32, -1.0, 2.0], (1, 3, 1, 1));

    let err = batch_norm2d_train(
        x.leaky_trace(),
        &scale,
        &offset,
        &mut mean,
        &mut var,
        &BatchNormConfig::default(),
    )
    .unwrap_err();

    let Error::Invalid(message) = err else {
        panic!("expected Error::Invalid, got {err:?}");
    };
    assert!(message.contains("batch of 1"), "{message}");
    assert!(message.contains("1x1"), "{message}");
    assert!(
        message.contains("more than one value per channel"),
        "{message}"
    );
    assert!(message.contains("at least 2"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert_eq!(mean.as_vec(), vec![0.1, 0.2, 0.3]);
    assert_eq!(var.as_vec(), vec![1.1, 1.2, 1.3]);
}

#[test]
fn batch_of_two_with_1x1_maps_trains_with_finite_statistics() {
    // Two values a, b per channel: mean (a + b) / 2, biased variance
    // ((a - b) / 2)^2, unbiased (a - b)^2 / 2, outputs +-|a - b| / 2 /
    // sqrt(((a - b) / 2)^2 + eps).
    let (a, b) = ([0.5, -1.0, 2.0], [1.5, -1.0, -2.0]);
    let mut x = a.to_vec();
    x.extend_from_slice(&b);
    let case = Case {
        shape: (2, 3, 1, 1),
        x,
        scale: vec![1.0; 3],
        offset: vec![0.0; 3],
        running_mean: vec![0.0; 3],
        running_var: vec![1.0; 3],
    };
    let eps = 1e-5;
    let (y, mean, var) = run_train(&case, &config(eps, 0.1, false)).unwrap();

    for ch in 0..3 {
        let half = (a[ch] - b[ch]) / 2.0;
        let first = half / (half * half + eps).sqrt();
        assert_close(&[y[ch], y[3 + ch]], &[first, -first], 1e-9, "y");
        assert_close(&[mean[ch]], &[0.1 * (a[ch] + b[ch]) / 2.0], 1e-12, "mean");
        let unbiased = (a[ch] - b[ch]).powi(2) / 2.0;
        assert_close(&[var[ch]], &[0.9 + 0.1 * unbiased], 1e-12, "variance");
    }
    assert!(mean.iter().chain(&var).all(|v| v.is_finite()));
}

#[test]
fn non_finite_input_is_an_error_and_keeps_the_statistics() {
    let mut case = Case::random((2, 2, 2, 2), 61);
    case.x[5] = f64::NAN;
    let dev = Cpu::default();
    let vector = |v: &[f64]| dev.tensor_from_vec(v.to_vec(), (2,));
    let mut mean = vector(&case.running_mean);
    let mut var = vector(&case.running_var);
    let x = dev.tensor_from_vec(case.x.clone(), case.shape);
    let cfg = BatchNormConfig::default();
    let err = batch_norm2d_train(
        x,
        &vector(&case.scale),
        &vector(&case.offset),
        &mut mean,
        &mut var,
        &cfg,
    )
    .unwrap_err();

    // Element 5 of a [2, 2, 2, 2] batch is in image 0, channel 1.
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("channel 1")),
        "{err}"
    );
    assert_eq!(mean.as_vec(), case.running_mean);
    assert_eq!(var.as_vec(), case.running_var);
}

#[test]
fn channel_count_mismatch_is_an_error_naming_both_counts() {
    let mut case = Case::random((2, 4, 2, 2), 71);
    case.scale.pop();
    let err = run_train(&case, &BatchNormConfig::default()).unwrap_err();
    let Error::Shape(message) = &err else {
        panic!("expected Error::Shape, got {err:?}");
    };
    assert!(message.contains("scale has 3 values"), "{message}");
    assert!(message.contains("4 channels"), "{message}");

    let mut case = Case::random((2, 4, 2, 2), 72);
    case.running_var.push(1.0);
    let err = run_eval(&case, &BatchNormConfig::default()).unwrap_err();
    let Error::Shape(message) = &err else {
        panic!("expected Error::Shape, got {err:?}");
    };
    assert!(
        message.contains("running variance has 5 values"),
        "{message}"
    );
    assert!(message.contains("4 channels"), "{message}");
}

#[test]
fn bad_constants_are_errors_naming_the_value() {
    let case = Case::random((2, 2, 2, 2), 81);
    let err = run_train(&case, &config(1e-5, 1.5, false)).unwrap_err();
    assert!(matches!(&err, Error::Invalid(m) if m.contains("momentum") && m.contains("1.5")));
    let err = run_eval(&case, &config(-1.0, 0.1, false)).unwrap_err();
    assert!(matches!(&err, Error::Invalid(m) if m.contains("epsilon") && m.contains("-1")));

    let mut case = case;
    case.running_var[1] = -1.0;
    let err = run_eval(&case, &config(1e-5, 0.1, false)).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("channel 1")),
        "{err}"
    );
}

/// Central differences of `f` at `at`.
fn finite_differences(f: impl Fn(&[f64]) -> f64, at: &[f64]) -> Vec<f64> {
    let h = 1e-6;
    let mut point = at.to_vec();
    (0..at.len())
        .map(|i| {
            point[i] = at[i] + h;
            let up = f(&point);
            point[i] = at[i] - h;
            let down = f(&point);
            point[i] = at[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// `sum(y * r)` for a batch norm in either mode, and its gradients with
/// respect to x, scale and offset from the op's backward pass.
struct Loss<'a> {
    case: &'a Case,
    r: Vec<f64>,
    cfg: BatchNormConfig,
    train: bool,
}

impl Loss<'_> {
    fn value(&self, x: &[f64], scale: &[f64], offset: &[f64]) -> f64 {
        let case = Case {
            x: x.to_vec(),
            scale: scale.to_vec(),
            offset: offset.to_vec(),
            running_mean: self.case.running_mean.clone(),
            running_var: self.case.running_var.clone(),
            ..*self.case
        };
        let y = if self.train {
            run_train(&case, &self.cfg).unwrap().0
        } else {
            run_eval(&case, &self.cfg).unwrap()
        };
        y.iter().zip(&self.r).map(|(a, b)| a * b).sum()
    }

    fn gradients(&self) -> [Vec<f64>; 3] {
        let dev = Cpu::default();
        let case = self.case;
        let c = case.shape.1;
        let x = dev.tensor_from_vec(case.x.clone(), case.shape);
        let scale = dev.tensor_from_vec(case.scale.clone(), (c,));
        let offset = dev.tensor_from_vec(case.offset.clone(), (c,));
        let mut mean = dev.tensor_from_vec(case.running_mean.clone(), (c,));
        let mut var = dev.tensor_from_vec(case.running_var.clone(), (c,));
        let y = if self.train {
            batch_norm2d_train(
                x.leaky_trace(),
                &scale,
                &offset,
                &mut mean,
                &mut var,
                &self.cfg,
            )
        } else {
            batch_norm2d_eval(x.leaky_trace(), &scale, &offset, &mean, &var, &self.cfg)
        };
        let r = dev.tensor_from_vec(self.r.clone(), case.shape);
        let grads = (y.unwrap() * r).sum::<Rank0, _>().backward();
        [
            grads.get(&x).as_vec(),
            grads.get(&scale).as_vec(),
            grads.get(&offset).as_vec(),
        ]
    }

    fn check(&self) {
        let case = self.case;
        let [gx, gs, go] = self.gradients();
        let fx = finite_differences(|x| self.value(x, &case.scale, &case.offset), &case.x);
        let fs = finite_differences(|s| self.value(&case.x, s, &case.offset), &case.scale);
        let fo = finite_differences(|o| self.value(&case.x, &case.scale, o), &case.offset);
        let what = format!("train {} relu {}", self.train, self.cfg.relu);
        assert_close(&gx, &fx, 1e-6, &format!("d x ({what})"));
        assert_close(&gs, &fs, 1e-6, &format!("d scale ({what})"));
        assert_close(&go, &fo, 1e-6, &format!("d offset ({what})"));
    }
}

#[test]
fn gradients_match_finite_differences() {
    let case = Case::random((2, 3, 2, 3), 91);
    for train in [true, false] {
        for relu in [false, true] {
            let loss = Loss {
                case: &case,
                r: random(numel(case.shape), 92, -1.0, 1.0),
                cfg: config(1e-3, 0.1, relu),
                train,
            };
            loss.check();
        }
    }
}

#[test]
fn f32_gradients_on_large_planes_match_finite_differences() {
    // 15x20 planes hold 300 values: more than one summing block of the
    // kernel, with a remainder, computed in f32 and checked against
    // central differences of the f64 loss.
    let case = Case::random((2, 2, 15, 20), 95);
    let r = random(numel(case.shape), 96, -1.0, 1.0);
    for train in [true, false] {
        let loss = Loss {
            case: &case,
            r: r.clone(),
            cfg: config(1e-3, 0.1, true),
            train,
        };
        let dev = Cpu::default();
        let vector = |v: &[f64]| dev.tensor_from_vec(to_f32(v), (2,));
        let x = dev.tensor_from_vec(to_f32(&case.x), case.shape);
        let (scale, offset) = (vector(&case.scale), vector(&case.offset));
        let (mut mean, mut var) = (vector(&case.running_mean), vector(&case.running_var));
        let y = if train {
            batch_norm2d_train(
                x.leaky_trace(),
                &scale,
                &offset,
                &mut mean,
                &mut var,
                &loss.cfg,
            )
        } else {
            batch_norm2d_eval(x.leaky_trace(), &scale, &offset, &mean, &var, &loss.cfg)
        };
        let rt = dev.tensor_from_vec(to_f32(&r), case.shape);
        let grads = (y.unwrap() * rt).sum::<Rank0, _>().backward();

        let fx = finite_differences(|x| loss.value(x, &case.scale, &case.offset), &case.x);
        let fs = finite_differences(|s| loss.value(&case.x, s, &case.offset), &case.scale);
        let fo = finite_differences(|o| loss.value(&case.x, &case.scale, o), &case.offset);
        let what = format!("f32, train {train}");
        assert_close(
            &to_f64(grads.get(&x).as_vec()),
            &fx,
            1e-4,
            &format!("d x ({what})"),
        );
        assert_close(
            &to_f64(grads.get(&scale).as_vec()),
            &fs,
            1e-4,
            &format!("d scale ({what})"),
        );
        assert_close(
            &to_f64(grads.get(&offset).as_vec()),
            &fo,
            1e-4,
            &format!("d offset ({what})"),
        );
    }
}

#[test]
fn train_gradient_of_the_output_sum_vanishes() {
    // Each channel of y has mean `offset` whatever x is, so sum(y) does not
    // depend on x once the gradient flows through the batch statistics.
    let case = Case::random((2, 2, 2, 2), 93);
    let loss = Loss {
        case: &case,
        r: vec![1.0; numel(case.shape)],
        cfg: config(1e-3, 0.1, false),
        train: true,
    };
    let [gx, _, go] = loss.gradients();
    assert!(gx.iter().all(|g| g.abs() < 1e-12), "{gx:?}");
    assert_close(&go, &[8.0, 8.0], 1e-12, "d offset");
}

#[test]
fn gradients_accumulate_over_two_uses_of_the_same_parameters() {
    // y = bn(bn(x)) with one scale and offset: their gradients must collect
    // both uses.
    let case = Case::random((2, 2, 3, 2), 101);
    let r = random(numel(case.shape), 102, -1.0, 1.0);
    let cfg = config(1e-3, 0.1, true);
    let dev = Cpu::default();
    let vector = |v: &[f64]| dev.tensor_from_vec(v.to_vec(), (2,));
    let (mean, var) = (vector(&case.running_mean), vector(&case.running_var));

    let twice = |x: &[f64], scale: &[f64], offset: &[f64]| {
        let (s, o) = (vector(scale), vector(offset));
        let x = dev.tensor_from_vec(x.to_vec(), case.shape);
        let y = batch_norm2d_eval(x, &s, &o, &mean, &var, &cfg).unwrap();
        let y = batch_norm2d_eval(y, &s, &o, &mean, &var, &cfg).unwrap();
        y.as_vec().iter().zip(&r).map(|(a, b)| a * b).sum::<f64>()
    };

    let (s, o) = (vector(&case.scale), vector(&case.offset));
    let x = dev.tensor_from_vec(case.x.clone(), case.shape);
    let y = batch_norm2d_eval(x.leaky_trace(), &s, &o, &mean, &var, &cfg).unwrap();
    let y = batch_norm2d_eval(y, &s, &o, &mean, &var, &cfg).unwrap();
    let rt = dev.tensor_from_vec(r.clone(), case.shape);
    let grads = (y * rt).sum::<Rank0, _>().backward();

    let fs = finite_differences(|v| twice(&case.x, v, &case.offset), &case.scale);
    let fo = finite_differences(|v| twice(&case.x, &case.scale, v), &case.offset);
    let fx = finite_differences(|v| twice(v, &case.scale, &case.offset), &case.x);
    assert_close(&grads.get(&s).as_vec(), &fs, 1e-6, "d scale");
    assert_close(&grads.get(&o).as_vec(), &fo, 1e-6, "d offset");
    assert_close(&grads.get(&x).as_vec(), &fx, 1e-6, "d x");
}

#[test]
fn broadcast_input_gets_its_gradient_through_its_strides() {
    // x[b, c, i, j] = v[i, j]: a non-contiguous input whose gradient must
    // be summed back over batch and channels.
    let (n, c, h, w) = (2, 3, 2, 3);
    let v = random(h * w, 111, -1.0, 2.0);
    let r = random(n * c * h * w, 112, -1.0, 1.0);
    let scale = random(c, 113, 0.5, 1.5);
    let offset = random(c, 114, -0.5, 0.5);
    let cfg = config(1e-3, 0.1, false);
    let dev = Cpu::default();

    let loss = |v: &[f64], traced: bool| {
        let vt = dev.tensor_from_vec(v.to_vec(), (h, w));
        let (s, o) = (
            dev.tensor_from_vec(scale.clone(), (c,)),
            dev.tensor_from_vec(offset.clone(), (c,)),
        );
        let mut mean: Tensor<(usize,), f64, Cpu> = dev.zeros_like(&(c,));
        let mut var: Tensor<(usize,), f64, Cpu> = dev.ones_like(&(c,));
        let rt = dev.tensor_from_vec(r.clone(), (n, c, h, w));
        let x = vt
            .leaky_trace()
            .broadcast_like::<_, Axes2<0, 1>>(&(n, c, h, w));
        let y = batch_norm2d_train(x, &s, &o, &mut mean, &mut var, &cfg).unwrap();
        let loss = (y * rt).sum::<Rank0, _>();
        let value = loss.as_vec()[0];
        let grad = traced.then(|| loss.backward().get(&vt).as_vec());
        (value, grad)
    };

    let grad = loss(&v, true).1.unwrap();
    let expected = finite_differences(|p| loss(p, false).0, &v);
    assert_close(&grad, &expected, 1e-6, "d v");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn train_matches_reference_on_random_shapes(
        n in 1usize..4,
        c in 1usize..5,
        h in 1usize..5,
        w in 1usize..5,
        relu in any::<bool>(),
        seed in 0u64..1000,
    ) {
        prop_assume!(n * h * w >= 2);
        let case = Case::random((n, c, h, w), seed);
        let eps = 1e-5;
        let (y, mean, var) = run_train(&case, &config(eps, 0.1, relu)).unwrap();

        let (batch_mean, batch_var) = reference_moments(&case.x, case.shape);
        let expected = reference_normalize(
            &case.x, case.shape, &batch_mean, &batch_var, &case.scale, &case.offset, eps, relu,
        );
        assert_close(&y, &expected, 1e-10, "y");
        let count = (n * h * w) as f64;
        let expected_mean: Vec<f64> = (0..c)
            .map(|ch| 0.9 * case.running_mean[ch] + 0.1 * batch_mean[ch])
            .collect();
        let expected_var: Vec<f64> = (0..c)
            .map(|ch| 0.9 * case.running_var[ch] + 0.1 * batch_var[ch] * count / (count - 1.0))
            .collect();
        assert_close(&mean, &expected_mean, 1e-12, "running mean");
        assert_close(&var, &expected_var, 1e-12, "running variance");
    }
}
