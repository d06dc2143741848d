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
    let (na, nb) = (Narrow::of(ia, kmax, k)?, Narrow::of(ib, kmax, k)?);
    let lists = Lists {
        a: Side::new(ia, na.as_ref()),
        b: Side::new(ib, nb.as_ref()),
        kmax,
        k,
    };
    // For entry (i, c) of B's first k: its column in A's first k, or -1 (not mutual).
    let mut pos = try_vec(n * k, -1i32, "the mutual entries")?;
    pos.par_chunks_mut(k * 256)
        .enumerate()
        .for_each(|(chunk, out)| {
            for (r, orow) in out.chunks_exact_mut(k).enumerate() {
                lists.positions::<SIMD>(chunk * 256 + r, orow);
            }
        });
    let (ra, rb) = (
        Reciprocal::of::<SIMD>(lists.a, kmax, k)?,
        Reciprocal::of::<SIMD>(lists.b, kmax, k)?,
    );
    let scored = Scored {
        sa,
        sb,
        ra: &ra,
        rb: &rb,
    };
    let mut ws = Workspace::new(n)?;
    let (_, hsic, _) = pair_pass::<SIMD>(&lists, Some(&scored), Some(&pos), false, &mut ws);
    Ok(hsic.expect("scores were given"))
}

/// Whether the matching takes the explicit SSE2 path. SSE2 is part of the x86_64 baseline, so
/// no run-time dispatch is needed; the portable loop (which the compiler auto-vectorises only
/// into a slower lane-by-lane mask, ~7 ns per entry) serves every other target. Both are
/// compiled and tested on x86_64.
const SIMD: bool = cfg!(target_arch = "x86_64");

/// Lists of at most this many columns are matched as u32 lanes (a 16-bit mask per look-up).
const PAD: usize = 16;

/// A row of at most [`PAD`] entries as u32 lanes, padded with u32::MAX (no index): one
/// cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Lanes([u32; PAD]);

/// One set's first `k` columns as [`Lanes`], the layout of the fixed-width matching
/// (k <= [`PAD`], every entry below u32::MAX).
struct Narrow {
    rows: Vec<Lanes>,
}

impl Narrow {
    /// The narrow copy of `lists` (`n x kmax`, entries checked to lie in 0..n), or None when
    /// `k` or n is too large for it.
    fn of(lists: &[i64], kmax: usize, k: usize) -> Result<Option<Narrow>> {
        let n = lists.len() / kmax;
        if k > PAD || n >= u32::MAX as usize {
            return Ok(None);
        }
        let mut rows = try_vec(n, Lanes([u32::MAX; PAD]), "the narrow lists")?;
        for (out, row) in rows.iter_mut().zip(lists.chunks_exact(kmax)) {
            out.0
                .iter_mut()
                .zip(&row[..k])
                .for_each(|(o, &x)| *o = x as u32);
        }
        Ok(Some(Narrow { rows }))
    }
}

/// The bit mask of the lanes of `row` equal to `v`: broadcast v, four 32-bit compares, the
/// results packed to 16 bytes and their sign bits taken in one move.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lane_mask_sse2(row: &Lanes, v: u32) -> u32 {
    use core::arch::x86_64::{
        __m128i, _mm_cmpeq_epi32, _mm_load_si128, _mm_movemask_epi8, _mm_packs_epi16,
        _mm_packs_epi32, _mm_set1_epi32,
    };
    let p = row.0.as_ptr().cast::<__m128i>();
    // SAFETY: SSE2 is part of the x86_64 baseline (enabled in every x86_64 build); `row` is
    // 64 bytes aligned to 64, so the four aligned 16-byte loads stay inside it.
    unsafe {
        let want = _mm_set1_epi32(v as i32);
        let e0 = _mm_cmpeq_epi32(_mm_load_si128(p), want);
        let e1 = _mm_cmpeq_epi32(_mm_load_si128(p.add(1)), want);
        let e2 = _mm_cmpeq_epi32(_mm_load_si128(p.add(2)), want);
        let e3 = _mm_cmpeq_epi32(_mm_load_si128(p.add(3)), want);
        // -1 / 0 per lane survive the saturating packs: lane q's byte is byte q
        let packed = _mm_packs_epi16(_mm_packs_epi32(e0, e1), _mm_packs_epi32(e2, e3));
        _mm_movemask_epi8(packed) as u32
    }
}

/// [`lane_mask_sse2`] in portable code, for other targets (and tested on x86_64 too).
#[inline(always)]
fn lane_mask_portable(row: &Lanes, v: u32) -> u32 {
    row.0
        .iter()
        .enumerate()
        .fold(0u32, |m, (q, &x)| m | (u32::from(x == v) << q))
}

#[inline(always)]
fn lane_mask<const SIMD: bool>(row: &Lanes, v: u32) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if SIMD {
        return lane_mask_sse2(row, v);
    }
    lane_mask_portable(row, v)
}

/// One set's lists (`n x kmax`, row-major) and, where it applies, their narrow copy.
#[derive(Clone, Copy)]
struct Side<'a> {
    wide: &'a [i64],
    narrow: Option<&'a Narrow>,
}

impl<'a> Side<'a> {
    fn new(wide: &'a [i64], narrow: Option<&'a Narrow>) -> Self {
        Side { wide, narrow }
    }
}

/// The column of `v` in the first `k` of row `i` of `side` (`n x kmax`), or -1 (the first
/// match).
#[inline(always)]
fn find<const SIMD: bool>(side: Side<'_>, kmax: usize, k: usize, i: usize, v: usize) -> i32 {
    if let Some(nw) = side.narrow {
        let m = lane_mask::<SIMD>(&nw.rows[i], v as u32);
        return if m == 0 {
            -1
        } else {
            m.trailing_zeros() as i32
        };
    }
    side.wide[i * kmax..i * kmax + k]
        .iter()
        .position(|&x| x == v as i64)
        .map_or(-1, |c| c as i32)
}

/// Two sets' lists, of which the first `k` columns count.
struct Lists<'a> {
    a: Side<'a>,
    b: Side<'a>,
    kmax: usize,
    k: usize,
}

impl Lists<'_> {
    /// `out[c]`: the column of `ib[i][c]` in `ia[i][..k]`, or -1 (the first match).
    #[inline(always)]
    fn positions<const SIMD: bool>(&self, i: usize, out: &mut [i32]) {
        let (kmax, k) = (self.kmax, self.k);
        if let (Some(na), Some(nb)) = (self.a.narrow, self.b.narrow) {
            let a = &na.rows[i];
            for (o, &j) in out.iter_mut().zip(&nb.rows[i].0[..k]) {
                let m = lane_mask::<SIMD>(a, j);
                *o = if m == 0 {
                    -1
                } else {
                    m.trailing_zeros() as i32
                };
            }
            return;
        }
        let a = &self.a.wide[i * kmax..i * kmax + k];
        let b = &self.b.wide[i * kmax..i * kmax + k];
        for (o, &j) in out.iter_mut().zip(b) {
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

/// One set's reciprocal entries: `flags[i * k + c]` says whether row i's entry j = l[i][c]
/// has i among its own first k (i in l[j]). A mutual pair (i, j) of two sets is mutual as
/// (j, i) too exactly when both sets' flags of its entries are set, so the pair loop needs no
/// look-ups in other rows (the per-pair random access this replaces cost most of its time).
struct Reciprocal {
    flags: Vec<bool>,
}

impl Reciprocal {
    fn of<const SIMD: bool>(side: Side<'_>, kmax: usize, k: usize) -> Result<Reciprocal> {
        let n = side.wide.len() / kmax;
        let mut flags = try_vec(n * k, false, "the reciprocal entries")?;
        flags
            .par_chunks_mut(k * 256)
            .enumerate()
            .for_each(|(chunk, out)| {
                for (r, orow) in out.chunks_exact_mut(k).enumerate() {
                    let i = chunk * 256 + r;
                    for (c, o) in orow.iter_mut().enumerate() {
                        let j = side.wide[i * kmax + c] as usize;
                        *o = find::<SIMD>(side, kmax, k, j, i) >= 0;
                    }
                }
            });
        Ok(Reciprocal { flags })
    }
}

/// The running sums of one direction's masked HSIC.
struct Sums {
    t1: f64,
    sk: f64,
    sl: f64,
    colsum_k: Vec<f64>,
    rowsum_l: Vec<f64>,
}

impl Sums {
    fn new(n: usize) -> Result<Sums> {
        Ok(Sums {
            t1: 0.0,
            sk: 0.0,
            sl: 0.0,
            colsum_k: try_vec(n, 0.0f64, "the column sums")?,
            rowsum_l: try_vec(n, 0.0f64, "the row sums")?,
        })
    }

    /// Row i's kept pairs (i, j) with K_ij = kv, L_ij = lv, in order.
    #[inline(always)]
    fn add_row(&mut self, i: usize, kept: &Kept) {
        // In locals: through `self` every sum would go to memory and back per entry (the
        // compiler cannot rule out that the column sums' stores alias them).
        let (mut t1, mut sk, mut sl, mut rowsum) = (self.t1, self.sk, self.sl, 0.0f64);
        let colsum = &mut self.colsum_k[..];
        let len = kept.len;
        let terms = kept.j[..len]
            .iter()
            .zip(&kept.kv[..len])
            .zip(&kept.lv[..len])
            .zip(&kept.r[..len]);
        for (((&j, &kv), &lv), &r) in terms {
            // +0.0 for a pair that is not reciprocal: the sum is unchanged bit for bit (it
            // starts at +0.0 and a sum from +0.0 is never -0.0), without a branch
            t1 += keep(kv * lv, r);
            sk += kv;
            sl += lv;
            colsum[j] += kv;
            rowsum += lv;
        }
        (self.t1, self.sk, self.sl) = (t1, sk, sl);
        self.rowsum_l[i] = rowsum;
    }

    /// Back to zero for the next pair (the row sums are each written once per pass).
    fn reset(&mut self) {
        (self.t1, self.sk, self.sl) = (0.0, 0.0, 0.0);
        self.colsum_k.fill(0.0);
    }

    fn value(&self) -> f64 {
        let n = self.colsum_k.len();
        let t3: f64 = self
            .colsum_k
            .iter()
            .zip(&self.rowsum_l)
            .map(|(a, b)| a * b)
            .sum();
        let nf = n as f64;
        (self.t1 + self.sk * self.sl / ((nf - 1.0) * (nf - 2.0)) - 2.0 * t3 / (nf - 2.0))
            / (nf * (nf - 3.0))
    }
}

/// One row's kept entries (at most k), compacted without branches: every entry is written
/// at `len`, which only a kept one advances.
struct Kept {
    len: usize,
    j: Vec<usize>,
    kv: Vec<f64>,
    lv: Vec<f64>,
    r: Vec<bool>,
}

impl Kept {
    fn new(k: usize) -> Kept {
        Kept {
            len: 0,
            j: vec![0; k],
            kv: vec![0.0; k],
            lv: vec![0.0; k],
            r: vec![false; k],
        }
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// Called at most k times between clears, so `len` stays below k when written at.
    #[inline(always)]
    fn push(&mut self, on: bool, j: usize, kv: f64, lv: f64, r: bool) {
        let t = self.len;
        self.j[t] = j;
        self.kv[t] = kv;
        self.lv[t] = lv;
        self.r[t] = r;
        self.len = t + usize::from(on);
    }
}

/// `x` if `on`, else +0.0: a bit mask, not a branch (which the kept and reciprocal flags,
/// irregular as they are, would mispredict about every other entry).
#[inline(always)]
fn keep(x: f64, on: bool) -> f64 {
    f64::from_bits(x.to_bits() & 0u64.wrapping_sub(u64::from(on)))
}

/// The sums of both directions, made once per worker and reused pair after pair (fresh
/// memory costs a page fault per 4 KiB, which on a virtual machine is ~6 us: more than a pair's
/// sums at n = 10,000).
struct Workspace {
    fwd: Sums,
    rev: Sums,
}

impl Workspace {
    fn new(n: usize) -> Result<Workspace> {
        Ok(Workspace {
            fwd: Sums::new(n)?,
            rev: Sums::new(n)?,
        })
    }
}

/// What the masked HSIC of a pair needs besides the lists: both sets' scores (`n x kmax`)
/// and reciprocal entries.
struct Scored<'a> {
    sa: &'a [f64],
    sb: &'a [f64],
    ra: &'a Reciprocal,
    rb: &'a Reciprocal,
}

/// One pass over the rows of a pair (A, B): the histogram of the overlaps and, with scores,
/// the masked HSIC of (A, B) (sums in row order, f64) and, with `reverse`, that of (B, A)
/// from the same kept pairs: K and L swap roles, the reciprocal flags are the same, and each
/// row's terms are summed over A's columns in order (the inverse of the row's positions), as
/// the single call on (B, A) sums them, so both equal [`masked_hsic`] bit for bit. `reverse`
/// needs rows without repeats (the inverse of a row's positions is then its positions the
/// other way). `pos`: every row's positions when already found, else each row's are found
/// in the pass.
fn pair_pass<const SIMD: bool>(
    l: &Lists<'_>,
    scored: Option<&Scored<'_>>,
    pos: Option<&[i32]>,
    reverse: bool,
    ws: &mut Workspace,
) -> (Vec<u64>, Option<f64>, Option<f64>) {
    let (kmax, k) = (l.kmax, l.k);
    let n = l.a.wide.len() / kmax;
    let mut hist = vec![0u64; k + 1];
    ws.fwd.reset();
    ws.rev.reset();
    let mut fwd = scored.map(|_| &mut ws.fwd);
    let mut rev = if scored.is_some() && reverse {
        Some(&mut ws.rev)
    } else {
        None
    };
    // Row i's positions, inverse positions (B's column of A's column c', or -1; slot k takes
    // the entries that are not kept) and reciprocal flags; its kept entries, compacted.
    let mut found = vec![-1i32; k];
    let mut inv = vec![-1i32; k + 1];
    let mut recip = vec![false; k];
    let mut kept = Kept::new(k);
    for i in 0..n {
        let prow: &[i32] = match pos {
            Some(p) => &p[i * k..(i + 1) * k],
            None => {
                l.positions::<SIMD>(i, &mut found);
                &found
            }
        };
        hist[prow.iter().filter(|&&p| p >= 0).count()] += 1;
        let (Some(sc), Some(fwd)) = (scored, fwd.as_mut()) else {
            continue;
        };
        let row = i * kmax..i * kmax + k;
        let (arow, brow) = (&l.a.wide[row.clone()], &l.b.wide[row.clone()]);
        let (sa, sb) = (&sc.sa[row.clone()], &sc.sb[row]);
        let (fa, fb) = (
            &sc.ra.flags[i * k..(i + 1) * k],
            &sc.rb.flags[i * k..(i + 1) * k],
        );
        kept.clear();
        for (c, &at) in prow.iter().enumerate() {
            let on = at >= 0;
            let a = if on { at as usize } else { 0 };
            let r = on & fa[a] & fb[c];
            kept.push(on, brow[c] as usize, sa[a], sb[c], r);
            inv[if on { a } else { k }] = c as i32;
            recip[c] = r;
        }
        fwd.add_row(i, &kept);
        if let Some(rev) = rev.as_mut() {
            // (B, A): row i's kept entries over A's columns c', K' = B's score, L' = A's.
            kept.clear();
            for (c2, slot) in inv[..k].iter_mut().enumerate() {
                let c = std::mem::replace(slot, -1);
                let on = c >= 0;
                let b = if on { c as usize } else { 0 };
                kept.push(on, arow[c2] as usize, sb[b], sa[c2], recip[b]);
            }
            rev.add_row(i, &kept);
        }
    }
    (hist, fwd.map(|f| f.value()), rev.map(|r| r.value()))
}

/// What [`pair_stats`] returns for one pair of sets (a, b): how many items share 0, 1, ..., k
/// of their first k neighbours (`hist`, k + 1 counts: every measure of the overlaps o_i
/// follows from it; the same for (b, a)), the masked HSIC of [`masked_hsic`] when scores were
/// given, and with `reverse` also that of (b, a) (`hsic_reverse`; for a = b the same value).
#[derive(Debug, Clone, PartialEq)]
pub struct PairStats {
    pub hist: Vec<u64>,
    pub hsic: Option<f64>,
    pub hsic_reverse: Option<f64>,
}

/// [`PairStats`] of many pairs `(a, b)` of `m` sets' lists at once (`lists[s]` is `n x kmax`;
/// `scores[s]` its scores, or none), in parallel over the pairs: `compare_many`'s whole
/// matrix of the list measures and CKNNA in one call. The same sums as [`masked_hsic`] (bit
/// for bit) and the overlaps of [`crate::overlap_counts`]. With `reverse`, each pair serves
/// (b, a) too (the histogram is the same, the reverse HSIC comes from the same pass), so one
/// family's m x m matrix needs only the pairs a <= b; it requires that no row repeats an item
/// in its first k (checked).
///
/// Errors: lists of different shapes, a set index or an entry out of range, k of 0 or beyond
/// `kmax`, scores for some sets but not all, n < 4 with scores, with `reverse` a row that
/// repeats an item.
pub fn pair_stats(
    lists: &[&[i64]],
    scores: &[&[f64]],
    kmax: usize,
    k: usize,
    pairs: &[(usize, usize)],
    reverse: bool,
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
    // Each set checked in parallel; the error is that of the first bad set.
    let checks = lists
        .par_iter()
        .enumerate()
        .map(|(s, l)| -> Result<()> {
            if let Some(t) = l.iter().position(|&v| v < 0 || v as u64 >= n as u64) {
                return Err(invalid!(
                    "set {s}'s list of row {} names row {}, outside 0..{n}",
                    t / kmax,
                    l[t]
                ));
            }
            if reverse {
                if let Some((i, j)) = first_repeat(l, n, kmax, k)? {
                    return Err(invalid!(
                        "set {s}'s list of row {i} repeats item {j} in its first {k} entries \
                         (the reverse direction needs distinct items per row)"
                    ));
                }
            }
            Ok(())
        })
        .collect::<Vec<_>>();
    checks.into_iter().collect::<Result<Vec<()>>>()?;
    if let Some(&(a, b)) = pairs
        .iter()
        .find(|&&(a, b)| a >= lists.len() || b >= lists.len())
    {
        return Err(invalid!(
            "pair ({a}, {b}) names a set outside 0..{}",
            lists.len()
        ));
    }
    let narrow = lists
        .par_iter()
        .map(|l| Narrow::of(l, kmax, k))
        .collect::<Result<Vec<_>>>()?;
    // Each set's reciprocal entries, once (every pair with HSIC uses them).
    let recip = if scores.is_empty() {
        Vec::new()
    } else {
        (0..lists.len())
            .into_par_iter()
            .map(|s| Reciprocal::of::<SIMD>(Side::new(lists[s], narrow[s].as_ref()), kmax, k))
            .collect::<Result<Vec<_>>>()?
    };
    pairs
        .par_iter()
        .map_init(
            || None,
            |ws: &mut Option<Workspace>, &(a, b)| {
                let l = Lists {
                    a: Side::new(lists[a], narrow[a].as_ref()),
                    b: Side::new(lists[b], narrow[b].as_ref()),
                    kmax,
                    k,
                };
                // (a, a): its own reverse, computed once.
                let both = reverse && a != b;
                let scored = (!scores.is_empty()).then(|| Scored {
                    sa: scores[a],
                    sb: scores[b],
                    ra: &recip[a],
                    rb: &recip[b],
                });
                if ws.is_none() {
                    *ws = Some(Workspace::new(if scores.is_empty() { 0 } else { n })?);
                }
                let ws = ws.as_mut().expect("made above");
                let (hist, hsic, r) = pair_pass::<SIMD>(&l, scored.as_ref(), None, both, ws);
                let hsic_reverse = if reverse { r.or(hsic) } else { None };
                Ok(PairStats {
                    hist,
                    hsic,
                    hsic_reverse,
                })
            },
        )
        .collect()
}

/// The first (row, item) where a row of `lists` (`n x kmax`, entries in 0..n) repeats an item
/// in its first `k`, or None: one pass with a row stamp per item, O(n k).
fn first_repeat(lists: &[i64], n: usize, kmax: usize, k: usize) -> Result<Option<(usize, i64)>> {
    let mut seen = try_vec(n, usize::MAX, "the repeat check")?;
    for (i, row) in lists.chunks_exact(kmax).enumerate() {
        for &j in &row[..k] {
            let s = &mut seen[j as usize];
            if *s == i {
                return Ok(Some((i, j)));
            }
            *s = i;
        }
    }
    Ok(None)
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
        let got = pair_stats(&ls, &ss, kmax, k, &pairs, false).unwrap();
        // Each unordered pair once, both directions: the reverse HSIC is the single call on
        // (b, a) bit for bit, the histogram that of (a, b) (and of (b, a)).
        let upper: Vec<(usize, usize)> = (0..3).flat_map(|a| (a..3).map(move |b| (a, b))).collect();
        let both = pair_stats(&ls, &ss, kmax, k, &upper, true).unwrap();
        for (&(a, b), st) in upper.iter().zip(&both) {
            let fwd = masked_hsic(ls[a], ss[a], ls[b], ss[b], kmax, k).unwrap();
            let rev = masked_hsic(ls[b], ss[b], ls[a], ss[a], kmax, k).unwrap();
            assert_eq!(st.hsic.map(f64::to_bits), Some(fwd.to_bits()), "({a}, {b})");
            assert_eq!(
                st.hsic_reverse.map(f64::to_bits),
                Some(rev.to_bits()),
                "({b}, {a})"
            );
            assert_eq!(st.hist, got[a * 3 + b].hist, "({a}, {b})");
            assert_eq!(st.hist, got[b * 3 + a].hist, "({b}, {a})");
            if a != b {
                assert_ne!(
                    fwd, rev,
                    "({a}, {b}): the data should make cknna asymmetric"
                );
            }
        }
        for (&(a, b), st) in pairs.iter().zip(&got) {
            let want = masked_hsic(ls[a], ss[a], ls[b], ss[b], kmax, k).unwrap();
            assert_eq!(
                st.hsic.map(f64::to_bits),
                Some(want.to_bits()),
                "({a}, {b})"
            );
            assert!(st.hsic_reverse.is_none());
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
        let no_scores = pair_stats(&ls, &[], kmax, k, &pairs, true).unwrap();
        assert!(no_scores[1].hsic.is_none() && no_scores[1].hsic_reverse.is_none());
        assert!(pair_stats(&ls, &ss, kmax, k, &[(0, 3)], false).is_err());
        assert!(pair_stats(&ls, &ss[..2], kmax, k, &pairs, false).is_err());
        assert!(pair_stats(&ls, &ss, kmax, 0, &pairs, false).is_err());
    }

    /// The reverse direction relies on rows without repeats: pair_stats refuses a row that
    /// repeats an item in its first k (beyond k it does not count), naming set, row and item.
    #[test]
    fn pair_stats_reverse_rejects_a_row_that_repeats_an_item() {
        let (n, kmax) = (6usize, 3usize);
        let good: Vec<i64> = (0..n)
            .flat_map(|i| (1..=kmax).map(move |d| ((i + d) % n) as i64))
            .collect();
        let mut bad = good.clone();
        bad[4 * kmax + 1] = bad[4 * kmax]; // row 4: its first item twice
        let ls: Vec<&[i64]> = vec![&good, &bad];
        let err = pair_stats(&ls, &[], kmax, 2, &[(0, 1)], true).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("set 1") && msg.contains("row 4") && msg.contains("item 5"),
            "{msg}"
        );
        assert!(pair_stats(&ls, &[], kmax, 1, &[(0, 1)], true).is_ok());
        assert!(pair_stats(&ls, &[], kmax, 2, &[(0, 1)], false).is_ok());
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
            let (na, nb) = (
                Narrow::of(&ia, kmax, k).unwrap(),
                Narrow::of(&ib, kmax, k).unwrap(),
            );
            assert_eq!(na.is_some(), k <= PAD);
            // (narrow, SIMD): the SSE2 lanes, the portable lanes, the i64 rows
            for (narrow, simd) in [(true, true), (true, false), (false, false)] {
                let (pa, pb) = if narrow {
                    (na.as_ref(), nb.as_ref())
                } else {
                    (None, None)
                };
                let l = Lists {
                    a: Side::new(&ia, pa),
                    b: Side::new(&ib, pb),
                    kmax,
                    k,
                };
                let mut pos = vec![-2i32; n * k];
                let (ra, rb) = if simd {
                    for (i, row) in pos.chunks_exact_mut(k).enumerate() {
                        l.positions::<true>(i, row);
                    }
                    (
                        Reciprocal::of::<true>(l.a, kmax, k).unwrap(),
                        Reciprocal::of::<true>(l.b, kmax, k).unwrap(),
                    )
                } else {
                    for (i, row) in pos.chunks_exact_mut(k).enumerate() {
                        l.positions::<false>(i, row);
                    }
                    (
                        Reciprocal::of::<false>(l.a, kmax, k).unwrap(),
                        Reciprocal::of::<false>(l.b, kmax, k).unwrap(),
                    )
                };
                // the reciprocal flags of the pair, as hsic_sums forms them
                let back: Vec<bool> = (0..n * k)
                    .map(|t| {
                        let at = pos[t];
                        at >= 0 && ra.flags[(t / k) * k + at as usize] && rb.flags[t]
                    })
                    .collect();
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
                        let at = format!("k={k} narrow={narrow} simd={simd} ({i}, {c})");
                        assert_eq!(pos[i * k + c], want, "{at}");
                        let rec = want >= 0 && mutual(j as usize, i as i64);
                        assert_eq!(back[i * k + c], rec, "{at}");
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
