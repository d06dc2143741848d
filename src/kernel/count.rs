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
                count_micro::<T, K, MR, NR>(&acc0, (p, q), t, c);
                count_micro::<T, K, MR, NR>(&acc1, (p, q + 1), t, c);
            }
            q += 2;
        } else {
            let b = panel_b(q);
            for p in (0..t.pa).filter(|&p| live_rows(p) > 0) {
                let acc = micro::<T, MR, NR, FUSED>(d, panel_a(p), b);
                count_micro::<T, K, MR, NR>(&acc, (p, q), t, c);
            }
            q += 1;
        }
    }
}

/// Counts one micro-tile's keys (A panel `p`, B panel `q`) against the chosen slots.
#[inline(always)]
fn count_micro<T: Real, K: KeyFn<T>, const MR: usize, const NR: usize>(
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
        let mn = rs.min[r];
        let mut ge = 0u32;
        for (j, &kv) in ki.iter().enumerate() {
            ge |= u32::from(kv >= mn) << j;
        }
        ge &= live;
        if ge == 0 {
            continue;
        }
        // Slots ascend by key: once no candidate reaches one, none reaches the rest.
        for s in 0..m {
            let tk = rs.keys[r * m + s];
            let (mut gt, mut reach) = (0u32, 0u32);
            for (j, &kv) in ki.iter().enumerate() {
                gt |= u32::from(kv > tk) << j;
                reach |= u32::from(kv >= tk) << j;
            }
            reach &= ge;
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
                count_micro::<$t, K, $mr, $nr>(acc, at, t, c)
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
