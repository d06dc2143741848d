//! Neighbour overlap between two neighbour lists of the same items.

use rayon::prelude::*;

use crate::error::{invalid, Result};

/// Per-row overlap `|set(a_i[..k]) ∩ set(b_i[..k])|` for each `k` in `ks`.
///
/// `a` and `b` are `rows x width` row-major index lists (best first); every `k` must be in
/// `1..=width`. Returns `rows x ks.len()` counts, row-major. Rows must not repeat an index
/// (the Python layer checks); a repeated index would be counted once per occurrence in `a`.
pub fn overlap_counts(
    a: &[i64],
    b: &[i64],
    rows: usize,
    width: usize,
    ks: &[usize],
) -> Result<Vec<i64>> {
    if a.len() != rows * width || b.len() != rows * width {
        return Err(invalid!(
            "both index lists must hold {rows} x {width} values, got {} and {}",
            a.len(),
            b.len()
        ));
    }
    if let Some(&k) = ks.iter().find(|&&k| k < 1 || k > width) {
        return Err(invalid!("k must satisfy 1 <= k <= {width}, got {k}"));
    }
    let nk = ks.len();
    let mut out = vec![0i64; rows * nk];
    if rows == 0 || nk == 0 {
        return Ok(out);
    }
    out.par_chunks_mut(nk)
        .zip(a.par_chunks(width.max(1)).zip(b.par_chunks(width.max(1))))
        .for_each_init(
            || (Vec::with_capacity(width), Vec::with_capacity(width)),
            |(sa, sb), (counts, (ra, rb))| {
                for (c, &k) in counts.iter_mut().zip(ks) {
                    *c = prefix_overlap(&ra[..k], &rb[..k], sa, sb) as i64;
                }
            },
        );
    Ok(out)
}

/// `|set(a) ∩ set(b)|` for two short index lists without repeats.
fn prefix_overlap(a: &[i64], b: &[i64], sa: &mut Vec<i64>, sb: &mut Vec<i64>) -> usize {
    // For the usual k (up to a few dozen) a quadratic scan beats sorting.
    const QUADRATIC_MAX: usize = 32;
    if a.len() <= QUADRATIC_MAX {
        return a.iter().filter(|x| b.contains(x)).count();
    }
    sa.clear();
    sa.extend_from_slice(a);
    sa.sort_unstable();
    sb.clear();
    sb.extend_from_slice(b);
    sb.sort_unstable();
    let (mut i, mut j, mut count) = (0, 0, 0);
    while i < sa.len() && j < sb.len() {
        match sa[i].cmp(&sb[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                count += 1;
                i += 1;
                j += 1;
            }
        }
    }
    count
}

/// mNNO^k for each k: the mean over rows of the overlap divided by k.
pub fn mnno_multi(counts: &[i64], rows: usize, ks: &[usize]) -> Vec<f64> {
    let nk = ks.len();
    (0..nk)
        .map(|c| {
            let total: i64 = (0..rows).map(|r| counts[r * nk + c]).sum();
            total as f64 / (ks[c] as f64 * rows as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_hand_example() {
        // row 0: {1,2,3} vs {3,2,9}: k=1 -> 0, k=2 -> 1 ({2}? no: {1,2} vs {3,2} -> 1), k=3 -> 2
        let a = [1, 2, 3, 0, 5, 6];
        let b = [3, 2, 9, 0, 6, 5];
        let c = overlap_counts(&a, &b, 2, 3, &[1, 2, 3]).unwrap();
        assert_eq!(c, vec![0, 1, 2, 1, 1, 3]);
        let m = mnno_multi(&c, 2, &[1, 2, 3]);
        assert_eq!(m, vec![0.5, 0.5, 5.0 / 6.0]);
    }

    #[test]
    fn long_lists_use_sorted_path() {
        let a: Vec<i64> = (0..100).collect();
        let b: Vec<i64> = (50..150).rev().collect();
        let c = overlap_counts(&a, &b, 1, 100, &[100, 40]).unwrap();
        // first 40 of b are 149..110: none in 0..40
        assert_eq!(c, vec![50, 0]);
    }

    #[test]
    fn rejects_bad_k() {
        assert!(overlap_counts(&[1, 2], &[1, 2], 1, 2, &[3]).is_err());
        assert!(overlap_counts(&[1, 2], &[1, 2], 1, 2, &[0]).is_err());
    }
}
