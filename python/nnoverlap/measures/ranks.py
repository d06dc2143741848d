"""Measures that need ranks beyond k: trustworthiness, continuity, MRRE, and the exact R_NX AUC.

Ranks of the <= k items of N_Y(i) \\ N_X(i) come from one rank-count pass over X
(:func:`.primitives.rank_counts`): O(n k) memory, never an n x n matrix or a full sort. Ranks
inside the lists are their positions. Where X is an array, its lists and those ranks come from
one fused sweep over X (``_core.knn_ranked``), the product of each pair serving both, and one
call's measures share the ranks (``measure(..., measures=["trustworthiness", "continuity"])``:
one k-NN pass over one set, one fused sweep over the other, one rank-count pass). These
measures have no cheap permutation null (a relabelled Y needs new ranks in X), and say so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Union

import numpy as np

from .. import _api, _core
from .lists import ListMeasure, Pair, check_pair_n, typed
from .neighbors import Neighbors, SetLike, resolve
from .primitives import _BLOCK, _threads, key_block, pair_scores, rank_counts

__all__ = ["continuity", "mrre", "rnx_auc", "trustworthiness"]

KSpec = Union[int, Sequence[int]]
# r_X of N_Y, keyed by (id(nx), id(ny)) of Neighbors that stay alive while the cache is used
# (inside one call): the ranks one fused pass or one rank-count pass found, for the others.
RankCache = dict[tuple[int, int], np.ndarray]


def cross_ranks(
    nx: Neighbors, ny: Neighbors, kmax: int, threads: int | None, cache: RankCache | None = None
) -> np.ndarray:
    """(n, kmax) int64: r_X(i, j) of each j = N_Y(i)[c]: its position in X's list when it is
    there, else from the rank-count pass over X's vectors (or from ``cache``)."""
    key = (id(nx), id(ny))
    if cache is not None and key in cache and cache[key].shape[1] >= kmax:
        return cache[key][:, :kmax]
    p = Pair.build(nx, ny, kmax)
    inside = p.pos >= 0
    chosen = np.where(inside, -1, p.ib)
    out = p.pos + 1
    if not inside.all():
        assert nx.data is not None  # resolve(..., need_data=True)
        counted = rank_counts(nx.data, chosen, nx.metric, threads)
        out = np.where(inside, out, counted)
    if cache is not None:
        cache[key] = out
    return out


# The fused sweep hands each candidate at or above a row's lowest chosen key to a scalar
# counting path; past a few per cent of the pairs that costs more than the product it saves
# (the rank-count kernel counts in vector registers instead).
FUSED_MAX_FRACTION = 0.02


def offered_fraction(
    arr: np.ndarray, chosen: np.ndarray, metric: str, rows: int = 32, cols: int = 512
) -> float:
    """Estimated fraction of pairs (i, l) whose key reaches row i's lowest chosen key, from
    ``rows`` evenly spaced rows scored against ``cols`` evenly spaced columns (a guide to the
    path, never to a result; NaN where the data cannot be scored, such as a zero row under
    cosine).

    The rows involved are scored as one small set by the core's pair primitive: its keys
    rank as the whole set's do up to rounding, preparing it costs its own rows rather than
    n, and unlike numpy's BLAS it leaves no threads spinning to slow the sweep that follows.
    """
    n = arr.shape[0]
    at = np.unique(np.linspace(0, n - 1, num=min(n, rows)).astype(np.int64))
    ls = np.unique(np.linspace(0, n - 1, num=min(n, cols)).astype(np.int64))
    ch = chosen[at]
    have = ch >= 0
    sub = np.unique(np.concatenate([at, ls, ch[have]]))
    xs = np.ascontiguousarray(arr[sub])
    r_ch = np.repeat(np.arange(len(at)), ch.shape[1])[have.ravel()]
    # Column-major pairs (keys are symmetric): pair_keys prepares a run of one first row once
    # per group of eight pairs, instead of once per pair.
    r_l = np.tile(np.arange(len(at)), len(ls))
    c_l = np.repeat(ls, len(at))
    keep = c_l != at[r_l]
    r_l, c_l = r_l[keep], c_l[keep]
    try:
        s_ch = pair_scores(
            xs, np.searchsorted(sub, at[r_ch]), np.searchsorted(sub, ch[have]), metric
        )
        s = pair_scores(xs, np.searchsorted(sub, c_l), np.searchsorted(sub, at[r_l]), metric)
    except ValueError:
        return math.nan
    # Scores rank as keys do, but Euclidean distances ascend: negate them.
    sign = -1.0 if metric == "l2" else 1.0
    low = np.full(len(at), np.inf)
    np.minimum.at(low, r_ch, sign * s_ch.astype(np.float64))
    reached = int((sign * s.astype(np.float64) >= low[r_l]).sum())
    return reached / max(len(r_l), 1)


def _ranked(
    s: SetLike, k: int, metric: str, threads: int | None, name: str, other: Neighbors
) -> tuple[Neighbors, np.ndarray]:
    """``s``'s lists at ``k`` and r_S of ``other``'s lists (every entry, inside or not) from
    one fused sweep over ``s`` (``_core.knn_ranked``): one product per pair instead of the
    two of a k-NN pass and a rank-count pass."""
    arr = _api._as_matrix(s, name)
    high, what = _api._self_join_range(arr.shape[0])
    _api._check_k(k, high, what)
    chosen = np.ascontiguousarray(other.indices[:, :k], dtype=np.int64)
    scores, indices, ranks = _core.knn_ranked(arr, k, chosen, metric, threads, 0, None, name)
    return Neighbors._trusted(indices, scores, metric, arr), ranks


def _ranked_or_not(
    s: SetLike, k: int, metric: str, threads: int | None, name: str, other: Neighbors
) -> tuple[Neighbors, np.ndarray | None]:
    """:func:`_ranked` where the fused sweep pays (:func:`offered_fraction`), else the plain
    lists (the ranks then come from a rank-count pass when a measure asks)."""
    arr = _api._as_matrix(s, name)
    chosen = np.ascontiguousarray(other.indices[:, :k], dtype=np.int64)
    if offered_fraction(arr, chosen, metric) < FUSED_MAX_FRACTION:
        return _ranked(arr, k, metric, threads, name, other)
    return resolve(arr, k, metric, threads, name, need_data=True), None


def ranked_lists(
    a: SetLike,
    b: SetLike,
    kmax: int,
    metric: str,
    threads: int | None,
    *,
    a_ranks: bool,
    b_ranks: bool,
    names: tuple[str, str] = ("A", "B"),
) -> tuple[Neighbors, Neighbors, RankCache]:
    """Both sets as Neighbors at ``kmax`` with their vectors, and a cache of the cross ranks
    asked for (``a_ranks``: r_A of B's lists; ``b_ranks``: r_B of A's lists). One set given
    as an array whose ranks are wanted gets its lists and those ranks from one fused sweep;
    when both qualify, the one of larger dimension (the costlier product) does."""
    cache: RankCache = {}
    an, bn = names
    fuse_a = a_ranks and not isinstance(a, Neighbors)
    fuse_b = b_ranks and not isinstance(b, Neighbors)
    if fuse_a and fuse_b:
        da = _api._as_matrix(a, an).shape[1]
        fuse_b = _api._as_matrix(b, bn).shape[1] > da
        fuse_a = not fuse_b
    if fuse_a:
        nb = resolve(b, kmax, metric, threads, bn, need_data=True)
        na, r = _ranked_or_not(a, kmax, metric, threads, an, nb)
        if r is not None:
            cache[(id(na), id(nb))] = r
    elif fuse_b:
        na = resolve(a, kmax, metric, threads, an, need_data=True)
        nb, r = _ranked_or_not(b, kmax, metric, threads, bn, na)
        if r is not None:
            cache[(id(nb), id(na))] = r
    else:
        na = resolve(a, kmax, metric, threads, an, need_data=True)
        nb = resolve(b, kmax, metric, threads, bn, need_data=True)
    return na, nb, cache


def _tnc_checks(a: SetLike, b: SetLike, k: KSpec) -> tuple[int, str]:
    n = check_pair_n(a, b)
    high = (n - 1) // 2  # the largest k with k < n / 2
    if high < 1:
        raise ValueError(f"trustworthiness and continuity need n >= 3 items, got n = {n}")
    return high, f"k < n / 2 for trustworthiness and continuity of n = {n} items"


def _tnc_items(rx: np.ndarray, pos: np.ndarray, n: int, k: int) -> np.ndarray:
    """1 - 2 / (k (2n - 3k - 1)) sum_{c < k, j not in N_X^k(i)} (r_X(i, j) - k)."""
    p = pos[:, :k]
    missing = ~((p >= 0) & (p < k))
    excess = np.where(missing, rx[:, :k] - k, 0).sum(axis=1)
    return 1.0 - (2.0 / (k * (2 * n - 3 * k - 1))) * excess


def tnc_items(
    nx: Neighbors, ny: Neighbors, ks: list[int], threads: int | None, cache: RankCache | None
) -> list[np.ndarray]:
    """Per-item trustworthiness of Y's lists against X at each k (continuity: swap them)."""
    kmax = max(ks)
    rx = cross_ranks(nx, ny, kmax, threads, cache)
    pos = Pair.build(nx, ny, kmax).pos
    return [_tnc_items(rx, pos, nx.n, kk) for kk in ks]


def _tnc(
    x: SetLike,
    y: SetLike,
    k: KSpec,
    metric: str,
    threads: int | None,
    per_item: bool,
) -> Any:
    high, what = _tnc_checks(x, y, k)
    metric = _api._check_metric(metric)
    threads = _api._check_threads(threads)
    ks, single = _api._check_ks(k, high, what)
    # Y's lists first, then X's lists and the ranks in X of Y's lists in one sweep over X.
    ny, nx, cache = ranked_lists(
        y, x, max(ks), metric, threads, a_ranks=False, b_ranks=True, names=("B", "A")
    )
    cols = tnc_items(nx, ny, ks, threads, cache)
    if per_item:
        return cols[0] if single else np.stack(cols, axis=1)
    values = np.array([float(np.mean(c)) for c in cols])
    return float(values[0]) if single else values


@typed
def trustworthiness(
    x: SetLike,
    y: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Trustworthiness of embedding ``y`` of the original ``x`` (Venna & Kaski; sklearn's
    ``trustworthiness``): 1 - 2 / (k (2n - 3k - 1)) · Σ_{j ∈ N_Y(i)} max(0, r_X(i, j) - k),
    averaged over items. It penalises neighbours in Y that are far in X. Needs k < n / 2.

    ``x``, ``y``: arrays or :class:`Neighbors` carrying their vectors (ranks beyond k need
    them). A k-NN pass over Y, then X's lists and the ranks in X of Y's neighbours in one
    fused sweep over X (given X's Neighbors: a rank-count pass over X instead).

    >>> import numpy as np, nnoverlap as nno
    >>> X = np.array([[0.0], [1.0], [3.0], [7.0], [8.0]])
    >>> Y = np.array([[0.0], [8.0], [3.0], [7.0], [1.0]])
    >>> nno.trustworthiness(X, X, k=2, metric="l2")
    1.0
    >>> round(nno.trustworthiness(X, Y, k=2, metric="l2"), 4)
    0.4667
    """
    return _tnc(x, y, k, metric, threads, per_item)


@typed
def continuity(
    x: SetLike,
    y: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Continuity (ZADU ``tnc``): trustworthiness with the roles swapped, penalising
    neighbours in X that are far in Y. Needs k < n / 2.

    >>> import numpy as np, nnoverlap as nno
    >>> X = np.array([[0.0], [1.0], [3.0], [7.0], [8.0]])
    >>> Y = np.array([[0.0], [8.0], [3.0], [7.0], [1.0]])
    >>> round(nno.continuity(X, Y, k=2, metric="l2"), 4)
    0.4667
    """
    return _tnc(y, x, k, metric, threads, per_item)


def mrre(
    x: SetLike,
    y: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> tuple[Any, Any]:
    """Mean relative rank errors, both directions, as ZADU's ``mrre`` defines them:
    ``(mrre_false, mrre_missing)`` with

        mrre_false   = 1 - (1/c) Σ_{j ∈ N_Y(i)} |r_X(i, j) - r_Y(i, j)| / r_Y(i, j),
        mrre_missing = 1 - (1/c) Σ_{j ∈ N_X(i)} |r_Y(i, j) - r_X(i, j)| / r_X(i, j),

    c = Σ_{t=1..k} |n - 2t + 1| / t, averaged over items (1 = no rank error). Each element
    follows ``k`` and ``per_item`` like the other measures.

    >>> import numpy as np, nnoverlap as nno
    >>> X = np.array([[0.0], [1.0], [3.0], [7.0], [8.0]])
    >>> nno.mrre(X, X, k=2, metric="l2")
    (1.0, 1.0)
    """
    metric = _api._check_metric(metric)
    threads = _api._check_threads(threads)
    h, w = _api._self_join_range(check_pair_n(x, y))
    ks, single = _api._check_ks(k, h, w)
    nx, ny, cache = ranked_lists(x, y, max(ks), metric, threads, a_ranks=True, b_ranks=True)
    false, missing = mrre_items(nx, ny, ks, threads, cache)
    out: list[Any] = []
    for cols in (false, missing):
        if per_item:
            out.append(cols[0] if single else np.stack(cols, axis=1))
        else:
            values = np.array([float(np.mean(col)) for col in cols])
            out.append(values[:1].item() if single else values)
    return out[0], out[1]


def mrre_items(
    nx: Neighbors, ny: Neighbors, ks: list[int], threads: int | None, cache: RankCache | None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-item (mrre_false, mrre_missing) at each k."""
    n, kmax = nx.n, max(ks)
    rx_of_y = cross_ranks(nx, ny, kmax, threads, cache)  # r_X of Y's neighbours
    ry_of_x = cross_ranks(ny, nx, kmax, threads, cache)  # r_Y of X's neighbours
    own = np.arange(1, kmax + 1, dtype=np.float64)[None, :]

    def side(base: np.ndarray, kk: int) -> np.ndarray:
        c = math.fsum(abs(n - 2 * t + 1) / t for t in range(1, kk + 1))
        err = (np.abs(base[:, :kk] - own[:, :kk]) / own[:, :kk]).sum(axis=1)
        return 1.0 - err / c

    return [side(rx_of_y, kk) for kk in ks], [side(ry_of_x, kk) for kk in ks]


def _as_data(s: SetLike, name: str, metric: str) -> np.ndarray:
    if isinstance(s, Neighbors):
        if s.data is None:
            raise ValueError(f"rnx_auc needs the vectors of {name}; its Neighbors carry none")
        return s.data
    arr = _api._as_matrix(s, name)
    _core._scan(arr, metric, name, 0)  # NaN/inf, zero rows under cosine: errors name the row
    return arr


def _full_ranks(keys: np.ndarray, r0: int) -> np.ndarray:
    """1-based ranks of every candidate of each row (self last, its rank unused)."""
    b, n = keys.shape
    keys[np.arange(b), np.arange(r0, r0 + b)] = -np.inf
    order = np.argsort(-keys, axis=1, kind="stable")  # best first, ties to the lower index
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, n + 1)[None, :], axis=1)
    return ranks


def rnx_auc(
    a: SetLike,
    b: SetLike,
    k_max: int | None = None,
    *,
    metric: str = "cosine",
    threads: int | None = None,
) -> float:
    """Area under the R_NX curve on a log-K scale (Lee & Verleysen), exact:
    Σ_{K=1}^{n-2} R_NX(K) / K ÷ Σ_{K=1}^{n-2} 1 / K, from every rank of every item in both
    spaces: O(n) memory per row in flight (blocks of rows), O(n² log n) time, in parallel.
    With ``k_max`` the truncated sum over K <= k_max: a different number, from the top-k_max
    lists only (fast).

    Practical up to about n = 20,000 on a 2-core machine: measured 109 s at n = 10,000,
    d = 300 on the shared 2-core development machine under heavy load (load average ~10;
    ``benches/bench_measures.py --case rnxauc``); time grows as n² log n.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(60, 5))
    >>> nno.rnx_auc(A, 3 * A)
    1.0
    """
    metric = _api._check_metric(metric)
    nthreads = _api._check_threads(threads)
    n = check_pair_n(a, b)
    if n < 3:
        raise ValueError(f"R_NX needs n >= 3 items, got n = {n}")
    if k_max is not None:
        from .lists import rnx

        kk = _api._check_k(k_max, n - 2, f"n - 2 for R_NX of n = {n} items")
        r = rnx(a, b, kk, metric=metric, threads=threads)
        weights = 1.0 / np.arange(1, kk + 1)
        return float((r * weights).sum() / weights.sum())
    xa, xb = _as_data(a, "A", metric), _as_data(b, "B", metric)
    sqa, sqb = np.einsum("ij,ij->i", xa, xa), np.einsum("ij,ij->i", xb, xb)

    def block(r0: int) -> np.ndarray:
        r1 = min(r0 + _BLOCK, n)
        ra = _full_ranks(key_block(xa, sqa, r0, r1, metric), r0)
        rb = _full_ranks(key_block(xb, sqb, r0, r1, metric), r0)
        top = np.maximum(ra, rb)
        top[np.arange(r1 - r0), np.arange(r0, r1)] = n  # self: beyond every K
        return np.bincount(top.ravel(), minlength=n + 1)

    with ThreadPoolExecutor(max_workers=_threads(nthreads)) as pool:
        hist = np.sum(list(pool.map(block, range(0, n, _BLOCK))), axis=0)
    K = np.arange(1, n - 1)
    q = np.cumsum(hist[1 : n - 1]) / (K * n)
    r = ((n - 1) * q - K) / (n - 1 - K)
    w = 1.0 / K
    return float((r * w).sum() / w.sum())


_ = ListMeasure  # re-exported type of trustworthiness and continuity
