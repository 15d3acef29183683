//! Declarative, compile-time-shaped ResNets on dfdx.

pub use resnet_core as core;
pub use resnet_core::*;
pub use resnet_macros::resnet;
