//! Times the CPU convolution on the ResNet-50 layer shapes and prints one
//! JSON object per shape: `{"shape": ..., "fwd_ms": ..., "bwd_ms": ...,
//! "fwd_cpu_ms": ..., "bwd_cpu_ms": ...}`.
//!
//! The `_cpu_ms` figures are the processor time of all threads per run,
//! averaged over the runs (Linux only, else `null`): on a shared machine
//! they move much less than the wall-clock figures.
//!
//! `cargo run --release -p resnet-core --example conv_timing -- [reps]
//! [batch] [filter]` (defaults 5 and 8; `filter` keeps the shapes whose
//! name contains it). Each figure is the best of `reps` runs after one
//! warm-up run; the backward figure is the kernel alone (input and weight
//! gradients), as `bench/conv_torch.py` measures PyTorch's.

use std::time::{Duration, Instant};

use dfdx::prelude::*;
use resnet_core::ops::conv::{Conv2dDims, ConvKernel};
use resnet_core::ops::Conv2dGeometry;
use resnet_core::spec::Pad;

/// One convolution of ResNet-50: name, input `[c, h, w]`, output
/// channels, kernel, stride, padding on every side. The names are the
/// keys `bench/conv_torch.py` matches on.
type Layer = (&'static str, [usize; 3], usize, usize, usize, usize);

const LAYERS: [Layer; 9] = [
    ("7x7/2 224x224x3->64", [3, 224, 224], 64, 7, 2, 3),
    ("3x3 56x56x64", [64, 56, 56], 64, 3, 1, 1),
    ("3x3 28x28x128", [128, 28, 28], 128, 3, 1, 1),
    ("3x3 14x14x256", [256, 14, 14], 256, 3, 1, 1),
    ("3x3 7x7x512", [512, 7, 7], 512, 3, 1, 1),
    ("1x1 56x56 64->256", [64, 56, 56], 256, 1, 1, 0),
    ("1x1 28x28 128->512", [128, 28, 28], 512, 1, 1, 0),
    ("1x1 14x14 256->1024", [256, 14, 14], 1024, 1, 1, 0),
    ("1x1 7x7 512->2048", [512, 7, 7], 2048, 1, 1, 0),
];

/// Processor time used so far by all threads of this process, from
/// `/proc/self/task/*/schedstat` (nanoseconds on the CPU first); `None`
/// where that does not exist.
fn cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Milliseconds between two readings of [`cpu_time`].
fn cpu_ms(start: Option<Duration>, end: Option<Duration>) -> Option<f64> {
    Some(end?.checked_sub(start?)?.as_secs_f64() * 1e3)
}

/// The average of `times`, or `null` when a reading failed.
fn mean_json(times: &[Option<f64>]) -> String {
    let sum: Option<f64> = times.iter().copied().sum();
    match sum {
        Some(sum) if !times.is_empty() => format!("{:.3}", sum / times.len() as f64),
        _ => "null".into(),
    }
}

/// The fastest run: on a shared machine the other figures mostly measure
/// the neighbours.
fn best(times: Vec<f64>) -> f64 {
    times.into_iter().fold(f64::INFINITY, f64::min)
}

fn main() {
    // As the `resnet` command does: reuse freed memory between runs.
    resnet_core::alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let filter = args.iter().find(|a| a.parse::<usize>().is_err());
    let reps = numbers.first().copied().unwrap_or(5).max(1);
    let batch = numbers.get(1).copied().unwrap_or(8);
    let dev = Cpu::default();

    let keep = |name: &str| match filter {
        Some(f) => name.contains(f.as_str()),
        None => true,
    };
    for (name, [c, h, w], out, k, stride, p) in LAYERS.into_iter().filter(|l| keep(l.0)) {
        let pad = Pad {
            top: p,
            bottom: p,
            left: p,
            right: p,
        };
        let geometry = Conv2dGeometry {
            stride: [stride; 2],
            pad,
            groups: 1,
        };
        let dims = Conv2dDims::new([batch, c, h, w], [out, c, k, k], None, &geometry)
            .expect("valid layer");
        let x: Tensor<(usize, usize, usize, usize), f32, _> =
            dev.sample_normal_like(&(batch, c, h, w));
        let weight = dev.sample_normal_like(&(out, c, k, k));
        let grad_out = dev.sample_normal_like(&dims.out_shape()).as_vec();

        let (mut fwd, mut bwd, mut fwd_cpu, mut bwd_cpu) = (vec![], vec![], vec![], vec![]);
        for rep in 0..=reps {
            let (start, cpu) = (Instant::now(), cpu_time());
            let (_, saved) = dev.conv2d_forward(&dims, &x, &weight, None, true).unwrap();
            let fwd_ms = start.elapsed().as_secs_f64() * 1e3;
            let fwd_cpu_ms = cpu_ms(cpu, cpu_time());

            let mut grad_x = dev.try_alloc_len(batch * c * h * w).unwrap();
            let mut grad_w = dev.try_alloc_len(out * c * k * k).unwrap();
            let mut gy = dev.try_alloc_len(grad_out.len()).unwrap();
            gy.copy_from_slice(&grad_out);
            let (start, cpu) = (Instant::now(), cpu_time());
            dev.conv2d_backward(&dims, saved, &mut grad_x, &weight, &mut grad_w, None, &gy)
                .unwrap();
            let bwd_ms = start.elapsed().as_secs_f64() * 1e3;
            let bwd_cpu_ms = cpu_ms(cpu, cpu_time());

            // The first run warms caches and the allocator.
            if rep > 0 {
                fwd.push(fwd_ms);
                bwd.push(bwd_ms);
                fwd_cpu.push(fwd_cpu_ms);
                bwd_cpu.push(bwd_cpu_ms);
            }
        }
        println!(
            "{{\"shape\": \"{name}\", \"batch\": {batch}, \"fwd_ms\": {:.3}, \"bwd_ms\": {:.3}, \
             \"fwd_cpu_ms\": {}, \"bwd_cpu_ms\": {}}}",
            best(fwd),
            best(bwd),
            mean_json(&fwd_cpu),
            mean_json(&bwd_cpu),
        );
    }
}
