//! What makes a network torchvision's, and how to describe a state dict's
//! architecture from its names alone.

use std::collections::BTreeMap;

use resnet_spec::{DownsampleConv, PaddingMode, Pooling, ResidualBlockType, Spec};

/// The options of `spec` that make its outputs differ from those of the
/// torchvision ResNet with the same weights, one phrase each; empty for a
/// spec in torchvision's layout (such as those in `configs/torchvision/`).
///
/// Conv biases and "batchnorm-after-add" change the set of tensors (so a
/// strict `load_state_dict` in PyTorch fails); the others keep the names
/// and shapes but change what the network computes.
pub fn differences(spec: &Spec) -> Vec<String> {
    let mut found = Vec::new();
    if spec.conv_bias {
        found.push("conv_bias = true (torchvision's convolutions have no bias)".to_string());
    }
    if spec.residual_block_type != ResidualBlockType::BatchnormBeforeAdd {
        found.push(
            "residual_block_type = \"batchnorm-after-add\" (torchvision normalizes before the \
             addition and in the shortcut)"
                .to_string(),
        );
    }
    if spec.padding != PaddingMode::Symmetric {
        found.push("padding = \"same\" (torchvision pads k/2 on every side)".to_string());
    }
    let bottleneck = spec.bottleneck_type == resnet_spec::BottleneckType::DownsampleFirstConv;
    if bottleneck && spec.downsample_conv != DownsampleConv::Middle {
        found.push(
            "downsample_conv = \"first\" (torchvision strides in the 3x3 convolution)".to_string(),
        );
    }
    if spec.initial_pooling != Pooling::Max {
        found.push("initial_pooling is not \"max\" (torchvision max-pools)".to_string());
    }
    if spec.initial_filter_size != [7, 7] || spec.initial_stride != [2, 2] {
        found.push("the stem is not a 7x7 stride-2 convolution".to_string());
    }
    found
}

/// The blocks per stack and the block kind a set of torchvision names
/// describes, e.g. "stacks [3, 4, 6, 3] of bottleneck blocks"; `None`
/// when the names hold no `layerN.M.` blocks.
pub fn describe_stacks<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut blocks: BTreeMap<usize, usize> = BTreeMap::new();
    let mut bottleneck = false;
    for name in names {
        let mut parts = name.split('.');
        let (Some(stack), Some(block)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Some(stack), Ok(block)) = (
            stack
                .strip_prefix("layer")
                .and_then(|s| s.parse::<usize>().ok()),
            block.parse::<usize>(),
        ) else {
            continue;
        };
        let depth = blocks.entry(stack).or_insert(0);
        *depth = (*depth).max(block + 1);
        bottleneck |= parts.next() == Some("conv3");
    }
    if blocks.is_empty() {
        return None;
    }
    let depths: Vec<String> = blocks.values().map(|d| d.to_string()).collect();
    let kind = if bottleneck { "bottleneck" } else { "basic" };
    Some(format!("stacks [{}] of {kind} blocks", depths.join(", ")))
}
