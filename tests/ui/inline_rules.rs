//! Inline specs that break a validation rule: each error points at the
//! `key: value` pair the rule names, or at the invocation when the option
//! is missing or left at a default that does not fit.

use resnet::resnet;

type EmptyStackDepth = resnet!(input: [224, 224, 3], classes: 10, stack_depth: []);

type EmptyNumFilters = resnet!(input: [224, 224, 3], classes: 10, num_filters: []);

type ShortStackDepth = resnet!(input: [224, 224, 3], classes: 10, stack_depth: [3, 4, 6]);

type ShortNumFilters = resnet!(input: [224, 224, 3], classes: 10, num_filters: [64, 128]);

type ZeroDepth = resnet!(input: [224, 224, 3], classes: 10, stack_depth: [3, 0, 6, 3]);

type ZeroFilters = resnet!(input: [224, 224, 3], classes: 10, num_filters: [64, 0, 256, 512]);

type ZeroClasses = resnet!(input: [224, 224, 3], classes: 0);

type WidthTooSmall = resnet!(input: [224, 20, 3], classes: 10);

type HeightTooSmallWithoutPooling = resnet!(input: [15, 16], classes: 10, initial_pooling: "none");

type TooSmallForTheStride = resnet!(input: [63, 64], classes: 10, initial_stride: 4);

type ZeroHeight = resnet!(input: [0, 224, 3], classes: 10);

type ZeroChannels = resnet!(input: [224, 224, 0], classes: 10);

type ZeroFilterSize = resnet!(input: [224, 224, 3], classes: 10, initial_filter_size: 0);

type ZeroStride = resnet!(input: [224, 224, 3], classes: 10, initial_stride: [2, 0]);

type ZeroStemFilters = resnet!(input: [224, 224, 3], classes: 10, initial_num_filters: 0);

type MissingInput = resnet!(classes: 10);

type MissingClasses = resnet!(input: [224, 224, 3]);

resnet! {
    /// A named network without its classes.
    pub type Named = { input: [224, 224, 3] };
}

fn main() {}
