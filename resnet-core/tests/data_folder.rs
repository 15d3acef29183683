//! Folder data sets built from PNG and JPEG files generated in a temp dir.

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use log::{Level, LevelFilter, Log, Metadata, Record};
use resnet_core::data::{load_folder, load_image, Dataset};
use tempfile::TempDir;

/// Every log line the tests' loads wrote; tests pick theirs by temp path.
static LINES: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl Log for Capture {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }
    fn log(&self, record: &Record) {
        let line = record.args().to_string();
        LINES.lock().unwrap().push((record.level(), line));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

fn capture_logs() {
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

fn lines_about(level: Level, path: &Path) -> Vec<String> {
    let path = path.display().to_string();
    let lines = LINES.lock().unwrap();
    lines
        .iter()
        .filter(|(l, line)| *l == level && line.contains(&path))
        .map(|(_, line)| line.clone())
        .collect()
}

/// Saves an image buffer, the format picked from the extension.
fn save<P>(path: &Path, image: &ImageBuffer<P, Vec<P::Subpixel>>)
where
    P: image::PixelWithColorType,
    [P::Subpixel]: image::EncodableLayout,
{
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    image.save(path).unwrap();
}

/// A class folder of `n` 4 x 4 grey PNGs whose pixels all equal base + k.
fn grey_class(dir: &Path, n: u8, base: u8) {
    for k in 0..n {
        let path = dir.join(format!("img{k:02}.png"));
        save(&path, &GrayImage::from_pixel(4, 4, Luma([base + k])));
    }
}

fn error_text(result: Result<impl std::fmt::Debug, resnet_core::data::DataError>) -> String {
    result.unwrap_err().to_string()
}

fn assert_uniform(pixels: &[u8], expected: u8, tolerance: u8, what: &str) {
    for &v in pixels {
        assert!(
            v.abs_diff(expected) <= tolerance,
            "{what}: {v}, expected {expected}"
        );
    }
}

/// train/a: a red 40 x 30 RGB PNG and a grey 28 x 28 PNG; train/b: a blue
/// half-transparent 10 x 12 RGBA PNG and a green 28 x 28 JPEG; test/ holds
/// one grey PNG per class.
fn mixed_folder() -> TempDir {
    let tmp = TempDir::new().unwrap();
    let train = tmp.path().join("train");
    save(
        &train.join("a/1_red.png"),
        &RgbImage::from_pixel(40, 30, Rgb([255, 0, 0])),
    );
    save(
        &train.join("a/2_grey.png"),
        &GrayImage::from_pixel(28, 28, Luma([100])),
    );
    save(
        &train.join("b/1_blue.PNG"),
        &RgbaImage::from_pixel(10, 12, Rgba([0, 0, 255, 128])),
    );
    save(
        &train.join("b/2_green.jpg"),
        &RgbImage::from_pixel(28, 28, Rgb([0, 200, 0])),
    );
    save(
        &tmp.path().join("test/a/t.png"),
        &GrayImage::from_pixel(28, 28, Luma([9])),
    );
    save(
        &tmp.path().join("test/b/t.jpeg"),
        &GrayImage::from_pixel(28, 28, Luma([200])),
    );
    tmp
}

/// BT.601 luma, the weights MATLAB's rgb2gray and PIL use.
fn bt601(r: f64, g: f64, b: f64) -> u8 {
    (0.299 * r + 0.587 * g + 0.114 * b).round() as u8
}

#[test]
fn mixed_sizes_and_colours_become_luma_at_the_input_size() {
    capture_logs();
    let tmp = mixed_folder();

    let split = load_folder(tmp.path(), [28, 28, 1], 0.2, 0).unwrap();
    let train = &split.train;

    assert_eq!(train.class_names, ["a", "b"]);
    assert_eq!(train.labels, [0, 0, 1, 1]);
    assert_eq!(train.images.len(), 4 * 28 * 28);
    assert_eq!(bt601(255.0, 0.0, 0.0), 76);
    assert_uniform(train.image(0), 76, 0, "red");
    assert_uniform(train.image(1), 100, 0, "grey");
    assert_uniform(
        train.image(2),
        bt601(0.0, 0.0, 255.0),
        0,
        "blue, alpha dropped",
    );
    assert_uniform(train.image(3), bt601(0.0, 200.0, 0.0), 3, "green JPEG");
    assert_eq!(split.test.labels, [0, 1]);
    assert_uniform(split.test.image(0), 9, 0, "test grey");
    assert_uniform(split.test.image(1), 200, 2, "test grey JPEG");

    let info = lines_about(Level::Info, tmp.path());
    assert_eq!(info.len(), 1, "{info:?}");
    assert!(
        info[0].contains("resized 2 of 6 images to 28 x 28 (H x W) from 12 x 10, 30 x 40"),
        "{}",
        info[0]
    );
    assert!(
        info[0].contains("converted 3 of 6 images to 1 channel (luma) from 8-bit RGB, 8-bit RGBA"),
        "{}",
        info[0]
    );
}

#[test]
fn colour_inputs_keep_the_colours_in_chw_planes() {
    let tmp = mixed_folder();

    let rgb = load_folder(tmp.path(), [6, 5, 3], 0.2, 0).unwrap().train;
    let rgba = load_folder(tmp.path(), [6, 5, 4], 0.2, 0).unwrap().train;

    assert_eq!((rgb.height, rgb.width, rgb.channels), (6, 5, 3));
    let planes = |set: &Dataset, i: usize| -> Vec<Vec<u8>> {
        set.image(i).chunks(30).map(|p| p.to_vec()).collect()
    };
    let red = planes(&rgb, 0);
    assert_uniform(&red[0], 255, 0, "red R");
    assert_uniform(&red[1], 0, 0, "red G");
    assert_uniform(&red[2], 0, 0, "red B");
    for plane in planes(&rgb, 1) {
        assert_uniform(&plane, 100, 0, "grey as RGB");
    }

    let red = planes(&rgba, 0);
    assert_uniform(&red[3], 255, 0, "RGB made opaque");
    let blue = planes(&rgba, 2);
    assert_uniform(&blue[2], 255, 0, "blue B");
    assert_uniform(&blue[3], 128, 0, "alpha kept");
}

#[test]
fn pixels_come_out_in_chw_order() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("tiny.png");
    // Row 0: (1,2,3) (4,5,6); row 1: (7,8,9) (10,11,12).
    let hwc: Vec<u8> = (1..=12).collect();
    save(&path, &RgbImage::from_raw(2, 2, hwc).unwrap());

    let chw = load_image(&path, [2, 2, 3]).unwrap();

    assert_eq!(chw, [1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12]);
}

#[test]
fn load_image_resizes_converts_and_logs_once() {
    capture_logs();
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("photo.jpg");
    save(&path, &RgbImage::from_pixel(7, 5, Rgb([10, 20, 30])));

    let grey = load_image(&path, [4, 4, 1]).unwrap();

    assert_eq!(grey.len(), 16);
    assert_uniform(&grey, bt601(10.0, 20.0, 30.0), 2, "photo luma");
    let info = lines_about(Level::Info, &path);
    assert_eq!(info.len(), 1, "{info:?}");
    assert!(
        info[0].contains("from 5 x 7") && info[0].contains("from 8-bit RGB"),
        "{info:?}"
    );
}

#[test]
fn train_and_test_folders_ignore_other_files_and_hidden_folders() {
    let tmp = TempDir::new().unwrap();
    for part in ["train", "test"] {
        let dir = tmp.path().join(part);
        grey_class(&dir.join("cat"), 3, 10);
        grey_class(&dir.join("ant"), 2, 50);
        grey_class(&dir.join("bee"), 1, 90);
        grey_class(&dir.join(".thumbnails"), 1, 0);
        fs::write(dir.join("cat/notes.txt"), "not an image").unwrap();
        fs::write(dir.join("cat/.DS_Store"), [0u8; 8]).unwrap();
        fs::write(dir.join("README.md"), "top-level file").unwrap();
    }
    grey_class(&tmp.path().join("train/cat"), 5, 100);

    let split = load_folder(tmp.path(), [4, 4, 1], 0.5, 0).unwrap();

    assert_eq!(split.train.class_names, ["ant", "bee", "cat"]);
    assert_eq!(split.train.class_counts(), [2, 1, 5]);
    assert_eq!(split.test.class_names, ["ant", "bee", "cat"]);
    assert_eq!(split.test.class_counts(), [2, 1, 3]);
    assert_uniform(split.test.image(0), 50, 0, "first ant");
    assert_uniform(split.test.image(5), 12, 0, "last cat");
}

/// 20 images of class a (values 0..20), 5 of class b (100..105).
fn holdout_folder() -> TempDir {
    let tmp = TempDir::new().unwrap();
    grey_class(&tmp.path().join("a"), 20, 0);
    grey_class(&tmp.path().join("b"), 5, 100);
    tmp
}

/// The first pixel of every image: here it identifies the file.
fn ids(set: &Dataset) -> Vec<u8> {
    (0..set.len()).map(|i| set.image(i)[0]).collect()
}

#[test]
fn holdout_takes_a_seeded_fraction_of_each_class() {
    let tmp = holdout_folder();

    let first = load_folder(tmp.path(), [4, 4, 1], 0.25, 7).unwrap();
    let again = load_folder(tmp.path(), [4, 4, 1], 0.25, 7).unwrap();
    let other = load_folder(tmp.path(), [4, 4, 1], 0.25, 8).unwrap();

    // round(0.25 * 20) = 5 and round(0.25 * 5) = 1.25 -> 1.
    assert_eq!(first.test.class_counts(), [5, 1]);
    assert_eq!(first.train.class_counts(), [15, 4]);
    assert_eq!(first, again);
    assert_ne!(ids(&first.test), ids(&other.test));
    assert_eq!(other.test.class_counts(), [5, 1]);

    let mut all = [ids(&first.train), ids(&first.test)].concat();
    all.sort();
    let expected: Vec<u8> = (0..20).chain(100..105).collect();
    assert_eq!(all, expected);
    for (set, label) in [(&first.train, 0), (&first.test, 0), (&first.test, 1)] {
        let mine: Vec<u8> = (0..set.len())
            .filter(|&i| set.labels[i] == label)
            .map(|i| set.image(i)[0])
            .collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "file order kept: {mine:?}"
        );
    }
}

#[test]
fn a_class_may_lose_all_its_test_images_if_the_totals_are_not_empty() {
    let tmp = TempDir::new().unwrap();
    grey_class(&tmp.path().join("big"), 10, 0);
    grey_class(&tmp.path().join("single"), 1, 50);

    let split = load_folder(tmp.path(), [4, 4, 1], 0.2, 3).unwrap();

    assert_eq!(split.test.class_counts(), [2, 0]);
    assert_eq!(split.train.class_counts(), [8, 1]);
}

#[test]
fn corrupt_images_are_skipped_with_a_counted_warning() {
    capture_logs();
    let tmp = TempDir::new().unwrap();
    grey_class(&tmp.path().join("a"), 3, 0);
    grey_class(&tmp.path().join("b"), 3, 100);
    fs::write(
        tmp.path().join("a/broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    fs::write(tmp.path().join("b/empty.jpg"), b"").unwrap();

    let split = load_folder(tmp.path(), [4, 4, 1], 0.3, 0).unwrap();

    assert_eq!(split.train.len() + split.test.len(), 6);
    let warnings = lines_about(Level::Warn, tmp.path());
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings.iter().any(|w| w.contains("broken.png")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("empty.jpg")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("skipped 2 unreadable image(s)")),
        "{warnings:?}"
    );
}

#[test]
fn bad_folders_give_one_line_errors_naming_the_path() {
    let tmp = TempDir::new().unwrap();
    let root = tmp.path();
    let p = |sub: &str| root.join(sub);
    let input = [4, 4, 1];
    fs::write(p("file.png"), "x").unwrap();
    fs::create_dir_all(p("empty")).unwrap();
    grey_class(&p("no_images/dog"), 1, 0);
    fs::create_dir_all(p("no_images/cat")).unwrap();
    fs::write(p("no_images/cat/cat.txt"), "meow").unwrap();
    fs::create_dir_all(p("all_corrupt/cat")).unwrap();
    for name in ["1.png", "2.jpg", "3.jpeg"] {
        fs::write(p("all_corrupt/cat").join(name), "junk").unwrap();
    }
    grey_class(&p("one_class_corrupt/a"), 2, 0);
    fs::create_dir_all(p("one_class_corrupt/b")).unwrap();
    fs::write(p("one_class_corrupt/b/x.png"), "junk").unwrap();
    grey_class(&p("mismatch/train/cat"), 1, 0);
    grey_class(&p("mismatch/train/dog"), 1, 0);
    grey_class(&p("mismatch/test/cat"), 1, 0);
    grey_class(&p("mismatch/test/cow"), 1, 0);
    grey_class(&p("half/train/cat"), 1, 0);
    grey_class(&p("tiny/cat"), 1, 0);

    let cases = [
        (
            p("missing"),
            format!("data folder {} does not exist", p("missing").display()),
        ),
        (
            p("file.png"),
            format!("data folder {} is not a folder", p("file.png").display()),
        ),
        (
            p("empty"),
            format!(
                "data folder {} has no class sub-folders \
                 (expected DIR/<class name>/*.png|jpg|jpeg)",
                p("empty").display()
            ),
        ),
        (
            p("no_images"),
            format!("class 'cat' in {} has no images", p("no_images").display()),
        ),
        (
            p("all_corrupt"),
            format!(
                "no readable images left in {} (3 unreadable)",
                p("all_corrupt").display()
            ),
        ),
        (
            p("one_class_corrupt"),
            format!(
                "class 'b' in {} has no readable images (1 unreadable)",
                p("one_class_corrupt").display()
            ),
        ),
        (
            p("mismatch"),
            format!(
                "{0}/train and {0}/test have different classes: only in train: [dog]; \
                 only in test: [cow]",
                p("mismatch").display()
            ),
        ),
        (
            p("half"),
            format!(
                "data folder {} has a 'train' sub-folder but no 'test' one",
                p("half").display()
            ),
        ),
        (
            p("tiny"),
            format!(
                "holdout fraction 0.2 leaves no test images from the 1 in {}",
                p("tiny").display()
            ),
        ),
    ];
    for (dir, expected) in cases {
        let text = error_text(load_folder(&dir, input, 0.2, 0));
        assert!(
            text.starts_with(&expected),
            "got: {text}\nexpected: {expected}"
        );
        assert!(!text.contains('\n'), "{text}");
    }
}

#[test]
fn holdout_outside_0_1_and_bad_input_sizes_are_errors() {
    let tmp = holdout_folder();

    for holdout in [0.0, 1.0, -0.5, f64::NAN] {
        let text = error_text(load_folder(tmp.path(), [4, 4, 1], holdout, 0));
        assert!(
            text.starts_with(&format!("holdout fraction {holdout} is outside (0, 1)")),
            "{text}"
        );
    }
    for channels in [0, 2, 5] {
        let expected = format!(
            "input channel count {channels} is not supported for images \
             (expected 1 = luma, 3 = RGB or 4 = RGBA)"
        );
        assert_eq!(
            error_text(load_folder(tmp.path(), [4, 4, channels], 0.2, 0)),
            expected
        );
        let image = tmp.path().join("a/img00.png");
        assert_eq!(error_text(load_image(&image, [4, 4, channels])), expected);
    }
    let text = error_text(load_folder(tmp.path(), [0, 4, 1], 0.2, 0));
    assert!(
        text.starts_with("input size 0 x 4 is not a usable image size"),
        "{text}"
    );
}

#[test]
fn load_image_names_a_missing_or_corrupt_file() {
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("nope.png");
    let corrupt = tmp.path().join("bad.jpg");
    fs::write(&corrupt, "junk").unwrap();

    for path in [missing, corrupt] {
        let text = error_text(load_image(&path, [4, 4, 1]));
        assert!(
            text.starts_with(&format!("cannot read image {}: ", path.display())),
            "{text}"
        );
        assert!(text.ends_with("(expected a PNG or JPEG file)"), "{text}");
    }
}

#[test]
fn batch_f32_scales_to_unit_range_and_reuses_the_buffer() {
    let set = Dataset {
        height: 1,
        width: 2,
        channels: 1,
        class_names: vec!["x".into(), "y".into(), "z".into()],
        images: vec![0, 255, 51, 102, 1, 2],
        labels: vec![2, 0, 2],
    };
    let mut out = vec![9.0; 10];

    set.batch_f32(&[1, 0], &mut out);

    assert_eq!(out, [0.2, 0.4, 0.0, 1.0]);
    assert_eq!(set.class_counts(), [1, 0, 2]);
    assert_eq!((set.len(), set.is_empty()), (3, false));
    assert_eq!(set.image(2), [1, 2]);
}
