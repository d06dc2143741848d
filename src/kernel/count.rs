//! The rank-count micro-kernel: the same register tile of keys as the top-k kernel, compared
//! with a short list of *chosen* keys per row (and per column, in a symmetric tile) instead of
//! one threshold.
//!
//! For a row r with chosen candidates `(t_s, j_s)`, s < m, a candidate c beats `j_s` when
//! `key(r, c) > t_s`, or `key(r, c) == t_s` and `c < j_s` (the contract's tie rule); the pass
//! adds up, per chosen slot, the candidates that beat it. Most keys lie below the smallest
//! chosen key of their row, so each register row is first screened against that minimum (one
//! vector compare), and only rows that pass compare with every slot: a compare, a bit mask and
//! a popcount per slot. Exact ties go to a cold path that looks at the indices. The keys are
//! bit for bit those of the top-k kernel: the same `micro` product and [`KeyFn`].

use super::{micro, micro2, KeyFn, Tile};
use crate::matrix::Real;

/// One side's chosen lists and counts for a tile.
///
/// Row side (A's rows, `pa * MR` padded rows): slot `s` of tile row `r` is at `r * m + s`.
/// Column side (B's rows, `pb * NR` padded columns): panel-major for vector access, slot `s`
/// of tile column `q * NR + j` at `(q * m + s) * NR + j`. Unused slots and padded rows hold
/// key `+inf` (nothing beats it); `min` is the smallest key of each row's or column's slots.
/// Each row's (and column's) slots must ascend by key: the kernel stops at the first slot no
/// candidate of the register tile reaches.
pub struct Side<'a, T> {
    pub keys: &'a [T],
    pub idx: &'a [u32],
    pub min: &'a [T],
    pub counts: &'a mut [u32],
    /// Global index of the tile's first row (row side) or first column (column side), for the
    /// tie rule: a candidate of the *other* side has global index `first_other + local`.
    pub first_other: u32,
}

/// The inputs of one counting tile beyond the [`Tile`] itself.
pub struct CountArgs<'a, T> {
    /// Chosen slots per row or column.
    pub m: usize,
    pub rows: Side<'a, T>,
    /// Columns count too (an off-diagonal tile of a symmetric self-join).
    pub cols: Option<Side<'a, T>>,
    /// A diagonal tile: tile row r and tile column r are the same item, never counted.
    pub diagonal: bool,
}

/// Tile kernels of the rank-count pass, one per scalar type.
pub trait CountKernel: Real {
    /// Adds to the counts of `c` the candidates of tile `t` that beat each chosen slot.
    fn count_tile<K: KeyFn<Self>>(t: &Tile<'_, Self>, c: &mut CountArgs<'_, Self>);
}

/// Ties of row `r`'s slot `s`: candidates (bits of `eq`) with a lower global index count.
#[cold]
#[inline(never)]
fn row_ties(eq: u32, c0: u32, chosen: u32) -> u32 {
    let mut bits = eq;
    let mut n = 0;
    while bits != 0 {
        let j = bits.trailing_zeros();
        bits &= bits - 1;
        n += u32::from(c0 + j < chosen);
    }
    n
}

#[inline(always)]
fn count_impl<
    T: Real,
    K: KeyFn<T>,
    const MR: usize,
    const NR: usize,
    const FUSED: bool,
    const PAIR: bool,
>(
    t: &Tile<'_, T>,
    c: &mut CountArgs<'_, T>,
) {
    let d = t.d;
    let panel_b = |q: usize| &t.b[q * d * NR..(q + 1) * d * NR];
    let panel_a = |p: usize| &t.a[p * d * MR..(p + 1) * d * MR];
    let live_rows = |p: usize| t.rows.saturating_sub(p * MR).min(MR);
    let mut q = 0;
    while q < t.pb {
        if PAIR && FUSED && q + 1 < t.pb {
            // Two B panels per A panel, as the top-k kernel's AVX-512 build (same sums).
            let (b0, b1) = (panel_b(q), panel_b(q + 1));
            for p in (0..t.pa).filter(|&p| live_rows(p) > 0) {
                let (acc0, acc1) = micro2::<T, MR, NR>(d, panel_a(p), b0, b1);
                count_micro::<T, K, MR, NR, false>(&acc0, (p, q), t, c);
                count_micro::<T, K, MR, NR, false>(&acc1, (p, q + 1), t, c);
            }
            q += 2;
        } else {
            let b = panel_b(q);
            for p in (0..t.pa).filter(|&p| live_rows(p) > 0) {
                let acc = micro::<T, MR, NR, FUSED>(d, panel_a(p), b);
                count_micro::<T, K, MR, NR, false>(&acc, (p, q), t, c);
            }
            q += 1;
        }
    }
}

/// The lanes of `row` whose key is `>= t` (`GT`: `> t`) as bit j for lane j. The portable
/// loop (`m |= (k >= t) << j`) compiles to a compare, a blend of the lane bits and a
/// horizontal OR; with `AVX512` (only inside the AVX-512 build, [`count_f32_avx512`]) one
/// compare writes the mask register, which is the bit mask itself.
#[inline(always)]
fn lanes<T: Real, const NR: usize, const AVX512: bool, const GT: bool>(row: &[T; NR], t: T) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if AVX512 {
        use std::arch::x86_64::{
            _mm512_cmp_pd_mask, _mm512_cmp_ps_mask, _mm512_loadu_pd, _mm512_loadu_ps,
            _mm512_set1_pd, _mm512_set1_ps, _CMP_GE_OQ, _CMP_GT_OQ,
        };
        let size = std::mem::size_of::<T>();
        // SAFETY: AVX512 is true only in the AVX-512 build (its caller has `avx512f`
        // enabled, checked at run time); `row` holds NR values of T, 16 f32 or 8 f64 (the
        // branch taken), which the load reads, and `t` is one T of that size.
        unsafe {
            if size == 4 && NR == 16 {
                let v = _mm512_loadu_ps(row.as_ptr().cast());
                let t = _mm512_set1_ps(*(&t as *const T).cast::<f32>());
                return u32::from(if GT {
                    _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, t)
                } else {
                    _mm512_cmp_ps_mask::<_CMP_GE_OQ>(v, t)
                });
            }
            if size == 8 && NR == 8 {
                let v = _mm512_loadu_pd(row.as_ptr().cast());
                let t = _mm512_set1_pd(*(&t as *const T).cast::<f64>());
                return u32::from(if GT {
                    _mm512_cmp_pd_mask::<_CMP_GT_OQ>(v, t)
                } else {
                    _mm512_cmp_pd_mask::<_CMP_GE_OQ>(v, t)
                });
            }
        }
    }
    let mut m = 0u32;
    for (j, &kv) in row.iter().enumerate() {
        m |= u32::from(if GT { kv > t } else { kv >= t }) << j;
    }
    m
}

/// Counts one micro-tile's keys (A panel `p`, B panel `q`) against the chosen slots.
#[inline(always)]
fn count_micro<T: Real, K: KeyFn<T>, const MR: usize, const NR: usize, const AVX512: bool>(
    acc: &[[T; NR]; MR],
    (p, q): (usize, usize),
    t: &Tile<'_, T>,
    c: &mut CountArgs<'_, T>,
) {
    let m = c.m;
    let cb: &[T; NR] = t.b_aux[q * NR..(q + 1) * NR].try_into().expect("padded");
    let live_cols: u32 = if t.cols >= (q + 1) * NR {
        if NR == 32 {
            u32::MAX
        } else {
            (1u32 << NR) - 1
        }
    } else {
        (1u32 << (t.cols - q * NR)) - 1
    };
    let live_rows = t.rows.saturating_sub(p * MR).min(MR);
    let ra: &[T; MR] = t.a_aux[p * MR..(p + 1) * MR].try_into().expect("padded");
    let mut keys = [[T::ZERO; NR]; MR];
    for i in 0..MR {
        for j in 0..NR {
            keys[i][j] = K::key(acc[i][j], ra[i], cb[j]);
        }
    }
    // Row side: rows of A count the columns that beat their chosen slots.
    let rs = &mut c.rows;
    let c0 = rs.first_other + (q * NR) as u32;
    for (i, ki) in keys.iter().enumerate().take(live_rows) {
        let r = p * MR + i;
        let mut live = live_cols;
        if c.diagonal && r >= q * NR && r < (q + 1) * NR {
            live &= !(1u32 << (r - q * NR));
        }
        let mut ge = lanes::<T, NR, AVX512, false>(ki, rs.min[r]);
        ge &= live;
        if ge == 0 {
            continue;
        }
        // Slots ascend by key: once no candidate reaches one, none reaches the rest.
        for s in 0..m {
            let tk = rs.keys[r * m + s];
            let gt = lanes::<T, NR, AVX512, true>(ki, tk);
            let reach = lanes::<T, NR, AVX512, false>(ki, tk) & ge;
            if reach == 0 {
                break;
            }
            let mut add = (gt & reach).count_ones();
            let eq = reach & !gt;
            if eq != 0 {
                add += row_ties(eq, c0, rs.idx[r * m + s]);
            }
            rs.counts[r * m + s] += add;
        }
    }
    // Column side: rows of B count the rows of A that beat their chosen slots.
    if let Some(cs) = c.cols.as_mut() {
        let mn: &[T; NR] = cs.min[q * NR..(q + 1) * NR].try_into().expect("padded");
        let mut any = false;
        for ki in keys.iter().take(live_rows) {
            for j in 0..NR {
                any |= ki[j] >= mn[j];
            }
        }
        if !any {
            return;
        }
        let r0 = cs.first_other + (p * MR) as u32;
        for s in 0..m {
            let at = (q * m + s) * NR;
            let tk: &[T; NR] = cs.keys[at..at + NR].try_into().expect("padded");
            let mut add = [0u32; NR];
            let (mut ties, mut reach) = (false, false);
            for ki in keys.iter().take(live_rows) {
                for j in 0..NR {
                    add[j] += u32::from(ki[j] > tk[j]);
                    ties |= ki[j] == tk[j];
                    reach |= ki[j] >= tk[j];
                }
            }
            // Each column's slots ascend by key: none reached here, none further on.
            if !reach {
                break;
            }
            if ties {
                col_ties(&keys, live_rows, tk, &cs.idx[at..at + NR], r0, &mut add);
            }
            let cnt = &mut cs.counts[at..at + NR];
            for j in 0..NR {
                // Padded columns are never read back; live ones get their count.
                cnt[j] += add[j] * ((live_cols >> j) & 1);
            }
        }
    }
}

#[cold]
#[inline(never)]
fn col_ties<T: Real, const MR: usize, const NR: usize>(
    keys: &[[T; NR]; MR],
    live_rows: usize,
    tk: &[T; NR],
    idx: &[u32],
    r0: u32,
    add: &mut [u32; NR],
) {
    for (i, ki) in keys.iter().enumerate().take(live_rows) {
        for j in 0..NR {
            if ki[j] == tk[j] && r0 + (i as u32) < idx[j] {
                add[j] += 1;
            }
        }
    }
}

macro_rules! impl_count {
    ($t:ty, $mr:literal, $nr:literal, $avx2:ident, $avx512:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2<K: KeyFn<$t>>(t: &Tile<'_, $t>, c: &mut CountArgs<'_, $t>) {
            count_impl::<$t, K, $mr, $nr, true, false>(t, c)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn $avx512<K: KeyFn<$t>>(t: &Tile<'_, $t>, c: &mut CountArgs<'_, $t>) {
            // The top-k kernel's AVX-512 register tiles (same sums), counted sub-tile by
            // sub-tile; A panels without live rows are skipped as in `count_impl`.
            let live = |p: usize| t.rows > p * $mr;
            super::avx512::for_each_micro::<$t, $nr>(t, live, |acc, at| {
                count_micro::<$t, K, $mr, $nr, true>(acc, at, t, c)
            })
        }

        impl CountKernel for $t {
            fn count_tile<K: KeyFn<Self>>(t: &Tile<'_, Self>, c: &mut CountArgs<'_, Self>) {
                let (pa, pb, m) = (t.pa * $mr, t.pb * $nr, c.m);
                assert!(t.a.len() >= pa * t.d && t.b.len() >= pb * t.d);
                assert!(t.a_aux.len() >= pa && t.b_aux.len() >= pb);
                assert!(t.rows <= pa && t.cols <= pb && $nr <= 32);
                let r = &c.rows;
                assert!(r.keys.len() >= pa * m && r.idx.len() >= pa * m);
                assert!(r.min.len() >= pa && r.counts.len() >= pa * m);
                if let Some(s) = &c.cols {
                    assert!(s.keys.len() >= pb * m && s.idx.len() >= pb * m);
                    assert!(s.min.len() >= pb && s.counts.len() >= pb * m);
                }
                #[cfg(target_arch = "x86_64")]
                {
                    if super::has_avx512() {
                        // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked at run time).
                        return unsafe { $avx512::<K>(t, c) };
                    }
                    if super::has_avx2_fma() {
                        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                        return unsafe { $avx2::<K>(t, c) };
                    }
                    count_impl::<$t, K, $mr, $nr, false, false>(t, c)
                }
                #[cfg(target_arch = "aarch64")]
                {
                    count_impl::<$t, K, $mr, $nr, true, false>(t, c)
                }
                #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
                {
                    count_impl::<$t, K, $mr, $nr, false, false>(t, c)
                }
            }
        }
    };
}

// The panel sizes of the top-k kernel: the packed blocks are shared.
impl_count!(f32, 6, 16, count_f32_avx2, count_f32_avx512);
impl_count!(f64, 6, 8, count_f64_avx2, count_f64_avx512);
const _: () = assert!(<f32 as super::Kernel>::MR == 6 && <f32 as super::Kernel>::NR == 16);
const _: () = assert!(<f64 as super::Kernel>::MR == 6 && <f64 as super::Kernel>::NR == 8);
