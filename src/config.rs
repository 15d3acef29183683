//! Finding and reading config files: a name of a TOML file in configs/ or a
//! path to one.
//!
//! Names are looked up in `./configs` first, so a user's own config there
//! wins, then in the configs/ folder of the source tree this binary was
//! built from. Configs are read at run time: a new TOML file needs no
//! rebuild.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use resnet::core::spec::Spec;

/// The configs/ folder of the source tree, for a binary run from elsewhere.
const SHIPPED_CONFIGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");

/// A config that was found and read.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file name without `.toml`; names run folders.
    pub name: String,
    /// Where the file is.
    pub path: PathBuf,
    /// The validated spec.
    pub spec: Spec,
}

/// Finds and reads a config given as a name (`mnist`) or a path
/// (`my/net.toml`).
///
/// Errors: a name found in no configs/ folder (the message lists the names
/// there are), or a file the spec crate rejects (its `file:line:col: key:
/// message` text).
pub fn load(name_or_path: &str) -> Result<Config> {
    let path = find(name_or_path)?;
    let spec = Spec::from_toml_file(&path)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| name_or_path.to_string());
    // A name that reaches into a subfolder keeps it, so that
    // torchvision/resnet50 and resnet50 have runs of their own names.
    let by_name = !Path::new(name_or_path).is_file() && name_or_path.contains('/');
    let name = if by_name {
        name_or_path.replace('/', "-")
    } else {
        stem
    };
    Ok(Config { name, path, spec })
}

/// The file a name or path refers to.
fn find(name_or_path: &str) -> Result<PathBuf> {
    let given = Path::new(name_or_path);
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    // Names may reach into a subfolder: torchvision/resnet50.
    if !name_or_path.ends_with(".toml") {
        for dir in folders() {
            let candidate = dir.join(format!("{name_or_path}.toml"));
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let looks_like_path = name_or_path.contains(['/', '\\']) || name_or_path.ends_with(".toml");
    if looks_like_path {
        bail!("config file {name_or_path} does not exist");
    }

    let names = available();
    let list = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    bail!(
        "unknown config '{name_or_path}': available configs are {list} (from {}); or pass \
         the path of a TOML file",
        folders()
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    )
}

/// The folders names are looked up in, in order, each listed once.
fn folders() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("./configs")];
    let shipped = PathBuf::from(SHIPPED_CONFIGS);
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(&dirs[0], &shipped) {
        dirs.push(shipped);
    }
    dirs
}

/// The config names found in [`folders`] and their subfolders (as
/// `torchvision/resnet50`), sorted, without repeats.
fn available() -> Vec<String> {
    let mut names = Vec::new();
    for dir in folders() {
        names.extend(toml_stems(&dir, ""));
        let subfolders = std::fs::read_dir(&dir).into_iter().flatten().flatten();
        for sub in subfolders.map(|e| e.path()).filter(|p| p.is_dir()) {
            if let Some(prefix) = sub.file_name().and_then(|n| n.to_str()) {
                names.extend(toml_stems(&sub, &format!("{prefix}/")));
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// `prefix` + the stem of every TOML file directly in `dir`.
fn toml_stems(dir: &Path, prefix: &str) -> Vec<String> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .filter_map(|path| Some(format!("{prefix}{}", path.file_stem()?.to_str()?)))
        .collect()
}
