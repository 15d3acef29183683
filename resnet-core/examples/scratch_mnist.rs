use dfdx::prelude::*;
use resnet_core::data::mnist_digits;
use resnet_core::optim::{Optimizer, OptimizerConfig};
use resnet_core::train::*;
use resnet_core::{Error, Network, Spec};

struct P(std::time::Instant);
impl Observer for P {
    fn batch(&mut self, p: &BatchProgress) {
        if p.batch % 25 == 0 {
            eprintln!("e{} b{}/{} loss {:.4} acc {:.4} {:.0} img/s", p.epoch, p.batch, p.batches, p.loss, p.accuracy, p.images_per_second);
        }
    }
    fn epoch(&mut self, m: &EpochMetrics) -> Result<(), Error> {
        eprintln!("{m:?} total {:.1}s", self.0.elapsed().as_secs_f64());
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(1);
    let lr: f64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(0.1);
    let bs: usize = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(64);
    let shift: usize = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(2);
    let spec = Spec::from_toml_file(std::path::Path::new("configs/mnist.toml")).unwrap();
    let split = mnist_digits().unwrap();
    let dev = Cpu::default();
    let mut net = Network::<f32, Cpu>::with_seed(&spec, &dev, 1).unwrap();
    net.set_input_stats(input_stats(&split.train, spec.normalization).unwrap()).unwrap();
    let opts = TrainOptions {
        epochs, batch_size: bs,
        optimizer: OptimizerConfig::Sgd { lr, momentum: 0.9, weight_decay: 5e-4 },
        schedule: Schedule::Cosine { base: lr, floor: 0.01 },
        seed: 1, max_shift: shift,
    };
    let mut opt = Optimizer::new(opts.optimizer);
    train(&mut net, &mut opt, &split.train, &split.test, &opts, 1, &mut P(std::time::Instant::now())).unwrap();
}
