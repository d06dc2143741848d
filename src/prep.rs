//! How a set of rows is prepared for a metric: the numerics behind the "Numerical robustness"
//! section of `semantics.md`.
//!
//! The tile kernel multiplies *prepared* rows, never the raw input. Preparing happens while a
//! block is packed (into a per-thread work buffer), so no prepared copy of the whole set is
//! ever stored:
//! - cosine: each row is scaled by an exact power of two that brings its largest value into
//!   [0.5, 1), then divided by its norm (computed in f64), so that a row of 1e-25 values or of
//!   1e30 values gets a correct unit vector; the key is the dot product of unit vectors,
//!   clamped to [-1, 1]. Scaling a row by a power of two leaves its unit vector unchanged bit
//!   for bit.
//! - inner product: the whole set (queries and base together) is scaled by one power of two
//!   that brings its largest value into [0.5, 1): products then neither underflow nor
//!   overflow, and scaling the input by any power of two gives the same prepared rows, hence
//!   the same neighbours. Scores are scaled back exactly on output.
//! - Euclidean: rows are centred on `c`, the mean of an evenly spaced sample of at most
//!   [`CENTRE_SAMPLE`] rows of the (base) set rounded to a coarse grid (see
//!   [`centre_of_rows`]), before the same power-of-two scaling; the
//!   squared distance `|y_i|^2 + |y_j|^2 - 2 y_i.y_j` of centred rows `y` then has an error of
//!   a few roundings of `|x_i - c|^2 + |x_j - c|^2`, the spread of the data, not its offset.
//!   The squared norms are computed with exactly the kernel's dot-product chain, so duplicate
//!   rows are at distance 0 exactly.
//!
//! Everything here is deterministic and independent of threads and block sizes; the scale and
//! centre depend only on the set (its largest magnitude and the sample rows), so a distributed
//! run can compute them from a few reductions and reproduce `knn` bit for bit.

use rayon::prelude::*;

use crate::error::{try_vec, Error, Result, RowProblem};
use crate::kernel::dot_chain;
use crate::matrix::{Matrix, Real};
use crate::metric::Metric;

/// Rows averaged for the Euclidean centre, at most.
pub const CENTRE_SAMPLE: usize = 4096;
/// Rows per task of the scans (results never depend on it).
const SCAN_CHUNK: usize = 1024;

/// The largest magnitude accepted under `"ip"` and `"l2"` for `d` dimensions: scores add up d
/// products and Euclidean adds two squared norms, so `4 d v^2` must stay finite in `T`.
/// (Cosine accepts every finite value.)
pub fn magnitude_limit<T: Real>(d: usize) -> f64 {
    (T::MAX_F64 / (4.0 * d.max(1) as f64)).sqrt()
}

/// One pass over `x`: the first row (in row order) the metric cannot use, else the largest
/// magnitude in the set.
pub fn scan<T: Real>(x: &Matrix<'_, T>, metric: Metric) -> Result<f64> {
    let d = x.cols();
    if d == 0 || x.rows() == 0 {
        return Ok(0.0);
    }
    let limit = match metric {
        Metric::Cosine => f64::INFINITY,
        _ => magnitude_limit::<T>(d),
    };
    let per_chunk: Vec<std::result::Result<f64, (usize, RowProblem)>> = x
        .data()
        .par_chunks(SCAN_CHUNK * d)
        .enumerate()
        .map(|(c, chunk)| {
            let mut max = 0.0f64;
            for (r, row) in chunk.chunks_exact(d).enumerate() {
                let at = c * SCAN_CHUNK + r;
                let mut row_max = 0.0f64;
                for &v in row {
                    let a = v.to_f64().abs();
                    if a.is_nan() || a.is_infinite() {
                        return Err((at, RowProblem::NonFinite));
                    }
                    row_max = row_max.max(a);
                }
                if row_max > limit {
                    let limit_bits = limit.to_bits();
                    return Err((at, RowProblem::TooLarge { limit_bits }));
                }
                if row_max == 0.0 && metric == Metric::Cosine {
                    return Err((at, RowProblem::Zero));
                }
                max = max.max(row_max);
            }
            Ok(max)
        })
        .collect();
    let mut max = 0.0f64;
    for r in per_chunk {
        match r {
            Ok(m) => max = max.max(m),
            Err((row, problem)) => return Err(Error::InvalidRow { row, problem }),
        }
    }
    Ok(max)
}

/// `2^e` as f64 for any `e` in the range where some f64 scaling is needed; exact.
fn pow2(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// The exponent `e` such that `v * 2^e` lies in [0.5, 1), for finite `v > 0` (subnormal too).
fn unit_exponent(v: f64) -> i32 {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first.
        return unit_exponent(v * pow2(64)) + 64;
    }
    1022 - biased
}

/// What the kernel needs to know about a whole set (or a query set and its base together):
/// the power of two every value is multiplied by, and the Euclidean centre. Distributed runs
/// build it once with [`Params::new`] and pass it to every block.
#[derive(Debug, Clone, PartialEq)]
pub struct Params<T> {
    pub metric: Metric,
    /// `2^-E` (exact): the largest magnitude times `scale` lies in [0.5, 1) (clamped to the
    /// normal range of `T`). 1 under cosine, which scales each row by itself.
    pub scale: T,
    /// Euclidean only: the centre subtracted from every row (`d` values); empty otherwise.
    pub centre: Vec<T>,
}

impl<T: Real> Params<T> {
    /// Parameters from the largest magnitude of the set(s) and, under Euclidean, the centre
    /// (see [`centre_rows`] and [`centre_of_rows`]).
    pub fn new(metric: Metric, max_abs: f64, centre: Vec<T>) -> Self {
        let scale = match metric {
            Metric::Cosine => T::ONE,
            _ if max_abs > 0.0 && max_abs.is_finite() => {
                let e = unit_exponent(max_abs).clamp(-T::SAFE_EXP, T::SAFE_EXP);
                T::from_f64(pow2(e))
            }
            _ => T::ONE,
        };
        let centre = if metric == Metric::Euclidean {
            centre
        } else {
            Vec::new()
        };
        Self {
            metric,
            scale,
            centre,
        }
    }

    /// Scans `x` and makes its parameters for a self-join.
    pub fn for_set(x: &Matrix<'_, T>, metric: Metric) -> Result<Self> {
        let max = scan(x, metric)?;
        Ok(Self::new(metric, max, centre_of(x, metric)))
    }

    /// Parameters of queries against a base: one scale for both, the base's centre.
    /// Errors carry the offending row of the set that has it; `Err(Left)` for queries.
    pub fn for_query(
        q: &Matrix<'_, T>,
        base: &Matrix<'_, T>,
        metric: Metric,
    ) -> std::result::Result<Self, (bool, Error)> {
        let mq = scan(q, metric).map_err(|e| (true, e))?;
        let mb = scan(base, metric).map_err(|e| (false, e))?;
        Ok(Self::new(metric, mq.max(mb), centre_of(base, metric)))
    }

    /// A score in the metric's units from a key of prepared rows.
    #[inline]
    pub fn key_to_score(&self, key: T) -> T {
        match self.metric {
            Metric::Cosine => key,
            Metric::InnerProduct => {
                let inv = self.scale.recip();
                (key * inv) * inv
            }
            Metric::Euclidean => (-key).sqrt() * (self.scale.recip()),
        }
    }
}

fn centre_of<T: Real>(x: &Matrix<'_, T>, metric: Metric) -> Vec<T> {
    if metric == Metric::Euclidean {
        centre_of_rows(x, &centre_rows(x.rows()))
    } else {
        Vec::new()
    }
}

/// The rows whose mean is the Euclidean centre of a set of `n` rows: all of them when
/// `n <= CENTRE_SAMPLE`, else `CENTRE_SAMPLE` evenly spaced rows `floor(i * n / CENTRE_SAMPLE)`.
pub fn centre_rows(n: usize) -> Vec<usize> {
    let m = n.min(CENTRE_SAMPLE);
    (0..m)
        .map(|i| ((i as u128 * n as u128) / m as u128) as usize)
        .collect()
}

/// The Euclidean centre from the given rows of `x`: their column means (summed in f64 in the
/// order given), each rounded to a multiple of `2^m`, the largest power of two at most a
/// quarter of the rows' RMS spread around the mean.
///
/// The rounding costs nothing in accuracy (the centre moves by at most an eighth of the
/// spread) and keeps exact data exact: on small-integer (or other coarse-grid) data the
/// centred values stay on a grid, so every distance is computed exactly and ties stay ties,
/// as the contract asks. Like the mean, it commutes with scaling by powers of two.
pub fn centre_of_rows<T: Real>(x: &Matrix<'_, T>, rows: &[usize]) -> Vec<T> {
    let d = x.cols();
    let mut sum = vec![0.0f64; d];
    for &r in rows {
        for (s, v) in sum.iter_mut().zip(x.row(r)) {
            *s += v.to_f64();
        }
    }
    let m = rows.len().max(1) as f64;
    let mean: Vec<f64> = sum.into_iter().map(|s| s / m).collect();
    let mut sq = 0.0f64;
    for &r in rows {
        for (c, v) in mean.iter().zip(x.row(r)) {
            let dv = v.to_f64() - c;
            sq += dv * dv;
        }
    }
    let rms = (sq / (m * d.max(1) as f64)).sqrt();
    if rms > 0.0 && rms.is_finite() {
        // rms * 2^e lies in [0.5, 1): floor(log2 rms) = -e - 1, and the grid is 2^(-e - 3).
        let e = unit_exponent(rms) + 3;
        let (e1, e2) = (e / 2, e - e / 2);
        let (up, down) = ((pow2(e1), pow2(e2)), (pow2(-e1), pow2(-e2)));
        mean.iter()
            .map(|&c| T::from_f64(((c * up.0 * up.1).round() * down.0) * down.1))
            .collect()
    } else {
        mean.into_iter().map(T::from_f64).collect()
    }
}

/// A set ready for the kernel: the raw rows, the set's [`Params`], and per row what the metric
/// needs: the cosine row factor (f64) or the Euclidean squared norm of the prepared row.
pub struct Prepared<'a, T> {
    pub x: Matrix<'a, T>,
    pub params: &'a Params<T>,
    /// Cosine: `2^e_i / |x_i 2^e_i|`, so that the prepared value is `x * factor` rounded once.
    cos_factor: Vec<f64>,
    /// The same factor rounded to `T` (one multiply in `T` per value while packing, no
    /// conversions), or 0 where it is not a safe normal `T` (rows of subnormal values): those
    /// rows take the f64 product. A factor rounded to `T` scales the row's unit vector by
    /// 1 + O(eps), which changes every cosine of the row by the same factor.
    cos_t: Vec<T>,
    /// Euclidean: `dot_chain(y_i, y_i)` of the prepared row `y_i`; the kernel's factor.
    pub aux: Vec<T>,
}

impl<'a, T: Real> Prepared<'a, T> {
    pub fn new(x: Matrix<'a, T>, params: &'a Params<T>) -> Result<Self> {
        let n = x.rows();
        let mut p = Self {
            x,
            params,
            cos_factor: Vec::new(),
            cos_t: Vec::new(),
            aux: Vec::new(),
        };
        match params.metric {
            Metric::Cosine => {
                let mut f = try_vec(n, 0.0f64, "cosine row factors")?;
                f.par_iter_mut().enumerate().for_each(|(i, f)| {
                    *f = cosine_factor(x.row(i));
                });
                let (lo, hi) = (T::MIN_NORMAL_F64 * 16.0, T::MAX_F64 / 16.0);
                p.cos_t = f
                    .iter()
                    .map(|&f| {
                        if (lo..=hi).contains(&f) {
                            T::from_f64(f)
                        } else {
                            T::ZERO
                        }
                    })
                    .collect();
                p.cos_factor = f;
            }
            Metric::Euclidean => {
                let mut aux = try_vec(n, T::ZERO, "squared norms")?;
                let fused = crate::kernel::fused();
                aux.par_chunks_mut(SCAN_CHUNK)
                    .enumerate()
                    .for_each(|(c, out)| {
                        let mut buf = Vec::with_capacity(x.cols());
                        for (r, o) in out.iter_mut().enumerate() {
                            p.prepare_row(c * SCAN_CHUNK + r, &mut buf);
                            *o = dot_chain(&buf, &buf, fused);
                        }
                    });
                p.aux = aux;
            }
            Metric::InnerProduct => {}
        }
        Ok(p)
    }

    /// The prepared value of `v`, the entry of row `i` in column `k`.
    #[inline(always)]
    pub fn value(&self, i: usize, k: usize, v: T) -> T {
        match self.params.metric {
            Metric::Cosine => match self.cos_t[i] {
                f if f == T::ZERO => T::from_f64(v.to_f64() * self.cos_factor[i]),
                f => v * f,
            },
            Metric::InnerProduct => v * self.params.scale,
            Metric::Euclidean => (v - self.params.centre[k]) * self.params.scale,
        }
    }

    /// Prepares, in place, rows `r0..r0 + rows` packed by [`crate::kernel::pack`] in panels
    /// of `panel` rows (padding stays zero).
    pub fn transform_packed(&self, r0: usize, rows: usize, panel: usize, packed: &mut [T]) {
        let d = self.x.cols();
        let metric = self.params.metric;
        if metric == Metric::InnerProduct && self.params.scale == T::ONE {
            return;
        }
        for (p, dst) in packed.chunks_exact_mut(panel * d).enumerate() {
            let first = r0 + p * panel;
            let live = panel.min(rows - p * panel);
            match metric {
                Metric::Cosine => {
                    let ft = &self.cos_t[first..first + live];
                    if ft.iter().all(|&f| f != T::ZERO) {
                        // The factors of a whole panel (padding rows, zeros, times one), so
                        // that the loop runs the panel's full, fixed width in vector lanes.
                        match panel {
                            16 => scale_panels::<T, 16>(dst, ft),
                            8 => scale_panels::<T, 8>(dst, ft),
                            6 => scale_panels::<T, 6>(dst, ft),
                            _ => {
                                for dk in dst.chunks_exact_mut(panel) {
                                    for (v, &f) in dk.iter_mut().zip(ft) {
                                        *v = *v * f;
                                    }
                                }
                            }
                        }
                    } else {
                        for r in 0..live {
                            for dk in dst.chunks_exact_mut(panel) {
                                dk[r] = self.value(first + r, 0, dk[r]);
                            }
                        }
                    }
                }
                Metric::InnerProduct => {
                    let s = self.params.scale;
                    dst.iter_mut().for_each(|v| *v = *v * s);
                }
                Metric::Euclidean => {
                    let s = self.params.scale;
                    for (dk, &c) in dst.chunks_exact_mut(panel).zip(&self.params.centre) {
                        for v in &mut dk[..live] {
                            *v = (*v - c) * s;
                        }
                    }
                }
            }
        }
    }

    /// The ranking key of rows `i` of `self` and `j` of `other` (the same set in a
    /// self-join), with exactly the kernel's arithmetic: equal to the key `knn` ranks by.
    pub fn pair_key(
        &self,
        i: usize,
        other: &Prepared<'_, T>,
        j: usize,
        bufs: &mut PairBufs<T>,
    ) -> T {
        self.prepare_row(i, &mut bufs.0);
        other.prepare_row(j, &mut bufs.1);
        self.key_of_rows(i, &bufs.0, other, j, &bufs.1)
    }

    /// [`pair_key`](Self::pair_key) of rows already prepared by
    /// [`prepare_row`](Self::prepare_row) (`a` is row `i` of `self`, `b` row `j` of `other`).
    fn key_of_rows(&self, i: usize, a: &[T], other: &Prepared<'_, T>, j: usize, b: &[T]) -> T {
        self.key_of_dot(i, other, j, dot_chain(a, b, crate::kernel::fused()))
    }

    /// [`pair_key`](Self::pair_key) of each pair `(i, j)` (`i` a row of `self`, `j` of
    /// `other`) into `out`, bit for bit, eight pairs at a time through
    /// [`dot_chains8`](crate::kernel::dot_chains8) (several times faster than one chain at a
    /// time); consecutive pairs of one row `i` within a group of eight prepare it once.
    pub fn pair_keys(
        &self,
        other: &Prepared<'_, T>,
        pairs: &[(usize, usize)],
        out: &mut [T],
        bufs: &mut PairKeyBufs<T>,
    ) {
        let fused = crate::kernel::fused();
        for (chunk, out) in pairs.chunks(8).zip(out.chunks_mut(8)) {
            // a_of[p]: the buffer holding pair p's row i
            let (mut a_of, mut used) = ([0usize; 8], 0usize);
            for (p, &(i, j)) in chunk.iter().enumerate() {
                if p > 0 && chunk[p - 1].0 == i {
                    a_of[p] = a_of[p - 1];
                } else {
                    self.prepare_row(i, &mut bufs.a[used]);
                    a_of[p] = used;
                    used += 1;
                }
                other.prepare_row(j, &mut bufs.b[p]);
            }
            // A short last chunk repeats its last pair in the spare chains.
            let last = chunk.len() - 1;
            let a: [&[T]; 8] = std::array::from_fn(|p| &bufs.a[a_of[p.min(last)]][..]);
            let b: [&[T]; 8] = std::array::from_fn(|p| &bufs.b[p.min(last)][..]);
            let dots = crate::kernel::dot_chains8(a, b, fused);
            for ((o, &(i, j)), &dot) in out.iter_mut().zip(chunk).zip(&dots) {
                *o = self.key_of_dot(i, other, j, dot);
            }
        }
    }

    /// The key of rows `i` of `self` and `j` of `other` from their prepared dot product.
    fn key_of_dot(&self, i: usize, other: &Prepared<'_, T>, j: usize, dot: T) -> T {
        match self.params.metric {
            Metric::Cosine => crate::kernel::cosine_key(dot),
            Metric::InnerProduct => dot,
            Metric::Euclidean => crate::kernel::l2_key(dot, self.aux[i], other.aux[j]),
        }
    }

    /// Row `i`, prepared as the kernel sees it, into `buf`: [`value`](Self::value) of each
    /// entry, with the metric's case chosen once per row rather than per entry.
    pub fn prepare_row(&self, i: usize, buf: &mut Vec<T>) {
        let row = self.x.row(i);
        buf.clear();
        match self.params.metric {
            Metric::Cosine => match self.cos_t[i] {
                f if f == T::ZERO => {
                    let g = self.cos_factor[i];
                    buf.extend(row.iter().map(|&v| T::from_f64(v.to_f64() * g)));
                }
                f => buf.extend(row.iter().map(|&v| v * f)),
            },
            Metric::InnerProduct => {
                let s = self.params.scale;
                buf.extend(row.iter().map(|&v| v * s));
            }
            Metric::Euclidean => {
                let s = self.params.scale;
                let c = &self.params.centre;
                buf.extend(row.iter().zip(c).map(|(&v, &c)| (v - c) * s));
            }
        }
    }
}

/// Multiplies each row of packed panels of `P` rows by its factor (`f`, one per live row; the
/// padding rows, zeros, are multiplied by one): a fixed-width loop the compiler vectorises.
fn scale_panels<T: Real, const P: usize>(dst: &mut [T], f: &[T]) {
    let mut fp = [T::ONE; P];
    fp[..f.len()].copy_from_slice(f);
    for dk in dst.chunks_exact_mut(P) {
        let dk: &mut [T; P] = dk.try_into().expect("whole panels");
        for (v, &f) in dk.iter_mut().zip(&fp) {
            *v = *v * f;
        }
    }
}

/// Two row buffers reused by [`Prepared::pair_key`].
pub type PairBufs<T> = (Vec<T>, Vec<T>);

/// The row buffers of [`Prepared::pair_keys`]: eight pairs' prepared rows.
pub struct PairKeyBufs<T> {
    a: [Vec<T>; 8],
    b: [Vec<T>; 8],
}

impl<T> Default for PairKeyBufs<T> {
    fn default() -> Self {
        Self {
            a: std::array::from_fn(|_| Vec::new()),
            b: std::array::from_fn(|_| Vec::new()),
        }
    }
}

/// `2^e / |x 2^e|` for a non-zero finite row, `e` bringing its largest value into [0.5, 1);
/// the norm is summed in f64, where the scaled squares neither overflow nor underflow badly.
/// A row of zeros (only under "ip"/"l2", which do not use this) gets 0.
fn cosine_factor<T: Real>(row: &[T]) -> f64 {
    let max = row.iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()));
    if max == 0.0 {
        return 0.0;
    }
    let e = unit_exponent(max);
    // 2^e may exceed f64's range for subnormal f64 rows: scale in two exact steps.
    let (e1, e2) = (e / 2, e - e / 2);
    let (s1, s2) = (pow2(e1), pow2(e2));
    let sumsq: f64 = row
        .iter()
        .map(|v| {
            let y = v.to_f64() * s1 * s2;
            y * y
        })
        .sum();
    let inv = 1.0 / sumsq.sqrt();
    // inv is in [1/sqrt(d), 2]: multiplying it by 2^e in two steps stays exact unless the
    // factor leaves f64's normal range (f64 rows below 2^-1022), where it rounds once more.
    inv * s1 * s2
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batched pair keys (eight interleaved chains) are `pair_key`'s bit for bit: every
    /// metric, f32 and f64, full-mantissa values of mixed scales, pairs in runs of one row
    /// and not, chunks of 1..8 pairs (the spare chains of a short chunk), and both chain
    /// kinds of `dot_chains8` against `dot_chain`.
    #[test]
    fn pair_keys_equal_pair_key_bit_for_bit() {
        fn check<T: Real>(x: &[T], n: usize, d: usize) {
            let m = Matrix::new(x, n, d).unwrap();
            let q = Matrix::new(&x[d..], n - 1, d).unwrap();
            let mut seed = 3u64;
            let mut next = move || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (seed >> 33) as usize
            };
            for metric in [Metric::Cosine, Metric::InnerProduct, Metric::Euclidean] {
                let params = Params::for_query(&q, &m, metric)
                    .map_err(|(_, e)| e)
                    .unwrap();
                let (pq, pm) = (
                    Prepared::new(q, &params).unwrap(),
                    Prepared::new(m, &params).unwrap(),
                );
                for len in [1, 3, 8, 9, 21] {
                    // runs of one query row (as the chosen keys have), and scattered rows
                    let pairs: Vec<(usize, usize)> = (0..len)
                        .map(|t| (if t % 5 < 3 { t / 5 } else { next() % (n - 1) }, next() % n))
                        .collect();
                    let mut got = vec![T::ZERO; len];
                    pq.pair_keys(&pm, &pairs, &mut got, &mut PairKeyBufs::default());
                    let mut bufs = (Vec::new(), Vec::new());
                    for (&(i, j), g) in pairs.iter().zip(&got) {
                        let want = pq.pair_key(i, &pm, j, &mut bufs);
                        assert_eq!(g.order_bits(), want.order_bits(), "{metric} ({i}, {j})");
                    }
                }
            }
            let rows: Vec<&[T]> = x.chunks_exact(d).take(16).collect();
            for fused in [false, true] {
                let a: [&[T]; 8] = std::array::from_fn(|p| rows[p]);
                let b: [&[T]; 8] = std::array::from_fn(|p| rows[15 - p]);
                let got = crate::kernel::dot_chains8(a, b, fused);
                for p in 0..8 {
                    let want = dot_chain(a[p], b[p], fused);
                    assert_eq!(got[p].order_bits(), want.order_bits(), "fused={fused} {p}");
                }
            }
        }
        let (n, d) = (40, 301);
        let x: Vec<f64> = (0..n * d)
            .map(|t| {
                let v = ((t * 7919 + 13) % 100_003) as f64 / 9_973.0 - 5.0;
                if t % 11 == 0 {
                    v * 1e-3
                } else {
                    v
                }
            })
            .collect();
        check(&x, n, d);
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        check(&x32, n, d);
    }

    #[test]
    fn unit_exponent_brings_values_into_half_one() {
        for v in [
            1.0,
            0.75,
            3.0,
            1e-300,
            5e-324,
            1e300,
            f32::MIN_POSITIVE as f64 / 8.0,
        ] {
            let e = unit_exponent(v);
            let s = v * pow2(e / 2) * pow2(e - e / 2);
            assert!((0.5..1.0).contains(&s), "{v}: {s}");
        }
    }

    #[test]
    fn centre_rows_are_evenly_spaced_and_distinct() {
        assert_eq!(centre_rows(3), vec![0, 1, 2]);
        let r = centre_rows(10 * CENTRE_SAMPLE + 7);
        assert_eq!(r.len(), CENTRE_SAMPLE);
        assert!(r.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(r[0], 0);
    }

    #[test]
    fn cosine_factor_is_scale_invariant_and_underflow_free() {
        let row = [1e-25f32, 0.0, 3e-25];
        let f = cosine_factor(&row);
        let unit: Vec<f64> = row.iter().map(|&v| v as f64 * f).collect();
        let norm: f64 = unit.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-12);
        let scaled: Vec<f32> = row.iter().map(|v| v * 2f32.powi(70)).collect();
        let g = cosine_factor(&scaled);
        for (a, b) in row.iter().zip(&scaled) {
            assert_eq!(*a as f64 * f, *b as f64 * g);
        }
    }
}
