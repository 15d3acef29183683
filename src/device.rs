//! The device behind `--device`: the CPU, or CUDA when the binary was built
//! with the `cuda` feature.

use anyhow::Result;

/// The GPU device type: dfdx's CUDA device with the `cuda` feature. Without
/// it the name stands for the CPU so that the commands still type-check;
/// [`cuda`] then always fails before anything runs on it.
#[cfg(feature = "cuda")]
pub type Gpu = dfdx::tensor::Cuda;
#[cfg(not(feature = "cuda"))]
pub type Gpu = dfdx::tensor::Cpu;

/// Opens the first NVIDIA GPU.
///
/// Errors: no GPU or driver was found, or this binary was built without
/// CUDA support; each message says what to do instead.
#[cfg(feature = "cuda")]
pub fn cuda() -> Result<Gpu> {
    dfdx::tensor::Cuda::try_build(0, 0).map_err(|error| {
        anyhow::anyhow!(
            "--device cuda: no usable NVIDIA GPU ({error:?}); check nvidia-smi and the \
             driver, or run with --device cpu"
        )
    })
}

/// Opens the first NVIDIA GPU.
///
/// Errors: always, as this binary was built without CUDA support.
#[cfg(not(feature = "cuda"))]
pub fn cuda() -> Result<Gpu> {
    anyhow::bail!(
        "--device cuda: this resnet was built without CUDA support; rebuild it with \
         `cargo build --release --features cuda` on a machine with the CUDA toolkit, \
         or run with --device cpu"
    )
}
