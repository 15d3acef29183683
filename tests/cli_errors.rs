//! Bad input at the command line: each gives one `error: ...` line naming
//! the problem and exit status 1, never a panic.

mod cli_support;

use std::path::PathBuf;

use cli_support::{arg, resnet, write_dataset, write_flat_dataset, write_tiny_config};

fn scratch() -> PathBuf {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .keep()
}

#[test]
fn unknown_config_name_lists_the_names() {
    let root = scratch();
    let run = resnet(&root, &["train", "--config", "resnet9000"]);
    run.fails_with(&[
        "unknown config 'resnet9000'",
        "mnist",
        "resnet18",
        "resnet50",
        "path of a TOML file",
    ]);

    let run = resnet(&root, &["summary", "nosuch"]);
    run.fails_with(&["unknown config 'nosuch'", "resnet152"]);
}

#[test]
fn config_file_errors_point_at_line_and_column() {
    let root = scratch();
    let bad = root.join("bad.toml");
    // Line 4 misspells stack_depth; the key starts in column 1.
    std::fs::write(
        &bad,
        "version = 1\ninput = [8, 8, 1]\nclasses = 3\nstak_depth = [1]\n",
    )
    .unwrap();
    let run = resnet(&root, &["train", "--config", arg(&bad)]);
    run.fails_with(&[&format!("{}:4:1: stak_depth:", bad.display())]);

    // A value of the wrong type, in column 1 of line 3 ("classes").
    std::fs::write(
        &bad,
        "version = 1\ninput = [8, 8, 1]\nclasses = \"three\"\n",
    )
    .unwrap();
    let run = resnet(&root, &["summary", arg(&bad)]);
    run.fails_with(&[&format!("{}:3:1: classes:", bad.display())]);

    let run = resnet(&root, &["train", "--config", "missing/net.toml"]);
    run.fails_with(&["config file missing/net.toml does not exist"]);
}

#[test]
fn shipped_digits_need_a_28_by_28_grey_config() {
    let root = scratch();
    let config = write_tiny_config(&root);
    let run = resnet(&root, &["train", "--config", arg(&config), "--out", "run"]);
    run.fails_with(&["takes 8 x 8 x 1 images", "28 x 28 x 1", "pass --data DIR"]);
    assert!(
        !root.join("run").exists(),
        "the run folder was made before the data check"
    );
}

#[test]
fn missing_and_empty_data_folders() {
    let root = scratch();
    let config = write_tiny_config(&root);
    let run = resnet(
        &root,
        &["train", "--config", arg(&config), "--data", "nowhere"],
    );
    run.fails_with(&["data folder nowhere does not exist"]);

    std::fs::create_dir(root.join("empty")).unwrap();
    let run = resnet(
        &root,
        &["train", "--config", arg(&config), "--data", "empty"],
    );
    run.fails_with(&["data folder empty has no class sub-folders"]);
}

#[test]
fn a_class_without_images() {
    let root = scratch();
    let config = write_tiny_config(&root);
    let data = write_flat_dataset(&root.join("data"), &["a", "b"], 4);
    std::fs::create_dir(data.join("c")).unwrap();
    std::fs::write(data.join("c").join("notes.txt"), "not an image").unwrap();
    let run = resnet(
        &root,
        &["train", "--config", arg(&config), "--data", arg(&data)],
    );
    run.fails_with(&["class 'c'", "has no images"]);
}

#[test]
fn corrupt_images_are_skipped_with_a_count_or_fail_when_none_are_left() {
    let root = scratch();
    let config = write_tiny_config(&root);
    let data = write_flat_dataset(&root.join("data"), &["a", "b", "c"], 10);
    for i in 0..2 {
        std::fs::write(data.join("a").join(format!("broken{i}.png")), b"not a png").unwrap();
    }
    // Training goes on without the two broken files.
    let run = resnet(
        &root,
        &[
            "train",
            "--config",
            arg(&config),
            "--data",
            arg(&data),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--out",
            "run",
            "--quiet",
        ],
    )
    .ok();
    assert!(
        run.stderr.contains("warning: skipping unreadable image"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("skipped 2 unreadable image(s)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("kept 30"), "{}", run.stderr);

    // A class whose every file is broken cannot be learned.
    for i in 0..10 {
        std::fs::write(data.join("b").join(format!("{i:03}.png")), b"garbage").unwrap();
    }
    let run = resnet(
        &root,
        &["train", "--config", arg(&config), "--data", arg(&data)],
    );
    run.fails_with(&["class 'b'", "no readable images (10 unreadable)"]);
}

#[test]
fn fewer_images_than_one_batch() {
    let root = scratch();
    let config = write_tiny_config(&root);
    let data = write_dataset(&root.join("data"), 3, 1);
    let run = resnet(
        &root,
        &[
            "train",
            "--config",
            arg(&config),
            "--data",
            arg(&data),
            "--out",
            "r",
        ],
    );
    run.fails_with(&[
        "training set has 9 images, fewer than one batch of 64",
        "--batch-size",
    ]);
    assert!(!root.join("r").exists());
}

#[test]
fn class_count_must_match_the_config() {
    let root = scratch();
    let config = write_tiny_config(&root);
    let data = write_flat_dataset(&root.join("data"), &["a", "b"], 4);
    let run = resnet(
        &root,
        &["train", "--config", arg(&config), "--data", arg(&data)],
    );
    run.fails_with(&["the network has 3 classes", "holds 2 (a, b)"]);
}

#[test]
fn unwritable_out_folder() {
    let root = scratch();
    let config = write_tiny_config(&root);
    let data = write_dataset(&root.join("data"), 4, 1);
    // A folder inside a regular file cannot be made, even by root.
    std::fs::write(root.join("file"), "x").unwrap();
    let run = resnet(
        &root,
        &[
            "train",
            "--config",
            arg(&config),
            "--data",
            arg(&data),
            "--batch-size",
            "4",
            "--out",
            "file/run",
        ],
    );
    run.fails_with(&["--out file/run is not a writable folder"]);
}

#[test]
fn resume_needs_a_checkpoint_and_an_out_folder() {
    let root = scratch();
    std::fs::create_dir(root.join("run")).unwrap();
    let run = resnet(&root, &["train", "--resume", "--out", "run"]);
    run.fails_with(&["--resume: run has no model.safetensors to continue from"]);

    // clap rejects --resume without --out with its usage error (status 2).
    let run = resnet(&root, &["train", "--resume"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--out"), "{}", run.stderr);
}

#[test]
fn model_folder_without_or_with_a_corrupt_checkpoint() {
    let root = scratch();
    std::fs::create_dir(root.join("model")).unwrap();
    let run = resnet(&root, &["eval", "--model", "model"]);
    run.fails_with(&["--model model has no model.safetensors"]);

    let run = resnet(&root, &["predict", "--model", "nowhere", "x.png"]);
    run.fails_with(&["--model nowhere is not a folder"]);

    std::fs::write(
        root.join("model").join("model.safetensors"),
        b"\x08\0\0\0\0\0\0\0{}garbage",
    )
    .unwrap();
    let run = resnet(&root, &["eval", "--model", "model"]);
    run.fails_with(&[
        "cannot load the model in model",
        "is not a safetensors file",
    ]);
}

#[test]
fn bad_numbers_are_usage_errors() {
    let root = scratch();
    for (flag, value) in [("--lr", "0"), ("--epochs", "0"), ("--momentum", "1.5")] {
        let run = resnet(&root, &["train", flag, value]);
        assert_eq!(run.code, Some(2), "{flag} {value}: {}", run.stderr);
        assert!(run.stderr.contains(&format!("'{value}'")), "{}", run.stderr);
    }
}

/// Without the `cuda` feature (as the tests are built), `--device cuda`
/// says how to get a CUDA build before touching data or output folders.
#[test]
#[cfg(not(feature = "cuda"))]
fn device_cuda_without_the_feature_says_how_to_rebuild() {
    let root = scratch();
    let out = root.join("run");
    let run = resnet(&root, &["train", "--device", "cuda", "--out", arg(&out)]);
    run.fails_with(&[
        "--device cuda",
        "built without CUDA support",
        "--features cuda",
    ]);
    assert!(!out.exists(), "the run folder was created");

    let model = root.join("model");
    let run = resnet(&root, &["eval", "--device", "cuda", "--model", arg(&model)]);
    run.fails_with(&["built without CUDA support", "--device cpu"]);

    let run = resnet(&root, &["train", "--device", "tpu"]);
    assert_eq!(run.code, Some(2), "clap's usage error: {}", run.stderr);
    assert!(
        run.stderr.contains("cpu") && run.stderr.contains("cuda"),
        "{}",
        run.stderr
    );
}

#[test]
fn negative_numbers_are_values_with_a_clear_complaint() {
    let root = scratch();
    for (flag, part) in [("--lr", "greater than 0, got '-1'"), ("--seed", "'-1'")] {
        let run = resnet(&root, &["train", flag, "-1"]);
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        assert!(run.stderr.contains(part), "{flag}: {}", run.stderr);
        assert!(
            !run.stderr.contains("unexpected argument"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn configs_in_subfolders_go_by_name() {
    let root = scratch();
    let run = resnet(&root, &["summary", "torchvision/resnet18"]).ok();
    assert!(
        run.stdout.contains("11,689,512") || run.stdout.contains("11689512"),
        "{}",
        run.stdout
    );
    let run = resnet(&root, &["summary", "nosuch"]);
    run.fails_with(&["torchvision/resnet50"]);
}

/// With 1x1 maps in the last stack a batch of one cannot train (A07);
/// the run fails before its first step and leaves no empty folder.
#[test]
fn batch_of_one_with_1x1_maps_fails_and_leaves_no_folder() {
    let root = scratch();
    let config = root.join("deep.toml");
    let tiny = std::fs::read_to_string(write_tiny_config(&root)).unwrap();
    let deep = tiny
        .replace("stack_depth = [1, 1]", "stack_depth = [1, 1, 1, 1]")
        .replace("num_filters = [4, 8]", "num_filters = [4, 4, 4, 4]");
    std::fs::write(&config, deep).unwrap();
    let data = write_dataset(&root, 4, 2);
    let out = root.join("run");
    let args = [
        "train",
        "--config",
        arg(&config),
        "--data",
        arg(&data),
        "--batch-size",
        "1",
        "--epochs",
        "1",
        "--out",
        arg(&out),
    ];
    let run = resnet(&root, &args);
    run.fails_with(&["batch size 1", "1x1"]);
    assert!(!out.exists(), "an empty run folder was left behind");

    // The default two stacks end in 4x4 maps: a batch of one trains.
    let small = root.join("small");
    let tiny = write_tiny_config(&root);
    let args = [
        "train",
        "--config",
        arg(&tiny),
        "--data",
        arg(&data),
        "--batch-size",
        "1",
        "--epochs",
        "1",
        "--out",
        arg(&small),
        "--quiet",
    ];
    resnet(&root, &args).ok();
    assert!(small.join("model.safetensors").is_file());
}

/// A spec too large to allocate is refused before any data is read, not
/// left to abort the process.
#[test]
fn an_absurdly_large_network_is_refused_up_front() {
    let root = scratch();
    let tiny = std::fs::read_to_string(write_tiny_config(&root)).unwrap();
    let config = root.join("huge.toml");
    let huge = tiny.replace(
        "initial_num_filters = 4",
        "initial_num_filters = 4000000000",
    );
    std::fs::write(&config, huge).unwrap();
    let out = root.join("run");
    let run = resnet(
        &root,
        &["train", "--config", arg(&config), "--out", arg(&out)],
    );
    run.fails_with(&["huge.toml", "too large to build", "fewer filters"]);
    assert!(!out.exists());
}
