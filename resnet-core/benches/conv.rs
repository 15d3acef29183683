//! Criterion benchmark of the CPU convolution on the ResNet-50 layer
//! shapes at batch 8: the forward pass through [`conv2d`] without a tape,
//! and the backward kernel (input and weight gradients) alone.
//!
//! `cargo bench -p resnet-core --bench conv`; pass a filter such as
//! `-- "3x3"` to run a subset. Samples are few so that the whole run takes
//! a few minutes on two cores.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use dfdx::prelude::*;
use resnet_core::ops::conv::{Conv2dDims, ConvKernel};
use resnet_core::ops::{conv2d, Conv2dGeometry};
use resnet_core::spec::Pad;

const BATCH: usize = 8;

/// Name, input `[c, h, w]`, output channels, kernel, stride, padding.
type Layer = (&'static str, [usize; 3], usize, usize, usize, usize);

const LAYERS: [Layer; 9] = [
    ("7x7s2 224x224x3-64", [3, 224, 224], 64, 7, 2, 3),
    ("3x3 56x56x64", [64, 56, 56], 64, 3, 1, 1),
    ("3x3 28x28x128", [128, 28, 28], 128, 3, 1, 1),
    ("3x3 14x14x256", [256, 14, 14], 256, 3, 1, 1),
    ("3x3 7x7x512", [512, 7, 7], 512, 3, 1, 1),
    ("1x1 56x56 64-256", [64, 56, 56], 256, 1, 1, 0),
    ("1x1 28x28 128-512", [128, 28, 28], 512, 1, 1, 0),
    ("1x1 14x14 256-1024", [256, 14, 14], 1024, 1, 1, 0),
    ("1x1 7x7 512-2048", [512, 7, 7], 2048, 1, 1, 0),
];

fn bench_conv(c: &mut Criterion) {
    // As the `resnet` command does: reuse freed memory between runs.
    resnet_core::alloc::keep_freed_memory();
    let dev = Cpu::default();
    let mut forward = c.benchmark_group("conv_forward");
    forward.sample_size(10);
    forward.warm_up_time(Duration::from_millis(500));
    forward.measurement_time(Duration::from_secs(2));
    for (name, [ch, h, w], out, k, stride, pad) in LAYERS {
        let geometry = Conv2dGeometry {
            stride: [stride; 2],
            pad: Pad {
                top: pad,
                bottom: pad,
                left: pad,
                right: pad,
            },
            groups: 1,
        };
        let x: Tensor<(usize, usize, usize, usize), f32, _> =
            dev.sample_normal_like(&(BATCH, ch, h, w));
        let weight = dev.sample_normal_like(&(out, ch, k, k));
        forward.bench_function(name, |b| {
            b.iter(|| conv2d(x.clone(), &weight, None, &geometry).unwrap())
        });
    }
    forward.finish();

    let mut backward = c.benchmark_group("conv_backward");
    backward.sample_size(10);
    backward.warm_up_time(Duration::from_millis(500));
    backward.measurement_time(Duration::from_secs(3));
    for (name, [ch, h, w], out, k, stride, pad) in LAYERS {
        let geometry = Conv2dGeometry {
            stride: [stride; 2],
            pad: Pad {
                top: pad,
                bottom: pad,
                left: pad,
                right: pad,
            },
            groups: 1,
        };
        let dims = Conv2dDims::new([BATCH, ch, h, w], [out, ch, k, k], None, &geometry).unwrap();
        let x: Tensor<(usize, usize, usize, usize), f32, _> =
            dev.sample_normal_like(&(BATCH, ch, h, w));
        let weight = dev.sample_normal_like(&(out, ch, k, k));
        let grad_out = dev.sample_normal_like(&dims.out_shape()).as_vec();

        // The forward pass and the gradient buffers are set up outside the
        // timed part.
        let setup = || {
            let (_, saved) = dev.conv2d_forward(&dims, &x, &weight, None, true).unwrap();
            let grad_x = dev.try_alloc_len(BATCH * ch * h * w).unwrap();
            let grad_w = dev.try_alloc_len(out * ch * k * k).unwrap();
            let mut gy = dev.try_alloc_len(grad_out.len()).unwrap();
            gy.copy_from_slice(&grad_out);
            (saved, grad_x, grad_w, gy)
        };
        backward.bench_function(name, |b| {
            b.iter_batched(
                setup,
                |(saved, mut grad_x, mut grad_w, gy)| {
                    dev.conv2d_backward(&dims, saved, &mut grad_x, &weight, &mut grad_w, None, &gy)
                        .unwrap()
                },
                BatchSize::PerIteration,
            )
        });
    }
    backward.finish();
}

criterion_group!(benches, bench_conv);
criterion_main!(benches);
