//! The tile kernel: the scores of a block of rows against a block of rows, turned into ranking
//! keys and screened against the current top-k thresholds while still in registers.
//!
//! Written by hand rather than calling a GEMM crate for two reasons. The contract needs every
//! pair's dot product to be the *same* sum in the same order wherever the pair falls: in a
//! diagonal or off-diagonal tile, on an edge tile, with any block size, and as `(i, j)` or
//! `(j, i)`. A general GEMM picks blockings and kernels by shape and splits the inner dimension
//! into chunks summed separately; here each score is one fused multiply-add chain over the
//! whole dimension, `acc = fma(a[k], b[k], acc)` for k = 0..d, symmetric in a and b. And the
//! selection is fused into the product: a GEMM writes every score to memory to be read back by
//! the top-k pass, while almost every score is rejected by one comparison with the k-th best of
//! its row (and, in a symmetric self-join, of its column). Here the micro-kernel compares its
//! register tile with both thresholds and writes out only the candidates that pass (*hits*).
//!
//! Layout, level by level:
//! - each block is *packed* into panels: `MR` rows of A (resp. `NR` rows of B) interleaved
//!   k-major (`panel[k * MR + i]`), zero-padded to a whole panel;
//! - for each B panel (NR x d, kept in L1: 16 x 300 f32 is 19 KiB), every A panel (MR x d)
//!   streams past it; the micro-kernel keeps the `MR x NR` accumulators in registers
//!   (6 x 16 f32 = 12 AVX2 registers), turns them into keys with the per-row factors of the
//!   metric, and tests them against the row and column thresholds with vector compares;
//! - the code is plain Rust over fixed-size arrays, compiled twice: under
//!   `target_feature(avx2, fma)`, chosen at run time on x86-64, and portably for every other
//!   CPU (on aarch64 FMA is always there; elsewhere a non-fused multiply and add);
//! - where the CPU has AVX-512F, `kernel/avx512.rs` (explicit intrinsics) runs instead: two A panels
//!   past two B panels, a 12 x 32 f32 (12 x 16 f64) register tile of 24 zmm accumulators, each
//!   the same FMA chain, so the same bits as the AVX2 build.

use crate::matrix::Real;

#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod count;
pub mod screen;

/// How a dot product becomes a ranking key (larger = better) from per-row factors `a`, `b`.
/// Each is a symmetric function of the pair (see the notes of `knn::run_tile`).
pub trait KeyFn<T>: Copy {
    fn key(dot: T, a: T, b: T) -> T;
}

/// Inner product: the key is the dot product.
#[derive(Clone, Copy)]
pub struct DotKey;
/// Cosine: the dot product of unit rows (see [`crate::prep`]), clamped to [-1, 1] (rounding
/// can take it slightly past; a clamped duplicate then ties with the row itself).
#[derive(Clone, Copy)]
pub struct CosineKey;
/// Euclidean: minus the squared distance `(sq_a + sq_b) - 2 dot`, clamped at zero (rounding
/// can make it slightly negative).
#[derive(Clone, Copy)]
pub struct L2Key;

impl<T: Real> KeyFn<T> for DotKey {
    #[inline(always)]
    fn key(dot: T, _: T, _: T) -> T {
        // A no-op on the finite keys the kernel sees; without it LLVM compiles the f64 tile
        // of the bare dot product 2-3x slower than the same tile with any key operation (the
        // f32 tile is fastest without it). The size test is resolved at compile time.
        if std::mem::size_of::<T>() == 8 {
            dot.max(T::NEG_INFINITY)
        } else {
            dot
        }
    }
}
impl<T: Real> KeyFn<T> for CosineKey {
    #[inline(always)]
    fn key(dot: T, _: T, _: T) -> T {
        cosine_key(dot)
    }
}
impl<T: Real> KeyFn<T> for L2Key {
    #[inline(always)]
    fn key(dot: T, a: T, b: T) -> T {
        l2_key(dot, a, b)
    }
}

/// The cosine key of a dot product of unit rows.
#[inline(always)]
pub fn cosine_key<T: Real>(dot: T) -> T {
    dot.max(-T::ONE).min(T::ONE)
}

/// The Euclidean key (minus the squared distance) from a dot product and both squared norms.
#[inline(always)]
pub fn l2_key<T: Real>(dot: T, sq_a: T, sq_b: T) -> T {
    -(((sq_a + sq_b) - (dot + dot)).max(T::ZERO))
}

/// The dot product of `a` and `b` summed exactly as the tile kernel sums each pair: one
/// chain `acc = a[k] * b[k] + acc` for k = 0..d, fused (one rounding per step) when
/// `fused`, as [`fused`] says the kernel is. Symmetric in `a` and `b`.
pub fn dot_chain<T: Real>(a: &[T], b: &[T], fused: bool) -> T {
    if fused {
        T::dot_fused(a, b)
    } else {
        a.iter().zip(b).fold(T::ZERO, |acc, (&x, &y)| acc + x * y)
    }
}

/// Eight [`dot_chain`]s at once (`a[p]` with `b[p]`, all of one length), each summed in its
/// own order exactly as [`dot_chain`] sums it, bit for bit. One chain waits on the latency of
/// each of its `d` multiply-adds (a 300-long chain: ~1,200 cycles); eight interleaved
/// overlap it. For the pair keys outside the tiles (chosen candidates, scored pairs).
pub fn dot_chains8<T: Real>(a: [&[T]; 8], b: [&[T]; 8], fused: bool) -> [T; 8] {
    if fused {
        T::dot_fused8(a, b)
    } else {
        chains8::<T, false>(a, b)
    }
}

#[inline(always)]
fn chains8<T: Real, const FUSED: bool>(a: [&[T]; 8], b: [&[T]; 8]) -> [T; 8] {
    let d = a[0].len();
    assert!(
        a.iter().chain(&b).all(|s| s.len() == d),
        "chains of one length"
    );
    let mut acc = [T::ZERO; 8];
    for k in 0..d {
        for p in 0..8 {
            acc[p] = if FUSED {
                a[p][k].mul_add(b[p][k], acc[p])
            } else {
                acc[p] + a[p][k] * b[p][k]
            };
        }
    }
    acc
}

/// Which top-k a candidate may enter: [`ROW_SIDE`], that of A's row; [`COL_SIDE`], that of
/// B's row (the column side of a symmetric self-join tile).
pub const ROW_SIDE: u8 = 1;
pub const COL_SIDE: u8 = 2;

/// Receives the candidates of a tile that reach a threshold, and returns the thresholds of
/// their row and column afterwards (`+inf` for a side that takes nothing). Keeping the
/// thresholds exact while the tile runs keeps the candidates that reach the top-k structures
/// to the few that really enter them.
pub trait Sink<T> {
    /// The current threshold of tile row `row` (the k-th best key, or `-inf` while the row
    /// holds fewer than k candidates).
    fn row_threshold(&self, row: usize) -> T;
    /// The current threshold of tile column `col`; `+inf` when columns take nothing.
    fn col_threshold(&self, col: usize) -> T;
    fn offer(&mut self, row: usize, col: usize, key: T, sides: u8) -> (T, T);
}

/// The inputs of one tile. The per-row slices are padded to whole panels (`pa * MR` and
/// `pb * NR` long); padded rows and columns are never offered.
pub struct Tile<'a, T> {
    pub d: usize,
    /// Packed A: `pa` panels of `MR` rows.
    pub a: &'a [T],
    pub pa: usize,
    /// Packed B: `pb` panels of `NR` rows.
    pub b: &'a [T],
    pub pb: usize,
    /// Live rows of A and of B (the rest is padding).
    pub rows: usize,
    pub cols: usize,
    /// Per-row factors of the key function (inverse norms, squared norms, or unused).
    pub a_aux: &'a [T],
    pub b_aux: &'a [T],
}

/// Panel sizes and the compiled tile kernels of one scalar type.
pub trait Kernel: Sized + Copy {
    /// Rows of A per micro-tile.
    const MR: usize;
    /// Rows of B (columns of the tile) per micro-tile.
    const NR: usize;

    /// Offers to `sink` every live `(r, c)` of the tile whose key reaches `a_thr[r]` (row
    /// side) or `b_thr[c]` (column side), and stores the thresholds the sink returns. Both
    /// threshold slices are padded like the tile.
    fn tile<K: KeyFn<Self>, S: Sink<Self>>(
        t: &Tile<'_, Self>,
        a_thr: &mut [Self],
        b_thr: &mut [Self],
        sink: &mut S,
    );

    /// The fused dot-product chain of [`dot_chain`], with hardware FMA where the kernel has it.
    fn dot_fused(a: &[Self], b: &[Self]) -> Self;

    /// Eight fused chains of [`dot_chains8`], with hardware FMA where the kernel has it.
    fn dot_fused8(a: [&[Self]; 8], b: [&[Self]; 8]) -> [Self; 8];
}

#[inline(always)]
fn micro<T: Real, const MR: usize, const NR: usize, const FUSED: bool>(
    d: usize,
    a: &[T],
    b: &[T],
) -> [[T; NR]; MR] {
    let mut acc = [[T::ZERO; NR]; MR];
    let (a, b) = (&a[..d * MR], &b[..d * NR]);
    for (av, bv) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
        let av: &[T; MR] = av.try_into().expect("panel width");
        let bv: &[T; NR] = bv.try_into().expect("panel width");
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = if FUSED {
                    av[i].mul_add(bv[j], acc[i][j])
                } else {
                    acc[i][j] + av[i] * bv[j]
                };
            }
        }
    }
    acc
}

/// Offers the hits of one micro-tile, given per row the bit mask of the columns that reached
/// a threshold when the micro-tile was screened; reached only when some bit is set.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn record<T: Real, S: Sink<T>, const MR: usize, const NR: usize>(
    keys: &[[T; NR]; MR],
    masks: &[u32; MR],
    (r0, c0): (usize, usize),
    (rows, cols): (usize, usize),
    a_thr: &mut [T],
    b_thr: &mut [T],
    sink: &mut S,
) {
    let live_cols = if cols >= c0 + NR {
        u32::MAX
    } else {
        (1u32 << (cols - c0)) - 1
    };
    for (i, &mask) in masks.iter().enumerate().take(rows.saturating_sub(r0)) {
        let mut bits = mask & live_cols;
        while bits != 0 {
            let j = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (r, c, key) = (r0 + i, c0 + j, keys[i][j]);
            // Thresholds may have risen since the screening, through earlier hits.
            let sides = u8::from(key >= a_thr[r]) * ROW_SIDE + u8::from(key >= b_thr[c]) * COL_SIDE;
            if sides != 0 {
                let (tr, tc) = sink.offer(r, c, key, sides);
                a_thr[r] = tr;
                b_thr[c] = tc;
            }
        }
    }
}

/// The `MR x 2NR` micro-product of one A panel with two B panels at once: every accumulator
/// is the same chain as in [`micro`] (bit-identical), but twice the accumulators per A
/// broadcast keep AVX-512's wider FMA units busy.
#[inline(always)]
fn micro2<T: Real, const MR: usize, const NR: usize>(
    d: usize,
    a: &[T],
    b0: &[T],
    b1: &[T],
) -> ([[T; NR]; MR], [[T; NR]; MR]) {
    let mut acc0 = [[T::ZERO; NR]; MR];
    let mut acc1 = [[T::ZERO; NR]; MR];
    let (a, b0, b1) = (&a[..d * MR], &b0[..d * NR], &b1[..d * NR]);
    for ((av, bv0), bv1) in a
        .chunks_exact(MR)
        .zip(b0.chunks_exact(NR))
        .zip(b1.chunks_exact(NR))
    {
        let av: &[T; MR] = av.try_into().expect("panel width");
        let bv0: &[T; NR] = bv0.try_into().expect("panel width");
        let bv1: &[T; NR] = bv1.try_into().expect("panel width");
        for i in 0..MR {
            for j in 0..NR {
                acc0[i][j] = av[i].mul_add(bv0[j], acc0[i][j]);
            }
            for j in 0..NR {
                acc1[i][j] = av[i].mul_add(bv1[j], acc1[i][j]);
            }
        }
    }
    (acc0, acc1)
}

/// Keys and threshold screening of one micro-tile's accumulators (A panel `p`, B panel `q`).
#[inline(always)]
fn screen<T: Real, K: KeyFn<T>, S: Sink<T>, const MR: usize, const NR: usize>(
    acc: &[[T; NR]; MR],
    (p, q): (usize, usize),
    t: &Tile<'_, T>,
    a_thr: &mut [T],
    b_thr: &mut [T],
    sink: &mut S,
) {
    let ra: &[T; MR] = t.a_aux[p * MR..(p + 1) * MR].try_into().expect("padded");
    let cb: &[T; NR] = t.b_aux[q * NR..(q + 1) * NR].try_into().expect("padded");
    let rt: [T; MR] = a_thr[p * MR..(p + 1) * MR].try_into().expect("padded");
    let ct: [T; NR] = b_thr[q * NR..(q + 1) * NR].try_into().expect("padded");
    let mut keys = [[T::ZERO; NR]; MR];
    // No early exit: the compares become vector compares and bit masks.
    let mut masks = [0u32; MR];
    for i in 0..MR {
        for j in 0..NR {
            let key = K::key(acc[i][j], ra[i], cb[j]);
            keys[i][j] = key;
            masks[i] |= u32::from((key >= rt[i]) | (key >= ct[j])) << j;
        }
    }
    if masks.iter().any(|&m| m != 0) {
        let at = (p * MR, q * NR);
        record(&keys, &masks, at, (t.rows, t.cols), a_thr, b_thr, sink);
    }
}

/// The tile: for each B panel (or pair of B panels when `PAIR`), every A panel streams past.
#[inline(always)]
fn tile_impl<
    T: Real,
    K: KeyFn<T>,
    S: Sink<T>,
    const MR: usize,
    const NR: usize,
    const FUSED: bool,
    const PAIR: bool,
>(
    t: &Tile<'_, T>,
    a_thr: &mut [T],
    b_thr: &mut [T],
    sink: &mut S,
) {
    let d = t.d;
    let panel_b = |q: usize| &t.b[q * d * NR..(q + 1) * d * NR];
    let panel_a = |p: usize| &t.a[p * d * MR..(p + 1) * d * MR];
    let mut q = 0;
    while q < t.pb {
        if PAIR && FUSED && q + 1 < t.pb {
            let (b0, b1) = (panel_b(q), panel_b(q + 1));
            for p in 0..t.pa {
                let (acc0, acc1) = micro2::<T, MR, NR>(d, panel_a(p), b0, b1);
                screen::<T, K, S, MR, NR>(&acc0, (p, q), t, a_thr, b_thr, sink);
                screen::<T, K, S, MR, NR>(&acc1, (p, q + 1), t, a_thr, b_thr, sink);
            }
            q += 2;
        } else {
            let b = panel_b(q);
            for p in 0..t.pa {
                let acc = micro::<T, MR, NR, FUSED>(d, panel_a(p), b);
                screen::<T, K, S, MR, NR>(&acc, (p, q), t, a_thr, b_thr, sink);
            }
            q += 1;
        }
    }
}

/// The kernel build `NNOVERLAP_KERNEL` asks for, read once: `portable` forces the portable
/// build, `avx2` caps x86-64 at the AVX2 + FMA build (both give the same bits: the AVX-512
/// build sums every pair in the same order), anything else lets the CPU decide.
fn kernel_cap() -> &'static str {
    use std::sync::OnceLock;
    static CAP: OnceLock<&'static str> = OnceLock::new();
    CAP.get_or_init(|| match std::env::var("NNOVERLAP_KERNEL") {
        Ok(v) if v.trim().eq_ignore_ascii_case("portable") => "portable",
        Ok(v) if v.trim().eq_ignore_ascii_case("avx2") => "avx2",
        _ => "",
    })
}

/// Whether `NNOVERLAP_KERNEL=portable` asks for the portable kernel.
fn portable_forced() -> bool {
    kernel_cap() == "portable"
}

/// Whether this CPU runs the AVX-512 build of the tile kernels (checked once): AVX-512F on
/// top of AVX2 + FMA, unless `NNOVERLAP_KERNEL` caps the kernel lower.
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        has_avx2_fma() && kernel_cap().is_empty() && is_x86_feature_detected!("avx512f")
    })
}

/// Whether this CPU runs the AVX2 + FMA build of the kernels (checked once), unless
/// `NNOVERLAP_KERNEL=portable` forces the portable build.
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        !portable_forced() && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    })
}

/// Whether the kernel in use sums each dot product with fused multiply-adds.
pub fn fused() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx2_fma()
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = portable_forced;
        false
    }
}

/// Name of the kernel build this CPU uses, for benchmark reports.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            return "avx512f+fma";
        }
        if has_avx2_fma() {
            return "avx2+fma";
        }
        if portable_forced() {
            return "portable (x86-64 baseline, no fma; forced by NNOVERLAP_KERNEL)";
        }
        "portable (x86-64 baseline, no fma)"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "portable (aarch64, fma)"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "portable (no fma)"
    }
}

macro_rules! impl_kernel {
    ($t:ty, $mr:literal, $nr:literal, $avx2:ident, $avx512:ident, $chain:ident, $chain8:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $chain(a: &[$t], b: &[$t]) -> $t {
            a.iter().zip(b).fold(0.0, |acc, (&x, &y)| x.mul_add(y, acc))
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $chain8(a: [&[$t]; 8], b: [&[$t]; 8]) -> [$t; 8] {
            chains8::<$t, true>(a, b)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2<K: KeyFn<$t>, S: Sink<$t>>(
            t: &Tile<'_, $t>,
            a_thr: &mut [$t],
            b_thr: &mut [$t],
            sink: &mut S,
        ) {
            tile_impl::<$t, K, S, $mr, $nr, true, false>(t, a_thr, b_thr, sink)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        unsafe fn $avx512<K: KeyFn<$t>, S: Sink<$t>>(
            t: &Tile<'_, $t>,
            a_thr: &mut [$t],
            b_thr: &mut [$t],
            sink: &mut S,
        ) {
            avx512::tile::<$t, K, S, $nr>(t, a_thr, b_thr, sink)
        }

        impl Kernel for $t {
            const MR: usize = $mr;
            const NR: usize = $nr;

            fn tile<K: KeyFn<Self>, S: Sink<Self>>(
                t: &Tile<'_, Self>,
                a_thr: &mut [Self],
                b_thr: &mut [Self],
                sink: &mut S,
            ) {
                let (pa, pb) = (t.pa * $mr, t.pb * $nr);
                assert!(t.a.len() >= pa * t.d && t.b.len() >= pb * t.d);
                assert!(t.a_aux.len() >= pa && a_thr.len() >= pa);
                assert!(t.b_aux.len() >= pb && b_thr.len() >= pb);
                assert!(t.rows <= pa && t.cols <= pb && $nr <= 32);
                #[cfg(target_arch = "x86_64")]
                {
                    if has_avx512() {
                        // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked at run time).
                        return unsafe { $avx512::<K, S>(t, a_thr, b_thr, sink) };
                    }
                    if has_avx2_fma() {
                        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                        return unsafe { $avx2::<K, S>(t, a_thr, b_thr, sink) };
                    }
                    tile_impl::<$t, K, S, $mr, $nr, false, false>(t, a_thr, b_thr, sink)
                }
                #[cfg(target_arch = "aarch64")]
                {
                    tile_impl::<$t, K, S, $mr, $nr, true, false>(t, a_thr, b_thr, sink)
                }
                #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
                {
                    tile_impl::<$t, K, S, $mr, $nr, false, false>(t, a_thr, b_thr, sink)
                }
            }

            fn dot_fused(a: &[Self], b: &[Self]) -> Self {
                #[cfg(target_arch = "x86_64")]
                {
                    if has_avx2_fma() {
                        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                        return unsafe { $chain(a, b) };
                    }
                }
                // Correctly rounded in software where the CPU has no FMA.
                a.iter().zip(b).fold(0.0, |acc, (&x, &y)| x.mul_add(y, acc))
            }

            fn dot_fused8(a: [&[Self]; 8], b: [&[Self]; 8]) -> [Self; 8] {
                #[cfg(target_arch = "x86_64")]
                {
                    if has_avx2_fma() {
                        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                        return unsafe { $chain8(a, b) };
                    }
                }
                chains8::<Self, true>(a, b)
            }
        }
    };
}

// 6 x 16 f32 and 6 x 8 f64: 12 accumulator registers of 256 bits, plus the B row and an A
// broadcast, within AVX2's 16.
impl_kernel!(
    f32,
    6,
    16,
    tile_f32_avx2,
    tile_f32_avx512,
    dot_f32_fma,
    dots_f32_fma
);
impl_kernel!(
    f64,
    6,
    8,
    tile_f64_avx2,
    tile_f64_avx512,
    dot_f64_fma,
    dots_f64_fma
);

/// Packs rows `x` (`rows x d`, row-major) into zero-padded panels of `panel` rows,
/// interleaved k-major: `out[(p * d + k) * panel + i] = x[p * panel + i][k]`.
pub fn pack<T: Real>(x: &[T], rows: usize, d: usize, panel: usize, out: &mut Vec<T>) {
    let panels = rows.div_ceil(panel);
    // Full panels overwrite every value, so only the last, partial panel needs zeroing.
    out.resize(panels * panel * d, T::ZERO);
    for (p, dst) in out.chunks_exact_mut(panel * d).enumerate() {
        let r0 = p * panel;
        let live = panel.min(rows - r0);
        let src = &x[r0 * d..(r0 + live) * d];
        #[cfg(target_arch = "x86_64")]
        if live == panel && (panel == 6 || panel == 16) && std::mem::size_of::<T>() == 4 {
            assert!(src.len() == panel * d && dst.len() == panel * d);
            if has_avx512() {
                let (s, o) = (src.as_ptr() as *const f32, dst.as_mut_ptr() as *mut f32);
                // SAFETY: the CPU has AVX-512F (checked at run time); `src` and `dst` hold
                // `panel * d` values of 32 bits (asserted), which the transpose only moves.
                unsafe {
                    match panel {
                        6 => avx512::pack_panel32::<6>(s, d, o),
                        _ => avx512::pack_panel32::<16>(s, d, o),
                    }
                }
                continue;
            }
        }
        match (live == panel, panel) {
            (true, 6) => pack_full::<T, 6>(src, d, dst),
            (true, 8) => pack_full::<T, 8>(src, d, dst),
            (true, 16) => pack_full::<T, 16>(src, d, dst),
            _ => {
                dst.fill(T::ZERO);
                for (i, row) in src.chunks_exact(d).enumerate() {
                    for (k, &v) in row.iter().enumerate() {
                        dst[k * panel + i] = v;
                    }
                }
            }
        }
    }
}

/// One full panel of `P` rows: each k-row of the panel is written contiguously, gathering
/// from `P` row streams. Packing is about 1 / block of the kernel's work, so its speed
/// shows: this is about three times the speed of a bounds-checked scatter, row by row.
#[inline(always)]
fn pack_full<T: Real, const P: usize>(src: &[T], d: usize, dst: &mut [T]) {
    assert!(src.len() == P * d && dst.len() == P * d);
    for (k, dk) in dst.chunks_exact_mut(P).enumerate() {
        let dk: &mut [T; P] = dk.try_into().expect("panel width");
        for (i, v) in dk.iter_mut().enumerate() {
            // SAFETY: i < P and k < d, and src holds P rows of d values (asserted above).
            *v = unsafe { *src.get_unchecked(i * d + k) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every offer; the column side's threshold rises to the offered key.
    struct Log<T>(Vec<(usize, usize, T, u8)>);

    impl<T: Real> Sink<T> for Log<T> {
        fn row_threshold(&self, _: usize) -> T {
            T::NEG_INFINITY
        }
        fn col_threshold(&self, _: usize) -> T {
            T::ZERO
        }
        fn offer(&mut self, row: usize, col: usize, key: T, sides: u8) -> (T, T) {
            self.0.push((row, col, key, sides));
            (T::NEG_INFINITY, T::INFINITY)
        }
    }

    fn check<T: Real + From<i8>>() {
        let (m, n, d) = (13, 35, 7);
        let a: Vec<T> = (0..m * d).map(|i| T::from((i % 7) as i8 - 3)).collect();
        let b: Vec<T> = (0..n * d).map(|i| T::from((i % 5) as i8 - 2)).collect();
        let (mut ap, mut bp) = (Vec::new(), Vec::new());
        pack(&a, m, d, T::MR, &mut ap);
        pack(&b, n, d, T::NR, &mut bp);
        let (pa, pb) = (m.div_ceil(T::MR), n.div_ceil(T::NR));
        let a_aux = vec![T::ZERO; pa * T::MR];
        let b_aux = vec![T::ZERO; pb * T::NR];
        // Every live candidate passes the row side; the column side starts at 0 and closes
        // (+inf) after its first offer.
        let mut a_thr = vec![T::NEG_INFINITY; pa * T::MR];
        let mut b_thr = vec![T::ZERO; pb * T::NR];
        let tile = Tile {
            d,
            a: &ap,
            pa,
            b: &bp,
            pb,
            rows: m,
            cols: n,
            a_aux: &a_aux,
            b_aux: &b_aux,
        };
        let mut log = Log(Vec::new());
        T::tile::<DotKey, _>(&tile, &mut a_thr, &mut b_thr, &mut log);
        assert_eq!(log.0.len(), m * n);
        let mut col_taken = vec![false; n];
        for (i, j, key, sides) in log.0 {
            let want = (0..d).fold(T::ZERO, |s, k| s + a[i * d + k] * b[j * d + k]);
            assert_eq!(key, want, "({i}, {j})");
            let col = if want >= T::ZERO && !col_taken[j] {
                COL_SIDE
            } else {
                0
            };
            col_taken[j] |= col != 0;
            assert_eq!(sides, ROW_SIDE | col, "({i}, {j})");
        }
    }

    #[test]
    fn tile_keys_equal_naive_product_and_sides_follow_thresholds() {
        check::<f32>();
        check::<f64>();
    }

    /// `pack` (on AVX-512 CPUs through a register transpose for f32's 6- and 16-row panels)
    /// puts every value where the layout says, bit for bit, and zero-pads the last panel:
    /// d below, at and past a multiple of 16, and partial panels.
    #[test]
    fn packing_puts_each_value_at_its_panel_place() {
        fn check<T: Real>(rows: usize, d: usize, panel: usize) {
            let mut x: Vec<T> = values(rows * d, 3);
            if let Some(v) = x.get_mut(1) {
                *v = -T::ZERO;
            }
            let mut out = vec![T::ONE; 3];
            pack(&x, rows, d, panel, &mut out);
            let panels = rows.div_ceil(panel);
            assert_eq!(out.len(), panels * panel * d);
            for p in 0..panels {
                for k in 0..d {
                    for i in 0..panel {
                        let r = p * panel + i;
                        let want = if r < rows { x[r * d + k] } else { T::ZERO };
                        let got = out[(p * d + k) * panel + i];
                        let same = want.to_f64().to_bits() == got.to_f64().to_bits();
                        assert!(same, "{rows} x {d} / {panel}: row {r}, k {k}");
                    }
                }
            }
        }
        for d in [1, 2, 15, 16, 17, 33, 300] {
            for rows in [1, 5, 6, 12, 16, 31, 48] {
                for panel in [6, 8, 16] {
                    check::<f32>(rows, d, panel);
                    check::<f64>(rows, d, panel);
                }
            }
        }
    }

    /// The tile builds a test can run on this CPU.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Build {
        /// One A panel past one B panel (`micro`, fused), the AVX2 build's product.
        OnePanel,
        /// One A panel past two B panels (`micro2`), as the rank-count pass pairs them.
        Pair,
        /// `Kernel::tile`, the build this CPU runs: on AVX-512 CPUs the intrinsics tile
        /// of two A panels past two B panels, with its 6-row and one-panel edge tiles.
        Dispatched,
    }

    /// Records every offer. With `rising`, each row's and column's threshold rises to the
    /// largest key offered to it, so the offers depend on their order.
    struct All<T> {
        offers: Vec<(usize, usize, T, u8)>,
        rising: bool,
        row: Vec<T>,
        col: Vec<T>,
    }
    impl<T: Real> Sink<T> for All<T> {
        fn row_threshold(&self, _: usize) -> T {
            T::NEG_INFINITY
        }
        fn col_threshold(&self, _: usize) -> T {
            T::NEG_INFINITY
        }
        fn offer(&mut self, row: usize, col: usize, key: T, sides: u8) -> (T, T) {
            self.offers.push((row, col, key, sides));
            if self.rising {
                self.row[row] = self.row[row].max(key);
                self.col[col] = self.col[col].max(key);
            }
            (self.row[row], self.col[col])
        }
    }

    /// Values with full mantissas (sums round), some negative, from a fixed hash.
    fn values<T: Real>(len: usize, seed: u64) -> Vec<T> {
        (0..len as u64)
            .map(|i| {
                let h = (i ^ seed)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .rotate_left(29);
                T::from_f64((h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 0.7)
            })
            .collect()
    }

    /// The offers of one build's tile of `m x n` rows of depth `d` under key `K` (L2's
    /// per-row factors are the rows' squared norms).
    fn offers<T, K, const NR: usize>(
        (m, n, d): (usize, usize, usize),
        build: Build,
        rising: bool,
    ) -> Vec<(usize, usize, T, u8)>
    where
        T: Real + Kernel,
        K: KeyFn<T>,
    {
        let (a, b) = (values::<T>(m * d, 1), values::<T>(n * d, 2));
        let (mut ap, mut bp) = (Vec::new(), Vec::new());
        pack(&a, m, d, T::MR, &mut ap);
        pack(&b, n, d, NR, &mut bp);
        let (pa, pb) = (m.div_ceil(T::MR), n.div_ceil(NR));
        let sq = |x: &[T], r: usize| dot_chain(&x[r * d..][..d], &x[r * d..][..d], true);
        let mut a_aux: Vec<T> = (0..m).map(|r| sq(&a, r)).collect();
        let mut b_aux: Vec<T> = (0..n).map(|r| sq(&b, r)).collect();
        a_aux.resize(pa * T::MR, T::ZERO);
        b_aux.resize(pb * NR, T::ZERO);
        let mut a_thr = vec![T::NEG_INFINITY; pa * T::MR];
        let mut b_thr = vec![T::NEG_INFINITY; pb * NR];
        let tile = Tile {
            d,
            a: &ap,
            pa,
            b: &bp,
            pb,
            rows: m,
            cols: n,
            a_aux: &a_aux,
            b_aux: &b_aux,
        };
        let mut sink = All {
            offers: Vec::new(),
            rising,
            row: vec![T::NEG_INFINITY; m],
            col: vec![T::NEG_INFINITY; n],
        };
        let (at, bt) = (&mut a_thr, &mut b_thr);
        match build {
            Build::OnePanel => tile_impl::<T, K, _, 6, NR, true, false>(&tile, at, bt, &mut sink),
            Build::Pair => tile_impl::<T, K, _, 6, NR, true, true>(&tile, at, bt, &mut sink),
            Build::Dispatched => {
                assert_eq!(NR, T::NR);
                T::tile::<K, _>(&tile, at, bt, &mut sink)
            }
        }
        if !rising {
            // Every pair once, keyed as the scalar fused chain says.
            assert_eq!(sink.offers.len(), m * n, "{build:?} {m} x {n} x {d}");
            for &(i, j, key, _) in &sink.offers {
                let dot = dot_chain(&a[i * d..][..d], &b[j * d..][..d], true);
                let want = K::key(dot, a_aux[i], b_aux[j]);
                assert!(key == want, "{build:?} {m} x {n} x {d} ({i}, {j})");
            }
        }
        sink.offers
    }

    /// The AVX-512 build's register tiles (two A panels past two B panels, and its 6-row and
    /// one-B-panel edge tiles) and the pairing of B panels (`micro2`) give every pair the same
    /// key as the one-panel micro-kernel and the scalar fused chain, bit for bit: on odd and
    /// even panel counts, rows and columns not multiples of the tile, and d = 1, 2, 17, 300.
    /// With thresholds that rise as offers arrive, the paired and AVX-512 builds (which visit
    /// the pairs in the same order) make the same offers with the same sides.
    #[test]
    fn pairing_b_panels_changes_no_key() {
        fn all<T: Real + Kernel, const NR: usize>(m: usize, n: usize, d: usize) {
            let sorted = |mut v: Vec<(usize, usize, T, u8)>| {
                v.sort_by_key(|x| (x.0, x.1));
                v.into_iter()
                    .map(|(i, j, key, _)| (i, j, key))
                    .collect::<Vec<_>>()
            };
            let one = sorted(offers::<T, L2Key, NR>((m, n, d), Build::OnePanel, false));
            for build in [Build::Pair, Build::Dispatched] {
                let two = sorted(offers::<T, L2Key, NR>((m, n, d), build, false));
                assert!(one == two, "{build:?} {m} x {n} x {d}");
                offers::<T, DotKey, NR>((m, n, d), build, false);
                offers::<T, CosineKey, NR>((m, n, d), build, false);
            }
            if T::NR == NR {
                let pair = offers::<T, DotKey, NR>((m, n, d), Build::Pair, true);
                let disp = offers::<T, DotKey, NR>((m, n, d), Build::Dispatched, true);
                if crate::kernel::kernel_name().starts_with("avx512") {
                    assert!(pair == disp, "rising {m} x {n} x {d}");
                }
            }
        }
        for (m, n, d) in [
            (13, 35, 7),
            (6, 32, 1),
            (7, 48, 19),
            (1, 17, 300),
            (12, 64, 3),
            (12, 32, 2),
            (24, 64, 17),
            (25, 65, 300),
            (18, 40, 17),
            (11, 15, 2),
            (30, 96, 1),
        ] {
            all::<f32, 16>(m, n, d);
            all::<f64, 8>(m, n, d);
        }
    }
}
