//! Setting options one at a time from parsed [`Value`]s, with type checks.
//!
//! Both the TOML reader and the `resnet!` macro go through [`Spec::set`],
//! so an option is accepted or rejected the same way on either route.

use crate::{Choice, Spec, SpecError, SpecErrorAt, Value};

/// Every option key a spec accepts, in the order [`Spec::to_toml`] writes
/// them.
pub const OPTION_KEYS: &[&str] = &[
    "input",
    "classes",
    "initial_filter_size",
    "initial_num_filters",
    "initial_stride",
    "initial_pooling",
    "residual_block_type",
    "bottleneck_type",
    "stack_depth",
    "num_filters",
    "normalization",
    "initialize",
    "conv_bias",
    "downsample_conv",
    "padding",
    "mean",
    "std",
    "zero_init_residual",
    "bn_epsilon",
    "bn_momentum",
];

impl Spec {
    /// Sets the option `key` from a parsed value, checking its type.
    ///
    /// Ranges and the rules that tie options together are checked later by
    /// [`Spec::validate`]; `set` only rejects values that cannot be stored
    /// at all (a negative count, a string where a number belongs).
    ///
    /// # Errors
    /// A [`SpecError`] naming the key when the key is unknown (with the
    /// closest known key and the list of keys), when the value has the
    /// wrong type, or when a string is not one of the option's choices
    /// (with the list of choices). The message ends with what was received.
    pub fn set(&mut self, key: &str, value: &Value) -> Result<(), SpecError> {
        match key {
            "input" => self.input = input_size(value)?,
            "classes" => self.classes = count(key, value)?,
            "initial_filter_size" => self.initial_filter_size = size2(key, value)?,
            "initial_num_filters" => self.initial_num_filters = count(key, value)?,
            "initial_stride" => self.initial_stride = size2(key, value)?,
            "initial_pooling" => self.initial_pooling = choice(key, value)?,
            "residual_block_type" => self.residual_block_type = choice(key, value)?,
            "bottleneck_type" => self.bottleneck_type = choice(key, value)?,
            "stack_depth" => self.stack_depth = count_list(key, value)?,
            "num_filters" => self.num_filters = count_list(key, value)?,
            "normalization" => self.normalization = choice(key, value)?,
            "initialize" => self.initialize = boolean(key, value)?,
            "conv_bias" => self.conv_bias = boolean(key, value)?,
            "downsample_conv" => self.downsample_conv = choice(key, value)?,
            "padding" => self.padding = choice(key, value)?,
            "mean" => self.mean = Some(float_list(key, value)?),
            "std" => self.std = Some(float_list(key, value)?),
            "zero_init_residual" => self.zero_init_residual = boolean(key, value)?,
            "bn_epsilon" => self.bn_epsilon = float(key, value)?,
            "bn_momentum" => self.bn_momentum = float(key, value)?,
            _ => return Err(unknown_key(key)),
        }
        Ok(())
    }

    /// Builds and validates a spec from `(key, value)` pairs in the order the
    /// user wrote them.
    ///
    /// `input` and `classes` are required; every other option starts at
    /// MATLAB's default. A key may appear only once.
    ///
    /// # Errors
    /// A [`SpecErrorAt`] whose `index` is the position of the pair to blame:
    /// the pair [`Spec::set`] rejected, a repeated key, or the pair that set
    /// the option a validation rule names (for a length mismatch between
    /// `stack_depth` and `num_filters`, whichever of the two was given).
    /// `index` is `None` when a required option is missing or the rule only
    /// involves defaults.
    pub fn from_values(pairs: &[(String, Value)]) -> Result<Spec, SpecErrorAt> {
        let mut spec = Spec::new([0, 0, 0], 0);

        for required in ["input", "classes"] {
            if !pairs.iter().any(|(key, _)| key == required) {
                let message = match required {
                    "input" => {
                        "missing; give the input size as [height, width] or \
                                [height, width, channels]"
                    }
                    _ => "missing; give the number of classes as a positive integer",
                };
                let error = SpecError::new(required, message);
                return Err(SpecErrorAt { index: None, error });
            }
        }

        for (index, (key, value)) in pairs.iter().enumerate() {
            if let Some(first) = pairs[..index].iter().position(|(k, _)| k == key) {
                let message = format!(
                    "given twice (entries {} and {}); keep only one",
                    first + 1,
                    index + 1
                );
                let error = SpecError::new(key.as_str(), message);
                return Err(SpecErrorAt {
                    index: Some(index),
                    error,
                });
            }
            spec.set(key, value).map_err(|error| SpecErrorAt {
                index: Some(index),
                error,
            })?;
        }

        spec.validate().map_err(|error| SpecErrorAt {
            index: blame(pairs, &error.key),
            error,
        })?;
        Ok(spec)
    }
}

/// The pair to point at for a validation error about `key`.
fn blame(pairs: &[(String, Value)], key: &str) -> Option<usize> {
    let find = |wanted: &str| pairs.iter().rposition(|(k, _)| k == wanted);

    // The two lists must have equal lengths; when only one was written the
    // user changed that one, so point there.
    match key {
        "stack_depth" => find("stack_depth").or_else(|| find("num_filters")),
        _ => find(key),
    }
}

/// The error for a key that is not an option, with a suggestion.
pub(crate) fn unknown_key(key: &str) -> SpecError {
    let accepted = OPTION_KEYS.join(", ");
    let message = match closest_key(key) {
        Some(close) => {
            format!("unknown option (did you mean `{close}`?); accepted options are {accepted}")
        }
        None => format!("unknown option; accepted options are {accepted}"),
    };
    SpecError::new(key, message)
}

/// The known key closest to `key` by edit distance, if it is close enough
/// to be a plausible typo.
fn closest_key(key: &str) -> Option<&'static str> {
    let (best, distance) = OPTION_KEYS
        .iter()
        .map(|known| (*known, edit_distance(key, known)))
        .min_by_key(|(_, d)| *d)?;
    let tolerance = (best.len() / 3).max(2);
    (distance <= tolerance).then_some(best)
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();

    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

fn wrong(key: &str, expected: &str, value: &Value) -> SpecError {
    SpecError::new(
        key,
        format!("expected {expected}, got {}", value.describe()),
    )
}

/// A non-negative integer (zero is rejected later, by validation, with the
/// rule that explains why).
fn count(key: &str, value: &Value) -> Result<usize, SpecError> {
    match value {
        Value::Int(n) => usize::try_from(*n).map_err(|_| wrong(key, "a positive integer", value)),
        _ => Err(wrong(key, "a positive integer", value)),
    }
}

/// `n` (meaning `[n, n]`) or `[height, width]`.
fn size2(key: &str, value: &Value) -> Result<[usize; 2], SpecError> {
    let expected = "a positive integer n or a list [height, width]";
    match value {
        Value::Int(_) => {
            let n = count(key, value).map_err(|_| wrong(key, expected, value))?;
            Ok([n, n])
        }
        Value::List(items) if items.len() == 2 => {
            let h = count(key, &items[0]).map_err(|_| wrong(key, expected, value))?;
            let w = count(key, &items[1]).map_err(|_| wrong(key, expected, value))?;
            Ok([h, w])
        }
        _ => Err(wrong(key, expected, value)),
    }
}

/// `[height, width]` (one channel) or `[height, width, channels]`.
fn input_size(value: &Value) -> Result<[usize; 3], SpecError> {
    let key = "input";
    let expected = "[height, width] or [height, width, channels] of positive integers";
    let Value::List(items) = value else {
        return Err(wrong(key, expected, value));
    };
    if items.len() != 2 && items.len() != 3 {
        return Err(wrong(key, expected, value));
    }

    let mut size = [0, 0, 1];
    for (slot, item) in size.iter_mut().zip(items) {
        *slot = count(key, item).map_err(|_| wrong(key, expected, value))?;
    }
    Ok(size)
}

/// A list of non-negative integers such as `[3, 4, 6, 3]`.
fn count_list(key: &str, value: &Value) -> Result<Vec<usize>, SpecError> {
    let expected = "a list of positive integers such as [3, 4, 6, 3]";
    let Value::List(items) = value else {
        return Err(wrong(key, expected, value));
    };
    items
        .iter()
        .map(|item| count(key, item).map_err(|_| wrong(key, expected, value)))
        .collect()
}

/// A number; integers are accepted as floats.
fn float(key: &str, value: &Value) -> Result<f64, SpecError> {
    match value {
        Value::Float(x) => Ok(*x),
        Value::Int(n) => Ok(*n as f64),
        _ => Err(wrong(key, "a number", value)),
    }
}

/// A list of numbers, one per input channel.
fn float_list(key: &str, value: &Value) -> Result<Vec<f32>, SpecError> {
    let expected = "a list of numbers, one per input channel, such as [0.485, 0.456, 0.406]";
    let Value::List(items) = value else {
        return Err(wrong(key, expected, value));
    };
    items
        .iter()
        .map(|item| {
            let x = float(key, item).map_err(|_| wrong(key, expected, value))?;
            Ok(x as f32)
        })
        .collect()
}

fn boolean(key: &str, value: &Value) -> Result<bool, SpecError> {
    match value {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong(key, "true or false", value)),
    }
}

/// One of the named choices of an enum option.
fn choice<T: Choice>(key: &str, value: &Value) -> Result<T, SpecError> {
    let names: Vec<String> = T::ALL.iter().map(|c| format!("\"{}\"", c.name())).collect();
    let expected = format!("one of {}", names.join(", "));
    match value {
        Value::Str(s) => T::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| wrong(key, &expected, value)),
        _ => Err(wrong(key, &expected, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::{closest_key, edit_distance};

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("stack_depht", "stack_depth"), 2);
        assert_eq!(edit_distance("classes", "classes"), 0);
    }

    #[test]
    fn close_typos_get_a_suggestion_and_unrelated_words_do_not() {
        assert_eq!(closest_key("clases"), Some("classes"));
        assert_eq!(closest_key("numfilters"), Some("num_filters"));
        assert_eq!(closest_key("initial_pool"), Some("initial_pooling"));
        assert_eq!(closest_key("learning_rate"), None);
    }
}
