"""Measures computed from two sets' top-k lists alone, vectorised in numpy (O(n k) memory).

Everything starts from one match of the two lists: for each entry ``ib[i, c]`` of B's list of
item i, its column in A's list of i (or -1). Keys ``i * n + j`` sort each row's neighbours into
one globally sorted array, so a single ``searchsorted`` answers all n k look-ups: nothing is
n x n, and no Python loop runs over the items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol, Union, cast, overload

import numpy as np

from .. import _api, _core
from .neighbors import Neighbors, SetLike, n_of, resolve

__all__ = [
    "cknna",
    "cycle_knn",
    "jaccard",
    "joint_rank_jaccard",
    "lcmc",
    "mutual_knn",
    "qnx",
    "rank_similarity",
    "rnx",
]

KSpec = Union[int, Sequence[int]]


def find_in_rows(lists: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each entry t: the column of ``values[t]`` in the list ``lists[rows[t]]``, or -1
    (the core's look-up, in parallel: O(entries * k) work, no n x n anything).

    ``lists`` is (n, k) without repeats in a row; ``rows`` and ``values`` have one shape.
    """
    out = _core.find_in_rows(
        np.ascontiguousarray(lists, dtype=np.int64),
        np.ascontiguousarray(rows, dtype=np.int64).ravel(),
        np.ascontiguousarray(values, dtype=np.int64).ravel(),
    )
    return out.reshape(np.shape(rows))


def _row_ids(n: int, k: int) -> np.ndarray:
    return np.broadcast_to(np.arange(n, dtype=np.int64)[:, None], (n, k))


@dataclass
class Pair:
    """Two sets' lists at a common k_max, and where each of B's entries sits in A's list."""

    ia: np.ndarray
    ib: np.ndarray
    sa: np.ndarray
    sb: np.ndarray
    pos: np.ndarray  # (n, k_max): column of ib[i, c] in ia[i], or -1
    n: int

    @classmethod
    def build(cls, na: Neighbors, nb: Neighbors, kmax: int) -> Pair:
        ia, ib = na.indices[:, :kmax], nb.indices[:, :kmax]
        pos = find_in_rows(ia, _row_ids(na.n, kmax), ib)
        return cls(ia, ib, na.scores[:, :kmax], nb.scores[:, :kmax], pos, na.n)

    def shared(self, k: int) -> np.ndarray:
        """(n, k) bool: entry c of B's first k is among A's first k."""
        p = self.pos[:, :k]
        return (p >= 0) & (p < k)

    def overlap(self, k: int) -> np.ndarray:
        return self.shared(k).sum(axis=1)


ItemFn = Callable[[Pair, int], np.ndarray]


def _mnno_items(p: Pair, k: int) -> np.ndarray:
    return p.overlap(k) / k


def _jaccard_items(p: Pair, k: int) -> np.ndarray:
    o = p.overlap(k)
    return o / (2 * k - o)


def _harmonic(k: int) -> np.ndarray:
    """H_0..H_k, H_0 = 0."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, k + 1))])


def _rank_similarity_items(p: Pair, k: int) -> np.ndarray:
    shared = p.shared(k)
    rb = np.arange(1, k + 1, dtype=np.float64)[None, :]
    ra = p.pos[:, :k] + 1.0
    terms = np.where(shared, 2.0 / ((1.0 + np.abs(ra - rb)) * (ra + rb)), 0.0)
    o = shared.sum(axis=1)
    h = _harmonic(k)[o]
    out: np.ndarray = np.divide(terms.sum(axis=1), h, out=np.zeros(p.n), where=o > 0)
    return out


def _joint_rank_jaccard_items(p: Pair, k: int) -> np.ndarray:
    return _jaccard_items(p, k) * _rank_similarity_items(p, k)


def _lcmc_items(p: Pair, k: int) -> np.ndarray:
    return (p.overlap(k) - k * k / (p.n - 1)) / k


def _cycle_items(p: Pair, k: int) -> np.ndarray:
    # i counts when (j, i) is an edge of A's graph for some j in N_B(i).
    back = find_in_rows(np.ascontiguousarray(p.ia[:, :k]), p.ib[:, :k], _row_ids(p.n, k))
    return np.asarray((back >= 0).any(axis=1), dtype=np.float64)


def _hsic(ia: np.ndarray, sa: np.ndarray, ib: np.ndarray, sb: np.ndarray, k: int) -> float:
    """platonic-rep's unbiased HSIC of A's and B's scores kept on the mutual top-k pairs, in
    one pass of the core (``nnoverlap.reference.cknna`` is the plain transcription)."""

    def c(a: np.ndarray, dtype: Any) -> np.ndarray:
        return np.ascontiguousarray(a[:, :k], dtype=dtype)

    return float(
        _core.masked_hsic(c(ia, np.int64), c(sa, np.float64), c(ib, np.int64), c(sb, np.float64), k)
    )


def cknna_self(nb: Neighbors, k: int) -> float:
    """The HSIC of one set's cosine kernel with itself, kept on its own top-k pairs."""
    return _hsic(nb.indices, nb.scores, nb.indices, nb.scores, k)


def cknna_value(p: Pair, k: int, selves: tuple[float, float] | None = None) -> float:
    """CKNNA at k from lists with cosine scores; ``selves``: the two sets' cknna_self."""
    kl = _hsic(p.ia, p.sa, p.ib, p.sb, k)
    if selves is None:
        selves = (_hsic(p.ia, p.sa, p.ia, p.sa, k), _hsic(p.ib, p.sb, p.ib, p.sb, k))
    return float(kl / (np.sqrt(selves[0] * selves[1]) + 1e-6))


def check_pair_n(a: SetLike, b: SetLike) -> int:
    na, nb = n_of(a, "A"), n_of(b, "B")
    if na != nb:
        raise ValueError(
            "A and B must describe the same items (the same number of rows): "
            f"A has {na} rows, B has {nb}"
        )
    return na


def pair_lists(
    a: SetLike,
    b: SetLike,
    k: KSpec,
    metric: str,
    threads: int | None,
    *,
    high: int | None = None,
    what: str | None = None,
    need_data: bool = False,
) -> tuple[Neighbors, Neighbors, list[int], bool]:
    """Checks k against n, then resolves both sets at the largest k."""
    metric = _api._check_metric(metric)
    threads = _api._check_threads(threads)
    n = check_pair_n(a, b)
    h, w = _api._self_join_range(n)
    ks, single = _api._check_ks(k, h if high is None else high, w if what is None else what)
    kmax = max(ks)
    na = resolve(a, kmax, metric, threads, "A", need_data=need_data)
    nb = resolve(b, kmax, metric, threads, "B", need_data=need_data)
    return na, nb, ks, single


def run_items(
    fn: ItemFn,
    a: SetLike,
    b: SetLike,
    k: KSpec,
    metric: str,
    threads: int | None,
    per_item: bool,
) -> Any:
    na, nb, ks, single = pair_lists(a, b, k, metric, threads)
    p = Pair.build(na, nb, max(ks))
    cols = [fn(p, kk) for kk in ks]
    if per_item:
        return cols[0] if single else np.stack(cols, axis=1)
    if fn is _mnno_items:  # exactly nnoverlap.mnno's sum(o_i) / (k n)
        values = np.array([float(p.overlap(kk).sum() / (kk * p.n)) for kk in ks])
    else:
        values = np.array([float(np.mean(c)) for c in cols])
    return float(values[0]) if single else values


class ListMeasure(Protocol):
    """A measure of two sets from their lists: the return type follows ``k`` and ``per_item``."""

    @overload
    def __call__(
        self,
        a: SetLike,
        b: SetLike,
        k: int = ...,
        *,
        metric: str = ...,
        threads: int | None = ...,
        per_item: Literal[False] = ...,
    ) -> float: ...
    @overload
    def __call__(
        self,
        a: SetLike,
        b: SetLike,
        k: Sequence[int],
        *,
        metric: str = ...,
        threads: int | None = ...,
        per_item: Literal[False] = ...,
    ) -> np.ndarray: ...
    @overload
    def __call__(
        self,
        a: SetLike,
        b: SetLike,
        k: KSpec = ...,
        *,
        metric: str = ...,
        threads: int | None = ...,
        per_item: Literal[True],
    ) -> np.ndarray: ...


def typed(f: Callable[..., Any]) -> ListMeasure:
    return cast(ListMeasure, f)


@typed
def mutual_knn(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Mutual k-NN (= mNNO, platonic-rep's ``mutual_knn``): the mean of o_i / k, with
    o_i = |N_A(i) ∩ N_B(i)|. Chance: k / (n - 1).

    ``a``, ``b``: arrays (n, d_a), (n, d_b) of the same items, or :class:`Neighbors`.
    ``k``: an int (a float back) or several (an array back, one neighbour pass at the largest);
    ``per_item=True``: the per-item values instead of the mean.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0], [7.0]]); B = np.array([[0.0], [5.0], [3.0], [4.0]])
    >>> nno.mutual_knn(A, B, k=2, metric="l2")
    0.625
    >>> nno.mutual_knn(A, B, k=[1, 2], metric="l2", per_item=True).tolist()
    [[0.0, 0.5], [0.0, 0.5], [0.0, 0.5], [0.0, 1.0]]
    """
    return run_items(_mnno_items, a, b, k, metric, threads, per_item)


@typed
def jaccard(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Mean Jaccard index of the k-NN sets, o_i / (2k - o_i) (ReSi ``jaccard_similarity``).

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0], [7.0]]); B = np.array([[0.0], [5.0], [3.0], [4.0]])
    >>> nno.jaccard(A, B, k=2, metric="l2")
    0.5
    """
    return run_items(_jaccard_items, a, b, k, metric, threads, per_item)


@typed
def rank_similarity(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Mean rank similarity (ReSi ``rank_similarity``): per item, over the shared neighbours j,
    the sum of 2 / ((1 + |r_A - r_B|)(r_A + r_B)) divided by H_o (o shared; 0 when o = 0).

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0], [7.0]])
    >>> nno.rank_similarity(A, 2 * A, k=2, metric="l2")
    1.0
    """
    return run_items(_rank_similarity_items, a, b, k, metric, threads, per_item)


@typed
def joint_rank_jaccard(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Mean of Jaccard index times rank similarity, per item (ReSi, unregistered there).

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0], [7.0]]); B = np.array([[0.0], [5.0], [3.0], [4.0]])
    >>> round(nno.joint_rank_jaccard(A, B, k=2, metric="l2"), 4)
    0.2083
    """
    return run_items(_joint_rank_jaccard_items, a, b, k, metric, threads, per_item)


@typed
def lcmc(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Local continuity meta-criterion (ZADU ``lcmc``): mNNO - k / (n - 1), per item
    (o_i - k^2 / (n - 1)) / k. 0 by chance.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0], [7.0]]); B = np.array([[0.0], [5.0], [3.0], [4.0]])
    >>> nno.lcmc(A, B, k=2, metric="l2")
    -0.04166666666666663
    """
    return run_items(_lcmc_items, a, b, k, metric, threads, per_item)


@typed
def cycle_knn(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    threads: int | None = None,
    per_item: bool = False,
) -> Any:
    """Cycle k-NN (platonic-rep ``cycle_knn``, asymmetric): the share of items i that are among
    the A-neighbours of at least one of their B-neighbours.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0], [7.0]]); B = np.array([[0.0], [5.0], [3.0], [4.0]])
    >>> nno.cycle_knn(A, B, k=1, metric="l2")
    0.25
    """
    return run_items(_cycle_items, a, b, k, metric, threads, per_item)


def qnx(
    a: SetLike,
    b: SetLike,
    k_max: int = 100,
    *,
    metric: str = "cosine",
    threads: int | None = None,
) -> np.ndarray:
    """Q_NX(K) = mNNO^K for K = 1..k_max, from one neighbour pass at k_max: (k_max,) float64.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0], [7.0]]); B = np.array([[0.0], [5.0], [3.0], [4.0]])
    >>> nno.qnx(A, B, k_max=3, metric="l2").tolist()
    [0.0, 0.625, 1.0]
    """
    na, nb, ks, _ = pair_lists(a, b, k_max, metric, threads)
    return qnx_curve(Pair.build(na, nb, ks[0]), ks[0])


def qnx_curve(p: Pair, k_max: int) -> np.ndarray:
    # Entry j of both lists counts for every K >= max(its two ranks).
    pos = p.pos[:, :k_max]
    c = np.broadcast_to(np.arange(k_max)[None, :], pos.shape)
    hit = pos >= 0
    top = np.maximum(pos, c)[hit]
    counts = np.cumsum(np.bincount(top, minlength=k_max)[:k_max])
    return counts / (np.arange(1, k_max + 1) * p.n)


def rnx(
    a: SetLike,
    b: SetLike,
    k_max: int = 100,
    *,
    metric: str = "cosine",
    threads: int | None = None,
) -> np.ndarray:
    """R_NX(K) = ((n - 1) Q_NX(K) - K) / (n - 1 - K) for K = 1..k_max (k_max <= n - 2):
    Q_NX rescaled so that chance is 0 and identical neighbourhoods 1.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0], [7.0]]); B = np.array([[0.0], [5.0], [3.0], [4.0]])
    >>> nno.rnx(A, B, k_max=2, metric="l2").tolist()
    [-0.5, -0.125]
    """
    n = check_pair_n(a, b)
    high = n - 2
    if high < 1:
        raise ValueError(f"R_NX needs n >= 3 items, got n = {n}")
    na, nb, ks, _ = pair_lists(
        a, b, k_max, metric, threads, high=high, what=f"n - 2 for R_NX of n = {n} items"
    )
    q = qnx_curve(Pair.build(na, nb, ks[0]), ks[0])
    K = np.arange(1, ks[0] + 1)
    return ((n - 1) * q - K) / (n - 1 - K)


def cknna(
    a: SetLike,
    b: SetLike,
    k: KSpec = 10,
    *,
    threads: int | None = None,
) -> Any:
    """CKNNA (platonic-rep ``cknna(..., topk=k, unbiased=True)``): the unbiased HSIC of the
    two cosine kernels kept only on the pairs in both top-k lists, over
    sqrt(HSIC_AA HSIC_BB) + 1e-6 (their constant, kept). Cosine only (their rows are
    L2-normalised, kernel = inner product); from the lists *with their scores*, no n x n matrix.
    Needs k >= 2 and n >= 4. A float for an int k, an array for several.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(100, 8))
    >>> round(nno.cknna(A, A, k=10), 4)
    1.0
    """
    n = check_pair_n(a, b)
    if n < 4:
        raise ValueError(f"cknna needs at least 4 items (unbiased HSIC), got n = {n}")
    na, nb, ks, single = pair_lists(a, b, k, "cosine", threads)
    if min(ks) < 2:
        raise ValueError(f"cknna needs k >= 2 (platonic-rep's condition), got k = {min(ks)}")
    p = Pair.build(na, nb, max(ks))
    values = np.array([cknna_value(p, kk) for kk in ks])
    return float(values[0]) if single else values


# The per-item functions of the list measures, by name (for measure(), nulls, compare_many).
ITEMS: dict[str, ItemFn] = {
    "mnno": _mnno_items,
    "mutual_knn": _mnno_items,
    "jaccard": _jaccard_items,
    "rank_similarity": _rank_similarity_items,
    "joint_rank_jaccard": _joint_rank_jaccard_items,
    "lcmc": _lcmc_items,
    "cycle_knn": _cycle_items,
}
