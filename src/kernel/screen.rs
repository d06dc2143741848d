//! The int8 screened tile of the cosine float32 self-join (issue 12's moonshot; the
//! measurement and the proof are in `docs/screening.md`).
//!
//! Every pair of an off-diagonal tile is first scored with an exact integer product of its
//! rows quantised to int8 (AVX-512 VNNI `vpdpbusd`: 64 multiply-adds per instruction, 4x
//! the f32 FMA's), plus a proven bound on how far the float32 key can lie above that score.
//! Only the pairs whose bound reaches `min(row threshold, column threshold)` are recomputed,
//! and they are recomputed with exactly the f32 tile kernel's chain
//! (`acc = fma(a[k], b[k], acc)`, k = 0..d, from 0), turned into keys by the same
//! [`cosine_key`] and offered to the same [`Sink`] with the same sides logic as the f32
//! kernel's `record`. A rejected pair has `key <= ub < min(t_row, t_col)`, so the f32 kernel
//! would not have offered it to either side; the top-k lists are therefore bit-identical to
//! the unscreened path (the top-k order is total, so the order of the offers does not
//! matter).
//!
//! **Quantisation** (once per run, [`QuantSet::new`]): the prepared float32 row `a` (unit,
//! as the f32 tile sees it) gets the scale `s = max|a_k| / 127` (an f32) and
//! `q = round(a / s)` in [-127, 127], so `â = s q`. In f64, rounded up: `e = ||a - â||` and
//! `M = max over all rows of max(||a||, ||â||)`.
//!
//! **The bound.** For rows `a`, `b` with `γ_d = d u / (1 - d u)`, `u = 2^-24`:
//! `fl(a.b) <= s_a s_b (q_a.q_b) + e_a ||b|| + ||â|| e_b + γ_d ||a|| ||b||
//!  <= s_a s_b (q_a.q_b) + w_a + w_b` with `w = e M + γ_d M^2 / 2 + slack / 2`. The slack
//! covers the float32 evaluation of the bound in the epilogue (the conversion of the integer
//! product, one multiply, one fused multiply-add: under `20 u (M^2 + 1)`) and underflow in
//! the chain (at most `2^-149` a step); `M <= 2` is checked, so `4e-6` covers them with room.
//! The clamp of the key is monotone, so `key <= max(ub, -1)`.
//!
//! **Layout.** A side (the tile's rows): panels of [`MR8`] rows, each k-group of 4 bytes of
//! a row contiguous, rows of a group adjacent (`((p dg + g) MR8 + i) 4 + t`), as `q + 128`
//! (u8: `vpdpbusd` multiplies unsigned by signed bytes; the `128 sum(q_b)` it adds is taken
//! off with a per-column correction). B side: pairs of 16-column panels (the f32 B panels'
//! columns), `(((pp dg + g) 2 + h) 16 + j) 4 + t`, as signed bytes. The micro-kernel keeps
//! `MR8 x 32` i32 accumulators (24 registers).

use crate::kernel::{cosine_key, Sink, Tile, COL_SIDE, ROW_SIDE};
use crate::matrix::Real;

/// Rows per int8 micro-tile.
pub const MR8: usize = 12;
/// Columns per int8 B panel: the f32 kernel's `NR`, so a survivor's 16 lanes are one f32
/// B panel row segment.
pub const NR8: usize = 16;
/// The largest dimension screened: the u8 x s8 sums stay exact in i32 below 66,000.
pub const MAX_D: usize = 60_000;
/// Covers the float32 evaluation of the bound and underflow in the chain (see the module
/// notes); far below the bound's width (about 0.01 on unit rows).
const SLACK: f64 = 4e-6;
/// A row whose bound term is larger than this always survives (its `w` is `+inf`).
const MAX_W: f64 = 0.5;
/// The largest norm bound `M` the epilogue's slack is sized for.
const MAX_NORM: f64 = 2.0;

/// Whether this CPU runs the screen: AVX-512 F, BW and VNNI, the f32 kernel fused (the
/// recompute is a fused chain), and `NNOVERLAP_KERNEL` not capping the kernels below
/// AVX-512 (`portable` or `avx2`). Checked once.
pub fn available() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let capped = std::env::var("NNOVERLAP_KERNEL").is_ok_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("portable") || v.eq_ignore_ascii_case("avx2")
        });
        !capped && crate::kernel::fused() && cpu_has_vnni()
    })
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_vnni() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_vnni() -> bool {
    false
}

/// The expected fraction of pairs that survive the screen in a self-join of `n` rows at `k`
/// in `rounds` rounds: `2 k (ln R + 0.58) / n` (the `α / m` law of `docs/screening.md`).
pub fn expected_survivors(n: usize, k: usize, rounds: usize) -> f64 {
    2.0 * k as f64 * ((rounds.max(1) as f64).ln() + 0.58) / n.max(1) as f64
}

static SCREENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static RECOMPUTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Process-wide counts since start: pairs that went through the int8 screen, and pairs it
/// let through to the exact recompute (for tests and benchmarks; counted once per tile).
pub fn counters() -> (u64, u64) {
    use std::sync::atomic::Ordering::Relaxed;
    (SCREENED.load(Relaxed), RECOMPUTED.load(Relaxed))
}

/// `x (1 + (d + 8) 2^-52)`: an upper bound on a non-negative f64 sum of `d` rounded terms.
fn up(x: f64, d: usize) -> f64 {
    x * (1.0 + (d as f64 + 8.0) * f64::EPSILON)
}

/// The smallest f32 at least `x` (`+inf` past the f32 range).
fn up32(x: f64) -> f32 {
    let f = x as f32;
    if (f as f64) < x {
        // x is positive and finite here, and so is f: the next f32 up is one more bit.
        f32::from_bits(f.to_bits() + 1)
    } else {
        f
    }
}

/// `γ_d = d u / (1 - d u)` with `u = 2^-24`, rounded up.
pub fn gamma(d: usize) -> f64 {
    let du = d as f64 * f64::from(f32::EPSILON) / 2.0;
    up(du / (1.0 - du), 4)
}

/// The int8 image of one prepared row: its scale `s`, the quantised values (`out`, `d`
/// long), `e = ||a - s q||` and `max(||a||, ||s q||)`, both rounded up. A row that cannot be
/// scaled (no finite positive maximum) gets `e = +inf` (it always survives).
pub fn quantize_row(a: &[f32], out: &mut [i8]) -> (f32, f64, f64) {
    let d = a.len();
    let max = a.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    let s = max / 127.0;
    if !(s > 0.0 && s.is_finite() && s >= f32::MIN_POSITIVE) {
        out.fill(0);
        return (1.0, f64::INFINITY, f64::INFINITY);
    }
    let sf = f64::from(s);
    let (mut e2, mut n2, mut h2) = (0.0f64, 0.0f64, 0.0f64);
    for (o, &v) in out.iter_mut().zip(a) {
        let v = f64::from(v);
        let q = (v / sf).round().clamp(-127.0, 127.0);
        *o = q as i8;
        // s q is exact in f64 (24 by 7 bits); the differences and squares round once each.
        let h = sf * q;
        e2 += (v - h) * (v - h);
        n2 += v * v;
        h2 += h * h;
    }
    let norm = up(n2, d).sqrt().max(up(h2, d).sqrt());
    (s, up(up(e2, d).sqrt(), 1), up(norm, 1))
}

/// The int8 image of a whole prepared set: per row the quantised values (row-major, each row
/// zero-padded to `dg * 4` bytes), the scale, the bound term `w` (f32, rounded up) and the
/// column correction `128 sum(q)`.
pub struct QuantSet {
    pub d: usize,
    /// Groups of 4 dimensions per row: `d.div_ceil(4)`.
    pub dg: usize,
    pub q: Vec<i8>,
    pub scale: Vec<f32>,
    pub w: Vec<f32>,
    pub corr: Vec<i32>,
}

impl QuantSet {
    /// Quantises `rows` rows of dimension `d`, given a function that writes the prepared
    /// f32 row `i` into its buffer. `None` when the set's norm bound passes what the
    /// epilogue's slack is sized for (the screen is then off).
    pub fn new(
        rows: usize,
        d: usize,
        row: impl Fn(usize, &mut Vec<f32>) + Sync,
    ) -> crate::error::Result<Option<Self>> {
        use rayon::prelude::*;
        const CHUNK: usize = 256;
        let dg = d.div_ceil(4);
        let mut q = crate::error::try_vec(rows * dg * 4, 0i8, "the int8 screen's rows")?;
        let mut scale = vec![0.0f32; rows];
        let mut err = vec![0.0f64; rows];
        let mut corr = vec![0i32; rows];
        let norm = q
            .par_chunks_mut(CHUNK * dg * 4)
            .zip(scale.par_chunks_mut(CHUNK))
            .zip(err.par_chunks_mut(CHUNK))
            .zip(corr.par_chunks_mut(CHUNK))
            .enumerate()
            .map(|(c, (((qc, sc), ec), cc))| {
                let mut buf = Vec::with_capacity(d);
                let mut norm = 0.0f64;
                for (r, out) in qc.chunks_exact_mut(dg * 4).enumerate() {
                    row(c * CHUNK + r, &mut buf);
                    let (s, e, nm) = quantize_row(&buf[..d], &mut out[..d]);
                    sc[r] = s;
                    ec[r] = e;
                    cc[r] = 128 * out.iter().map(|&v| i32::from(v)).sum::<i32>();
                    if e.is_finite() {
                        norm = norm.max(nm);
                    }
                }
                norm
            })
            .reduce(|| 0.0, f64::max);
        if norm > MAX_NORM {
            return Ok(None);
        }
        let m = norm.max(1.0);
        let half = up(gamma(d) * m * m / 2.0 + SLACK / 2.0, 4);
        let w = err
            .iter()
            .map(|&e| {
                let w = up(e * m + half, 4);
                if w <= MAX_W {
                    up32(w)
                } else {
                    f32::INFINITY
                }
            })
            .collect();
        Ok(Some(Self {
            d,
            dg,
            q,
            scale,
            w,
            corr,
        }))
    }
}

/// The packed int8 panels and per-row factors of one side of a tile, padded (A: to whole
/// `MR8` panels; B: to whole pairs of `NR8` panels).
#[derive(Default)]
pub struct QuantBlock {
    pub q: Vec<u8>,
    pub scale: Vec<f32>,
    pub w: Vec<f32>,
    pub corr: Vec<i32>,
}

impl QuantBlock {
    /// Packs rows `r0..r1` of `set` as the A side (`q + 128`, panels of `MR8` rows).
    pub fn pack_a(&mut self, set: &QuantSet, (r0, r1): (usize, usize)) {
        let (rows, dg) = (r1 - r0, set.dg);
        let panels = rows.div_ceil(MR8);
        self.q.clear();
        self.q.resize(panels * dg * MR8 * 4, 128);
        for i in 0..rows {
            let (p, ii) = (i / MR8, i % MR8);
            let src = &set.q[(r0 + i) * dg * 4..(r0 + i + 1) * dg * 4];
            for (g, s4) in src.chunks_exact(4).enumerate() {
                let at = ((p * dg + g) * MR8 + ii) * 4;
                for (o, &v) in self.q[at..at + 4].iter_mut().zip(s4) {
                    *o = (i16::from(v) + 128) as u8;
                }
            }
        }
        self.factors(set, (r0, r1), panels * MR8);
    }

    /// Packs rows `r0..r1` of `set` as the B side (signed bytes, pairs of `NR8` panels).
    pub fn pack_b(&mut self, set: &QuantSet, (r0, r1): (usize, usize)) {
        let (rows, dg) = (r1 - r0, set.dg);
        let pairs = rows.div_ceil(2 * NR8);
        self.q.clear();
        self.q.resize(pairs * dg * 2 * NR8 * 4, 0);
        for c in 0..rows {
            let (pp, h, j) = (c / (2 * NR8), (c / NR8) % 2, c % NR8);
            let src = &set.q[(r0 + c) * dg * 4..(r0 + c + 1) * dg * 4];
            for (g, s4) in src.chunks_exact(4).enumerate() {
                let at = (((pp * dg + g) * 2 + h) * NR8 + j) * 4;
                for (o, &v) in self.q[at..at + 4].iter_mut().zip(s4) {
                    *o = v as u8;
                }
            }
        }
        self.factors(set, (r0, r1), pairs * 2 * NR8);
    }

    fn factors(&mut self, set: &QuantSet, (r0, r1): (usize, usize), len: usize) {
        for (v, src, pad) in [
            (&mut self.scale, &set.scale, 0.0f32),
            (&mut self.w, &set.w, f32::INFINITY),
        ] {
            v.clear();
            v.extend_from_slice(&src[r0..r1]);
            v.resize(len, pad);
        }
        self.corr.clear();
        self.corr.extend_from_slice(&set.corr[r0..r1]);
        self.corr.resize(len, 0);
    }
}

/// `s` as `&[f32]` when `T` is `f32`.
fn as_f32<T: Real>(s: &[T]) -> Option<&[f32]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()).then(|| {
        // SAFETY: T is f32 (same type, checked above).
        unsafe { std::slice::from_raw_parts(s.as_ptr().cast::<f32>(), s.len()) }
    })
}

fn as_f32_mut<T: Real>(s: &mut [T]) -> Option<&mut [f32]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>()).then(|| {
        // SAFETY: T is f32 (same type, checked above).
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast::<f32>(), s.len()) }
    })
}

/// The screened cosine tile: offers to `sink` exactly what the f32 tile kernel
/// (`T::tile::<CosineKey, _>`) would, given the f32 panels `t` (A panels of 6 rows, B panels
/// of 16, as packed for the f32 kernel) and their int8 images `qa` (rows `0..t.rows` packed by
/// [`QuantBlock::pack_a`]) and `qb` ([`QuantBlock::pack_b`]). Returns the number of pairs
/// recomputed, or `None` (nothing done) when `T` is not f32, the panels are not the f32
/// kernel's 6 x 16, or the CPU has no VNNI.
pub fn tile<T: Real, S: Sink<T>>(
    t: &Tile<'_, T>,
    qa: &QuantBlock,
    qb: &QuantBlock,
    a_thr: &mut [T],
    b_thr: &mut [T],
    sink: &mut S,
) -> Option<u64> {
    if T::MR != 6 || T::NR != NR8 || !available() || t.d > MAX_D {
        return None;
    }
    let f = Tile {
        d: t.d,
        a: as_f32(t.a)?,
        pa: t.pa,
        b: as_f32(t.b)?,
        pb: t.pb,
        rows: t.rows,
        cols: t.cols,
        a_aux: as_f32(t.a_aux)?,
        b_aux: as_f32(t.b_aux)?,
    };
    let (at, bt) = (as_f32_mut(a_thr)?, as_f32_mut(b_thr)?);
    let (pa, pb, d, dg) = (t.pa * 6, t.pb * NR8, t.d, t.d.div_ceil(4));
    assert!(f.a.len() >= pa * d && f.b.len() >= pb * d && at.len() >= pa && bt.len() >= pb);
    assert!(t.rows <= pa && t.cols <= pb && t.d >= 1);
    let (pa8, pairs) = (t.rows.div_ceil(MR8), t.pb.div_ceil(2));
    assert!(qa.q.len() >= pa8 * MR8 * dg * 4 && qa.scale.len() >= pa8 * MR8);
    assert!(qb.q.len() >= pairs * 2 * NR8 * dg * 4 && qb.scale.len() >= pairs * 2 * NR8);
    assert!(qa.w.len() >= pa8 * MR8 && qb.w.len() >= pairs * 2 * NR8);
    assert!(qb.corr.len() >= pairs * 2 * NR8);
    let mut adapter = F32Sink(sink, std::marker::PhantomData);
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `available()` checked AVX-512 F, BW and VNNI; the asserts above bound
        // every access of the kernel.
        let survivors = unsafe { vnni::tile(&f, qa, qb, at, bt, &mut adapter) };
        use std::sync::atomic::Ordering::Relaxed;
        SCREENED.fetch_add((t.rows * t.cols) as u64, Relaxed);
        RECOMPUTED.fetch_add(survivors, Relaxed);
        Some(survivors)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (&f, at, bt, &mut adapter);
        None
    }
}

/// A `Sink<T>` seen as a `Sink<f32>` (used only when `T` is f32: the conversions are exact).
struct F32Sink<'a, T, S>(&'a mut S, std::marker::PhantomData<T>);

impl<T: Real, S: Sink<T>> Sink<f32> for F32Sink<'_, T, S> {
    fn row_threshold(&self, row: usize) -> f32 {
        self.0.row_threshold(row).to_f64() as f32
    }
    fn col_threshold(&self, col: usize) -> f32 {
        self.0.col_threshold(col).to_f64() as f32
    }
    #[inline]
    fn offer(&mut self, row: usize, col: usize, key: f32, sides: u8) -> (f32, f32) {
        let (r, c) = self.0.offer(row, col, T::from_f64(f64::from(key)), sides);
        (r.to_f64() as f32, c.to_f64() as f32)
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::*;
    use std::arch::x86_64::*;

    /// The micro-kernel loop: for each pair of B panels, every `MR8`-row A panel streams
    /// past; the bound is formed and compared in the epilogue, and the survivors' row
    /// segments are recomputed by [`recompute`].
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile<S: Sink<f32>>(
        t: &Tile<'_, f32>,
        qa: &QuantBlock,
        qb: &QuantBlock,
        a_thr: &mut [f32],
        b_thr: &mut [f32],
        sink: &mut S,
    ) -> u64 {
        let dg = t.d.div_ceil(4);
        let (m, n) = (t.rows, t.cols);
        let mut survivors = 0u64;
        let minus_one = _mm512_set1_ps(-1.0);
        for pp in 0..t.pb.div_ceil(2) {
            let bp = qb.q.as_ptr().add(pp * dg * 2 * NR8 * 4);
            let c0 = pp * 2 * NR8;
            let sb = [
                _mm512_loadu_ps(qb.scale.as_ptr().add(c0)),
                _mm512_loadu_ps(qb.scale.as_ptr().add(c0 + NR8)),
            ];
            let wb = [
                _mm512_loadu_ps(qb.w.as_ptr().add(c0)),
                _mm512_loadu_ps(qb.w.as_ptr().add(c0 + NR8)),
            ];
            let cr = [
                _mm512_loadu_si512(qb.corr.as_ptr().add(c0).cast()),
                _mm512_loadu_si512(qb.corr.as_ptr().add(c0 + NR8).cast()),
            ];
            // Live columns of the two panels (the second may be padding only).
            let live = |q: usize| -> u16 {
                if q >= t.pb || n <= q * NR8 {
                    0
                } else if n >= (q + 1) * NR8 {
                    u16::MAX
                } else {
                    ((1u32 << (n - q * NR8)) - 1) as u16
                }
            };
            let lv = [live(2 * pp), live(2 * pp + 1)];
            for p in 0..m.div_ceil(MR8) {
                let ap = qa.q.as_ptr().add(p * dg * MR8 * 4);
                let mut acc = [[_mm512_setzero_si512(); 2]; MR8];
                for g in 0..dg {
                    let b0 = _mm512_loadu_si512(bp.add(g * 2 * NR8 * 4).cast());
                    let b1 = _mm512_loadu_si512(bp.add((g * 2 + 1) * NR8 * 4).cast());
                    for (i, ac) in acc.iter_mut().enumerate() {
                        let av = _mm512_set1_epi32(
                            ap.add((g * MR8 + i) * 4).cast::<i32>().read_unaligned(),
                        );
                        ac[0] = _mm512_dpbusd_epi32(ac[0], av, b0);
                        ac[1] = _mm512_dpbusd_epi32(ac[1], av, b1);
                    }
                }
                for (i, ac) in acc.iter().enumerate().take(m - p * MR8) {
                    let r = p * MR8 + i;
                    let sa = _mm512_set1_ps(*qa.scale.get_unchecked(r));
                    let wa = _mm512_set1_ps(*qa.w.get_unchecked(r));
                    for h in 0..2 {
                        if lv[h] == 0 {
                            continue;
                        }
                        let q = 2 * pp + h;
                        let f = _mm512_cvtepi32_ps(_mm512_sub_epi32(ac[h], cr[h]));
                        let ub =
                            _mm512_fmadd_ps(f, _mm512_mul_ps(sa, sb[h]), _mm512_add_ps(wa, wb[h]));
                        let ub = _mm512_max_ps(ub, minus_one);
                        // Thresholds are read afresh: earlier survivors may have raised them.
                        let tr = _mm512_set1_ps(*a_thr.get_unchecked(r));
                        let tc = _mm512_loadu_ps(b_thr.as_ptr().add(q * NR8));
                        let mask =
                            _mm512_cmp_ps_mask::<_CMP_GE_OQ>(ub, _mm512_min_ps(tr, tc)) & lv[h];
                        if mask != 0 {
                            survivors += u64::from(mask.count_ones());
                            recompute(t, r, q, mask, a_thr, b_thr, sink);
                        }
                    }
                }
            }
        }
        survivors
    }

    /// The exact keys of A row `r` against the 16 columns of f32 B panel `q`, with the f32
    /// tile kernel's chain (`acc = fma(a[k], b[k], acc)` from 0, per lane), offered for the
    /// columns in `mask` exactly as the f32 kernel's `record` offers its hits.
    #[cold]
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn recompute<S: Sink<f32>>(
        t: &Tile<'_, f32>,
        r: usize,
        q: usize,
        mask: u16,
        a_thr: &mut [f32],
        b_thr: &mut [f32],
        sink: &mut S,
    ) {
        let d = t.d;
        let ap = t.a.as_ptr().add((r / 6) * 6 * d + r % 6);
        let bp = t.b.as_ptr().add(q * NR8 * d);
        let mut acc = _mm512_setzero_ps();
        for k in 0..d {
            acc = _mm512_fmadd_ps(
                _mm512_set1_ps(*ap.add(k * 6)),
                _mm512_loadu_ps(bp.add(k * NR8)),
                acc,
            );
        }
        let mut dots = [0.0f32; NR8];
        _mm512_storeu_ps(dots.as_mut_ptr(), acc);
        let mut bits = u32::from(mask);
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (c, key) = (q * NR8 + j, cosine_key(dots[j]));
            let sides = u8::from(key >= a_thr[r]) * ROW_SIDE + u8::from(key >= b_thr[c]) * COL_SIDE;
            if sides != 0 {
                let (tr, tc) = sink.offer(r, c, key, sides);
                a_thr[r] = tr;
                b_thr[c] = tc;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{pack, CosineKey, Kernel};

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Unit f32 rows of `d` values with a wide dynamic range, near-duplicates and values at
    /// the int8 rounding boundary (multiples of max / 254).
    fn rows(n: usize, d: usize, seed: &mut u64) -> Vec<f32> {
        let mut x = Vec::with_capacity(n * d);
        for i in 0..n {
            let kind = i % 4;
            let mut row: Vec<f64> = (0..d)
                .map(|k| {
                    let u = lcg(seed) - 0.5;
                    match kind {
                        0 => u,
                        1 => u * 10f64.powi((lcg(seed) * 12.0) as i32 - 6),
                        2 => ((u * 254.0).round() + 0.5) / 254.0,
                        _ => (k as f64 + 1.0).recip() + 1e-7 * u,
                    }
                })
                .collect();
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-30);
            row.iter_mut().for_each(|v| *v /= norm);
            x.extend(row.iter().map(|&v| v as f32));
        }
        x
    }

    fn exact_chain(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .fold(0.0f32, |acc, (&x, &y)| x.mul_add(y, acc))
    }

    /// The int8 image of `n` rows of dimension `d`, given already prepared.
    fn quantised(x: &[f32], n: usize, d: usize) -> QuantSet {
        QuantSet::new(n, d, |i, buf| {
            buf.clear();
            buf.extend_from_slice(&x[i * d..(i + 1) * d]);
        })
        .unwrap()
        .unwrap()
    }

    /// The screen's score of pair (i, j): `s_i s_j (q_i . q_j)`, the integer product exact.
    fn int8_score(set: &QuantSet, i: usize, j: usize) -> f64 {
        let dg = set.dg;
        let qi = &set.q[i * dg * 4..(i + 1) * dg * 4];
        let qj = &set.q[j * dg * 4..(j + 1) * dg * 4];
        let dot: i64 = qi
            .iter()
            .zip(qj)
            .map(|(&a, &b)| i64::from(a) * i64::from(b))
            .sum();
        f64::from(set.scale[i]) * f64::from(set.scale[j]) * dot as f64
    }

    /// The bound terms of [`QuantSet`] bound every pair's f32 chain from above: the score of
    /// the int8 product plus `w_a + w_b`, evaluated in f64, is at least the exact f32 key.
    #[test]
    fn int8_bound_is_above_every_exact_key() {
        let mut seed = 3;
        for d in [1, 2, 3, 5, 16, 47, 300, 1100] {
            let n = 40;
            let x = rows(n, d, &mut seed);
            let set = quantised(&x, n, d);
            let mut worst = f64::INFINITY;
            for i in 0..n {
                for j in 0..n {
                    let score = int8_score(&set, i, j);
                    let ub = score + f64::from(set.w[i]) + f64::from(set.w[j]);
                    let key =
                        cosine_key(exact_chain(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]));
                    assert!(
                        f64::from(key) <= ub.max(-1.0),
                        "d={d} ({i}, {j}): {key} > {ub}"
                    );
                    worst = worst.min(ub - f64::from(key));
                    // Without the quantisation terms the bound fails somewhere (checked below).
                }
            }
            assert!(worst >= 0.0);
        }
    }

    /// The quantisation terms matter: dropping `w` lets some exact key pass its bound.
    #[test]
    fn int8_bound_without_quantisation_terms_fails() {
        let mut seed = 5;
        let (n, d) = (40, 50);
        let x = rows(n, d, &mut seed);
        let set = quantised(&x, n, d);
        let broken = (0..n).any(|i| {
            (0..n).any(|j| {
                let score = int8_score(&set, i, j);
                let key = exact_chain(&x[i * d..(i + 1) * d], &x[j * d..(j + 1) * d]);
                f64::from(key) > score
            })
        });
        assert!(broken);
    }

    struct Log(Vec<(usize, usize, f32, u8)>, Vec<f32>, Vec<f32>);

    impl Sink<f32> for Log {
        fn row_threshold(&self, r: usize) -> f32 {
            self.1[r]
        }
        fn col_threshold(&self, c: usize) -> f32 {
            self.2[c]
        }
        fn offer(&mut self, row: usize, col: usize, key: f32, sides: u8) -> (f32, f32) {
            self.0.push((row, col, key, sides));
            (self.1[row], self.2[col])
        }
    }

    /// The screened tile offers the same candidates with the same keys and sides as the f32
    /// tile kernel, and the epilogue's bound never drops a pair the f32 kernel offers, at
    /// thresholds placed just at, below and above exact keys (ties included).
    #[test]
    fn screened_tile_offers_what_the_f32_tile_offers() {
        if !available() {
            eprintln!("skipped: no AVX-512 VNNI here");
            return;
        }
        let mut seed = 7;
        for (m, nc, d) in [
            (13, 35, 7),
            (12, 32, 1),
            (30, 70, 300),
            (7, 17, 64),
            (25, 48, 1100),
        ] {
            let xa = rows(m, d, &mut seed);
            let mut xb = rows(nc, d, &mut seed);
            // A duplicate of an A row among the columns.
            xb[..d].copy_from_slice(&xa[..d]);
            let set_a = QuantSet::new(m, d, |i, b| {
                b.clear();
                b.extend_from_slice(&xa[i * d..(i + 1) * d]);
            })
            .unwrap()
            .unwrap();
            let set_b = QuantSet::new(nc, d, |i, b| {
                b.clear();
                b.extend_from_slice(&xb[i * d..(i + 1) * d]);
            })
            .unwrap()
            .unwrap();
            let (mut ap, mut bp) = (Vec::new(), Vec::new());
            pack(&xa, m, d, 6, &mut ap);
            pack(&xb, nc, d, 16, &mut bp);
            let (pa, pb) = (m.div_ceil(6), nc.div_ceil(16));
            let (aa, ba) = (vec![0.0f32; pa * 6], vec![0.0f32; pb * 16]);
            let t = Tile {
                d,
                a: &ap,
                pa,
                b: &bp,
                pb,
                rows: m,
                cols: nc,
                a_aux: &aa,
                b_aux: &ba,
            };
            let (mut qa, mut qb) = (QuantBlock::default(), QuantBlock::default());
            qa.pack_a(&set_a, (0, m));
            qb.pack_b(&set_b, (0, nc));
            // Thresholds: exact keys of some pairs (ties), nudged up and down.
            let key = |i: usize, j: usize| {
                cosine_key(exact_chain(
                    &xa[i * d..(i + 1) * d],
                    &xb[j * d..(j + 1) * d],
                ))
            };
            for shift in [-1i32, 0, 1] {
                let nudge = |v: f32| match shift {
                    -1 => v - v.abs() * f32::EPSILON,
                    1 => v + v.abs() * f32::EPSILON,
                    _ => v,
                };
                let rt: Vec<f32> = (0..m).map(|i| nudge(key(i, (i * 7) % nc))).collect();
                let ct: Vec<f32> = (0..nc).map(|j| nudge(key((j * 3) % m, j))).collect();
                let run = |screened: bool| {
                    let mut at = rt.clone();
                    at.resize(pa * 6, f32::INFINITY);
                    let mut bt = ct.clone();
                    bt.resize(pb * 16, f32::INFINITY);
                    let mut log = Log(Vec::new(), at.clone(), bt.clone());
                    if screened {
                        tile(&t, &qa, &qb, &mut at, &mut bt, &mut log).unwrap();
                    } else {
                        f32::tile::<CosineKey, _>(&t, &mut at, &mut bt, &mut log);
                    }
                    let mut offers = log.0;
                    offers.sort_by_key(|x| (x.0, x.1));
                    offers
                };
                let (want, got) = (run(false), run(true));
                assert!(!want.is_empty(), "{m} x {nc} x {d}");
                assert_eq!(got, want, "{m} x {nc} x {d} shift {shift}");
            }
        }
    }
}
