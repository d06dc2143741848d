//! The tile product: scores of a block of rows against a block of rows, `C = A B^T`.
//!
//! Written by hand rather than calling a GEMM crate because the contract needs every pair's
//! dot product to be the *same* sum in the same order wherever the pair falls: in a diagonal
//! or off-diagonal tile, on an edge tile, with any block size, and as `(i, j)` or `(j, i)`.
//! A general GEMM picks blockings and kernels by shape, and splits the inner dimension into
//! chunks summed separately. Here each score is one fused multiply-add chain over the whole
//! dimension, `acc = fma(a[k], b[k], acc)` for k = 0..d, which is symmetric in a and b.
//!
//! Layout, level by level:
//! - each block is *packed* into panels: `MR` rows of A (resp. `NR` rows of B) interleaved
//!   k-major (`panel[k * MR + i]`), zero-padded to a whole panel;
//! - for each B panel (NR x d, kept in L1: 16 x 300 f32 is 19 KiB), every A panel (MR x d)
//!   streams past it; the micro-kernel keeps the `MR x NR` accumulators in registers
//!   (6 x 16 f32 = 12 AVX2 registers) and writes them once to the tile;
//! - the micro-kernel is plain Rust over fixed-size arrays, compiled twice: under
//!   `target_feature(avx2, fma)`, chosen at run time on x86-64, and portably for every other
//!   CPU (on aarch64 FMA is always there; elsewhere a non-fused multiply and add).

use crate::matrix::Real;

/// Panel sizes and the compiled tile kernels of one scalar type.
pub trait Kernel: Sized + Copy {
    /// Rows of A per micro-tile.
    const MR: usize;
    /// Rows of B (columns of the tile) per micro-tile.
    const NR: usize;

    /// `out[(p*MR + i) * ldo + q*NR + j] = <A_row(p*MR+i), B_row(q*NR+j)>` for all `pa` A
    /// panels and `pb` B panels of packed inputs with inner dimension `d`.
    fn tile(d: usize, ap: &[Self], pa: usize, bp: &[Self], pb: usize, out: &mut [Self], ldo: usize);
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

#[inline(always)]
fn tile_impl<T: Real, const MR: usize, const NR: usize, const FUSED: bool>(
    d: usize,
    ap: &[T],
    pa: usize,
    bp: &[T],
    pb: usize,
    out: &mut [T],
    ldo: usize,
) {
    for q in 0..pb {
        let b = &bp[q * d * NR..(q + 1) * d * NR];
        for p in 0..pa {
            let acc = micro::<T, MR, NR, FUSED>(d, &ap[p * d * MR..(p + 1) * d * MR], b);
            for (i, row) in acc.iter().enumerate() {
                let start = (p * MR + i) * ldo + q * NR;
                out[start..start + NR].copy_from_slice(row);
            }
        }
    }
}

/// Whether this CPU runs the AVX2 + FMA build of the kernels (checked once).
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// Name of the kernel build this CPU uses, for benchmark reports.
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            return "avx2+fma";
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
    ($t:ty, $mr:literal, $nr:literal, $avx2:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2(
            d: usize,
            ap: &[$t],
            pa: usize,
            bp: &[$t],
            pb: usize,
            out: &mut [$t],
            ldo: usize,
        ) {
            tile_impl::<$t, $mr, $nr, true>(d, ap, pa, bp, pb, out, ldo)
        }

        impl Kernel for $t {
            const MR: usize = $mr;
            const NR: usize = $nr;

            fn tile(
                d: usize,
                ap: &[Self],
                pa: usize,
                bp: &[Self],
                pb: usize,
                out: &mut [Self],
                ldo: usize,
            ) {
                assert!(ap.len() >= pa * $mr * d && bp.len() >= pb * $nr * d);
                assert!(ldo >= pb * $nr && out.len() >= pa * $mr * ldo);
                #[cfg(target_arch = "x86_64")]
                {
                    if has_avx2_fma() {
                        // SAFETY: the CPU supports AVX2 and FMA (checked at run time).
                        return unsafe { $avx2(d, ap, pa, bp, pb, out, ldo) };
                    }
                    tile_impl::<$t, $mr, $nr, false>(d, ap, pa, bp, pb, out, ldo)
                }
                #[cfg(target_arch = "aarch64")]
                {
                    tile_impl::<$t, $mr, $nr, true>(d, ap, pa, bp, pb, out, ldo)
                }
                #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
                {
                    tile_impl::<$t, $mr, $nr, false>(d, ap, pa, bp, pb, out, ldo)
                }
            }
        }
    };
}

// 6 x 16 f32 and 6 x 8 f64: 12 accumulator registers of 256 bits, plus the B row and an A
// broadcast, within AVX2's 16.
impl_kernel!(f32, 6, 16, tile_f32_avx2);
impl_kernel!(f64, 6, 8, tile_f64_avx2);

/// Packs rows `x` (`rows x d`, row-major) into zero-padded panels of `panel` rows,
/// interleaved k-major: `out[(p * d + k) * panel + i] = x[p * panel + i][k]`.
pub fn pack<T: Real>(x: &[T], rows: usize, d: usize, panel: usize, out: &mut Vec<T>) {
    let panels = rows.div_ceil(panel);
    out.clear();
    out.resize(panels * panel * d, T::ZERO);
    for (p, dst) in out.chunks_exact_mut(panel * d).enumerate() {
        let r0 = p * panel;
        let live = panel.min(rows - r0);
        if live == panel && panel == 16 {
            // Full panel of the common width: write each k-row of the panel contiguously,
            // gathering from 16 row streams (about twice as fast as scattering row by row).
            let src: [&[T]; 16] = std::array::from_fn(|i| &x[(r0 + i) * d..(r0 + i + 1) * d]);
            for (k, dk) in dst.chunks_exact_mut(16).enumerate() {
                for i in 0..16 {
                    dk[i] = src[i][k];
                }
            }
            continue;
        }
        for i in 0..live {
            let row = &x[(r0 + i) * d..(r0 + i + 1) * d];
            for (k, &v) in row.iter().enumerate() {
                dst[k * panel + i] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Real + Kernel + From<i8>>() {
        let (m, n, d) = (13, 35, 7);
        let a: Vec<T> = (0..m * d).map(|i| T::from((i % 7) as i8 - 3)).collect();
        let b: Vec<T> = (0..n * d).map(|i| T::from((i % 5) as i8 - 2)).collect();
        let (mut ap, mut bp) = (Vec::new(), Vec::new());
        pack(&a, m, d, T::MR, &mut ap);
        pack(&b, n, d, T::NR, &mut bp);
        let (pa, pb) = (m.div_ceil(T::MR), n.div_ceil(T::NR));
        let ldo = pb * T::NR;
        let mut out = vec![T::ZERO; pa * T::MR * ldo];
        T::tile(d, &ap, pa, &bp, pb, &mut out, ldo);
        for i in 0..m {
            for j in 0..n {
                let want = (0..d).fold(T::ZERO, |s, k| s + a[i * d + k] * b[j * d + k]);
                assert_eq!(out[i * ldo + j], want, "({i}, {j})");
            }
        }
    }

    #[test]
    fn tile_equals_naive_product() {
        check::<f32>();
        check::<f64>();
    }
}
