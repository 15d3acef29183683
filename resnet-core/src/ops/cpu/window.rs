//! How a kernel or pooling window slides over one channel, and the im2col
//! copies built on it.
//!
//! im2col lays one channel out as `kh * kw` rows of `oh * ow` values: row
//! `(ki, kj)` holds, for every output position, the input value under
//! kernel offset `(ki, kj)`, or zero where that offset falls in the
//! padding. col2im is its adjoint: it adds each value back to the input
//! cell it came from.

use std::ops::Range;

use dfdx::prelude::*;
use rayon::prelude::*;

/// The sliding geometry of one channel.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    /// Input `[height, width]`.
    pub in_size: [usize; 2],
    /// Window `[height, width]`.
    pub kernel: [usize; 2],
    /// `[height, width]`.
    pub stride: [usize; 2],
    /// Padding before the first row and before the first column (top,
    /// left); padding after them only shows in `out_size`.
    pub pad: [usize; 2],
    /// Output `[height, width]`.
    pub out_size: [usize; 2],
}

impl Window {
    /// Values in one channel of the input.
    pub(super) fn in_len(&self) -> usize {
        self.in_size[0] * self.in_size[1]
    }

    /// Values in one channel of the output.
    pub(super) fn out_len(&self) -> usize {
        self.out_size[0] * self.out_size[1]
    }

    /// Rows in the im2col matrix of one channel.
    pub(super) fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// The output positions along `axis` (0 for rows, 1 for columns) at
    /// which window offset `k` reads a real input cell, not padding.
    pub(super) fn valid(&self, axis: usize, k: usize) -> Range<usize> {
        let (len, stride, pad) = (self.in_size[axis], self.stride[axis], self.pad[axis]);

        // The input index is o * stride + k - pad; keep 0 <= it < len.
        let first = if pad > k { (pad - k).div_ceil(stride) } else { 0 };
        let end = if len + pad > k {
            (len + pad - k - 1) / stride + 1
        } else {
            0
        };
        let end = end.min(self.out_size[axis]);
        first.min(end)..end
    }

    /// The input cells along `axis` that the window at output position
    /// `o` covers, padding left out.
    pub(super) fn span(&self, axis: usize, o: usize) -> Range<usize> {
        let start = o * self.stride[axis];
        let end = start + self.kernel[axis];
        let pad = self.pad[axis];
        let len = self.in_size[axis];
        start.saturating_sub(pad).min(len)..end.saturating_sub(pad).min(len)
    }

    /// The input index that output position `o` reads at window offset
    /// `k`; only for `o` in [`Window::valid`]`(axis, k)`.
    fn source(&self, axis: usize, o: usize, k: usize) -> usize {
        o * self.stride[axis] + k - self.pad[axis]
    }
}

/// Writes the im2col rows of one channel `x` into `col`.
fn im2col_channel<E: Dtype>(win: &Window, x: &[E], col: &mut [E]) {
    let [kh, kw] = win.kernel;
    let [_, ow] = win.out_size;
    let width = win.in_size[1];
    let stride = win.stride[1];
    let zero = E::default();

    for ki in 0..kh {
        let rows = win.valid(0, ki);
        for kj in 0..kw {
            let cols = win.valid(1, kj);
            let dst = &mut col[(ki * kw + kj) * win.out_len()..][..win.out_len()];
            dst[..rows.start * ow].fill(zero);
            dst[rows.end * ow..].fill(zero);

            for r in rows.clone() {
                let line = &mut dst[r * ow..][..ow];
                line[..cols.start].fill(zero);
                line[cols.end..].fill(zero);
                if cols.is_empty() {
                    continue;
                }
                let src = &x[win.source(0, r, ki) * width..][..width];
                let first = win.source(1, cols.start, kj);
                let line = &mut line[cols.clone()];
                if stride == 1 {
                    line.copy_from_slice(&src[first..first + line.len()]);
                } else {
                    let picks = src[first..].iter().step_by(stride);
                    for (value, &picked) in line.iter_mut().zip(picks) {
                        *value = picked;
                    }
                }
            }
        }
    }
}

/// Adds the im2col rows `col` of one channel back into its gradient `x`.
fn col2im_channel<E: Dtype>(win: &Window, col: &[E], x: &mut [E]) {
    let [kh, kw] = win.kernel;
    let [_, ow] = win.out_size;
    let width = win.in_size[1];
    let stride = win.stride[1];

    for ki in 0..kh {
        let rows = win.valid(0, ki);
        for kj in 0..kw {
            let cols = win.valid(1, kj);
            if cols.is_empty() {
                continue;
            }
            let src = &col[(ki * kw + kj) * win.out_len()..][..win.out_len()];
            let first = win.source(1, cols.start, kj);

            for r in rows.clone() {
                let line = &src[r * ow..][..ow][cols.clone()];
                let dst = &mut x[win.source(0, r, ki) * width..][..width][first..];
                if stride == 1 {
                    for (cell, &value) in dst.iter_mut().zip(line) {
                        *cell += value;
                    }
                } else {
                    for (cell, &value) in dst.iter_mut().step_by(stride).zip(line) {
                        *cell += value;
                    }
                }
            }
        }
    }
}

/// im2col of every channel in `x` (channel after channel) into `col`;
/// `parallel` spreads the channels over the thread pool.
pub(super) fn im2col<E: Dtype>(win: &Window, x: &[E], col: &mut [E], parallel: bool) {
    let (x_len, col_len) = (win.in_len(), win.taps() * win.out_len());
    if parallel {
        col.par_chunks_mut(col_len)
            .zip(x.par_chunks(x_len))
            .for_each(|(col, x)| im2col_channel(win, x, col));
    } else {
        col.chunks_mut(col_len)
            .zip(x.chunks(x_len))
            .for_each(|(col, x)| im2col_channel(win, x, col));
    }
}

/// col2im of every channel: adds `col` back into the gradient `x`;
/// `parallel` spreads the channels over the thread pool.
pub(super) fn col2im<E: Dtype>(win: &Window, col: &[E], x: &mut [E], parallel: bool) {
    let (x_len, col_len) = (win.in_len(), win.taps() * win.out_len());
    if parallel {
        x.par_chunks_mut(x_len)
            .zip(col.par_chunks(col_len))
            .for_each(|(x, col)| col2im_channel(win, col, x));
    } else {
        x.chunks_mut(x_len)
            .zip(col.chunks(col_len))
            .for_each(|(x, col)| col2im_channel(win, col, x));
    }
}
