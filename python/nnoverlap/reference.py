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

__all__ = ["METRICS", "knn", "mnno", "nno", "overlap"]

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
