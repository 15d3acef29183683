//! Spec files: positions of every kind of error, the `to_toml` round trip
//! and the shipped configs.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use resnet_spec::{
    BottleneckType, ConfigError, DownsampleConv, Normalization, PaddingMode, Pooling,
    ResidualBlockType, Spec, Summary,
};

fn error(text: &str) -> ConfigError {
    Spec::from_toml_str(text, "net.toml").unwrap_err()
}

fn position(e: &ConfigError) -> (usize, usize, &str) {
    (e.line, e.column, e.key.as_str())
}

#[test]
fn a_file_with_version_and_required_keys_reads() {
    let text = "# a net\nversion = 1\ninput = [28, 28]\nclasses = 10\ninitial_stride = 1\n";
    let spec = Spec::from_toml_str(text, "net.toml").unwrap();
    let mut expected = Spec::new([28, 28, 1], 10);
    expected.initial_stride = [1, 1];
    assert_eq!(spec, expected);
}

#[test]
fn unknown_key_points_at_the_key() {
    let text = "# a net\nversion = 1\ninput = [224, 224, 3]\nclasses = 10\nstack_depht = [2, 2]\n";
    let e = error(text);
    assert_eq!(position(&e), (5, 1, "stack_depht"));
    assert!(
        e.to_string().starts_with(
            "net.toml:5:1: stack_depht: unknown option (did you mean `stack_depth`?); \
             accepted options are input, classes,"
        ),
        "{e}"
    );
}

#[test]
fn wrong_type_points_at_the_indented_key() {
    let text = "version = 1\ninput = [224, 224, 3]\n\n   classes = \"ten\"\n";
    assert_eq!(
        error(text).to_string(),
        "net.toml:4:4: classes: expected a positive integer, got the string \"ten\""
    );
}

#[test]
fn bad_choice_points_at_the_key_and_lists_the_choices() {
    let text = "version = 1\ninput = [224, 224, 3]\nclasses = 10\ninitial_pooling = \"maximum\"\n";
    assert_eq!(
        error(text).to_string(),
        "net.toml:4:1: initial_pooling: expected one of \"max\", \"average\", \"none\", got the \
         string \"maximum\""
    );
}

#[test]
fn version_is_required_and_checked() {
    let e = error("input = [224, 224, 3]\nclasses = 10\n");
    assert_eq!(
        e.to_string(),
        "net.toml:1:1: version: missing; spec files must start with `version = 1`, the only \
         version this reader supports"
    );

    let e = error("# new format\ninput = [224, 224, 3]\nversion = 2\nclasses = 10\n");
    assert_eq!(
        e.to_string(),
        "net.toml:3:1: version: unsupported version 2; this reader supports version = 1"
    );
    let e = error("version = \"1\"\ninput = [224, 224, 3]\nclasses = 10\n");
    assert_eq!(position(&e), (1, 1, "version"));
    assert!(e.message.starts_with("unsupported version \"1\""), "{e}");
}

#[test]
fn validation_error_points_at_the_key_it_names() {
    // A default stack that is too deep for a small input: blame the input.
    let text = "version = 1\nclasses = 10\ninput = [16, 16, 3]\n";
    assert_eq!(
        error(text).to_string(),
        "net.toml:3:1: input: the height 16 is below the minimum 32 for this network (stem \
         stride 2, stem pooling, 3 downsampling stacks), got [16, 16, 3]"
    );

    let text = "version = 1\ninput = [224, 224, 3]\nclasses = 10\n  num_filters = [64, 0]\n";
    let e = error(text);
    assert_eq!(position(&e), (4, 3, "num_filters"));
    assert_eq!(e.message, "every entry must be positive, got [64, 0]");

    // The length rule names stack_depth; only num_filters is in the file.
    let text = "version = 1\ninput = [224, 224, 3]\nclasses = 10\nnum_filters = [64, 128]\n";
    assert_eq!(position(&error(text)), (4, 1, "stack_depth"));
}

#[test]
fn missing_required_key_points_at_the_start() {
    let e = error("version = 1\ninput = [224, 224, 3]\n");
    assert_eq!(
        e.to_string(),
        "net.toml:1:1: classes: missing; give the number of classes as a positive integer"
    );
}

#[test]
fn tables_are_not_options() {
    let e = error("version = 1\ninput = [224, 224, 3]\nclasses = 10\n\n[model]\ndepth = 50\n");
    assert_eq!(position(&e), (5, 2, "model"));
    assert!(
        e.message
            .starts_with("unknown option; accepted options are"),
        "{e}"
    );

    let e = error("version = 1\nclasses = 10\n[input]\nheight = 224\n");
    assert_eq!(position(&e), (3, 2, "input"));
    assert_eq!(
        e.message,
        "expected a number, string, boolean or list, got a table; options are plain \
         `key = value` lines at the top of the file"
    );
}

#[test]
fn syntax_errors_keep_the_toml_position() {
    for text in [
        "version = 1\ninput = [224, 224, 3\nclasses = 10\n",
        "version = 1\ninput = [224, 224, 3]\nclasses = \n",
        "version = 1\nclasses = 10\nclasses = 11\n",
    ] {
        let e = error(text);
        assert_eq!(e.key, "syntax");

        // The toml crate's own report is the reference for the position.
        let reference = toml::from_str::<toml::Table>(text).unwrap_err().to_string();
        let expected = format!("at line {}, column {}", e.line, e.column);
        assert!(reference.contains(&expected), "{reference} vs {e}");
        for part in e.message.split("; ") {
            assert!(reference.contains(part), "{reference} vs {e}");
        }
        assert!(!e.message.contains('\n'), "{e}");
    }
}

#[test]
fn unreadable_file_names_the_path() {
    let e = Spec::from_toml_file(Path::new("/nonexistent/net.toml")).unwrap_err();
    assert_eq!(
        (e.file.as_str(), e.line, e.column, e.key.as_str()),
        ("/nonexistent/net.toml", 0, 0, "file")
    );
    assert!(e.message.starts_with("cannot read it: "), "{e}");
}

// Round trip --------------------------------------------------------------

#[test]
fn to_toml_writes_every_option_after_the_version() {
    let text = Spec::new([224, 224, 3], 10).to_toml();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with('#'));
    assert_eq!(lines[1], "version = 1");
    for key in resnet_spec::OPTION_KEYS {
        let present = lines.iter().any(|l| l.starts_with(&format!("{key} = ")));
        // mean and std are written only when set.
        assert_eq!(present, !matches!(*key, "mean" | "std"), "{key}");
    }
    assert!(text.contains("\ninput = [224, 224, 3]\n"));
    assert!(text.contains("\nresidual_block_type = \"batchnorm-before-add\"\n"));
    assert!(text.contains("\nbn_epsilon = 1e-5\n"));
}

prop_compose! {
    fn any_spec()(
        input in (32usize..300, 32usize..300, 1usize..5),
        classes in 1usize..2000,
        filter in (1usize..8, 1usize..8),
        filters in 1usize..100,
        stride in (1usize..3, 1usize..3),
        choices in (
            0usize..3,
            any::<bool>(),
            any::<bool>(),
            0usize..3,
            any::<bool>(),
            any::<bool>(),
        ),
        flags in (any::<bool>(), any::<bool>(), any::<bool>()),
        stacks in prop::collection::vec((1usize..5, 1usize..600), 1..3),
        stats in prop::option::of(prop::collection::vec((-10.0f32..10.0, 0.001f32..10.0), 4)),
        bn in (1e-8f64..1.0, 0.0f64..=1.0),
    ) -> Spec {
        let mut spec = Spec::new([input.0, input.1, input.2], classes);
        spec.initial_filter_size = [filter.0, filter.1];
        spec.initial_num_filters = filters;
        spec.initial_stride = [stride.0, stride.1];
        spec.initial_pooling = [Pooling::Max, Pooling::Average, Pooling::None][choices.0];
        spec.residual_block_type = if choices.1 {
            ResidualBlockType::BatchnormBeforeAdd
        } else {
            ResidualBlockType::BatchnormAfterAdd
        };
        spec.bottleneck_type =
            if choices.2 { BottleneckType::DownsampleFirstConv } else { BottleneckType::None };
        spec.normalization =
            [Normalization::Zerocenter, Normalization::Zscore, Normalization::None][choices.3];
        spec.downsample_conv =
            if choices.4 { DownsampleConv::First } else { DownsampleConv::Middle };
        spec.padding = if choices.5 { PaddingMode::Same } else { PaddingMode::Symmetric };
        spec.initialize = flags.0;
        spec.conv_bias = flags.1;
        spec.zero_init_residual = flags.2 && choices.1;
        spec.stack_depth = stacks.iter().map(|s| s.0).collect();
        spec.num_filters = stacks.iter().map(|s| s.1).collect();
        if let Some(stats) = stats {
            let channels = input.2;
            spec.mean = Some(stats.iter().take(channels).map(|s| s.0).collect());
            spec.std = Some(stats.iter().take(channels).map(|s| s.1).collect());
        }
        spec.bn_epsilon = bn.0;
        spec.bn_momentum = bn.1;
        spec
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn to_toml_reads_back_the_same_spec(spec in any_spec()) {
        let text = spec.to_toml();
        let read = Spec::from_toml_str(&text, "saved.toml");
        prop_assert_eq!(read, Ok(spec), "{}", text);
    }
}

#[test]
fn to_toml_keeps_float_statistics_exactly() {
    let mut spec = Spec::new([224, 224, 3], 1000);
    spec.mean = Some(vec![0.485, 0.456, 0.406]);
    spec.std = Some(vec![0.229, 0.224, 0.225]);
    spec.bn_epsilon = 1e-5;
    spec.bn_momentum = 0.1;
    let text = spec.to_toml();
    assert!(text.contains("\nmean = [0.485, 0.456, 0.406]\n"), "{text}");
    assert_eq!(Spec::from_toml_str(&text, "saved.toml"), Ok(spec));
}

// Shipped configs ---------------------------------------------------------

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

#[test]
fn every_shipped_config_reads_and_plans() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(configs_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let spec = Spec::from_toml_file(&path).unwrap_or_else(|e| panic!("{e}"));
        spec.plan().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert!(
            lines.next().unwrap().starts_with("# "),
            "{}",
            path.display()
        );
        assert_eq!(lines.next(), Some("version = 1"), "{}", path.display());
        names.push(path.file_stem().unwrap().to_string_lossy().into_owned());
    }
    names.sort();
    for name in [
        "mnist",
        "resnet101",
        "resnet152",
        "resnet18",
        "resnet34",
        "resnet50",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "configs/{name}.toml is missing"
        );
    }
}

fn config_summary(name: &str) -> Summary {
    let spec = Spec::from_toml_file(&configs_dir().join(format!("{name}.toml"))).unwrap();
    Summary::new(&spec).unwrap()
}

#[test]
fn shipped_configs_have_the_published_layer_counts() {
    // (layers, depth): input + conv, bn, relu, pool; 7 layers per basic and
    // 10 per bottleneck block; conv + bn per shortcut; pool, fc, softmax.
    // ResNet-34: 5 + 16 * 7 + 3 * 2 + 3 = 126. ResNet-152: 5 + 50 * 10 + 4 * 2
    // + 3 = 516.
    let expected = [
        ("resnet18", 70, 18, 11_186_442),
        ("resnet50", 176, 50, 23_555_082),
        ("resnet101", 346, 101, 42_573_322),
    ];
    for (name, layers, depth, parameters) in expected {
        let s = config_summary(name);
        assert_eq!(
            (s.layers, s.depth, s.parameters),
            (layers, depth, parameters),
            "{name}"
        );
    }
    let s = config_summary("resnet34");
    assert_eq!((s.layers, s.depth), (126, 34));
    let s = config_summary("resnet152");
    assert_eq!((s.layers, s.depth), (516, 152));

    let s = config_summary("mnist");
    assert_eq!((s.layers, s.parameters), (37, 43_178));
    assert_eq!(s.final_activation, [14, 14, 32]);
}
