//! CPU kernels for convolution and pooling.
//!
//! Convolution is im2col followed by a matrix product from the `gemm`
//! crate (the one dfdx uses), with 1x1 stride-1 unpadded convolutions
//! multiplied in place ([`conv_plan`]). Large maps are spread over the
//! threads image by image; small maps, and batches smaller than the thread
//! pool, let `gemm` spread each product instead ([`conv`]). Pooling works
//! plane by plane ([`pool`]).
//!
//! dfdx 0.13 keeps a tensor's buffer and strides private, so the kernels
//! copy their inputs out once ([`layout`]) and write gradients through the
//! buffers that `Gradients` hands out.

mod conv;
mod conv_plan;
mod layout;
mod matmul;
mod pool;
mod window;
