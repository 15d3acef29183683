//! Reading tensors in row-major order, adding into gradient buffers that
//! are laid out like their tensors, and spreading a batch over threads.

use std::mem::MaybeUninit;
use std::ops::Range;

use dfdx::prelude::*;
use gemm::Parallelism;
use rayon::prelude::*;

/// Whether a buffer of `len` values with `strides` holds exactly the
/// elements of `shape` in row-major order. Strides of axes of length 1 do
/// not matter.
pub(super) fn is_row_major<const N: usize>(
    shape: [usize; N],
    strides: [usize; N],
    len: usize,
) -> bool {
    if len != shape.iter().product::<usize>() {
        return false;
    }
    let mut expected = 1;
    for axis in (0..N).rev() {
        if shape[axis] != 1 && strides[axis] != expected {
            return false;
        }
        expected *= shape[axis];
    }
    true
}

/// The strides of a CPU tensor, read off the addresses of its elements.
///
/// dfdx 0.13 keeps a tensor's strides and buffer private; its public
/// `Index` hands out references into the buffer, and the distance between
/// two of them is the stride. Axes of length 1 get row-major strides.
pub(super) fn strides_of<S, E, T, const N: usize>(t: &Tensor<S, E, Cpu, T>) -> [usize; N]
where
    S: Shape<Concrete = [usize; N]>,
    E: Unit,
{
    let shape = t.shape().concrete();
    let mut strides = t.shape().strides();
    if shape.contains(&0) {
        return strides;
    }
    let address = |index: [usize; N]| &t[index] as *const E as usize;
    let origin = address([0; N]);
    for axis in 0..N {
        if shape[axis] > 1 {
            let mut next = [0; N];
            next[axis] = 1;
            strides[axis] = (address(next) - origin) / std::mem::size_of::<E>();
        }
    }
    strides
}

/// The elements of `t` in row-major order, with the strides of its own
/// buffer (the layout its gradient buffer has too).
///
/// A row-major tensor is copied with one `memcpy`; any other layout
/// (broadcast, permuted) is gathered element by element. dfdx 0.13 offers
/// no way to borrow the buffer, so even the row-major case copies.
pub(super) fn read<S, E, T, const N: usize>(t: &Tensor<S, E, Cpu, T>) -> (Vec<E>, [usize; N])
where
    S: Shape<Concrete = [usize; N]>,
    E: Unit,
{
    let shape = t.shape().concrete();
    let strides = strides_of(t);
    let numel = shape.iter().product();
    // A tensor with row-major strides owns a buffer of exactly its
    // elements in dfdx (slices and broadcasts get other strides), which is
    // what `copy_into` needs.
    let values = if is_row_major(shape, strides, numel) {
        let mut values = zeroed(numel);
        t.copy_into(&mut values);
        values
    } else {
        t.as_vec()
    };
    (values, strides)
}

/// A vector of `len` zeros, written by the whole thread pool when it is
/// large, so that a single-threaded `memset` does not hold up the op.
pub(super) fn zeroed<E: Unit>(len: usize) -> Vec<E> {
    let mut values = Vec::with_capacity(len);
    init_zeros(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: the first `len` values were just written.
    unsafe { values.set_len(len) };
    values
}

/// Writes zeros into `cells` (in parallel when there are many) and returns
/// them as initialized values.
pub(super) fn init_zeros<E: Unit>(cells: &mut [MaybeUninit<E>]) -> &mut [E] {
    const PIECE: usize = 1 << 16;
    let zero = MaybeUninit::new(E::default());
    if cells.len() > 4 * PIECE {
        cells
            .par_chunks_mut(PIECE)
            .for_each(|piece| piece.fill(zero));
    } else {
        cells.fill(zero);
    }
    // SAFETY: every cell was just written, and MaybeUninit<E> has the
    // layout of E.
    unsafe { &mut *(cells as *mut [MaybeUninit<E>] as *mut [E]) }
}

/// A gradient buffer seen as a row-major array. When the tensor it belongs
/// to has another layout, writes go to a zeroed scratch array that
/// [`GradSink::finish`] adds into the buffer through the strides.
pub(super) struct GradSink<'a, E, const N: usize> {
    target: &'a mut [E],
    shape: [usize; N],
    strides: [usize; N],
    scratch: Option<Vec<E>>,
}

impl<'a, E: Dtype, const N: usize> GradSink<'a, E, N> {
    /// Wraps the gradient `target` of a tensor with `shape` and `strides`.
    pub(super) fn new(target: &'a mut [E], shape: [usize; N], strides: [usize; N]) -> Self {
        let scratch = if is_row_major(shape, strides, target.len()) {
            None
        } else {
            Some(vec![E::default(); shape.iter().product()])
        };
        GradSink {
            target,
            shape,
            strides,
            scratch,
        }
    }

    /// The row-major array to add gradients into.
    pub(super) fn values(&mut self) -> &mut [E] {
        match &mut self.scratch {
            Some(scratch) => scratch,
            None => self.target,
        }
    }

    /// Adds the scratch array, if any, into the real buffer.
    pub(super) fn finish(self) {
        let Some(scratch) = self.scratch else {
            return;
        };
        let mut index = [0usize; N];
        for &value in &scratch {
            let offset: usize = (0..N).map(|axis| index[axis] * self.strides[axis]).sum();
            self.target[offset] += value;
            for axis in (0..N).rev() {
                index[axis] += 1;
                if index[axis] < self.shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
    }
}

/// Runs `task` over the images `0..n` of a batch whose per-image output
/// (`img_len` values each) lies in `out`, and collects what each call
/// returns.
///
/// With `t` threads, the first `t * (n / t)` images go out in `t` equal
/// chunks, one per thread, each told to multiply single-threaded; the few
/// images left over run on the calling thread with `gemm` spreading each
/// product over the pool. A batch of one therefore still uses every core.
pub(super) fn over_batch<E, R, F>(n: usize, out: &mut [E], img_len: usize, task: F) -> Vec<R>
where
    E: Send,
    R: Send,
    F: Fn(Range<usize>, &mut [E], Parallelism) -> R + Sync,
{
    let threads = rayon::current_num_threads();
    if threads <= 1 || img_len == 0 || n == 0 {
        return vec![task(0..n, out, Parallelism::None)];
    }

    let per_thread = n / threads;
    let split = per_thread * threads;
    let (head, tail) = out.split_at_mut(split * img_len);
    let mut results: Vec<R> = if per_thread > 0 {
        head.par_chunks_mut(per_thread * img_len)
            .enumerate()
            .map(|(i, part)| {
                let images = i * per_thread..(i + 1) * per_thread;
                task(images, part, Parallelism::None)
            })
            .collect()
    } else {
        Vec::new()
    };
    if split < n {
        results.push(task(split..n, tail, Parallelism::Rayon(0)));
    }
    results
}
