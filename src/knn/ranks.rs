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

use super::{auto_block, block_range, check_rows, lock, pack_side, round, round_count, Workspace};
use crate::control::Control;
use crate::error::{invalid, try_vec, Error, Result};
use crate::kernel::count::{CountArgs, CountKernel, Side};
use crate::kernel::{CosineKey, DotKey, L2Key, Tile};
use crate::matrix::{Matrix, Real};
use crate::metric::Metric;
use crate::pool;
use crate::prep::{Params, Prepared};

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
        let mut row_keys = vec![T::INFINITY; pa * m];
        let mut row_idx = vec![u32::MAX; pa * m];
        let mut order = vec![0u32; rows * m];
        let mut row_min = vec![T::INFINITY; pa];
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
        // The chosen keys, computed as the kernel computes them.
        let mut keys = try_vec(n * m, T::INFINITY, "the chosen keys")?;
        keys.par_chunks_mut(m * 64).enumerate().for_each_init(
            || (Vec::new(), Vec::new()),
            |bufs, (c, out)| {
                for (o, t) in out.iter_mut().zip(c * m * 64..) {
                    if chosen[t] >= 0 {
                        *o = prepared.pair_key(t / m, &prepared, chosen[t] as usize, bufs);
                    }
                }
            },
        );
        let idx: Vec<u32> = chosen
            .iter()
            .map(|&j| if j < 0 { u32::MAX } else { j as u32 })
            .collect();
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
        ctl.add_total((nb * (nb + 1) / 2) as u64);
        let space = Workspace::new();
        for r in 0..round_count(nb) {
            // Disjoint pairs of blocks per round: the locks are never contended.
            round(nb, r).par_iter().for_each(|&(bi, bj)| {
                if ctl.is_cancelled() {
                    return;
                }
                let (i0, i1) = block_range(bi, block, n);
                let (j0, j1) = block_range(bj, block, n);
                let mut work = space.get();
                let work = &mut *work;
                if work.a_block != Some(bi) {
                    pack_side(
                        &prepared,
                        (i0, i1),
                        T::MR,
                        &mut work.a_pack,
                        &mut work.a_aux,
                    );
                    work.a_block = Some(bi);
                }
                pack_side(
                    &prepared,
                    (j0, j1),
                    T::NR,
                    &mut work.b_pack,
                    &mut work.b_aux,
                );
                let (rows, cols) = (i1 - i0, j1 - j0);
                let tile = Tile {
                    d: x.cols(),
                    a: &work.a_pack,
                    pa: rows.div_ceil(T::MR),
                    b: &work.b_pack,
                    pb: cols.div_ceil(T::NR),
                    rows,
                    cols,
                    a_aux: &work.a_aux,
                    b_aux: &work.b_aux,
                };
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
                ctl.add_done(1);
            });
            if ctl.is_cancelled() {
                return Err(Error::Interrupted);
            }
        }
        let mut out = try_vec(n * m, 0i64, "the ranks")?;
        for (b, s) in slots.into_iter().enumerate() {
            let s = s.into_inner().unwrap_or_else(|e| e.into_inner());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
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
                let chosen: Vec<i64> = (0..n * m)
                    .map(|t| {
                        let j = (lcg(&mut seed) % n as u64) as i64;
                        if j as usize == t / m || lcg(&mut seed).is_multiple_of(4) {
                            -1
                        } else {
                            j
                        }
                    })
                    .collect();
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
                        };
                        let got = rank_counts(mx, &chosen, m, &o, &Control::new()).unwrap();
                        assert_eq!(got, want, "{metric} n={n} block={block} t={threads}");
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_bad_chosen() {
        let x = [1.0f32, 2.0, 3.0];
        let m = Matrix::new(&x, 3, 1).unwrap();
        let o = RankOptions {
            metric: Metric::InnerProduct,
            threads: None,
            block: 0,
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
