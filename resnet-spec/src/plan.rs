//! The layer plan: every layer of the network a spec describes, with its
//! sizes worked out.
//!
//! The plan is the single source of truth for the network's structure: the
//! tensor network in `resnet-core`, the summary and the macro's compile-time
//! checks all read it, so they cannot disagree.
//!
//! Names follow torchvision's state-dict keys (`conv1`, `bn1`,
//! `layer1.0.conv1`, `layer2.0.downsample.0`, `fc`) so that weight files map
//! one to one.

use serde::Serialize;

/// Padding added on each side of a feature map, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pad {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

/// One convolution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvPlan {
    /// torchvision-style name, e.g. `layer1.0.conv2` or `layer2.0.downsample.0`.
    pub name: String,
    pub in_channels: usize,
    pub out_channels: usize,
    /// `[height, width]`.
    pub kernel: [usize; 2],
    /// `[height, width]`.
    pub stride: [usize; 2],
    pub pad: Pad,
    pub bias: bool,
    /// Input `[height, width]`.
    pub input: [usize; 2],
    /// Output `[height, width]`.
    pub output: [usize; 2],
}

/// One batch normalization.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchNormPlan {
    /// torchvision-style name, e.g. `bn1` or `layer2.0.downsample.1`.
    pub name: String,
    pub channels: usize,
    /// Whether the scale starts at zero (PyTorch's zero_init_residual).
    pub zero_init: bool,
}

/// The stem's pooling layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolPlan {
    /// Max or average (never `Pooling::None`: then there is no pool plan).
    pub kind: crate::Pooling,
    pub window: [usize; 2],
    pub stride: [usize; 2],
    pub pad: Pad,
    /// Output `[height, width, channels]`.
    pub output: [usize; 3],
}

/// One residual block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockPlan {
    /// torchvision-style prefix, e.g. `layer3.0`.
    pub name: String,
    /// The branch: conv, batch norm, ReLU, ... in order. `convs.len()` is 2
    /// (basic) or 3 (bottleneck). With "batchnorm-before-add" `bns` has one
    /// entry per conv; with "batchnorm-after-add" the last entry of `bns` is
    /// the batch norm that follows the addition.
    pub convs: Vec<ConvPlan>,
    pub bns: Vec<BatchNormPlan>,
    /// The 1x1 shortcut convolution, with its batch norm when the block type
    /// is "batchnorm-before-add"; `None` for an identity shortcut.
    pub shortcut: Option<(ConvPlan, Option<BatchNormPlan>)>,
    /// Whether the last batch norm follows the addition.
    pub bn_after_add: bool,
    /// Output `[height, width, channels]`.
    pub output: [usize; 3],
}

/// The classifier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FcPlan {
    /// Always `fc`.
    pub name: String,
    pub in_features: usize,
    pub out_features: usize,
}

/// Every layer of a validated spec, in the order the data flows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// `[height, width, channels]`.
    pub input: [usize; 3],
    pub stem_conv: ConvPlan,
    pub stem_bn: BatchNormPlan,
    pub stem_pool: Option<PoolPlan>,
    /// Activation after the stem, `[height, width, channels]`.
    pub stem_output: [usize; 3],
    pub blocks: Vec<BlockPlan>,
    pub fc: FcPlan,
}
