//! The convolution op against a direct implementation written here, finite
//! differences, hand-computed values and acceptance case A04.

use dfdx::prelude::*;
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use resnet_core::ops::{conv2d, Conv2dGeometry};
use resnet_core::spec::Pad;
use resnet_core::Error;

type Shape4 = (usize, usize, usize, usize);

/// One convolution problem with its data, in plain vectors.
#[derive(Debug, Clone)]
struct Case {
    x: [usize; 4],
    w: [usize; 4],
    geo: Conv2dGeometry,
    x_values: Vec<f64>,
    w_values: Vec<f64>,
    bias: Option<Vec<f64>>,
}

impl Case {
    fn random(x: [usize; 4], w: [usize; 4], geo: Conv2dGeometry, bias: bool, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut values =
            |len: usize| -> Vec<f64> { (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect() };
        Case {
            x_values: values(x.iter().product()),
            w_values: values(w.iter().product()),
            bias: bias.then(|| values(w[0])),
            x,
            w,
            geo,
        }
    }

    fn out_size(&self) -> [usize; 4] {
        let [n, _, h, w] = self.x;
        let [o, _, kh, kw] = self.w;
        let Pad {
            top,
            bottom,
            left,
            right,
        } = self.geo.pad;
        let [sh, sw] = self.geo.stride;
        [
            n,
            o,
            (h + top + bottom - kh) / sh + 1,
            (w + left + right - kw) / sw + 1,
        ]
    }
}

/// For every output cell and kernel tap that reads a real input cell,
/// calls `visit(x_index, w_index, y_index)`: the whole convolution written
/// as the most direct loop nest.
fn for_each_product(case: &Case, mut visit: impl FnMut(usize, usize, usize)) {
    let [n, c, h, w] = case.x;
    let [o, cg, kh, kw] = case.w;
    let [_, _, oh, ow] = case.out_size();
    let [sh, sw] = case.geo.stride;
    let og = o / case.geo.groups;
    for b in 0..n {
        for oc in 0..o {
            let g = oc / og;
            for r in 0..oh {
                for q in 0..ow {
                    let y_index = ((b * o + oc) * oh + r) * ow + q;
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let row = (r * sh + i) as isize - case.geo.pad.top as isize;
                                let col = (q * sw + j) as isize - case.geo.pad.left as isize;
                                if row < 0 || col < 0 || row >= h as isize || col >= w as isize {
                                    continue;
                                }
                                let ch = g * cg + ci;
                                let x_index = ((b * c + ch) * h + row as usize) * w + col as usize;
                                let w_index = ((oc * cg + ci) * kh + i) * kw + j;
                                visit(x_index, w_index, y_index);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The direct forward pass.
fn naive_forward(case: &Case) -> Vec<f64> {
    let [n, o, oh, ow] = case.out_size();
    let mut y = vec![0.0; n * o * oh * ow];
    if let Some(bias) = &case.bias {
        for (i, v) in y.iter_mut().enumerate() {
            *v = bias[(i / (oh * ow)) % o];
        }
    }
    for_each_product(case, |xi, wi, yi| {
        y[yi] += case.x_values[xi] * case.w_values[wi]
    });
    y
}

/// The direct gradients of `sum(y * grad_y)` for input, weight and bias.
fn naive_backward(case: &Case, grad_y: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [_, o, oh, ow] = case.out_size();
    let mut gx = vec![0.0; case.x_values.len()];
    let mut gw = vec![0.0; case.w_values.len()];
    let mut gb = vec![0.0; o];
    for_each_product(case, |xi, wi, yi| {
        gx[xi] += case.w_values[wi] * grad_y[yi];
        gw[wi] += case.x_values[xi] * grad_y[yi];
    });
    for (i, g) in grad_y.iter().enumerate() {
        gb[(i / (oh * ow)) % o] += g;
    }
    (gx, gw, gb)
}

/// The op's output and its three gradients (bias gradient empty without a
/// bias) for `loss = sum(y * grad_y)`, in element type `E`.
fn op_forward_backward<E: Dtype>(
    case: &Case,
    grad_y: &[f64],
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>)
where
    Cpu: resnet_core::ops::ConvKernel<E> + dfdx::tensor_ops::Device<E>,
{
    let dev = Cpu::default();
    let cast = |v: &[f64]| {
        v.iter()
            .map(|&v| E::from_f64(v).unwrap())
            .collect::<Vec<E>>()
    };
    let back = |v: Vec<E>| {
        v.into_iter()
            .map(|v| v.to_f64().unwrap())
            .collect::<Vec<f64>>()
    };
    let shape = |s: [usize; 4]| -> Shape4 { (s[0], s[1], s[2], s[3]) };

    let x = dev.tensor_from_vec(cast(&case.x_values), shape(case.x));
    let w = dev.tensor_from_vec(cast(&case.w_values), shape(case.w));
    let b = case
        .bias
        .as_ref()
        .map(|b| dev.tensor_from_vec(cast(b), (b.len(),)));
    let r = dev.tensor_from_vec(cast(grad_y), shape(case.out_size()));

    let y = conv2d(x.leaky_trace(), &w, b.as_ref(), &case.geo).unwrap();
    let y_values = back(y.retaped::<NoneTape>().as_vec());
    let grads = (y * r).sum::<(), _>().backward();
    let gb = b.map(|b| back(grads.get(&b).as_vec())).unwrap_or_default();
    (
        y_values,
        back(grads.get(&x).as_vec()),
        back(grads.get(&w).as_vec()),
        gb,
    )
}

fn assert_close(what: &str, got: &[f64], want: &[f64], tolerance: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = 1.0f64.max(w.abs());
        assert!(
            (g - w).abs() <= tolerance * scale,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// Checks the op's output and gradients against the direct versions.
fn check_case<E: Dtype>(case: &Case, tolerance: f64)
where
    Cpu: resnet_core::ops::ConvKernel<E> + dfdx::tensor_ops::Device<E>,
{
    let mut rng = StdRng::seed_from_u64(7);
    let out_len = case.out_size().iter().product();
    let grad_y: Vec<f64> = (0..out_len).map(|_| rng.gen_range(-1.0..1.0)).collect();

    let (y, gx, gw, gb) = op_forward_backward::<E>(case, &grad_y);
    let (want_gx, want_gw, want_gb) = naive_backward(case, &grad_y);
    assert_close("output", &y, &naive_forward(case), tolerance);
    assert_close("grad input", &gx, &want_gx, tolerance);
    assert_close("grad weight", &gw, &want_gw, tolerance);
    if case.bias.is_some() {
        assert_close("grad bias", &gb, &want_gb, tolerance);
    }
}

fn geometry(stride: [usize; 2], pad: [usize; 4], groups: usize) -> Conv2dGeometry {
    let [top, bottom, left, right] = pad;
    Conv2dGeometry {
        stride,
        pad: Pad {
            top,
            bottom,
            left,
            right,
        },
        groups,
    }
}

/// Random problems: odd sizes, strides above the kernel, non-square
/// kernels and strides, asymmetric padding, 1x1 kernels, groups, batch 1.
fn cases() -> impl Strategy<Value = Case> {
    let sizes = (
        1usize..4,
        1usize..4,
        1usize..4,
        1usize..4,
        1usize..10,
        1usize..10,
    );
    let window = (
        1usize..5,
        1usize..5,
        1usize..4,
        1usize..4,
        prop::array::uniform4(0usize..3),
    );
    (sizes, window, any::<bool>(), any::<u64>())
        .prop_filter("padded input smaller than the kernel", |(s, k, _, _)| {
            let (h, w) = (s.4, s.5);
            let (kh, kw, pad) = (k.0, k.1, k.4);
            h + pad[0] + pad[1] >= kh && w + pad[2] + pad[3] >= kw
        })
        .prop_map(
            |((n, groups, cg, og, h, w), (kh, kw, sh, sw, pad), bias, seed)| {
                let x = [n, groups * cg, h, w];
                let weight = [groups * og, cg, kh, kw];
                Case::random(x, weight, geometry([sh, sw], pad, groups), bias, seed)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn f64_matches_the_direct_loops(case in cases()) {
        check_case::<f64>(&case, 1e-10);
    }

    #[test]
    fn f32_matches_the_direct_loops(case in cases()) {
        check_case::<f32>(&case, 1e-4);
    }
}

#[test]
fn pointwise_and_grouped_convolutions_match_the_direct_loops() {
    // 1x1 stride 1 unpadded takes the no-im2col path; with groups too.
    for (groups, seed) in [(1, 1), (2, 2), (4, 3)] {
        let x = [3, 4 * groups, 5, 7];
        let w = [2 * groups, 4, 1, 1];
        let case = Case::random(x, w, geometry([1, 1], [0; 4], groups), true, seed);
        check_case::<f64>(&case, 1e-10);
        check_case::<f32>(&case, 1e-4);
    }
}

#[test]
fn larger_batches_of_small_maps_match_the_direct_loops() {
    // Small maps share one product per block of images.
    for (n, seed) in [(5, 11), (8, 12)] {
        let x = [n, 6, 9, 8];
        let w = [8, 3, 3, 2];
        let case = Case::random(x, w, geometry([2, 1], [1, 0, 1, 1], 2), true, seed);
        check_case::<f64>(&case, 1e-10);
    }
}

#[test]
fn stride_one_rows_as_wide_as_the_input_match_the_direct_loops() {
    // When an output row is as wide as an input row, im2col copies each
    // tap as one shifted run and then clears the cells that wrapped
    // around a row edge: left and right padding in every split, kernels
    // wider than tall and the reverse, small maps and one large one.
    let cases = [
        ([2, 3, 7, 6], [4, 3, 3, 3], [1, 1, 1, 1]),
        ([2, 2, 5, 6], [3, 2, 2, 3], [0, 1, 2, 0]),
        ([1, 2, 6, 5], [2, 2, 3, 3], [0, 0, 0, 2]),
        ([3, 1, 4, 4], [2, 1, 3, 1], [2, 0, 0, 0]),
        ([2, 2, 9, 8], [2, 2, 5, 5], [2, 2, 3, 1]),
        ([1, 3, 2, 3], [2, 3, 3, 3], [1, 1, 1, 1]),
        ([2, 2, 30, 26], [3, 2, 3, 3], [1, 1, 1, 1]),
    ];
    for (seed, (x, w, pad)) in cases.into_iter().enumerate() {
        let case = Case::random(x, w, geometry([1, 1], pad, 1), true, 80 + seed as u64);
        assert_eq!(case.out_size()[3], x[3], "case {seed} misses the fast path");
        check_case::<f64>(&case, 1e-10);
        check_case::<f32>(&case, 1e-4);
    }
}

#[test]
fn large_maps_one_image_per_product_match_the_direct_loops() {
    // Over 512 output positions per image: one product per image, images
    // spread over the threads, odd batches leaving one to gemm's threads.
    let cases = [
        (
            [3, 4, 26, 24],
            [4, 2, 3, 3],
            geometry([1, 1], [1, 1, 1, 1], 2),
        ),
        ([5, 3, 23, 23], [2, 3, 1, 1], geometry([1, 1], [0; 4], 1)),
        (
            [2, 2, 50, 45],
            [3, 2, 2, 3],
            geometry([2, 1], [0, 1, 2, 0], 1),
        ),
    ];
    for (seed, (x, w, geo)) in cases.into_iter().enumerate() {
        let case = Case::random(x, w, geo, true, 60 + seed as u64);
        check_case::<f64>(&case, 1e-10);
        check_case::<f32>(&case, 1e-4);
    }
}

/// `sum(conv(x) * r)` for the data of `case`, in f64 without a tape.
fn loss(case: &Case, r: &[f64]) -> f64 {
    naive_forward(case).iter().zip(r).map(|(y, r)| y * r).sum()
}

#[test]
fn gradients_agree_with_finite_differences() {
    let geo = geometry([2, 1], [1, 0, 2, 1], 2);
    let case = Case::random([2, 4, 6, 5], [4, 2, 3, 2], geo, true, 21);
    let mut rng = StdRng::seed_from_u64(5);
    let out_len = case.out_size().iter().product();
    let r: Vec<f64> = (0..out_len).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let (_, gx, gw, gb) = op_forward_backward::<f64>(&case, &r);

    // Central differences of the loss computed without the op under test.
    let h = 1e-5;
    let numeric = |pick: &dyn Fn(&mut Case) -> &mut Vec<f64>| -> Vec<f64> {
        let len = pick(&mut case.clone()).len();
        (0..len)
            .map(|i| {
                let mut plus = case.clone();
                pick(&mut plus)[i] += h;
                let mut minus = case.clone();
                pick(&mut minus)[i] -= h;
                (loss(&plus, &r) - loss(&minus, &r)) / (2.0 * h)
            })
            .collect()
    };
    assert_close("grad input", &gx, &numeric(&|c| &mut c.x_values), 1e-6);
    assert_close("grad weight", &gw, &numeric(&|c| &mut c.w_values), 1e-6);
    let bias = numeric(&|c| c.bias.as_mut().unwrap());
    assert_close("grad bias", &gb, &bias, 1e-6);
}

#[test]
fn a_weight_used_twice_collects_both_gradients() {
    // y = conv(conv(x, w), w): the weight's gradient is the sum of both
    // uses, checked against finite differences of the direct forward.
    let dev = Cpu::default();
    let geo = geometry([1, 1], [1, 1, 1, 1], 1);
    let first = Case::random([1, 2, 4, 5], [2, 2, 3, 3], geo, false, 31);
    let twice = |w_values: &[f64]| -> Vec<f64> {
        let inner = Case {
            w_values: w_values.to_vec(),
            ..first.clone()
        };
        let outer = Case {
            x_values: naive_forward(&inner),
            ..inner
        };
        naive_forward(&outer)
    };

    let x = dev.tensor_from_vec(first.x_values.clone(), (1, 2, 4, 5));
    let w = dev.tensor_from_vec(first.w_values.clone(), (2, 2, 3, 3));
    let y = conv2d(x.leaky_trace(), &w, None, &geo).unwrap();
    let y = conv2d(y, &w, None, &geo).unwrap();
    let grads = y.sum::<(), _>().backward();
    let got = grads.get(&w).as_vec();

    let h = 1e-5;
    let want: Vec<f64> = (0..first.w_values.len())
        .map(|i| {
            let mut plus = first.w_values.clone();
            plus[i] += h;
            let mut minus = first.w_values.clone();
            minus[i] -= h;
            let sum = |v: Vec<f64>| v.iter().sum::<f64>();
            (sum(twice(&plus)) - sum(twice(&minus))) / (2.0 * h)
        })
        .collect();
    assert_close("grad weight", &got, &want, 1e-6);
}

#[test]
fn permuted_and_broadcast_inputs_give_the_same_values_and_gradients() {
    let dev = Cpu::default();
    let geo = geometry([1, 2], [1, 0, 0, 1], 1);
    let case = Case::random([2, 3, 4, 5], [2, 3, 2, 2], geo, true, 41);
    let w = dev.tensor_from_vec(case.w_values.clone(), (2, 3, 2, 2));
    let b = dev.tensor_from_vec(case.bias.clone().unwrap(), (2,));

    // The same input stored NHWC and permuted to NCHW.
    let mut nhwc = vec![0.0; case.x_values.len()];
    for (i, v) in case.x_values.iter().enumerate() {
        let (n, c, h, w) = (i / 60, (i / 20) % 3, (i / 5) % 4, i % 5);
        nhwc[((n * 4 + h) * 5 + w) * 3 + c] = *v;
    }
    let nhwc = dev.tensor_from_vec(nhwc, (2usize, 4usize, 5usize, 3usize));
    let x = nhwc.leaky_trace().permute::<Shape4, Axes4<0, 3, 1, 2>>();
    let y = conv2d(x, &w, Some(&b), &geo).unwrap();
    let y_values = y.retaped::<NoneTape>().as_vec();
    assert_close("output", &y_values, &naive_forward(&case), 1e-12);

    let ones = vec![1.0; y_values.len()];
    let grads = y.sum::<(), _>().backward();
    let (want_gx, _, _) = naive_backward(&case, &ones);
    let got = grads
        .get(&nhwc)
        .permute::<Shape4, Axes4<0, 3, 1, 2>>()
        .as_vec();
    assert_close("grad input", &got, &want_gx, 1e-12);

    // One image broadcast over a batch of two: its gradient is the sum.
    let image = dev.tensor_from_vec(case.x_values[..60].to_vec(), (3usize, 4usize, 5usize));
    let x = image
        .leaky_trace()
        .broadcast_like::<Shape4, Axis<0>>(&(2, 3, 4, 5));
    let y = conv2d(x, &w, Some(&b), &geo).unwrap();
    let grads = y.sum::<(), _>().backward();
    let half = Case {
        x: [1, 3, 4, 5],
        x_values: case.x_values[..60].to_vec(),
        ..case.clone()
    };
    let (one, _, _) = naive_backward(&half, &ones[..ones.len() / 2]);
    let twice: Vec<f64> = one.iter().map(|g| 2.0 * g).collect();
    assert_close(
        "grad broadcast input",
        &grads.get(&image).as_vec(),
        &twice,
        1e-12,
    );
}

#[test]
fn inference_without_a_tape_gives_the_same_output() {
    let dev = Cpu::default();
    let geo = geometry([2, 2], [0, 1, 0, 1], 1);
    let case = Case::random([2, 3, 8, 8], [4, 3, 3, 3], geo, true, 51);
    let x = dev.tensor_from_vec(case.x_values.clone(), (2, 3, 8, 8));
    let w = dev.tensor_from_vec(case.w_values.clone(), (4, 3, 3, 3));
    let b = dev.tensor_from_vec(case.bias.clone().unwrap(), (4,));
    let y = conv2d(x, &w, Some(&b), &geo).unwrap();
    assert_eq!(*y.shape(), (2, 4, 4, 4));
    assert_close("output", &y.as_vec(), &naive_forward(&case), 1e-12);
}

/// A04: one channel, 3x3 kernel of ones, stride 2, no bias, on the 8x8 map
/// x[i][j] = 8i + j.
fn a04(pad: [usize; 4]) -> Vec<f32> {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec((0..64).map(|v| v as f32).collect(), (1, 1, 8, 8));
    let w = dev.tensor_from_vec(vec![1.0f32; 9], (1, 1, 3, 3));
    let y = conv2d(x, &w, None, &geometry([2, 2], pad, 1)).unwrap();
    assert_eq!(*y.shape(), (1, 1, 4, 4));
    y.as_vec()
}

#[test]
fn a04_symmetric_padding_on_an_even_map() {
    let want = [
        18., 36., 48., 60., //
        99., 162., 180., 198., //
        195., 306., 324., 342., //
        291., 450., 468., 486.,
    ];
    assert_eq!(a04([1, 1, 1, 1]), want);
}

#[test]
fn a04_same_padding_puts_the_extra_row_and_column_at_the_bottom_right() {
    let want = [
        81., 99., 117., 87., //
        225., 243., 261., 183., //
        369., 387., 405., 279., //
        318., 330., 342., 234.,
    ];
    assert_eq!(a04([0, 1, 0, 1]), want);
}

#[test]
fn hand_computed_difference_kernel_with_bias() {
    // [[1, 0], [0, -1]] on [[1, 2, 3], [4, 5, 6], [7, 8, 9]] is
    // x[r][q] - x[r+1][q+1] = -4 everywhere; the bias adds 0.5.
    let dev = Cpu::default();
    let x = dev.tensor_from_vec((1..=9).map(|v| v as f32).collect(), (1, 1, 3, 3));
    let w = dev.tensor_from_vec(vec![1.0f32, 0.0, 0.0, -1.0], (1, 1, 2, 2));
    let b = dev.tensor_from_vec(vec![0.5f32], (1,));
    let y = conv2d(x, &w, Some(&b), &geometry([1, 1], [0; 4], 1)).unwrap();
    assert_eq!(y.as_vec(), [-3.5; 4]);
}

#[test]
fn hand_computed_wide_kernel_with_column_stride_and_padding() {
    // A 1x3 kernel of ones, column stride 2, one zero on each side of the
    // row [1, 2, 3, 4, 5]: windows [0, 1, 2], [2, 3, 4], [4, 5, 0].
    let dev = Cpu::default();
    let x = dev.tensor_from_vec((1..=5).map(|v| v as f32).collect(), (1, 1, 1, 5));
    let w = dev.tensor_from_vec(vec![1.0f32; 3], (1, 1, 1, 3));
    let y = conv2d(x, &w, None, &geometry([1, 2], [0, 0, 1, 1], 1)).unwrap();
    assert_eq!(y.as_vec(), [3.0, 9.0, 9.0]);
}

#[test]
fn hand_computed_groups_keep_channels_apart() {
    // Two groups of one channel, 1x1 weights 2 and 3.
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(vec![1.0f32, 2.0, 10.0, 20.0], (1, 2, 1, 2));
    let w = dev.tensor_from_vec(vec![2.0f32, 3.0], (2, 1, 1, 1));
    let y = conv2d(x, &w, None, &geometry([1, 1], [0; 4], 2)).unwrap();
    assert_eq!(y.as_vec(), [2.0, 4.0, 30.0, 60.0]);
}

fn conv_error(x: Shape4, w: Shape4, bias: Option<usize>, geo: Conv2dGeometry) -> Error {
    let dev = Cpu::default();
    let x: Tensor<Shape4, f32, _> = dev.zeros_like(&x);
    let w: Tensor<Shape4, f32, _> = dev.zeros_like(&w);
    let b = bias.map(|len| dev.zeros_like(&(len,)));
    conv2d(x, &w, b.as_ref(), &geo).unwrap_err()
}

#[test]
fn a_channel_mismatch_names_the_weight_and_both_counts() {
    let err = conv_error(
        (1, 1, 8, 8),
        (64, 3, 7, 7),
        None,
        geometry([2, 2], [3; 4], 1),
    );
    assert!(matches!(err, Error::Shape(_)));
    assert_eq!(
        err.to_string(),
        "conv2d: expected 3 input channels (weight [64, 3, 7, 7], 1 group), got 1"
    );
}

#[test]
fn bad_groups_bias_and_sizes_are_errors_naming_the_values() {
    let geo = geometry([1, 1], [0; 4], 1);
    let msg = conv_error(
        (1, 4, 8, 8),
        (6, 1, 3, 3),
        None,
        geometry([1, 1], [0; 4], 4),
    );
    assert!(msg
        .to_string()
        .contains("4 groups do not divide the 6 output channels"));

    let msg = conv_error((1, 3, 8, 8), (4, 3, 3, 3), Some(5), geo);
    assert!(msg.to_string().contains("bias has 5 values, expected 4"));

    let msg = conv_error((1, 3, 2, 8), (4, 3, 3, 3), None, geo);
    assert!(matches!(msg, Error::Shape(_)));
    assert!(msg
        .to_string()
        .contains("input height 2 with padding 0 + 0"));

    let msg = conv_error(
        (1, 3, 8, 8),
        (4, 3, 3, 3),
        None,
        geometry([0, 1], [0; 4], 1),
    );
    assert!(matches!(msg, Error::Invalid(_)));
    assert!(msg.to_string().contains("[0, 1]"));

    let msg = conv_error(
        (1, 3, 8, 8),
        (4, 3, 3, 3),
        None,
        geometry([1, 1], [0; 4], 0),
    );
    assert!(matches!(msg, Error::Invalid(_)));
}
