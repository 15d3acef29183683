//! Training throughput of one config on the GPU: images/s over timed SGD
//! steps (forward in training mode, cross-entropy, backward, update) after
//! a warm-up, as `bench/torch_gpu.py` measures PyTorch's.
//!
//! ```text
//! cargo run --release --features cuda -p resnet-core --example gpu_throughput -- \
//!     configs/resnet50.toml [BATCH] [STEPS]
//! ```

use std::time::Instant;

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::prelude::*;
use resnet_core::optim::{Optimizer, OptimizerConfig};
use resnet_core::{Network, Spec};

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: gpu_throughput CONFIG.toml [BATCH] [STEPS]";
    let config = args.next().ok_or(usage)?;
    let batch: usize = args.next().map_or(Ok(32), |a| a.parse())?;
    let steps: usize = args.next().map_or(Ok(10), |a| a.parse())?;

    let spec = Spec::from_toml_file(std::path::Path::new(&config))?;
    let dev = Cuda::default();
    let mut network = Network::<f32, Cuda>::with_seed(&spec, &dev, 0)?;
    let mut optimizer = Optimizer::new(OptimizerConfig::Sgd {
        lr: 0.01,
        momentum: 0.9,
        weight_decay: 1e-4,
    });
    let [h, w, c] = spec.input;
    let x: Tensor<(usize, usize, usize, usize), f32, Cuda> =
        dev.sample_uniform_like(&(batch, c, h, w));
    let mut targets = vec![0.0f32; batch * spec.classes];
    for i in 0..batch {
        targets[i * spec.classes + i % spec.classes] = 1.0;
    }
    let targets = dev.tensor_from_vec(targets, (batch, spec.classes));

    let mut step = || -> Result<f32, Failure> {
        let logits = network.forward_train(x.clone().traced(Gradients::leaky()))?;
        let loss = cross_entropy_with_logits_loss(logits, targets.clone());
        let value = loss.as_vec()[0];
        let mut grads = loss.backward();
        optimizer.update(&mut network, &mut grads)?;
        Ok(value)
    };
    for _ in 0..2 {
        step()?;
    }
    let start = Instant::now();
    let mut loss = 0.0;
    for _ in 0..steps {
        loss = step()?;
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"config\": \"{config}\", \"batch\": {batch}, \"steps\": {steps}, \
         \"images_per_s\": {:.1}, \"last_loss\": {loss:.4}}}",
        (batch * steps) as f64 / seconds
    );
    Ok(())
}
