//! Per-row top-k under the contract's order: larger key first, on equal keys the lower index.
//!
//! Each row keeps its k best candidates as a binary heap whose root is the *worst* of them, so
//! a candidate is rejected with one comparison against the root, which is what happens to
//! almost every candidate once the rows have filled; for large k, rows buffer candidates and
//! select in batches instead (see [`BUFFER_FROM_K`]). The order is total (key, then index), so
//! the final result does not depend on the order candidates arrive in: any tiling, thread count
//! or merge order gives the same lists.

use crate::error::{checked_len, try_vec, Result};
use crate::matrix::Real;

/// `true` when candidate `(ka, ia)` ranks strictly before `(kb, ib)`.
#[inline(always)]
pub fn better<T: Real>(ka: T, ia: u32, kb: T, ib: u32) -> bool {
    ka > kb || (ka == kb && ia < ib)
}

/// From this k on, rows buffer candidates and select in batches instead of keeping a heap.
///
/// A heap pays a sift of `log2 k` scattered steps per accepted candidate; with k in the
/// hundreds a row's heap no longer sits in L1 and rows accept thousands of candidates each
/// (about `k ln(n / k)` in random order). A buffer of `2 k` takes a candidate with one store;
/// when it is full, one selection (`select_nth_unstable`, linear) keeps the k best and raises
/// the row's threshold to the k-th of them. Between selections the threshold is stale (lower
/// than the true k-th best), which only lets a few more candidates into the buffer.
pub const BUFFER_FROM_K: usize = 200;

/// The k best candidates of each of `rows` rows.
#[derive(Debug, Clone)]
pub struct TopK<T: Real> {
    k: usize,
    /// Slots per row: k for a heap, 2k for a buffer.
    cap: usize,
    buffered: bool,
    keys: Vec<T>,
    idx: Vec<u32>,
    len: Vec<u32>,
    /// Buffered rows: the k-th best key at the last selection (`-inf` before the first).
    thr: Vec<T>,
    scratch: Vec<(T::RankBits, T)>,
}

/// One integer per candidate that sorts as [`rank_cmp`]: smaller = better (larger key, then
/// lower index). Selections and sorts of buffered rows compare these instead of `(key,
/// index)` pairs (one integer compare, no branches on float ties): 40 % of a k = 1000
/// self-join went to those comparisons.
#[inline(always)]
fn rank_bits<T: Real>(key: T, index: u32) -> T::RankBits {
    key.rank_bits(index)
}
impl<T: Real> TopK<T> {
    pub fn new(rows: usize, k: usize) -> Self {
        Self::try_new(rows, k).expect("top-k allocation")
    }

    /// A top-k of `rows` rows, or [`crate::Error::OutOfMemory`] when it does not fit.
    pub fn try_new(rows: usize, k: usize) -> Result<Self> {
        Self::with_mode(rows, k, k >= BUFFER_FROM_K)
    }

    fn with_mode(rows: usize, k: usize, buffered: bool) -> Result<Self> {
        let what = "the top-k lists";
        let cap = if buffered { 2 * k } else { k };
        let len = checked_len(rows, cap, std::mem::size_of::<T>() + 4, what)?;
        Ok(Self {
            k,
            cap,
            buffered,
            keys: try_vec(len, T::NEG_INFINITY, what)?,
            idx: try_vec(len, u32::MAX, what)?,
            len: try_vec(rows, 0, what)?,
            thr: if buffered {
                try_vec(rows, T::NEG_INFINITY, what)?
            } else {
                Vec::new()
            },
            scratch: Vec::new(),
        })
    }

    pub fn rows(&self) -> usize {
        self.len.len()
    }

    pub fn k(&self) -> usize {
        self.k
    }

    /// The key a candidate must reach to be considered for `row`: a key no better than the
    /// row's k-th best so far (exactly that for a heap), or minus infinity while the row holds
    /// fewer than k candidates. A candidate with a smaller key can be rejected without looking
    /// at its index.
    #[inline(always)]
    pub fn threshold(&self, row: usize) -> T {
        if self.buffered {
            self.thr[row]
        } else if (self.len[row] as usize) < self.k {
            T::NEG_INFINITY
        } else {
            self.keys[row * self.k]
        }
    }

    /// Offers candidate `(key, index)` to `row`; keeps it if it may be among the k best.
    #[inline]
    pub fn push(&mut self, row: usize, key: T, index: u32) {
        if self.k == 0 {
            return;
        }
        if self.buffered {
            if key < self.thr[row] {
                return;
            }
            let len = self.len[row] as usize;
            let at = row * self.cap + len;
            self.keys[at] = key;
            self.idx[at] = index;
            self.len[row] += 1;
            if len + 1 == self.cap {
                self.select(row);
            }
            return;
        }
        self.heap_push(row, key, index);
    }

    /// Buffered rows: keeps the k best of the row's buffer and raises its threshold.
    fn select(&mut self, row: usize) {
        let (k, base, len) = (self.k, row * self.cap, self.len[row] as usize);
        if len <= k {
            return;
        }
        let keys = &mut self.keys[base..base + len];
        let idx = &mut self.idx[base..base + len];
        self.scratch.clear();
        self.scratch.extend(
            keys.iter()
                .zip(idx.iter())
                .map(|(&kk, &ii)| (rank_bits(kk, ii), kk)),
        );
        self.scratch.select_nth_unstable_by_key(k - 1, |p| p.0);
        for (c, &(bits, kk)) in self.scratch[..k].iter().enumerate() {
            keys[c] = kk;
            idx[c] = T::rank_index(bits);
        }
        self.thr[row] = self.scratch[k - 1].1;
        self.len[row] = k as u32;
    }

    fn heap_push(&mut self, row: usize, key: T, index: u32) {
        let k = self.k;
        let base = row * k;
        let len = self.len[row] as usize;
        let keys = &mut self.keys[base..base + k];
        let idx = &mut self.idx[base..base + k];
        if len < k {
            // Sift up from the end: the root is the worst candidate.
            let mut pos = len;
            while pos > 0 {
                let parent = (pos - 1) / 2;
                if better(keys[parent], idx[parent], key, index) {
                    keys[pos] = keys[parent];
                    idx[pos] = idx[parent];
                    pos = parent;
                } else {
                    break;
                }
            }
            keys[pos] = key;
            idx[pos] = index;
            self.len[row] += 1;
            return;
        }
        if !better(key, index, keys[0], idx[0]) {
            return;
        }
        // Replace the root and sift down.
        let mut pos = 0;
        loop {
            let left = 2 * pos + 1;
            if left >= k {
                break;
            }
            let right = left + 1;
            let mut worst = left;
            if right < k && better(keys[left], idx[left], keys[right], idx[right]) {
                worst = right;
            }
            if better(key, index, keys[worst], idx[worst]) {
                keys[pos] = keys[worst];
                idx[pos] = idx[worst];
                pos = worst;
            } else {
                break;
            }
        }
        keys[pos] = key;
        idx[pos] = index;
    }

    /// Number of candidates `row` holds, at most k (k once it has seen at least k).
    pub fn filled(&self, row: usize) -> usize {
        (self.len[row] as usize).min(self.k)
    }

    /// The rows' candidates sorted best first: `(keys, indices)`, each `rows * k` long.
    /// Rows that saw fewer than k candidates are padded with `(-inf, u32::MAX)`.
    pub fn into_sorted(self) -> (Vec<T>, Vec<u32>) {
        let (k, cap, rows) = (self.k, self.cap, self.rows());
        let mut keys = vec![T::NEG_INFINITY; rows * k];
        let mut idx = vec![u32::MAX; rows * k];
        if k > 0 {
            let mut pairs: Vec<(T::RankBits, T)> = Vec::with_capacity(cap);
            for r in 0..rows {
                let len = self.len[r] as usize;
                pairs.clear();
                pairs.extend(
                    self.keys[r * cap..r * cap + len]
                        .iter()
                        .zip(&self.idx[r * cap..r * cap + len])
                        .map(|(&kk, &ii)| (rank_bits(kk, ii), kk)),
                );
                pairs.sort_unstable_by_key(|p| p.0);
                for (c, &(bits, kk)) in pairs.iter().take(k).enumerate() {
                    keys[r * k + c] = kk;
                    idx[r * k + c] = T::rank_index(bits);
                }
            }
        }
        (keys, idx)
    }
}

/// Total order of candidates, best first.
#[inline]
pub fn rank_cmp<T: Real>(a: (T, u32), b: (T, u32)) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if better(a.0, a.1, b.0, b.1) {
        Ordering::Less
    } else if better(b.0, b.1, a.0, a.1) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// Merges two best-first candidate lists of one row into the best `k` of their union, under
/// the same order. This is how partial results over disjoint base blocks combine (a block of
/// base rows on one machine, another block on another). Each list must be sorted best first;
/// padding entries (`u32::MAX`) sort last and are dropped when real candidates suffice.
pub fn merge_sorted<T: Real>(
    a_keys: &[T],
    a_idx: &[u32],
    b_keys: &[T],
    b_idx: &[u32],
    k: usize,
    out_keys: &mut Vec<T>,
    out_idx: &mut Vec<u32>,
) {
    let (mut i, mut j) = (0, 0);
    out_keys.clear();
    out_idx.clear();
    while out_keys.len() < k && (i < a_keys.len() || j < b_keys.len()) {
        let take_a = j >= b_keys.len()
            || (i < a_keys.len() && !better(b_keys[j], b_idx[j], a_keys[i], a_idx[i]));
        if take_a {
            out_keys.push(a_keys[i]);
            out_idx.push(a_idx[i]);
            i += 1;
        } else {
            out_keys.push(b_keys[j]);
            out_idx.push(b_idx[j]);
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(cands: &[(f32, u32)], k: usize) -> Vec<(f32, u32)> {
        let mut v = cands.to_vec();
        v.sort_by(|a, b| rank_cmp(*a, *b));
        v.truncate(k);
        v
    }

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn heap_matches_sort_with_many_ties() {
        let mut seed = 7;
        for k in [1usize, 2, 3, 5, 8, 17] {
            for _ in 0..50 {
                let n = (lcg(&mut seed) % 60) as usize + k;
                // Keys from a tiny set so that ties are everywhere; indices in random order.
                let mut cands: Vec<(f32, u32)> = (0..n as u32)
                    .map(|j| ((lcg(&mut seed) % 4) as f32, j))
                    .collect();
                for i in (1..cands.len()).rev() {
                    let r = (lcg(&mut seed) % (i as u64 + 1)) as usize;
                    cands.swap(i, r);
                }
                let mut t = TopK::<f32>::new(1, k);
                for &(s, j) in &cands {
                    t.push(0, s, j);
                }
                let (keys, idx) = t.into_sorted();
                let got: Vec<(f32, u32)> = keys.into_iter().zip(idx).collect();
                assert_eq!(got, brute(&cands, k));
            }
        }
    }

    #[test]
    fn rank_bits_sort_as_rank_cmp() {
        let keys = [
            f64::NEG_INFINITY,
            -3.5,
            -1e-300,
            -0.0,
            0.0,
            1e-300,
            2.0,
            f64::INFINITY,
        ];
        let mut cands = Vec::new();
        for (t, &kk) in keys.iter().enumerate() {
            for i in [7u32, 0, 3] {
                cands.push((kk, i + t as u32 % 2));
                cands.push(((kk as f32) as f64, i));
            }
        }
        for a in &cands {
            for b in &cands {
                let want = rank_cmp(*a, *b);
                assert_eq!(
                    rank_bits(a.0, a.1).cmp(&rank_bits(b.0, b.1)),
                    want,
                    "{a:?} {b:?}"
                );
                let (a32, b32) = ((a.0 as f32, a.1), (b.0 as f32, b.1));
                let want32 = rank_cmp(a32, b32);
                assert_eq!(
                    rank_bits(a32.0, a32.1).cmp(&rank_bits(b32.0, b32.1)),
                    want32
                );
            }
        }
    }

    #[test]
    fn buffered_rows_equal_heap_rows_with_many_ties() {
        let mut seed = 17;
        for k in [1usize, 2, 5, 64, 100, 250] {
            for _ in 0..20 {
                let n = (lcg(&mut seed) % 1500) as usize + 1;
                let mut heap = TopK::<f32>::with_mode(2, k, false).unwrap();
                let mut buf = TopK::<f32>::with_mode(2, k, true).unwrap();
                let mut all = Vec::new();
                for j in 0..n as u32 {
                    // negative and positive keys, and zeros of both signs (equal keys)
                    let mut key = (lcg(&mut seed) % 9) as f32 - 4.0;
                    if key == 0.0 && lcg(&mut seed).is_multiple_of(2) {
                        key = -0.0;
                    }
                    let row = (lcg(&mut seed) % 2) as usize;
                    // offer only what passes the threshold, as the kernel does
                    if key >= heap.threshold(row) {
                        heap.push(row, key, j);
                    }
                    if key >= buf.threshold(row) {
                        buf.push(row, key, j);
                    }
                    all.push((row, key, j));
                }
                let (bk, bi) = buf.clone().into_sorted();
                assert_eq!(heap.into_sorted(), (bk.clone(), bi.clone()));
                for row in 0..2 {
                    let cands: Vec<(f32, u32)> = all
                        .iter()
                        .filter(|c| c.0 == row)
                        .map(|c| (c.1, c.2))
                        .collect();
                    let want = brute(&cands, k);
                    let got: Vec<(f32, u32)> = bk[row * k..(row + 1) * k]
                        .iter()
                        .copied()
                        .zip(bi[row * k..(row + 1) * k].iter().copied())
                        .take(want.len())
                        .collect();
                    assert_eq!(got, want);
                    assert_eq!(buf.filled(row), want.len());
                }
            }
        }
    }

    #[test]
    fn ties_keep_the_lower_index_and_threshold_tracks_the_worst() {
        let mut t = TopK::<f32>::new(1, 2);
        assert_eq!(t.threshold(0), f32::NEG_INFINITY);
        for (s, j) in [(1.0, 13), (1.0, 11), (0.5, 10), (1.0, 12)] {
            t.push(0, s, j);
        }
        assert_eq!(t.threshold(0), 1.0);
        let (keys, idx) = t.into_sorted();
        assert_eq!(idx, vec![11, 12]);
        assert_eq!(keys, vec![1.0, 1.0]);
    }

    #[test]
    fn merge_equals_topk_of_union() {
        let mut seed = 3;
        for _ in 0..200 {
            let k = (lcg(&mut seed) % 6) as usize + 1;
            let a: Vec<(f32, u32)> = (0..k as u32)
                .map(|j| ((lcg(&mut seed) % 3) as f32, 2 * j))
                .collect();
            let b: Vec<(f32, u32)> = (0..k as u32)
                .map(|j| ((lcg(&mut seed) % 3) as f32, 2 * j + 1))
                .collect();
            let (sa, sb) = (brute(&a, k), brute(&b, k));
            let (mut ok, mut oi) = (Vec::new(), Vec::new());
            let ak: Vec<f32> = sa.iter().map(|p| p.0).collect();
            let ai: Vec<u32> = sa.iter().map(|p| p.1).collect();
            let bk: Vec<f32> = sb.iter().map(|p| p.0).collect();
            let bi: Vec<u32> = sb.iter().map(|p| p.1).collect();
            merge_sorted(&ak, &ai, &bk, &bi, k, &mut ok, &mut oi);
            let all: Vec<(f32, u32)> = a.iter().chain(b.iter()).copied().collect();
            let want = brute(&all, k);
            let got: Vec<(f32, u32)> = ok.into_iter().zip(oi).collect();
            assert_eq!(got, want);
        }
    }
}
