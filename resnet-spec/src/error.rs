//! The errors a spec can give: a bad option, a bad option at a position in
//! a list of options, and a bad option in a TOML file.

use thiserror::Error;

/// An option that was rejected: unknown, of the wrong type, out of range or
/// inconsistent with another option.
///
/// `key` is the option the user has to change; `message` says what was
/// received and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{key}: {message}")]
pub struct SpecError {
    /// The option to change, as written in TOML or in the macro.
    pub key: String,
    /// What was received and what would be accepted.
    pub message: String,
}

impl SpecError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A [`SpecError`] together with the position of the option that caused it
/// in the list given to [`crate::Spec::from_values`].
///
/// `index` is `None` when no single entry is to blame: a required option is
/// missing, or a validation rule fails on an option left at its default.
/// The macro uses `index` to point at the offending token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{error}")]
pub struct SpecErrorAt {
    /// Index of the offending `(key, value)` pair, if there is one.
    pub index: Option<usize>,
    /// What is wrong.
    pub error: SpecError,
}

/// An error in a TOML spec file, with the 1-based line and column of the
/// offending key (or of the syntax error).
///
/// Errors that belong to no position (a default option failing validation,
/// a missing `version`) point at line 1, column 1. An unreadable file has
/// line and column 0 and key `file`; a TOML syntax error has key `syntax`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct ConfigError {
    /// The file name as given by the caller.
    pub file: String,
    /// 1-based line (0 when the file could not be read).
    pub line: usize,
    /// 1-based column, counted in characters (0 when the file could not be
    /// read).
    pub column: usize,
    /// The offending option, `syntax` for malformed TOML, `file` for an
    /// unreadable file.
    pub key: String,
    /// What was received and what would be accepted.
    pub message: String,
}
