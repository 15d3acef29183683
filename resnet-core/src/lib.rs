//! Layers, ops, networks, training, data and weights for `resnet`.
//!
//! dfdx 0.13 offers convolution and pooling only on nightly Rust, so this
//! crate owns those ops ([`ops`]) and builds everything else on dfdx's
//! tensors, tape and optimizer kernels.

pub mod alloc;
pub mod data;
pub mod error;
pub mod interop;
pub mod layers;
pub mod network;
pub mod ops;
pub mod optim;
pub mod train;
pub mod typed;
pub mod weights;

pub use error::Error;
pub use network::{InputStats, Network};
pub use resnet_spec as spec;
pub use resnet_spec::Spec;
pub use typed::ResNet;
