//! Times a whole network, inference or one training step, and prints the
//! timings as JSON. `bench/compare.py` drives it beside PyTorch.
//!
//! ```text
//! cargo run --release -p resnet-core --example bench_network -- \
//!     --config configs/resnet50.toml --mode infer --batch 8 [--warmup 1] [--iters 3]
//!     [--serve] [--plan] [--profile]
//! ```
//!
//! - Plain: builds the network, runs `--warmup` untimed iterations and
//!   `--iters` timed ones, prints one JSON object and exits.
//! - `--serve`: after the warm-up prints `{"ready": ...}`, then reads one
//!   number N per line from stdin, runs N iterations and answers with one
//!   JSON line of their timings; EOF or `quit` ends it. The driver uses this
//!   to alternate with PyTorch iteration by iteration.
//! - `--plan`: prints the layer plan as JSON (what the PyTorch side checks
//!   its model against) and exits.
//! - `--profile`: a breakdown of one iteration by layer kind (see
//!   `profile.rs`), forward and backward apart.
//!
//! An inference iteration is one `Network::forward` of the batch; a
//! training iteration is one step as `resnet_core::train` takes it:
//! forward in training mode, cross-entropy, backward and an SGD update
//! (momentum 0.9, weight decay 1e-4, as the PyTorch side). The images are
//! uniform noise in [0, 1) from a fixed seed, zero-centered with a mean of
//! 0.5 per channel, labels cycle through the classes.

mod profile;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use resnet_core::ops::Image;
use resnet_core::optim::{Optimizer, OptimizerConfig};
use resnet_core::{InputStats, Network, Spec};
use serde_json::{json, Value};

type Failure = Box<dyn std::error::Error>;

/// Inference or one training step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Infer,
    Train,
}

/// The command line.
struct Args {
    config: PathBuf,
    mode: Mode,
    batch: usize,
    warmup: usize,
    iters: usize,
    serve: bool,
    plan: bool,
    profile: bool,
}

const USAGE: &str = "usage: bench_network --config FILE [--mode infer|train] [--batch N] \
                     [--warmup N] [--iters N] [--serve] [--plan] [--profile]";

fn parse_args() -> Result<Args, Failure> {
    let mut args = Args {
        config: PathBuf::new(),
        mode: Mode::Infer,
        batch: 8,
        warmup: 1,
        iters: 3,
        serve: false,
        plan: false,
        profile: false,
    };
    let mut words = std::env::args().skip(1);
    let number = |flag: &str, word: Option<String>| -> Result<usize, Failure> {
        let word = word.ok_or_else(|| format!("{flag} needs a number; {USAGE}"))?;
        word.parse()
            .map_err(|_| format!("{flag} takes a whole number, got {word:?}").into())
    };
    while let Some(word) = words.next() {
        match word.as_str() {
            "--config" => {
                let path = words
                    .next()
                    .ok_or_else(|| format!("--config needs a file; {USAGE}"))?;
                args.config = PathBuf::from(path);
            }
            "--mode" => {
                args.mode = match words.next().as_deref() {
                    Some("infer") => Mode::Infer,
                    Some("train") => Mode::Train,
                    other => {
                        return Err(format!("--mode takes infer or train, got {other:?}").into())
                    }
                }
            }
            "--batch" => args.batch = number("--batch", words.next())?,
            "--warmup" => args.warmup = number("--warmup", words.next())?,
            "--iters" => args.iters = number("--iters", words.next())?,
            "--serve" => args.serve = true,
            "--plan" => args.plan = true,
            "--profile" => args.profile = true,
            other => return Err(format!("unknown argument {other:?}; {USAGE}").into()),
        }
    }
    if args.config.as_os_str().is_empty() {
        return Err(format!("--config is required; {USAGE}").into());
    }
    let smallest = if args.mode == Mode::Train { 2 } else { 1 };
    if args.batch < smallest {
        return Err(format!(
            "--batch must be at least {smallest} for {:?} (batch norm trains on a batch \
             statistic), got {}",
            args.mode, args.batch
        )
        .into());
    }
    Ok(args)
}

/// A batch of noise images and labels, the same on every iteration.
struct Batch {
    images: Image<f32, Cpu>,
    labels: Vec<usize>,
    targets: Tensor<(usize, usize), f32, Cpu>,
}

impl Batch {
    fn new(dev: &Cpu, spec: &Spec, n: usize) -> Self {
        let [h, w, c] = spec.input;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let values: Vec<f32> = (0..n * c * h * w).map(|_| rng.gen::<f32>()).collect();
        let labels: Vec<usize> = (0..n).map(|i| i % spec.classes).collect();
        let mut one_hot = vec![0.0f32; n * spec.classes];
        for (row, &label) in labels.iter().enumerate() {
            one_hot[row * spec.classes + label] = 1.0;
        }
        Batch {
            images: dev.tensor_from_vec(values, (n, c, h, w)),
            targets: dev.tensor_from_vec(one_hot, (n, spec.classes)),
            labels,
        }
    }
}

/// What one iteration needs: the network, its optimizer and the batch.
struct Bench {
    network: Network<f32, Cpu>,
    optimizer: Optimizer<f32, Cpu>,
    batch: Batch,
    mode: Mode,
}

/// Wall-clock and processor time of one iteration, and where a training
/// step spent it.
struct Timing {
    wall: Duration,
    cpu: Option<Duration>,
    /// Forward, loss and backward, optimizer update (training only).
    phases: Option<[Duration; 3]>,
}

impl Bench {
    fn new(args: &Args) -> Result<Self, Failure> {
        let spec = Spec::from_toml_file(&args.config)?;
        let dev = Cpu::default();
        let mut network = Network::<f32, Cpu>::with_seed(&spec, &dev, 0)?;
        let channels = spec.input[2];
        network.set_input_stats(InputStats {
            mean: vec![0.5; channels],
            std: vec![1.0; channels],
        })?;
        let optimizer = Optimizer::new(OptimizerConfig::Sgd {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 1e-4,
        });
        let batch = Batch::new(&dev, &spec, args.batch);
        Ok(Bench {
            network,
            optimizer,
            batch,
            mode: args.mode,
        })
    }

    /// Runs one iteration and times it.
    fn iterate(&mut self) -> Result<Timing, Failure> {
        let (start, cpu) = (Instant::now(), cpu_time());
        let phases = match self.mode {
            Mode::Infer => {
                let logits = self.network.forward(self.batch.images.clone())?;
                std::hint::black_box(logits.as_vec());
                None
            }
            Mode::Train => Some(self.step()?),
        };
        let wall = start.elapsed();
        let cpu = cpu.zip(cpu_time()).and_then(|(a, b)| b.checked_sub(a));
        Ok(Timing { wall, cpu, phases })
    }

    /// One training step, returning the time of its three phases.
    fn step(&mut self) -> Result<[Duration; 3], Failure> {
        let start = Instant::now();
        let x = self.batch.images.clone().traced(Gradients::leaky());
        let logits = self.network.forward_train(x)?;
        let forward = start.elapsed();

        let loss = cross_entropy_with_logits_loss(logits, self.batch.targets.clone());
        let value = loss.as_vec()[0];
        if !value.is_finite() {
            return Err(format!("the loss became {value}").into());
        }
        let mut grads = loss.backward();
        let backward = start.elapsed() - forward;

        self.optimizer.update(&mut self.network, &mut grads)?;
        drop(grads);
        let update = start.elapsed() - forward - backward;
        Ok([forward, backward, update])
    }

    /// Runs `n` iterations and returns their timings as JSON arrays.
    fn run(&mut self, n: usize) -> Result<Value, Failure> {
        let mut timings = Vec::with_capacity(n);
        for _ in 0..n {
            timings.push(self.iterate()?);
        }
        let secs = |d: Duration| d.as_secs_f64();
        let wall: Vec<f64> = timings.iter().map(|t| secs(t.wall)).collect();
        let cpu: Vec<Option<f64>> = timings.iter().map(|t| t.cpu.map(secs)).collect();
        let mut out = json!({ "times_s": wall, "cpu_s": cpu });
        if self.mode == Mode::Train {
            let phase = |i: usize| -> Vec<f64> {
                timings
                    .iter()
                    .filter_map(|t| t.phases.map(|p| secs(p[i])))
                    .collect()
            };
            out["forward_s"] = json!(phase(0));
            out["backward_s"] = json!(phase(1));
            out["update_s"] = json!(phase(2));
        }
        Ok(out)
    }
}

/// Processor time of all threads of this process so far, from
/// `/proc/self/task/*/schedstat`, whose first field is nanoseconds on the
/// CPU; `None` off Linux.
fn cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread may end between listing and reading; it then counts
        // for nothing rather than spoiling the reading.
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(Duration::from_nanos(total))
}

/// The peak resident memory of this process in KiB (`VmHWM` of
/// `/proc/self/status`), `None` off Linux.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

/// Answers `N` lines on stdin with N timed iterations each.
fn serve(bench: &mut Bench) -> Result<(), Failure> {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "quit" {
            break;
        }
        let n: usize = line
            .parse()
            .map_err(|_| format!("expected a number of iterations or quit, got {line:?}"))?;
        let answer = bench.run(n)?;
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    Ok(())
}

fn main() -> Result<(), Failure> {
    // As the `resnet` command does: reuse freed memory between steps.
    resnet_core::alloc::keep_freed_memory();
    let args = parse_args()?;
    if args.plan {
        let spec = Spec::from_toml_file(&args.config)?;
        println!("{}", serde_json::to_string(&spec.plan()?)?);
        return Ok(());
    }

    let start = Instant::now();
    let mut bench = Bench::new(&args)?;
    let build_s = start.elapsed().as_secs_f64();
    if args.profile {
        let report = profile::run(
            &args.config,
            args.mode,
            &bench.batch,
            args.warmup,
            args.iters,
        )?;
        println!("{report}");
        return Ok(());
    }

    let warmup = bench.run(args.warmup)?;
    let header = json!({
        "config": args.config,
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "batch": args.batch,
        "threads": rayon::current_num_threads(),
        "build_s": build_s,
        "warmup_s": warmup["times_s"],
    });
    if args.serve {
        println!("{}", json!({ "ready": header }));
        std::io::stdout().flush()?;
        return serve(&mut bench);
    }

    let mut report = bench.run(args.iters)?;
    let times: Vec<f64> = serde_json::from_value(report["times_s"].clone())?;
    let median_s = median(&times);
    report["median_s"] = json!(median_s);
    report["images_per_s"] = json!(median_s.map(|m| args.batch as f64 / m));
    report["peak_rss_kib"] = json!(peak_rss_kib());
    for (key, value) in header.as_object().into_iter().flatten() {
        report[key] = value.clone();
    }
    println!("{report}");
    Ok(())
}
