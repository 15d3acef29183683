//! The declarative description of a 2-D residual network.
//!
//! A [`Spec`] holds every option of MATLAB's `resnetNetwork` plus the few that
//! PyTorch users need to describe torchvision's networks exactly. The same
//! type is read by the `resnet!` macro at compile time and by the command
//! line at run time, so both accept exactly the same descriptions:
//!
//! - [`Value`] and [`Spec::set`] / [`Spec::from_values`] turn parsed options
//!   (inline tokens or TOML) into a spec, with type checks;
//! - [`Spec::validate`] checks the rules that tie options together;
//! - [`Spec::from_toml_str`], [`Spec::from_toml_file`] and [`Spec::to_toml`]
//!   read and write versioned TOML files;
//! - [`Spec::plan`] works out every layer and size ([`Plan`]);
//! - [`Summary`] counts layers, learnables and state the way MATLAB does.
//!
//! This crate has no tensor dependency on purpose: the macro links it into
//! the compiler, where dfdx would only slow the build.

#![warn(missing_docs)]

mod config;
mod error;
mod options;
mod padding;
mod plan;
mod set;
mod summary;
mod validate;
mod value;

pub use config::CONFIG_VERSION;
pub use error::{ConfigError, SpecError, SpecErrorAt};
pub use options::*;
pub use padding::{output_1d, pad_1d};
pub use plan::*;
pub use set::OPTION_KEYS;
pub use summary::{Summary, SummaryRow};
pub use value::Value;
