//! The error type of the library.

/// What can go wrong in `resnet-core`. Every message names the value that
/// was received and what would have been accepted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor of the wrong shape reached an op or a layer.
    #[error("{0}")]
    Shape(String),
    /// The device failed (out of memory, a kernel launch).
    #[error("device error: {0}")]
    Device(String),
    /// An invalid argument, with a message saying what is accepted.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Wraps a device error; dfdx device errors only implement `Debug`.
    pub fn device(err: impl std::fmt::Debug) -> Self {
        Error::Device(format!("{err:?}"))
    }
}
