//! The rank-count pass: what the measures beyond the top-k lists need (trustworthiness,
//! continuity, MRRE), with exactly the arithmetic of [`knn_self`](super::knn_self).
//!
//! [`rank_counts`] answers, for each item i and each of up to m *chosen* candidates j,
//! r(i, j) = 1 + #{l not in {i, j} : l beats j for i} (better key, or equal key and l < j), in
//! one more sweep over the tiles of the self-join: the same rounds of disjoint block pairs, the
//! same packed panels, the same register tile of keys, compared in the micro-kernel
//! ([`crate::kernel::count`]) with each row's and each column's chosen keys. Each pair of rows
//! is computed once and counts for both. Memory is O(n m) plus the packed blocks.
//! The chosen keys come from [`Prepared::pair_key`], the kernel's key of a pair, bit for bit,
//! so that a chosen candidate never counts as beating itself.

use std::sync::Mutex;

use rayon::prelude::*;

use super::{
    alloc_output, assemble, auto_block, block_for, block_range, block_tops, check_rows,
    check_self_k, into_inner, join_rounds, lock, run_tile, KnnOptions, Neighbors, PackCache,
};
use crate::control::Control;
use crate::error::{invalid, try_vec, Result};
use crate::kernel::count::{CountArgs, CountKernel, Side};
use crate::kernel::{CosineKey, DotKey, L2Key, Sink, Tile, COL_SIDE, ROW_SIDE};
use crate::matrix::{Matrix, Real};
use crate::metric::Metric;
use crate::pool;
use crate::prep::{PairKeyBufs, Params, Prepared};
use crate::topk::TopK;

fn check_index(v: i64, n: usize, row: usize) -> Result<usize> {
    if v < 0 || v as u64 >= n as u64 {
        return Err(invalid!(
            "chosen entry of row {row} names row {v}, outside 0..{n} (the rows of the set)"
        ));
    }
    Ok(v as usize)
}

/// What the rank-count pass needs besides the set and the chosen candidates.
#[derive(Debug, Clone)]
pub struct RankOptions {
    pub metric: Metric,
    pub threads: Option<usize>,
    /// Rows per block; 0 chooses automatically. Changes speed only, never the result.
    pub block: usize,
    /// Pack every block once ([`KnnOptions::pack_once`]). Changes speed only.
    pub pack_once: bool,
}

/// Each of `rows` rows' `m` slots sorted by ascending key: `(order, keys, idx)`, where
/// `order` maps a sorted slot back to its place in the input, and `keys`/`idx` are padded with
/// `+inf`/`u32::MAX` to `pad_rows` rows.
fn sorted_slots<T: Real>(
    keys: &[T],
    idx: &[u32],
    rows: usize,
    m: usize,
    pad_rows: usize,
) -> (Vec<u32>, Vec<T>, Vec<u32>) {
    let mut row_keys = vec![T::INFINITY; pad_rows * m];
    let mut row_idx = vec![u32::MAX; pad_rows * m];
    let mut order = vec![0u32; rows * m];
    for r in 0..rows {
        let o = &mut order[r * m..(r + 1) * m];
        o.iter_mut().zip(0u32..).for_each(|(v, s)| *v = s);
        // Keys are finite or +inf (empty slots): a total order here.
        o.sort_by(|&a, &b| {
            let (ka, kb) = (keys[r * m + a as usize], keys[r * m + b as usize]);
            ka.partial_cmp(&kb).unwrap_or(std::cmp::Ordering::Equal)
        });
        for (s, &from) in o.iter().enumerate() {
            row_keys[r * m + s] = keys[r * m + from as usize];
            row_idx[r * m + s] = idx[r * m + from as usize];
        }
    }
    (order, row_keys, row_idx)
}

/// One block's chosen slots, in the row layout of the tile kernel (`rows` padded to whole
/// `MR` panels, `m` slots each) and in the column layout (panel-major, `NR` lanes), with the
/// counts of each side.
struct BlockSlots<T> {
    order: Vec<u32>,
    row_keys: Vec<T>,
    row_idx: Vec<u32>,
    row_min: Vec<T>,
    row_counts: Vec<u32>,
    col_keys: Vec<T>,
    col_idx: Vec<u32>,
    col_min: Vec<T>,
    col_counts: Vec<u32>,
}

impl<T: Real> BlockSlots<T> {
    /// The slots of `rows` rows, each row's sorted by ascending key (`order` maps a sorted
    /// slot back to its place in `chosen`).
    fn new(keys: &[T], idx: &[u32], rows: usize, m: usize) -> Self {
        let (mr, nr) = (T::MR, T::NR);
        let pa = rows.div_ceil(mr) * mr;
        let pb = rows.div_ceil(nr) * nr;
        let (order, row_keys, row_idx) = sorted_slots(keys, idx, rows, m, pa);
        let mut row_min = vec![T::INFINITY; pa];
        for r in 0..rows {
            row_min[r] = row_keys[r * m];
        }
        let keys = &row_keys[..rows * m];
        let idx = &row_idx[..rows * m];
        let mut col_keys = vec![T::INFINITY; pb * m];
        let mut col_idx = vec![u32::MAX; pb * m];
        let mut col_min = vec![T::INFINITY; pb];
        for r in 0..rows {
            let (q, j) = (r / nr, r % nr);
            for s in 0..m {
                col_keys[(q * m + s) * nr + j] = keys[r * m + s];
                col_idx[(q * m + s) * nr + j] = idx[r * m + s];
            }
            col_min[r] = row_min[r];
        }
        Self {
            order,
            row_keys,
            row_idx,
            row_min,
            row_counts: vec![0; pa * m],
            col_keys,
            col_idx,
            col_min,
            col_counts: vec![0; pb * m],
        }
    }

    fn count(&self, r: usize, s: usize, m: usize) -> u32 {
        let nr = T::NR;
        let (q, j) = (r / nr, r % nr);
        self.row_counts[r * m + s] + self.col_counts[(q * m + s) * nr + j]
    }
}

fn count_tile<T: Real + CountKernel>(metric: Metric, t: &Tile<'_, T>, c: &mut CountArgs<'_, T>) {
    match metric {
        Metric::InnerProduct => T::count_tile::<DotKey>(t, c),
        Metric::Cosine => T::count_tile::<CosineKey>(t, c),
        Metric::Euclidean => T::count_tile::<L2Key>(t, c),
    }
}

/// Checks `chosen` (`n x m` row-major, entries a row index other than the row's own, or -1).
fn check_chosen(chosen: &[i64], n: usize, m: usize) -> Result<()> {
    if chosen.len() != n * m {
        return Err(invalid!(
            "chosen must hold n x m = {n} x {m} entries, got {}",
            chosen.len()
        ));
    }
    for (t, &j) in chosen.iter().enumerate() {
        if j == -1 {
            continue;
        }
        let row = t / m.max(1);
        if check_index(j, n, row)? == row {
            return Err(invalid!(
                "chosen entry of row {row} names the row itself (a rank is defined for others)"
            ));
        }
    }
    Ok(())
}

/// The chosen pairs' keys, computed as the kernel computes them (`+inf` where chosen is -1),
/// and their indices as `u32` (`u32::MAX` for none).
fn chosen_keys<T: Real>(
    prepared: &Prepared<'_, T>,
    chosen: &[i64],
    m: usize,
) -> Result<(Vec<T>, Vec<u32>)> {
    let mut keys = try_vec(chosen.len(), T::INFINITY, "the chosen keys")?;
    // Row by row: each row's pairs, consecutive, prepare the row once per group of eight.
    keys.par_chunks_mut(m.max(1)).enumerate().for_each_init(
        || (PairKeyBufs::default(), Vec::new(), Vec::new()),
        |(bufs, pairs, got), (i, out)| {
            let row = &chosen[i * m..(i + 1) * m];
            pairs.clear();
            pairs.extend(row.iter().filter(|&&j| j >= 0).map(|&j| (i, j as usize)));
            got.clear();
            got.resize(pairs.len(), T::ZERO);
            prepared.pair_keys(prepared, pairs, got, bufs);
            let slots = out.iter_mut().zip(row).filter(|(_, &j)| j >= 0);
            for ((o, _), &key) in slots.zip(got.iter()) {
                *o = key;
            }
        },
    );
    let idx = chosen
        .iter()
        .map(|&j| if j < 0 { u32::MAX } else { j as u32 })
        .collect();
    Ok((keys, idx))
}

/// Ranks r(i, j) of chosen candidates: `chosen` is `n x m` row-major, entry `(i, s)` a row
/// index j != i, or -1 for none. Returns `n x m` ranks in 1..=n-1 (0 where chosen is -1).
///
/// Errors: a chosen index out of range or equal to its own row, a wrong length,
/// `threads == Some(0)`, or cancellation.
pub fn rank_counts<T: Real + CountKernel>(
    x: Matrix<'_, T>,
    chosen: &[i64],
    m: usize,
    opts: &RankOptions,
    ctl: &Control,
) -> Result<Vec<i64>> {
    let n = x.rows();
    check_rows(n)?;
    check_chosen(chosen, n, m)?;
    if m == 0 || n == 0 {
        return Ok(vec![0; n * m]);
    }
    let metric = opts.metric;
    pool::install(opts.threads, || {
        let params = Params::for_set(&x, metric)?;
        let prepared = Prepared::new(x, &params)?;
        let block = match opts.block {
            0 => auto_block(n, rayon::current_num_threads()),
            b => b,
        };
        let nb = n.div_ceil(block);
        let (keys, idx) = chosen_keys(&prepared, chosen, m)?;
        let slots: Vec<Mutex<BlockSlots<T>>> = (0..nb)
            .map(|b| {
                let (b0, b1) = block_range(b, block, n);
                Mutex::new(BlockSlots::new(
                    &keys[b0 * m..b1 * m],
                    &idx[b0 * m..b1 * m],
                    b1 - b0,
                    m,
                ))
            })
            .collect();
        let cache = PackCache::build(Some(&prepared), Some(&prepared), block, opts.pack_once)?;
        join_rounds(nb, ctl, |bi, bj, work| {
            let (i0, i1) = block_range(bi, block, n);
            let (j0, j1) = block_range(bj, block, n);
            let (tile, ..) = work.tile(&cache, (&prepared, (i0, i1), bi), (&prepared, (j0, j1)));
            let mut si = lock(&slots[bi]);
            let si = &mut *si;
            let row_side = Side {
                keys: &si.row_keys,
                idx: &si.row_idx,
                min: &si.row_min,
                counts: &mut si.row_counts,
                first_other: j0 as u32,
            };
            if bi == bj {
                let mut args = CountArgs {
                    m,
                    rows: row_side,
                    cols: None,
                    diagonal: true,
                };
                count_tile(metric, &tile, &mut args);
            } else {
                let mut sj = lock(&slots[bj]);
                let sj = &mut *sj;
                let mut args = CountArgs {
                    m,
                    rows: row_side,
                    cols: Some(Side {
                        keys: &sj.col_keys,
                        idx: &sj.col_idx,
                        min: &sj.col_min,
                        counts: &mut sj.col_counts,
                        first_other: i0 as u32,
                    }),
                    diagonal: false,
                };
                count_tile(metric, &tile, &mut args);
            }
        })?;
        let mut out = try_vec(n * m, 0i64, "the ranks")?;
        for (b, s) in into_inner(slots).into_iter().enumerate() {
            let (b0, b1) = block_range(b, block, n);
            for r in 0..b1 - b0 {
                for k in 0..m {
                    let t = (b0 + r) * m + s.order[r * m + k] as usize;
                    if chosen[t] >= 0 {
                        out[t] = 1 + i64::from(s.count(r, k, m));
                    }
                }
            }
        }
        Ok(out)
    })?
}

/// One block's chosen slots for [`knn_self_ranked`]: each row's `m` slots by ascending key,
/// with the number of candidates seen so far that beat each.
struct RowChosen<T> {
    m: usize,
    order: Vec<u32>,
    keys: Vec<T>,
    idx: Vec<u32>,
    counts: Vec<u32>,
}

impl<T: Real> RowChosen<T> {
    fn new(keys: &[T], idx: &[u32], rows: usize, m: usize) -> Self {
        let (order, keys, idx) = sorted_slots(keys, idx, rows, m, rows);
        Self {
            m,
            order,
            keys,
            idx,
            counts: vec![0; rows * m],
        }
    }

    /// The smallest chosen key of row `r`: a candidate below it beats none of its slots.
    #[inline]
    fn min(&self, r: usize) -> T {
        if self.m == 0 {
            T::INFINITY
        } else {
            self.keys[r * self.m]
        }
    }

    /// Counts candidate `cand` with `key` against row `r`'s slots: it beats slot `(t, j)` if
    /// `key > t`, or `key == t` and `cand < j` (the contract's tie rule; `j` never beats
    /// itself).
    #[inline]
    fn count(&mut self, r: usize, key: T, cand: u32) {
        let m = self.m;
        for s in r * m..(r + 1) * m {
            let t = self.keys[s];
            if key < t {
                break; // slots ascend: the rest are out of reach too
            }
            if key > t || cand < self.idx[s] {
                self.counts[s] += 1;
            }
        }
    }
}

#[inline]
fn lower<T: Real>(a: T, b: T) -> T {
    if b < a {
        b
    } else {
        a
    }
}

/// The sink of the fused pass: candidates go to the top-k of their row (and column, in an
/// off-diagonal tile) as in the plain self-join, and are counted against the chosen slots.
/// Each side's threshold is the lower of the top-k's and the smallest chosen key, so the
/// kernel offers every candidate either may need; the top-k ignores the ones below its own.
struct RankingSink<'a, T: Real> {
    top_i: &'a mut TopK<T>,
    ch_i: &'a mut RowChosen<T>,
    /// Block J's state in an off-diagonal tile; `None` in a diagonal tile (I against itself).
    other: Option<(&'a mut TopK<T>, &'a mut RowChosen<T>)>,
    i0: u32,
    j0: u32,
}

impl<T: Real> Sink<T> for RankingSink<'_, T> {
    fn row_threshold(&self, row: usize) -> T {
        lower(self.top_i.threshold(row), self.ch_i.min(row))
    }
    fn col_threshold(&self, col: usize) -> T {
        match &self.other {
            Some((top, ch)) => lower(top.threshold(col), ch.min(col)),
            None => T::INFINITY,
        }
    }
    #[inline]
    fn offer(&mut self, row: usize, col: usize, key: T, sides: u8) -> (T, T) {
        let Self {
            top_i,
            ch_i,
            other,
            i0,
            j0,
        } = self;
        match other {
            None => {
                if row != col {
                    top_i.push(row, key, *j0 + col as u32);
                    ch_i.count(row, key, *j0 + col as u32);
                }
                (lower(top_i.threshold(row), ch_i.min(row)), T::INFINITY)
            }
            Some((top_j, ch_j)) => {
                if sides & ROW_SIDE != 0 {
                    top_i.push(row, key, *j0 + col as u32);
                    ch_i.count(row, key, *j0 + col as u32);
                }
                if sides & COL_SIDE != 0 {
                    top_j.push(col, key, *i0 + row as u32);
                    ch_j.count(col, key, *i0 + row as u32);
                }
                (
                    lower(top_i.threshold(row), ch_i.min(row)),
                    lower(top_j.threshold(col), ch_j.min(col)),
                )
            }
        }
    }
}

/// The self-join of [`knn_self`](super::knn_self) and, in the same sweep over the tiles,
/// the ranks of [`rank_counts`]: one product per pair serves both, where the two calls
/// compute it twice. Only the candidates at or above a row's smallest chosen key reach the
/// counting, so this pays off when the chosen candidates rank high (trustworthiness of a
/// good embedding: a few per cent of the pairs), and costs up to a scalar pass per pair when
/// they rank low. `opts.include_self` must be false. Results equal the two calls' bit for bit.
///
/// Errors: those of both calls.
pub fn knn_self_ranked<T: Real>(
    x: Matrix<'_, T>,
    opts: &KnnOptions,
    chosen: &[i64],
    m: usize,
    ctl: &Control,
) -> Result<(Neighbors<T>, Vec<i64>)> {
    let (n, k) = (x.rows(), opts.k);
    check_self_k(n, k)?;
    if opts.include_self {
        return Err(invalid!(
            "knn_self_ranked lists the other rows only (include_self must be false)"
        ));
    }
    check_chosen(chosen, n, m)?;
    pool::install(opts.threads, || {
        let out = alloc_output::<T>(n, k)?;
        let params = Params::for_set(&x, opts.metric)?;
        let prepared = Prepared::new(x, &params)?;
        let block = block_for(opts, n);
        let nb = n.div_ceil(block);
        let (keys, idx) = chosen_keys(&prepared, chosen, m)?;
        let tops: Vec<Mutex<TopK<T>>> = block_tops(n, block, k)?
            .into_iter()
            .map(Mutex::new)
            .collect();
        let slots: Vec<Mutex<RowChosen<T>>> = (0..nb)
            .map(|b| {
                let (b0, b1) = block_range(b, block, n);
                let (k0, k1) = (b0 * m, b1 * m);
                Mutex::new(RowChosen::new(&keys[k0..k1], &idx[k0..k1], b1 - b0, m))
            })
            .collect();
        let cache = PackCache::build(Some(&prepared), Some(&prepared), block, opts.pack_once)?;
        join_rounds(nb, ctl, |bi, bj, work| {
            let (i0, i1) = block_range(bi, block, n);
            let (j0, j1) = block_range(bj, block, n);
            let tiles = ((&prepared, (i0, i1), bi), (&prepared, (j0, j1)));
            let (mut top_i, mut ch_i) = (lock(&tops[bi]), lock(&slots[bi]));
            let (i0, j0) = (i0 as u32, j0 as u32);
            if bi == bj {
                let mut sink = RankingSink {
                    top_i: &mut top_i,
                    ch_i: &mut ch_i,
                    other: None,
                    i0,
                    j0,
                };
                run_tile(tiles.0, tiles.1, (work, &cache), &mut sink);
            } else {
                let (mut top_j, mut ch_j) = (lock(&tops[bj]), lock(&slots[bj]));
                let mut sink = RankingSink {
                    top_i: &mut top_i,
                    ch_i: &mut ch_i,
                    other: Some((&mut top_j, &mut ch_j)),
                    i0,
                    j0,
                };
                run_tile(tiles.0, tiles.1, (work, &cache), &mut sink);
            }
        })?;
        let lists = assemble(into_inner(tops), out, k, &params, None)?;
        let mut ranks = try_vec(n * m, 0i64, "the ranks")?;
        for (b, s) in into_inner(slots).into_iter().enumerate() {
            let (b0, b1) = block_range(b, block, n);
            for r in 0..b1 - b0 {
                for c in 0..m {
                    let t = (b0 + r) * m + s.order[r * m + c] as usize;
                    if chosen[t] >= 0 {
                        ranks[t] = 1 + i64::from(s.counts[r * m + c]);
                    }
                }
            }
        }
        Ok((lists, ranks))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    /// `n x m` chosen candidates: random other rows, a quarter of them -1 (none).
    fn random_chosen(n: usize, m: usize, seed: &mut u64) -> Vec<i64> {
        (0..n * m)
            .map(|t| {
                let j = (lcg(seed) % n as u64) as i64;
                if j as usize == t / m || lcg(seed).is_multiple_of(4) {
                    -1
                } else {
                    j
                }
            })
            .collect()
    }

    /// r(i, j) by brute force with exact f64 scores of small-integer data.
    fn brute_rank(x: &[f32], d: usize, metric: Metric, i: usize, j: usize) -> i64 {
        let n = x.len() / d;
        let key = |a: usize, b: usize| -> f64 {
            let (ra, rb) = (&x[a * d..(a + 1) * d], &x[b * d..(b + 1) * d]);
            match metric {
                Metric::InnerProduct => ra.iter().zip(rb).map(|(p, q)| (*p * *q) as f64).sum(),
                _ => -ra
                    .iter()
                    .zip(rb)
                    .map(|(p, q)| ((*p - *q) as f64).powi(2))
                    .sum::<f64>(),
            }
        };
        let kj = key(i, j);
        1 + (0..n)
            .filter(|&l| l != i && l != j)
            .filter(|&l| {
                let kl = key(i, l);
                kl > kj || (kl == kj && l < j)
            })
            .count() as i64
    }

    #[test]
    fn ranks_equal_brute_force_for_any_block_and_threads() {
        let mut seed = 3;
        for &metric in &[Metric::InnerProduct, Metric::Euclidean] {
            for &(n, d, m) in &[(2, 1, 1), (9, 2, 3), (40, 3, 5), (75, 2, 8)] {
                let x: Vec<f32> = (0..n * d)
                    .map(|_| (lcg(&mut seed) % 5) as f32 - 2.0)
                    .collect();
                let chosen = random_chosen(n, m, &mut seed);
                let want: Vec<i64> = (0..n * m)
                    .map(|t| match chosen[t] {
                        -1 => 0,
                        j => brute_rank(&x, d, metric, t / m, j as usize),
                    })
                    .collect();
                let mx = Matrix::new(&x, n, d).unwrap();
                for block in [1, 5, 16, 256] {
                    for threads in [1, 2] {
                        let o = RankOptions {
                            metric,
                            threads: Some(threads),
                            block,
                            pack_once: threads == 2,
                        };
                        let got = rank_counts(mx, &chosen, m, &o, &Control::new()).unwrap();
                        assert_eq!(got, want, "{metric} n={n} block={block} t={threads}");
                    }
                }
            }
        }
    }

    #[test]
    fn fused_pass_equals_knn_self_and_rank_counts() {
        // Small integers: many exact ties and duplicate rows, so the tie rule is exercised on
        // both sides of off-diagonal tiles and in diagonal tiles; blocks 1..16 cross many
        // tiles and rounds, and k reaches n - 1.
        let mut seed = 11;
        for &metric in &[Metric::InnerProduct, Metric::Euclidean, Metric::Cosine] {
            for &(n, d, m, k) in &[(2, 1, 1, 1), (9, 2, 3, 4), (40, 3, 5, 7), (75, 2, 8, 74)] {
                let x: Vec<f32> = (0..n * d)
                    .map(|_| {
                        (lcg(&mut seed) % 5) as f32 - 2.0
                            + if metric == Metric::Cosine { 0.5 } else { 0.0 }
                    })
                    .collect();
                let chosen = random_chosen(n, m, &mut seed);
                let mx = Matrix::new(&x, n, d).unwrap();
                let ctl = Control::new();
                for block in [1, 5, 16, 256] {
                    for threads in [1, 2] {
                        let mut ko = KnnOptions::new(k, metric);
                        ko.block = block;
                        ko.threads = Some(threads);
                        ko.pack_once = threads == 2;
                        let ro = RankOptions {
                            metric,
                            threads: Some(threads),
                            block,
                            pack_once: threads == 1,
                        };
                        let want_lists = crate::knn_self(mx, &ko, &ctl).unwrap();
                        let want_ranks = rank_counts(mx, &chosen, m, &ro, &ctl).unwrap();
                        let (lists, ranks) = knn_self_ranked(mx, &ko, &chosen, m, &ctl).unwrap();
                        let at = format!("{metric} n={n} k={k} block={block} t={threads}");
                        assert_eq!(lists, want_lists, "{at}");
                        assert_eq!(ranks, want_ranks, "{at}");
                    }
                }
            }
        }
    }

    #[test]
    fn fused_pass_rejects_what_either_call_rejects() {
        let x = [1.0f32, 2.0, 3.0];
        let m = Matrix::new(&x, 3, 1).unwrap();
        let ctl = Control::new();
        let o = KnnOptions::new(1, Metric::InnerProduct);
        assert!(knn_self_ranked(m, &o, &[0, -1, -1], 1, &ctl).is_err());
        assert!(knn_self_ranked(m, &o, &[1, 3, 0], 1, &ctl).is_err());
        assert!(knn_self_ranked(
            m,
            &KnnOptions::new(3, Metric::InnerProduct),
            &[1, 2, 0],
            1,
            &ctl
        )
        .is_err());
        let mut with_self = o.clone();
        with_self.include_self = true;
        assert!(knn_self_ranked(m, &with_self, &[1, 2, 0], 1, &ctl).is_err());
        let (_, r) = knn_self_ranked(m, &o, &[2, -1, 0], 1, &ctl).unwrap();
        assert_eq!(r, vec![1, 0, 2]);
    }

    #[test]
    fn rejects_bad_chosen() {
        let x = [1.0f32, 2.0, 3.0];
        let m = Matrix::new(&x, 3, 1).unwrap();
        let o = RankOptions {
            metric: Metric::InnerProduct,
            threads: None,
            block: 0,
            pack_once: true,
        };
        assert!(rank_counts(m, &[0, -1, -1], 1, &o, &Control::new()).is_err());
        assert!(rank_counts(m, &[1, 3, 0], 1, &o, &Control::new()).is_err());
        assert!(rank_counts(m, &[1, 2], 1, &o, &Control::new()).is_err());
        assert_eq!(
            rank_counts(m, &[2, -1, 0], 1, &o, &Control::new()).unwrap(),
            vec![1, 0, 2]
        );
    }
}
