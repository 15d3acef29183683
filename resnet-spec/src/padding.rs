//! Padding and output sizes of a sliding window (a convolution kernel or a
//! pooling window) along one axis.

use crate::PaddingMode;

/// The padding `(before, after)` that `mode` adds along one axis of length
/// `input` for a window of `kernel` moved by `stride`.
///
/// "same" (MATLAB) pads so that the output is `ceil(input / stride)`: the
/// total is `max((ceil(input / stride) - 1) * stride + kernel - input, 0)`
/// and an odd pixel goes after (bottom or right). Symmetric (PyTorch) pads
/// `kernel / 2` on both sides whatever the input.
pub fn pad_1d(mode: PaddingMode, input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    match mode {
        PaddingMode::Same => {
            let out = input.div_ceil(stride);
            let reach = out
                .saturating_sub(1)
                .saturating_mul(stride)
                .saturating_add(kernel);
            let needed = reach.saturating_sub(input);
            (needed / 2, needed - needed / 2)
        }
        PaddingMode::Symmetric => (kernel / 2, kernel / 2),
    }
}

/// The output length of a window of `kernel` moved by `stride` over `size`
/// pixels padded by `before` and `after`: `floor((size + before + after -
/// kernel) / stride) + 1`, or 0 when the window does not fit even once.
pub fn output_1d(size: usize, kernel: usize, stride: usize, before: usize, after: usize) -> usize {
    let padded = size.saturating_add(before).saturating_add(after);
    if padded < kernel || stride == 0 {
        return 0;
    }
    (padded - kernel) / stride + 1
}
