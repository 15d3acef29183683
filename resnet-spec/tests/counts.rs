//! MATLAB-style counts of the summary, checked against the figures of the
//! issue and of acceptance case A09 (computed independently of this crate).

use resnet_spec::{BottleneckType, Normalization, Pooling, ResidualBlockType, Spec, Summary};

/// The counts a MATLAB user reads off `analyzeNetwork`.
#[derive(Debug, PartialEq)]
struct Counts {
    layers: usize,
    connections: usize,
    learnables: usize,
    states: usize,
    depth: usize,
    parameters: usize,
}

fn counts(spec: &Spec) -> Counts {
    let s = Summary::new(spec).expect("valid spec");
    Counts {
        layers: s.layers,
        connections: s.connections,
        learnables: s.learnables,
        states: s.states,
        depth: s.depth,
        parameters: s.parameters,
    }
}

fn resnet18(classes: usize) -> Spec {
    let mut spec = Spec::new([224, 224, 3], classes);
    spec.bottleneck_type = BottleneckType::None;
    spec.stack_depth = vec![2, 2, 2, 2];
    spec
}

#[test]
fn resnet50_defaults_match_matlab() {
    let spec = Spec::new([224, 224, 3], 10);
    let expected = Counts {
        layers: 176,
        connections: 191,
        learnables: 214,
        states: 106,
        depth: 50,
        parameters: 23_555_082,
    };
    assert_eq!(counts(&spec), expected);

    let summary = Summary::new(&spec).unwrap();
    assert_eq!(summary.final_activation, [7, 7, 2048]);
    assert_eq!(summary.state_values, 53_120);
}

#[test]
fn resnet101_layout_matches_matlab() {
    let mut spec = Spec::new([224, 224, 3], 10);
    spec.stack_depth = vec![3, 4, 23, 3];
    let expected = Counts {
        layers: 346,
        connections: 378,
        learnables: 418,
        states: 208,
        depth: 101,
        parameters: 42_573_322,
    };
    assert_eq!(counts(&spec), expected);
}

#[test]
fn resnet18_layout_matches_matlab() {
    let expected = Counts {
        layers: 70,
        connections: 77,
        learnables: 82,
        states: 40,
        depth: 18,
        parameters: 11_186_442,
    };
    assert_eq!(counts(&resnet18(10)), expected);
}

#[test]
fn batchnorm_after_add_drops_the_shortcut_batch_norms() {
    let mut spec = Spec::new([224, 224, 3], 10);
    spec.residual_block_type = ResidualBlockType::BatchnormAfterAdd;
    let c = counts(&spec);
    assert_eq!((c.layers, c.learnables, c.states), (172, 206, 98));

    // Four shortcut batch norms of 256, 512, 1024 and 2048 channels leave:
    // 2 * (256 + 512 + 1024 + 2048) = 7,680 parameters fewer.
    assert_eq!(c.parameters, 23_555_082 - 7_680);
    // Depth and connections do not change: a batch norm is neither a conv
    // nor a branch.
    assert_eq!((c.depth, c.connections), (50, 191 - 4));
}

#[test]
fn parameter_counts_follow_the_bias_convention() {
    // A09.
    let mut spec = Spec::new([224, 224, 3], 1000);
    assert_eq!(counts(&spec).parameters, 25_583_592);
    spec.conv_bias = false;
    assert_eq!(counts(&spec).parameters, 25_557_032);
    assert_eq!(Summary::new(&spec).unwrap().state_values, 53_120);

    let mut spec = Spec::new([224, 224, 3], 10);
    spec.conv_bias = false;
    assert_eq!(counts(&spec).parameters, 23_528_522);
    // Without biases each conv has one learnable array instead of two:
    // 53 convs fewer than the 214.
    assert_eq!(counts(&spec).learnables, 214 - 53);

    let mut spec = resnet18(1000);
    assert_eq!(counts(&spec).parameters, 11_694_312);
    spec.conv_bias = false;
    assert_eq!(counts(&spec).parameters, 11_689_512);
}

#[test]
fn mnist_config_is_37_layers_and_43178_parameters() {
    let mut spec = Spec::new([28, 28, 1], 10);
    spec.initial_filter_size = [3, 3];
    spec.initial_num_filters = 16;
    spec.initial_stride = [1, 1];
    spec.initial_pooling = Pooling::None;
    spec.bottleneck_type = BottleneckType::None;
    spec.stack_depth = vec![2, 2];
    spec.num_filters = vec![16, 32];
    spec.normalization = Normalization::Zerocenter;

    // By hand: stem 3*3*1*16 + 16 = 160, bn 32; stack 1: four 3x3x16x16
    // convs with bias (2,320 each) and four bns (32 each) = 9,408; stack 2:
    // 3x3x16x32 (4,640), three 3x3x32x32 (9,248 each), four bns (64 each),
    // shortcut 1x1x16x32 (544) and its bn (64) = 33,248; fc 32*10 + 10 = 330.
    let c = counts(&spec);
    assert_eq!(c.layers, 37);
    assert_eq!(c.parameters, 160 + 32 + 9_408 + 33_248 + 330);
    assert_eq!(c.parameters, 43_178);
}

#[test]
fn summary_table_uses_matlab_layer_conventions() {
    let summary = Summary::new(&Spec::new([224, 224, 3], 10)).unwrap();
    let rows = &summary.rows;

    let first: Vec<(&str, &str, String, String)> = rows[..5]
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.kind.as_str(),
                r.activation_text(),
                r.learnable_text(),
            )
        })
        .collect();
    let expected = [
        ("input", "Image Input", "224x224x3", ""),
        ("conv1", "2-D Convolution", "112x112x64", "7x7x3x64, 1x1x64"),
        ("bn1", "Batch Normalization", "112x112x64", "1x1x64, 1x1x64"),
        ("relu", "ReLU", "112x112x64", ""),
        ("maxpool", "2-D Max Pooling", "56x56x64", ""),
    ];
    for (got, want) in first.iter().zip(expected) {
        assert_eq!((got.0, got.1, got.2.as_str(), got.3.as_str()), want);
    }

    let last: Vec<(&str, &str, String, String)> = rows[rows.len() - 3..]
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.kind.as_str(),
                r.activation_text(),
                r.learnable_text(),
            )
        })
        .collect();
    let expected = [
        ("avgpool", "2-D Global Average Pooling", "1x1x2048", ""),
        ("fc", "Fully Connected", "1x1x10", "10x2048, 10x1"),
        ("softmax", "Softmax", "1x1x10", ""),
    ];
    for (got, want) in last.iter().zip(expected) {
        assert_eq!((got.0, got.1, got.2.as_str(), got.3.as_str()), want);
    }

    // The first block: a bottleneck with a projection shortcut, 64 -> 256.
    let block: Vec<(&str, String)> = rows
        .iter()
        .filter(|r| r.name.starts_with("layer1.0."))
        .map(|r| (r.name.as_str(), r.learnable_text()))
        .collect();
    let expected = [
        ("layer1.0.conv1", "1x1x64x64, 1x1x64"),
        ("layer1.0.bn1", "1x1x64, 1x1x64"),
        ("layer1.0.relu1", ""),
        ("layer1.0.conv2", "3x3x64x64, 1x1x64"),
        ("layer1.0.bn2", "1x1x64, 1x1x64"),
        ("layer1.0.relu2", ""),
        ("layer1.0.conv3", "1x1x64x256, 1x1x256"),
        ("layer1.0.bn3", "1x1x256, 1x1x256"),
        ("layer1.0.downsample.0", "1x1x64x256, 1x1x256"),
        ("layer1.0.downsample.1", "1x1x256, 1x1x256"),
        ("layer1.0.add", ""),
        ("layer1.0.relu", ""),
    ];
    let got: Vec<(&str, &str)> = block.iter().map(|(n, l)| (*n, l.as_str())).collect();
    assert_eq!(got, expected);

    let add = rows.iter().find(|r| r.name == "layer1.0.add").unwrap();
    assert_eq!(add.inputs, ["layer1.0.bn3", "layer1.0.downsample.1"]);
    let add = rows.iter().find(|r| r.name == "layer1.1.add").unwrap();
    assert_eq!(add.inputs, ["layer1.1.bn3", "layer1.0.relu"]);
}

#[test]
fn batchnorm_after_add_places_the_last_batch_norm_after_the_addition() {
    let mut spec = resnet18(10);
    spec.residual_block_type = ResidualBlockType::BatchnormAfterAdd;
    let summary = Summary::new(&spec).unwrap();
    let names: Vec<&str> = summary
        .rows
        .iter()
        .filter(|r| r.name.starts_with("layer2.0."))
        .map(|r| r.name.as_str())
        .collect();
    let expected = [
        "layer2.0.conv1",
        "layer2.0.bn1",
        "layer2.0.relu1",
        "layer2.0.conv2",
        "layer2.0.downsample.0",
        "layer2.0.add",
        "layer2.0.bn2",
        "layer2.0.relu",
    ];
    assert_eq!(names, expected);
    let add = summary
        .rows
        .iter()
        .find(|r| r.name == "layer2.0.add")
        .unwrap();
    assert_eq!(add.inputs, ["layer2.0.conv2", "layer2.0.downsample.0"]);
}

#[test]
fn json_carries_the_counts_and_the_table() {
    let summary = Summary::new(&Spec::new([224, 224, 3], 10)).unwrap();
    let json = summary.to_json();
    assert_eq!(json["layers"], 176);
    assert_eq!(json["connections"], 191);
    assert_eq!(json["learnables"], 214);
    assert_eq!(json["states"], 106);
    assert_eq!(json["depth"], 50);
    assert_eq!(json["parameters"], 23_555_082);
    assert_eq!(json["state_values"], 53_120);
    assert_eq!(json["final_activation"], serde_json::json!([7, 7, 2048]));
    let convention = json["convention"].as_str().unwrap();
    assert!(convention.contains("conv biases included"), "{convention}");
    assert!(convention.contains("batch norm statistics counted separately as state"));

    let table = json["table"].as_array().unwrap();
    assert_eq!(table.len(), 176);
    assert_eq!(table[1]["name"], "conv1");
    assert_eq!(table[1]["type"], "2-D Convolution");
    assert_eq!(table[1]["activation"], "112x112x64");
    assert_eq!(table[1]["learnables"], "7x7x3x64, 1x1x64");
    assert_eq!(table[1]["parameters"], 7 * 7 * 3 * 64 + 64);
}

#[test]
fn display_states_the_counts_and_the_convention() {
    let mut spec = Spec::new([224, 224, 3], 10);
    spec.conv_bias = false;
    let text = Summary::new(&spec).unwrap().to_string();
    assert!(
        text.contains("176 layers, 191 connections, depth 50"),
        "{text}"
    );
    assert!(text.contains("23,528,522"), "{text}");
    assert!(text.contains("53,120"), "{text}");
    assert!(text.contains("conv biases excluded"), "{text}");
    assert!(text.contains("final activation 7x7x2048"), "{text}");
    assert!(text.contains("layer4.2.conv3"), "{text}");
    assert!(text.contains("1x1x512x2048"), "{text}");
}

#[test]
fn dot_graph_has_one_edge_per_connection() {
    for spec in [Spec::new([224, 224, 3], 10), resnet18(10)] {
        let summary = Summary::new(&spec).unwrap();
        let dot = summary.to_dot();
        assert!(dot.starts_with("digraph"));
        assert_eq!(dot.matches(" -> ").count(), summary.connections);
        assert_eq!(dot.matches("[label=").count(), summary.layers);
    }
}
