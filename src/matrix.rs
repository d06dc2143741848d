//! Row-major matrix views and the scalar types the core computes in.

use crate::error::{invalid, Result};
use crate::kernel::Kernel;

/// A floating-point type the core computes in: `f32` or `f64`.
///
/// Each type brings its own tile kernel ([`Kernel`]) so that float32 input is computed in
/// float32 and float64 in float64, as the contract asks.
pub trait Real:
    Kernel
    + Copy
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
    const INFINITY: Self;

    fn sqrt(self) -> Self;
    fn recip(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn is_finite(self) -> bool;
    /// `self * a + b` with one rounding (a fused multiply-add instruction where the kernel
    /// is compiled for one).
    fn mul_add(self, a: Self, b: Self) -> Self;
}

macro_rules! impl_real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const INFINITY: Self = <$t>::INFINITY;

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
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
        }
    };
}

impl_real!(f32);
impl_real!(f64);

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

    /// Index of the first row holding a value whose magnitude exceeds `limit`, if any.
    pub fn first_row_above(&self, limit: T) -> Option<usize> {
        first_row_where(self, |row| row.iter().any(|&v| v > limit || -v > limit))
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
