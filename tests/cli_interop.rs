//! `resnet export` and `resnet import`: a trained model goes out in
//! torchvision's names and comes back in unchanged; another class count
//! needs --reinit-classifier.

mod cli_support;

use std::path::Path;

use cli_support::{arg, resnet, write_dataset};
use serde_json::Value;

/// The tiny test network in torchvision's layout (no conv bias, symmetric
/// padding, stride in the middle convolution, no input normalization).
const TINY_TORCHVISION: &str = r#"version = 1
input = [8, 8, 1]
classes = 3
initial_filter_size = 3
initial_num_filters = 4
initial_stride = 1
initial_pooling = "max"
bottleneck_type = "none"
stack_depth = [1, 1]
num_filters = [4, 8]
normalization = "none"
conv_bias = false
padding = "symmetric"
downsample_conv = "middle"
"#;

/// The tensor table of a safetensors file (without its metadata) and its
/// tensor bytes, read by hand: 8 bytes of header length, the JSON header,
/// the data.
fn tensors_of(path: &Path) -> (Value, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + length]).unwrap();
    header.as_object_mut().unwrap().remove("__metadata__");
    (header, bytes[8 + length..].to_vec())
}

#[test]
fn export_then_import_keeps_every_tensor_and_new_classes_need_the_flag() {
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = root.path();
    let config = root.join("tiny_tv.toml");
    std::fs::write(&config, TINY_TORCHVISION).unwrap();
    let data = write_dataset(root, 8, 4);
    let trained = root.join("trained");
    let train = [
        "train",
        "--config",
        arg(&config),
        "--data",
        arg(&data),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--out",
        arg(&trained),
        "--quiet",
    ];
    resnet(root, &train).ok();

    let exported = root.join("exported.safetensors");
    let run = resnet(
        root,
        &["export", "--model", arg(&trained), "--out", arg(&exported)],
    )
    .ok();
    assert!(
        run.stderr.contains("num_batches_tracked counters"),
        "{}",
        run.stderr
    );
    let (table, data_bytes) = tensors_of(&exported);
    assert_eq!(table["bn1.num_batches_tracked"]["dtype"], "I64");
    assert_eq!(table["fc.weight"]["shape"], serde_json::json!([3, 8]));
    assert!(table.get("conv1.bias").is_none());

    let imported = root.join("imported");
    let import = [
        "import",
        "--config",
        arg(&config),
        "--weights",
        arg(&exported),
        "--out",
        arg(&imported),
    ];
    let run = resnet(root, &import).ok();
    assert!(
        run.stderr.contains("copied 32 tensors unchanged"),
        "{}",
        run.stderr
    );
    let again = root.join("again.safetensors");
    resnet(
        root,
        &["export", "--model", arg(&imported), "--out", arg(&again)],
    )
    .ok();
    let (table_again, data_again) = tensors_of(&again);
    assert_eq!(table, table_again);
    assert!(
        data_bytes == data_again,
        "the tensors changed on the way through"
    );

    let five = root.join("five");
    let mut import_five = vec![
        "import",
        "--config",
        arg(&config),
        "--weights",
        arg(&exported),
        "--out",
        arg(&five),
        "--classes",
        "5",
    ];
    resnet(root, &import_five).fails_with(&[
        "fc.weight is [3, 8] in the file, [5, 8] in the network",
        "fc.bias is [3] in the file, [5] in the network",
        "--reinit-classifier",
    ]);
    import_five.push("--reinit-classifier");
    let run = resnet(root, &import_five).ok();
    assert!(
        run.stderr.contains("re-created fc.weight [5, 8]"),
        "{}",
        run.stderr
    );
    assert!(five.join("model.safetensors").is_file());
}

/// A zero-centered network keeps its input statistics and class names
/// through export and import, so the imported model scores exactly as the
/// trained one; importing over an existing model is refused.
#[test]
fn export_then_import_keeps_input_statistics_and_class_names() {
    let root = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = root.path();
    let config = root.join("tiny_zc.toml");
    let zerocenter = TINY_TORCHVISION.replace(
        r#"normalization = "none""#,
        r#"normalization = "zerocenter""#,
    );
    std::fs::write(&config, zerocenter).unwrap();
    let data = write_dataset(root, 8, 4);
    let trained = root.join("trained");
    let train = [
        "train",
        "--config",
        arg(&config),
        "--data",
        arg(&data),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--out",
        arg(&trained),
        "--quiet",
    ];
    resnet(root, &train).ok();

    let exported = root.join("exported.safetensors");
    resnet(
        root,
        &["export", "--model", arg(&trained), "--out", arg(&exported)],
    )
    .ok();
    let imported = root.join("imported");
    let import = [
        "import",
        "--config",
        arg(&config),
        "--weights",
        arg(&exported),
        "--out",
        arg(&imported),
    ];
    let run = resnet(root, &import).ok();
    assert!(
        run.stderr.contains("input statistics restored"),
        "{}",
        run.stderr
    );

    let eval = |model: &Path| {
        let run = resnet(root, &["eval", "--model", arg(model), "--data", arg(&data)]).ok();
        let accuracy = run
            .stdout
            .lines()
            .find(|l| l.starts_with("accuracy"))
            .map(String::from);
        (accuracy.expect("eval prints its accuracy"), run.stdout)
    };
    let (trained_accuracy, _) = eval(&trained);
    let (imported_accuracy, report) = eval(&imported);
    assert_eq!(trained_accuracy, imported_accuracy);
    assert!(
        report.contains("checker") && report.contains("vertical"),
        "{report}"
    );

    let run = resnet(root, &import);
    run.fails_with(&["already holds a model.safetensors"]);
}
