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

use crate::padding::{output_1d, pad_1d};
use crate::{BottleneckType, DownsampleConv, Pooling, ResidualBlockType, Spec, SpecError};

/// Padding added on each side of a feature map, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pad {
    /// Rows added above.
    pub top: usize,
    /// Rows added below.
    pub bottom: usize,
    /// Columns added on the left.
    pub left: usize,
    /// Columns added on the right.
    pub right: usize,
}

/// One convolution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvPlan {
    /// torchvision-style name, e.g. `layer1.0.conv2` or `layer2.0.downsample.0`.
    pub name: String,
    /// Channels of the input activation.
    pub in_channels: usize,
    /// Channels of the output activation (the number of filters).
    pub out_channels: usize,
    /// Kernel size, `[height, width]`.
    pub kernel: [usize; 2],
    /// Stride, `[height, width]`.
    pub stride: [usize; 2],
    /// Zero padding around the input.
    pub pad: Pad,
    /// Whether the convolution adds a learnable bias per filter.
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
    /// Channels normalized (one scale, offset, mean and variance each).
    pub channels: usize,
    /// Whether the scale starts at zero (PyTorch's zero_init_residual).
    pub zero_init: bool,
}

/// The stem's pooling layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolPlan {
    /// Max or average (never `Pooling::None`: then there is no pool plan).
    pub kind: Pooling,
    /// Window size, `[height, width]` (always 3 x 3).
    pub window: [usize; 2],
    /// Stride, `[height, width]` (always 2 x 2).
    pub stride: [usize; 2],
    /// Padding around the input; padded cells never win a max and are left
    /// out of an average.
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
    /// The batch norms of the block, named `bn1`, `bn2`, `bn3` after the
    /// convolution each follows.
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
    /// Channels of the globally pooled activation.
    pub in_features: usize,
    /// Number of classes.
    pub out_features: usize,
}

/// Every layer of a validated spec, in the order the data flows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Input size, `[height, width, channels]`.
    pub input: [usize; 3],
    /// The stem convolution, `conv1`.
    pub stem_conv: ConvPlan,
    /// The stem batch norm, `bn1`.
    pub stem_bn: BatchNormPlan,
    /// The stem pooling, absent with `initial_pooling = "none"`.
    pub stem_pool: Option<PoolPlan>,
    /// Activation after the stem, `[height, width, channels]`.
    pub stem_output: [usize; 3],
    /// The residual blocks, stack after stack.
    pub blocks: Vec<BlockPlan>,
    /// The classifier that follows global average pooling.
    pub fc: FcPlan,
}

impl Plan {
    /// The activation that enters global average pooling, `[height, width,
    /// channels]`: the output of the last block.
    pub fn final_activation(&self) -> [usize; 3] {
        self.blocks
            .last()
            .map_or(self.stem_output, |block| block.output)
    }
}

impl Spec {
    /// Works out every layer of the network this spec describes, following
    /// MATLAB's `resnetNetwork` (see the module documentation for names).
    ///
    /// The stem is a convolution, batch norm, ReLU and, unless
    /// `initial_pooling` is "none", a 3 x 3 stride-2 pooling. Then come the
    /// stacks: the first block of the first stack gets a 1 x 1 shortcut
    /// convolution when its input and output channels differ; the first
    /// block of every later stack downsamples with stride 2 (in its first
    /// convolution, or in the 3 x 3 one of a bottleneck with
    /// `downsample_conv = "middle"`) and a 1 x 1 stride-2 shortcut
    /// convolution. The classifier follows global average pooling.
    ///
    /// # Errors
    /// The first rule of [`Spec::validate`] the spec breaks.
    pub fn plan(&self) -> Result<Plan, SpecError> {
        self.validate()?;

        let [height, width, channels] = self.input;
        let filters = self.initial_num_filters;
        let stem_conv = self.conv(
            "conv1".to_string(),
            [channels, filters],
            self.initial_filter_size,
            self.initial_stride,
            [height, width],
        );
        let stem_bn = batch_norm("bn1".to_string(), filters, false);

        let stem_pool = match self.initial_pooling {
            Pooling::None => None,
            kind => Some(self.pool(kind, stem_conv.output, filters)),
        };
        let stem_output = match &stem_pool {
            Some(pool) => pool.output,
            None => [stem_conv.output[0], stem_conv.output[1], filters],
        };

        let mut blocks = Vec::new();
        let mut activation = stem_output;
        for (stack, (&depth, &filters)) in
            self.stack_depth.iter().zip(&self.num_filters).enumerate()
        {
            for index in 0..depth {
                let downsample = stack > 0 && index == 0;
                let block = self.block(
                    format!("layer{}.{index}", stack + 1),
                    activation,
                    filters,
                    downsample,
                );
                activation = block.output;
                blocks.push(block);
            }
        }

        let fc = FcPlan {
            name: "fc".to_string(),
            in_features: activation[2],
            out_features: self.classes,
        };
        Ok(Plan {
            input: self.input,
            stem_conv,
            stem_bn,
            stem_pool,
            stem_output,
            blocks,
            fc,
        })
    }

    /// One residual block reading an activation of size `input`.
    fn block(
        &self,
        name: String,
        input: [usize; 3],
        filters: usize,
        downsample: bool,
    ) -> BlockPlan {
        let [height, width, in_channels] = input;
        let stride = if downsample { [2, 2] } else { [1, 1] };
        let one = [1, 1];
        let bottleneck = self.bottleneck_type == BottleneckType::DownsampleFirstConv;
        let out_channels = if bottleneck {
            filters.saturating_mul(4)
        } else {
            filters
        };

        // Each entry: kernel, stride, output channels. The stride sits in the
        // first convolution unless a bottleneck asks for it in the middle.
        let layout = if bottleneck {
            let middle = self.downsample_conv == DownsampleConv::Middle;
            let (first_stride, middle_stride) = if middle { (one, stride) } else { (stride, one) };
            vec![
                ([1, 1], first_stride, filters),
                ([3, 3], middle_stride, filters),
                ([1, 1], one, out_channels),
            ]
        } else {
            vec![([3, 3], stride, filters), ([3, 3], one, filters)]
        };

        let mut convs = Vec::new();
        let (mut size, mut channels) = ([height, width], in_channels);
        for (i, (kernel, stride, out)) in layout.into_iter().enumerate() {
            let conv = self.conv(
                format!("{name}.conv{}", i + 1),
                [channels, out],
                kernel,
                stride,
                size,
            );
            (size, channels) = (conv.output, out);
            convs.push(conv);
        }

        let after_add = self.residual_block_type == ResidualBlockType::BatchnormAfterAdd;
        let last = convs.len() - 1;
        let bns = convs
            .iter()
            .enumerate()
            .map(|(i, conv)| {
                let zero_init = i == last && self.zero_init_residual && !after_add;
                batch_norm(format!("{name}.bn{}", i + 1), conv.out_channels, zero_init)
            })
            .collect();

        let shortcut = (downsample || in_channels != out_channels).then(|| {
            let conv = self.conv(
                format!("{name}.downsample.0"),
                [in_channels, out_channels],
                [1, 1],
                stride,
                [height, width],
            );
            let bn = (!after_add)
                .then(|| batch_norm(format!("{name}.downsample.1"), out_channels, false));
            (conv, bn)
        });

        BlockPlan {
            name,
            convs,
            bns,
            shortcut,
            bn_after_add: after_add,
            output: [size[0], size[1], out_channels],
        }
    }

    /// A convolution with this spec's padding and bias, `channels` being
    /// `[in, out]` and `input` the `[height, width]` it reads.
    fn conv(
        &self,
        name: String,
        channels: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        input: [usize; 2],
    ) -> ConvPlan {
        let (pad, output) = self.window(input, kernel, stride);
        ConvPlan {
            name,
            in_channels: channels[0],
            out_channels: channels[1],
            kernel,
            stride,
            pad,
            bias: self.conv_bias,
            input,
            output,
        }
    }

    /// The stem's 3 x 3 stride-2 pooling over an activation of `input`
    /// `[height, width]` and `channels`.
    fn pool(&self, kind: Pooling, input: [usize; 2], channels: usize) -> PoolPlan {
        let (window, stride) = ([3, 3], [2, 2]);
        let (pad, output) = self.window(input, window, stride);
        PoolPlan {
            kind,
            window,
            stride,
            pad,
            output: [output[0], output[1], channels],
        }
    }

    /// Padding and output `[height, width]` of a sliding window.
    fn window(
        &self,
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> (Pad, [usize; 2]) {
        let (top, bottom) = pad_1d(self.padding, input[0], kernel[0], stride[0]);
        let (left, right) = pad_1d(self.padding, input[1], kernel[1], stride[1]);
        let pad = Pad {
            top,
            bottom,
            left,
            right,
        };
        let output = [
            output_1d(input[0], kernel[0], stride[0], top, bottom),
            output_1d(input[1], kernel[1], stride[1], left, right),
        ];
        (pad, output)
    }
}

fn batch_norm(name: String, channels: usize, zero_init: bool) -> BatchNormPlan {
    BatchNormPlan {
        name,
        channels,
        zero_init,
    }
}
