//! The CPU pooling kernels: one channel of one image (a plane) at a time,
//! planes spread over the thread pool.

use std::ops::Range;

use dfdx::prelude::*;
use rayon::prelude::*;

use super::layout::{read, GradSink};
use super::window::Window;
use crate::ops::pool::{Pool2dDims, PoolKernel};
use crate::ops::Image;

/// The sliding geometry shared by every plane.
fn window(dims: &Pool2dDims) -> Window {
    Window {
        in_size: dims.in_size,
        kernel: dims.window,
        stride: dims.stride,
        pad: [dims.pad.top, dims.pad.left],
        out_size: dims.out_size,
    }
}

/// The input rows under every output row and the input columns under
/// every output column, padding left out; worked out once per call.
struct Spans {
    rows: Vec<Range<usize>>,
    cols: Vec<Range<usize>>,
    /// Input row length.
    width: usize,
}

impl Spans {
    fn new(win: &Window) -> Self {
        let [oh, ow] = win.out_size;
        Spans {
            rows: (0..oh).map(|r| win.span(0, r)).collect(),
            cols: (0..ow).map(|q| win.span(1, q)).collect(),
            width: win.in_size[1],
        }
    }

    /// Every output cell's index with its input rows and columns.
    fn cells(&self) -> impl Iterator<Item = (usize, &Range<usize>, &Range<usize>)> + '_ {
        let ow = self.cols.len();
        self.rows.iter().enumerate().flat_map(move |(r, rows)| {
            self.cols
                .iter()
                .enumerate()
                .map(move |(q, cols)| (r * ow + q, rows, cols))
        })
    }

    /// The number of cells an average divides by.
    fn divisor<E: Dtype>(
        &self,
        win: &Window,
        rows: &Range<usize>,
        cols: &Range<usize>,
        count_include_pad: bool,
    ) -> E {
        let count = if count_include_pad {
            // Pool2dDims::new keeps every window inside the padded input.
            win.taps()
        } else {
            rows.len() * cols.len()
        };
        E::from_usize(count).unwrap_or(E::ONE)
    }
}

/// The largest value under a window and its index in the plane: the first
/// one in row-major order, NaN winning as in PyTorch. The window always
/// holds at least one real cell (checked in `Pool2dDims::new`).
fn window_max<E: Dtype>(
    plane: &[E],
    width: usize,
    rows: &Range<usize>,
    cols: &Range<usize>,
) -> (E, usize) {
    let mut best_at = rows.start * width + cols.start;
    let mut best = plane[best_at];
    for row in rows.clone() {
        let start = row * width + cols.start;
        for (at, &v) in (start..).zip(&plane[start..row * width + cols.end]) {
            // Non-short-circuit `|` and selects rather than branches: with
            // random data the branch would be mispredicted often.
            let better = (v > best) | (is_nan(v) & !is_nan(best));
            best = if better { v } else { best };
            best_at = if better { at } else { best_at };
        }
    }
    (best, best_at)
}

/// Whether `v` is NaN, the one value not equal to itself.
#[allow(clippy::eq_op)]
fn is_nan<E: Dtype>(v: E) -> bool {
    v != v
}

/// What the CPU max pooling keeps for its backward pass.
pub struct SavedWinners {
    /// Per output cell, the index of the winning cell within its plane.
    winners: Vec<u32>,
    /// The layout of the input's gradient buffer.
    strides: [usize; 4],
}

/// What the CPU average pooling keeps for its backward pass.
pub struct SavedLayout {
    /// The layout of the input's gradient buffer.
    strides: [usize; 4],
}

fn max_forward<E: Dtype>(
    dev: &Cpu,
    dims: &Pool2dDims,
    x: &Image<E, Cpu>,
    save: bool,
) -> Result<(Image<E, Cpu>, SavedWinners), CpuError> {
    let win = window(dims);
    let spans = Spans::new(&win);
    let (x, strides) = read(x);

    let planes = dims.batch * dims.channels;
    let mut out = vec![E::default(); planes * win.out_len()];
    let mut winners = vec![0u32; if save { out.len() } else { 0 }];
    let pool = |(out, plane): (&mut [E], &[E]), mut winners: Option<&mut [u32]>| {
        for (i, rows, cols) in spans.cells() {
            let (best, at) = window_max(plane, spans.width, rows, cols);
            out[i] = best;
            if let Some(winners) = winners.as_deref_mut() {
                // Pool2dDims::new keeps a plane under 2^32 cells.
                winners[i] = at as u32;
            }
        }
    };
    if win.out_len() > 0 && win.in_len() > 0 {
        let pairs = out
            .par_chunks_mut(win.out_len())
            .zip(x.par_chunks(win.in_len()));
        if save {
            pairs
                .zip(winners.par_chunks_mut(win.out_len()))
                .for_each(|(pair, winners)| pool(pair, Some(winners)));
        } else {
            pairs.for_each(|pair| pool(pair, None));
        }
    }

    let out = dev.try_tensor_from_vec(out, dims.out_shape())?;
    Ok((out, SavedWinners { winners, strides }))
}

fn max_backward<E: Dtype>(dims: &Pool2dDims, saved: SavedWinners, grad_x: &mut [E], grad_y: &[E]) {
    let win = window(dims);
    let mut sink = GradSink::new(grad_x, in_shape(dims), saved.strides);

    if win.out_len() > 0 && win.in_len() > 0 {
        sink.values()
            .par_chunks_mut(win.in_len())
            .zip(grad_y.par_chunks(win.out_len()))
            .zip(saved.winners.par_chunks(win.out_len()))
            .for_each(|((grad_plane, grad_out), winners)| {
                for (&g, &at) in grad_out.iter().zip(winners) {
                    grad_plane[at as usize] += g;
                }
            });
    }
    sink.finish();
}

fn avg_forward<E: Dtype>(
    dev: &Cpu,
    dims: &Pool2dDims,
    x: &Image<E, Cpu>,
    count_include_pad: bool,
) -> Result<(Image<E, Cpu>, SavedLayout), CpuError> {
    let win = window(dims);
    let spans = Spans::new(&win);
    let (x, strides) = read(x);

    let mut out = vec![E::default(); dims.batch * dims.channels * win.out_len()];
    if win.out_len() > 0 && win.in_len() > 0 {
        out.par_chunks_mut(win.out_len())
            .zip(x.par_chunks(win.in_len()))
            .for_each(|(out, plane)| {
                for (i, rows, cols) in spans.cells() {
                    let mut sum = E::default();
                    for row in rows.clone() {
                        for &v in &plane[row * spans.width..][cols.clone()] {
                            sum += v;
                        }
                    }
                    out[i] = sum / spans.divisor(&win, rows, cols, count_include_pad);
                }
            });
    }

    let out = dev.try_tensor_from_vec(out, dims.out_shape())?;
    Ok((out, SavedLayout { strides }))
}

fn avg_backward<E: Dtype>(
    dims: &Pool2dDims,
    count_include_pad: bool,
    saved: SavedLayout,
    grad_x: &mut [E],
    grad_y: &[E],
) {
    let win = window(dims);
    let spans = Spans::new(&win);
    let mut sink = GradSink::new(grad_x, in_shape(dims), saved.strides);

    if win.out_len() > 0 && win.in_len() > 0 {
        sink.values()
            .par_chunks_mut(win.in_len())
            .zip(grad_y.par_chunks(win.out_len()))
            .for_each(|(grad_plane, grad_out)| {
                for (i, rows, cols) in spans.cells() {
                    let count = spans.divisor(&win, rows, cols, count_include_pad);
                    let share = grad_out[i] / count;
                    for row in rows.clone() {
                        for cell in &mut grad_plane[row * spans.width..][cols.clone()] {
                            *cell += share;
                        }
                    }
                }
            });
    }
    sink.finish();
}

/// The input shape `[n, c, h, w]`.
fn in_shape(dims: &Pool2dDims) -> [usize; 4] {
    let [h, w] = dims.in_size;
    [dims.batch, dims.channels, h, w]
}

macro_rules! cpu_pool_kernel {
    ($($float:ty),*) => {$(
        impl PoolKernel<$float> for Cpu {
            type MaxPoolSaved = SavedWinners;
            type AvgPoolSaved = SavedLayout;

            fn max_pool2d_forward(
                &self,
                dims: &Pool2dDims,
                x: &Image<$float, Self>,
                save: bool,
            ) -> Result<(Image<$float, Self>, Self::MaxPoolSaved), Self::Err> {
                max_forward(self, dims, x, save)
            }

            fn max_pool2d_backward(
                &self,
                dims: &Pool2dDims,
                saved: Self::MaxPoolSaved,
                grad_x: &mut Self::Vec,
                grad_out: &Self::Vec,
            ) -> Result<(), Self::Err> {
                max_backward(dims, saved, grad_x, grad_out);
                Ok(())
            }

            fn avg_pool2d_forward(
                &self,
                dims: &Pool2dDims,
                x: &Image<$float, Self>,
                count_include_pad: bool,
            ) -> Result<(Image<$float, Self>, Self::AvgPoolSaved), Self::Err> {
                avg_forward(self, dims, x, count_include_pad)
            }

            fn avg_pool2d_backward(
                &self,
                dims: &Pool2dDims,
                count_include_pad: bool,
                saved: Self::AvgPoolSaved,
                grad_x: &mut Self::Vec,
                grad_out: &Self::Vec,
            ) -> Result<(), Self::Err> {
                avg_backward(dims, count_include_pad, saved, grad_x, grad_out);
                Ok(())
            }
        }
    )*};
}

cpu_pool_kernel!(f32, f64);
