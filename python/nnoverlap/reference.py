"""Pure-Python reference of nnoverlap: the oracle the property tests compare the core against.

Written for clarity, not speed: plain lists, ``math.fsum`` for every sum so that dot products and
squared distances are as exact as float64 allows (exact for small-integer data), and a full sort
of every candidate list. It follows ``semantics.md`` to the letter:

- scores: ``"cosine"`` <x,y>/(|x||y|), ``"ip"`` <x,y> (both larger is better), ``"l2"`` the
  Euclidean distance, not squared (smaller is better);
- candidates best first, equal scores in increasing index order;
- self-join excludes i itself unless ``include_self=True``, which puts i first, then the first
  k-1 others; query mode (``base=`` given) ranks all base rows.

Inputs are sequences of sequences of real numbers, e.g. ``array.tolist()``.

>>> X = [[0.0], [1.0], [3.0], [7.0]]
>>> knn(X, 2, metric="l2")[1]
[[1, 2], [0, 2], [1, 0], [2, 1]]
>>> mnno(X, [[0.0], [5.0], [3.0], [4.0]], 2, metric="l2")
0.625
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

__all__ = [
    "METRICS",
    "cknna",
    "continuity",
    "cycle_knn",
    "jaccard",
    "joint_rank_jaccard",
    "knn",
    "lcmc",
    "linear_cka",
    "mnno",
    "mrre",
    "nno",
    "overlap",
    "qnx",
    "rank_similarity",
    "ranks",
    "rnx",
    "rnx_auc",
    "second_order_cosine",
    "trustworthiness",
]

METRICS = ("cosine", "ip", "l2")

Matrix = Sequence[Sequence[float]]


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def _shape(rows: list[list[float]]) -> str:
    return f"({len(rows)}, {len(rows[0]) if rows else 0})"


def _as_rows(X: Matrix, name: str) -> list[list[float]]:
    """Convert X to a list of float rows, checking it is a finite 2-D real matrix with n >= 2."""
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} must be a 2-D sequence of real numbers, got {type(X).__name__}")
    try:
        raw = [list(row) for row in X]
    except TypeError:
        raise ValueError(f"{name} must be 2-D (a sequence of rows of numbers)") from None
    rows = []
    for i, row in enumerate(raw):
        values: list[float] = []
        for v in row:
            if isinstance(v, Iterable) and not isinstance(v, (str, bytes)):
                # A shape error, not a type error: semantics.md answers "not 2-D" with ValueError.
                raise ValueError(f"{name} must be 2-D, row {i} contains a sequence")
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(
                    f"{name} must hold real numbers, row {i} holds {type(v).__name__} {v!r}"
                )
            values.append(float(v))
        rows.append(values)
    if len(rows) < 2:
        raise ValueError(f"{name} must have at least 2 rows (n >= 2), got {len(rows)}")
    d = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != d:
            raise ValueError(f"{name} must be 2-D: row 0 has {d} values but row {i} has {len(row)}")
    if d == 0:
        raise ValueError(f"{name} must have at least 1 column (d >= 1), got shape {_shape(rows)}")
    for i, row in enumerate(rows):
        if not all(math.isfinite(v) for v in row):
            raise ValueError(f"{name} row {i} contains NaN or infinity")
    return rows


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def _check_no_zero_rows(rows: list[list[float]], name: str) -> None:
    for i, row in enumerate(rows):
        if not any(row):
            raise ValueError(f"{name} row {i} is all zeros: cosine is undefined there")


def _check_k(k: object, k_max: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    if not 1 <= k <= k_max:
        raise ValueError(f"k = {k} is out of range: need 1 <= k <= {k_max}")
    return k


def _k_list(k: int | Sequence[int]) -> list:
    """[k] for a single k, the list itself for a sequence of k (checked later, one by one)."""
    if isinstance(k, Sequence) and not isinstance(k, (str, bytes)):
        if not k:
            raise ValueError("k must be an int or a non-empty list of ints")
        return list(k)
    return [k]


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------


def _dot(x: list[float], y: list[float]) -> float:
    return math.fsum(a * b for a, b in zip(x, y))


def _sq_dist(x: list[float], y: list[float]) -> float:
    return math.fsum((a - b) ** 2 for a, b in zip(x, y))


def _sort_key(metric: str, x: list[float], y: list[float]) -> float:
    """A key whose ascending order is best-first: -score for cosine/ip, squared distance for l2."""
    if metric == "cosine":
        return -_dot(x, y) / (math.sqrt(_dot(x, x)) * math.sqrt(_dot(y, y)))
    if metric == "ip":
        return -_dot(x, y)
    return _sq_dist(x, y)


def _self_key(metric: str, x: list[float]) -> float:
    """The sort key of i itself: score 1.0 for cosine (by definition), |x|^2 for ip, 0 for l2."""
    return -1.0 if metric == "cosine" else _sort_key(metric, x, x)


def _score(metric: str, key: float) -> float:
    """The reported score of a sort key: the score itself for cosine/ip, sqrt for l2."""
    return math.sqrt(key) if metric == "l2" else -key


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------


def knn(
    X: Matrix,
    k: int,
    *,
    base: Matrix | None = None,
    metric: str = "cosine",
    include_self: bool = False,
) -> tuple[list[list[float]], list[list[int]]]:
    """The k nearest neighbours of every row of X, best first: ``(scores, indices)``, n rows of k.

    Self-join (``base`` None): the candidates of row i are all j != i, and 1 <= k <= n - 1; with
    ``include_self=True`` i itself comes first (score 1.0 for cosine, |x|^2 for ip, 0.0 for l2),
    then the first k - 1 others. Query mode: the candidates are all rows of ``base`` (same number
    of columns as X), and 1 <= k <= len(base). Equal scores: lower index first.

    >>> knn([[0.0], [1.0], [3.0]], 1, metric="l2")
    ([[1.0], [1.0], [2.0]], [[1], [0], [1]])
    """
    _check_metric(metric)
    queries = _as_rows(X, "X")
    if metric == "cosine":
        _check_no_zero_rows(queries, "X")
    if base is None:
        candidates = queries
        k = _check_k(k, len(queries) - 1)
    else:
        if include_self:
            raise ValueError("include_self=True applies to the self-join only (base=None)")
        candidates = _as_rows(base, "base")
        if metric == "cosine":
            _check_no_zero_rows(candidates, "base")
        if len(candidates[0]) != len(queries[0]):
            raise ValueError(
                "X and base must have the same number of columns, got shapes "
                f"{_shape(queries)} and {_shape(candidates)}"
            )
        k = _check_k(k, len(candidates))

    all_scores, all_indices = [], []
    for i, x in enumerate(queries):
        ranked = sorted(
            (_sort_key(metric, x, y), j)
            for j, y in enumerate(candidates)
            if base is not None or j != i
        )
        if include_self:
            ranked = [(_self_key(metric, x), i), *ranked]
        ranked = ranked[:k]
        all_scores.append([_score(metric, key) for key, _ in ranked])
        all_indices.append([j for _, j in ranked])
    return all_scores, all_indices


def overlap(
    I: Sequence[Sequence[int]],  # noqa: E741 (the name the API and the docs use)
    J: Sequence[Sequence[int]],
    k: int | None = None,
) -> list[int]:
    """Per row i, the size of the intersection of the first k entries of I[i] and of J[i].

    ``k`` None uses all columns. I and J must have the same number of rows.

    >>> overlap([[1, 2, 3], [4, 5, 6]], [[3, 2, 9], [7, 8, 6]])
    [2, 1]
    """
    if len(I) != len(J):
        raise ValueError(f"I and J must have the same number of rows, got {len(I)} and {len(J)}")
    if k is not None:
        _check_k(k, min((len(row) for row in (*I, *J)), default=k))
    return [len(set(a[:k]) & set(b[:k])) for a, b in zip(I, J)]


def nno(
    A: Matrix, B: Matrix, k: int, *, metric: str = "cosine", include_self: bool = False
) -> list[int]:
    """Per-item neighbour overlap NNO^k(i) = |NN^k_A(i) ∩ NN^k_B(i)|, an int in [0, k].

    A and B describe the same n items (same number of rows); their widths may differ.

    >>> nno([[0.0], [1.0], [3.0], [7.0]], [[0.0], [5.0], [3.0], [4.0]], 2, metric="l2")
    [1, 1, 1, 2]
    """
    counts = _nno_multi(A, B, [k], metric=metric, include_self=include_self)
    return [row[0] for row in counts]


def mnno(
    A: Matrix,
    B: Matrix,
    k: int | Sequence[int],
    *,
    metric: str = "cosine",
    include_self: bool = False,
) -> float | list[float]:
    """Mean neighbour overlap mNNO^k(A, B) = sum_i NNO^k(i) / (k n), in [0, 1].

    ``k`` an int gives a float; a list of ints gives a list of floats, one per k, all from one
    neighbour search at the largest k (NN^k is a prefix of NN^K for k <= K).

    >>> A, B = [[0.0], [1.0], [3.0], [7.0]], [[0.0], [5.0], [3.0], [4.0]]
    >>> mnno(A, B, [1, 2, 3], metric="l2")
    [0.0, 0.625, 1.0]
    """
    ks = _k_list(k)
    counts = _nno_multi(A, B, ks, metric=metric, include_self=include_self)
    n = len(counts)
    values = [sum(row[c] for row in counts) / (kk * n) for c, kk in enumerate(ks)]
    return values[0] if ks == [k] else values  # a single k, not a list of one


def _nno_multi(
    A: Matrix, B: Matrix, ks: list[int], *, metric: str, include_self: bool
) -> list[list[int]]:
    """NNO^k(i) for each k of ks: n rows of len(ks) counts, from one search at max(ks)."""
    _check_metric(metric)
    rows_a, rows_b = _as_rows(A, "A"), _as_rows(B, "B")
    if len(rows_a) != len(rows_b):
        raise ValueError(
            "A and B must have the same number of rows (the same items), got shapes "
            f"{_shape(rows_a)} and {_shape(rows_b)}"
        )
    ks = [_check_k(kk, len(rows_a) - 1) for kk in ks]
    k_max = max(ks)
    _, ia = knn(rows_a, k_max, metric=metric, include_self=include_self)
    _, ib = knn(rows_b, k_max, metric=metric, include_self=include_self)
    return [[len(set(a[:kk]) & set(b[:kk])) for kk in ks] for a, b in zip(ia, ib)]


# ----------------------------------------------------------------------------------------------
# Neighbourhood measures (measures.md), written from the definitions, one item at a time
# ----------------------------------------------------------------------------------------------


def _beats(metric: str, x: list[float], rows: list[list[float]], c: int, j: int) -> bool:
    """Whether candidate c beats candidate j for the item with vector x: better key, or equal
    key and c < j."""
    kc, kj = _sort_key(metric, x, rows[c]), _sort_key(metric, x, rows[j])
    return kc < kj or (kc == kj and c < j)


def ranks(X: Matrix, pairs: Sequence[tuple[int, int]], *, metric: str = "cosine") -> list[int]:
    """The rank r(i, j) = 1 + #{l not in {i, j} : l beats j for i} of each pair (i, j), i != j.

    What the core's rank-count pass computes: ranks run from 1 to n - 1, ties go to the lower
    index, as in :func:`knn`.

    >>> ranks([[0.0], [1.0], [3.0], [7.0]], [(0, 3), (3, 0), (1, 2)], metric="l2")
    [3, 3, 2]
    """
    _check_metric(metric)
    rows = _as_rows(X, "X")
    if metric == "cosine":
        _check_no_zero_rows(rows, "X")
    out = []
    for i, j in pairs:
        if i == j or not (0 <= i < len(rows) and 0 <= j < len(rows)):
            raise ValueError(f"pair ({i}, {j}) must name two different rows of X")
        x = rows[i]
        others = [c for c in range(len(rows)) if c not in (i, j)]
        beaten_by = [c for c in others if _beats(metric, x, rows, c, j)]
        out.append(1 + len(beaten_by))
    return out


def _full_order(rows: list[list[float]], metric: str) -> list[list[int]]:
    """Every item's candidates (all others), best first: the self-join lists at k = n - 1."""
    return knn(rows, len(rows) - 1, metric=metric)[1]


def _lists(A: Matrix, B: Matrix, k: int, metric: str) -> tuple[list[list[int]], list[list[int]]]:
    _check_metric(metric)
    ra, rb = _as_rows(A, "A"), _as_rows(B, "B")
    if len(ra) != len(rb):
        raise ValueError(f"A and B must have the same number of rows, got {len(ra)} and {len(rb)}")
    k = _check_k(k, len(ra) - 1)
    return knn(ra, k, metric=metric)[1], knn(rb, k, metric=metric)[1]


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def _result(items: list[float], per_item: bool) -> float | list[float]:
    return items if per_item else _mean(items)


def jaccard(
    A: Matrix, B: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> float | list[float]:
    """Mean Jaccard index |N_A(i) ∩ N_B(i)| / |N_A(i) ∪ N_B(i)| of the k-NN sets.

    >>> jaccard([[0.0], [1.0], [3.0], [7.0]], [[0.0], [5.0], [3.0], [4.0]], 1, metric="l2")
    0.0
    """
    la, lb = _lists(A, B, k, metric)
    items = [len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(la, lb)]
    return _result(items, per_item)


def _rank_sim_item(a: list[int], b: list[int]) -> float:
    both = set(a) & set(b)
    if not both:
        return 0.0
    total = math.fsum(
        2.0
        / ((1 + abs((a.index(j) + 1) - (b.index(j) + 1))) * ((a.index(j) + 1) + (b.index(j) + 1)))
        for j in both
    )
    return total / math.fsum(1.0 / t for t in range(1, len(both) + 1))


def rank_similarity(
    A: Matrix, B: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> float | list[float]:
    """Mean rank similarity of the k-NN lists (ReSi): for each shared neighbour j,
    2 / ((1 + |r_A - r_B|)(r_A + r_B)), summed and divided by H_o (o shared neighbours).

    >>> rank_similarity([[0.0], [1.0], [3.0]], [[0.0], [1.0], [3.0]], 2, metric="l2")
    1.0
    """
    la, lb = _lists(A, B, k, metric)
    return _result([_rank_sim_item(a, b) for a, b in zip(la, lb)], per_item)


def joint_rank_jaccard(
    A: Matrix, B: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> float | list[float]:
    """Mean of Jaccard index times rank similarity, per item.

    >>> joint_rank_jaccard([[0.0], [1.0], [3.0]], [[0.0], [1.0], [3.0]], 1, metric="l2")
    1.0
    """
    la, lb = _lists(A, B, k, metric)
    items = [
        len(set(a) & set(b)) / len(set(a) | set(b)) * _rank_sim_item(a, b) for a, b in zip(la, lb)
    ]
    return _result(items, per_item)


def lcmc(
    A: Matrix, B: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> float | list[float]:
    """Local continuity meta-criterion: (o_i - k^2 / (n - 1)) / k per item.

    >>> lcmc([[0.0], [1.0], [3.0]], [[0.0], [1.0], [3.0]], 1, metric="l2")
    0.5
    """
    la, lb = _lists(A, B, k, metric)
    n = len(la)
    items = [(len(set(a) & set(b)) - k * k / (n - 1)) / k for a, b in zip(la, lb)]
    return _result(items, per_item)


def qnx(A: Matrix, B: Matrix, k_max: int, *, metric: str = "cosine") -> list[float]:
    """Q_NX(K) = mNNO^K for K = 1..k_max.

    >>> qnx([[0.0], [1.0], [3.0], [7.0]], [[0.0], [5.0], [3.0], [4.0]], 3, metric="l2")
    [0.0, 0.625, 1.0]
    """
    la, lb = _lists(A, B, k_max, metric)
    n = len(la)
    return [
        math.fsum(len(set(a[:K]) & set(b[:K])) for a, b in zip(la, lb)) / (K * n)
        for K in range(1, k_max + 1)
    ]


def rnx(A: Matrix, B: Matrix, k_max: int, *, metric: str = "cosine") -> list[float]:
    """R_NX(K) = ((n - 1) Q_NX(K) - K) / (n - 1 - K) for K = 1..k_max (k_max <= n - 2).

    >>> rnx([[0.0], [1.0], [3.0], [7.0]], [[0.0], [5.0], [3.0], [4.0]], 2, metric="l2")
    [-0.5, -0.125]
    """
    n = len(_as_rows(A, "A"))
    _check_k(k_max, n - 2)
    q = qnx(A, B, k_max, metric=metric)
    return [((n - 1) * q[K - 1] - K) / (n - 1 - K) for K in range(1, k_max + 1)]


def rnx_auc(A: Matrix, B: Matrix, k_max: int | None = None, *, metric: str = "cosine") -> float:
    """Area under R_NX(K) on a log scale: sum R_NX(K) / K over sum 1 / K, K = 1..n - 2
    (or ..k_max: the truncated AUC, a different number).

    >>> rnx_auc([[0.0], [1.0], [3.0], [7.0]], [[0.0], [1.0], [3.0], [7.0]], metric="l2")
    1.0
    """
    n = len(_as_rows(A, "A"))
    top = n - 2 if k_max is None else k_max
    r = rnx(A, B, top, metric=metric)
    return math.fsum(v / K for K, v in enumerate(r, 1)) / math.fsum(
        1 / K for K in range(1, top + 1)
    )


def cycle_knn(
    A: Matrix, B: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> float | list[float]:
    """Share of items i that are among the A-neighbours of one of their B-neighbours.

    >>> cycle_knn([[0.0], [1.0], [3.0], [7.0]], [[0.0], [5.0], [3.0], [4.0]], 1, metric="l2")
    0.25
    """
    la, lb = _lists(A, B, k, metric)
    items = [1.0 if any(i in la[j] for j in lb[i]) else 0.0 for i in range(len(la))]
    return _result(items, per_item)


def _cosine_rows(rows: list[list[float]]) -> list[list[float]]:
    return [[v / math.sqrt(_dot(r, r)) for v in r] for r in rows]


def _hsic_masked(K: list[list[float]], L: list[list[float]]) -> float:
    """platonic-rep's unbiased HSIC of two n x n kernels whose diagonal is zero."""
    m = len(K)
    t1 = math.fsum(K[i][j] * L[j][i] for i in range(m) for j in range(m))
    sk = math.fsum(v for row in K for v in row)
    sl = math.fsum(v for row in L for v in row)
    kl = math.fsum(K[i][l] * L[l][j] for i in range(m) for l in range(m) for j in range(m))  # noqa: E741
    return (t1 + sk * sl / ((m - 1) * (m - 2)) - 2 * kl / (m - 2)) / (m * (m - 3))


def cknna(A: Matrix, B: Matrix, k: int) -> float:
    """CKNNA of platonic-rep (unbiased, inner product of L2-normalised rows): HSIC of the two
    kernels masked to the pairs in both top-k lists, over sqrt(HSIC_AA HSIC_BB) + 1e-6.

    >>> A = [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.7, 0.7]]
    >>> round(cknna(A, A, 2), 4)
    1.0
    """
    ra, rb = _cosine_rows(_as_rows(A, "A")), _cosine_rows(_as_rows(B, "B"))
    n = len(ra)
    if n < 4:
        raise ValueError(f"cknna needs at least 4 rows, got {n}")
    if k < 2:
        raise ValueError(f"cknna needs k >= 2, got {k}")
    la, lb = _lists(ra, rb, k, "cosine")
    K = [[_dot(x, y) for y in ra] for x in ra]
    L = [[_dot(x, y) for y in rb] for x in rb]

    def masked(S: list[list[float]], m1: list[list[int]], m2: list[list[int]]) -> list[list[float]]:
        return [
            [S[i][j] if (j in m1[i] and j in m2[i]) else 0.0 for j in range(n)] for i in range(n)
        ]

    kl = _hsic_masked(masked(K, la, lb), masked(L, la, lb))
    kk = _hsic_masked(masked(K, la, la), masked(K, la, la))
    ll = _hsic_masked(masked(L, lb, lb), masked(L, lb, lb))
    return kl / (math.sqrt(kk * ll) + 1e-6)


def _ranks_of_all(rows: list[list[float]], metric: str) -> list[dict[int, int]]:
    """r(i, j) of every pair: per item, a map from candidate to its 1-based rank."""
    return [{j: pos + 1 for pos, j in enumerate(order)} for order in _full_order(rows, metric)]


def _tnc(lx: list[list[int]], ly: list[list[int]], rx: list[dict[int, int]], k: int) -> list[float]:
    n = len(lx)
    if not k < n / 2:
        raise ValueError(f"trustworthiness and continuity need k < n / 2, got k = {k}, n = {n}")
    scale = 2.0 / (k * (2 * n - 3 * k - 1))
    return [
        1.0 - scale * math.fsum(max(0, rx[i][j] - k) for j in ly[i] if j not in lx[i])
        for i in range(n)
    ]


def trustworthiness(
    X: Matrix, Y: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> float | list[float]:
    """Trustworthiness of embedding Y of original X: penalises Y-neighbours that are far in X,
    1 - 2 / (k (2n - 3k - 1)) sum_{j in N_Y(i)} max(0, r_X(i, j) - k); needs k < n / 2.

    >>> X = [[0.0], [1.0], [3.0], [7.0], [8.0]]
    >>> trustworthiness(X, X, 2, metric="l2")
    1.0
    """
    lx, ly = _lists(X, Y, k, metric)
    rx = _ranks_of_all(_as_rows(X, "X"), metric)
    return _result(_tnc(lx, ly, rx, k), per_item)


def continuity(
    X: Matrix, Y: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> float | list[float]:
    """Continuity: trustworthiness with X and Y swapped (X-neighbours far in Y).

    >>> X = [[0.0], [1.0], [3.0], [7.0], [8.0]]
    >>> continuity(X, X, 2, metric="l2")
    1.0
    """
    return trustworthiness(Y, X, k, metric=metric, per_item=per_item)


def mrre(
    X: Matrix, Y: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> tuple[float | list[float], float | list[float]]:
    """Mean relative rank errors (ZADU's definition), both directions, as (false, missing):
    1 - (1 / c) sum_{j in N_Y(i)} |r_X(i, j) - r_Y(i, j)| / r_Y(i, j) (false neighbours) and the
    same with X and Y swapped (missing neighbours), c = sum_{t=1..k} |n - 2t + 1| / t.

    >>> X = [[0.0], [1.0], [3.0], [7.0], [8.0]]
    >>> mrre(X, X, 2, metric="l2")
    (1.0, 1.0)
    """
    lx, ly = _lists(X, Y, k, metric)
    rx = _ranks_of_all(_as_rows(X, "X"), metric)
    ry = _ranks_of_all(_as_rows(Y, "Y"), metric)
    n = len(lx)
    c = math.fsum(abs(n - 2 * t + 1) / t for t in range(1, k + 1))

    def side(
        lt: list[list[int]], rb: list[dict[int, int]], rt: list[dict[int, int]]
    ) -> list[float]:
        return [
            1.0 - math.fsum(abs(rb[i][j] - rt[i][j]) / rt[i][j] for j in lt[i]) / c
            for i in range(n)
        ]

    return _result(side(ly, rx, ry), per_item), _result(side(lx, ry, rx), per_item)


def _cos(x: list[float], y: list[float]) -> float:
    return _dot(x, y) / (math.sqrt(_dot(x, x)) * math.sqrt(_dot(y, y)))


def second_order_cosine(
    A: Matrix, B: Matrix, k: int, *, metric: str = "cosine", per_item: bool = False
) -> float | list[float]:
    """Second-order cosine similarity (Hamilton et al. 2016, ReSi): with U = N_A(i) ∪ N_B(i) and
    d_S(i, j) = 1 - cos_S(i, j), the cosine of (d_A(i, j))_{j in U} and (d_B(i, j))_{j in U};
    0 where one of the two vectors is zero.

    >>> A = [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]
    >>> second_order_cosine(A, A, 1)
    1.0
    """
    la, lb = _lists(A, B, k, metric)
    ra, rb = _as_rows(A, "A"), _as_rows(B, "B")
    items = []
    for i in range(len(la)):
        union = sorted(set(la[i]) | set(lb[i]))
        da = [1.0 - _cos(ra[i], ra[j]) for j in union]
        db = [1.0 - _cos(rb[i], rb[j]) for j in union]
        na, nb = math.sqrt(_dot(da, da)), math.sqrt(_dot(db, db))
        items.append(0.0 if na == 0 or nb == 0 else _dot(da, db) / (na * nb))
    return _result(items, per_item)


def linear_cka(A: Matrix, B: Matrix) -> float:
    """Linear CKA of Kornblith et al. (2019): |B'^T A'|_F^2 / (|A'^T A'|_F |B'^T B'|_F) with
    columns centred (A' = A minus its column means).

    >>> linear_cka([[0.0], [1.0], [3.0]], [[0.0], [2.0], [6.0]])
    1.0
    """
    ra, rb = _as_rows(A, "A"), _as_rows(B, "B")
    n = len(ra)

    def centred(rows: list[list[float]]) -> list[list[float]]:
        means = [math.fsum(r[c] for r in rows) / n for c in range(len(rows[0]))]
        return [[v - m for v, m in zip(r, means)] for r in rows]

    ca, cb = centred(ra), centred(rb)

    def gram(x: list[list[float]], y: list[list[float]]) -> float:
        # |x^T y|_F^2 = sum over column pairs of (sum_i x_ia y_ib)^2
        return math.fsum(
            math.fsum(x[i][a] * y[i][b] for i in range(n)) ** 2
            for a in range(len(x[0]))
            for b in range(len(y[0]))
        )

    return gram(cb, ca) / (math.sqrt(gram(ca, ca)) * math.sqrt(gram(cb, cb)))
