//! Activation sizes and padding of the plan: acceptance cases A01 (minimum
//! input size), A02 (stem pooling), A03 (any legal size) and the stem
//! padding of A04, plus odd and non-square inputs worked out by hand.

use proptest::prelude::*;
use resnet_spec::{BottleneckType, DownsampleConv, Pad, PaddingMode, Plan, Pooling, Spec};

/// The activation after the stem conv, after the stem (pool), after each
/// stack, as `[h, w, c]`.
fn stack_sizes(plan: &Plan) -> (Vec<[usize; 3]>, Vec<[usize; 3]>) {
    let conv = &plan.stem_conv;
    let stem = vec![
        [conv.output[0], conv.output[1], conv.out_channels],
        plan.stem_output,
    ];
    let mut stacks: Vec<[usize; 3]> = Vec::new();
    let mut previous = "";
    for block in &plan.blocks {
        let stack = block.name.split('.').next().unwrap();
        if stack == previous {
            *stacks.last_mut().unwrap() = block.output;
        } else {
            stacks.push(block.output);
        }
        previous = stack;
    }
    (stem, stacks)
}

fn resnet18(input: [usize; 3]) -> Spec {
    let mut spec = Spec::new(input, 10);
    spec.bottleneck_type = BottleneckType::None;
    spec.stack_depth = vec![2, 2, 2, 2];
    spec
}

fn mnist(input: [usize; 3]) -> Spec {
    let mut spec = Spec::new(input, 10);
    spec.initial_filter_size = [3, 3];
    spec.initial_num_filters = 16;
    spec.initial_stride = [1, 1];
    spec.initial_pooling = Pooling::None;
    spec.bottleneck_type = BottleneckType::None;
    spec.stack_depth = vec![2, 2];
    spec.num_filters = vec![16, 32];
    spec
}

fn pad(top: usize, bottom: usize, left: usize, right: usize) -> Pad {
    Pad {
        top,
        bottom,
        left,
        right,
    }
}

// A01 -------------------------------------------------------------------

#[test]
fn a01_defaults_need_32_pixels() {
    let error = Spec::new([31, 31, 3], 10).plan().unwrap_err();
    assert_eq!(error.key, "input");
    assert!(error.message.contains("height 31"), "{error}");
    assert!(error.message.contains("minimum 32"), "{error}");

    let plan = Spec::new([32, 32, 3], 10).plan().unwrap();
    assert_eq!(plan.final_activation(), [1, 1, 2048]);
    assert_eq!(Spec::new([32, 32, 3], 10).minimum_input_size(), [32, 32]);
}

#[test]
fn a01_small_network_needs_2_pixels() {
    assert_eq!(mnist([28, 28, 1]).minimum_input_size(), [2, 2]);

    // 2x2 -> stem (stride 1, no pool) 2x2x16 -> stack 1 2x2x16 -> stack 2
    // ceil(2/2) = 1: 1x1x32.
    let plan = mnist([2, 2, 1]).plan().unwrap();
    assert_eq!(plan.final_activation(), [1, 1, 32]);

    let error = mnist([1, 1, 1]).plan().unwrap_err();
    assert_eq!(error.key, "input");
    assert!(
        error.message.contains("height 1 is below the minimum 2"),
        "{error}"
    );
}

#[test]
fn a01_minimum_follows_the_stride_of_each_axis() {
    let mut spec = Spec::new([31, 16, 3], 10);
    spec.initial_stride = [2, 1];
    assert_eq!(spec.minimum_input_size(), [32, 16]);
    let error = spec.validate().unwrap_err();
    assert_eq!(error.key, "input");
    assert!(
        error
            .message
            .contains("the height 31 is below the minimum 32"),
        "{error}"
    );

    spec.input = [32, 16, 3];
    let plan = spec.plan().unwrap();
    // Height 32 -> 16 -> 8 -> 8, 4, 2, 1; width 16 -> 16 -> 8 -> 8, 4, 2, 1.
    assert_eq!(plan.final_activation(), [1, 1, 2048]);

    spec.input = [32, 15, 3];
    let error = spec.validate().unwrap_err();
    assert!(
        error
            .message
            .contains("the width 15 is below the minimum 16"),
        "{error}"
    );
}

// A02 -------------------------------------------------------------------

#[test]
fn a02_stem_pooling_halves_224() {
    for pooling in [Pooling::Max, Pooling::Average] {
        let mut spec = Spec::new([224, 224, 3], 10);
        spec.initial_pooling = pooling;
        let plan = spec.plan().unwrap();
        let (stem, stacks) = stack_sizes(&plan);
        assert_eq!(stem, [[112, 112, 64], [56, 56, 64]]);
        assert_eq!(
            stacks,
            [[56, 56, 256], [28, 28, 512], [14, 14, 1024], [7, 7, 2048]]
        );
        assert_eq!(plan.stem_pool.as_ref().unwrap().kind, pooling);
        assert_eq!((plan.fc.in_features, plan.fc.out_features), (2048, 10));
    }
}

#[test]
fn a02_odd_225_rounds_up_everywhere() {
    // "same": 225 -> ceil(225/2) = 113 -> 57 -> 57, 29, 15, 8.
    for pooling in [Pooling::Max, Pooling::Average] {
        let mut spec = Spec::new([225, 225, 3], 10);
        spec.initial_pooling = pooling;
        let plan = spec.plan().unwrap();
        let (stem, stacks) = stack_sizes(&plan);
        assert_eq!(stem, [[113, 113, 64], [57, 57, 64]]);
        assert_eq!(
            stacks,
            [[57, 57, 256], [29, 29, 512], [15, 15, 1024], [8, 8, 2048]]
        );

        // Padding: 7x7/2 on 225 needs (113 - 1) * 2 + 7 - 225 = 6: 3 and 3;
        // 3x3/2 on 113 needs 56 * 2 + 3 - 113 = 2: 1 and 1.
        assert_eq!(plan.stem_conv.pad, pad(3, 3, 3, 3));
        assert_eq!(plan.stem_pool.unwrap().pad, pad(1, 1, 1, 1));
    }
}

#[test]
fn a04_same_padding_of_the_stem_puts_the_odd_pixel_last() {
    let plan = Spec::new([224, 224, 3], 10).plan().unwrap();
    // 7x7/2 on 224: (112 - 1) * 2 + 7 - 224 = 5 -> 2 before, 3 after.
    assert_eq!(plan.stem_conv.pad, pad(2, 3, 2, 3));
    // 3x3/2 on 112: 55 * 2 + 3 - 112 = 1 -> 0 before, 1 after.
    assert_eq!(plan.stem_pool.unwrap().pad, pad(0, 1, 0, 1));
}

// A03 -------------------------------------------------------------------

#[test]
fn a03_resnet18_takes_any_legal_size() {
    // 256: 128, 64, 64, 32, 16, 8.
    let (_, stacks) = stack_sizes(&resnet18([256, 256, 3]).plan().unwrap());
    assert_eq!(stacks.last(), Some(&[8, 8, 512]));

    // 200 x 300: 100x150, 50x75, 50x75, 25x38, 13x19, 7x10.
    let plan = resnet18([200, 300, 3]).plan().unwrap();
    let (stem, stacks) = stack_sizes(&plan);
    assert_eq!(stem, [[100, 150, 64], [50, 75, 64]]);
    assert_eq!(
        stacks,
        [[50, 75, 64], [25, 38, 128], [13, 19, 256], [7, 10, 512]]
    );

    // 32: 16, 8, 8, 4, 2, 1.
    let plan = resnet18([32, 32, 3]).plan().unwrap();
    let (stem, stacks) = stack_sizes(&plan);
    assert_eq!(stem, [[16, 16, 64], [8, 8, 64]]);
    assert_eq!(stacks, [[8, 8, 64], [4, 4, 128], [2, 2, 256], [1, 1, 512]]);

    // Logits are N x 10 whatever the size.
    for input in [[256, 256, 3], [200, 300, 3], [32, 32, 3]] {
        assert_eq!(resnet18(input).plan().unwrap().fc.out_features, 10);
    }
}

// Odd and non-square ------------------------------------------------------

#[test]
fn non_square_224_by_160() {
    let plan = Spec::new([224, 160, 3], 10).plan().unwrap();
    let (stem, stacks) = stack_sizes(&plan);
    // Width: 160 -> 80 -> 40 -> 40, 20, 10, 5.
    assert_eq!(stem, [[112, 80, 64], [56, 40, 64]]);
    assert_eq!(
        stacks,
        [[56, 40, 256], [28, 20, 512], [14, 10, 1024], [7, 5, 2048]]
    );
    // Width padding: 7x7/2 on 160: 79 * 2 + 7 - 160 = 5 -> 2, 3; pool on 80:
    // 39 * 2 + 3 - 80 = 1 -> 0, 1.
    assert_eq!(plan.stem_conv.pad, pad(2, 3, 2, 3));
    assert_eq!(plan.stem_pool.unwrap().pad, pad(0, 1, 0, 1));
}

#[test]
fn rectangular_filter_and_stride() {
    let mut spec = Spec::new([224, 224, 3], 10);
    spec.initial_filter_size = [7, 5];
    spec.initial_stride = [2, 1];
    let plan = spec.plan().unwrap();

    // Height: 7/2 on 224 -> 112 (pad 5: 2, 3); width: 5/1 on 224 -> 224
    // (pad (224 - 1) + 5 - 224 = 4: 2, 2).
    assert_eq!(plan.stem_conv.kernel, [7, 5]);
    assert_eq!(plan.stem_conv.pad, pad(2, 3, 2, 2));
    let (stem, stacks) = stack_sizes(&plan);
    // Pool: 112 -> 56, 224 -> 112 (width pad 111 * 2 + 3 - 224 = 1: 0, 1).
    assert_eq!(stem, [[112, 224, 64], [56, 112, 64]]);
    assert_eq!(plan.stem_pool.unwrap().pad, pad(0, 1, 0, 1));
    assert_eq!(
        stacks,
        [[56, 112, 256], [28, 56, 512], [14, 28, 1024], [7, 14, 2048]]
    );
}

#[test]
fn symmetric_padding_matches_torchvision() {
    let mut spec = Spec::new([225, 225, 3], 10);
    spec.padding = PaddingMode::Symmetric;
    let plan = spec.plan().unwrap();
    // conv1: floor((225 + 6 - 7) / 2) + 1 = 113; maxpool: floor((113 + 2 -
    // 3) / 2) + 1 = 57; layer2: floor((57 + 2 - 3) / 2) + 1 = 29, then 15, 8.
    assert_eq!(plan.stem_conv.pad, pad(3, 3, 3, 3));
    assert_eq!(plan.stem_pool.as_ref().unwrap().pad, pad(1, 1, 1, 1));
    let (stem, stacks) = stack_sizes(&plan);
    assert_eq!(stem, [[113, 113, 64], [57, 57, 64]]);
    assert_eq!(
        stacks,
        [[57, 57, 256], [29, 29, 512], [15, 15, 1024], [8, 8, 2048]]
    );
    let shortcut = &plan.blocks[3].shortcut.as_ref().unwrap().0;
    assert_eq!((shortcut.pad, shortcut.output), (Pad::default(), [29, 29]));
}

// Block structure ---------------------------------------------------------

#[test]
fn downsampling_stride_sits_where_the_spec_says() {
    let mut spec = Spec::new([224, 224, 3], 10);
    let plan = spec.plan().unwrap();
    let block = &plan.blocks[3]; // layer2.0
    assert_eq!(block.name, "layer2.0");
    let strides: Vec<[usize; 2]> = block.convs.iter().map(|c| c.stride).collect();
    assert_eq!(strides, [[2, 2], [1, 1], [1, 1]]);
    // A 1x1 stride-2 conv on 56 with "same" padding needs no padding.
    assert_eq!(block.convs[0].pad, Pad::default());
    assert_eq!(block.convs[1].pad, pad(1, 1, 1, 1));

    spec.downsample_conv = DownsampleConv::Middle;
    let plan = spec.plan().unwrap();
    let block = &plan.blocks[3];
    let strides: Vec<[usize; 2]> = block.convs.iter().map(|c| c.stride).collect();
    assert_eq!(strides, [[1, 1], [2, 2], [1, 1]]);
    // 3x3/2 on 56: 27 * 2 + 3 - 56 = 1 -> 0 before, 1 after.
    assert_eq!(block.convs[1].pad, pad(0, 1, 0, 1));
    assert_eq!(block.output, [28, 28, 512]);
}

#[test]
fn blocks_are_named_and_wired_like_torchvision() {
    let plan = Spec::new([224, 224, 3], 10).plan().unwrap();
    let names: Vec<&str> = plan.blocks.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names.len(), 16);
    assert_eq!(
        &names[..4],
        ["layer1.0", "layer1.1", "layer1.2", "layer2.0"]
    );
    assert_eq!(names[15], "layer4.2");

    let with_shortcut: Vec<&str> = plan
        .blocks
        .iter()
        .filter(|b| b.shortcut.is_some())
        .map(|b| b.name.as_str())
        .collect();
    assert_eq!(
        with_shortcut,
        ["layer1.0", "layer2.0", "layer3.0", "layer4.0"]
    );

    let (conv, bn) = plan.blocks[0].shortcut.as_ref().unwrap();
    assert_eq!(conv.name, "layer1.0.downsample.0");
    assert_eq!(
        (conv.in_channels, conv.out_channels, conv.stride),
        (64, 256, [1, 1])
    );
    assert_eq!(bn.as_ref().unwrap().name, "layer1.0.downsample.1");

    let bns: Vec<&str> = plan.blocks[0].bns.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(bns, ["layer1.0.bn1", "layer1.0.bn2", "layer1.0.bn3"]);
    assert_eq!(
        (plan.stem_conv.name.as_str(), plan.stem_bn.name.as_str()),
        ("conv1", "bn1")
    );
    assert_eq!(plan.fc.in_features, 2048);

    // ResNet-18: 64 filters in and out of stack 1, no shortcut conv there.
    let plan = resnet18([224, 224, 3]).plan().unwrap();
    assert!(plan.blocks[0].shortcut.is_none());
    assert!(plan.blocks[2].shortcut.is_some());
}

#[test]
fn zero_init_and_bias_reach_the_right_layers() {
    let mut spec = Spec::new([64, 64, 3], 10);
    spec.zero_init_residual = true;
    spec.conv_bias = false;
    let plan = spec.plan().unwrap();
    for block in &plan.blocks {
        let zero: Vec<bool> = block.bns.iter().map(|b| b.zero_init).collect();
        assert_eq!(zero, [false, false, true], "{}", block.name);
        assert!(block.convs.iter().all(|c| !c.bias));
        if let Some((conv, bn)) = &block.shortcut {
            assert!(!conv.bias);
            assert!(!bn.as_ref().unwrap().zero_init);
        }
    }
    assert!(!plan.stem_bn.zero_init && !plan.stem_conv.bias);
}

// The minimum size rule -------------------------------------------------

/// Output of one "same" or symmetric window, written independently of the
/// crate: same = ceil(n / s); symmetric = floor((n + 2 * (k / 2) - k) / s) + 1.
fn reference_out(padding: PaddingMode, n: usize, k: usize, s: usize) -> usize {
    match padding {
        PaddingMode::Same => n.div_ceil(s),
        PaddingMode::Symmetric => (n + 2 * (k / 2) - k) / s + 1,
    }
}

prop_compose! {
    fn any_spec()(
        stride in (1usize..4, 1usize..4),
        kernel in (1usize..8, 1usize..8),
        pooling in prop::sample::select(vec![Pooling::Max, Pooling::Average, Pooling::None]),
        bottleneck in any::<bool>(),
        middle in any::<bool>(),
        symmetric in any::<bool>(),
        stacks in 1usize..6,
        extra in (0usize..40, 0usize..40),
    ) -> Spec {
        let mut spec = Spec::new([1, 1, 2], 3);
        spec.initial_stride = [stride.0, stride.1];
        spec.initial_filter_size = [kernel.0, kernel.1];
        spec.initial_num_filters = 4;
        spec.initial_pooling = pooling;
        if !bottleneck {
            spec.bottleneck_type = BottleneckType::None;
        }
        if middle {
            spec.downsample_conv = DownsampleConv::Middle;
        }
        if symmetric {
            spec.padding = PaddingMode::Symmetric;
        }
        spec.stack_depth = vec![1; stacks];
        spec.num_filters = vec![2; stacks];
        let [h, w] = spec.minimum_input_size();
        spec.input = [h + extra.0, w + extra.1, 2];
        spec
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sizes_that_pass_plan_to_at_least_one_pixel(spec in any_spec()) {
        let plan = spec.plan().unwrap();

        // Recompute the final size axis by axis with the reference formula.
        for axis in 0..2 {
            let mut n = reference_out(
                spec.padding,
                spec.input[axis],
                spec.initial_filter_size[axis],
                spec.initial_stride[axis],
            );
            prop_assert_eq!(plan.stem_conv.output[axis], n);
            if spec.initial_pooling != Pooling::None {
                n = reference_out(spec.padding, n, 3, 2);
            }
            for _ in 1..spec.stack_depth.len() {
                n = reference_out(spec.padding, n, 3, 2);
            }
            prop_assert_eq!(plan.final_activation()[axis], n);
        }

        // Every layer keeps at least one pixel, and every shortcut lands on
        // the size of its branch.
        for block in &plan.blocks {
            for conv in &block.convs {
                prop_assert!(conv.output[0] >= 1 && conv.output[1] >= 1);
            }
            if let Some((conv, _)) = &block.shortcut {
                prop_assert_eq!(conv.output, [block.output[0], block.output[1]]);
            }
        }
    }

    #[test]
    fn one_pixel_less_than_the_minimum_is_an_error(spec in any_spec(), axis in 0usize..2) {
        let mut spec = spec;
        let minimum = spec.minimum_input_size();
        prop_assume!(minimum[axis] > 1);
        spec.input[axis] = minimum[axis] - 1;
        let error = spec.plan().unwrap_err();
        prop_assert_eq!(error.key.as_str(), "input");
        let axis_name = ["height", "width"][axis];
        let (size, min) = (minimum[axis] - 1, minimum[axis]);
        let expected = format!("the {axis_name} {size} is below the minimum {min}");
        prop_assert!(error.message.contains(&expected), "{}", error.message);
    }
}
