//! `resnet summary`: counts against published figures, JSON and the
//! Graphviz layer graph.

mod cli_support;

use cli_support::{arg, resnet};
use serde_json::Value;

fn scratch() -> std::path::PathBuf {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .keep()
}

#[test]
fn resnet50_json_matches_matlab_counts() {
    // Run outside the repository: the name resolves to the shipped configs/.
    let root = scratch();
    let run = resnet(&root, &["summary", "resnet50", "--json"]).ok();
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    // Acceptance case A09: resnetNetwork's defaults with 10 classes have
    // 176 layers, 191 connections and 23,555,082 learnable values (conv
    // biases included, as MATLAB counts them).
    assert_eq!(json["layers"], 176);
    assert_eq!(json["connections"], 191);
    assert_eq!(json["parameters"], 23_555_082);
    assert_eq!(json["table"].as_array().unwrap().len(), 176);
}

#[test]
fn mnist_table_and_dot_graph() {
    let root = scratch();
    let dot = root.join("mnist.dot");
    let run = resnet(&root, &["summary", "mnist", "--dot", arg(&dot)]).ok();
    // The figures for the default config.
    assert!(run.stdout.contains("37 layers"), "{}", run.stdout);
    assert!(run.stdout.contains("43,178"), "{}", run.stdout);

    let graph = std::fs::read_to_string(&dot).unwrap();
    assert!(graph.starts_with("digraph"));
    let json: Value =
        serde_json::from_str(&resnet(&root, &["summary", "mnist", "--json"]).ok().stdout).unwrap();
    let edges = graph.lines().filter(|l| l.contains("->")).count();
    assert_eq!(edges as u64, json["connections"].as_u64().unwrap());
    assert_eq!(json["layers"], 37);
}

#[test]
fn a_config_path_works_like_a_name() {
    let root = scratch();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/resnet50.toml");
    let by_path = resnet(&root, &["summary", path, "--json"]).ok();
    let by_name = resnet(&root, &["summary", "resnet50", "--json"]).ok();
    assert_eq!(by_path.stdout, by_name.stdout);

    // A user's own configs/ folder in the working directory comes first.
    std::fs::create_dir(root.join("configs")).unwrap();
    std::fs::write(root.join("configs/mine.toml"), cli_support::TINY_CONFIG).unwrap();
    let run = resnet(&root, &["summary", "mine", "--json"]).ok();
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["classes"], 3);
}
