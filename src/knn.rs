//! Exact k nearest neighbours: a self-join of one set, or queries against a base set.
//!
//! The work is tiled: a block of rows against a block of rows is one *tile*, computed by the
//! kernel of [`crate::kernel`], which screens each register tile of scores against the current
//! k-th best of its rows (and columns) and hands only the candidates that pass to a sink that
//! pushes them into the per-row top-k. Memory is O(n k) for the results plus a few packed
//! blocks per thread, or the whole set packed once where that fits in [`PACK_CACHE_BYTES`];
//! no n x n matrix, nor even a block of scores, is ever stored.
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
use crate::error::{invalid, try_vec, Error, Result};
use crate::kernel::screen::{self, QuantBlock, QuantSet};
use crate::kernel::{pack, CosineKey, DotKey, L2Key, Sink, Tile, COL_SIDE, ROW_SIDE};
use crate::matrix::{Matrix, Real};
use crate::metric::Metric;
use crate::pool;
pub use crate::prep::Params;
use crate::prep::{PairKeyBufs, Prepared};
use crate::topk::{merge_sorted, TopK};

pub mod ranks;

/// Rows per block on each side of a tile, at most. Where a call cannot keep its packed blocks
/// ([`PACK_CACHE_BYTES`]), each tile packs its base-side block afresh (the query-side block is
/// kept while consecutive tiles share it), so packing costs about `1 / block` of the kernel's
/// work: larger blocks are cheaper, and since the kernel screens
/// its register tiles directly, no block-sized tile of scores needs to stay in cache; a packed
/// 1536 x 300 f32 block (1.8 MiB) streams from L2 past two 19 KiB B panels in L1. (On one
/// thread at 30k x 300, 1536 rows ran 5-7 % faster than 768 in f32 and f64, through fewer
/// packings; at d = 768 the two were within noise.)
pub const MAX_BLOCK: usize = 1536;
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

/// The block size of the query path when [`KnnOptions::block`] is 0. Each query block packs the
/// whole base once, so larger query blocks pack the base fewer times; with no rounds to keep
/// busy, [`QUERY_TASKS_PER_THREAD`] tasks per thread balance the load.
pub fn query_block(rows: usize, threads: usize) -> usize {
    rows.div_ceil(QUERY_TASKS_PER_THREAD * threads.max(1))
        .next_multiple_of(16)
        .clamp(MIN_BLOCK, MAX_BLOCK)
}

/// Tasks per thread of the query path (see [`query_block`]).
pub const QUERY_TASKS_PER_THREAD: usize = 4;

/// Whether the cosine float32 self-join screens pairs with an int8 product first (see
/// [`crate::kernel::screen`]): the result is the same bit for bit either way, only the speed
/// differs. It runs only where the CPU has AVX-512 VNNI; elsewhere `On` is `Off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    /// The default: on where it is expected to win (see [`screen_wins`]).
    #[default]
    Auto,
    /// On wherever the CPU can run it.
    On,
    Off,
}

impl Screen {
    /// `"auto"`, `"on"` or `"off"`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            _ => Err(invalid!(
                "screen must be \"auto\", \"on\" or \"off\", got {s:?}"
            )),
        }
    }
}

/// The expected survivor fraction below which [`Screen::Auto`] screens. Measured against
/// the 12 x 32 AVX-512 f32 tile (two threads, cosine, clustered d = 300, screened / unscreened
/// time): expected 0.81 % (10k, k = 10) 1.27x, a loss; 0.41 % (20k) 0.91x; 0.27 % (30k)
/// 0.83x; 0.16 % (50k) 0.74x; 0.95 % (100k, k = 100) 1.06x and 1.6 % (50k, k = 100) 1.15x,
/// losses. GloVe (d = 50) gains more at the same fraction (docs/screening.md).
pub const SCREEN_AUTO_FRACTION: f64 = 0.005;

/// Whether [`Screen::Auto`] screens a self-join of `n` rows at `k` (others) in blocks of
/// `block`: when the expected fraction of pairs surviving the screen,
/// `2 k (ln R + 0.58) / n` over `R` rounds, is below [`SCREEN_AUTO_FRACTION`].
pub fn screen_wins(n: usize, k: usize, block: usize) -> bool {
    let rounds = n.div_ceil(block.max(1));
    rounds >= 4 && screen::expected_survivors(n, k, rounds) < SCREEN_AUTO_FRACTION
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct KnnOptions {
    /// Number of neighbours per row (including the row itself when `include_self`).
    pub k: usize,
    pub metric: Metric,
    /// Self-join only: each row is its own first neighbour, followed by its k - 1 nearest others.
    pub include_self: bool,
    /// Worker threads; `None` uses `RAYON_NUM_THREADS`, else all cores (see [`pool`]).
    pub threads: Option<usize>,
    /// Rows per block; 0 (the default) chooses with [`auto_block`]. Changes speed only,
    /// never the result.
    pub block: usize,
    /// Self-join under cosine, float32: screen pairs with int8 first ([`Screen`]).
    pub screen: Screen,
    /// Pack every block once per call where the packed copy fits in [`PACK_CACHE_BYTES`];
    /// `false` packs per tile. Changes speed only, never the result.
    pub pack_once: bool,
}

impl KnnOptions {
    pub fn new(k: usize, metric: Metric) -> Self {
        Self {
            k,
            metric,
            include_self: false,
            threads: None,
            block: 0,
            screen: Screen::Auto,
            pack_once: true,
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
    /// The int8 screen's panels of the query-side block (block `qa_block`) and the base side.
    qa_block: Option<usize>,
    qa: QuantBlock,
    qb: QuantBlock,
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
            qa_block: None,
            qa: QuantBlock::default(),
            qb: QuantBlock::default(),
        }
    }

    /// The tile of query rows `q0..q1` (block `a_block`) against base rows `b0..b1`, and the
    /// tile's threshold buffers (see [`Work::take_thresholds`]). Each side's panels come from
    /// `cache` where the pass packed that side once ([`PackCache`]); else they are packed here
    /// (the query-side block is kept while consecutive tiles share it).
    fn tile<'w>(
        &'w mut self,
        cache: &'w PackCache<T>,
        (q, (q0, q1), a_block): (&Prepared<'_, T>, (usize, usize), usize),
        (b, (b0, b1)): (&Prepared<'_, T>, (usize, usize)),
    ) -> (Tile<'w, T>, &'w mut Vec<T>, &'w mut Vec<T>) {
        let a = match cache.rows_of((q0, q1)) {
            Some(a) => a,
            None => {
                if self.a_block != Some(a_block) {
                    pack_side(q, (q0, q1), T::MR, &mut self.a_pack, &mut self.a_aux);
                    self.a_block = Some(a_block);
                }
                (&self.a_pack[..], &self.a_aux[..])
            }
        };
        let b = match cache.cols_of((b0, b1)) {
            Some(b) => b,
            None => {
                pack_side(b, (b0, b1), T::NR, &mut self.b_pack, &mut self.b_aux);
                (&self.b_pack[..], &self.b_aux[..])
            }
        };
        let tile = packed_tile(a, b, q.x.cols(), (q1 - q0, b1 - b0));
        (tile, &mut self.a_thr, &mut self.b_thr)
    }

    /// Takes the thresholds of a tile's `m` rows and `n` columns from `sink`, padded to
    /// whole panels.
    fn take_thresholds<S: Sink<T>>(&mut self, (m, n): (usize, usize), sink: &S) {
        let (pa, pb) = (m.div_ceil(T::MR), n.div_ceil(T::NR));
        fill_thresholds(&mut self.a_thr, m, pa * T::MR, |r| sink.row_threshold(r));
        fill_thresholds(&mut self.b_thr, n, pb * T::NR, |c| sink.col_threshold(c));
    }
}

/// The tile of `rows x cols` packed rows of dimension `d` (panels and per-row factors).
fn packed_tile<'w, T: Real>(
    (a, a_aux): (&'w [T], &'w [T]),
    (b, b_aux): (&'w [T], &'w [T]),
    d: usize,
    (rows, cols): (usize, usize),
) -> Tile<'w, T> {
    Tile {
        d,
        a,
        pa: rows.div_ceil(T::MR),
        b,
        pb: cols.div_ceil(T::NR),
        rows,
        cols,
        a_aux,
        b_aux,
    }
}

/// Bytes of packed panels a call may keep for its whole run (every block of the set packed
/// once, instead of once per tile it is in). Beyond them
/// (a self-join of more than about 100k x 300 f32), blocks are at [`MAX_BLOCK`] rows and
/// packing per tile costs about `1 / block` of the kernel's work anyway.
pub const PACK_CACHE_BYTES: usize = 256 << 20;

/// One block's packed panels and per-row factors ([`pack_side`]), and its row count.
struct Packed<T> {
    panels: Vec<T>,
    aux: Vec<T>,
    rows: usize,
}

/// Every block of a set packed once for a whole call, on the row side (panels of `T::MR`)
/// and/or the column side (`T::NR`), so that a tile packs nothing. Packing per tile repeats
/// each block's packing once per tile it is in: with small blocks (small n, several
/// threads) that is a large share of the work (at 10k x 300 on two threads, 320-row blocks:
/// about a fifth of a self-join). The panels are those [`pack_side`] makes per tile, so the
/// result is the same bit for bit. An empty side packs per tile.
struct PackCache<T> {
    block: usize,
    rows: Vec<Packed<T>>,
    cols: Vec<Packed<T>>,
}

impl<T: Real> PackCache<T> {
    /// Packs nothing: every tile packs its own panels.
    fn none() -> Self {
        Self {
            block: 1,
            rows: Vec::new(),
            cols: Vec::new(),
        }
    }

    /// Packs the blocks of `block` rows of `rows` (row side) and of `cols` (column side),
    /// in parallel, when `wanted` and the panels fit in [`PACK_CACHE_BYTES`]; else
    /// [`PackCache::none`].
    fn build(
        rows: Option<&Prepared<'_, T>>,
        cols: Option<&Prepared<'_, T>>,
        block: usize,
        wanted: bool,
    ) -> Result<Self> {
        let size = |x: Option<&Prepared<'_, T>>, panel: usize| {
            x.map_or(0, |x| {
                let n = x.x.rows();
                let padded = n.div_ceil(block) * block.next_multiple_of(panel);
                padded.saturating_mul(x.x.cols() + 1)
            })
        };
        let bytes = (size(rows, T::MR) + size(cols, T::NR)).saturating_mul(size_of::<T>());
        if !wanted || block == 0 || bytes > PACK_CACHE_BYTES {
            return Ok(Self::none());
        }
        let side = |x: Option<&Prepared<'_, T>>, panel: usize| -> Result<Vec<Packed<T>>> {
            let Some(x) = x else { return Ok(Vec::new()) };
            let n = x.x.rows();
            (0..n.div_ceil(block))
                .into_par_iter()
                .map(|b| {
                    let (r0, r1) = block_range(b, block, n);
                    let len = (r1 - r0).div_ceil(panel) * panel;
                    // Reserved here (fallibly) so that packing never reallocates.
                    let mut panels = try_vec(len * x.x.cols(), T::ZERO, "the packed blocks")?;
                    let mut aux = try_vec(len, T::ZERO, "the packed blocks")?;
                    panels.clear();
                    aux.clear();
                    pack_side(x, (r0, r1), panel, &mut panels, &mut aux);
                    Ok(Packed {
                        panels,
                        aux,
                        rows: r1 - r0,
                    })
                })
                .collect()
        };
        Ok(Self {
            block,
            rows: side(rows, T::MR)?,
            cols: side(cols, T::NR)?,
        })
    }

    fn find(side: &[Packed<T>], block: usize, (r0, r1): (usize, usize)) -> Option<(&[T], &[T])> {
        if r0 % block != 0 {
            return None;
        }
        let p = side.get(r0 / block)?;
        (p.rows == r1 - r0).then_some((&p.panels[..], &p.aux[..]))
    }

    /// The row-side panels of rows `r0..r1`, if packed.
    fn rows_of(&self, range: (usize, usize)) -> Option<(&[T], &[T])> {
        Self::find(&self.rows, self.block, range)
    }

    /// The column-side panels of rows `r0..r1`, if packed.
    fn cols_of(&self, range: (usize, usize)) -> Option<(&[T], &[T])> {
        Self::find(&self.cols, self.block, range)
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
        // A poisoned lock only means another task panicked; the buffers are rewritten anyway.
        self.0[i].lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Packs rows `r0..r1` of `x`, prepared for the metric, into panels of `panel` rows, and
/// their per-row factors into `aux` padded with zeros to whole panels (factors of padded rows
/// are never used).
fn pack_side<T: Real>(
    x: &Prepared<'_, T>,
    (r0, r1): (usize, usize),
    panel: usize,
    packed: &mut Vec<T>,
    aux: &mut Vec<T>,
) {
    let rows = r1 - r0;
    let d = x.x.cols();
    pack(x.x.slice_rows(r0, r1).data(), rows, d, panel, packed);
    x.transform_packed(r0, rows, panel, packed);
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
struct RowSink<'a, T: Real> {
    top: &'a mut TopK<T>,
    first_row: usize,
    first_col: u32,
    skip: Option<(usize, usize)>,
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
        let same = self.skip.is_some_and(|(ro, co)| row + ro == col + co);
        if !same {
            self.top.push(r, key, self.first_col + col as u32);
        }
        (self.top.threshold(r), T::INFINITY)
    }
}

/// Sends the candidates of an off-diagonal self-join tile `(I, J)` to both sides: row r of
/// `I` (row `ri + r` of `top_i`) gains candidate `j0 + c`, row c of `J` (row `rj + c` of
/// `top_j`) gains candidate `i0 + r`.
struct PairSink<'a, T: Real> {
    top_i: &'a mut TopK<T>,
    top_j: &'a mut TopK<T>,
    ri: usize,
    rj: usize,
    i0: u32,
    j0: u32,
}

impl<T: Real> Sink<T> for PairSink<'_, T> {
    fn row_threshold(&self, row: usize) -> T {
        self.top_i.threshold(self.ri + row)
    }
    fn col_threshold(&self, col: usize) -> T {
        self.top_j.threshold(self.rj + col)
    }
    #[inline]
    fn offer(&mut self, row: usize, col: usize, key: T, sides: u8) -> (T, T) {
        let (r, c) = (self.ri + row, self.rj + col);
        if sides & ROW_SIDE != 0 {
            self.top_i.push(r, key, self.j0 + col as u32);
        }
        if sides & COL_SIDE != 0 {
            self.top_j.push(c, key, self.i0 + row as u32);
        }
        (self.top_i.threshold(r), self.top_j.threshold(c))
    }
}

/// Packs query rows `q0..q1` (unless `work` holds block `a_block` already) and base rows
/// `b0..b1`, takes both sides' thresholds from `sink`, and runs the tile kernel of the
/// metric, offering candidates to `sink`.
///
/// Every key is a symmetric function of the pair: the dot product of the prepared rows is the
/// same FMA chain whichever side a row is on (see [`crate::kernel`]), and the per-row factors
/// combine commutatively (`sq_i + sq_j`), so `key(i, j) == key(j, i)` bit for bit, whatever
/// the tiling. That makes the symmetric self-join agree exactly with the query path.
fn run_tile<T: Real, S: Sink<T>>(
    (q, (q0, q1), a_block): (&Prepared<'_, T>, (usize, usize), usize),
    (b, (b0, b1)): (&Prepared<'_, T>, (usize, usize)),
    (work, cache): (&mut Work<T>, &PackCache<T>),
    sink: &mut S,
) {
    work.take_thresholds((q1 - q0, b1 - b0), sink);
    let (tile, at, bt) = work.tile(cache, (q, (q0, q1), a_block), (b, (b0, b1)));
    match q.params.metric {
        Metric::InnerProduct => T::tile::<DotKey, S>(&tile, at, bt, sink),
        Metric::Cosine => T::tile::<CosineKey, S>(&tile, at, bt, sink),
        Metric::Euclidean => T::tile::<L2Key, S>(&tile, at, bt, sink),
    }
}

/// [`run_tile`] for an off-diagonal cosine f32 self-join tile, screened by the int8 product of
/// `qs` (the whole set's int8 image) once every row and column of the tile holds k
/// candidates (a threshold of `-inf` passes everything, so the f32 tile runs then). The
/// candidates offered are exactly those of [`run_tile`].
fn run_tile_screened<T: Real, S: Sink<T>>(
    (q, (q0, q1), a_block): (&Prepared<'_, T>, (usize, usize), usize),
    (b, (b0, b1)): (&Prepared<'_, T>, (usize, usize)),
    (work, cache): (&mut Work<T>, &PackCache<T>),
    sink: &mut S,
    qs: &QuantSet,
) {
    let (m, n) = (q1 - q0, b1 - b0);
    let cold = (0..m).any(|r| sink.row_threshold(r) == T::NEG_INFINITY)
        || (0..n).any(|c| sink.col_threshold(c) == T::NEG_INFINITY);
    if cold {
        return run_tile((q, (q0, q1), a_block), (b, (b0, b1)), (work, cache), sink);
    }
    // Out of `work` while its tile borrows it (put back below).
    let (mut qa, mut qb) = (std::mem::take(&mut work.qa), std::mem::take(&mut work.qb));
    if work.qa_block != Some(a_block) {
        qa.pack_a(qs, (q0, q1));
        work.qa_block = Some(a_block);
    }
    qb.pack_b(qs, (b0, b1));
    work.take_thresholds((m, n), sink);
    let (tile, at, bt) = work.tile(cache, (q, (q0, q1), a_block), (b, (b0, b1)));
    if screen::tile(&tile, &qa, &qb, at, bt, sink).is_none() {
        T::tile::<CosineKey, S>(&tile, at, bt, sink);
    }
    (work.qa, work.qb) = (qa, qb);
}

/// The int8 image of a prepared cosine set for the screen, or `None` where the screen cannot
/// run (not f32, not cosine, a CPU without VNNI, a dimension past [`screen::MAX_D`]).
fn quant_set<T: Real>(x: &Prepared<'_, T>) -> Result<Option<QuantSet>> {
    let d = x.x.cols();
    let f32_type = std::any::TypeId::of::<T>() == std::any::TypeId::of::<f32>();
    if !f32_type
        || x.params.metric != Metric::Cosine
        || !screen::available()
        || d == 0
        || d > screen::MAX_D
    {
        return Ok(None);
    }
    QuantSet::new(x.x.rows(), d, |i, buf| {
        buf.clear();
        let row = x.x.row(i);
        // Exact: T is f32 here.
        buf.extend(
            row.iter()
                .enumerate()
                .map(|(k, &v)| x.value(i, k, v).to_f64() as f32),
        );
    })
}

fn block_range(b: usize, block: usize, n: usize) -> (usize, usize) {
    (b * block, ((b + 1) * block).min(n))
}

/// Row indices are stored as `u32`: at most `u32::MAX - 1` rows (`u32::MAX` marks an empty
/// slot), and every global offset plus block size must stay below that.
fn check_rows(rows: usize) -> Result<()> {
    if rows >= u32::MAX as usize {
        return Err(invalid!(
            "at most {} rows are supported, got {rows}",
            u32::MAX - 1
        ));
    }
    Ok(())
}

/// `offset + rows` as a valid global row range, or an error naming what overflowed.
fn check_offset(offset: usize, rows: usize, what: &str) -> Result<u32> {
    match offset.checked_add(rows) {
        Some(end) if end < u32::MAX as usize => Ok(offset as u32),
        _ => Err(invalid!(
            "{what}: offset {offset} plus {rows} rows passes the largest row index {}",
            u32::MAX - 2
        )),
    }
}

/// The block size of a run over `rows` rows: the caller's, or [`auto_block`] for the current
/// thread pool.
fn block_for(opts: &KnnOptions, rows: usize) -> usize {
    match opts.block {
        0 => auto_block(rows, rayon::current_num_threads()),
        b => b,
    }
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

/// Per-block top-k structures of `n` rows in blocks of `block`, allocated fallibly.
fn block_tops<T: Real>(n: usize, block: usize, k: usize) -> Result<Vec<TopK<T>>> {
    (0..n.div_ceil(block))
        .map(|b| {
            let (b0, b1) = block_range(b, block, n);
            TopK::try_new(b1 - b0, k)
        })
        .collect()
}

/// Locks a top-k, whether or not another task panicked while holding it (the panic itself is
/// reported; the data is not used after one).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `task(bi, bj, work)` once for every pair of blocks `bi <= bj` of a symmetric
/// self-join over `nb` blocks, in the rounds of [`round`] on the current pool, with this
/// thread's [`Work`] buffers, counting one unit of progress per pair. The tasks of a round
/// touch disjoint blocks, so the locks they take on their blocks' state are never contended;
/// rounds are separated by the end of `for_each`. Errors: [`Error::Interrupted`] when `ctl`
/// is cancelled (the remaining tasks are skipped).
fn join_rounds<T: Real>(
    nb: usize,
    ctl: &Control,
    task: impl Fn(usize, usize, &mut Work<T>) + Sync,
) -> Result<()> {
    ctl.add_total((nb * (nb + 1) / 2) as u64);
    let space = Workspace::new();
    for r in 0..round_count(nb) {
        round(nb, r).par_iter().for_each(|&(bi, bj)| {
            if ctl.is_cancelled() {
                return;
            }
            task(bi, bj, &mut *space.get());
            ctl.add_done(1);
        });
        if ctl.is_cancelled() {
            return Err(Error::Interrupted);
        }
    }
    Ok(())
}

/// Mutex-wrapped per-block state, unwrapped again once the rounds are done.
fn into_inner<S>(v: Vec<Mutex<S>>) -> Vec<S> {
    v.into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// Top-k of every row of a self-join, self excluded, per block of `block` rows.
fn self_join_keys<T: Real>(
    x: &Prepared<'_, T>,
    (k, block): (usize, usize),
    (screen, pack_once): (Screen, bool),
    ctl: &Control,
) -> Result<Vec<TopK<T>>> {
    let n = x.x.rows();
    let nb = n.div_ceil(block);
    let wanted = match screen {
        Screen::Off => false,
        Screen::On => nb > 1,
        Screen::Auto => screen_wins(n, k, block),
    };
    let qs = if wanted { quant_set(x)? } else { None };
    let cache = PackCache::build(Some(x), Some(x), block, pack_once && nb > 1)?;
    let tops: Vec<Mutex<TopK<T>>> = block_tops(n, block, k)?
        .into_iter()
        .map(Mutex::new)
        .collect();
    join_rounds(nb, ctl, |bi, bj, work| {
        let (i0, i1) = block_range(bi, block, n);
        let (j0, j1) = block_range(bj, block, n);
        let mut top_i = lock(&tops[bi]);
        let tiles = ((x, (i0, i1), bi), (x, (j0, j1)));
        if bi == bj {
            let mut sink = RowSink {
                top: &mut top_i,
                first_row: 0,
                first_col: j0 as u32,
                skip: Some((0, 0)),
            };
            run_tile(tiles.0, tiles.1, (work, &cache), &mut sink);
        } else {
            let mut sink = PairSink {
                top_i: &mut top_i,
                top_j: &mut lock(&tops[bj]),
                ri: 0,
                rj: 0,
                i0: i0 as u32,
                j0: j0 as u32,
            };
            match &qs {
                Some(qs) => run_tile_screened(tiles.0, tiles.1, (work, &cache), &mut sink, qs),
                None => run_tile(tiles.0, tiles.1, (work, &cache), &mut sink),
            }
        }
    })?;
    Ok(into_inner(tops))
}

/// Top-k of query blocks against the whole base, one task per query block.
fn query_keys<T: Real>(
    q: &Prepared<'_, T>,
    b: &Prepared<'_, T>,
    (k, block): (usize, usize),
    pack_once: bool,
    ctl: &Control,
) -> Result<Vec<TopK<T>>> {
    let (nq, nbase) = (q.x.rows(), b.x.rows());
    let (qblocks, bblocks) = (nq.div_ceil(block), nbase.div_ceil(block));
    ctl.add_total((qblocks * bblocks) as u64);
    let space = Workspace::new();
    // Each task packs its query block once; the base blocks, once for all tasks.
    let cache = PackCache::build(None, Some(b), block, pack_once && qblocks > 1)?;
    let tops: Vec<TopK<T>> = block_tops(nq, block, k)?
        .into_par_iter()
        .enumerate()
        .map(|(qb, mut top)| {
            let (i0, i1) = block_range(qb, block, nq);
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
                    (q, (i0, i1), qb),
                    (b, (j0, j1)),
                    (&mut space.get(), &cache),
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

/// The result arrays (scores, indices) of `rows x k`.
type Output<T> = (Vec<T>, Vec<i64>);

/// Allocates the result arrays before any work starts, so that a request that cannot fit
/// fails at once with [`Error::OutOfMemory`].
fn alloc_output<T: Real>(rows: usize, k: usize) -> Result<Output<T>> {
    let len = crate::error::checked_len(rows, k, 8, "the neighbour lists")?;
    Ok((
        try_vec(len, T::ZERO, "the neighbour scores")?,
        try_vec(len, 0i64, "the neighbour indices")?,
    ))
}

/// Writes per-block top-k results into the output, best first, with scores in the metric's
/// units; when `self_first`, column 0 of each row is the row itself with `self_score(row)`.
/// Fails (never returns the empty-slot index) if a row holds fewer candidates than it must.
fn assemble<T: Real>(
    blocks: Vec<TopK<T>>,
    (mut scores, mut indices): Output<T>,
    k: usize,
    params: &Params<T>,
    self_first: Option<&(dyn Fn(usize) -> T + Sync)>,
) -> Result<Neighbors<T>> {
    let rows = indices.len() / k.max(1);
    let offset = usize::from(self_first.is_some());
    let mut starts = Vec::with_capacity(blocks.len());
    let mut acc = 0;
    for b in &blocks {
        starts.push(acc);
        acc += b.rows();
    }
    if acc != rows {
        return Err(Error::Internal(format!(
            "blocks hold {acc} rows, expected {rows}"
        )));
    }
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
    let short: Option<(usize, usize)> = blocks
        .into_par_iter()
        .zip(s_parts)
        .zip(i_parts)
        .zip(starts)
        .map(|(((top, s_out), i_out), start)| {
            let kk = top.k();
            let filled: Vec<usize> = (0..top.rows()).map(|r| top.filled(r)).collect();
            if let Some(r) = filled.iter().position(|&f| f < kk) {
                return Some((start + r, filled[r] + offset));
            }
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
                    so[offset + c] = params.key_to_score(keys[r * kk + c]);
                    io[offset + c] = idx[r * kk + c] as i64;
                }
            }
            None
        })
        .reduce(|| None, |a, b| a.or(b));
    if let Some((row, got)) = short {
        return Err(Error::Internal(format!(
            "row {row} received {got} of its k = {k} neighbours"
        )));
    }
    Ok(Neighbors {
        rows,
        k,
        scores,
        indices,
    })
}

/// A self-join of `n` rows can give each row `k` others: `1 <= k <= n - 1`, `n` in range.
fn check_self_k(n: usize, k: usize) -> Result<()> {
    check_rows(n)?;
    if n < 2 {
        return Err(invalid!("a self-join needs at least 2 rows, got {n}"));
    }
    if k < 1 || k > n - 1 {
        return Err(invalid!(
            "k must satisfy 1 <= k <= {} (n - 1) for a self-join of {n} rows, got {k}",
            n - 1
        ));
    }
    Ok(())
}

/// Exact k nearest neighbours of every row of `x` among the other rows (self-join).
///
/// Errors: `k` outside `1..=n-1`, fewer than 2 rows, a row the metric cannot use
/// ([`Error::InvalidRow`]), a bad thread count, allocation failure, or cancellation.
pub fn knn_self<T: Real>(
    x: Matrix<'_, T>,
    opts: &KnnOptions,
    ctl: &Control,
) -> Result<Neighbors<T>> {
    let n = x.rows();
    check_self_k(n, opts.k)?;
    pool::install(opts.threads, || {
        let out = alloc_output::<T>(n, opts.k)?;
        let params = Params::for_set(&x, opts.metric)?;
        let prepared = Prepared::new(x, &params)?;
        let others = opts.k - usize::from(opts.include_self);
        let block = block_for(opts, n);
        let blocks = if others == 0 {
            block_tops(n, block, 0)?
        } else {
            self_join_keys(
                &prepared,
                (others, block),
                (opts.screen, opts.pack_once),
                ctl,
            )?
        };
        if !opts.include_self {
            return assemble(blocks, out, opts.k, &params, None);
        }
        // The row itself, scored exactly as any other pair would be (so that a duplicate row
        // ties with it): cosine 1 (every other key is clamped to at most 1), Euclidean 0.
        let self_score = |i: usize| match params.metric {
            Metric::Cosine => T::ONE,
            Metric::Euclidean => T::ZERO,
            Metric::InnerProduct => {
                let mut bufs = (Vec::new(), Vec::new());
                params.key_to_score(prepared.pair_key(i, &prepared, i, &mut bufs))
            }
        };
        assemble(blocks, out, opts.k, &params, Some(&self_score))
    })?
}

/// Exact k nearest neighbours of every row of `queries` among all rows of `base`.
/// [`Error::InvalidRow`] errors come back as `(true, error)` for a query row and
/// `(false, error)` for a base row through [`knn_query_sides`]; this function drops the side.
pub fn knn_query<T: Real>(
    queries: Matrix<'_, T>,
    base: Matrix<'_, T>,
    opts: &KnnOptions,
    ctl: &Control,
) -> Result<Neighbors<T>> {
    knn_query_sides(queries, base, opts, ctl).map_err(|(_, e)| e)
}

/// [`knn_query`], telling which set an invalid row is in (`true`: queries).
pub fn knn_query_sides<T: Real>(
    queries: Matrix<'_, T>,
    base: Matrix<'_, T>,
    opts: &KnnOptions,
    ctl: &Control,
) -> std::result::Result<Neighbors<T>, (bool, Error)> {
    let plain = |e: Error| (false, e);
    check_rows(queries.rows().max(base.rows())).map_err(plain)?;
    if queries.cols() != base.cols() {
        return Err(plain(invalid!(
            "queries and base must have the same dimension: queries ({}, {}), base ({}, {})",
            queries.rows(),
            queries.cols(),
            base.rows(),
            base.cols()
        )));
    }
    if opts.include_self {
        return Err(plain(invalid!(
            "include_self applies to a self-join only, not to queries against a base"
        )));
    }
    if opts.k < 1 || opts.k > base.rows() {
        return Err(plain(invalid!(
            "k must satisfy 1 <= k <= {} (the number of base rows), got {}",
            base.rows(),
            opts.k
        )));
    }
    pool::install(opts.threads, || {
        let params = Params::for_query(&queries, &base, opts.metric)?;
        let run = || -> Result<Neighbors<T>> {
            let out = alloc_output::<T>(queries.rows(), opts.k)?;
            let q = Prepared::new(queries, &params)?;
            let b = Prepared::new(base, &params)?;
            let block = match opts.block {
                0 => query_block(queries.rows(), rayon::current_num_threads()),
                b => b,
            };
            let blocks = query_keys(&q, &b, (opts.k, block), opts.pack_once, ctl)?;
            assemble(blocks, out, opts.k, &params, None)
        };
        run().map_err(plain)
    })
    .map_err(plain)?
}

/// A partial top-k: for each query row, its best candidates among some base rows, sorted best
/// first, as ranking keys of prepared rows and global base indices (`u32::MAX` pads rows
/// that saw fewer than k candidates).
#[derive(Debug, Clone, PartialEq)]
pub struct PartialTopK<T> {
    pub rows: usize,
    pub k: usize,
    pub keys: Vec<T>,
    pub indices: Vec<u32>,
}

impl<T: Real> PartialTopK<T> {
    fn from_topk(top: TopK<T>) -> Self {
        let (rows, k) = (top.rows(), top.k());
        let (keys, indices) = top.into_sorted();
        Self {
            rows,
            k,
            keys,
            indices,
        }
    }
}

/// Runs `f` over the tiles of `rows_a x rows_b` in blocks of `block` rows, in order.
fn for_tiles(
    rows_a: usize,
    rows_b: usize,
    block: usize,
    mut f: impl FnMut((usize, usize), (usize, usize)),
) {
    for i0 in (0..rows_a).step_by(block) {
        for j0 in (0..rows_b).step_by(block) {
            f(
                (i0, (i0 + block).min(rows_a)),
                (j0, (j0 + block).min(rows_b)),
            );
        }
    }
}

/// Building block for scale-out: the top-k of a block of query rows against a block of base
/// rows, on the calling thread. `params` are those of the whole run ([`Params::for_set`] or
/// [`Params::for_query`] of the full sets), so that keys agree with [`knn_self`] and
/// [`knn_query`] bit for bit. `base_offset` is the global index of `base`'s first row; when
/// `query_offset` is given, queries and base share one index space (a self-join split into
/// blocks) and the candidate with the query's own global index is skipped.
/// Combine results over disjoint base blocks with [`merge_partial`], then [`finish_partial`].
pub fn block_topk<T: Real>(
    queries: Matrix<'_, T>,
    base: Matrix<'_, T>,
    base_offset: usize,
    query_offset: Option<usize>,
    k: usize,
    params: &Params<T>,
) -> Result<PartialTopK<T>> {
    check_dims(&queries, &base, params)?;
    let b_off = check_offset(base_offset, base.rows(), "base block")?;
    if let Some(qo) = query_offset {
        check_offset(qo, queries.rows(), "query block")?;
    }
    let q = Prepared::new(queries, params)?;
    let b = Prepared::new(base, params)?;
    let (nq, nb) = (queries.rows(), base.rows());
    let mut top = TopK::try_new(nq, k)?;
    let mut work = Work::new();
    let block = auto_block(nq.max(nb), 1);
    for_tiles(nq, nb, block, |(i0, i1), (j0, j1)| {
        // Skip the pair whose global indices agree: query_offset + i0 + r == base_offset
        // + j0 + c, with both sides shifted so that neither goes negative.
        let skip = query_offset.map(|qo| {
            let (rq, cb) = (qo + i0, base_offset + j0);
            let low = rq.min(cb);
            (rq - low, cb - low)
        });
        let mut sink = RowSink {
            top: &mut top,
            first_row: i0,
            first_col: b_off + j0 as u32,
            skip,
        };
        run_tile(
            (&q, (i0, i1), i0),
            (&b, (j0, j1)),
            (&mut work, &PackCache::none()),
            &mut sink,
        );
    });
    Ok(PartialTopK::from_topk(top))
}

fn check_dims<T: Real>(a: &Matrix<'_, T>, b: &Matrix<'_, T>, params: &Params<T>) -> Result<()> {
    if a.cols() != b.cols() {
        return Err(invalid!(
            "both blocks must have the same dimension: {} vs {}",
            a.cols(),
            b.cols()
        ));
    }
    if params.metric == Metric::Euclidean && params.centre.len() != a.cols() {
        return Err(invalid!(
            "the Euclidean centre has {} values for {} dimensions",
            params.centre.len(),
            a.cols()
        ));
    }
    Ok(())
}

/// Building block for a symmetric self-join split over machines: blocks `I` (rows `i0..`)
/// and `J` (rows `j0..`) of one set, with the run's `params`. Returns the partial top-k of
/// I's rows among J's rows and of J's rows among I's rows, each pair computed once. When the
/// blocks are the same (`i0 == j0`), the second result is empty (0 rows) and the first skips
/// each row itself. Blocks must be disjoint or identical.
pub fn block_pair_topk<T: Real>(
    xi: Matrix<'_, T>,
    i0: usize,
    xj: Matrix<'_, T>,
    j0: usize,
    k: usize,
    params: &Params<T>,
) -> Result<(PartialTopK<T>, PartialTopK<T>)> {
    check_dims(&xi, &xj, params)?;
    let oi = check_offset(i0, xi.rows(), "block I")?;
    let oj = check_offset(j0, xj.rows(), "block J")?;
    if i0 == j0 {
        if xi.rows() != xj.rows() {
            return Err(invalid!("blocks at the same offset must be the same block"));
        }
        let top = block_topk(xi, xi, i0, Some(i0), k, params)?;
        return Ok((top, PartialTopK::from_topk(TopK::try_new(0, k)?)));
    }
    let overlap = i0 < j0 + xj.rows() && j0 < i0 + xi.rows();
    if overlap {
        return Err(invalid!(
            "blocks must be disjoint or identical: rows {i0}..{} and {j0}..{}",
            i0 + xi.rows(),
            j0 + xj.rows()
        ));
    }
    let a = Prepared::new(xi, params)?;
    let b = Prepared::new(xj, params)?;
    let (ni, nj) = (xi.rows(), xj.rows());
    let mut top_i = TopK::try_new(ni, k)?;
    let mut top_j = TopK::try_new(nj, k)?;
    let mut work = Work::new();
    let block = auto_block(ni.max(nj), 1);
    for_tiles(ni, nj, block, |(r0, r1), (c0, c1)| {
        let mut sink = PairSink {
            top_i: &mut top_i,
            top_j: &mut top_j,
            ri: r0,
            rj: c0,
            i0: oi + r0 as u32,
            j0: oj + c0 as u32,
        };
        run_tile(
            (&a, (r0, r1), r0),
            (&b, (c0, c1)),
            (&mut work, &PackCache::none()),
            &mut sink,
        );
    });
    Ok((PartialTopK::from_topk(top_i), PartialTopK::from_topk(top_j)))
}

/// Merges two partial results for the same query rows over disjoint base rows.
pub fn merge_partial<T: Real>(a: &PartialTopK<T>, b: &PartialTopK<T>) -> Result<PartialTopK<T>> {
    if a.rows != b.rows
        || a.k != b.k
        || a.keys.len() != a.rows * a.k
        || b.keys.len() != b.rows * b.k
    {
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

/// Turns a complete partial result into [`Neighbors`] in the metric's units; fails if a row
/// has fewer than k candidates (some base block was never merged in).
pub fn finish_partial<T: Real>(p: PartialTopK<T>, params: &Params<T>) -> Result<Neighbors<T>> {
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
        scores: p.keys.iter().map(|&s| params.key_to_score(s)).collect(),
        indices: p.indices.iter().map(|&i| i as i64).collect(),
    })
}

/// The scores of given pairs `(i, j)` (row i of `x`, row j of `base`, or of `x` when `base`
/// is `None`), with exactly the arithmetic of [`knn_self`] / [`knn_query`]: the score `knn`
/// would return for that pair. `params` as for those functions.
pub fn pair_scores<T: Real>(
    x: Matrix<'_, T>,
    base: Option<Matrix<'_, T>>,
    pairs: &[(usize, usize)],
    params: &Params<T>,
) -> Result<Vec<T>> {
    let b = base.unwrap_or(x);
    check_dims(&x, &b, params)?;
    if let Some(&(i, j)) = pairs.iter().find(|&&(i, j)| i >= x.rows() || j >= b.rows()) {
        return Err(invalid!(
            "pair ({i}, {j}) is out of range for {} x {} rows",
            x.rows(),
            b.rows()
        ));
    }
    let px = Prepared::new(x, params)?;
    let pb = match base {
        Some(b) => Some(Prepared::new(b, params)?),
        None => None,
    };
    let pb = pb.as_ref().unwrap_or(&px);
    let mut out = try_vec(pairs.len(), T::ZERO, "the pair scores")?;
    out.par_chunks_mut(4096)
        .zip(pairs.par_chunks(4096))
        .for_each_init(PairKeyBufs::default, |bufs, (o, p)| {
            px.pair_keys(pb, p, o, bufs);
            for v in o {
                *v = params.key_to_score(*v);
            }
        });
    Ok(out)
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
                        o.pack_once = threads == 2;
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

    /// Blocks packed once per call ([`PackCache`]) give the bits of blocks packed per tile:
    /// full-mantissa values, every metric, f32 and f64, self-joins and queries over several
    /// blocks (and the budget check: a cache is built only where asked and where it fits).
    #[test]
    fn packing_once_or_per_tile_gives_the_same_bits() {
        fn both<T: Real>(x: &[T], n: usize, d: usize) {
            let m = Matrix::new(x, n, d).unwrap();
            let q = Matrix::new(&x[..37 * d], 37, d).unwrap();
            for metric in [Metric::InnerProduct, Metric::Euclidean, Metric::Cosine] {
                for (block, k) in [(16, 5), (48, 12), (5, 1)] {
                    let mut o = KnnOptions::new(k, metric);
                    o.block = block;
                    o.screen = Screen::Off;
                    let run = |o: &KnnOptions| {
                        let s = knn_self(m, o, &Control::new()).unwrap();
                        let qq = knn_query(q, m, o, &Control::new()).unwrap();
                        let bits = |v: &[T]| v.iter().map(|s| s.to_f64().to_bits()).collect();
                        let b: (Vec<u64>, Vec<u64>) = (bits(&s.scores), bits(&qq.scores));
                        (s.indices, qq.indices, b)
                    };
                    o.pack_once = false;
                    let per_tile = run(&o);
                    o.pack_once = true;
                    assert_eq!(run(&o), per_tile, "{metric} block={block} k={k}");
                }
            }
            let p = Params::for_set(&m, Metric::Cosine).unwrap();
            let x = Prepared::new(m, &p).unwrap();
            let cached = PackCache::build(Some(&x), Some(&x), 16, true).unwrap();
            assert_eq!(
                (cached.rows.len(), cached.cols.len()),
                (n.div_ceil(16), n.div_ceil(16))
            );
            assert!(cached.rows_of((16, 32)).is_some() && cached.cols_of((16, 32)).is_some());
            // a range that is not one of the cache's blocks is packed per tile
            assert!(cached.rows_of((8, 24)).is_none() && cached.cols_of((16, 20)).is_none());
            assert!(PackCache::build(Some(&x), None, 16, false)
                .unwrap()
                .rows
                .is_empty());
        }
        let mut seed = 7u64;
        let (n, d) = (203, 37);
        let x: Vec<f64> = (0..n * d)
            .map(|_| (lcg(&mut seed) % 1_000_003) as f64 / 65_537.0 - 7.5)
            .collect();
        both(&x, n, d);
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        both(&x32, n, d);
    }

    /// The int8 screen changes no bit of a cosine f32 self-join: rows with near-ties,
    /// duplicates and a wide dynamic range, blocks small enough that many rounds run screened.
    #[test]
    fn screened_self_join_equals_unscreened_bit_for_bit() {
        let mut seed = 21;
        for &(n, d, k, block) in &[
            (300, 5, 3, 32),
            (257, 40, 10, 48),
            (200, 1, 4, 16),
            (150, 301, 20, 32),
        ] {
            let mut x: Vec<f32> = (0..n * d)
                .map(|i| {
                    let v = (lcg(&mut seed) % 2001) as f32 / 1000.0 - 1.0;
                    if i % 7 == 0 {
                        v * 1e-6
                    } else {
                        v
                    }
                })
                .collect();
            // Duplicates and a scaled copy.
            x.copy_within(0..d, d);
            for v in &mut x[2 * d..3 * d] {
                *v *= 1e20;
            }
            x.copy_within(3 * d..4 * d, 5 * d);
            let m = Matrix::new(&x, n, d).unwrap();
            for include_self in [false, true] {
                let mut o = KnnOptions::new(k, Metric::Cosine);
                o.block = block;
                o.include_self = include_self;
                o.screen = Screen::Off;
                o.pack_once = false;
                let off = knn_self(m, &o, &Control::new()).unwrap();
                o.screen = Screen::On;
                o.pack_once = true;
                let before = screen::counters().0;
                let on = knn_self(m, &o, &Control::new()).unwrap();
                if screen::available() {
                    assert!(screen::counters().0 > before, "no tile was screened");
                }
                assert_eq!(on.indices, off.indices, "n={n} d={d} k={k}");
                let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&on.scores), bits(&off.scores), "n={n} d={d} k={k}");
            }
        }
        assert!(Screen::parse("maybe").is_err());
        assert_eq!(Screen::parse("on").unwrap(), Screen::On);
    }

    /// `Screen::Auto` screens the measured wins (large n, small k) and leaves off the
    /// measured losses and break-evens (docs/screening.md).
    #[test]
    fn auto_screens_where_measured_to_win() {
        let on = |n: usize, k: usize, threads: usize| screen_wins(n, k, auto_block(n, threads));
        for (n, k) in [
            (20_000, 10),
            (50_000, 10),
            (100_000, 10),
            (400_000, 10),
            (10_000_000, 100),
        ] {
            assert!(on(n, k, 1) && on(n, k, 2), "n={n} k={k}");
        }
        for (n, k) in [
            (10_000, 10),
            (20_000, 100),
            (30_000, 100),
            (50_000, 100),
            (100_000, 100),
            (1_000, 10),
            (300, 1),
        ] {
            assert!(!on(n, k, 1) && !on(n, k, 2), "n={n} k={k}");
        }
    }

    #[test]
    fn auto_block_is_a_bounded_multiple_of_16() {
        for rows in [1, 100, 10_000, 50_000, 10_000_000] {
            for threads in [1, 2, 64] {
                let b = auto_block(rows, threads);
                assert!(
                    b.is_multiple_of(16) && (MIN_BLOCK..=MAX_BLOCK).contains(&b),
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
        let x: Vec<f32> = small_ints(n, d, &mut seed)
            .iter()
            .map(|v| v * 0.37 + 1000.0)
            .collect();
        let m = Matrix::new(&x, n, d).unwrap();
        for metric in [Metric::Euclidean, Metric::Cosine, Metric::InnerProduct] {
            let params = Params::for_set(&m, metric).unwrap();
            let whole = knn_self(m, &KnnOptions::new(k, metric), &Control::new()).unwrap();
            let cut = 17;
            let a = block_topk(m, m.slice_rows(0, cut), 0, Some(0), k, &params).unwrap();
            let b = block_topk(m, m.slice_rows(cut, n), cut, Some(0), k, &params).unwrap();
            let merged = finish_partial(merge_partial(&a, &b).unwrap(), &params).unwrap();
            assert_eq!(merged, whole, "{metric}");
            let other_way = finish_partial(merge_partial(&b, &a).unwrap(), &params).unwrap();
            assert_eq!(other_way, whole);
            // The symmetric block pairs: (0..cut, 0..cut), (0..cut, cut..n), (cut..n, cut..n).
            let (top, rest) = (m.slice_rows(0, cut), m.slice_rows(cut, n));
            let (d0, _) = block_pair_topk(top, 0, top, 0, k, &params).unwrap();
            let (p01, p10) = block_pair_topk(top, 0, rest, cut, k, &params).unwrap();
            let (d1, _) = block_pair_topk(rest, cut, rest, cut, k, &params).unwrap();
            let first = finish_partial(merge_partial(&d0, &p01).unwrap(), &params).unwrap();
            let second = finish_partial(merge_partial(&p10, &d1).unwrap(), &params).unwrap();
            assert_eq!(first.indices, whole.indices[..cut * k]);
            assert_eq!(second.indices, whole.indices[cut * k..]);
            assert_eq!(first.scores, whole.scores[..cut * k]);
            assert_eq!(second.scores, whole.scores[cut * k..]);
        }
        let params = Params::for_set(&m, Metric::Euclidean).unwrap();
        let short = block_topk(m, m.slice_rows(0, 3), 0, Some(0), k, &params).unwrap();
        assert!(finish_partial(short, &params).is_err());
        assert!(block_topk(m, m, usize::MAX - 3, None, k, &params).is_err());
        let (top, rest) = (m.slice_rows(0, 20), m.slice_rows(10, n));
        assert!(block_pair_topk(top, 0, rest, 10, k, &params).is_err());
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
