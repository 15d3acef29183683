//! Max and average pooling against direct implementations written here,
//! finite differences, hand-computed values and acceptance case A08.

use dfdx::prelude::*;
use proptest::prelude::*;
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use resnet_core::ops::{avg_pool2d, max_pool2d, PoolGeometry};
use resnet_core::spec::Pad;
use resnet_core::Error;

type Shape4 = (usize, usize, usize, usize);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Max,
    /// Average with `count_include_pad`.
    Avg(bool),
}

/// One pooling problem.
#[derive(Debug, Clone)]
struct Case {
    x: [usize; 4],
    geo: PoolGeometry,
    values: Vec<f64>,
}

impl Case {
    /// Distinct values (a shuffled ramp in steps of 0.1) so that every max
    /// has a clear winner and finite differences do not cross a tie.
    fn random(x: [usize; 4], geo: PoolGeometry, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let len = x.iter().product::<usize>();
        let mut values: Vec<f64> = (0..len).map(|i| i as f64 * 0.1 - 3.0).collect();
        values.shuffle(&mut rng);
        Case { x, geo, values }
    }

    fn out_size(&self) -> [usize; 4] {
        let [n, c, h, w] = self.x;
        let [kh, kw] = self.geo.window;
        let [sh, sw] = self.geo.stride;
        let p = self.geo.pad;
        [
            n,
            c,
            (h + p.top + p.bottom - kh) / sh + 1,
            (w + p.left + p.right - kw) / sw + 1,
        ]
    }
}

/// For every output cell, the input cells under its window that are not
/// padding, and the count of window cells inside the padded input.
fn windows(case: &Case) -> Vec<(Vec<usize>, usize)> {
    let [n, c, h, w] = case.x;
    let [_, _, oh, ow] = case.out_size();
    let [kh, kw] = case.geo.window;
    let [sh, sw] = case.geo.stride;
    let p = case.geo.pad;
    let (ph, pw) = (
        (h + p.top + p.bottom) as isize,
        (w + p.left + p.right) as isize,
    );
    let mut all = Vec::new();
    for plane in 0..n * c {
        for r in 0..oh {
            for q in 0..ow {
                let mut cells = Vec::new();
                let mut padded = 0;
                for i in 0..kh {
                    for j in 0..kw {
                        let (pr, pc) = ((r * sh + i) as isize, (q * sw + j) as isize);
                        if pr < ph && pc < pw {
                            padded += 1;
                        }
                        let (row, col) = (pr - p.top as isize, pc - p.left as isize);
                        if row >= 0 && col >= 0 && row < h as isize && col < w as isize {
                            cells.push((plane * h + row as usize) * w + col as usize);
                        }
                    }
                }
                all.push((cells, padded));
            }
        }
    }
    all
}

/// The direct forward pass.
fn naive_forward(case: &Case, kind: Kind) -> Vec<f64> {
    windows(case)
        .into_iter()
        .map(|(cells, padded)| {
            let values = cells.iter().map(|&i| case.values[i]);
            match kind {
                Kind::Max => values.fold(f64::NEG_INFINITY, f64::max),
                Kind::Avg(true) => values.sum::<f64>() / padded as f64,
                Kind::Avg(false) => values.sum::<f64>() / cells.len() as f64,
            }
        })
        .collect()
}

/// The direct input gradient of `sum(y * grad_y)`.
fn naive_backward(case: &Case, kind: Kind, grad_y: &[f64]) -> Vec<f64> {
    let mut grad = vec![0.0; case.values.len()];
    for ((cells, padded), g) in windows(case).into_iter().zip(grad_y) {
        match kind {
            Kind::Max => {
                let best = cells
                    .iter()
                    .copied()
                    .reduce(|a, b| {
                        if case.values[b] > case.values[a] {
                            b
                        } else {
                            a
                        }
                    })
                    .unwrap();
                grad[best] += g;
            }
            Kind::Avg(include) => {
                let count = if include { padded } else { cells.len() };
                for &i in &cells {
                    grad[i] += g / count as f64;
                }
            }
        }
    }
    grad
}

fn run<T: Tape<f64, Cpu>>(
    x: Tensor<Shape4, f64, Cpu, T>,
    case: &Case,
    kind: Kind,
) -> Tensor<Shape4, f64, Cpu, T> {
    match kind {
        Kind::Max => max_pool2d(x, &case.geo).unwrap(),
        Kind::Avg(include) => avg_pool2d(x, &case.geo, include).unwrap(),
    }
}

/// The op's output and input gradient for `loss = sum(y * grad_y)`.
fn op_forward_backward(case: &Case, kind: Kind, grad_y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let dev = Cpu::default();
    let [n, c, h, w] = case.x;
    let x = dev.tensor_from_vec(case.values.clone(), (n, c, h, w));
    let [n, c, oh, ow] = case.out_size();
    let r = dev.tensor_from_vec(grad_y.to_vec(), (n, c, oh, ow));
    let y = run(x.leaky_trace(), case, kind);
    let y_values = y.retaped::<NoneTape>().as_vec();
    let grads = (y * r).sum::<(), _>().backward();
    (y_values, grads.get(&x).as_vec())
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tolerance: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tolerance, "{what}[{i}]: got {g}, want {w}");
    }
}

fn geometry(window: [usize; 2], stride: [usize; 2], pad: [usize; 4]) -> PoolGeometry {
    let [top, bottom, left, right] = pad;
    PoolGeometry {
        window,
        stride,
        pad: Pad {
            top,
            bottom,
            left,
            right,
        },
    }
}

/// Random problems: odd sizes, strides above the window, non-square
/// windows, asymmetric padding below the window size, batch 1.
fn cases() -> impl Strategy<Value = Case> {
    let sizes = (1usize..3, 1usize..3, 1usize..9, 1usize..9);
    let window = (1usize..5, 1usize..5, 1usize..5, 1usize..5);
    (
        sizes,
        window,
        prop::array::uniform4(0usize..4),
        any::<u64>(),
    )
        .prop_filter("invalid geometry", |(s, k, pad, _)| {
            pad[0] < k.0
                && pad[1] < k.0
                && pad[2] < k.1
                && pad[3] < k.1
                && s.2 + pad[0] + pad[1] >= k.0
                && s.3 + pad[2] + pad[3] >= k.1
        })
        .prop_map(|((n, c, h, w), (kh, kw, sh, sw), pad, seed)| {
            Case::random([n, c, h, w], geometry([kh, kw], [sh, sw], pad), seed)
        })
}

fn check_case(case: &Case, kind: Kind) {
    let mut rng = StdRng::seed_from_u64(3);
    let out_len = case.out_size().iter().product();
    let grad_y: Vec<f64> = (0..out_len).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let (y, gx) = op_forward_backward(case, kind, &grad_y);
    assert_close("output", &y, &naive_forward(case, kind), 1e-12);
    assert_close(
        "grad input",
        &gx,
        &naive_backward(case, kind, &grad_y),
        1e-12,
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn max_pool_matches_the_direct_loops(case in cases()) {
        check_case(&case, Kind::Max);
    }

    #[test]
    fn avg_pool_matches_the_direct_loops(case in cases(), include in any::<bool>()) {
        check_case(&case, Kind::Avg(include));
    }
}

#[test]
fn gradients_agree_with_finite_differences() {
    let case = Case::random([2, 2, 7, 6], geometry([3, 2], [2, 1], [1, 2, 0, 1]), 17);
    let mut rng = StdRng::seed_from_u64(9);
    let out_len = case.out_size().iter().product();
    let r: Vec<f64> = (0..out_len).map(|_| rng.gen_range(-1.0..1.0)).collect();

    for kind in [Kind::Max, Kind::Avg(true), Kind::Avg(false)] {
        let (_, got) = op_forward_backward(&case, kind, &r);
        let loss = |values: Vec<f64>| -> f64 {
            let case = Case {
                values,
                ..case.clone()
            };
            naive_forward(&case, kind)
                .iter()
                .zip(&r)
                .map(|(y, r)| y * r)
                .sum()
        };
        let h = 1e-6;
        let want: Vec<f64> = (0..case.values.len())
            .map(|i| {
                let mut plus = case.values.clone();
                plus[i] += h;
                let mut minus = case.values.clone();
                minus[i] -= h;
                (loss(plus) - loss(minus)) / (2.0 * h)
            })
            .collect();
        assert_close(&format!("{kind:?} grad input"), &got, &want, 1e-6);
    }
}

/// A08's maps: 4x4 holding 1..16 row by row, or its negation.
fn a08(sign: f32, pad: [usize; 4]) -> (Shape4, Vec<f32>) {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec((1..=16).map(|v| sign * v as f32).collect(), (1, 1, 4, 4));
    let y = max_pool2d(x, &geometry([3, 3], [2, 2], pad)).unwrap();
    (*y.shape(), y.as_vec())
}

#[test]
fn a08_symmetric_padding_never_wins_a_max() {
    assert_eq!(a08(1.0, [1; 4]), ((1, 1, 2, 2), vec![6.0, 8.0, 14.0, 16.0]));
}

#[test]
fn a08_same_padding_pads_bottom_and_right() {
    assert_eq!(
        a08(1.0, [0, 1, 0, 1]),
        ((1, 1, 2, 2), vec![11.0, 12.0, 15.0, 16.0])
    );
}

#[test]
fn a08_no_padding_leaves_one_window() {
    assert_eq!(a08(1.0, [0; 4]), ((1, 1, 1, 1), vec![11.0]));

    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, _> = dev.zeros_like(&(1, 2, 112, 112));
    let y = max_pool2d(x, &geometry([3, 3], [2, 2], [0; 4])).unwrap();
    assert_eq!(*y.shape(), (1, 2, 55, 55));
}

#[test]
fn a08_negated_map_keeps_negative_maxima() {
    // Zero padding would wrongly give [[0, 0], [0, -6]].
    assert_eq!(
        a08(-1.0, [1; 4]),
        ((1, 1, 2, 2), vec![-1.0, -2.0, -5.0, -6.0])
    );
}

#[test]
fn average_pooling_counts_padding_only_when_asked() {
    // 3x3 / 2 with padding 1 on 1..16: the top-left window holds 1, 2, 5,
    // 6 (sum 14) and five padded cells; the bottom-right window is all
    // real (6 + 7 + 8 + 10 + 11 + 12 + 14 + 15 + 16 = 99).
    let dev = Cpu::default();
    let geo = geometry([3, 3], [2, 2], [1; 4]);
    let map = || dev.tensor_from_vec((1..=16).map(|v| v as f64).collect(), (1, 1, 4, 4));
    let with = avg_pool2d(map(), &geo, true).unwrap().as_vec();
    let without = avg_pool2d(map(), &geo, false).unwrap().as_vec();
    assert_eq!(with[0], 14.0 / 9.0);
    assert_eq!(without[0], 3.5);
    assert_eq!(with[3], 11.0);
    assert_eq!(without[3], 11.0);
}

#[test]
fn max_pool_gradient_goes_to_the_first_maximum_on_ties() {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(vec![1.0f64, 5.0, 5.0, 2.0], (1, 1, 2, 2));
    let y = max_pool2d(x.leaky_trace(), &geometry([2, 2], [1, 1], [0; 4])).unwrap();
    let grads = y.sum::<(), _>().backward();
    assert_eq!(grads.get(&x).as_vec(), [0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn max_pool_propagates_nan() {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(vec![1.0f32, f32::NAN, 3.0, 2.0], (1, 1, 2, 2));
    let y = max_pool2d(x, &geometry([2, 2], [1, 1], [0; 4])).unwrap();
    assert!(y.as_vec()[0].is_nan());
}

#[test]
fn permuted_inputs_get_gradients_in_their_own_layout() {
    let case = Case::random([2, 3, 5, 4], geometry([2, 3], [1, 2], [1, 0, 1, 1]), 23);
    let dev = Cpu::default();
    let mut nhwc = vec![0.0; case.values.len()];
    for (i, v) in case.values.iter().enumerate() {
        let (n, c, h, w) = (i / 60, (i / 20) % 3, (i / 4) % 5, i % 4);
        nhwc[((n * 5 + h) * 4 + w) * 3 + c] = *v;
    }
    let nhwc = dev.tensor_from_vec(nhwc, (2usize, 5usize, 4usize, 3usize));
    for kind in [Kind::Max, Kind::Avg(false)] {
        let x = nhwc.leaky_trace().permute::<Shape4, Axes4<0, 3, 1, 2>>();
        let y = run(x, &case, kind);
        assert_close(
            "output",
            &y.retaped::<NoneTape>().as_vec(),
            &naive_forward(&case, kind),
            0.0,
        );
        let ones = vec![1.0; y.shape().num_elements()];
        let grads = y.sum::<(), _>().backward();
        let got = grads
            .get(&nhwc)
            .permute::<Shape4, Axes4<0, 3, 1, 2>>()
            .as_vec();
        assert_close(
            "grad input",
            &got,
            &naive_backward(&case, kind, &ones),
            1e-12,
        );
    }
}

fn pool_error(x: Shape4, geo: PoolGeometry) -> Error {
    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, _> = dev.zeros_like(&x);
    max_pool2d(x, &geo).unwrap_err()
}

#[test]
fn padding_as_large_as_the_window_is_rejected() {
    let err = pool_error((1, 1, 8, 8), geometry([3, 3], [2, 2], [0, 3, 0, 0]));
    assert!(matches!(err, Error::Invalid(_)));
    assert_eq!(
        err.to_string(),
        "max_pool2d: padding 3 at the bottom must be smaller than the window height 3, \
         or a window could hold padding only"
    );

    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, _> = dev.zeros_like(&(1, 1, 8, 8));
    let err = avg_pool2d(x, &geometry([2, 2], [1, 1], [0, 0, 2, 0]), true).unwrap_err();
    assert!(err.to_string().contains("padding 2 at the left"));
}

#[test]
fn bad_strides_windows_and_sizes_are_errors_naming_the_values() {
    let err = pool_error((1, 1, 8, 8), geometry([3, 3], [0, 2], [0; 4]));
    assert!(matches!(err, Error::Invalid(_)));
    assert!(err.to_string().contains("[0, 2]"));

    let err = pool_error((1, 1, 8, 8), geometry([0, 3], [1, 1], [0; 4]));
    assert!(matches!(err, Error::Invalid(_)));

    let err = pool_error((1, 1, 2, 8), geometry([3, 3], [1, 1], [0; 4]));
    assert!(matches!(err, Error::Shape(_)));
    assert!(err
        .to_string()
        .contains("input height 2 with padding 0 + 0"));
}
