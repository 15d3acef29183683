//! Reading and writing spec files: TOML with a `version` key, every other
//! key an option of [`Spec::set`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use toml::Spanned;

use crate::set::unknown_key;
use crate::value::toml_float;
use crate::{Choice, ConfigError, Spec, Value, OPTION_KEYS};

/// The only spec file version this crate reads and writes.
pub const CONFIG_VERSION: i64 = 1;

/// A top-level entry of a spec file with the byte ranges of its key.
type Entry = (Spanned<String>, Spanned<toml::Value>);

impl Spec {
    /// Reads a spec from TOML text; `file` names the text in errors.
    ///
    /// The text must hold `version = 1`; every other top-level key is an
    /// option given to [`Spec::set`] (in file order), `input` and `classes`
    /// are required, and [`Spec::validate`] runs at the end.
    ///
    /// # Errors
    /// A [`ConfigError`] with the 1-based line and column of the offending
    /// key: an unknown key, a value of the wrong type or an unknown choice;
    /// a validation error points at the key it names when the file sets
    /// that key, else at line 1, column 1 (a default that does not fit, a
    /// missing `version`, `input` or `classes`). TOML syntax errors keep the
    /// position the TOML parser reports, with key `syntax`.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Spec, ConfigError> {
        let at = |offset: Option<usize>, key: &str, message: String| {
            let (line, column) = offset.map_or((1, 1), |offset| line_column(text, offset));
            ConfigError {
                file: file.to_string(),
                line,
                column,
                key: key.to_string(),
                message,
            }
        };

        let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
            toml::from_str(text).map_err(|e| {
                // One line, so the error reads like every other.
                let message = e.message().trim().replace('\n', "; ");
                at(e.span().map(|s| s.start), "syntax", message)
            })?;
        let mut entries: Vec<Entry> = table.into_iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);

        check_version(&entries).map_err(|(offset, message)| at(offset, "version", message))?;

        let mut pairs = Vec::new();
        let mut offsets = Vec::new();
        for (key, value) in entries.iter().filter(|(key, _)| key.get_ref() != "version") {
            let name = key.get_ref().as_str();
            let offset = Some(key.span().start);
            if !OPTION_KEYS.contains(&name) {
                return Err(at(offset, name, unknown_key(name).message));
            }
            let value = to_value(value.get_ref()).map_err(|message| at(offset, name, message))?;
            pairs.push((name.to_string(), value));
            offsets.push(key.span().start);
        }

        Spec::from_values(&pairs).map_err(|e| {
            let offset = e.index.map(|i| offsets[i]);
            at(offset, &e.error.key, e.error.message)
        })
    }

    /// Reads a spec from a TOML file, as [`Spec::from_toml_str`] does.
    ///
    /// # Errors
    /// Those of [`Spec::from_toml_str`], with the path as the file name; an
    /// unreadable file gives key `file` at line 0, column 0.
    pub fn from_toml_file(path: &Path) -> Result<Spec, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            key: "file".to_string(),
            message: format!("cannot read it: {e}"),
        })?;
        Spec::from_toml_str(&text, &file)
    }

    /// Writes every option as TOML, with `version = 1` first, so that
    /// [`Spec::from_toml_str`] reads back an equal spec. `mean` and `std`
    /// are written only when set. Used to save a spec beside model weights.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let size2 = |[h, w]: [usize; 2]| format!("[{h}, {w}]");
        let list = |items: &[usize]| {
            let items: Vec<String> = items.iter().map(|n| n.to_string()).collect();
            format!("[{}]", items.join(", "))
        };
        let floats = |items: &[f32]| {
            let items: Vec<String> = items.iter().map(|x| toml_float32(*x)).collect();
            format!("[{}]", items.join(", "))
        };
        let quoted = |name: &str| format!("\"{name}\"");

        let mut lines = vec![
            ("input", list(&self.input)),
            ("classes", self.classes.to_string()),
            ("initial_filter_size", size2(self.initial_filter_size)),
            ("initial_num_filters", self.initial_num_filters.to_string()),
            ("initial_stride", size2(self.initial_stride)),
            ("initial_pooling", quoted(self.initial_pooling.name())),
            (
                "residual_block_type",
                quoted(self.residual_block_type.name()),
            ),
            ("bottleneck_type", quoted(self.bottleneck_type.name())),
            ("stack_depth", list(&self.stack_depth)),
            ("num_filters", list(&self.num_filters)),
            ("normalization", quoted(self.normalization.name())),
            ("initialize", self.initialize.to_string()),
            ("conv_bias", self.conv_bias.to_string()),
            ("downsample_conv", quoted(self.downsample_conv.name())),
            ("padding", quoted(self.padding.name())),
        ];
        if let Some(mean) = &self.mean {
            lines.push(("mean", floats(mean)));
        }
        if let Some(std) = &self.std {
            lines.push(("std", floats(std)));
        }
        lines.extend([
            ("zero_init_residual", self.zero_init_residual.to_string()),
            ("bn_epsilon", toml_float(self.bn_epsilon)),
            ("bn_momentum", toml_float(self.bn_momentum)),
        ]);

        out.push_str("# ResNet spec written by resnet-spec; every option is spelled out.\n");
        let _ = writeln!(out, "version = {CONFIG_VERSION}");
        for (key, value) in lines {
            let _ = writeln!(out, "{key} = {value}");
        }
        out
    }
}

/// Checks that the file declares the supported version; on failure gives
/// the byte offset to point at (none for a missing key) and the message.
fn check_version(entries: &[Entry]) -> Result<(), (Option<usize>, String)> {
    let Some((key, value)) = entries.iter().find(|(key, _)| key.get_ref() == "version") else {
        let message = format!(
            "missing; spec files must start with `version = {CONFIG_VERSION}`, the only \
             version this reader supports"
        );
        return Err((None, message));
    };

    match value.get_ref() {
        toml::Value::Integer(CONFIG_VERSION) => Ok(()),
        other => {
            let message = format!(
                "unsupported version {other}; this reader supports version = {CONFIG_VERSION}"
            );
            Err((Some(key.span().start), message))
        }
    }
}

/// Converts a TOML value into an option [`Value`]; tables and dates, which
/// no option takes, give an error message.
fn to_value(value: &toml::Value) -> Result<Value, String> {
    match value {
        toml::Value::Integer(n) => Ok(Value::Int(*n)),
        toml::Value::Float(x) => Ok(Value::Float(*x)),
        toml::Value::String(s) => Ok(Value::Str(s.clone())),
        toml::Value::Boolean(b) => Ok(Value::Bool(*b)),
        toml::Value::Array(items) => items
            .iter()
            .map(to_value)
            .collect::<Result<_, _>>()
            .map(Value::List),
        toml::Value::Datetime(d) => Err(format!(
            "expected a number, string, boolean or list, got the date-time {d}"
        )),
        toml::Value::Table(_) => Err(
            "expected a number, string, boolean or list, got a table; options are plain \
             `key = value` lines at the top of the file"
                .to_string(),
        ),
    }
}

/// A 32-bit float written so that TOML reads it back as the same value.
fn toml_float32(x: f32) -> String {
    if x.is_finite() {
        // Debug prints the shortest text that reads back as this f32.
        format!("{x:?}")
    } else {
        toml_float(f64::from(x))
    }
}

/// The 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
