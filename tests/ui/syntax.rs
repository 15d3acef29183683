//! Invocations that are not `key: value` options nor `config = "path"`.
//! (A missing file's message names absolute paths, so it is checked by a
//! unit test of `resnet-macros` instead.)

use resnet::resnet;

type MissingColon = resnet!(input [224, 224, 3], classes: 10);

type MissingValue = resnet!(input: [224, 224, 3], classes:);

type MissingComma = resnet!(input: [224, 224, 3] classes: 10);

type NotAValue = resnet!(input: [224, 224, 3], classes: 'x');

type MisspelledConfig = resnet!(confg = "configs/zero_classes.toml");

type ConfigAndOptions = resnet!(config = "configs/zero_classes.toml", classes: 3);

fn main() {}
