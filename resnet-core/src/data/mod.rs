//! Image data sets: the MNIST digits shipped with the crate and folders of
//! PNG or JPEG files as users keep them.
//!
//! Every loader returns a [`Split`] of two [`Dataset`]s whose images are u8
//! pixels in CHW order at the size the network expects, so training,
//! evaluation and prediction share one layout. Scaling to `[0, 1]` happens
//! per batch ([`Dataset::batch_f32`]); input normalization (zerocenter,
//! zscore) is the training code's business, not the loader's.

mod dataset;
mod error;
mod folder;
mod image_file;
mod mnist;

pub use dataset::{Dataset, Split};
pub use error::DataError;
pub use folder::load_folder;
pub use image_file::load_image;
pub use mnist::mnist_digits;
