//! Folder data sets: `DIR/<class name>/*.png|jpg|jpeg`, optionally split into
//! DIR/train and DIR/test.

use std::fs;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

use super::dataset::{Dataset, Split};
use super::error::DataError;
use super::image_file::{read_fitted, FitReport, InputSize};

/// File extensions taken as images, compared without case.
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// One class folder: its name and its image files, sorted by path.
struct ClassFiles {
    name: String,
    files: Vec<PathBuf>,
}

/// Loads a folder data set, every image fitted to `input`
/// (`[height, width, channels]`).
///
/// The class names are the sub-folder names of `dir`, sorted; each class
/// folder's `*.png`, `*.jpg` and `*.jpeg` files (any case, not recursive)
/// are its images, other files and hidden folders are ignored. If
/// `dir/train` and `dir/test` both exist, they are the split and must hold
/// the same class folders; otherwise a `holdout` fraction of each class,
/// `round(holdout * n)` images picked by a generator seeded with `seed`, goes
/// to the test set. A class may end up with no test or no training image as
/// long as neither set is empty.
///
/// Images of another size are resized with a triangle filter and converted
/// to the channel count (1 = BT.601 luma, 3 = RGB, 4 = RGBA; alpha dropped
/// or set opaque), with one info log line saying how many and from what.
/// Unreadable files are skipped with one warning each and a count.
///
/// Errors: an unusable input size or channel count, `holdout` outside
/// (0, 1) (checked even when train/ and test/ exist), a missing or
/// unreadable folder, no class folders, a class without image files or
/// without readable ones, no readable image at all, train/ and test/ with
/// different classes, or only one of them.
pub fn load_folder(
    dir: &Path,
    input: [usize; 3],
    holdout: f64,
    seed: u64,
) -> Result<Split, DataError> {
    let input = InputSize::new(input)?;
    if !(holdout > 0.0 && holdout < 1.0) {
        return Err(DataError::Holdout(holdout));
    }
    if !dir.exists() {
        return Err(DataError::MissingFolder(dir.to_path_buf()));
    }
    if !dir.is_dir() {
        return Err(DataError::NotAFolder(dir.to_path_buf()));
    }

    let (train_dir, test_dir) = (dir.join("train"), dir.join("test"));
    let mut report = FitReport::default();
    let split = match (train_dir.is_dir(), test_dir.is_dir()) {
        (true, true) => {
            let train_classes = list_classes(&train_dir)?;
            let test_classes = list_classes(&test_dir)?;
            same_classes(dir, &train_classes, &test_classes)?;
            Split {
                train: read_images(&train_dir, &train_classes, input, &mut report)?,
                test: read_images(&test_dir, &test_classes, input, &mut report)?,
            }
        }
        (false, false) => {
            let classes = list_classes(dir)?;
            let all = read_images(dir, &classes, input, &mut report)?;
            hold_out(dir, all, holdout, seed)?
        }
        (true, false) => return Err(half_split(dir, "train", "test")),
        (false, true) => return Err(half_split(dir, "test", "train")),
    };

    report.log(dir, input);
    Ok(split)
}

/// Lists the class folders of `dir` and their image files, sorted by name.
fn list_classes(dir: &Path) -> Result<Vec<ClassFiles>, DataError> {
    let mut classes = Vec::new();
    for entry in read_dir(dir)? {
        let Some(name) = entry.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if entry.is_dir() && !name.starts_with('.') {
            classes.push(ClassFiles {
                name,
                files: Vec::new(),
            });
        }
    }
    if classes.is_empty() {
        return Err(DataError::NoClasses(dir.to_path_buf()));
    }
    classes.sort_by(|a, b| a.name.cmp(&b.name));

    for class in &mut classes {
        class.files = read_dir(&dir.join(&class.name))?
            .into_iter()
            .filter(|path| path.is_file() && is_image_name(path))
            .collect();
        class.files.sort();
        if class.files.is_empty() {
            return Err(DataError::EmptyClass {
                path: dir.to_path_buf(),
                class: class.name.clone(),
            });
        }
    }
    Ok(classes)
}

/// The paths in `dir`, unsorted.
fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let failed = |e: std::io::Error| DataError::ReadFolder {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    };
    fs::read_dir(dir)
        .map_err(failed)?
        .map(|entry| entry.map(|e| e.path()).map_err(failed))
        .collect()
}

/// Whether a file name ends in one of [`EXTENSIONS`], in any case.
fn is_image_name(path: &Path) -> bool {
    let extension = path.extension().and_then(|e| e.to_str());
    extension.is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Checks that train/ and test/ hold the same class names.
fn same_classes(dir: &Path, train: &[ClassFiles], test: &[ClassFiles]) -> Result<(), DataError> {
    let missing_from = |from: &[ClassFiles], other: &[ClassFiles]| -> Vec<String> {
        let names: Vec<&String> = other.iter().map(|c| &c.name).collect();
        from.iter()
            .map(|c| c.name.clone())
            .filter(|name| !names.contains(&name))
            .collect()
    };

    let only_train = missing_from(train, test);
    let only_test = missing_from(test, train);
    if only_train.is_empty() && only_test.is_empty() {
        return Ok(());
    }
    Err(DataError::SplitClasses {
        path: dir.to_path_buf(),
        only_train,
        only_test,
    })
}

/// Decodes and fits every image of `classes` in parallel, skipping (with a
/// warning each) the ones that fail.
fn read_images(
    dir: &Path,
    classes: &[ClassFiles],
    input: InputSize,
    report: &mut FitReport,
) -> Result<Dataset, DataError> {
    let files: Vec<(usize, &PathBuf)> = classes
        .iter()
        .enumerate()
        .flat_map(|(label, class)| class.files.iter().map(move |path| (label, path)))
        .collect();
    let decoded: Vec<_> = files
        .par_iter()
        .map(|&(label, path)| (label, path, read_fitted(path, input)))
        .collect();

    let mut set = Dataset {
        height: input.height as usize,
        width: input.width as usize,
        channels: input.channels,
        class_names: classes.iter().map(|c| c.name.clone()).collect(),
        images: Vec::with_capacity(files.len() * input.image_len()),
        labels: Vec::with_capacity(files.len()),
    };
    let mut unreadable = vec![0; classes.len()];
    for (label, path, result) in decoded {
        match result {
            Ok(fitted) => {
                report.add(&fitted);
                set.images.extend_from_slice(&fitted.pixels);
                set.labels.push(label);
            }
            Err(reason) => {
                log::warn!("skipping unreadable image {}: {reason}", path.display());
                unreadable[label] += 1;
            }
        }
    }

    check_readable(dir, &set, &unreadable)?;
    Ok(set)
}

/// Fails if no image, or no image of some class, could be read; otherwise
/// warns with the number of skipped files.
fn check_readable(dir: &Path, set: &Dataset, unreadable: &[usize]) -> Result<(), DataError> {
    let skipped: usize = unreadable.iter().sum();
    if set.is_empty() {
        return Err(DataError::NoReadableImages {
            path: dir.to_path_buf(),
            unreadable: skipped,
        });
    }

    let counts = set.class_counts();
    if let Some(label) = counts.iter().position(|&n| n == 0) {
        return Err(DataError::UnreadableClass {
            path: dir.to_path_buf(),
            class: set.class_names[label].clone(),
            unreadable: unreadable[label],
        });
    }

    if skipped > 0 {
        log::warn!(
            "skipped {skipped} unreadable image(s) in {}; kept {}",
            dir.display(),
            set.len()
        );
    }
    Ok(())
}

/// Moves `round(holdout * n)` images of each class, picked by a generator
/// seeded with `seed`, into the test set; both sets keep file order.
fn hold_out(dir: &Path, all: Dataset, holdout: f64, seed: u64) -> Result<Split, DataError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut in_test = vec![false; all.len()];
    let mut by_class = vec![Vec::new(); all.class_names.len()];
    for (i, &label) in all.labels.iter().enumerate() {
        by_class[label].push(i);
    }

    for members in &mut by_class {
        members.shuffle(&mut rng);
        let n_test = (holdout * members.len() as f64).round() as usize;
        for &i in &members[..n_test.min(members.len())] {
            in_test[i] = true;
        }
    }

    let pick =
        |test: bool| -> Vec<usize> { (0..all.len()).filter(|&i| in_test[i] == test).collect() };
    let (train, test) = (pick(false), pick(true));
    for (part, indices) in [("training", &train), ("test", &test)] {
        if indices.is_empty() {
            return Err(DataError::EmptyPart {
                path: dir.to_path_buf(),
                holdout,
                part,
                total: all.len(),
            });
        }
    }

    Ok(Split {
        train: subset(&all, &train),
        test: subset(&all, &test),
    })
}

/// A copy of the images at `indices`, in that order.
fn subset(all: &Dataset, indices: &[usize]) -> Dataset {
    let mut images = Vec::with_capacity(indices.len() * all.image_len());
    for &i in indices {
        images.extend_from_slice(all.image(i));
    }
    Dataset {
        images,
        labels: indices.iter().map(|&i| all.labels[i]).collect(),
        class_names: all.class_names.clone(),
        ..*all
    }
}

/// The error for a data folder with only one of train/ and test/.
fn half_split(dir: &Path, present: &'static str, missing: &'static str) -> DataError {
    DataError::HalfSplit {
        path: dir.to_path_buf(),
        present,
        missing,
    }
}
