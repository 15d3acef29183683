//! The declarative description of a 2-D residual network.
//!
//! A [`Spec`] holds every option of MATLAB's `resnetNetwork` plus the few that
//! PyTorch users need to describe torchvision's networks exactly. The same
//! type is read by the `resnet!` macro at compile time and by the command
//! line at run time, so both accept exactly the same descriptions.
//!
//! This crate has no tensor dependency on purpose: the macro links it into
//! the compiler, where dfdx would only slow the build.

mod options;
mod plan;

pub use options::*;
pub use plan::*;
