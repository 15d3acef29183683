//! Bounds-checked matrix views over slices and a product on top of
//! `gemm::gemm`, which itself takes raw pointers and strides.

use dfdx::prelude::*;
use gemm::Parallelism;

/// The element types `gemm` multiplies natively.
pub(super) trait GemmFloat: Dtype {}

impl GemmFloat for f32 {}
impl GemmFloat for f64 {}

/// A read-only `rows x cols` matrix inside a slice, element `(i, j)` at
/// `i * row_stride + j * col_stride`.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a, E> {
    data: &'a [E],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a, E> Mat<'a, E> {
    /// The first `rows * cols` values of `data`, row by row.
    pub(super) fn rows(data: &'a [E], rows: usize, cols: usize) -> Self {
        let mat = Mat {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        };
        check_bounds(data.len(), rows, cols, cols, 1);
        mat
    }

    /// The transposed view; no data moves.
    pub(super) fn t(self) -> Self {
        Mat {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// A writable `rows x cols` matrix stored row by row at the start of a
/// slice.
pub(super) struct MatMut<'a, E> {
    data: &'a mut [E],
    rows: usize,
    cols: usize,
}

impl<'a, E> MatMut<'a, E> {
    /// The first `rows * cols` values of `data`, row by row.
    pub(super) fn rows(data: &'a mut [E], rows: usize, cols: usize) -> Self {
        check_bounds(data.len(), rows, cols, cols, 1);
        MatMut { data, rows, cols }
    }
}

/// Panics unless every element of the view lies inside a slice of `len`
/// values; a failure here is a bug in this crate, not bad input.
fn check_bounds(len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize) {
    if rows > 0 && cols > 0 {
        let last = (rows - 1) * row_stride + (cols - 1) * col_stride;
        assert!(
            last < len,
            "matrix view {rows}x{cols} past a slice of {len}"
        );
    }
}

/// `dst = lhs * rhs`, or `dst += lhs * rhs` when `accumulate` is true.
pub(super) fn matmul<E: GemmFloat>(
    dst: MatMut<'_, E>,
    accumulate: bool,
    lhs: Mat<'_, E>,
    rhs: Mat<'_, E>,
    parallelism: Parallelism,
) {
    assert!(
        dst.rows == lhs.rows && dst.cols == rhs.cols && lhs.cols == rhs.rows,
        "matmul of {}x{} by {}x{} into {}x{}",
        lhs.rows,
        lhs.cols,
        rhs.rows,
        rhs.cols,
        dst.rows,
        dst.cols,
    );
    let stride = |s: usize| s as isize;

    // SAFETY: the three views were bounds-checked when they were made, the
    // destination is borrowed mutably so it overlaps neither source, and
    // gemm reads and writes only inside the views.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            lhs.cols,
            dst.data.as_mut_ptr(),
            1,
            stride(dst.cols),
            accumulate,
            lhs.data.as_ptr(),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            E::ONE,
            E::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}
