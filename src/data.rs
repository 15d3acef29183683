//! Picking the data set a command runs on: the shipped MNIST digits or a
//! folder of images, checked against the spec it must feed.

use std::path::Path;

use anyhow::{bail, Context, Result};
use resnet::core::data::{load_folder, mnist_digits, Split};
use resnet::core::spec::Spec;

use crate::defaults;

/// The input size of the shipped digits: `[height, width, channels]`.
const DIGITS_INPUT: [usize; 3] = [28, 28, 1];

/// Where a data set came from, for logs and metrics.json.
pub fn describe(folder: Option<&Path>) -> String {
    match folder {
        Some(dir) => dir.display().to_string(),
        None => "the shipped MNIST digits".to_string(),
    }
}

/// Loads `folder` (holding out [`defaults::HOLDOUT`] of each class with
/// `seed` when it has no train/ and test/) or, without one, the shipped
/// digits, and checks that the images and classes fit `spec`.
///
/// Errors: the data crate's (missing or empty folder, a class without
/// readable images, ...), the digits with a spec whose input is not
/// 28 x 28 x 1, and a class count other than the spec's.
pub fn load(folder: Option<&Path>, spec: &Spec, seed: u64) -> Result<Split> {
    let split = match folder {
        Some(dir) => load_folder(dir, spec.input, defaults::HOLDOUT, seed)?,
        None => {
            if spec.input != DIGITS_INPUT {
                let [h, w, c] = spec.input;
                bail!(
                    "the network takes {h} x {w} x {c} images but the shipped digits are 28 x \
                     28 x 1; pass --data DIR with images for it"
                );
            }
            mnist_digits().context("loading the shipped digits")?
        }
    };

    let found = split.train.class_names.len();
    if found != spec.classes {
        bail!(
            "the network has {} classes but {} holds {found} ({}); the network's classes \
             must match the data",
            spec.classes,
            describe(folder),
            short_list(&split.train.class_names)
        );
    }
    log::info!(
        "loaded {}: {} training and {} test images of {found} class{}",
        describe(folder),
        split.train.len(),
        split.test.len(),
        if found == 1 { "" } else { "es" }
    );
    Ok(split)
}

/// Up to eight names, then how many more.
pub fn short_list(names: &[String]) -> String {
    const SHOWN: usize = 8;
    if names.len() <= SHOWN {
        return names.join(", ");
    }
    format!(
        "{}, ... ({} more)",
        names[..SHOWN].join(", "),
        names.len() - SHOWN
    )
}
