//! Helpers shared by the tests that run the `resnet` binary: a tiny config,
//! a tiny generated image folder, and running the command.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A config small enough to train in a second: 8 x 8 grey images, 3
/// classes, one basic block per stack.
pub const TINY_CONFIG: &str = r#"version = 1
input = [8, 8, 1]
classes = 3
initial_filter_size = 3
initial_num_filters = 4
initial_stride = 1
initial_pooling = "none"
bottleneck_type = "none"
stack_depth = [1, 1]
num_filters = [4, 8]
normalization = "zerocenter"
"#;

/// The class folder names of [`write_dataset`], sorted as the loader sorts.
pub const CLASSES: [&str; 3] = ["checker", "horizontal", "vertical"];

/// What a finished command printed and how it exited.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with both outputs unless the command succeeded.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the command failed with exit status 1 and a last
    /// stderr line `error: ...` containing every one of `parts`; returns
    /// that line.
    pub fn fails_with(self, parts: &[&str]) -> String {
        assert_eq!(
            self.code,
            Some(1),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("backtrace"),
            "a panic instead of an error:\n{}",
            self.stderr
        );
        let line = self.stderr.lines().last().unwrap_or_default().to_string();
        assert!(
            line.starts_with("error: "),
            "last stderr line is not an error:\n{}",
            self.stderr
        );
        for part in parts {
            assert!(
                line.contains(part),
                "'{part}' missing from the error line:\n{line}"
            );
        }
        let errors = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .count();
        assert_eq!(errors, 1, "more than one error line:\n{}", self.stderr);
        line
    }
}

/// Runs the built binary with `args` in `cwd`.
pub fn resnet(cwd: &Path, args: &[&str]) -> Run {
    let output: Output = Command::new(env!("CARGO_BIN_EXE_resnet"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "info")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the resnet binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Writes [`TINY_CONFIG`] to `dir/tiny.toml` and returns its path.
pub fn write_tiny_config(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(&path, TINY_CONFIG).unwrap();
    path
}

/// A deterministic generator (64-bit LCG) for pattern phases and noise.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407))
    }

    /// The next value in 0..n.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// An 8 x 8 grey image of class `class` (index into [`CLASSES`]): a
/// checkerboard, horizontal stripes or vertical stripes with a random phase
/// and noise, so the classes are easy but the images differ.
pub fn pattern(class: usize, rng: &mut Lcg) -> image::GrayImage {
    let phase = rng.below(2) as u32;
    let mut img = image::GrayImage::new(8, 8);
    for y in 0..8 {
        for x in 0..8 {
            let on = match class {
                0 => (x + y + phase) & 1 == 0,
                1 => (y + phase) & 1 == 0,
                _ => (x + phase) & 1 == 0,
            };
            let base = if on { 200 } else { 40 };
            let noise = rng.below(41) as i32 - 20;
            img.put_pixel(x, y, image::Luma([(base + noise) as u8]));
        }
    }
    img
}

/// Writes `dir/train/<class>/*.png` and `dir/test/<class>/*.png` with
/// `train` and `test` images per class; returns `dir`.
pub fn write_dataset(dir: &Path, train: usize, test: usize) -> PathBuf {
    let mut rng = Lcg::new(7);
    for (part, count) in [("train", train), ("test", test)] {
        for (class, name) in CLASSES.iter().enumerate() {
            let folder = dir.join(part).join(name);
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..count {
                pattern(class, &mut rng)
                    .save(folder.join(format!("{i:03}.png")))
                    .unwrap();
            }
        }
    }
    dir.to_path_buf()
}

/// Writes `count` images of each class straight into `dir/<class>/` (no
/// train/test split); returns `dir`.
pub fn write_flat_dataset(dir: &Path, classes: &[&str], count: usize) -> PathBuf {
    let mut rng = Lcg::new(11);
    for (class, name) in classes.iter().enumerate() {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..count {
            pattern(class % 3, &mut rng)
                .save(folder.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
    dir.to_path_buf()
}

/// The number after `prefix` in `text`, up to the next space or '%'.
pub fn number_after(text: &str, prefix: &str) -> f64 {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("'{prefix}' not in:\n{text}"));
    let rest = &text[start + prefix.len()..];
    let end = rest.find([' ', '%', '\n', ')']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("no number after '{prefix}' in:\n{text}"))
}

/// A str path argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
