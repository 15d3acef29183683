//! A parsed option value: the common ground of TOML files and the macro's
//! inline tokens.

use std::fmt;

/// One option value as a user wrote it, before it is checked against the
/// option it is meant for.
///
/// TOML values and the `resnet!` macro's literals both become a `Value`, and
/// [`crate::Spec::set`] is the only place that turns a `Value` into a field,
/// so both routes accept and reject exactly the same things.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer literal such as `64` or `-1`.
    Int(i64),
    /// A floating-point literal such as `0.1` or `1e-5`.
    Float(f64),
    /// A string literal such as `"max"`.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// A bracketed list such as `[3, 4, 6, 3]`.
    List(Vec<Value>),
}

impl Value {
    /// A short phrase naming the kind of value and the value itself, for
    /// error messages: `the string "maxx"`, `the list [1, 2]`.
    pub fn describe(&self) -> String {
        let kind = match self {
            Value::Int(_) => "the integer",
            Value::Float(_) => "the float",
            Value::Str(_) => "the string",
            Value::Bool(_) => "the boolean",
            Value::List(_) => "the list",
        };
        format!("{kind} {self}")
    }
}

/// Writes the value in TOML syntax (which is also the macro's syntax).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => f.write_str(&toml_float(*x)),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// A float written so that TOML reads it back as the same float: always
/// with a decimal point or an exponent (TOML would read `1` as an
/// integer), and with TOML's spellings of the special values.
pub(crate) fn toml_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }

    // Debug prints the shortest text that reads back exactly and keeps a
    // ".0" on whole numbers.
    format!("{x:?}")
}
