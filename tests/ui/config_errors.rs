//! Spec files that break a rule or cannot be read: each error sits on the
//! path and names file:line:column and the key.

use resnet::resnet;

type EmptyStackDepth = resnet!(config = "configs/empty_stack_depth.toml");

type LengthMismatch = resnet!(config = "configs/length_mismatch.toml");

type ZeroEntry = resnet!(config = "configs/zero_entry.toml");

type ZeroClasses = resnet!(config = "configs/zero_classes.toml");

type InputTooSmall = resnet!(config = "configs/input_too_small.toml");

type InputTooSmallWithoutPooling = resnet!(config = "configs/input_too_small_no_pooling.toml");

type ZeroInput = resnet!(config = "configs/zero_input.toml");

type ZeroFilterSize = resnet!(config = "configs/zero_filter_size.toml");

type NegativeStride = resnet!(config = "configs/negative_stride.toml");

type UnknownKey = resnet!(config = "configs/unknown_key.toml");

type WrongType = resnet!(config = "configs/wrong_type.toml");

type UnknownChoice = resnet!(config = "configs/unknown_choice.toml");

type MissingInput = resnet!(config = "configs/missing_input.toml");

type MissingClasses = resnet!(config = "configs/missing_classes.toml");

type MissingVersion = resnet!(config = "configs/missing_version.toml");

type SyntaxError = resnet!(config = "configs/syntax_error.toml");

resnet! {
    /// A named network from a file that breaks a rule.
    pub type Named = { config = "configs/zero_classes.toml" };
}

fn main() {}
