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
    /// The largest finite value, as f64.
    const MAX_F64: f64;
    /// The smallest positive normal value, as f64.
    const MIN_NORMAL_F64: f64;
    /// Powers of two `2^e` with `|e| <= SAFE_EXP` are normal numbers of this type, and so are
    /// their products with values in [0.5, 8).
    const SAFE_EXP: i32;

    fn sqrt(self) -> Self;
    fn to_f64(self) -> f64;
    /// Rounds to the nearest value of this type.
    fn from_f64(v: f64) -> Self;
    fn min(self, other: Self) -> Self;
    fn recip(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn is_finite(self) -> bool;
    /// `self * a + b` with one rounding (a fused multiply-add instruction where the kernel
    /// is compiled for one).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// An unsigned integer ordered as the value is, for non-NaN values: `a < b` iff
    /// `a.order_bits() < b.order_bits()`, with -0.0 and +0.0 equal (as `==` has them).
    fn order_bits(self) -> u64;
    /// An integer per candidate `(self, index)` that sorts as `topk::rank_cmp` (smaller =
    /// better): the inverted [`Real::order_bits`] above the index. u64 for f32, u128 for f64.
    type RankBits: Ord + Copy + Send + Sync + std::fmt::Debug;
    fn rank_bits(self, index: u32) -> Self::RankBits;
    /// The index back from [`Real::rank_bits`].
    fn rank_index(bits: Self::RankBits) -> u32;
}

macro_rules! impl_real {
    ($t:ty, $bits:ty) => {
        impl Real for $t {
            type RankBits = $bits;
            #[inline(always)]
            fn rank_bits(self, index: u32) -> $bits {
                let width = <$t>::BITS_ALL;
                let key = !self.order_bits() & (u64::MAX >> (64 - width));
                (<$bits>::from(key) << 32) | <$bits>::from(index)
            }
            #[inline(always)]
            fn rank_index(bits: $bits) -> u32 {
                bits as u32
            }
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            const INFINITY: Self = <$t>::INFINITY;
            const MAX_F64: f64 = <$t>::MAX as f64;
            const MIN_NORMAL_F64: f64 = <$t>::MIN_POSITIVE as f64;
            const SAFE_EXP: i32 = <$t>::MAX_EXP - 4;

            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
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
            #[inline(always)]
            fn order_bits(self) -> u64 {
                // + 0.0 turns -0.0 into +0.0; then negative values have their bits inverted
                // and positive ones the sign bit set: the usual order-preserving map.
                let b = (self + 0.0).to_bits();
                let sign = 1 << (<$t>::BITS_ALL - 1);
                (if b & sign != 0 { !b } else { b | sign }) as u64
            }
        }
    };
}

/// The width of a float's bit pattern, for [`Real::order_bits`].
trait Width {
    const BITS_ALL: u32;
}
impl Width for f32 {
    const BITS_ALL: u32 = 32;
}
impl Width for f64 {
    const BITS_ALL: u32 = 64;
}

impl_real!(f32, u64);
impl_real!(f64, u128);

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
}
