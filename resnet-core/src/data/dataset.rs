//! The in-memory data set every loader produces.

/// A labelled set of images of one size.
///
/// Images are u8 in CHW order (channel planes, each row by row), stored one
/// after another in `images`; `labels[i]` indexes into `class_names`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Channels per pixel: 1 (luma), 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    /// The class names, in the order the labels count them.
    pub class_names: Vec<String>,
    /// All pixels, `len() * channels * height * width` values.
    pub images: Vec<u8>,
    /// One class index per image.
    pub labels: Vec<usize>,
}

/// A training set and a test set with the same classes and image size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The images the network learns from.
    pub train: Dataset,
    /// The held-out images the accuracy is measured on.
    pub test: Dataset,
}

impl Dataset {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The number of u8 values in one image: channels x height x width.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The pixels of image `i` in CHW order.
    ///
    /// Panics if `i >= self.len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Fills `out` with the images at `indices`, one after another in CHW
    /// order, as f32 scaled from 0..255 to `[0, 1]`.
    ///
    /// `out` is cleared first and ends with `indices.len() * c * h * w`
    /// values; reusing one vector across batches avoids reallocating it.
    /// Panics if an index is out of range, like slice indexing.
    pub fn batch_f32(&self, indices: &[usize], out: &mut Vec<f32>) {
        out.clear();
        out.reserve(indices.len() * self.image_len());
        for &i in indices {
            out.extend(self.image(i).iter().map(|&v| f32::from(v) / 255.0));
        }
    }

    /// How many images each class has, indexed like `class_names`.
    ///
    /// Panics if a label is not below `class_names.len()`; the loaders never
    /// build such a set.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        for &label in &self.labels {
            counts[label] += 1;
        }
        counts
    }
}
