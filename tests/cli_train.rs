//! `resnet train`, `eval` and `predict` on a tiny config and a tiny
//! generated image folder: the files train writes, and eval and predict
//! agreeing with the accuracy train reported.

mod cli_support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cli_support::{arg, number_after, resnet, write_dataset, write_tiny_config, CLASSES};
use serde_json::Value;

/// Training images per class, test images per class, batch size, epochs.
const TRAIN_PER_CLASS: usize = 16;
const TEST_PER_CLASS: usize = 4;
const BATCH: &str = "8";
const EPOCHS: usize = 3;

/// One training run shared by the tests of this file.
struct Trained {
    root: PathBuf,
    data: PathBuf,
    out: PathBuf,
    stdout: String,
    stderr: String,
}

/// A fresh folder under the target dir (kept for inspection).
fn scratch() -> PathBuf {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    dir.keep()
}

fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let root = scratch();
        let config = write_tiny_config(&root);
        let data = write_dataset(&root.join("shapes"), TRAIN_PER_CLASS, TEST_PER_CLASS);
        let out = root.join("run");
        let epochs = EPOCHS.to_string();
        let run = resnet(
            &root,
            &[
                "train",
                "--config",
                arg(&config),
                "--data",
                arg(&data),
                "--epochs",
                &epochs,
                "--batch-size",
                BATCH,
                "--out",
                arg(&out),
            ],
        )
        .ok();
        Trained {
            root,
            data,
            out,
            stdout: run.stdout,
            stderr: run.stderr,
        }
    })
}

fn read_metrics(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("metrics.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn train_writes_checkpoint_metrics_and_plot() {
    let t = trained();
    assert!(t.out.join("model.safetensors").is_file());

    let metrics = read_metrics(&t.out);
    assert_eq!(metrics["config"], "tiny");
    let epochs = metrics["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), EPOCHS);
    for (i, epoch) in epochs.iter().enumerate() {
        assert_eq!(epoch["epoch"].as_u64(), Some(i as u64 + 1));
        for key in ["train_loss", "test_loss", "train_accuracy", "test_accuracy"] {
            let value = epoch[key].as_f64().unwrap();
            assert!(value.is_finite() && value >= 0.0, "{key} = {value}");
        }
    }
    let final_accuracy = metrics["test_accuracy"].as_f64().unwrap();
    assert_eq!(
        final_accuracy,
        epochs[EPOCHS - 1]["test_accuracy"].as_f64().unwrap()
    );
    assert!(metrics["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(metrics["spec"]["input"], serde_json::json!([8, 8, 1]));
    assert_eq!(metrics["class_names"], serde_json::json!(CLASSES));

    // The stripes and checkerboards are easy: the loss must fall from the
    // first epoch to the last (chance level is ln 3 = 1.0986).
    let first = epochs[0]["train_loss"].as_f64().unwrap();
    let last = epochs[EPOCHS - 1]["train_loss"].as_f64().unwrap();
    assert!(last < first, "training loss went from {first} to {last}");

    let plot = image::open(t.out.join("training.png")).unwrap().to_rgb8();
    assert_eq!(plot.dimensions(), (1000, 420));
    let colours: std::collections::HashSet<_> = plot.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() > 10,
        "the plot has only {} colours",
        colours.len()
    );
}

#[test]
fn train_prints_accuracy_time_and_folder() {
    let t = trained();
    let metrics = read_metrics(&t.out);
    let printed = number_after(&t.stdout, "test accuracy ");
    let expected = 100.0 * metrics["test_accuracy"].as_f64().unwrap();
    assert!(
        (printed - expected).abs() < 0.006,
        "printed {printed}, metrics.json {expected}"
    );
    assert!(t
        .stdout
        .contains(&format!("of {} test images", 3 * TEST_PER_CLASS)));
    assert!(t.stdout.contains("time "), "{}", t.stdout);
    assert!(t.stdout.contains(arg(&t.out)), "{}", t.stdout);
}

#[test]
fn train_logs_plain_lines_when_not_on_a_terminal() {
    let t = trained();
    // 48 images in batches of 8: 6 batches, logged at 2, 3 and 5 of 6 (each
    // quarter reached), then one summary line per epoch.
    for epoch in 1..=EPOCHS {
        let head = format!("epoch {epoch}/{EPOCHS}: ");
        for batch in [2, 3, 5] {
            let line = format!("{head}batch {batch}/6, loss ");
            assert!(t.stderr.contains(&line), "'{line}' missing:\n{}", t.stderr);
        }
        assert!(t.stderr.contains(&format!("{head}loss ")), "{}", t.stderr);
    }
    assert!(
        !t.stderr.contains('\r'),
        "a progress bar was drawn:\n{}",
        t.stderr
    );
}

#[test]
fn eval_reports_the_accuracy_train_wrote() {
    let t = trained();
    let run = resnet(
        &t.root,
        &["eval", "--model", arg(&t.out), "--data", arg(&t.data)],
    )
    .ok();
    let metrics = read_metrics(&t.out);
    let accuracy = metrics["test_accuracy"].as_f64().unwrap();

    let images = 3 * TEST_PER_CLASS;
    let correct = number_after(&run.stdout, "% (") as usize;
    assert!(run
        .stdout
        .contains(&format!("({correct} of {images} test images")));
    assert_eq!(correct as f64 / images as f64, accuracy);

    // Each confusion row counts one class's test images: 4 each.
    let matrix = run.stdout.split("confusion matrix").nth(1).unwrap();
    for class in CLASSES {
        let row = matrix
            .lines()
            .find(|l| l.trim_start().starts_with(class))
            .unwrap();
        let counts: Vec<usize> = row
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(counts.len(), CLASSES.len(), "{row}");
        assert_eq!(counts.iter().sum::<usize>(), TEST_PER_CLASS, "{row}");
    }
    assert!(run.stdout.contains("per-class accuracy"));
}

/// The (class, probability) lines predict printed for each image.
fn parse_predictions(stdout: &str) -> Vec<(String, Vec<(String, f64)>)> {
    let mut images = Vec::new();
    for line in stdout.lines() {
        if let Some(path) = line.strip_suffix(':') {
            images.push((path.to_string(), Vec::new()));
        } else if let Some((_, rows)) = images.last_mut() {
            let mut parts = line.split_whitespace();
            let name = parts.next().unwrap().to_string();
            rows.push((name, parts.next().unwrap().parse().unwrap()));
        }
    }
    images
}

#[test]
fn predict_agrees_with_eval() {
    let t = trained();
    let mut paths = Vec::new();
    for class in CLASSES {
        for i in 0..TEST_PER_CLASS {
            paths.push(t.data.join("test").join(class).join(format!("{i:03}.png")));
        }
    }
    let mut args = vec!["predict", "--model", arg(&t.out)];
    args.extend(paths.iter().map(|p| arg(p)));
    let run = resnet(&t.root, &args).ok();

    let predictions = parse_predictions(&run.stdout);
    assert_eq!(predictions.len(), paths.len());
    let mut correct = 0;
    for ((path, rows), expected) in predictions.iter().zip(&paths) {
        assert_eq!(path, arg(expected));
        assert_eq!(rows.len(), CLASSES.len(), "3 classes give 3 rows, not 5");
        let sum: f64 = rows.iter().map(|r| r.1).sum();
        assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
        assert!(
            rows.windows(2).all(|w| w[0].1 >= w[1].1),
            "not sorted: {rows:?}"
        );
        let true_class = expected
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        correct += usize::from(rows[0].0 == true_class);
    }

    let metrics = read_metrics(&t.out);
    let accuracy = metrics["test_accuracy"].as_f64().unwrap();
    assert_eq!(correct as f64 / paths.len() as f64, accuracy);
}

#[test]
fn predict_resizes_other_images() {
    let t = trained();
    let digits = resnet::core::data::mnist_digits().unwrap();
    let dir = t.root.join("digits");
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    for i in 0..2 {
        let pixels = digits.test.image(i).to_vec();
        let png = dir.join(format!("digit{i}.png"));
        image::GrayImage::from_raw(28, 28, pixels)
            .unwrap()
            .save(&png)
            .unwrap();
        paths.push(png);
    }
    let run = resnet(
        &t.root,
        &[
            "predict",
            "--model",
            arg(&t.out),
            arg(&paths[0]),
            arg(&paths[1]),
        ],
    )
    .ok();
    assert!(run.stderr.contains("resized"), "{}", run.stderr);
    for (_, rows) in parse_predictions(&run.stdout) {
        let sum: f64 = rows.iter().map(|r| r.1).sum();
        assert_eq!(rows.len(), 3);
        assert!((sum - 1.0).abs() < 1e-4, "probabilities sum to {sum}");
    }
}

#[test]
fn eval_of_a_model_for_other_images_fails() {
    let t = trained();
    // Without --data, eval tests on the data the model was trained on.
    let run = resnet(&t.root, &["eval", "--model", arg(&t.out)]).ok();
    assert!(run
        .stdout
        .contains(&format!("of {} test images", 3 * TEST_PER_CLASS)));

    // A bare checkpoint (no metrics.json) falls back to the shipped digits,
    // which do not fit a network for 8 x 8 images.
    let bare = t.root.join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::copy(
        t.out.join("model.safetensors"),
        bare.join("model.safetensors"),
    )
    .unwrap();
    let run = resnet(&t.root, &["eval", "--model", arg(&bare)]);
    run.fails_with(&["8 x 8 x 1", "shipped digits are 28 x 28 x 1", "--data"]);

    let other = cli_support::write_flat_dataset(&t.root.join("other"), &["x", "y", "z"], 5);
    let run = resnet(
        &t.root,
        &["eval", "--model", arg(&t.out), "--data", arg(&other)],
    );
    run.fails_with(&[
        "trained on classes [checker, horizontal, vertical]",
        "[x, y, z]",
    ]);
}

#[test]
fn resume_with_another_config_fails() {
    let t = trained();
    let run = resnet(
        &t.root,
        &[
            "train",
            "--config",
            "mnist",
            "--resume",
            "--out",
            arg(&t.out),
            "--epochs",
            "9",
        ],
    );
    run.fails_with(&[
        "--config mnist describes another network",
        "leave out --config",
    ]);
}

#[test]
fn resume_continues_and_a_nan_loss_keeps_the_last_checkpoint() {
    let root = scratch();
    let config = write_tiny_config(&root);
    let data = write_dataset(&root.join("shapes"), TRAIN_PER_CLASS, TEST_PER_CLASS);
    let out = root.join("run");
    let common = [
        "--data",
        arg(&data),
        "--batch-size",
        BATCH,
        "--out",
        arg(&out),
        "--quiet",
    ];

    let mut args = vec!["train", "--config", arg(&config), "--epochs", "1"];
    args.extend(common);
    resnet(&root, &args).ok();
    let first = read_metrics(&out)["epochs"][0].clone();

    // --resume takes the config and options from the run folder.
    let run = resnet(
        &root,
        &["train", "--resume", "--out", arg(&out), "--epochs", "2"],
    )
    .ok();
    assert!(run.stderr.contains("resuming"), "{}", run.stderr);
    let metrics = read_metrics(&out);
    let epochs = metrics["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    assert_eq!(epochs[0], first, "the history of epoch 1 changed");
    assert_eq!(epochs[1]["epoch"], 2);
    assert_eq!(metrics["options"]["epochs"], 2);
    assert_eq!(metrics["options"]["batch_size"], 8);

    // Nothing left to train.
    let run = resnet(
        &root,
        &["train", "--resume", "--out", arg(&out), "--epochs", "2"],
    );
    run.fails_with(&["already trained 2 of --epochs 2", "--epochs"]);

    // A learning rate of 1e38 overflows f32 at once.
    let checkpoint = std::fs::read(out.join("model.safetensors")).unwrap();
    let run = resnet(
        &root,
        &[
            "train",
            "--resume",
            "--out",
            arg(&out),
            "--epochs",
            "3",
            "--lr",
            "1e38",
        ],
    );
    run.fails_with(&[
        "epoch 3, batch",
        "the last good checkpoint, after epoch 2, is kept in",
    ]);
    assert_eq!(
        std::fs::read(out.join("model.safetensors")).unwrap(),
        checkpoint
    );
    let after = read_metrics(&out);
    assert_eq!(after["epochs"].as_array().unwrap().len(), 2);
    resnet(&root, &["eval", "--model", arg(&out), "--data", arg(&data)]).ok();
}

#[test]
fn train_refuses_to_overwrite_a_run() {
    let t = trained();
    let before = std::fs::read(t.out.join("model.safetensors")).unwrap();
    let run = resnet(
        &t.root,
        &[
            "train",
            "--config",
            "tiny.toml",
            "--data",
            arg(&t.data),
            "--out",
            arg(&t.out),
        ],
    );
    run.fails_with(&["already holds a model.safetensors", "--resume"]);
    assert_eq!(
        std::fs::read(t.out.join("model.safetensors")).unwrap(),
        before
    );
}

/// `resnet train` calls the core's loop once per epoch, with that epoch's
/// rate of the cosine schedule, to save a checkpoint in between; the
/// weights must come out exactly as from one call over all epochs.
#[test]
fn training_one_epoch_per_call_matches_one_call() {
    use dfdx::prelude::Cpu;
    use resnet::core::data::Dataset;
    use resnet::core::optim::{Optimizer, OptimizerConfig};
    use resnet::core::spec::Spec;
    use resnet::core::train::TrainOptions;
    use resnet::core::train::{train, BatchProgress, EpochMetrics, Observer, Schedule};
    use resnet::core::weights::network_tensors;
    use resnet::core::Network;

    struct Quiet;
    impl Observer for Quiet {
        fn batch(&mut self, _: &BatchProgress) {}
        fn epoch(&mut self, _: &EpochMetrics) -> Result<(), resnet::core::Error> {
            Ok(())
        }
    }

    let mut rng = cli_support::Lcg::new(3);
    let mut set = Dataset {
        height: 8,
        width: 8,
        channels: 1,
        class_names: CLASSES.iter().map(|c| c.to_string()).collect(),
        images: Vec::new(),
        labels: Vec::new(),
    };
    for i in 0..24 {
        set.images
            .extend(cli_support::pattern(i % 3, &mut rng).into_raw());
        set.labels.push(i % 3);
    }
    let spec = Spec::from_toml_str(cli_support::TINY_CONFIG, "tiny.toml").unwrap();
    let device = Cpu::default();
    let sgd = OptimizerConfig::Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 5e-4,
    };
    let cosine = Schedule::Cosine {
        base: 0.1,
        floor: 0.01,
    };
    let options = |epochs, schedule| TrainOptions {
        epochs,
        batch_size: 8,
        optimizer: sgd,
        schedule,
        seed: 5,
        max_shift: 2,
    };

    let mut whole = Network::<f32, Cpu>::with_seed(&spec, &device, 5).unwrap();
    let mut optimizer = Optimizer::new(sgd);
    train(
        &mut whole,
        &mut optimizer,
        &set,
        &set,
        &options(3, cosine),
        1,
        &mut Quiet,
    )
    .unwrap();

    let mut stepwise = Network::<f32, Cpu>::with_seed(&spec, &device, 5).unwrap();
    let mut optimizer = Optimizer::new(sgd);
    for epoch in 1..=3 {
        let rate = Schedule::Constant(cosine.lr(epoch - 1, 3));
        let one = options(epoch, rate);
        train(
            &mut stepwise,
            &mut optimizer,
            &set,
            &set,
            &one,
            epoch,
            &mut Quiet,
        )
        .unwrap();
    }

    let (a, b) = (
        network_tensors(&mut whole).unwrap(),
        network_tensors(&mut stepwise).unwrap(),
    );
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, tensor) in &a {
        assert_eq!(tensor.values, b[name].values, "{name} differs");
    }
}

#[test]
fn predict_reports_an_unreadable_image() {
    let t = trained();
    let broken = t.root.join("broken.png");
    std::fs::write(&broken, b"not an image").unwrap();
    let run = resnet(&t.root, &["predict", "--model", arg(&t.out), arg(&broken)]);
    run.fails_with(&["cannot read image", "broken.png"]);
}
