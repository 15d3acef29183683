//! Networks whose input and output sizes are part of their type.
//!
//! [`ResNet`] wraps a runtime [`Network`] and states, as const generics, the
//! input size H x W x C and the number of classes K. Every other option of
//! the spec is carried by a type that implements [`Architecture`]. Stable
//! Rust accepts only integers, `bool` and `char` as const generic
//! parameters, so the options are spelled with a few small types:
//!
//! - [`Arch`] groups them as [`Stem`], [`Blocks`], [`InputLayer`] and
//!   [`Init`];
//! - enumerations are marker types ([`MaxPool`], [`BasicBlock`],
//!   [`ZScore`], ...);
//! - the stacks are a cons list, `Stack<3, 64, Stack<4, 128, End>>`;
//! - floats are their IEEE bits (`f64::to_bits`, `f32::to_bits`), and the
//!   optional per-channel mean and std are `Absent` or a cons list of bits,
//!   `Values<BITS, Values<BITS, Nil>>`.
//!
//! Nobody is meant to write these types by hand: the `resnet!` macro
//! expands a spec into one, after checking the spec at compile time. The
//! nesting never goes deeper than the longest of these lists, which keeps
//! the compiler fast even for ResNet-152.
//!
//! Because the sizes are in the type, feeding a tensor of another channel
//! count, height or width to [`Module::forward`] does not compile.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use dfdx::nn::{Module, ModuleMut};
use dfdx::prelude::*;
use resnet_spec::{
    BottleneckType, DownsampleConv, Normalization, PaddingMode, Pooling, ResidualBlockType, Spec,
};

use crate::ops::Backend;
use crate::{Error, Network};

/// dfdx's CPU device, the default device of [`ResNet`] (re-exported so that
/// the macro's expansion can name it through `resnet` alone).
pub use dfdx::tensor::Cpu;

/// A residual network of input size `H` x `W` x `C` and `K` classes, with
/// the other options of its spec given by `A`.
///
/// [`ResNet::forward`] (inference) and [`ResNet::forward_train`] take image
/// batches `[batch, C, H, W]` and return logits `[batch, K]`; the batch
/// dimension may be a `Const` or a `usize`. The same two run through
/// dfdx's [`Module`] and [`ModuleMut`]. Everything that does not depend on
/// sizes (summary, weights, training state) is the runtime [`Network`]'s,
/// which `ResNet` dereferences to.
pub struct ResNet<
    const H: usize,
    const W: usize,
    const C: usize,
    const K: usize,
    A,
    E: Dtype = f32,
    D: Backend<E> = Cpu,
> {
    network: Network<E, D>,
    _architecture: PhantomData<A>,
}

impl<const H: usize, const W: usize, const C: usize, const K: usize, A, E, D>
    ResNet<H, W, C, K, A, E, D>
where
    A: Architecture,
    E: Dtype,
    D: Backend<E>,
{
    /// The input size `[height, width, channels]`, as MATLAB writes it.
    pub const INPUT: [usize; 3] = [H, W, C];

    /// The number of classes, the width of the logits.
    pub const CLASSES: usize = K;

    /// The spec this type stands for.
    pub fn spec() -> Spec {
        A::spec([H, W, C], K)
    }

    /// Builds the network on `device`, He-initialized unless the spec says
    /// `initialize = false`.
    ///
    /// Errors: whatever [`Network::new`] reports (a device error, or a spec
    /// that fails validation, which only a hand-written `A` can give; the
    /// macro checks its specs at compile time).
    pub fn new(device: &D) -> Result<Self, Error> {
        Ok(ResNet {
            network: Network::new(&Self::spec(), device)?,
            _architecture: PhantomData,
        })
    }

    /// The runtime network.
    pub fn network(&self) -> &Network<E, D> {
        &self.network
    }

    /// The runtime network, mutably (for training and loading weights).
    pub fn network_mut(&mut self) -> &mut Network<E, D> {
        &mut self.network
    }

    /// Gives up the types and returns the runtime network.
    pub fn into_network(self) -> Network<E, D> {
        self.network
    }
}

impl<const H: usize, const W: usize, const C: usize, const K: usize, A, E, D> Deref
    for ResNet<H, W, C, K, A, E, D>
where
    E: Dtype,
    D: Backend<E>,
{
    type Target = Network<E, D>;

    fn deref(&self) -> &Network<E, D> {
        &self.network
    }
}

impl<const H: usize, const W: usize, const C: usize, const K: usize, A, E, D> DerefMut
    for ResNet<H, W, C, K, A, E, D>
where
    E: Dtype,
    D: Backend<E>,
{
    fn deref_mut(&mut self) -> &mut Network<E, D> {
        &mut self.network
    }
}

/// A batch of `C` x `H` x `W` images with batch dimension `B`.
pub type TypedImage<B, const C: usize, const H: usize, const W: usize, E, D, T = NoneTape> =
    Tensor<(B, Const<C>, Const<H>, Const<W>), E, D, T>;

/// Logits `[batch, K]` with batch dimension `B`.
pub type TypedLogits<B, const K: usize, E, D, T = NoneTape> = Tensor<(B, Const<K>), E, D, T>;

impl<const H: usize, const W: usize, const C: usize, const K: usize, A, E, D>
    ResNet<H, W, C, K, A, E, D>
where
    E: Dtype,
    D: Backend<E>,
{
    /// Inference on a batch `[batch, C, H, W]`: batch norm uses its running
    /// statistics. Returns logits `[batch, K]`.
    ///
    /// This inherent method takes precedence over [`Module::forward`] and
    /// over the runtime network's `forward`, so that `net.forward(x)` always
    /// checks the shape of `x` at compile time, whatever is imported.
    ///
    /// Errors: whatever [`Network::forward`] reports.
    pub fn forward<B: Dim, T: Tape<E, D>>(
        &self,
        x: TypedImage<B, C, H, W, E, D, T>,
    ) -> Result<TypedLogits<B, K, E, D, T>, Error> {
        let batch = x.shape().0;
        let logits = self.network.forward(untyped(x)?)?;
        typed_logits(logits, batch)
    }

    /// Training mode on a batch `[batch, C, H, W]`: batch norm uses the
    /// batch statistics and updates its running ones. Returns logits
    /// `[batch, K]`.
    ///
    /// Errors: whatever [`Network::forward_train`] reports.
    pub fn forward_train<B: Dim, T: Tape<E, D>>(
        &mut self,
        x: TypedImage<B, C, H, W, E, D, T>,
    ) -> Result<TypedLogits<B, K, E, D, T>, Error> {
        let batch = x.shape().0;
        let logits = self.network.forward_train(untyped(x)?)?;
        typed_logits(logits, batch)
    }

    /// Class probabilities `[batch, K]` (the softmax of the logits) in
    /// inference mode, for a batch `[batch, C, H, W]`; the typed
    /// counterpart of [`Network::predict`], which it shadows.
    ///
    /// Errors: whatever [`Network::forward`] reports.
    pub fn predict<B: Dim>(
        &self,
        x: TypedImage<B, C, H, W, E, D>,
    ) -> Result<TypedLogits<B, K, E, D>, Error> {
        Ok(self.forward(x)?.softmax::<Axis<1>>())
    }
}

/// Inference, as [`ResNet::forward`].
impl<const H: usize, const W: usize, const C: usize, const K: usize, A, E, D, B, T>
    Module<TypedImage<B, C, H, W, E, D, T>> for ResNet<H, W, C, K, A, E, D>
where
    E: Dtype,
    D: Backend<E>,
    B: Dim,
    T: Tape<E, D>,
{
    type Output = TypedLogits<B, K, E, D, T>;
    type Error = Error;

    fn try_forward(&self, x: TypedImage<B, C, H, W, E, D, T>) -> Result<Self::Output, Error> {
        ResNet::forward(self, x)
    }
}

/// Training mode, as [`ResNet::forward_train`].
impl<const H: usize, const W: usize, const C: usize, const K: usize, A, E, D, B, T>
    ModuleMut<TypedImage<B, C, H, W, E, D, T>> for ResNet<H, W, C, K, A, E, D>
where
    E: Dtype,
    D: Backend<E>,
    B: Dim,
    T: Tape<E, D>,
{
    type Output = TypedLogits<B, K, E, D, T>;
    type Error = Error;

    fn try_forward_mut(
        &mut self,
        x: TypedImage<B, C, H, W, E, D, T>,
    ) -> Result<Self::Output, Error> {
        ResNet::forward_train(self, x)
    }
}

/// Forgets the const dims of an image batch.
fn untyped<B: Dim, const C: usize, const H: usize, const W: usize, E, D, T>(
    x: TypedImage<B, C, H, W, E, D, T>,
) -> Result<crate::ops::Image<E, D, T>, Error>
where
    E: Dtype,
    D: Backend<E>,
    T: Tape<E, D>,
{
    // Forgetting dims cannot fail: every `Dim` converts to `usize`.
    x.try_realize::<(usize, usize, usize, usize)>()
        .map_err(|x| Error::Shape(format!("cannot view an image of shape {:?}", x.shape())))
}

/// Gives the runtime network's logits their typed shape `[batch, K]`.
///
/// Errors: [`Error::Shape`] when the network returned another shape, which
/// would mean the runtime network disagrees with its own spec.
fn typed_logits<B: Dim, const K: usize, E, D, T>(
    logits: Tensor<(usize, usize), E, D, T>,
    batch: B,
) -> Result<TypedLogits<B, K, E, D, T>, Error>
where
    E: Dtype,
    D: Backend<E>,
    T: Tape<E, D>,
{
    logits.try_realize::<(B, Const<K>)>().map_err(|logits| {
        Error::Shape(format!(
            "the network returned logits of shape {:?}, expected [{}, {K}]",
            logits.shape(),
            batch.size(),
        ))
    })
}

/// A type that stands for every option of a spec except the input size and
/// the number of classes.
pub trait Architecture {
    /// The full spec for input size `[height, width, channels]` and
    /// `classes` classes.
    fn spec(input: [usize; 3], classes: usize) -> Spec;
}

/// A group of options that writes itself into a spec.
pub trait Options {
    /// Sets this group's fields of `spec`.
    fn apply(spec: &mut Spec);
}

/// The options of a spec, in four groups: the stem, the residual blocks,
/// the input layer, and initialization with batch norm's constants.
pub struct Arch<S, B, I, N>(PhantomData<(S, B, I, N)>);

impl<S: Options, B: Options, I: Options, N: Options> Architecture for Arch<S, B, I, N> {
    fn spec(input: [usize; 3], classes: usize) -> Spec {
        let mut spec = Spec::new(input, classes);
        S::apply(&mut spec);
        B::apply(&mut spec);
        I::apply(&mut spec);
        N::apply(&mut spec);
        spec
    }
}

/// The stem: `initial_filter_size` (`FH` x `FW`), `initial_num_filters`,
/// `initial_stride` (`SH` x `SW`) and `initial_pooling` (`P`, one of
/// [`MaxPool`], [`AveragePool`], [`NoPool`]).
pub struct Stem<
    const FH: usize,
    const FW: usize,
    const FILTERS: usize,
    const SH: usize,
    const SW: usize,
    P,
>(PhantomData<P>);

impl<const FH: usize, const FW: usize, const F: usize, const SH: usize, const SW: usize, P> Options
    for Stem<FH, FW, F, SH, SW, P>
where
    P: Tag<Pooling>,
{
    fn apply(spec: &mut Spec) {
        spec.initial_filter_size = [FH, FW];
        spec.initial_num_filters = F;
        spec.initial_stride = [SH, SW];
        spec.initial_pooling = P::VALUE;
    }
}

/// The residual blocks: `residual_block_type` (`R`), `bottleneck_type`
/// (`BT`), `downsample_conv` (`DC`), `padding` (`PAD`), `conv_bias`,
/// `zero_init_residual`, and the stacks `S` (`stack_depth` and
/// `num_filters` as a [`Stack`] list).
pub struct Blocks<R, BT, DC, PAD, const CONV_BIAS: bool, const ZERO_INIT_RESIDUAL: bool, S>(
    PhantomData<(R, BT, DC, PAD, S)>,
);

impl<R, BT, DC, PAD, const BIAS: bool, const ZERO: bool, S> Options
    for Blocks<R, BT, DC, PAD, BIAS, ZERO, S>
where
    R: Tag<ResidualBlockType>,
    BT: Tag<BottleneckType>,
    DC: Tag<DownsampleConv>,
    PAD: Tag<PaddingMode>,
    S: Stacks,
{
    fn apply(spec: &mut Spec) {
        spec.residual_block_type = R::VALUE;
        spec.bottleneck_type = BT::VALUE;
        spec.downsample_conv = DC::VALUE;
        spec.padding = PAD::VALUE;
        spec.conv_bias = BIAS;
        spec.zero_init_residual = ZERO;

        spec.stack_depth.clear();
        spec.num_filters.clear();
        S::push(&mut spec.stack_depth, &mut spec.num_filters);
    }
}

/// The input layer: `normalization` (`N`) and the fixed per-channel `mean`
/// and `std` (each [`Absent`] or a [`Values`] list).
pub struct InputLayer<N, MEAN, STD>(PhantomData<(N, MEAN, STD)>);

impl<N, MEAN, STD> Options for InputLayer<N, MEAN, STD>
where
    N: Tag<Normalization>,
    MEAN: OptionalValues,
    STD: OptionalValues,
{
    fn apply(spec: &mut Spec) {
        spec.normalization = N::VALUE;
        spec.mean = MEAN::values();
        spec.std = STD::values();
    }
}

/// Initialization and batch norm: `initialize`, and `bn_epsilon` and
/// `bn_momentum` as the bits of their `f64` (`f64::to_bits`).
pub struct Init<const INITIALIZE: bool, const BN_EPSILON: u64, const BN_MOMENTUM: u64>;

impl<const INITIALIZE: bool, const EPS: u64, const MOMENTUM: u64> Options
    for Init<INITIALIZE, EPS, MOMENTUM>
{
    fn apply(spec: &mut Spec) {
        spec.initialize = INITIALIZE;
        spec.bn_epsilon = f64::from_bits(EPS);
        spec.bn_momentum = f64::from_bits(MOMENTUM);
    }
}

/// The stacks of a network, first to last.
pub trait Stacks {
    /// Appends each stack's depth and filter count.
    fn push(stack_depth: &mut Vec<usize>, num_filters: &mut Vec<usize>);
}

/// A stack of `DEPTH` blocks with `FILTERS` filters, followed by `NEXT`.
pub struct Stack<const DEPTH: usize, const FILTERS: usize, NEXT>(PhantomData<NEXT>);

/// The end of the list of stacks.
pub struct End;

impl<const DEPTH: usize, const FILTERS: usize, NEXT: Stacks> Stacks
    for Stack<DEPTH, FILTERS, NEXT>
{
    fn push(stack_depth: &mut Vec<usize>, num_filters: &mut Vec<usize>) {
        stack_depth.push(DEPTH);
        num_filters.push(FILTERS);
        NEXT::push(stack_depth, num_filters);
    }
}

impl Stacks for End {
    fn push(_: &mut Vec<usize>, _: &mut Vec<usize>) {}
}

/// An optional list of `f32`: the spec's `mean` and `std`.
pub trait OptionalValues {
    /// `None` for [`Absent`], the values in order otherwise.
    fn values() -> Option<Vec<f32>>;
}

/// A list of `f32` spelled as their bits.
pub trait ValueList {
    /// Appends the values in order.
    fn push(values: &mut Vec<f32>);
}

/// The option is not set.
pub struct Absent;

/// The value whose bits are `BITS` (`f32::to_bits`), followed by `NEXT`.
pub struct Values<const BITS: u32, NEXT>(PhantomData<NEXT>);

/// The end of a list of values.
pub struct Nil;

impl OptionalValues for Absent {
    fn values() -> Option<Vec<f32>> {
        None
    }
}

impl OptionalValues for Nil {
    fn values() -> Option<Vec<f32>> {
        Some(Vec::new())
    }
}

impl<const BITS: u32, NEXT: ValueList> OptionalValues for Values<BITS, NEXT> {
    fn values() -> Option<Vec<f32>> {
        let mut values = Vec::new();
        Self::push(&mut values);
        Some(values)
    }
}

impl ValueList for Nil {
    fn push(_: &mut Vec<f32>) {}
}

impl<const BITS: u32, NEXT: ValueList> ValueList for Values<BITS, NEXT> {
    fn push(values: &mut Vec<f32>) {
        values.push(f32::from_bits(BITS));
        NEXT::push(values);
    }
}

/// A marker type that stands for one value of the enumeration `T`.
pub trait Tag<T> {
    /// The value this marker stands for.
    const VALUE: T;
}

/// Declares one marker type per value of an enumeration.
macro_rules! tags {
    ($enum:ident { $($(#[$doc:meta])* $tag:ident => $value:ident,)* }) => {
        $(
            $(#[$doc])*
            pub struct $tag;

            impl Tag<$enum> for $tag {
                const VALUE: $enum = $enum::$value;
            }
        )*
    };
}

tags!(Pooling {
    /// `initial_pooling = "max"`.
    MaxPool => Max,
    /// `initial_pooling = "average"`.
    AveragePool => Average,
    /// `initial_pooling = "none"`.
    NoPool => None,
});

tags!(ResidualBlockType {
    /// `residual_block_type = "batchnorm-before-add"`.
    BatchnormBeforeAdd => BatchnormBeforeAdd,
    /// `residual_block_type = "batchnorm-after-add"`.
    BatchnormAfterAdd => BatchnormAfterAdd,
});

tags!(BottleneckType {
    /// `bottleneck_type = "downsample-first-conv"`: bottleneck blocks.
    BottleneckBlock => DownsampleFirstConv,
    /// `bottleneck_type = "none"`: basic blocks.
    BasicBlock => None,
});

tags!(DownsampleConv {
    /// `downsample_conv = "first"`.
    StrideFirst => First,
    /// `downsample_conv = "middle"`.
    StrideMiddle => Middle,
});

tags!(PaddingMode {
    /// `padding = "same"`.
    SamePadding => Same,
    /// `padding = "symmetric"`.
    SymmetricPadding => Symmetric,
});

tags!(Normalization {
    /// `normalization = "zerocenter"`.
    ZeroCenter => Zerocenter,
    /// `normalization = "zscore"`.
    ZScore => Zscore,
    /// `normalization = "none"`.
    NoNormalization => None,
});
