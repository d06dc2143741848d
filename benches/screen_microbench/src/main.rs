//! How fast is a cheap screening product on this CPU, next to the float32 tile it would replace?
//!
//! One thread, GEMM-like: a block of `ROWS` rows of A (packed in panels of `MR` rows) streams
//! past each B panel (`NR` = 32 columns, in L1); each micro-kernel keeps an `MR x NR` register
//! tile of accumulators and ends with the same fused epilogue for every kernel (turn the tile
//! into keys or upper bounds, compare with min(row threshold, column threshold), count hits),
//! as the core's kernel does. Kernels:
//! - `f32`: AVX-512 FMA, 16 multiply-adds per instruction;
//! - `int8`: AVX-512 VNNI `vpdpbusd` (u8 x s8, 4 products summed per i32 lane, 64 per
//!   instruction); A is offset by +128 to make it unsigned, corrected in the epilogue;
//! - `bf16`: AVX-512 BF16 `vdpbf16ps` (2 products per f32 lane, 32 per instruction).
//!
//! And the two ways to recompute a survivor exactly (the same FMA chain `acc = a[k]*b[k] + acc`
//! for k = 0..d, bit-identical to the f32 tile; checked below):
//! - `gather`: 16 scattered pairs per vector, both operands gathered from row-major rows;
//! - `segment`: one row of A against a 16-column half of a packed B panel (one vector of
//!   16 pairs, the lanes of a micro-tile row), several segments interleaved.
//!
//! Output: multiply-adds per second (G/s) per kernel and d, and ns per recomputed pair.

#![allow(clippy::needless_range_loop)] // lane-indexed register arrays read clearer by index

use std::arch::x86_64::*;
use std::hint::black_box;

const MR: usize = 12;
const NR: usize = 32;
const ROWS: usize = 768; // A rows per block (the core's MAX_BLOCK)
const COLS: usize = 768; // B rows per block

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f32(&mut self) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Packs `n` rows of `d` values (row-major) into panels of `p` rows, k-major, with `g`
/// consecutive k per row entry (1 for f32, 2 for bf16, 4 for int8), zero padded.
fn pack<T: Copy + Default>(src: &[T], n: usize, d: usize, p: usize, g: usize) -> Vec<T> {
    let dg = d.div_ceil(g);
    let panels = n.div_ceil(p);
    let mut out = vec![T::default(); panels * dg * p * g];
    for r in 0..n {
        let (pi, ri) = (r / p, r % p);
        for k in 0..d {
            let (kg, kk) = (k / g, k % g);
            out[((pi * dg + kg) * p + ri) * g + kk] = src[r * d + k];
        }
    }
    out
}

#[derive(Clone)]
struct Epi {
    row_thr: Vec<f32>,
    col_thr: Vec<f32>,
    // int8/bf16: per-row scale and bound terms
    row_scale: Vec<f32>,
    col_scale: Vec<f32>,
    row_w: Vec<f32>,
    col_w: Vec<f32>,
    col_corr: Vec<i32>,
}

#[target_feature(enable = "avx512f")]
unsafe fn tile_f32(a: &[f32], b: &[f32], d: usize, e: &Epi, out: Option<&mut [f32]>) -> u64 {
    let (pa, pb) = (ROWS / MR, COLS / NR);
    let mut hits = 0u64;
    let mut out = out;
    for jb in 0..pb {
        let bp = b.as_ptr().add(jb * NR * d);
        let tc0 = _mm512_loadu_ps(e.col_thr.as_ptr().add(jb * NR));
        let tc1 = _mm512_loadu_ps(e.col_thr.as_ptr().add(jb * NR + 16));
        for ia in 0..pa {
            let ap = a.as_ptr().add(ia * MR * d);
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            for k in 0..d {
                let b0 = _mm512_loadu_ps(bp.add(k * NR));
                let b1 = _mm512_loadu_ps(bp.add(k * NR + 16));
                for (i, ac) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_ps(*ap.add(k * MR + i));
                    ac[0] = _mm512_fmadd_ps(av, b0, ac[0]);
                    ac[1] = _mm512_fmadd_ps(av, b1, ac[1]);
                }
            }
            for (i, ac) in acc.iter().enumerate() {
                let r = ia * MR + i;
                let tr = _mm512_set1_ps(e.row_thr[r]);
                // cosine key: clamp to [-1, 1]
                let one = _mm512_set1_ps(1.0);
                let k0 = _mm512_max_ps(_mm512_min_ps(ac[0], one), _mm512_set1_ps(-1.0));
                let k1 = _mm512_max_ps(_mm512_min_ps(ac[1], one), _mm512_set1_ps(-1.0));
                let m0 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(k0, _mm512_min_ps(tr, tc0));
                let m1 = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(k1, _mm512_min_ps(tr, tc1));
                hits += (m0.count_ones() + m1.count_ones()) as u64;
                if let Some(o) = out.as_deref_mut() {
                    _mm512_storeu_ps(o.as_mut_ptr().add(r * COLS + jb * NR), ac[0]);
                    _mm512_storeu_ps(o.as_mut_ptr().add(r * COLS + jb * NR + 16), ac[1]);
                }
            }
        }
    }
    hits
}

/// The screen's epilogue: upper bound = (acc - corr) * (s_a s_b) + w_a + w_b, compared with
/// min(row, column threshold).
#[inline(always)]
unsafe fn epi_bound(f: __m512, sa: __m512, sb: __m512, wa: __m512, wb: __m512) -> __m512 {
    _mm512_fmadd_ps(f, _mm512_mul_ps(sa, sb), _mm512_add_ps(wa, wb))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_i8(a: &[u8], b: &[i8], d: usize, e: &Epi, mut out: Option<&mut [i32]>) -> u64 {
    let (pa, pb) = (ROWS / MR, COLS / NR);
    let dg = d.div_ceil(4);
    let mut hits = 0u64;
    for jb in 0..pb {
        let bp = b.as_ptr().add(jb * NR * dg * 4);
        let c = jb * NR;
        let tc = [
            _mm512_loadu_ps(e.col_thr.as_ptr().add(c)),
            _mm512_loadu_ps(e.col_thr.as_ptr().add(c + 16)),
        ];
        let sb = [
            _mm512_loadu_ps(e.col_scale.as_ptr().add(c)),
            _mm512_loadu_ps(e.col_scale.as_ptr().add(c + 16)),
        ];
        let wb = [
            _mm512_loadu_ps(e.col_w.as_ptr().add(c)),
            _mm512_loadu_ps(e.col_w.as_ptr().add(c + 16)),
        ];
        let cr = [
            _mm512_loadu_si512(e.col_corr.as_ptr().add(c) as *const _),
            _mm512_loadu_si512(e.col_corr.as_ptr().add(c + 16) as *const _),
        ];
        for ia in 0..pa {
            let ap = a.as_ptr().add(ia * MR * dg * 4);
            let mut acc = [[_mm512_setzero_si512(); 2]; MR];
            for kg in 0..dg {
                let b0 = _mm512_loadu_si512(bp.add(kg * NR * 4) as *const _);
                let b1 = _mm512_loadu_si512(bp.add(kg * NR * 4 + 64) as *const _);
                for (i, ac) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_epi32(
                        (ap.add((kg * MR + i) * 4) as *const i32).read_unaligned(),
                    );
                    ac[0] = _mm512_dpbusd_epi32(ac[0], av, b0);
                    ac[1] = _mm512_dpbusd_epi32(ac[1], av, b1);
                }
            }
            for (i, ac) in acc.iter().enumerate() {
                let r = ia * MR + i;
                let tr = _mm512_set1_ps(e.row_thr[r]);
                let sa = _mm512_set1_ps(e.row_scale[r]);
                let wa = _mm512_set1_ps(e.row_w[r]);
                for h in 0..2 {
                    let dot = _mm512_sub_epi32(ac[h], cr[h]);
                    if let Some(o) = out.as_deref_mut() {
                        _mm512_storeu_si512(
                            o.as_mut_ptr().add(r * COLS + c + 16 * h) as *mut _,
                            dot,
                        );
                    }
                    let f = _mm512_cvtepi32_ps(dot);
                    let ub = epi_bound(f, sa, sb[h], wa, wb[h]);
                    let m = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(ub, _mm512_min_ps(tr, tc[h]));
                    hits += m.count_ones() as u64;
                }
            }
        }
    }
    hits
}

#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn tile_bf16(a: &[u16], b: &[u16], d: usize, e: &Epi, mut out: Option<&mut [f32]>) -> u64 {
    let (pa, pb) = (ROWS / MR, COLS / NR);
    let dg = d.div_ceil(2);
    let mut hits = 0u64;
    for jb in 0..pb {
        let bp = b.as_ptr().add(jb * NR * dg * 2);
        let c = jb * NR;
        let tc = [
            _mm512_loadu_ps(e.col_thr.as_ptr().add(c)),
            _mm512_loadu_ps(e.col_thr.as_ptr().add(c + 16)),
        ];
        let wb = [
            _mm512_loadu_ps(e.col_w.as_ptr().add(c)),
            _mm512_loadu_ps(e.col_w.as_ptr().add(c + 16)),
        ];
        for ia in 0..pa {
            let ap = a.as_ptr().add(ia * MR * dg * 2);
            let mut acc = [[_mm512_setzero_ps(); 2]; MR];
            for kg in 0..dg {
                let b0: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(bp.add(kg * NR * 2) as *const _));
                let b1: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(bp.add(kg * NR * 2 + 32) as *const _));
                for (i, ac) in acc.iter_mut().enumerate() {
                    let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(
                        (ap.add((kg * MR + i) * 2) as *const i32).read_unaligned(),
                    ));
                    ac[0] = _mm512_dpbf16_ps(ac[0], av, b0);
                    ac[1] = _mm512_dpbf16_ps(ac[1], av, b1);
                }
            }
            for (i, ac) in acc.iter().enumerate() {
                let r = ia * MR + i;
                let tr = _mm512_set1_ps(e.row_thr[r]);
                let wa = _mm512_set1_ps(e.row_w[r]);
                for h in 0..2 {
                    if let Some(o) = out.as_deref_mut() {
                        _mm512_storeu_ps(o.as_mut_ptr().add(r * COLS + c + 16 * h), ac[h]);
                    }
                    let ub = _mm512_add_ps(ac[h], _mm512_add_ps(wa, wb[h]));
                    let m = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(ub, _mm512_min_ps(tr, tc[h]));
                    hits += m.count_ones() as u64;
                }
            }
        }
    }
    hits
}

/// Exact recompute of scattered pairs, 16 per vector, operands gathered from row-major rows.
/// `G` independent groups in flight to hide the FMA latency.
#[target_feature(enable = "avx512f")]
unsafe fn recompute_gather<const G: usize>(
    x: &[f32],
    y: &[f32],
    d: usize,
    pi: &[i32],
    pj: &[i32],
    out: &mut [f32],
) {
    let n = pi.len() / (16 * G) * (16 * G);
    let mut p = 0;
    while p < n {
        let mut ia = [_mm512_setzero_si512(); G];
        let mut ib = [_mm512_setzero_si512(); G];
        let mut acc = [_mm512_setzero_ps(); G];
        let dv = _mm512_set1_epi32(d as i32);
        for g in 0..G {
            ia[g] = _mm512_mullo_epi32(
                _mm512_loadu_si512(pi.as_ptr().add(p + 16 * g) as *const _),
                dv,
            );
            ib[g] = _mm512_mullo_epi32(
                _mm512_loadu_si512(pj.as_ptr().add(p + 16 * g) as *const _),
                dv,
            );
        }
        for k in 0..d {
            for g in 0..G {
                let av = _mm512_i32gather_ps::<4>(ia[g], x.as_ptr().add(k));
                let bv = _mm512_i32gather_ps::<4>(ib[g], y.as_ptr().add(k));
                acc[g] = _mm512_fmadd_ps(av, bv, acc[g]);
            }
        }
        for g in 0..G {
            _mm512_storeu_ps(out.as_mut_ptr().add(p + 16 * g), acc[g]);
        }
        p += 16 * G;
    }
}

/// Exact recompute of micro-tile row segments: A row `seg_row[s]` (row-major) against the
/// 16 columns `seg_col[s] .. +16` of the packed B block (a half panel). `G` in flight.
#[target_feature(enable = "avx512f")]
unsafe fn recompute_segments<const G: usize>(
    x: &[f32],
    bpk: &[f32],
    d: usize,
    seg_row: &[usize],
    seg_col: &[usize],
    out: &mut [f32],
) {
    let n = seg_row.len() / G * G;
    let mut s = 0;
    while s < n {
        let mut acc = [_mm512_setzero_ps(); G];
        let mut ap = [std::ptr::null::<f32>(); G];
        let mut bp = [std::ptr::null::<f32>(); G];
        for g in 0..G {
            ap[g] = x.as_ptr().add(seg_row[s + g] * d);
            let c = seg_col[s + g];
            bp[g] = bpk.as_ptr().add((c / NR) * NR * d + (c % NR));
        }
        for k in 0..d {
            for g in 0..G {
                let av = _mm512_set1_ps(*ap[g].add(k));
                let bv = _mm512_loadu_ps(bp[g].add(k * NR));
                acc[g] = _mm512_fmadd_ps(av, bv, acc[g]);
            }
        }
        for g in 0..G {
            _mm512_storeu_ps(out.as_mut_ptr().add((s + g) * 16), acc[g]);
        }
        s += G;
    }
}

/// The screened tile end to end: the int8 VNNI screen of each micro-tile, then, for every
/// 1 x 16 row segment holding a survivor, the exact f32 recompute (the core's FMA chain, A
/// row from row-major f32, B from the packed f32 panel, which stays in L1 beside the int8 one),
/// up to 4 segments in flight; the recomputed keys are compared with the thresholds.
/// Returns (screen survivors, exact hits).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_screened(
    a: &[u8],
    b: &[i8],
    x: &[f32],
    b32: &[f32],
    d: usize,
    e: &Epi,
) -> (u64, u64) {
    let (pa, pb) = (ROWS / MR, COLS / NR);
    let dg = d.div_ceil(4);
    let (mut surv, mut hits) = (0u64, 0u64);
    for jb in 0..pb {
        let bp = b.as_ptr().add(jb * NR * dg * 4);
        let bf = b32.as_ptr().add(jb * NR * d);
        let c = jb * NR;
        let tc = [
            _mm512_loadu_ps(e.col_thr.as_ptr().add(c)),
            _mm512_loadu_ps(e.col_thr.as_ptr().add(c + 16)),
        ];
        let sb = [
            _mm512_loadu_ps(e.col_scale.as_ptr().add(c)),
            _mm512_loadu_ps(e.col_scale.as_ptr().add(c + 16)),
        ];
        let wb = [
            _mm512_loadu_ps(e.col_w.as_ptr().add(c)),
            _mm512_loadu_ps(e.col_w.as_ptr().add(c + 16)),
        ];
        let cr = [
            _mm512_loadu_si512(e.col_corr.as_ptr().add(c) as *const _),
            _mm512_loadu_si512(e.col_corr.as_ptr().add(c + 16) as *const _),
        ];
        for ia in 0..pa {
            let ap = a.as_ptr().add(ia * MR * dg * 4);
            let mut acc = [[_mm512_setzero_si512(); 2]; MR];
            for kg in 0..dg {
                let b0 = _mm512_loadu_si512(bp.add(kg * NR * 4) as *const _);
                let b1 = _mm512_loadu_si512(bp.add(kg * NR * 4 + 64) as *const _);
                for (i, ac) in acc.iter_mut().enumerate() {
                    let av = _mm512_set1_epi32(
                        (ap.add((kg * MR + i) * 4) as *const i32).read_unaligned(),
                    );
                    ac[0] = _mm512_dpbusd_epi32(ac[0], av, b0);
                    ac[1] = _mm512_dpbusd_epi32(ac[1], av, b1);
                }
            }
            let mut segs = [(0usize, 0usize); 2 * MR];
            let mut ns = 0;
            for (i, ac) in acc.iter().enumerate() {
                let r = ia * MR + i;
                let tr = _mm512_set1_ps(e.row_thr[r]);
                let sa = _mm512_set1_ps(e.row_scale[r]);
                let wa = _mm512_set1_ps(e.row_w[r]);
                for h in 0..2 {
                    let f = _mm512_cvtepi32_ps(_mm512_sub_epi32(ac[h], cr[h]));
                    let ub = epi_bound(f, sa, sb[h], wa, wb[h]);
                    let m = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(ub, _mm512_min_ps(tr, tc[h]));
                    if m != 0 {
                        surv += m.count_ones() as u64;
                        segs[ns] = (r, h);
                        ns += 1;
                    }
                }
            }
            let mut s = 0;
            while s < ns {
                let g = (ns - s).min(4);
                let mut ac = [_mm512_setzero_ps(); 4];
                let mut ar = [x.as_ptr(); 4];
                let mut br = [bf; 4];
                for t in 0..4 {
                    let (r, h) = segs[s + t.min(g - 1)];
                    ar[t] = x.as_ptr().add(r * d);
                    br[t] = bf.add(16 * h);
                }
                for k in 0..d {
                    for t in 0..4 {
                        ac[t] = _mm512_fmadd_ps(
                            _mm512_set1_ps(*ar[t].add(k)),
                            _mm512_loadu_ps(br[t].add(k * NR)),
                            ac[t],
                        );
                    }
                }
                for t in 0..g {
                    let (r, h) = segs[s + t];
                    let thr = _mm512_min_ps(_mm512_set1_ps(e.row_thr[r]), tc[h]);
                    hits += _mm512_cmp_ps_mask::<_CMP_GE_OQ>(ac[t], thr).count_ones() as u64;
                }
                s += g;
            }
        }
    }
    (surv, hits)
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}
extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}
/// This thread's CPU time: the machine is shared, and wall time would count the other jobs.
fn cpu_seconds() -> f64 {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    unsafe { clock_gettime(3, &mut ts) }; // CLOCK_THREAD_CPUTIME_ID
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

/// Seconds per call of `f`: thread CPU time over doubling repetitions until `min_s`, best of 3.
fn time<F: FnMut() -> u64>(mut f: F, min_s: f64) -> f64 {
    (0..3)
        .map(|_| time_once(&mut f, min_s))
        .fold(f64::INFINITY, f64::min)
}

fn time_once<F: FnMut() -> u64>(f: &mut F, min_s: f64) -> f64 {
    let _ = black_box(f());
    let mut reps = 1u64;
    loop {
        let t = cpu_seconds();
        for _ in 0..reps {
            black_box(f());
        }
        let s = cpu_seconds() - t;
        if s >= min_s {
            return s / reps as f64;
        }
        reps *= 2;
    }
}

fn main() {
    assert!(
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("avx512bf16"),
        "needs AVX-512 F, VNNI and BF16"
    );
    let min_s = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.1);
    let mut rng = Rng(0x9e3779b97f4a7c15);
    println!("one thread; block {ROWS} x {COLS}; register tile {MR} x {NR}; G multiply-adds/s");
    println!("   d   f32 tile   int8 vnni (x f32)   bf16 (x f32)   gather ns/pair (G=1, 4)   segment ns/pair (G=1, 4, 8; 8 with B panel in L1)");
    for &d in &[48usize, 300, 384, 768] {
        let x: Vec<f32> = (0..ROWS * d)
            .map(|_| rng.f32() / (d as f32).sqrt())
            .collect();
        let y: Vec<f32> = (0..COLS * d)
            .map(|_| rng.f32() / (d as f32).sqrt())
            .collect();
        let mut e = Epi {
            row_thr: (0..ROWS).map(|_| 0.9).collect(),
            col_thr: (0..COLS).map(|_| 0.9).collect(),
            row_scale: vec![1e-4; ROWS],
            col_scale: vec![1e-4; COLS],
            row_w: vec![0.01; ROWS],
            col_w: vec![0.01; COLS],
            col_corr: vec![128; COLS],
        };
        let a32 = pack(&x, ROWS, d, MR, 1);
        let b32 = pack(&y, COLS, d, NR, 1);
        let q = |v: &[f32]| -> Vec<i8> {
            v.iter()
                .map(|&t| (t * 127.0 * (d as f32).sqrt()).round().clamp(-127.0, 127.0) as i8)
                .collect()
        };
        let qy = q(&y);
        e.col_corr = (0..COLS)
            .map(|j| {
                128 * qy[j * d..(j + 1) * d]
                    .iter()
                    .map(|&t| t as i32)
                    .sum::<i32>()
            })
            .collect();
        let qx = q(&x);
        let xa: Vec<u8> = q(&x).iter().map(|&t| (t as i16 + 128) as u8).collect();
        let a8 = pack(&xa, ROWS, d, MR, 4);
        let b8 = pack(&q(&y), COLS, d, NR, 4);
        let bf = |v: &[f32]| -> Vec<u16> {
            v.iter()
                .map(|&t| {
                    let u = t.to_bits();
                    ((u + 0x7fff + ((u >> 16) & 1)) >> 16) as u16
                })
                .collect()
        };
        let a16 = pack(&bf(&x), ROWS, d, MR, 2);
        let b16 = pack(&bf(&y), COLS, d, NR, 2);
        let macs = (ROWS * COLS * d) as f64;
        let t32 = time(|| unsafe { tile_f32(&a32, &b32, d, &e, None) }, min_s);
        let d8 = d.div_ceil(4) * 4;
        let t8 = time(|| unsafe { tile_i8(&a8, &b8, d, &e, None) }, min_s);
        let d16 = d.div_ceil(2) * 2;
        let t16 = time(|| unsafe { tile_bf16(&a16, &b16, d, &e, None) }, min_s);
        let r32 = macs / t32 / 1e9;
        let r8 = (ROWS * COLS * d8) as f64 / t8 / 1e9;
        let r16 = (ROWS * COLS * d16) as f64 / t16 / 1e9;

        // Recompute: scattered pairs and segments, from a random 5 % sample.
        let np = 16 * 4 * 256;
        let pi: Vec<i32> = (0..np).map(|_| (rng.next() % ROWS as u64) as i32).collect();
        let pj: Vec<i32> = (0..np).map(|_| (rng.next() % COLS as u64) as i32).collect();
        let mut out = vec![0f32; np];
        let tg1 = time(
            || {
                unsafe { recompute_gather::<1>(&x, &y, d, &pi, &pj, &mut out) };
                0
            },
            min_s,
        );
        let tg4 = time(
            || {
                unsafe { recompute_gather::<4>(&x, &y, d, &pi, &pj, &mut out) };
                0
            },
            min_s,
        );
        let ns = np / 16;
        let sr: Vec<usize> = (0..ns)
            .map(|_| (rng.next() % ROWS as u64) as usize)
            .collect();
        let sc: Vec<usize> = (0..ns)
            .map(|_| (rng.next() % (COLS as u64 / 16)) as usize * 16)
            .collect();
        let mut sout = vec![0f32; ns * 16];
        let ts1 = time(
            || {
                unsafe { recompute_segments::<1>(&x, &b32, d, &sr, &sc, &mut sout) };
                0
            },
            min_s,
        );
        let ts4 = time(
            || {
                unsafe { recompute_segments::<4>(&x, &b32, d, &sr, &sc, &mut sout) };
                0
            },
            min_s,
        );
        let sc1: Vec<usize> = (0..ns).map(|_| (rng.next() % 2) as usize * 16).collect();
        let tl8 = time(
            || {
                unsafe { recompute_segments::<8>(&x, &b32, d, &sr, &sc1, &mut sout) };
                0
            },
            min_s,
        );
        let ts8 = time(
            || {
                unsafe { recompute_segments::<8>(&x, &b32, d, &sr, &sc, &mut sout) };
                0
            },
            min_s,
        );

        // Bit-identity: tile, gather and segment recomputes all equal the scalar FMA chain.
        let mut full = vec![0f32; ROWS * COLS];
        unsafe { tile_f32(&a32, &b32, d, &e, Some(&mut full)) };
        let chain = |i: usize, j: usize| {
            (0..d).fold(0f32, |acc, k| x[i * d + k].mul_add(y[j * d + k], acc))
        };
        unsafe { recompute_gather::<4>(&x, &y, d, &pi, &pj, &mut out) };
        for p in 0..np {
            let (i, j) = (pi[p] as usize, pj[p] as usize);
            assert_eq!(
                out[p].to_bits(),
                chain(i, j).to_bits(),
                "gather pair {i},{j}"
            );
            assert_eq!(
                full[i * COLS + j].to_bits(),
                out[p].to_bits(),
                "tile pair {i},{j}"
            );
        }
        unsafe { recompute_segments::<8>(&x, &b32, d, &sr, &sc, &mut sout) };
        for s in 0..ns {
            for l in 0..16 {
                assert_eq!(
                    sout[s * 16 + l].to_bits(),
                    full[sr[s] * COLS + sc[s] + l].to_bits()
                );
            }
        }
        // The screens compute what they claim: int8 exactly, bf16 within gamma_d sum |a^ b^|.
        let mut i8out = vec![0i32; ROWS * COLS];
        unsafe { tile_i8(&a8, &b8, d, &e, Some(&mut i8out)) };
        let mut bfout = vec![0f32; ROWS * COLS];
        unsafe { tile_bf16(&a16, &b16, d, &e, Some(&mut bfout)) };
        let (xb, yb) = (bf(&x), bf(&y));
        let up = |h: u16| f32::from_bits((h as u32) << 16) as f64;
        let gam = d as f64 * 2f64.powi(-24) / (1.0 - d as f64 * 2f64.powi(-24));
        for p in 0..np {
            let (i, j) = (pi[p] as usize, pj[p] as usize);
            let exact: i32 = (0..d)
                .map(|k| qx[i * d + k] as i32 * qy[j * d + k] as i32)
                .sum();
            assert_eq!(i8out[i * COLS + j], exact, "int8 pair {i},{j}");
            let (mut sb, mut sabs) = (0f64, 0f64);
            for k in 0..d {
                let t = up(xb[i * d + k]) * up(yb[j * d + k]);
                sb += t;
                sabs += t.abs();
            }
            let err = (bfout[i * COLS + j] as f64 - sb).abs();
            assert!(
                err <= gam * sabs + d as f64 * 2f64.powi(-126),
                "bf16 pair {i},{j}: {err}"
            );
        }
        println!(
            "{d:4}   {r32:7.1}    {r8:7.1} ({:.2}x)      {r16:6.1} ({:.2}x)     {:6.2}  {:6.2}               {:6.2}  {:6.2}  {:6.2}  {:6.2}",
            r8 / r32,
            r16 / r32,
            tg1 / np as f64 * 1e9,
            tg4 / np as f64 * 1e9,
            ts1 / (ns * 16) as f64 * 1e9,
            ts4 / (ns * 16) as f64 * 1e9,
            ts8 / (ns * 16) as f64 * 1e9,
            tl8 / (ns * 16) as f64 * 1e9,
        );
        let per = |t: f64, n: usize| t / n as f64 * 1e9;
        println!(
            "JSON {{\"d\": {d}, \"f32\": {r32:.3}, \"int8\": {r8:.3}, \"bf16\": {r16:.3}, \"gather_ns\": {:.3}, \"segment_ns\": {:.3}, \"segment_l1_ns\": {:.3}}}",
            per(tg1.min(tg4), np),
            per(ts1.min(ts4).min(ts8), ns * 16),
            per(tl8, ns * 16),
        );
        // The screened tile at controlled survivor fractions: thresholds at the (1 - p)
        // quantile of the bounds of a sample of pairs (survivors then fall at random).
        let ubs = {
            let mut v: Vec<f32> = (0..20000)
                .map(|t| {
                    let (i, j) = (pi[t % np] as usize, pj[t % np] as usize);
                    let dot: i32 = (0..d)
                        .map(|k| qx[i * d + k] as i32 * qy[j * d + k] as i32)
                        .sum();
                    dot as f32 * (e.row_scale[i] * e.col_scale[j]) + (e.row_w[i] + e.col_w[j])
                })
                .collect();
            v.sort_by(|p, q| p.partial_cmp(q).unwrap());
            v
        };
        let mut screened = String::new();
        let (mut ps, mut sps) = (Vec::new(), Vec::new());
        for &p in &[0.0f64, 0.001, 0.003, 0.01, 0.03, 0.1] {
            let t = if p == 0.0 {
                f32::INFINITY
            } else {
                ubs[((1.0 - p) * ubs.len() as f64) as usize]
            };
            let mut es = Epi {
                row_thr: vec![t; ROWS],
                col_thr: vec![t; COLS],
                ..e.clone()
            };
            es.col_corr = e.col_corr.clone();
            let ts = time(
                || unsafe { tile_screened(&a8, &b8, &x, &b32, d, &es).0 },
                min_s,
            );
            let (sv, _) = unsafe { tile_screened(&a8, &b8, &x, &b32, d, &es) };
            let frac = sv as f64 / (ROWS * COLS) as f64;
            screened.push_str(&format!(" p={frac:.4}: {:.2}x", t32 / ts));
            ps.push(format!("{frac:.6}"));
            sps.push(format!("{:.4}", t32 / ts));
        }
        println!("       screened int8 tile with exact recompute, speed vs f32 tile:{screened}");
        println!(
            "SCREEN {{\"d\": {d}, \"p\": [{}], \"speedup\": [{}]}}",
            ps.join(", "),
            sps.join(", ")
        );
        println!(
            "       (an f32 tile pair costs {:.2} ns at this d; recompute bit-identical, int8 exact, bf16 within bound: checked)",
            d as f64 / (r32 * 1e9) * 1e9
        );
    }
}
