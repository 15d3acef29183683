//! Every validation rule and every way `set` rejects a value, with the
//! exact text the user sees.

use resnet_spec::{
    BottleneckType, DownsampleConv, Normalization, PaddingMode, Pooling, ResidualBlockType, Spec,
    SpecError, SpecErrorAt, Value,
};

fn spec() -> Spec {
    Spec::new([224, 224, 3], 10)
}

fn validation_error(change: impl FnOnce(&mut Spec)) -> String {
    let mut spec = spec();
    change(&mut spec);
    let error = spec.validate().unwrap_err();
    // plan() and validate() must agree.
    assert_eq!(spec.plan().unwrap_err(), error);
    error.to_string()
}

fn int(n: i64) -> Value {
    Value::Int(n)
}

fn list(items: &[i64]) -> Value {
    Value::List(items.iter().map(|n| Value::Int(*n)).collect())
}

fn text(s: &str) -> Value {
    Value::Str(s.to_string())
}

fn set_error(key: &str, value: Value) -> String {
    spec().set(key, &value).unwrap_err().to_string()
}

// Validation --------------------------------------------------------------

#[test]
fn defaults_are_valid() {
    assert_eq!(spec().validate(), Ok(()));
}

#[test]
fn sizes_and_classes_must_be_positive() {
    assert_eq!(
        validation_error(|s| s.input = [0, 224, 3]),
        "input: height, width and channels must be positive, got [0, 224, 3]"
    );
    assert_eq!(
        validation_error(|s| s.input = [224, 224, 0]),
        "input: height, width and channels must be positive, got [224, 224, 0]"
    );
    assert_eq!(
        validation_error(|s| s.classes = 0),
        "classes: must be a positive integer, got 0"
    );
    assert_eq!(
        validation_error(|s| s.initial_filter_size = [0, 7]),
        "initial_filter_size: height and width must be positive, got [0, 7]"
    );
    assert_eq!(
        validation_error(|s| s.initial_stride = [2, 0]),
        "initial_stride: height and width must be positive, got [2, 0]"
    );
    assert_eq!(
        validation_error(|s| s.initial_num_filters = 0),
        "initial_num_filters: must be a positive integer, got 0"
    );
}

#[test]
fn stacks_must_be_non_empty_positive_and_paired() {
    assert_eq!(
        validation_error(|s| s.stack_depth.clear()),
        "stack_depth: must list at least one stack, got []"
    );
    assert_eq!(
        validation_error(|s| s.num_filters.clear()),
        "num_filters: must list at least one stack, got []"
    );
    assert_eq!(
        validation_error(|s| s.stack_depth = vec![3, 0, 6, 3]),
        "stack_depth: every entry must be positive, got [3, 0, 6, 3]"
    );
    assert_eq!(
        validation_error(|s| s.num_filters = vec![64, 128, 0, 512]),
        "num_filters: every entry must be positive, got [64, 128, 0, 512]"
    );
    assert_eq!(
        validation_error(|s| s.stack_depth = vec![2, 2]),
        "stack_depth: has 2 stacks [2, 2] but num_filters has 4 [64, 128, 256, 512]; \
         give one filter count per stack"
    );
}

#[test]
fn mean_and_std_need_one_value_per_channel() {
    assert_eq!(
        validation_error(|s| s.mean = Some(vec![0.5])),
        "mean: needs one value per input channel (3), got [0.5]"
    );
    assert_eq!(
        validation_error(|s| s.std = Some(vec![0.5, 0.5, 0.5, 0.5])),
        "std: needs one value per input channel (3), got [0.5, 0.5, 0.5, 0.5]"
    );
    assert_eq!(
        validation_error(|s| s.mean = Some(vec![f32::NAN, 0.0, 0.0])),
        "mean: every value must be finite, got [NaN, 0.0, 0.0]"
    );
    assert_eq!(
        validation_error(|s| s.std = Some(vec![0.2, 0.0, 0.2])),
        "std: every value must be positive, got [0.2, 0.0, 0.2]"
    );

    let mut grayscale = Spec::new([32, 32, 1], 10);
    grayscale.mean = Some(vec![0.1307]);
    grayscale.std = Some(vec![0.3081]);
    assert_eq!(grayscale.validate(), Ok(()));
}

#[test]
fn batch_norm_options_have_ranges() {
    assert_eq!(
        validation_error(|s| s.bn_epsilon = 0.0),
        "bn_epsilon: must be a positive number, got 0.0"
    );
    assert_eq!(
        validation_error(|s| s.bn_epsilon = f64::INFINITY),
        "bn_epsilon: must be a positive number, got inf"
    );
    assert_eq!(
        validation_error(|s| s.bn_momentum = 1.5),
        "bn_momentum: must lie in [0, 1], got 1.5"
    );
    assert_eq!(
        validation_error(|s| {
            s.zero_init_residual = true;
            s.residual_block_type = ResidualBlockType::BatchnormAfterAdd;
        }),
        "zero_init_residual: true needs residual_block_type = \"batchnorm-before-add\" (the \
         last batch norm of a \"batchnorm-after-add\" block scales the sum, so zeroing it would \
         silence the block), got \"batchnorm-after-add\""
    );
}

#[test]
fn input_must_survive_every_downsampling() {
    // Defaults: stride 2, pooling, 3 downsampling stacks: 2 * 2^4 = 32.
    assert_eq!(
        validation_error(|s| s.input = [31, 31, 3]),
        "input: the height 31 is below the minimum 32 for this network (stem stride 2, stem \
         pooling, 3 downsampling stacks), got [31, 31, 3]"
    );
    // Without pooling: 2 * 2^3 = 16.
    assert_eq!(
        validation_error(|s| {
            s.input = [16, 15, 3];
            s.initial_pooling = Pooling::None;
        }),
        "input: the width 15 is below the minimum 16 for this network (stem stride 2, no stem \
         pooling, 3 downsampling stacks), got [16, 15, 3]"
    );
    let mut spec = Spec::new([16, 16, 3], 10);
    spec.initial_pooling = Pooling::None;
    assert_eq!(spec.validate(), Ok(()));
}

// Set ---------------------------------------------------------------------

#[test]
fn set_accepts_every_option() {
    let mut spec = spec();
    let pairs = [
        ("input", list(&[28, 28])),
        ("classes", int(5)),
        ("initial_filter_size", int(3)),
        ("initial_num_filters", int(16)),
        ("initial_stride", list(&[1, 2])),
        ("initial_pooling", text("average")),
        ("residual_block_type", text("batchnorm-after-add")),
        ("bottleneck_type", text("none")),
        ("stack_depth", list(&[2, 2])),
        ("num_filters", list(&[16, 32])),
        ("normalization", text("zscore")),
        ("initialize", Value::Bool(false)),
        ("conv_bias", Value::Bool(false)),
        ("downsample_conv", text("middle")),
        ("padding", text("symmetric")),
        ("mean", Value::List(vec![Value::Float(0.5)])),
        ("std", Value::List(vec![Value::Int(2)])),
        ("zero_init_residual", Value::Bool(true)),
        ("bn_epsilon", Value::Float(1e-3)),
        ("bn_momentum", Value::Int(0)),
    ];
    for (key, value) in &pairs {
        spec.set(key, value).unwrap();
    }
    assert_eq!(pairs.len(), resnet_spec::OPTION_KEYS.len());

    let mut expected = Spec::new([28, 28, 1], 5);
    expected.initial_filter_size = [3, 3];
    expected.initial_num_filters = 16;
    expected.initial_stride = [1, 2];
    expected.initial_pooling = Pooling::Average;
    expected.residual_block_type = ResidualBlockType::BatchnormAfterAdd;
    expected.bottleneck_type = BottleneckType::None;
    expected.stack_depth = vec![2, 2];
    expected.num_filters = vec![16, 32];
    expected.normalization = Normalization::Zscore;
    expected.initialize = false;
    expected.conv_bias = false;
    expected.downsample_conv = DownsampleConv::Middle;
    expected.padding = PaddingMode::Symmetric;
    expected.mean = Some(vec![0.5]);
    expected.std = Some(vec![2.0]);
    expected.zero_init_residual = true;
    expected.bn_epsilon = 1e-3;
    expected.bn_momentum = 0.0;
    assert_eq!(spec, expected);
}

#[test]
fn set_rejects_unknown_keys_with_a_suggestion() {
    let error = spec().set("stack_depht", &list(&[2, 2])).unwrap_err();
    assert_eq!(error.key, "stack_depht");
    assert_eq!(
        error.message,
        "unknown option (did you mean `stack_depth`?); accepted options are input, classes, \
         initial_filter_size, initial_num_filters, initial_stride, initial_pooling, \
         residual_block_type, bottleneck_type, stack_depth, num_filters, normalization, \
         initialize, conv_bias, downsample_conv, padding, mean, std, zero_init_residual, \
         bn_epsilon, bn_momentum"
    );

    let error = spec().set("learning_rate", &Value::Float(0.1)).unwrap_err();
    assert!(
        error
            .message
            .starts_with("unknown option; accepted options are input,"),
        "{error}"
    );
}

#[test]
fn set_rejects_wrong_types_saying_what_it_got() {
    assert_eq!(
        set_error("classes", text("ten")),
        "classes: expected a positive integer, got the string \"ten\""
    );
    assert_eq!(
        set_error("classes", int(-1)),
        "classes: expected a positive integer, got the integer -1"
    );
    assert_eq!(
        set_error("initial_num_filters", Value::Float(64.0)),
        "initial_num_filters: expected a positive integer, got the float 64.0"
    );
    assert_eq!(
        set_error("input", list(&[224])),
        "input: expected [height, width] or [height, width, channels] of positive integers, \
         got the list [224]"
    );
    assert_eq!(
        set_error("input", list(&[224, -224, 3])),
        "input: expected [height, width] or [height, width, channels] of positive integers, \
         got the list [224, -224, 3]"
    );
    assert_eq!(
        set_error("initial_stride", list(&[1, 2, 3])),
        "initial_stride: expected a positive integer n or a list [height, width], got the list \
         [1, 2, 3]"
    );
    assert_eq!(
        set_error("stack_depth", int(3)),
        "stack_depth: expected a list of positive integers such as [3, 4, 6, 3], got the \
         integer 3"
    );
    assert_eq!(
        set_error("mean", Value::List(vec![Value::Float(0.5), text("x")])),
        "mean: expected a list of numbers, one per input channel, such as [0.485, 0.456, \
         0.406], got the list [0.5, \"x\"]"
    );
    assert_eq!(
        set_error("conv_bias", text("yes")),
        "conv_bias: expected true or false, got the string \"yes\""
    );
    assert_eq!(
        set_error("bn_epsilon", Value::Bool(true)),
        "bn_epsilon: expected a number, got the boolean true"
    );
}

#[test]
fn set_lists_the_choices_of_an_enum_option() {
    let cases = [
        ("initial_pooling", "\"max\", \"average\", \"none\""),
        (
            "residual_block_type",
            "\"batchnorm-before-add\", \"batchnorm-after-add\"",
        ),
        ("bottleneck_type", "\"downsample-first-conv\", \"none\""),
        ("normalization", "\"zerocenter\", \"zscore\", \"none\""),
        ("downsample_conv", "\"first\", \"middle\""),
        ("padding", "\"same\", \"symmetric\""),
    ];
    for (key, choices) in cases {
        assert_eq!(
            set_error(key, text("maximum")),
            format!("{key}: expected one of {choices}, got the string \"maximum\"")
        );
        assert_eq!(
            set_error(key, Value::Bool(true)),
            format!("{key}: expected one of {choices}, got the boolean true")
        );
    }
}

#[test]
fn sizes_accept_a_single_number_or_a_pair() {
    let mut spec = spec();
    spec.set("initial_filter_size", &int(5)).unwrap();
    spec.set("initial_stride", &list(&[2, 1])).unwrap();
    spec.set("input", &list(&[28, 32])).unwrap();
    assert_eq!(spec.initial_filter_size, [5, 5]);
    assert_eq!(spec.initial_stride, [2, 1]);
    assert_eq!(spec.input, [28, 32, 1]);
}

// from_values -------------------------------------------------------------

fn pairs(items: &[(&str, Value)]) -> Vec<(String, Value)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn at(index: Option<usize>, key: &str, message: &str) -> SpecErrorAt {
    SpecErrorAt {
        index,
        error: SpecError::new(key, message),
    }
}

#[test]
fn from_values_builds_a_valid_spec() {
    let spec = Spec::from_values(&pairs(&[
        ("classes", int(10)),
        ("input", list(&[224, 224, 3])),
        ("stack_depth", list(&[3, 4, 23, 3])),
    ]))
    .unwrap();
    let mut expected = Spec::new([224, 224, 3], 10);
    expected.stack_depth = vec![3, 4, 23, 3];
    assert_eq!(spec, expected);
}

#[test]
fn from_values_requires_input_and_classes() {
    let error = Spec::from_values(&pairs(&[("classes", int(10))])).unwrap_err();
    assert_eq!(
        error,
        at(
            None,
            "input",
            "missing; give the input size as [height, width] or [height, width, channels]"
        )
    );
    let error = Spec::from_values(&pairs(&[("input", list(&[28, 28]))])).unwrap_err();
    assert_eq!(
        error,
        at(
            None,
            "classes",
            "missing; give the number of classes as a positive integer"
        )
    );
}

#[test]
fn from_values_points_at_the_offending_pair() {
    let base = [("input", list(&[64, 64, 3])), ("classes", int(10))];

    // A rejected value.
    let mut items = base.to_vec();
    items.push(("initial_pooling", text("maximum")));
    let error = Spec::from_values(&pairs(&items)).unwrap_err();
    assert_eq!(error.index, Some(2));
    assert_eq!(error.error.key, "initial_pooling");

    // A repeated key.
    let mut items = base.to_vec();
    items.push(("classes", int(3)));
    let error = Spec::from_values(&pairs(&items)).unwrap_err();
    assert_eq!(
        error,
        at(
            Some(2),
            "classes",
            "given twice (entries 2 and 3); keep only one"
        )
    );

    // A validation rule on an option the user wrote.
    let mut items = base.to_vec();
    items.push(("num_filters", list(&[64, 0, 256, 512])));
    let error = Spec::from_values(&pairs(&items)).unwrap_err();
    assert_eq!(
        (error.index, error.error.key.as_str()),
        (Some(2), "num_filters")
    );

    // A length mismatch where only num_filters was written points at it.
    let mut items = base.to_vec();
    items.push(("num_filters", list(&[64, 128])));
    let error = Spec::from_values(&pairs(&items)).unwrap_err();
    assert_eq!(
        (error.index, error.error.key.as_str()),
        (Some(2), "stack_depth")
    );

    // A default that does not fit the input points at the input.
    let items = [("input", list(&[16, 16, 3])), ("classes", int(10))];
    let error = Spec::from_values(&pairs(&items)).unwrap_err();
    assert_eq!((error.index, error.error.key.as_str()), (Some(0), "input"));

    // A rule that ties two options blames the one it names.
    let error = Spec::from_values(&pairs(&[
        ("input", list(&[64, 64, 3])),
        ("classes", int(10)),
        ("residual_block_type", text("batchnorm-after-add")),
        ("zero_init_residual", Value::Bool(true)),
    ]))
    .unwrap_err();
    assert_eq!(
        (error.index, error.error.key.as_str()),
        (Some(3), "zero_init_residual")
    );
}
