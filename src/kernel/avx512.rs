//! The AVX-512 build of the tile kernel, written with explicit intrinsics.
//!
//! The register tile is 12 rows (two A panels of 6) by two B panels (32 f32 or 16 f64
//! columns): 24 zmm accumulators, two B vectors and one A broadcast of the 32 registers, so
//! that each A broadcast feeds two FMAs and each B vector twelve. Edge tiles (an odd number of
//! A or B panels) use the same code with 6 rows or one B panel. Every accumulator is the same
//! chain `acc = a[k] * b[k] + acc` for k = 0..d from zero as in the portable and AVX2 builds,
//! so the keys are bit for bit theirs.
//!
//! The keys are computed with the scalar [`KeyFn`] lane by lane from the stored accumulators
//! (the same Rust expression as the other builds; LLVM vectorises it along the lanes) and
//! screened with vector compares into bit masks. The auto-vectorised version of this
//! epilogue vectorised across the rows instead, with gathers and scatters, and cost a third
//! of the tile's time at d = 300.

use std::arch::x86_64::*;

use super::{record, KeyFn, Sink, Tile};
use crate::matrix::Real;

/// Rows of A per panel (the packing of both scalar types).
const MR: usize = 6;

/// One zmm register of `Self` and the AVX-512F operations the tile uses. The methods are
/// only called from functions compiled with AVX-512F enabled, into which they inline.
pub(super) trait Zmm: Real {
    type V: Copy;
    unsafe fn zero() -> Self::V;
    unsafe fn load(p: *const Self) -> Self::V;
    unsafe fn splat(x: Self) -> Self::V;
    /// `a * b + c`, one rounding.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn store(p: *mut Self, v: Self::V);
    /// Bit j set where lane j of `a >= b` (false for NaN, as Rust's `>=`).
    unsafe fn ge_mask(a: Self::V, b: Self::V) -> u32;
}

impl Zmm for f32 {
    type V = __m512;
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        _mm512_setzero_ps()
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        _mm512_storeu_ps(p, v)
    }
    #[inline(always)]
    unsafe fn ge_mask(a: __m512, b: __m512) -> u32 {
        u32::from(_mm512_cmp_ps_mask::<_CMP_GE_OQ>(a, b))
    }
}

impl Zmm for f64 {
    type V = __m512d;
    #[inline(always)]
    unsafe fn zero() -> __m512d {
        _mm512_setzero_pd()
    }
    #[inline(always)]
    unsafe fn load(p: *const f64) -> __m512d {
        _mm512_loadu_pd(p)
    }
    #[inline(always)]
    unsafe fn splat(x: f64) -> __m512d {
        _mm512_set1_pd(x)
    }
    #[inline(always)]
    unsafe fn fma(a: __m512d, b: __m512d, c: __m512d) -> __m512d {
        _mm512_fmadd_pd(a, b, c)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f64, v: __m512d) {
        _mm512_storeu_pd(p, v)
    }
    #[inline(always)]
    unsafe fn ge_mask(a: __m512d, b: __m512d) -> u32 {
        u32::from(_mm512_cmp_pd_mask::<_CMP_GE_OQ>(a, b))
    }
}

/// The `R x C*NR` product (R = 6 or 12 rows from the A panels at `a[0]` and `a[1]`, C = 1 or
/// 2 B panels of `NR` rows, `NR` the lanes of a register), k = 0..d in order.
///
/// # Safety
/// AVX-512F; `a[R / 7]` and `b[..C]` point at whole packed panels of depth `d`.
#[inline(always)]
unsafe fn product<T: Zmm, const R: usize, const C: usize, const NR: usize>(
    d: usize,
    a: [*const T; 2],
    b: [*const T; 2],
) -> [[T::V; C]; R] {
    let mut acc = [[T::zero(); C]; R];
    for k in 0..d {
        let mut x = [T::zero(); C];
        for (h, xh) in x.iter_mut().enumerate() {
            *xh = T::load(b[h].add(k * NR));
        }
        for (i, row) in acc.iter_mut().enumerate() {
            let av = T::splat(*a[i / MR].add(k * MR + i % MR));
            for (h, ah) in row.iter_mut().enumerate() {
                *ah = T::fma(av, x[h], *ah);
            }
        }
    }
    acc
}

/// Keys and threshold screening of one register tile whose first A panel is `p` and first B
/// panel `q`; the hits of each 6 x NR sub-tile go to [`record`] as in the other builds.
///
/// # Safety
/// AVX-512F; the tile's slices are padded to whole panels (checked by `Kernel::tile`).
#[inline(always)]
unsafe fn screen<
    T: Zmm,
    K: KeyFn<T>,
    S: Sink<T>,
    const R: usize,
    const C: usize,
    const NR: usize,
>(
    acc: &[[T::V; C]; R],
    (p, q): (usize, usize),
    t: &Tile<'_, T>,
    a_thr: &mut [T],
    b_thr: &mut [T],
    sink: &mut S,
) {
    let mut ct = [T::zero(); C];
    let mut cb = [[T::ZERO; NR]; C];
    for h in 0..C {
        let c0 = (q + h) * NR;
        ct[h] = T::load(b_thr[c0..c0 + NR].as_ptr());
        cb[h].copy_from_slice(&t.b_aux[c0..c0 + NR]);
    }
    let r0 = p * MR;
    let ra = &t.a_aux[r0..r0 + R];
    let rt = &a_thr[r0..r0 + R];
    // Sub-tile s * C + h: rows 6s..6s+6 of the register tile, B panel q + h.
    let mut keys = [[[T::ZERO; NR]; MR]; 4];
    let mut masks = [[0u32; MR]; 4];
    let mut any = 0u32;
    for i in 0..R {
        let thr = T::splat(rt[i]);
        for h in 0..C {
            let mut lanes = [T::ZERO; NR];
            T::store(lanes.as_mut_ptr(), acc[i][h]);
            let kr = &mut keys[(i / MR) * C + h][i % MR];
            for j in 0..NR {
                kr[j] = K::key(lanes[j], ra[i], cb[h][j]);
            }
            let kv = T::load(kr.as_ptr());
            let m = T::ge_mask(kv, thr) | T::ge_mask(kv, ct[h]);
            masks[(i / MR) * C + h][i % MR] = m;
            any |= m;
        }
    }
    if any != 0 {
        for s in 0..R / MR {
            for h in 0..C {
                let sub = s * C + h;
                if masks[sub].iter().any(|&m| m != 0) {
                    let at = ((p + s) * MR, (q + h) * NR);
                    let (rows, cols) = (t.rows, t.cols);
                    record::<T, S, MR, NR>(
                        &keys[sub],
                        &masks[sub],
                        at,
                        (rows, cols),
                        a_thr,
                        b_thr,
                        sink,
                    );
                }
            }
        }
    }
}

/// The tile: for each pair of B panels, every pair of A panels streams past (B-outer: the
/// two B panels stay in L1 while the A block streams from L2).
///
/// # Safety
/// AVX-512F, and the tile's slices hold `pa` / `pb` whole panels (checked by `Kernel::tile`).
#[inline(always)]
pub(super) unsafe fn tile<T: Zmm, K: KeyFn<T>, S: Sink<T>, const NR: usize>(
    t: &Tile<'_, T>,
    a_thr: &mut [T],
    b_thr: &mut [T],
    sink: &mut S,
) {
    let d = t.d;
    let pa = |p: usize| t.a[p * d * MR..(p + 1) * d * MR].as_ptr();
    let pb = |q: usize| t.b[q * d * NR..(q + 1) * d * NR].as_ptr();
    let mut q = 0;
    while q < t.pb {
        if q + 1 < t.pb {
            let b = [pb(q), pb(q + 1)];
            let mut p = 0;
            while p + 1 < t.pa {
                let acc = product::<T, 12, 2, NR>(d, [pa(p), pa(p + 1)], b);
                screen::<T, K, S, 12, 2, NR>(&acc, (p, q), t, a_thr, b_thr, sink);
                p += 2;
            }
            if p < t.pa {
                let acc = product::<T, 6, 2, NR>(d, [pa(p), pa(p)], b);
                screen::<T, K, S, 6, 2, NR>(&acc, (p, q), t, a_thr, b_thr, sink);
            }
            q += 2;
        } else {
            let b = [pb(q), pb(q)];
            let mut p = 0;
            while p + 1 < t.pa {
                let acc = product::<T, 12, 1, NR>(d, [pa(p), pa(p + 1)], b);
                screen::<T, K, S, 12, 1, NR>(&acc, (p, q), t, a_thr, b_thr, sink);
                p += 2;
            }
            if p < t.pa {
                let acc = product::<T, 6, 1, NR>(d, [pa(p), pa(p)], b);
                screen::<T, K, S, 6, 1, NR>(&acc, (p, q), t, a_thr, b_thr, sink);
            }
            q += 1;
        }
    }
}

/// The rank-count pass's tile: the same register tiles and products as [`tile`], each
/// 6 x NR sub-tile handed to `each` as an array of accumulators with its A and B panel.
///
/// # Safety
/// AVX-512F, and the tile's slices hold `pa` / `pb` whole panels (checked by the caller).
#[inline(always)]
pub(super) unsafe fn for_each_micro<T: Zmm, const NR: usize>(
    t: &Tile<'_, T>,
    live_a: impl Fn(usize) -> bool,
    mut each: impl FnMut(&[[T; NR]; MR], (usize, usize)),
) {
    let d = t.d;
    let pa = |p: usize| t.a[p * d * MR..(p + 1) * d * MR].as_ptr();
    let pb = |q: usize| t.b[q * d * NR..(q + 1) * d * NR].as_ptr();
    // Hands the sub-tiles of one register tile to `each`, A panel by A panel.
    macro_rules! hand {
        ($acc:expr, $r:literal, $c:literal, $p:expr, $q:expr) => {{
            let acc = $acc;
            for s in 0..$r / MR {
                if !live_a($p + s) {
                    continue;
                }
                for h in 0..$c {
                    let mut sub = [[T::ZERO; NR]; MR];
                    for (i, row) in sub.iter_mut().enumerate() {
                        T::store(row.as_mut_ptr(), acc[s * MR + i][h]);
                    }
                    each(&sub, ($p + s, $q + h));
                }
            }
        }};
    }
    let mut q = 0;
    while q < t.pb {
        let pair = q + 1 < t.pb;
        let b = if pair {
            [pb(q), pb(q + 1)]
        } else {
            [pb(q), pb(q)]
        };
        let mut p = 0;
        while p < t.pa {
            if !live_a(p) {
                p += 1;
                continue;
            }
            let two = p + 1 < t.pa && live_a(p + 1);
            match (two, pair) {
                (true, true) => hand!(
                    product::<T, 12, 2, NR>(d, [pa(p), pa(p + 1)], b),
                    12,
                    2,
                    p,
                    q
                ),
                (false, true) => hand!(product::<T, 6, 2, NR>(d, [pa(p), pa(p)], b), 6, 2, p, q),
                (true, false) => hand!(
                    product::<T, 12, 1, NR>(d, [pa(p), pa(p + 1)], b),
                    12,
                    1,
                    p,
                    q
                ),
                (false, false) => hand!(product::<T, 6, 1, NR>(d, [pa(p), pa(p)], b), 6, 1, p, q),
            }
            p += if two { 2 } else { 1 };
        }
        q += if pair { 2 } else { 1 };
    }
}

/// Transposes the 16 x 16 block of 32-bit values in `r` (row i, lane j -> row j, lane i):
/// unpacks of pairs, then of quadruples, then two rounds of 128-bit lane shuffles. Moves
/// bits only (no arithmetic), so any 32-bit value passes unchanged.
#[inline(always)]
unsafe fn transpose16(r: &mut [__m512; 16]) {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4i + m], 128-bit lane L: column 4L + m of rows 4i..4i + 4.
    let mut u = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        let pd = |v: __m512| _mm512_castps_pd(v);
        let (a, b) = (pd(t[4 * i]), pd(t[4 * i + 2]));
        let (c, e) = (pd(t[4 * i + 1]), pd(t[4 * i + 3]));
        u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, e));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, e));
    }
    for m in 0..4 {
        let v0 = _mm512_shuffle_f32x4::<0x44>(u[m], u[4 + m]);
        let v1 = _mm512_shuffle_f32x4::<0xEE>(u[m], u[4 + m]);
        let w0 = _mm512_shuffle_f32x4::<0x44>(u[8 + m], u[12 + m]);
        let w1 = _mm512_shuffle_f32x4::<0xEE>(u[8 + m], u[12 + m]);
        r[m] = _mm512_shuffle_f32x4::<0x88>(v0, w0);
        r[4 + m] = _mm512_shuffle_f32x4::<0xDD>(v0, w0);
        r[8 + m] = _mm512_shuffle_f32x4::<0x88>(v1, w1);
        r[12 + m] = _mm512_shuffle_f32x4::<0xDD>(v1, w1);
    }
}

/// Packs one full panel of `P <= 16` rows of 32-bit values (`src`: P rows of `d`, row-major)
/// k-major into `dst` (`dst[k * P + i] = src[i * d + k]`), 16 k at a time through a register
/// transpose; the same bits as the scalar gather of `pack_full`.
///
/// # Safety
/// AVX-512F; `src` holds `P * d` values and `dst` room for `P * d`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn pack_panel32<const P: usize>(src: *const f32, d: usize, dst: *mut f32) {
    const { assert!(P <= 16) };
    let mask = ((1u32 << P) - 1) as u16;
    let mut k = 0;
    while k + 16 <= d {
        let mut r = [_mm512_setzero_ps(); 16];
        for (i, ri) in r.iter_mut().enumerate().take(P) {
            *ri = _mm512_loadu_ps(src.add(i * d + k));
        }
        transpose16(&mut r);
        for (kk, &rk) in r.iter().enumerate() {
            _mm512_mask_storeu_ps(dst.add((k + kk) * P), mask, rk);
        }
        k += 16;
    }
    for k in k..d {
        for i in 0..P {
            *dst.add(k * P + i) = *src.add(i * d + k);
        }
    }
}
