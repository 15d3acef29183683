//! Turning an invocation's body into a checked [`Spec`], with compile
//! errors that point at the offending token.
//!
//! All option handling (types, choices, defaults, validation, TOML) is the
//! spec crate's; this module only decides where each error points.

use std::path::{Path, PathBuf};

use proc_macro2::Span;
use resnet_spec::{Spec, SpecErrorAt, Value, OPTION_KEYS};
use syn::LitStr;

use crate::input::{Body, Pair};

/// A checked spec, and the config file it came from (which the expansion
/// must reference so that editing the file rebuilds the crate).
pub struct Checked {
    pub spec: Spec,
    pub file: Option<PathBuf>,
}

/// Checks a body: inline options or a config file.
///
/// Errors: a compile error at the offending token (inline), or at the path
/// literal naming file:line:column and key (file).
pub fn check(body: &Body) -> syn::Result<Checked> {
    match body {
        Body::Inline(pairs, whole) => Ok(Checked {
            spec: inline(pairs, *whole)?,
            file: None,
        }),
        Body::File(path) => {
            let (spec, file) = from_file(path)?;
            Ok(Checked {
                spec,
                file: Some(file),
            })
        }
    }
}

/// Builds a spec from inline options through [`Spec::from_values`].
fn inline(pairs: &[Pair], whole: Span) -> syn::Result<Spec> {
    let values: Vec<(String, Value)> = pairs
        .iter()
        .map(|pair| (pair.key.to_string(), pair.value.clone()))
        .collect();

    Spec::from_values(&values).map_err(|err| inline_error(pairs, whole, &err))
}

/// Points an error of [`Spec::from_values`] at the token to blame: the key
/// when it is unknown or repeated, the value when [`Spec::set`] refused it,
/// the whole `key: value` pair when a validation rule names it, and the
/// whole invocation when no pair is to blame (a missing option).
fn inline_error(pairs: &[Pair], whole: Span, err: &SpecErrorAt) -> syn::Error {
    let message = err.error.to_string();
    let Some(index) = err.index else {
        return syn::Error::new(whole, message);
    };
    let pair = &pairs[index];
    let key = pair.key.to_string();

    let unknown = !OPTION_KEYS.contains(&key.as_str());
    let repeated = pairs[..index].iter().any(|p| p.key == key);
    if unknown || repeated {
        return syn::Error::new(pair.key.span(), message);
    }

    // `set` checks one value alone; if it refuses this one on a fresh spec,
    // the value is to blame, otherwise a rule that ties options together.
    let refused = Spec::new([1, 1, 1], 1).set(&key, &pair.value).is_err();
    if refused {
        syn::Error::new_spanned(&pair.value_tokens, message)
    } else {
        syn::Error::new_spanned(&pair.tokens, message)
    }
}

/// Reads and checks a config file; returns the spec and the file's
/// absolute path.
///
/// Errors, at the path literal: a file that cannot be found (naming the
/// places looked at) or read, and every [`resnet_spec::ConfigError`], whose
/// text names the file as written, the line, the column and the key.
fn from_file(path: &LitStr) -> syn::Result<(Spec, PathBuf)> {
    let written = path.value();
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let source = proc_macro::Span::call_site().local_file();
    let source_dir = source.as_deref().and_then(Path::parent);
    let file = locate(&written, manifest_dir.as_deref(), source_dir)
        .map_err(|message| syn::Error::new(path.span(), message))?;

    let text = std::fs::read_to_string(&file).map_err(|err| {
        let message = format!("cannot read the config `{}`: {err}", file.display());
        syn::Error::new(path.span(), message)
    })?;
    let spec = Spec::from_toml_str(&text, &written)
        .map_err(|err| syn::Error::new(path.span(), err.to_string()))?;
    Ok((spec, file))
}

/// Finds a config file: an absolute path as it is; a relative one in the
/// calling crate's directory (`manifest_dir`, from `CARGO_MANIFEST_DIR`)
/// or, failing that, in the directory of the source file that invokes the
/// macro (`source_dir`, as `include_str!` would). Returns an absolute path.
///
/// Errors: a message naming every place looked at.
fn locate(
    written: &str,
    manifest_dir: Option<&Path>,
    source_dir: Option<&Path>,
) -> Result<PathBuf, String> {
    let path = Path::new(written);
    let candidates: Vec<PathBuf> = match path.is_absolute() {
        true => vec![path.to_path_buf()],
        false => manifest_dir
            .into_iter()
            .chain(source_dir)
            .map(|dir| dir.join(path))
            .collect(),
    };

    if let Some(found) = candidates.iter().find(|candidate| candidate.is_file()) {
        return Ok(std::fs::canonicalize(found).unwrap_or_else(|_| found.clone()));
    }
    let looked: Vec<String> = candidates
        .iter()
        .map(|c| format!("`{}`", c.display()))
        .collect();
    Err(format!(
        "config file `{written}` not found; looked for {} (a relative path starts at the \
         directory of the crate's Cargo.toml, then at the directory of the calling source file)",
        looked.join(" and ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory holding `configs/net.toml`, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("resnet-macros-{name}-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("configs")).unwrap();
            std::fs::write(dir.join("configs/net.toml"), "version = 1\n").unwrap();
            Scratch(std::fs::canonicalize(dir).unwrap())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn relative_paths_start_at_the_manifest_directory() {
        let crate_dir = Scratch::new("crate");
        let source_dir = Scratch::new("source");

        let found = locate("configs/net.toml", Some(&crate_dir.0), Some(&source_dir.0));
        assert_eq!(found.unwrap(), crate_dir.0.join("configs/net.toml"));
    }

    #[test]
    fn the_source_directory_is_the_fallback() {
        let source_dir = Scratch::new("fallback");
        let elsewhere = std::env::temp_dir().join("resnet-macros-no-such-dir");

        let found = locate("configs/net.toml", Some(&elsewhere), Some(&source_dir.0));
        assert_eq!(found.unwrap(), source_dir.0.join("configs/net.toml"));
    }

    #[test]
    fn a_missing_file_names_every_place_looked_at() {
        let message = locate(
            "configs/none.toml",
            Some(Path::new("/a")),
            Some(Path::new("/b")),
        )
        .unwrap_err();
        assert_eq!(
            message,
            "config file `configs/none.toml` not found; looked for `/a/configs/none.toml` and \
             `/b/configs/none.toml` (a relative path starts at the directory of the crate's \
             Cargo.toml, then at the directory of the calling source file)"
        );
    }

    #[test]
    fn absolute_paths_are_taken_as_they_are() {
        let dir = Scratch::new("absolute");
        let file = dir.0.join("configs/net.toml");

        let found = locate(file.to_str().unwrap(), Some(Path::new("/a")), None);
        assert_eq!(found.unwrap(), file);

        let missing = dir.0.join("configs/none.toml");
        let message = locate(missing.to_str().unwrap(), None, None).unwrap_err();
        assert!(
            message.contains(&format!("looked for `{}`", missing.display())),
            "{message}"
        );
    }
}
