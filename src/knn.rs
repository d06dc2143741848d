//! Exact k nearest neighbours: a self-join of one set, or queries against a base set.
//!
//! The work is tiled: a block of rows against a block of rows is one *tile*, computed by the
//! kernel of [`crate::kernel`], which screens each register tile of scores against the current
//! k-th best of its rows (and columns) and hands only the candidates that pass to a sink that
//! pushes them into the per-row top-k. Memory is O(n k) for the results plus a few packed
//! blocks per thread; no n x n matrix, nor even a block of scores, is ever stored.
//!
//! A self-join computes each unordered pair of row blocks `(I, J)`, `I <= J`, once and offers
//! each score to the rows of `I` and of `J`: half the work of treating the set as its own
//! queries. The pairs run in rounds of disjoint pairs (a round-robin tournament), so a task
//! owns both blocks' top-k while it runs and its thresholds stay exact. The top-k order is
//! total (score, then index), so the result does not depend on the order candidates arrive in:
//! thread count and block size change the speed, never the answer.

use std::sync::Mutex;

use rayon::prelude::*;

use crate::control::Control;
use crate::error::{invalid, Error, Result};
use crate::kernel::{pack, CosineKey, DotKey, L2Key, Sink, Tile, COL_SIDE, ROW_SIDE};
use crate::matrix::{squared_norms, Matrix, Real};
use crate::metric::Metric;
use crate::topk::{merge_sorted, TopK};

pub mod ranks;

/// Rows per block on each side of a tile, at most. Each tile packs its base-side block afresh
/// (the query-side block is kept while consecutive tiles share it), so packing costs about
/// `1 / block` of the kernel's work: larger blocks are cheaper, and since the kernel screens
/// its register tiles directly, no block-sized tile of scores needs to stay in cache; a packed
/// 768 x 300 f32 block (900 KiB) streams from L2 past one 19 KiB B panel in L1.
pub const MAX_BLOCK: usize = 768;
/// Rows per block, at least: below this, per-tile costs (thresholds, packing set-up) grow.
pub const MIN_BLOCK: usize = 128;
/// Tasks per thread that a self-join round (or a query pass) aims for: a round ends when its
/// last task does, so a thread idles for up to one task per round.
pub const TASKS_PER_THREAD: usize = 8;

/// The block size used when [`KnnOptions::block`] is 0 (automatic): as large as possible, but
/// small enough that `rows` give every thread [`TASKS_PER_THREAD`] tasks per round; a multiple
/// of 16. Results never depend on it.
pub fn auto_block(rows: usize, threads: usize) -> usize {
    let blocks = 2 * TASKS_PER_THREAD * threads.max(1);
    rows.div_ceil(blocks)
        .next_multiple_of(16)
        .clamp(MIN_BLOCK, MAX_BLOCK)
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct KnnOptions {
    /// Number of neighbours per row (including the row itself when `include_self`).
    pub k: usize,
    pub metric: Metric,
    /// Self-join only: each row is its own first neighbour, followed by its k - 1 nearest others.
    pub include_self: bool,
    /// Worker threads; `None` uses rayon's default (`RAYON_NUM_THREADS`, else all cores).
    pub threads: Option<usize>,
    /// Rows per block; 0 (the default) chooses with [`auto_block`]. Changes speed only,
    /// never the result.
    pub block: usize,
}

impl KnnOptions {
    pub fn new(k: usize, metric: Metric) -> Self {
        Self {
            k,
            metric,
            include_self: false,
            threads: None,
            block: 0,
        }
    }
}

/// The neighbours of each query row, best first: `rows x k` row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbors<T> {
    pub rows: usize,
    pub k: usize,
    /// Cosine similarity, inner product, or Euclidean distance, as the metric defines.
    pub scores: Vec<T>,
    pub indices: Vec<i64>,
}

/// A set prepared for one metric: the rows, plus what the metric needs per row
/// (inverse norms for cosine, squared norms for Euclidean).
struct Prepared<'a, T> {
    x: Matrix<'a, T>,
    aux: Vec<T>,
}

impl<'a, T: Real> Prepared<'a, T> {
    fn new(x: Matrix<'a, T>, metric: Metric) -> Self {
        let aux = match metric {
            Metric::InnerProduct => Vec::new(),
            Metric::Euclidean => squared_norms(&x),
            Metric::Cosine => squared_norms(&x)
                .into_iter()
                .map(|s| s.sqrt().recip())
                .collect(),
        };
        Self { x, aux }
    }
}

/// Work buffers of one thread: the packed panels and per-row factors of the current
/// query-side block (kept while consecutive tiles share it) and of the base-side block, and
/// the thresholds of both sides.
struct Work<T> {
    a_block: Option<usize>,
    a_pack: Vec<T>,
    a_aux: Vec<T>,
    a_thr: Vec<T>,
    b_pack: Vec<T>,
    b_aux: Vec<T>,
    b_thr: Vec<T>,
}

impl<T: Real> Work<T> {
    fn new() -> Self {
        Self {
            a_block: None,
            a_pack: Vec::new(),
            a_aux: Vec::new(),
            a_thr: Vec::new(),
            b_pack: Vec::new(),
            b_aux: Vec::new(),
            b_thr: Vec::new(),
        }
    }
}

/// One [`Work`] per worker thread of the pool, reused from tile to tile so that the buffers
/// are allocated (and their pages faulted in) once per call, not once per tile.
struct Workspace<T>(Vec<Mutex<Work<T>>>);

impl<T: Real> Workspace<T> {
    fn new() -> Self {
        let n = rayon::current_num_threads().max(1);
        Self((0..n).map(|_| Mutex::new(Work::new())).collect())
    }

    fn get(&self) -> std::sync::MutexGuard<'_, Work<T>> {
        let i = rayon::current_thread_index().unwrap_or(0) % self.0.len();
        self.0[i].lock().expect("work buffer lock poisoned")
    }
}

/// Packs rows `r0..r1` of `x` into panels of `panel` rows, and their per-row factors into
/// `aux` padded with zeros to whole panels (factors of padded rows are never used).
fn pack_side<T: Real>(
    x: &Prepared<'_, T>,
    (r0, r1): (usize, usize),
    panel: usize,
    packed: &mut Vec<T>,
    aux: &mut Vec<T>,
) {
    let rows = r1 - r0;
    pack(
        x.x.slice_rows(r0, r1).data(),
        rows,
        x.x.cols(),
        panel,
        packed,
    );
    aux.clear();
    if !x.aux.is_empty() {
        aux.extend_from_slice(&x.aux[r0..r1]);
    }
    aux.resize(rows.div_ceil(panel) * panel, T::ZERO);
}

/// Sets `dst` to the thresholds of `live` rows, padded with `+inf` (padding never hits) to `len`.
fn fill_thresholds<T: Real>(dst: &mut Vec<T>, live: usize, len: usize, thr: impl Fn(usize) -> T) {
    dst.clear();
    dst.extend((0..live).map(thr));
    dst.resize(len, T::INFINITY);
}

/// Sends the row-side candidates of a tile to `top` (tile row r is `top` row `first_row + r`;
/// tile column c is candidate `first_col + c`), skipping the pair `skip_pair` rows/columns
/// name the same item (`r + skip.0 == c + skip.1`: the row itself in a self-join).
struct RowSink<'a, T> {
    top: &'a mut TopK<T>,
    first_row: usize,
    first_col: u32,
    skip: Option<(u32, u32)>,
}

impl<T: Real> Sink<T> for RowSink<'_, T> {
    fn row_threshold(&self, row: usize) -> T {
        self.top.threshold(self.first_row + row)
    }
    fn col_threshold(&self, _: usize) -> T {
        T::INFINITY
    }
    #[inline]
    fn offer(&mut self, row: usize, col: usize, key: T, _sides: u8) -> (T, T) {
        let r = self.first_row + row;
        let same = self
            .skip
            .is_some_and(|(ro, co)| row as u32 + ro == col as u32 + co);
        if !same {
            self.top.push(r, key, self.first_col + col as u32);
        }
        (self.top.threshold(r), T::INFINITY)
    }
}

/// Sends the candidates of an off-diagonal self-join tile `(I, J)` to both sides: row r of
/// `I` gains candidate `j0 + c`, row c of `J` gains candidate `i0 + r`.
struct PairSink<'a, T> {
    top_i: &'a mut TopK<T>,
    top_j: &'a mut TopK<T>,
    i0: u32,
    j0: u32,
}

impl<T: Real> Sink<T> for PairSink<'_, T> {
    fn row_threshold(&self, row: usize) -> T {
        self.top_i.threshold(row)
    }
    fn col_threshold(&self, col: usize) -> T {
        self.top_j.threshold(col)
    }
    #[inline]
    fn offer(&mut self, row: usize, col: usize, key: T, sides: u8) -> (T, T) {
        if sides & ROW_SIDE != 0 {
            self.top_i.push(row, key, self.j0 + col as u32);
        }
        if sides & COL_SIDE != 0 {
            self.top_j.push(col, key, self.i0 + row as u32);
        }
        (self.top_i.threshold(row), self.top_j.threshold(col))
    }
}

/// Packs query rows `q0..q1` (unless `work` holds block `a_block` already) and base rows
/// `b0..b1`, takes both sides' thresholds from `sink`, and runs the tile kernel of `metric`,
/// offering candidates to `sink`.
///
/// Every key is a symmetric function of the pair: the dot product is the same FMA chain
/// whichever side a row is on (see [`crate::kernel`]), and the per-row factors combine
/// commutatively (`inv_i * inv_j`, `sq_i + sq_j`), so `key(i, j) == key(j, i)` bit for bit,
/// whatever the tiling. That makes the symmetric self-join agree exactly with the query path.
#[allow(clippy::too_many_arguments)]
fn run_tile<T: Real, S: Sink<T>>(
    metric: Metric,
    (q, (q0, q1), a_block): (&Prepared<'_, T>, (usize, usize), usize),
    (b, (b0, b1)): (&Prepared<'_, T>, (usize, usize)),
    work: &mut Work<T>,
    sink: &mut S,
) {
    let (m, n, d) = (q1 - q0, b1 - b0, q.x.cols());
    let (pa, pb) = (m.div_ceil(T::MR), n.div_ceil(T::NR));
    if work.a_block != Some(a_block) {
        pack_side(q, (q0, q1), T::MR, &mut work.a_pack, &mut work.a_aux);
        work.a_block = Some(a_block);
    }
    pack_side(b, (b0, b1), T::NR, &mut work.b_pack, &mut work.b_aux);
    fill_thresholds(&mut work.a_thr, m, pa * T::MR, |r| sink.row_threshold(r));
    fill_thresholds(&mut work.b_thr, n, pb * T::NR, |c| sink.col_threshold(c));
    let tile = Tile {
        d,
        a: &work.a_pack,
        pa,
        b: &work.b_pack,
        pb,
        rows: m,
        cols: n,
        a_aux: &work.a_aux,
        b_aux: &work.b_aux,
    };
    let (at, bt) = (&mut work.a_thr, &mut work.b_thr);
    match metric {
        Metric::InnerProduct => T::tile::<DotKey, S>(&tile, at, bt, sink),
        Metric::Cosine => T::tile::<CosineKey, S>(&tile, at, bt, sink),
        Metric::Euclidean => T::tile::<L2Key, S>(&tile, at, bt, sink),
    }
}

/// Turns a ranking key back into the metric's score.
#[inline]
pub fn key_to_score<T: Real>(metric: Metric, key: T) -> T {
    match metric {
        Metric::Euclidean => (-key).sqrt(),
        _ => key,
    }
}

/// Turns a score into the key the top-k structures rank by (inverse of [`key_to_score`] for
/// finite scores).
#[inline]
pub fn score_to_key<T: Real>(metric: Metric, score: T) -> T {
    match metric {
        Metric::Euclidean => -(score * score),
        _ => score,
    }
}

fn block_range(b: usize, block: usize, n: usize) -> (usize, usize) {
    (b * block, ((b + 1) * block).min(n))
}

fn check_rows(rows: usize) -> Result<()> {
    if rows > u32::MAX as usize {
        return Err(invalid!(
            "at most {} rows are supported, got {rows}",
            u32::MAX
        ));
    }
    Ok(())
}

/// The block size of a run over `rows` rows: the caller's, or [`auto_block`] for the current
/// thread pool.
fn block_for(opts: &KnnOptions, rows: usize) -> usize {
    match opts.block {
        0 => auto_block(rows, rayon::current_num_threads()),
        b => b,
    }
}

fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    if threads == Some(0) {
        return Err(invalid!("threads must be at least 1, got 0"));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .thread_name(|i| format!("nnoverlap-{i}"))
        .build()
        .map_err(|e| invalid!("cannot start worker threads: {e}"))
}

/// The number of rounds of a symmetric self-join over `nb` blocks; see [`round`].
fn round_count(nb: usize) -> usize {
    if nb == 0 {
        0
    } else {
        nb + nb % 2
    }
}

/// Round `r` of the pairs of blocks of a symmetric self-join, each round a set of disjoint
/// pairs: round 0 is every diagonal `(I, I)`, rounds 1.. a round-robin tournament (the circle
/// method), so that the tasks of a round can each hold both of their blocks' top-k without
/// ever waiting for another task. Made on demand, not stored: `nb^2 / 2` pairs add up.
fn round(nb: usize, r: usize) -> Vec<(usize, usize)> {
    if r == 0 {
        return (0..nb).map(|b| (b, b)).collect();
    }
    let r = r - 1;
    // With an odd number of blocks a dummy block `nb` sits out one block per round.
    let m = nb + nb % 2;
    let mut out = Vec::with_capacity(m / 2);
    let mut add = |a: usize, b: usize| {
        if a < nb && b < nb {
            out.push((a.min(b), a.max(b)));
        }
    };
    add(m - 1, r);
    for i in 1..m / 2 {
        add((r + i) % (m - 1), (r + m - 1 - i) % (m - 1));
    }
    out
}

/// Top-k of every row of a self-join, self excluded, per block of `block` rows.
fn self_join_keys<T: Real>(
    x: &Prepared<'_, T>,
    metric: Metric,
    k: usize,
    block: usize,
    ctl: &Control,
) -> Result<Vec<TopK<T>>> {
    let n = x.x.rows();
    let nb = n.div_ceil(block);
    let tops: Vec<Mutex<TopK<T>>> = (0..nb)
        .map(|b| {
            let (b0, b1) = block_range(b, block, n);
            Mutex::new(TopK::new(b1 - b0, k))
        })
        .collect();
    ctl.add_total((nb * (nb + 1) / 2) as u64);
    let space = Workspace::new();
    for r in 0..round_count(nb) {
        // The tasks of a round touch disjoint blocks, so these locks are never contended;
        // rounds are separated by the end of `for_each`.
        round(nb, r).par_iter().for_each(|&(bi, bj)| {
            if ctl.is_cancelled() {
                return;
            }
            let (i0, i1) = block_range(bi, block, n);
            let (j0, j1) = block_range(bj, block, n);
            let mut work = space.get();
            let lock = |b: usize| tops[b].lock().expect("top-k lock poisoned");
            let mut top_i = lock(bi);
            let tiles = ((x, (i0, i1), bi), (x, (j0, j1)));
            if bi == bj {
                let mut sink = RowSink {
                    top: &mut top_i,
                    first_row: 0,
                    first_col: j0 as u32,
                    skip: Some((0, 0)),
                };
                run_tile(metric, tiles.0, tiles.1, &mut work, &mut sink);
            } else {
                let mut sink = PairSink {
                    top_i: &mut top_i,
                    top_j: &mut lock(bj),
                    i0: i0 as u32,
                    j0: j0 as u32,
                };
                run_tile(metric, tiles.0, tiles.1, &mut work, &mut sink);
            }
            ctl.add_done(1);
        });
        if ctl.is_cancelled() {
            return Err(Error::Interrupted);
        }
    }
    Ok(tops
        .into_iter()
        .map(|m| m.into_inner().expect("top-k lock poisoned"))
        .collect())
}

/// Top-k of query blocks against the whole base, one task per query block.
fn query_keys<T: Real>(
    q: &Prepared<'_, T>,
    b: &Prepared<'_, T>,
    metric: Metric,
    k: usize,
    block: usize,
    ctl: &Control,
) -> Result<Vec<TopK<T>>> {
    let (nq, nbase) = (q.x.rows(), b.x.rows());
    let (qblocks, bblocks) = (nq.div_ceil(block), nbase.div_ceil(block));
    ctl.add_total((qblocks * bblocks) as u64);
    let space = Workspace::new();
    let tops: Vec<TopK<T>> = (0..qblocks)
        .into_par_iter()
        .map(|qb| {
            let (i0, i1) = block_range(qb, block, nq);
            let mut top = TopK::new(i1 - i0, k);
            for bb in 0..bblocks {
                if ctl.is_cancelled() {
                    break;
                }
                let (j0, j1) = block_range(bb, block, nbase);
                let mut sink = RowSink {
                    top: &mut top,
                    first_row: 0,
                    first_col: j0 as u32,
                    skip: None,
                };
                run_tile(
                    metric,
                    (q, (i0, i1), qb),
                    (b, (j0, j1)),
                    &mut space.get(),
                    &mut sink,
                );
                ctl.add_done(1);
            }
            top
        })
        .collect();
    if ctl.is_cancelled() {
        return Err(Error::Interrupted);
    }
    Ok(tops)
}

/// Writes per-block top-k results into the output, best first, with scores in the metric's
/// units; when `self_first`, column 0 of each row is the row itself with `self_score(row)`.
fn assemble<T: Real>(
    blocks: Vec<TopK<T>>,
    rows: usize,
    k: usize,
    metric: Metric,
    self_first: Option<&(dyn Fn(usize) -> T + Sync)>,
) -> Neighbors<T> {
    let mut scores = vec![T::ZERO; rows * k];
    let mut indices = vec![0i64; rows * k];
    let offset = usize::from(self_first.is_some());
    let mut starts = Vec::with_capacity(blocks.len());
    let mut acc = 0;
    for b in &blocks {
        starts.push(acc);
        acc += b.rows();
    }
    debug_assert_eq!(acc, rows);
    // Split the outputs at block boundaries so that blocks fill their rows in parallel.
    let mut s_parts = Vec::with_capacity(blocks.len());
    let mut i_parts = Vec::with_capacity(blocks.len());
    let (mut s_rest, mut i_rest) = (scores.as_mut_slice(), indices.as_mut_slice());
    for b in &blocks {
        let (s, sr) = s_rest.split_at_mut(b.rows() * k);
        let (i, ir) = i_rest.split_at_mut(b.rows() * k);
        s_parts.push(s);
        i_parts.push(i);
        s_rest = sr;
        i_rest = ir;
    }
    blocks
        .into_par_iter()
        .zip(s_parts)
        .zip(i_parts)
        .zip(starts)
        .for_each(|(((top, s_out), i_out), start)| {
            let kk = top.k();
            let (keys, idx) = top.into_sorted();
            for r in 0..s_out.len() / k.max(1) {
                let (so, io) = (
                    &mut s_out[r * k..(r + 1) * k],
                    &mut i_out[r * k..(r + 1) * k],
                );
                if let Some(f) = self_first {
                    so[0] = f(start + r);
                    io[0] = (start + r) as i64;
                }
                for c in 0..kk {
                    so[offset + c] = key_to_score(metric, keys[r * kk + c]);
                    io[offset + c] = idx[r * kk + c] as i64;
                }
            }
        });
    Neighbors {
        rows,
        k,
        scores,
        indices,
    }
}

/// Exact k nearest neighbours of every row of `x` among the other rows (self-join).
///
/// Errors: `k` outside `1..=n-1`, fewer than 2 rows, `threads == Some(0)`, or cancellation.
/// The input must be finite, and free of zero rows under cosine (the Python layer checks).
pub fn knn_self<T: Real>(
    x: Matrix<'_, T>,
    opts: &KnnOptions,
    ctl: &Control,
) -> Result<Neighbors<T>> {
    let n = x.rows();
    check_rows(n)?;
    if n < 2 {
        return Err(invalid!("a self-join needs at least 2 rows, got {n}"));
    }
    if opts.k < 1 || opts.k > n - 1 {
        return Err(invalid!(
            "k must satisfy 1 <= k <= {} (n - 1) for a self-join of {n} rows, got {}",
            n - 1,
            opts.k
        ));
    }
    let pool = thread_pool(opts.threads)?;
    let metric = opts.metric;
    pool.install(|| {
        let prepared = Prepared::new(x, metric);
        let others = if opts.include_self {
            opts.k - 1
        } else {
            opts.k
        };
        let block = block_for(opts, n);
        let blocks = if others == 0 {
            (0..n.div_ceil(block))
                .map(|b| {
                    let (b0, b1) = block_range(b, block, n);
                    TopK::new(b1 - b0, 0)
                })
                .collect()
        } else {
            self_join_keys(&prepared, metric, others, block, ctl)?
        };
        if opts.include_self {
            let norms = match metric {
                Metric::InnerProduct => squared_norms(&x),
                _ => Vec::new(),
            };
            let self_score = |i: usize| match metric {
                Metric::Cosine => T::ONE,
                Metric::Euclidean => T::ZERO,
                Metric::InnerProduct => norms[i],
            };
            Ok(assemble(blocks, n, opts.k, metric, Some(&self_score)))
        } else {
            Ok(assemble(blocks, n, opts.k, metric, None))
        }
    })
}

/// Exact k nearest neighbours of every row of `queries` among all rows of `base`.
pub fn knn_query<T: Real>(
    queries: Matrix<'_, T>,
    base: Matrix<'_, T>,
    opts: &KnnOptions,
    ctl: &Control,
) -> Result<Neighbors<T>> {
    check_rows(queries.rows().max(base.rows()))?;
    if queries.cols() != base.cols() {
        return Err(invalid!(
            "queries and base must have the same dimension: queries ({}, {}), base ({}, {})",
            queries.rows(),
            queries.cols(),
            base.rows(),
            base.cols()
        ));
    }
    if opts.include_self {
        return Err(invalid!(
            "include_self applies to a self-join only, not to queries against a base"
        ));
    }
    if opts.k < 1 || opts.k > base.rows() {
        return Err(invalid!(
            "k must satisfy 1 <= k <= {} (the number of base rows), got {}",
            base.rows(),
            opts.k
        ));
    }
    let pool = thread_pool(opts.threads)?;
    let metric = opts.metric;
    pool.install(|| {
        let q = Prepared::new(queries, metric);
        let b = Prepared::new(base, metric);
        let block = block_for(opts, queries.rows());
        let blocks = query_keys(&q, &b, metric, opts.k, block, ctl)?;
        Ok(assemble(blocks, queries.rows(), opts.k, metric, None))
    })
}

/// A partial top-k: for each query row, its best candidates among some base rows, sorted best
/// first, as ranking keys (see [`score_to_key`]) and global base indices.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialTopK<T> {
    pub rows: usize,
    pub k: usize,
    pub keys: Vec<T>,
    pub indices: Vec<u32>,
}

/// Building block for scale-out: the top-k of a block of query rows against a block of base
/// rows, single-threaded. `base_offset` is the global index of `base`'s first row; when
/// `query_offset` is given, queries and base share one index space (a self-join split into
/// blocks) and the candidate with the query's own global index is skipped.
/// Combine results over disjoint base blocks with [`merge_partial`], then [`finish_partial`].
pub fn block_topk<T: Real>(
    queries: Matrix<'_, T>,
    base: Matrix<'_, T>,
    base_offset: u32,
    query_offset: Option<u32>,
    k: usize,
    metric: Metric,
) -> Result<PartialTopK<T>> {
    if queries.cols() != base.cols() {
        return Err(invalid!(
            "queries and base must have the same dimension: {} vs {}",
            queries.cols(),
            base.cols()
        ));
    }
    let q = Prepared::new(queries, metric);
    let b = Prepared::new(base, metric);
    let (nq, nb) = (queries.rows(), base.rows());
    let mut top = TopK::new(nq, k);
    let mut work = Work::new();
    let block = auto_block(nq.max(nb), 1);
    for i0 in (0..nq).step_by(block) {
        let i1 = (i0 + block).min(nq);
        for j0 in (0..nb).step_by(block) {
            let j1 = (j0 + block).min(nb);
            // Skip the pair whose global indices agree: query_offset + i0 + r == base_offset
            // + j0 + c, with both offsets shifted so that neither goes negative.
            let skip = query_offset.map(|qo| {
                let (rq, cb) = (qo as u64 + i0 as u64, base_offset as u64 + j0 as u64);
                let low = rq.min(cb);
                ((rq - low) as u32, (cb - low) as u32)
            });
            let mut sink = RowSink {
                top: &mut top,
                first_row: i0,
                first_col: base_offset + j0 as u32,
                skip,
            };
            run_tile(
                metric,
                (&q, (i0, i1), i0),
                (&b, (j0, j1)),
                &mut work,
                &mut sink,
            );
        }
    }
    let (keys, indices) = top.into_sorted();
    Ok(PartialTopK {
        rows: nq,
        k,
        keys,
        indices,
    })
}

/// Merges two partial results for the same query rows over disjoint base rows.
pub fn merge_partial<T: Real>(a: &PartialTopK<T>, b: &PartialTopK<T>) -> Result<PartialTopK<T>> {
    if a.rows != b.rows || a.k != b.k {
        return Err(invalid!(
            "partial results must match: {} rows x {} vs {} rows x {}",
            a.rows,
            a.k,
            b.rows,
            b.k
        ));
    }
    let k = a.k;
    let mut keys = Vec::with_capacity(a.keys.len());
    let mut indices = Vec::with_capacity(a.indices.len());
    let (mut rk, mut ri) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for r in 0..a.rows {
        let s = r * k..(r + 1) * k;
        merge_sorted(
            &a.keys[s.clone()],
            &a.indices[s.clone()],
            &b.keys[s.clone()],
            &b.indices[s],
            k,
            &mut rk,
            &mut ri,
        );
        keys.extend_from_slice(&rk);
        indices.extend_from_slice(&ri);
    }
    Ok(PartialTopK {
        rows: a.rows,
        k,
        keys,
        indices,
    })
}

/// Turns a complete partial result into [`Neighbors`]; fails if a row has fewer than k
/// candidates (some base block was never merged in).
pub fn finish_partial<T: Real>(p: PartialTopK<T>, metric: Metric) -> Result<Neighbors<T>> {
    if let Some(pos) = p.indices.iter().position(|&i| i == u32::MAX) {
        return Err(invalid!(
            "row {} has fewer than k = {} candidates",
            pos / p.k.max(1),
            p.k
        ));
    }
    Ok(Neighbors {
        rows: p.rows,
        k: p.k,
        scores: p.keys.iter().map(|&s| key_to_score(metric, s)).collect(),
        indices: p.indices.iter().map(|&i| i as i64).collect(),
    })
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

    /// Small-integer data: every score is exact in f32, so results must equal brute force.
    fn small_ints(n: usize, d: usize, seed: &mut u64) -> Vec<f32> {
        (0..n * d).map(|_| (lcg(seed) % 5) as f32 - 2.0).collect()
    }

    fn exact_score(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        match metric {
            Metric::InnerProduct => dot,
            Metric::Cosine => {
                let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                dot / (na * nb)
            }
            Metric::Euclidean => {
                let sq: f64 = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
                    .sum();
                -sq
            }
        }
    }

    fn brute(
        q: &[f32],
        base: &[f32],
        d: usize,
        k: usize,
        metric: Metric,
        self_join: bool,
    ) -> Vec<i64> {
        let (nq, nb) = (q.len() / d, base.len() / d);
        let mut out = Vec::new();
        for i in 0..nq {
            let mut c: Vec<(f64, usize)> = (0..nb)
                .filter(|&j| !(self_join && j == i))
                .map(|j| {
                    (
                        exact_score(metric, &q[i * d..(i + 1) * d], &base[j * d..(j + 1) * d]),
                        j,
                    )
                })
                .collect();
            c.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
            out.extend(c.iter().take(k).map(|p| p.1 as i64));
        }
        out
    }

    #[test]
    fn self_join_equals_brute_force_for_any_block_and_threads() {
        let mut seed = 11;
        for &metric in &[Metric::InnerProduct, Metric::Euclidean] {
            for &(n, d, k) in &[(2, 1, 1), (9, 3, 4), (40, 5, 7), (70, 2, 69)] {
                let x = small_ints(n, d, &mut seed);
                let want = brute(&x, &x, d, k, metric, true);
                for block in [1, 3, 8, 256] {
                    for threads in [1, 2] {
                        let mut o = KnnOptions::new(k, metric);
                        o.block = block;
                        o.threads = Some(threads);
                        let m = Matrix::new(&x, n, d).unwrap();
                        let got = knn_self(m, &o, &Control::new()).unwrap();
                        assert_eq!(
                            got.indices, want,
                            "{metric} n={n} block={block} t={threads}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn query_equals_brute_force_and_self_join_with_self() {
        let mut seed = 5;
        for &metric in &[Metric::InnerProduct, Metric::Euclidean, Metric::Cosine] {
            let (n, d, k) = (33, 4, 6);
            let x: Vec<f32> = small_ints(n, d, &mut seed)
                .iter()
                .map(|v| v + 0.5)
                .collect();
            let m = Matrix::new(&x, n, d).unwrap();
            for block in [2, 5, 256] {
                let mut o = KnnOptions::new(k, metric);
                o.block = block;
                let q = knn_query(m, m, &o, &Control::new()).unwrap();
                if metric != Metric::Cosine {
                    assert_eq!(q.indices, brute(&x, &x, d, k, metric, false));
                }
                o.include_self = true;
                let s = knn_self(m, &o, &Control::new()).unwrap();
                // Rows are distinct (checked below by the brute force ranking self first), so the
                // query path ranks each row first and both paths agree bit for bit.
                if metric != Metric::InnerProduct {
                    assert_eq!(q.indices, s.indices, "{metric} block={block}");
                    let qs: Vec<f32> = q.scores.chunks(k).flat_map(|r| r[1..].to_vec()).collect();
                    let ss: Vec<f32> = s.scores.chunks(k).flat_map(|r| r[1..].to_vec()).collect();
                    assert_eq!(qs, ss);
                }
            }
        }
    }

    #[test]
    fn auto_block_is_a_bounded_multiple_of_16() {
        for rows in [1, 100, 10_000, 50_000, 10_000_000] {
            for threads in [1, 2, 64] {
                let b = auto_block(rows, threads);
                assert!(
                    b % 16 == 0 && (MIN_BLOCK..=MAX_BLOCK).contains(&b),
                    "{rows} {threads}"
                );
            }
        }
        // 10,000 rows on 2 threads: 32 blocks of 313 rows, rounded up to 320.
        assert_eq!(auto_block(10_000, 2), 320);
        assert_eq!(auto_block(1_000_000, 2), MAX_BLOCK);
    }

    #[test]
    fn rounds_cover_every_pair_once_with_disjoint_blocks() {
        for nb in 0..12 {
            let mut seen = std::collections::HashSet::new();
            for r in 0..round_count(nb) {
                let mut used = std::collections::HashSet::new();
                for &(a, b) in &round(nb, r) {
                    assert!(a <= b && b < nb);
                    assert!(seen.insert((a, b)), "pair ({a}, {b}) twice");
                    assert!(used.insert(a) && (a == b || used.insert(b)), "block reused");
                }
            }
            assert_eq!(seen.len(), nb * (nb + 1) / 2);
        }
    }

    #[test]
    fn blocks_and_merges_equal_the_whole() {
        let mut seed = 9;
        let (n, d, k) = (50, 3, 5);
        let x = small_ints(n, d, &mut seed);
        let m = Matrix::new(&x, n, d).unwrap();
        let whole = knn_self(m, &KnnOptions::new(k, Metric::Euclidean), &Control::new()).unwrap();
        let cut = 17;
        let a = block_topk(m, m.slice_rows(0, cut), 0, Some(0), k, Metric::Euclidean).unwrap();
        let b = block_topk(
            m,
            m.slice_rows(cut, n),
            cut as u32,
            Some(0),
            k,
            Metric::Euclidean,
        )
        .unwrap();
        let merged = finish_partial(merge_partial(&a, &b).unwrap(), Metric::Euclidean).unwrap();
        assert_eq!(merged, whole);
        let merged_other_way =
            finish_partial(merge_partial(&b, &a).unwrap(), Metric::Euclidean).unwrap();
        assert_eq!(merged_other_way, whole);
        assert!(finish_partial(a, Metric::Euclidean).is_ok());
        let short = block_topk(m, m.slice_rows(0, 3), 0, Some(0), k, Metric::Euclidean).unwrap();
        assert!(finish_partial(short, Metric::Euclidean).is_err());
    }

    #[test]
    fn include_self_puts_self_first_even_with_duplicates() {
        let x = [1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0];
        let m = Matrix::new(&x, 3, 2).unwrap();
        let mut o = KnnOptions::new(2, Metric::Cosine);
        o.include_self = true;
        let r = knn_self(m, &o, &Control::new()).unwrap();
        assert_eq!(r.indices, vec![0, 1, 1, 0, 2, 0]);
        assert_eq!(r.scores, vec![1.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
        o.k = 1;
        let r = knn_self(m, &o, &Control::new()).unwrap();
        assert_eq!(r.indices, vec![0, 1, 2]);
    }

    #[test]
    fn rejects_bad_k_and_cancels() {
        let x = [1.0f32, 2.0, 3.0];
        let m = Matrix::new(&x, 3, 1).unwrap();
        assert!(knn_self(
            m,
            &KnnOptions::new(3, Metric::InnerProduct),
            &Control::new()
        )
        .is_err());
        assert!(knn_self(
            m,
            &KnnOptions::new(0, Metric::InnerProduct),
            &Control::new()
        )
        .is_err());
        assert!(knn_query(
            m,
            m,
            &KnnOptions::new(4, Metric::InnerProduct),
            &Control::new()
        )
        .is_err());
        let ctl = Control::new();
        ctl.cancel();
        assert_eq!(
            knn_self(m, &KnnOptions::new(1, Metric::InnerProduct), &ctl),
            Err(Error::Interrupted)
        );
    }
}
