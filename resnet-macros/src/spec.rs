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
    let file = locate(&written).map_err(|message| syn::Error::new(path.span(), message))?;

    let text = std::fs::read_to_string(&file).map_err(|err| {
        let message = format!("cannot read the config `{}`: {err}", file.display());
        syn::Error::new(path.span(), message)
    })?;
    let spec = Spec::from_toml_str(&text, &written)
        .map_err(|err| syn::Error::new(path.span(), err.to_string()))?;
    Ok((spec, file))
}

/// Finds a config file: an absolute path as it is; a relative one in the
/// calling crate's directory (`CARGO_MANIFEST_DIR`) or, failing that, in
/// the directory of the source file that invokes the macro (as
/// `include_str!` would).
///
/// Errors: a message naming every place looked at.
fn locate(written: &str) -> Result<PathBuf, String> {
    let path = Path::new(written);
    if path.is_absolute() {
        return match path.is_file() {
            true => Ok(path.to_path_buf()),
            false => Err(format!("config file `{written}` not found")),
        };
    }

    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        candidates.push(PathBuf::from(dir).join(path));
    }
    let source = proc_macro::Span::call_site().local_file();
    if let Some(dir) = source.as_deref().and_then(Path::parent) {
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        candidates.push(dir.join(path));
    }

    if let Some(found) = candidates.iter().find(|candidate| candidate.is_file()) {
        return Ok(std::fs::canonicalize(found).unwrap_or_else(|_| found.clone()));
    }
    let looked: Vec<String> = candidates
        .iter()
        .map(|c| format!("`{}`", c.display()))
        .collect();
    Err(format!(
        "config file `{written}` not found; looked for {} (relative paths start at the \
         crate's Cargo.toml directory, then at the directory of the calling source file)",
        looked.join(" and ")
    ))
}
