//! PyTorch interoperability: torchvision state dicts in and out.
//!
//! A torchvision ResNet's state dict, saved with
//! `safetensors.torch.save_file(model.state_dict(), "resnet50.safetensors")`,
//! imports into a network built from the matching spec in
//! `configs/torchvision/`: the layer plan names every tensor as torchvision
//! does, so the entries map one to one ([`import_file`]). The same names go
//! back out ([`export_file`]) in a file that torchvision loads with
//! `strict=True`.
//!
//! Import is strict unless told otherwise: every missing, unexpected or
//! mis-shaped entry is reported at once ([`Mismatch`]). Two changes can be
//! asked for ([`ImportOptions`]): a new classifier for another class count
//! and an adapted first convolution for another channel count. Each is
//! logged in one line.
//!
//! Known limits: torchvision's input normalization is not part of its
//! state dict, so it lives in the spec (`mean` / `std` with normalization
//! "none"); a spec outside torchvision's layout (conv biases, "same"
//! padding, MATLAB's downsampling) still imports and exports, with a
//! warning, but computes something else than PyTorch.

mod adapt;
mod export;
pub(crate) mod file;
mod import;
mod torchvision;

pub use adapt::{adapt_input_channels, describe_adaptation, new_classifier};
pub use export::{export_file, export_file_with_names, ExportReport};
pub use file::{read_state_dict, StateDict, BATCH_COUNTER, CLASS_NAMES_KEY, INPUT_STATS_KEY};
pub use import::{
    import_file, import_state_dict, network_shapes, ImportError, ImportOptions, ImportReport,
    MisShaped, Mismatch,
};
pub use torchvision::{describe_stacks, differences};
