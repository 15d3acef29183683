//! Writing a checked spec as the type `::resnet::core::typed::ResNet<...>`.
//!
//! The encoding is the one `resnet_core::typed` reads back: integers and
//! booleans as const arguments, choices as marker types, the stacks and the
//! optional mean and std as cons lists, floats as their bits.

use std::path::Path;

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use resnet_spec::{
    BottleneckType, DownsampleConv, Normalization, PaddingMode, Pooling, ResidualBlockType, Spec,
};

/// The type for `spec`, with `E` and `D` as the element type and device
/// arguments (for example `f32` and `Cpu`, or the alias's parameters).
///
/// When the spec came from `file`, the height argument includes the file
/// with `include_bytes!`, so that cargo records it as an input of the crate
/// and rebuilds when it changes; the value of the argument is unaffected.
pub fn network_type(
    spec: &Spec,
    file: Option<&Path>,
    e: TokenStream,
    d: TokenStream,
) -> TokenStream {
    let typed = quote!(::resnet::core::typed);
    let [h, w, c] = spec.input.map(Literal::usize_unsuffixed);
    let k = Literal::usize_unsuffixed(spec.classes);
    let h = match file {
        Some(file) => {
            let file = file.display().to_string();
            quote!({
                let _ = ::core::include_bytes!(#file);
                #h
            })
        }
        None => quote!(#h),
    };

    let stem = stem(spec, &typed);
    let blocks = blocks(spec, &typed);
    let input_layer = input_layer(spec, &typed);
    let init = init(spec, &typed);
    quote! {
        #typed::ResNet<#h, #w, #c, #k, #typed::Arch<#stem, #blocks, #input_layer, #init>, #e, #d>
    }
}

/// `Stem<FH, FW, FILTERS, SH, SW, Pooling>`.
fn stem(spec: &Spec, typed: &TokenStream) -> TokenStream {
    let [fh, fw] = spec.initial_filter_size.map(Literal::usize_unsuffixed);
    let [sh, sw] = spec.initial_stride.map(Literal::usize_unsuffixed);
    let filters = Literal::usize_unsuffixed(spec.initial_num_filters);
    let pooling = match spec.initial_pooling {
        Pooling::Max => quote!(MaxPool),
        Pooling::Average => quote!(AveragePool),
        Pooling::None => quote!(NoPool),
    };
    quote!(#typed::Stem<#fh, #fw, #filters, #sh, #sw, #typed::#pooling>)
}

/// `Blocks<Residual, Bottleneck, Downsample, Padding, BIAS, ZERO, Stacks>`.
fn blocks(spec: &Spec, typed: &TokenStream) -> TokenStream {
    let residual = match spec.residual_block_type {
        ResidualBlockType::BatchnormBeforeAdd => quote!(BatchnormBeforeAdd),
        ResidualBlockType::BatchnormAfterAdd => quote!(BatchnormAfterAdd),
    };
    let bottleneck = match spec.bottleneck_type {
        BottleneckType::DownsampleFirstConv => quote!(BottleneckBlock),
        BottleneckType::None => quote!(BasicBlock),
    };
    let downsample = match spec.downsample_conv {
        DownsampleConv::First => quote!(StrideFirst),
        DownsampleConv::Middle => quote!(StrideMiddle),
    };
    let padding = match spec.padding {
        PaddingMode::Same => quote!(SamePadding),
        PaddingMode::Symmetric => quote!(SymmetricPadding),
    };
    let bias = spec.conv_bias;
    let zero = spec.zero_init_residual;

    // Built from the last stack outwards: Stack<D1, F1, Stack<D2, F2, End>>.
    let mut stacks = quote!(#typed::End);
    for (depth, filters) in spec.stack_depth.iter().zip(&spec.num_filters).rev() {
        let depth = Literal::usize_unsuffixed(*depth);
        let filters = Literal::usize_unsuffixed(*filters);
        stacks = quote!(#typed::Stack<#depth, #filters, #stacks>);
    }

    quote! {
        #typed::Blocks<
            #typed::#residual, #typed::#bottleneck, #typed::#downsample, #typed::#padding,
            #bias, #zero, #stacks
        >
    }
}

/// `InputLayer<Normalization, Mean, Std>`.
fn input_layer(spec: &Spec, typed: &TokenStream) -> TokenStream {
    let normalization = match spec.normalization {
        Normalization::Zerocenter => quote!(ZeroCenter),
        Normalization::Zscore => quote!(ZScore),
        Normalization::None => quote!(NoNormalization),
    };
    let mean = values(spec.mean.as_deref(), typed);
    let std = values(spec.std.as_deref(), typed);
    quote!(#typed::InputLayer<#typed::#normalization, #mean, #std>)
}

/// `Absent`, or `Values<BITS, Values<BITS, Nil>>` from the first value on.
fn values(values: Option<&[f32]>, typed: &TokenStream) -> TokenStream {
    let Some(values) = values else {
        return quote!(#typed::Absent);
    };
    let mut list = quote!(#typed::Nil);
    for value in values.iter().rev() {
        let bits = Literal::u32_unsuffixed(value.to_bits());
        list = quote!(#typed::Values<#bits, #list>);
    }
    list
}

/// `Init<INITIALIZE, EPSILON_BITS, MOMENTUM_BITS>`.
fn init(spec: &Spec, typed: &TokenStream) -> TokenStream {
    let initialize = spec.initialize;
    let epsilon = Literal::u64_unsuffixed(spec.bn_epsilon.to_bits());
    let momentum = Literal::u64_unsuffixed(spec.bn_momentum.to_bits());
    quote!(#typed::Init<#initialize, #epsilon, #momentum>)
}
