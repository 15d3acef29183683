//! The CPU pooling kernels: one channel of one image (a plane) at a time,
//! planes spread over the thread pool.

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

/// Row-major index in the plane of the first largest value under the
/// window at output position `(r, q)`; NaN wins, as in PyTorch. The window
/// always holds at least one real cell (checked in `Pool2dDims::new`).
fn argmax<E: Dtype>(win: &Window, plane: &[E], r: usize, q: usize) -> usize {
    let width = win.in_size[1];
    let cols = win.span(1, q);
    let mut best = win.span(0, r).start * width + cols.start;
    for row in win.span(0, r) {
        for i in row * width + cols.start..row * width + cols.end {
            let v = plane[i];
            #[allow(clippy::eq_op)]
            let is_nan = v != v;
            if v > plane[best] || (is_nan && plane[best] == plane[best]) {
                best = i;
            }
        }
    }
    best
}

/// The number of cells an average divides by at output position `(r, q)`.
fn divisor<E: Dtype>(win: &Window, r: usize, q: usize, count_include_pad: bool) -> E {
    let count = if count_include_pad {
        // Pool2dDims::new keeps every window inside the padded input.
        win.taps()
    } else {
        win.span(0, r).len() * win.span(1, q).len()
    };
    E::from_usize(count).unwrap_or(E::ONE)
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
    let (x, strides) = read(x);
    let [_, ow] = win.out_size;

    let planes = dims.batch * dims.channels;
    let mut out = vec![E::default(); planes * win.out_len()];
    let mut winners = vec![0u32; if save { out.len() } else { 0 }];
    let run = |(out, plane): (&mut [E], &[E]), mut winners: Option<&mut [u32]>| {
        for (i, y) in out.iter_mut().enumerate() {
            let best = argmax(&win, plane, i / ow, i % ow);
            *y = plane[best];
            if let Some(winners) = winners.as_deref_mut() {
                // Pool2dDims::new keeps a plane under 2^32 cells.
                winners[i] = best as u32;
            }
        }
    };
    if win.out_len() > 0 && win.in_len() > 0 {
        let pairs = out.par_chunks_mut(win.out_len()).zip(x.par_chunks(win.in_len()));
        if save {
            pairs
                .zip(winners.par_chunks_mut(win.out_len()))
                .for_each(|(pair, winners)| run(pair, Some(winners)));
        } else {
            pairs.for_each(|pair| run(pair, None));
        }
    }

    let out = dev.try_tensor_from_vec(out, dims.out_shape())?;
    Ok((out, SavedWinners { winners, strides }))
}

fn max_backward<E: Dtype>(
    dims: &Pool2dDims,
    saved: SavedWinners,
    grad_x: &mut [E],
    grad_y: &[E],
) {
    let win = window(dims);
    let x_shape = [dims.batch, dims.channels, dims.in_size[0], dims.in_size[1]];
    let mut sink = GradSink::new(grad_x, x_shape, saved.strides);

    if win.out_len() > 0 && win.in_len() > 0 {
        sink.values()
            .par_chunks_mut(win.in_len())
            .zip(grad_y.par_chunks(win.out_len()))
            .zip(saved.winners.par_chunks(win.out_len()))
            .for_each(|((grad_plane, grad_out), winners)| {
                for (&g, &best) in grad_out.iter().zip(winners) {
                    grad_plane[best as usize] += g;
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
    let (x, strides) = read(x);
    let [_, ow] = win.out_size;
    let width = win.in_size[1];

    let mut out = vec![E::default(); dims.batch * dims.channels * win.out_len()];
    if win.out_len() > 0 && win.in_len() > 0 {
        out.par_chunks_mut(win.out_len())
            .zip(x.par_chunks(win.in_len()))
            .for_each(|(out, plane)| {
                for (i, y) in out.iter_mut().enumerate() {
                    let (r, q) = (i / ow, i % ow);
                    let cols = win.span(1, q);
                    let mut sum = E::default();
                    for row in win.span(0, r) {
                        for &v in &plane[row * width..][cols.clone()] {
                            sum += v;
                        }
                    }
                    *y = sum / divisor(&win, r, q, count_include_pad);
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
    let x_shape = [dims.batch, dims.channels, dims.in_size[0], dims.in_size[1]];
    let mut sink = GradSink::new(grad_x, x_shape, saved.strides);
    let [_, ow] = win.out_size;
    let width = win.in_size[1];

    if win.out_len() > 0 && win.in_len() > 0 {
        sink.values()
            .par_chunks_mut(win.in_len())
            .zip(grad_y.par_chunks(win.out_len()))
            .for_each(|(grad_plane, grad_out)| {
                for (i, &g) in grad_out.iter().enumerate() {
                    let (r, q) = (i / ow, i % ow);
                    let share = g / divisor(&win, r, q, count_include_pad);
                    let cols = win.span(1, q);
                    for row in win.span(0, r) {
                        for cell in &mut grad_plane[row * width..][cols.clone()] {
                            *cell += share;
                        }
                    }
                }
            });
    }
    sink.finish();
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
