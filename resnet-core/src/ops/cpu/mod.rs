//! CPU kernels for convolution and pooling.
//!
//! Convolution is im2col followed by a matrix product from the `gemm`
//! crate (the one dfdx uses), with 1x1 stride-1 unpadded convolutions
//! multiplied in place. Work is spread over the batch with rayon; a batch
//! smaller than the thread pool lets `gemm` spread each product instead.

mod conv;
mod layout;
mod matmul;
mod pool;
mod window;
