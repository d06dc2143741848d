//! Look-ups in neighbour lists, the one primitive of the list-based measures: where (in which
//! column) a given item sits in a given row's list. Pure loops over `k`-long rows, in parallel;
//! O(entries * k) work, no allocation beyond the output. And CKNNA's masked HSIC, the one
//! list measure with more than counting to do, in one pass (the numpy version took a dozen).
//!
//! Both run on the current rayon pool: callers install one of [`crate::pool`] (never the
//! global pool, which does not survive a fork).

use rayon::prelude::*;

use crate::error::{invalid, try_vec, Result};

/// For each entry t: the column of `values[t]` in row `rows[t]` of `lists` (`n x k`,
/// row-major), or -1 when it is not there (the first match when a row repeats a value).
///
/// Errors: `rows` and `values` of different lengths, a row index outside `0..n`.
pub fn find_in_rows(lists: &[i64], k: usize, rows: &[i64], values: &[i64]) -> Result<Vec<i64>> {
    if rows.len() != values.len() {
        return Err(invalid!(
            "rows and values must have the same length, got {} and {}",
            rows.len(),
            values.len()
        ));
    }
    let n = lists.len().checked_div(k).unwrap_or(0);
    if n * k != lists.len() {
        return Err(invalid!(
            "lists hold {} entries, not a multiple of k = {k}",
            lists.len()
        ));
    }
    if let Some(t) = rows.iter().position(|&r| r < 0 || r as u64 >= n as u64) {
        return Err(invalid!(
            "entry {t} names row {}, outside 0..{n} (the rows of the lists)",
            rows[t]
        ));
    }
    let mut out = try_vec(rows.len(), -1i64, "the look-up results")?;
    out.par_chunks_mut(4096)
        .zip(rows.par_chunks(4096).zip(values.par_chunks(4096)))
        .for_each(|(o, (r, v))| {
            for ((o, &r), &v) in o.iter_mut().zip(r).zip(v) {
                let row = &lists[r as usize * k..(r as usize + 1) * k];
                if let Some(c) = row.iter().position(|&x| x == v) {
                    *o = c as i64;
                }
            }
        });
    Ok(out)
}

/// platonic-rep's unbiased HSIC of two kernels K and L kept only on the *mutual* top-k pairs
/// (i, j): j among the first `k` of both `ia[i]` and `ib[i]` (`n x kmax` lists, row-major).
/// K_ij is A's score of the pair (from `sa`, at j's column in A's list), L_ij B's (from `sb`);
/// every other entry and the diagonal are zero. CKNNA is `hsic(A, B) / sqrt(hsic(A, A)
/// hsic(B, B))` (see `measures.md`). O(n k^2) look-ups in parallel, then the sums in row order
/// in f64 (deterministic for any thread count):
///
/// `(t1 + sk sl / ((n-1)(n-2)) - 2 t3 / (n-2)) / (n (n-3))` with t1 = sum of K_ij L_ij over
/// kept pairs whose reverse (j, i) is kept too, sk and sl the sums of K and L, and t3 the dot
/// product of K's column sums with L's row sums.
///
/// Errors: lists of unequal or ragged shapes, `k` of 0 or beyond `kmax`, an entry outside
/// `0..n`, or n < 4 (the estimator divides by n - 3).
pub fn masked_hsic(
    ia: &[i64],
    sa: &[f64],
    ib: &[i64],
    sb: &[f64],
    kmax: usize,
    k: usize,
) -> Result<f64> {
    let n = ia.len().checked_div(kmax).unwrap_or(0);
    if ia.len() != n * kmax || ib.len() != ia.len() || sa.len() != ia.len() || sb.len() != ia.len()
    {
        return Err(invalid!(
            "both lists and both score arrays must be n x kmax with kmax = {kmax}; got \
             {}, {}, {} and {} entries",
            ia.len(),
            sa.len(),
            ib.len(),
            sb.len()
        ));
    }
    if k == 0 || k > kmax {
        return Err(invalid!(
            "k must satisfy 1 <= k <= {kmax} (the lists' width), got {k}"
        ));
    }
    if n < 4 {
        return Err(invalid!("the masked HSIC needs n >= 4 items, got n = {n}"));
    }
    for (name, l) in [("A", ia), ("B", ib)] {
        if let Some(t) = l.iter().position(|&v| v < 0 || v as u64 >= n as u64) {
            return Err(invalid!(
                "{name}'s list of row {} names row {}, outside 0..{n}",
                t / kmax,
                l[t]
            ));
        }
    }
    let row = |i: usize| -> std::ops::Range<usize> { i * kmax..i * kmax + k };
    // For entry (i, c) of B's first k: its column in A's first k, or -1 (not mutual).
    let mut pos = try_vec(n * k, -1i32, "the mutual entries")?;
    pos.par_chunks_mut(k * 256)
        .enumerate()
        .for_each(|(chunk, out)| {
            for (t, o) in out.iter_mut().enumerate() {
                let (i, c) = ((chunk * 256) + t / k, t % k);
                let j = ib[i * kmax + c];
                if let Some(at) = ia[row(i)].iter().position(|&x| x == j) {
                    *o = at as i32;
                }
            }
        });
    // Whether the reverse (j, i) of a kept pair is kept: i among j's mutual entries.
    let mut back = try_vec(n * k, false, "the reverse pairs")?;
    back.par_chunks_mut(k * 256)
        .enumerate()
        .for_each(|(chunk, out)| {
            for (t, o) in out.iter_mut().enumerate() {
                let (i, c) = ((chunk * 256) + t / k, t % k);
                if pos[i * k + c] < 0 {
                    continue;
                }
                let j = ib[i * kmax + c] as usize;
                let jb = &ib[row(j)];
                *o = (0..k).any(|c2| jb[c2] == i as i64 && pos[j * k + c2] >= 0);
            }
        });
    let (mut t1, mut sk, mut sl) = (0.0f64, 0.0f64, 0.0f64);
    let mut colsum_k = try_vec(n, 0.0f64, "the column sums")?;
    let mut rowsum_l = try_vec(n, 0.0f64, "the row sums")?;
    for i in 0..n {
        for c in 0..k {
            let at = pos[i * k + c];
            if at < 0 {
                continue;
            }
            let j = ib[i * kmax + c] as usize;
            let (kv, lv) = (sa[i * kmax + at as usize], sb[i * kmax + c]);
            if back[i * k + c] {
                t1 += kv * lv;
            }
            sk += kv;
            sl += lv;
            colsum_k[j] += kv;
            rowsum_l[i] += lv;
        }
    }
    let t3: f64 = colsum_k.iter().zip(&rowsum_l).map(|(a, b)| a * b).sum();
    let nf = n as f64;
    Ok((t1 + sk * sl / ((nf - 1.0) * (nf - 2.0)) - 2.0 * t3 / (nf - 2.0)) / (nf * (nf - 3.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The masked HSIC of tiny lists against the formula written out by hand: rows 0 and 1
    /// are mutual neighbours in both lists; row 2's entry is mutual but not reciprocal.
    #[test]
    fn masked_hsic_matches_the_formula_by_hand() {
        // n = 5, k = 1: A's lists, B's lists (row i's first neighbour).
        let ia = [1, 0, 0, 4, 3];
        let ib = [1, 0, 0, 2, 0];
        let sa = [0.5, 0.5, 0.25, 0.75, 0.75];
        let sb = [0.4, 0.4, 0.2, 0.9, 0.1];
        // kept (mutual) pairs: (0,1) K .5 L .4; (1,0) K .5 L .4; (2,0) K .25 L .2
        // reciprocal among kept: (0,1) and (1,0): t1 = 2 * .5 * .4 = .4
        let (t1, sk, sl) = (0.4, 1.25, 1.0);
        // column sums of K: col 1: .5, col 0: .5 + .25; row sums of L: row 0 .4, row 1 .4, row 2 .2
        let t3 = 0.75 * 0.4 + 0.5 * 0.4;
        let n = 5.0;
        let want =
            (t1 + sk * sl / ((n - 1.0) * (n - 2.0)) - 2.0 * t3 / (n - 2.0)) / (n * (n - 3.0));
        let got = masked_hsic(&ia, &sa, &ib, &sb, 1, 1).unwrap();
        assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        assert!(masked_hsic(&ia, &sa, &ib, &sb, 1, 2).is_err());
        let four = [1, 0, 3, 2];
        assert!(masked_hsic(&four, &sa[..4], &four, &sb[..4], 1, 1).is_ok());
        assert!(masked_hsic(&ia[..3], &sa[..3], &ib[..3], &sb[..3], 1, 1).is_err());
        let bad = [1, 0, 0, 4, 7];
        assert!(masked_hsic(&bad, &sa, &ib, &sb, 1, 1).is_err());
    }

    #[test]
    fn finds_columns_and_reports_misses() {
        let lists = [3, 1, 2, 0, 2, 1];
        let got = find_in_rows(&lists, 3, &[0, 0, 1, 1], &[2, 0, 0, 5]).unwrap();
        assert_eq!(got, vec![2, -1, 0, -1]);
        assert!(find_in_rows(&lists, 3, &[2], &[0]).is_err());
        assert!(find_in_rows(&lists, 3, &[0], &[]).is_err());
        assert!(find_in_rows(&lists, 4, &[0], &[0]).is_err());
    }
}
