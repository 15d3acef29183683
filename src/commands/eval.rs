//! `resnet eval`: accuracy, per-class accuracy and the confusion matrix of
//! a trained model on a test set.

use anyhow::{bail, Result};
use resnet::core::train::{evaluate, Evaluation};

use resnet::core::ops::Backend;

use super::{load_model, on_device, OnDevice};
use crate::cli::EvalArgs;
use crate::metrics::Metrics;
use crate::{data, defaults};

/// Runs `resnet eval`.
///
/// Errors: a model folder without a loadable checkpoint, data that cannot
/// be loaded or whose input size or classes differ from the model's.
pub fn run(args: EvalArgs) -> Result<()> {
    on_device(args.device, args)
}

impl OnDevice for EvalArgs {
    fn run<D: Backend<f32>>(self, device: D) -> Result<()> {
        eval(self, device)
    }
}

fn eval<D: Backend<f32>>(args: EvalArgs, device: D) -> Result<()> {
    let (network, info) = load_model(&args.model, &device)?;
    let metrics = match Metrics::read_if_present(&args.model) {
        Ok(metrics) => metrics,
        Err(error) => {
            log::warn!("{error:#}; using the default seed and batch size");
            None
        }
    };

    // Without --data, the data the model was trained on. A folder without
    // train/ and test/ must be split with the training run's seed, or the
    // "test" images would include training images.
    let folder = args
        .data
        .clone()
        .or_else(|| metrics.as_ref().and_then(|m| m.data.clone()));
    let seed = args
        .seed
        .or(metrics.as_ref().map(|m| m.options.seed))
        .unwrap_or(defaults::SEED);
    let split = data::load(folder.as_deref(), &info.spec, seed)?;
    if split.test.class_names != info.class_names {
        bail!(
            "the model in {} was trained on classes [{}] but {} has [{}]",
            args.model.display(),
            data::short_list(&info.class_names),
            data::describe(folder.as_deref()),
            data::short_list(&split.test.class_names)
        );
    }

    // The batch size the training loop evaluated with, so both agree.
    let batch_size = metrics
        .as_ref()
        .map_or(defaults::EVAL_BATCH_SIZE, |m| m.options.batch_size)
        .max(defaults::EVAL_BATCH_SIZE);
    let evaluation = evaluate(&network, &split.test, batch_size)?;

    let correct: usize = (0..info.class_names.len())
        .map(|c| evaluation.confusion[c][c])
        .sum();
    println!(
        "accuracy {:.2}% ({correct} of {} test images of {})",
        100.0 * evaluation.accuracy,
        evaluation.images,
        data::describe(folder.as_deref())
    );
    println!("loss {:.4}", evaluation.loss);
    println!();
    print!("{}", per_class_table(&info.class_names, &evaluation));
    println!();
    print!("{}", confusion_table(&info.class_names, &evaluation));
    Ok(())
}

/// Class, image count and accuracy, one row per class ("-" for a class
/// without test images).
fn per_class_table(names: &[String], evaluation: &Evaluation) -> String {
    let mut rows = vec![[
        "class".to_string(),
        "images".to_string(),
        "accuracy".to_string(),
    ]];
    for (c, name) in names.iter().enumerate() {
        let images: usize = evaluation.confusion[c].iter().sum();
        let accuracy = evaluation.per_class[c];
        let accuracy = if accuracy.is_finite() {
            format!("{:.2}%", 100.0 * accuracy)
        } else {
            "-".to_string()
        };
        rows.push([name.clone(), images.to_string(), accuracy]);
    }
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    format!("per-class accuracy:\n{}", table(&rows))
}

/// Counts of true class (rows) against predicted class (columns).
fn confusion_table(names: &[String], evaluation: &Evaluation) -> String {
    let mut header = vec!["true \\ predicted".to_string()];
    header.extend(names.iter().cloned());
    let mut rows = vec![header];
    for (name, counts) in names.iter().zip(&evaluation.confusion) {
        let mut row = vec![name.clone()];
        row.extend(counts.iter().map(|n| n.to_string()));
        rows.push(row);
    }
    format!(
        "confusion matrix (rows: true class, columns: predicted class):\n{}",
        table(&rows)
    )
}

/// Rows of cells as aligned text: the first column left-aligned, the
/// others right-aligned, two spaces apart, each line indented by two.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &width))| {
                if i == 0 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        out.push_str("  ");
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
