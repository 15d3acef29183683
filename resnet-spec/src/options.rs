//! The options of a spec, with MATLAB's defaults.

use serde::{Deserialize, Serialize};

/// How the stem pools after its first convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// 3x3 max pooling, stride 2.
    Max,
    /// 3x3 average pooling, stride 2.
    Average,
    /// No pooling.
    None,
}

/// Where the last batch norm of a residual branch sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResidualBlockType {
    /// The last batch norm is inside the branch, before the addition; the
    /// shortcut convolution has its own batch norm.
    BatchnormBeforeAdd,
    /// One batch norm after the addition; the shortcut has none.
    BatchnormAfterAdd,
}

/// Which blocks the stacks are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BottleneckType {
    /// Bottleneck blocks (1x1, 3x3, 1x1 with 4x expansion).
    DownsampleFirstConv,
    /// Basic blocks (two 3x3 convolutions).
    None,
}

/// Which convolution of a downsampling bottleneck block carries the stride.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DownsampleConv {
    /// The first 1x1 convolution, as MATLAB (and the original paper) do.
    First,
    /// The 3x3 convolution, as torchvision's "ResNet v1.5" does.
    Middle,
}

/// How convolutions and pooling pad their input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaddingMode {
    /// MATLAB's "same": output = ceil(input / stride), with the odd extra
    /// row or column of padding at the bottom or right.
    Same,
    /// PyTorch's symmetric padding: k / 2 on every side.
    Symmetric,
}

/// How the input layer normalizes images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    /// Subtract the per-channel mean of the training data.
    Zerocenter,
    /// Subtract the per-channel mean and divide by the standard deviation.
    Zscore,
    /// Leave the input as it is (or apply the fixed `mean` / `std` of the spec).
    None,
}

/// A complete, defaulted description of a residual network.
///
/// Build one with [`Spec::new`] and set fields, or read one from TOML.
/// Sizes are written the way MATLAB writes them: `input` is
/// `[height, width, channels]`, two-element sizes are `[height, width]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// Input size: `[height, width, channels]`.
    pub input: [usize; 3],
    /// Number of classes of the classifier.
    pub classes: usize,
    /// Kernel size of the stem convolution, `[height, width]`.
    pub initial_filter_size: [usize; 2],
    /// Filters of the stem convolution.
    pub initial_num_filters: usize,
    /// Stride of the stem convolution, `[height, width]`.
    pub initial_stride: [usize; 2],
    /// Pooling after the stem convolution.
    pub initial_pooling: Pooling,
    /// Where the last batch norm of each residual branch sits.
    pub residual_block_type: ResidualBlockType,
    /// Bottleneck or basic blocks.
    pub bottleneck_type: BottleneckType,
    /// Number of blocks in each stack.
    pub stack_depth: Vec<usize>,
    /// Filters of each stack (bottleneck blocks output four times as many).
    pub num_filters: Vec<usize>,
    /// Input normalization.
    pub normalization: Normalization,
    /// Whether the learnables start He-initialized (`true`) or as zeros.
    pub initialize: bool,

    // Options beyond resnetNetwork, for torchvision's networks.
    /// Whether convolutions carry a bias (MATLAB: yes, torchvision: no).
    pub conv_bias: bool,
    /// Which convolution of a downsampling bottleneck block has the stride
    /// (basic blocks always stride in their first convolution).
    pub downsample_conv: DownsampleConv,
    /// "same" (MATLAB) or symmetric (PyTorch) padding.
    pub padding: PaddingMode,
    /// Fixed per-channel mean subtracted from the input when
    /// `normalization` is "none" (for example the ImageNet constants).
    pub mean: Option<Vec<f32>>,
    /// Fixed per-channel standard deviation that divides the input when
    /// `normalization` is "none".
    pub std: Option<Vec<f32>>,
    /// Start the last batch norm scale of every residual branch at zero
    /// (only with "batchnorm-before-add"; validation rejects it otherwise).
    pub zero_init_residual: bool,
    /// Batch norm epsilon.
    pub bn_epsilon: f64,
    /// Batch norm running-statistics momentum (PyTorch's convention: the
    /// weight of the new batch).
    pub bn_momentum: f64,
}

impl Spec {
    /// A spec with MATLAB's defaults for everything but the two required
    /// options.
    pub fn new(input: [usize; 3], classes: usize) -> Self {
        Spec {
            input,
            classes,
            initial_filter_size: [7, 7],
            initial_num_filters: 64,
            initial_stride: [2, 2],
            initial_pooling: Pooling::Max,
            residual_block_type: ResidualBlockType::BatchnormBeforeAdd,
            bottleneck_type: BottleneckType::DownsampleFirstConv,
            stack_depth: vec![3, 4, 6, 3],
            num_filters: vec![64, 128, 256, 512],
            normalization: Normalization::Zerocenter,
            initialize: true,
            conv_bias: true,
            downsample_conv: DownsampleConv::First,
            padding: PaddingMode::Same,
            mean: None,
            std: None,
            zero_init_residual: false,
            bn_epsilon: 1e-5,
            bn_momentum: 0.1,
        }
    }
}

/// An option whose value is one of a few named choices, spelled the way
/// MATLAB spells them (`"max"`, `"batchnorm-before-add"`).
pub trait Choice: Copy + PartialEq + 'static {
    /// Every choice, in the order error messages list them.
    const ALL: &'static [Self];

    /// The spelling that TOML files and the macro use.
    fn name(self) -> &'static str;
}

impl Choice for Pooling {
    const ALL: &'static [Self] = &[Pooling::Max, Pooling::Average, Pooling::None];

    fn name(self) -> &'static str {
        match self {
            Pooling::Max => "max",
            Pooling::Average => "average",
            Pooling::None => "none",
        }
    }
}

impl Choice for ResidualBlockType {
    const ALL: &'static [Self] = &[
        ResidualBlockType::BatchnormBeforeAdd,
        ResidualBlockType::BatchnormAfterAdd,
    ];

    fn name(self) -> &'static str {
        match self {
            ResidualBlockType::BatchnormBeforeAdd => "batchnorm-before-add",
            ResidualBlockType::BatchnormAfterAdd => "batchnorm-after-add",
        }
    }
}

impl Choice for BottleneckType {
    const ALL: &'static [Self] = &[BottleneckType::DownsampleFirstConv, BottleneckType::None];

    fn name(self) -> &'static str {
        match self {
            BottleneckType::DownsampleFirstConv => "downsample-first-conv",
            BottleneckType::None => "none",
        }
    }
}

impl Choice for DownsampleConv {
    const ALL: &'static [Self] = &[DownsampleConv::First, DownsampleConv::Middle];

    fn name(self) -> &'static str {
        match self {
            DownsampleConv::First => "first",
            DownsampleConv::Middle => "middle",
        }
    }
}

impl Choice for PaddingMode {
    const ALL: &'static [Self] = &[PaddingMode::Same, PaddingMode::Symmetric];

    fn name(self) -> &'static str {
        match self {
            PaddingMode::Same => "same",
            PaddingMode::Symmetric => "symmetric",
        }
    }
}

impl Choice for Normalization {
    const ALL: &'static [Self] = &[
        Normalization::Zerocenter,
        Normalization::Zscore,
        Normalization::None,
    ];

    fn name(self) -> &'static str {
        match self {
            Normalization::Zerocenter => "zerocenter",
            Normalization::Zscore => "zscore",
            Normalization::None => "none",
        }
    }
}
