//! `resnet predict`: the most likely classes of each image.

use anyhow::{Context, Result};
use resnet::core::data::load_image;

use resnet::core::ops::Backend;

use super::{load_model, on_device, OnDevice};
use crate::cli::PredictArgs;

/// How many classes to list per image at most.
const TOP: usize = 5;

/// Runs `resnet predict`: for each image, up to five classes with their
/// probabilities, most likely first.
///
/// Errors: a model folder without a loadable checkpoint, or an image that
/// cannot be read.
pub fn run(args: PredictArgs) -> Result<()> {
    on_device(args.device, args)
}

impl OnDevice for PredictArgs {
    fn run<D: Backend<f32>>(self, device: D) -> Result<()> {
        predict(self, device)
    }
}

fn predict<D: Backend<f32>>(args: PredictArgs, device: D) -> Result<()> {
    let (network, info) = load_model(&args.model, &device)?;
    let [height, width, channels] = info.spec.input;

    for path in &args.images {
        let pixels = load_image(path, info.spec.input)?;
        let values: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        let image = device.tensor_from_vec(values, (1, channels, height, width));
        let probabilities = network
            .predict(image)
            .with_context(|| format!("predicting {}", path.display()))?
            .as_vec();

        let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let width = info
            .class_names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0);
        println!("{}:", path.display());
        for (class, probability) in ranked.into_iter().take(TOP) {
            let name = info.class_names.get(class).map_or("?", String::as_str);
            println!("  {name:<width$}  {probability:.6}");
        }
    }
    Ok(())
}
