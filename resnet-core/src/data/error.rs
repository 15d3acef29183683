//! What can go wrong while loading images.

use std::path::PathBuf;

/// A data set or image that could not be loaded. Every message is one line
/// that names the path or value and says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data folder is not there.
    #[error("data folder {} does not exist", .0.display())]
    MissingFolder(PathBuf),

    /// The data folder path names a file or something else.
    #[error("data folder {} is not a folder (expected DIR/<class name>/*.png|jpg|jpeg)",
        .0.display())]
    NotAFolder(PathBuf),

    /// Listing a folder failed (permissions, I/O).
    #[error("cannot read folder {}: {reason}", path.display())]
    ReadFolder {
        /// The folder being listed.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },

    /// The data folder holds no sub-folder to take class names from.
    #[error("data folder {} has no class sub-folders \
        (expected DIR/<class name>/*.png|jpg|jpeg)", .0.display())]
    NoClasses(PathBuf),

    /// Only one of DIR/train and DIR/test exists.
    #[error("data folder {} has a '{present}' sub-folder but no '{missing}' one \
        (expected both train/ and test/, or neither for a holdout split)", path.display())]
    HalfSplit {
        /// The data folder.
        path: PathBuf,
        /// The split folder that exists.
        present: &'static str,
        /// The split folder that does not.
        missing: &'static str,
    },

    /// DIR/train and DIR/test hold different class folders.
    #[error("{}/train and {}/test have different classes: only in train: [{}]; \
        only in test: [{}]", path.display(), path.display(), only_train.join(", "),
        only_test.join(", "))]
    SplitClasses {
        /// The data folder.
        path: PathBuf,
        /// Classes found in train/ only.
        only_train: Vec<String>,
        /// Classes found in test/ only.
        only_test: Vec<String>,
    },

    /// A class folder holds no PNG or JPEG file.
    #[error("class '{class}' in {} has no images (expected *.png|jpg|jpeg files)",
        path.display())]
    EmptyClass {
        /// The folder holding the class folders.
        path: PathBuf,
        /// The class name.
        class: String,
    },

    /// Every image file of a class failed to decode.
    #[error("class '{class}' in {} has no readable images ({unreadable} unreadable)",
        path.display())]
    UnreadableClass {
        /// The folder holding the class folders.
        path: PathBuf,
        /// The class name.
        class: String,
        /// How many of its files failed to decode.
        unreadable: usize,
    },

    /// Every image file of the data set failed to decode.
    #[error("no readable images left in {} ({unreadable} unreadable)", path.display())]
    NoReadableImages {
        /// The folder holding the class folders.
        path: PathBuf,
        /// How many files failed to decode.
        unreadable: usize,
    },

    /// The holdout fraction is not strictly between 0 and 1.
    #[error(
        "holdout fraction {0} is outside (0, 1) (expected e.g. 0.2 to test on 20% \
        of each class)"
    )]
    Holdout(f64),

    /// The holdout left the training or the test set without images.
    #[error("holdout fraction {holdout} leaves no {part} images from the {total} in {} \
        (expected a fraction that leaves both sets non-empty, or DIR/train and DIR/test)",
        path.display())]
    EmptyPart {
        /// The data folder.
        path: PathBuf,
        /// The holdout fraction.
        holdout: f64,
        /// "training" or "test".
        part: &'static str,
        /// How many readable images the folder has.
        total: usize,
    },

    /// The input size asks for a channel count images cannot be turned into.
    #[error(
        "input channel count {0} is not supported for images \
        (expected 1 = luma, 3 = RGB or 4 = RGBA)"
    )]
    Channels(usize),

    /// The input size has a zero or too large height or width.
    #[error(
        "input size {height} x {width} is not a usable image size \
        (expected 1 to {} pixels per side)",
        u32::MAX
    )]
    Size {
        /// The requested height.
        height: usize,
        /// The requested width.
        width: usize,
    },

    /// A single image could not be opened or decoded.
    #[error("cannot read image {}: {reason} (expected a PNG or JPEG file)", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's or operating system's reason.
        reason: String,
    },

    /// The MNIST digits embedded in the binary do not parse; only a damaged
    /// build can cause this.
    #[error(
        "the shipped MNIST digits are damaged: {0} \
        (expected resnet-core/data/mnist/digits.bin.gz as convert.py writes it)"
    )]
    Embedded(String),
}
