//! Inline options that cannot be stored: an unknown or repeated key points
//! at the key, a value of the wrong type or an unknown choice at the value.

use resnet::resnet;

type UnknownKey = resnet!(input: [224, 224, 3], classes: 10, stack_dept: [2, 2, 2, 2]);

type RepeatedKey = resnet!(input: [224, 224, 3], classes: 10, classes: 5);

type StringForNumber = resnet!(input: [224, 224, 3], classes: "ten");

type NumberForList = resnet!(input: [224, 224, 3], classes: 10, stack_depth: 3);

type FloatInList = resnet!(input: [224, 224, 3], classes: 10, num_filters: [64, 128.5]);

type InputOfOneNumber = resnet!(input: [224], classes: 10);

type NegativeStride = resnet!(input: [224, 224, 3], classes: 10, initial_stride: -2);

type NumberForBool = resnet!(input: [224, 224, 3], classes: 10, initialize: 1);

type UnknownPooling = resnet!(input: [224, 224, 3], classes: 10, initial_pooling: "maximum");

type UnknownBlockType = resnet!(
    input: [224, 224, 3],
    classes: 10,
    residual_block_type: "batchnorm-before-addition",
);

type UnknownBottleneck = resnet!(input: [224, 224, 3], classes: 10, bottleneck_type: "basic");

type UnknownNormalization = resnet!(input: [224, 224, 3], classes: 10, normalization: "z-score");

type BareWord = resnet!(input: [224, 224, 3], classes: 10, initial_pooling: max);

type SuffixedNumber = resnet!(input: [224, 224, 3], classes: 10usize);

fn main() {}
