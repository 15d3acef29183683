//! How a kernel or pooling window slides over one channel, and the im2col
//! copies built on it.
//!
//! im2col lays one channel out as `kh * kw` rows of `oh * ow` values: row
//! `(ki, kj)` holds, for every output position, the input value under
//! kernel offset `(ki, kj)`, or zero where that offset falls in the
//! padding. col2im is its adjoint: it adds each value back to the input
//! cell it came from.

use std::mem::MaybeUninit;
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
        let first = if pad > k {
            (pad - k).div_ceil(stride)
        } else {
            0
        };
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

/// Writes the im2col rows of one channel `x` into `col`, successive rows
/// `row_stride` apart. Every cell of the rows' first `out_len` columns is
/// written, so `col` may start uninitialized.
fn im2col_channel<E: Dtype>(win: &Window, x: &[E], col: &mut [MaybeUninit<E>], row_stride: usize) {
    if win.stride == [1, 1] && win.out_size[1] == win.in_size[1] {
        return im2col_channel_shifted(win, x, col, row_stride);
    }
    let [kh, kw] = win.kernel;
    let [_, ow] = win.out_size;
    let width = win.in_size[1];
    let stride = win.stride[1];
    let zero = MaybeUninit::new(E::default());

    for ki in 0..kh {
        let rows = win.valid(0, ki);
        for kj in 0..kw {
            let cols = win.valid(1, kj);
            let dst = &mut col[(ki * kw + kj) * row_stride..][..win.out_len()];
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
                    let run = &src[first..first + line.len()];
                    for (value, &picked) in line.iter_mut().zip(run) {
                        value.write(picked);
                    }
                } else {
                    let picks = src[first..].iter().step_by(stride);
                    for (value, &picked) in line.iter_mut().zip(picks) {
                        value.write(picked);
                    }
                }
            }
        }
    }
}

/// [`im2col_channel`] for stride 1 when a row of the output is as wide as
/// a row of the input (3x3 "same" layers): each im2col row is then the
/// channel itself shifted by `(ki - top) * width + (kj - left)` cells, so
/// it is one copy of the valid rows, after which the few cells that the
/// shift wrapped around a row edge are set to zero. Small maps gain most:
/// one copy per tap instead of one per output row.
fn im2col_channel_shifted<E: Dtype>(
    win: &Window,
    x: &[E],
    col: &mut [MaybeUninit<E>],
    row_stride: usize,
) {
    let [kh, kw] = win.kernel;
    let ow = win.out_size[1];
    let zero = MaybeUninit::new(E::default());

    for ki in 0..kh {
        let rows = win.valid(0, ki);
        for kj in 0..kw {
            let cols = win.valid(1, kj);
            let dst = &mut col[(ki * kw + kj) * row_stride..][..win.out_len()];
            dst[..rows.start * ow].fill(zero);
            dst[rows.end * ow..].fill(zero);
            if rows.is_empty() {
                continue;
            }

            // Output cell (r, c) reads input cell (r + ki - top, c + kj -
            // left); in flat indices that is one constant shift, valid for
            // every cell from the first row's first valid column to the
            // last row's last valid one.
            let first = rows.start * ow + cols.start;
            let end = (rows.end - 1) * ow + cols.end;
            if first < end && !cols.is_empty() {
                let src = win.source(0, rows.start, ki) * ow + win.source(1, cols.start, kj);
                let run = &x[src..src + (end - first)];
                for (value, &picked) in dst[first..end].iter_mut().zip(run) {
                    value.write(picked);
                }
            }
            for r in rows.clone() {
                let line = &mut dst[r * ow..][..ow];
                line[..cols.start].fill(zero);
                line[cols.end..].fill(zero);
            }
        }
    }
}

/// Adds the im2col rows `col` of one channel, successive rows `row_stride`
/// apart, back into its gradient `x`. The cells of `col` that stand for
/// padding may be overwritten with zeros.
fn col2im_channel<E: Dtype>(win: &Window, col: &mut [E], row_stride: usize, x: &mut [E]) {
    if win.stride == [1, 1] && win.out_size[1] == win.in_size[1] {
        return col2im_channel_shifted(win, col, row_stride, x);
    }
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
            let src = &col[(ki * kw + kj) * row_stride..][..win.out_len()];
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

/// [`col2im_channel`] for the windows of [`im2col_channel_shifted`]: the
/// cells that a shift wraps around a row edge stand for padding, so they
/// are cleared first and each tap is then one shifted run of additions.
fn col2im_channel_shifted<E: Dtype>(win: &Window, col: &mut [E], row_stride: usize, x: &mut [E]) {
    let [kh, kw] = win.kernel;
    let ow = win.out_size[1];

    for ki in 0..kh {
        let rows = win.valid(0, ki);
        for kj in 0..kw {
            let cols = win.valid(1, kj);
            if rows.is_empty() || cols.is_empty() {
                continue;
            }
            let src = &mut col[(ki * kw + kj) * row_stride..][..win.out_len()];
            for r in rows.clone() {
                let line = &mut src[r * ow..][..ow];
                line[..cols.start].fill(E::default());
                line[cols.end..].fill(E::default());
            }
            let first = rows.start * ow + cols.start;
            let end = (rows.end - 1) * ow + cols.end;
            let dst = win.source(0, rows.start, ki) * ow + win.source(1, cols.start, kj);
            let dst = &mut x[dst..dst + (end - first)];
            for (cell, &value) in dst.iter_mut().zip(&src[first..end]) {
                *cell += value;
            }
        }
    }
}

/// im2col of several images side by side: `images[i]` holds the channels
/// of image `i`, and its columns start at `i * out_len` in rows of
/// `images.len() * out_len` values. Writes every value of `col` and returns
/// it initialized. `parallel` spreads the channels over the thread pool.
pub(super) fn im2col<'c, E: Dtype>(
    win: &Window,
    images: &[&[E]],
    col: &'c mut [MaybeUninit<E>],
    parallel: bool,
) -> &'c mut [E] {
    let row_stride = images.len() * win.out_len();
    let rows_per_channel = win.taps() * row_stride;
    assert_eq!(
        col.len(),
        rows_per_channel * images.first().map_or(0, |x| x.len() / win.in_len())
    );
    let channel = |(c, rows): (usize, &mut [MaybeUninit<E>])| {
        for (i, x) in images.iter().enumerate() {
            let x = &x[c * win.in_len()..][..win.in_len()];
            im2col_channel(win, x, &mut rows[i * win.out_len()..], row_stride);
        }
    };
    if parallel {
        col.par_chunks_mut(rows_per_channel)
            .enumerate()
            .for_each(channel);
    } else {
        col.chunks_mut(rows_per_channel)
            .enumerate()
            .for_each(channel);
    }
    // SAFETY: each channel's rows hold, for every image, `out_len` values
    // at each row of the tap (all written above); the rows of all channels
    // tile `col` exactly (checked by the assertion), and MaybeUninit<E> has
    // the layout of E.
    unsafe { &mut *(col as *mut [MaybeUninit<E>] as *mut [E]) }
}

/// col2im of several images side by side, the adjoint of [`im2col`]: adds
/// the columns of image `i` into the gradient `grads[i]`, and may clear the
/// cells of `col` that stand for padding on the way. `parallel`
/// spreads the channels over the thread pool.
pub(super) fn col2im<E: Dtype>(
    win: &Window,
    col: &mut [E],
    grads: &mut [&mut [E]],
    parallel: bool,
) {
    let row_stride = grads.len() * win.out_len();
    let rows_per_channel = win.taps() * row_stride;
    if !parallel {
        for (i, grad) in grads.iter_mut().enumerate() {
            let channels = grad
                .chunks_mut(win.in_len())
                .zip(col.chunks_mut(rows_per_channel));
            for (x, rows) in channels {
                col2im_channel(win, &mut rows[i * win.out_len()..], row_stride, x);
            }
        }
        return;
    }

    // Regroup the gradients by channel so that each task owns one channel
    // of every image.
    let channels = grads.first().map_or(0, |g| g.len() / win.in_len());
    let mut by_channel: Vec<Vec<&mut [E]>> = (0..channels).map(|_| Vec::new()).collect();
    for grad in grads.iter_mut() {
        for (c, x) in grad.chunks_mut(win.in_len()).enumerate() {
            by_channel[c].push(x);
        }
    }
    by_channel
        .par_iter_mut()
        .zip(col.par_chunks_mut(rows_per_channel))
        .for_each(|(xs, rows)| {
            for (i, x) in xs.iter_mut().enumerate() {
                col2im_channel(win, &mut rows[i * win.out_len()..], row_stride, x);
            }
        });
}
