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
    let narrow = n < u32::MAX as usize;
    let lists = Lists {
        ia,
        ib,
        kmax,
        k,
        narrow,
    };
    // For entry (i, c) of B's first k: its column in A's first k, or -1 (not mutual).
    let mut pos = try_vec(n * k, -1i32, "the mutual entries")?;
    pos.par_chunks_mut(k * 256)
        .enumerate()
        .for_each(|(chunk, out)| lists.positions(chunk * 256, out));
    // Whether the reverse (j, i) of a kept pair is kept: i among j's mutual entries.
    let mut back = try_vec(n * k, false, "the reverse pairs")?;
    back.par_chunks_mut(k * 256)
        .enumerate()
        .for_each(|(chunk, out)| lists.reverse(&pos, chunk * 256, out));
    hsic_sums(&lists, sa, sb, &pos, &back)
}

/// Two sets' lists (`n x kmax`, row-major), of which the first `k` columns count.
struct Lists<'a> {
    ia: &'a [i64],
    ib: &'a [i64],
    kmax: usize,
    k: usize,
    /// Every entry (checked to lie in 0..n) fits in a u32 below u32::MAX: n < u32::MAX.
    narrow: bool,
}

impl Lists<'_> {
    /// `out[(i - i0) * k + c]`: the column of `ib[i][c]` in `ia[i][..k]`, or -1, for the rows
    /// `i0..` that `out` covers (whole rows).
    fn positions(&self, i0: usize, out: &mut [i32]) {
        let (kmax, k) = (self.kmax, self.k);
        for (r, orow) in out.chunks_exact_mut(k).enumerate() {
            let i = i0 + r;
            let a = &self.ia[i * kmax..i * kmax + k];
            let b = &self.ib[i * kmax..i * kmax + k];
            if k <= PAD && self.narrow {
                // A's row as u32 lanes in a fixed-width array (the padding, u32::MAX, is no
                // index): one compare per lane and a bit mask, which the compiler unrolls
                // into 32-bit vector compares even at the baseline SSE2.
                let mut row = [u32::MAX; PAD];
                row.iter_mut().zip(a).for_each(|(r, &x)| *r = x as u32);
                for (o, &j) in orow.iter_mut().zip(b) {
                    let j = j as u32;
                    let mut m = 0u32;
                    for (q, &x) in row.iter().enumerate() {
                        m |= u32::from(x == j) << q;
                    }
                    *o = if m == 0 {
                        -1
                    } else {
                        m.trailing_zeros() as i32
                    };
                }
            } else {
                for (o, &j) in orow.iter_mut().zip(b) {
                    // The first match, without an early exit; k when there is none.
                    let at = a
                        .iter()
                        .zip(0u32..)
                        .map(|(&x, q)| if x == j { q } else { k as u32 })
                        .min()
                        .unwrap_or(k as u32);
                    *o = if at as usize == k { -1 } else { at as i32 };
                }
            }
        }
    }

    /// `out[(i - i0) * k + c]`: whether the mutual pair (i, j = ib[i][c]) is mutual as (j, i),
    /// for the rows `i0..` that `out` covers (whole rows).
    fn reverse(&self, pos: &[i32], i0: usize, out: &mut [bool]) {
        let (kmax, k) = (self.kmax, self.k);
        for (r, orow) in out.chunks_exact_mut(k).enumerate() {
            let i = i0 + r;
            for (c, o) in orow.iter_mut().enumerate() {
                if pos[i * k + c] < 0 {
                    *o = false;
                    continue;
                }
                let j = self.ib[i * kmax + c] as usize;
                let (jb, jp) = (&self.ib[j * kmax..j * kmax + k], &pos[j * k..(j + 1) * k]);
                *o = jb
                    .iter()
                    .zip(jp)
                    .fold(false, |acc, (&x, &p)| acc | ((x == i as i64) & (p >= 0)));
            }
        }
    }
}

/// Lists of at most this many columns take the fixed-width path of [`Lists::positions`].
const PAD: usize = 16;

/// The masked HSIC from the mutual positions and reverse flags (sums in row order, f64).
fn hsic_sums(l: &Lists<'_>, sa: &[f64], sb: &[f64], pos: &[i32], back: &[bool]) -> Result<f64> {
    let (kmax, k) = (l.kmax, l.k);
    let n = l.ia.len() / kmax;
    let (mut t1, mut sk, mut sl) = (0.0f64, 0.0f64, 0.0f64);
    let mut colsum_k = try_vec(n, 0.0f64, "the column sums")?;
    let mut rowsum_l = try_vec(n, 0.0f64, "the row sums")?;
    for i in 0..n {
        for c in 0..k {
            let at = pos[i * k + c];
            if at < 0 {
                continue;
            }
            let j = l.ib[i * kmax + c] as usize;
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

/// What [`pair_stats`] returns for one pair of sets: how many items share 0, 1, ..., k of
/// their first k neighbours (`hist`, k + 1 counts: every measure of the overlaps o_i follows
/// from it), and the masked HSIC of [`masked_hsic`] when scores were given.
#[derive(Debug, Clone, PartialEq)]
pub struct PairStats {
    pub hist: Vec<u64>,
    pub hsic: Option<f64>,
}

/// [`PairStats`] of many pairs `(a, b)` of `m` sets' lists at once (`lists[s]` is `n x kmax`;
/// `scores[s]` its scores, or none), in parallel over the pairs: `compare_many`'s whole
/// matrix of the list measures and CKNNA in one call. The same sums as [`masked_hsic`] (bit
/// for bit) and the overlaps of [`crate::overlap_counts`].
///
/// Errors: lists of different shapes, a set index or an entry out of range, k of 0 or beyond
/// `kmax`, scores for some sets but not all, n < 4 with scores.
pub fn pair_stats(
    lists: &[&[i64]],
    scores: &[&[f64]],
    kmax: usize,
    k: usize,
    pairs: &[(usize, usize)],
) -> Result<Vec<PairStats>> {
    let len = lists.first().map_or(0, |l| l.len());
    let n = len.checked_div(kmax).unwrap_or(0);
    if lists.iter().any(|l| l.len() != len) || n * kmax != len {
        return Err(invalid!(
            "every set's list must be n x kmax with kmax = {kmax} and one n"
        ));
    }
    if !scores.is_empty() && (scores.len() != lists.len() || scores.iter().any(|s| s.len() != len))
    {
        return Err(invalid!(
            "scores must be given for every set, each n x kmax, or for none"
        ));
    }
    if k == 0 || k > kmax {
        return Err(invalid!(
            "k must satisfy 1 <= k <= {kmax} (the lists' width), got {k}"
        ));
    }
    if !scores.is_empty() && n < 4 {
        return Err(invalid!("the masked HSIC needs n >= 4 items, got n = {n}"));
    }
    for (s, l) in lists.iter().enumerate() {
        if let Some(t) = l.iter().position(|&v| v < 0 || v as u64 >= n as u64) {
            return Err(invalid!(
                "set {s}'s list of row {} names row {}, outside 0..{n}",
                t / kmax,
                l[t]
            ));
        }
    }
    if let Some(&(a, b)) = pairs
        .iter()
        .find(|&&(a, b)| a >= lists.len() || b >= lists.len())
    {
        return Err(invalid!(
            "pair ({a}, {b}) names a set outside 0..{}",
            lists.len()
        ));
    }
    pairs
        .par_iter()
        .map(|&(a, b)| {
            let l = Lists {
                ia: lists[a],
                ib: lists[b],
                kmax,
                k,
                narrow: n < u32::MAX as usize,
            };
            let mut pos = try_vec(n * k, -1i32, "the mutual entries")?;
            l.positions(0, &mut pos);
            let mut hist = vec![0u64; k + 1];
            for row in pos.chunks_exact(k) {
                hist[row.iter().filter(|&&p| p >= 0).count()] += 1;
            }
            let hsic = if scores.is_empty() {
                None
            } else {
                let mut back = try_vec(n * k, false, "the reverse pairs")?;
                l.reverse(&pos, 0, &mut back);
                Some(hsic_sums(&l, scores[a], scores[b], &pos, &back)?)
            };
            Ok(PairStats { hist, hsic })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batched pair statistics equal the single calls: histograms of the overlaps and
    /// the masked HSIC bit for bit, for every ordered pair of three sets.
    #[test]
    fn pair_stats_equal_single_calls() {
        let (n, kmax, k) = (40usize, 6usize, 4usize);
        let mut seed = 5u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let mut lists = Vec::new();
        let mut scores = Vec::new();
        for _ in 0..3 {
            let mut l = Vec::new();
            for i in 0..n {
                let mut row: Vec<i64> = Vec::new();
                while row.len() < kmax {
                    let j = (next() % n as u64) as i64;
                    if j != i as i64 && !row.contains(&j) {
                        row.push(j);
                    }
                }
                l.extend(row);
            }
            lists.push(l);
            scores.push(
                (0..n * kmax)
                    .map(|_| (next() % 1000) as f64 / 1000.0)
                    .collect::<Vec<_>>(),
            );
        }
        let ls: Vec<&[i64]> = lists.iter().map(|v| v.as_slice()).collect();
        let ss: Vec<&[f64]> = scores.iter().map(|v| v.as_slice()).collect();
        let pairs: Vec<(usize, usize)> = (0..3).flat_map(|a| (0..3).map(move |b| (a, b))).collect();
        let got = pair_stats(&ls, &ss, kmax, k, &pairs).unwrap();
        for (&(a, b), st) in pairs.iter().zip(&got) {
            let want = masked_hsic(ls[a], ss[a], ls[b], ss[b], kmax, k).unwrap();
            assert_eq!(st.hsic, Some(want), "({a}, {b})");
            let mut hist = vec![0u64; k + 1];
            for i in 0..n {
                let o = (0..k)
                    .filter(|&c| ls[a][i * kmax..i * kmax + k].contains(&ls[b][i * kmax + c]))
                    .count();
                hist[o] += 1;
            }
            assert_eq!(st.hist, hist, "({a}, {b})");
            if a == b {
                assert_eq!(st.hist[k], n as u64);
            }
        }
        assert!(pair_stats(&ls, &[], kmax, k, &pairs).unwrap()[1]
            .hsic
            .is_none());
        assert!(pair_stats(&ls, &ss, kmax, k, &[(0, 3)]).is_err());
        assert!(pair_stats(&ls, &ss[..2], kmax, k, &pairs).is_err());
        assert!(pair_stats(&ls, &ss, kmax, 0, &pairs).is_err());
    }

    /// The list matching of every k, on the fixed-width path (k <= 16, narrow entries) and
    /// the general one, against a brute-force search: positions and reciprocal flags.
    #[test]
    fn positions_and_reverse_equal_brute_force_on_both_paths() {
        let (n, kmax) = (60usize, 24usize);
        let mut seed = 9u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let mut rows = |near: u64| -> Vec<i64> {
            let mut l = Vec::new();
            for i in 0..n {
                let mut row: Vec<i64> = Vec::new();
                while row.len() < kmax {
                    // neighbours near i, so that many entries match and are reciprocal
                    let j = ((i as u64 + n as u64 + next() % (2 * near + 1)) - near) as usize % n;
                    if j != i && !row.contains(&(j as i64)) {
                        row.push(j as i64);
                    }
                }
                l.extend(row);
            }
            l
        };
        let (ia, ib) = (rows(12), rows(12));
        for k in [1, 4, 10, 16, 17, 24] {
            for narrow in [true, false] {
                let l = Lists {
                    ia: &ia,
                    ib: &ib,
                    kmax,
                    k,
                    narrow,
                };
                let mut pos = vec![-2i32; n * k];
                l.positions(0, &mut pos);
                let mut back = vec![true; n * k];
                l.reverse(&pos, 0, &mut back);
                let a_row = |i: usize| &ia[i * kmax..i * kmax + k];
                let b_row = |i: usize| &ib[i * kmax..i * kmax + k];
                let mutual = |i: usize, j: i64| a_row(i).contains(&j) && b_row(i).contains(&j);
                let mut hits = 0;
                for i in 0..n {
                    for c in 0..k {
                        let j = ib[i * kmax + c];
                        let want = a_row(i)
                            .iter()
                            .position(|&x| x == j)
                            .map_or(-1, |p| p as i32);
                        assert_eq!(pos[i * k + c], want, "k={k} narrow={narrow} ({i}, {c})");
                        let rec = want >= 0 && mutual(j as usize, i as i64);
                        assert_eq!(back[i * k + c], rec, "k={k} narrow={narrow} ({i}, {c})");
                        hits += usize::from(rec);
                    }
                }
                assert!(
                    k < 10 || hits > 0,
                    "k={k}: the data should hold reciprocal pairs"
                );
            }
        }
    }

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
