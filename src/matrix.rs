//! Row-major matrix views and the scalar types the core computes in.

use crate::error::{invalid, Result};

/// A floating-point type the core computes in: `f32` or `f64`.
///
/// Each type brings its own GEMM so that float32 input is computed in float32 and float64 in
/// float64, as the contract asks.
pub trait Real:
    Copy
    + Send
    + Sync
    + PartialOrd
    + PartialEq
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Neg<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INFINITY: Self;

    fn sqrt(self) -> Self;
    fn recip(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn is_finite(self) -> bool;

    /// `c (m x n) = a (m x k) * b (k x n)` with arbitrary strides, single-threaded, `beta = 0`.
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping matrices of the given
    /// shapes (`c` writable).
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_real {
    ($t:ty, $gemm:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;

            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn recip(self) -> Self {
                1.0 / self
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                $gemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, rsc, csc);
            }
        }
    };
}

impl_real!(f32, matrixmultiply::sgemm);
impl_real!(f64, matrixmultiply::dgemm);

/// A borrowed, row-major, contiguous `rows x cols` matrix.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
}

impl<'a, T: Real> Matrix<'a, T> {
    /// Wraps `data` as `rows x cols`; fails when the length does not match.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(invalid!(
                "a {rows} x {cols} matrix needs {} values, got {}",
                rows.saturating_mul(cols),
                data.len()
            ));
        }
        Ok(Self { data, rows, cols })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn data(&self) -> &'a [T] {
        self.data
    }

    #[inline]
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The rows `start..end` as a matrix of their own.
    pub fn slice_rows(&self, start: usize, end: usize) -> Matrix<'a, T> {
        Matrix {
            data: &self.data[start * self.cols..end * self.cols],
            rows: end - start,
            cols: self.cols,
        }
    }

    /// Index of the first row holding a NaN or an infinity, if any.
    pub fn first_nonfinite_row(&self) -> Option<usize> {
        first_row_where(self, |row| row.iter().any(|v| !v.is_finite()))
    }

    /// Index of the first row whose values are all zero, if any.
    pub fn first_zero_row(&self) -> Option<usize> {
        first_row_where(self, |row| row.iter().all(|&v| v == T::ZERO))
    }
}

fn first_row_where<T: Real>(
    m: &Matrix<'_, T>,
    pred: impl Fn(&[T]) -> bool + Sync + Send,
) -> Option<usize> {
    use rayon::prelude::*;
    if m.cols == 0 {
        return None;
    }
    m.data.par_chunks(m.cols).position_first(pred)
}

/// Squared Euclidean norm of each row, accumulated in the row's own precision.
pub(crate) fn squared_norms<T: Real>(m: &Matrix<'_, T>) -> Vec<T> {
    use rayon::prelude::*;
    if m.cols == 0 {
        return vec![T::ZERO; m.rows];
    }
    m.data
        .par_chunks(m.cols)
        .map(|row| row.iter().fold(T::ZERO, |acc, &v| acc + v * v))
        .collect()
}
