"""Typed public functions: argument checks and conversions, then the Rust core.

Every check of ``semantics.md``'s table of bad inputs lives here, with a message that says
what was expected and where the problem is. The core receives only validated, C-contiguous
float32/float64 arrays and never modifies them.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Union, overload

import numpy as np

from . import _core

__all__ = ["KnnResult", "METRICS", "chance", "knn", "mnno", "nno", "overlap"]

METRICS = ("cosine", "ip", "l2")
"""The metrics every function accepts: cosine similarity, inner product, Euclidean distance."""

KSpec = Union[int, Sequence[int], np.ndarray]
Progress = Callable[[int, int], Any]


class KnnResult(NamedTuple):
    """Neighbours of every query row, best first.

    ``scores``: (n, k) cosine similarities or inner products (descending) or Euclidean
    distances (ascending); float32, or float64 for float64 input.
    ``indices``: (n, k) int64 row indices into the base set (the set itself for a self-join).
    Unpacks as ``scores, indices = result``.
    """

    scores: np.ndarray
    indices: np.ndarray


def _as_matrix(x: Any, name: str) -> np.ndarray:
    """`x` as a C-contiguous 2-D float32/float64 array, copying only when needed."""
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "V":
        # Extension float types such as ml_dtypes' bfloat16 have no numpy kind of their own.
        try:
            arr = arr.astype(np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}") from None
        kind = "f"
    if kind not in "fiu":
        raise TypeError(
            f"{name} must hold real numbers (float or integer dtype), got dtype {arr.dtype}"
        )
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n, d), got {arr.ndim}-D shape {arr.shape}"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least 1 dimension (d >= 1), got shape {arr.shape}")
    # ALIGNED too: buffers sliced at odd offsets (np.frombuffer(buf[1:]), arrays a Dask worker
    # deserialises) are C-contiguous but unaligned, which the core cannot borrow.
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return np.require(arr, requirements=["C_CONTIGUOUS", "ALIGNED"])
    return np.require(arr, dtype=np.float32, requirements=["C_CONTIGUOUS", "ALIGNED"])


def _check_metric(metric: Any) -> str:
    if not isinstance(metric, str) or metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    return metric


def _check_threads(threads: Any) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise TypeError(f"threads must be None (all cores) or an integer, got {threads!r}")
    if not 1 <= int(threads) <= _core.THREAD_LIMIT:
        raise ValueError(
            f"threads must satisfy 1 <= threads <= {_core.THREAD_LIMIT} (4 x this machine's "
            f"cores, and at least 64), got {threads!r}"
        )
    return int(threads)


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _as_int(k: Any, name: str = "k") -> int:
    """An integer argument: Python or numpy integers, and 0-d integer arrays."""
    if isinstance(k, np.ndarray) and k.ndim == 0:
        k = k[()]
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {k!r}")
    return int(k)


def _check_k(k: Any, high: int, what: str) -> int:
    kk = _as_int(k)
    if not 1 <= kk <= high:
        raise ValueError(f"k must satisfy 1 <= k <= {high} ({what}), got {kk}")
    return kk


def _check_ks(k: Any, high: int, what: str) -> tuple[list[int], bool]:
    """k as a list of ints, and whether a single int was given."""
    if isinstance(k, np.ndarray) and k.ndim == 0 or isinstance(k, numbers.Integral):
        return [_check_k(k, high, what)], True
    if isinstance(k, (str, bytes)) or not isinstance(k, (Sequence, np.ndarray)):
        raise TypeError(f"k must be an integer or a sequence of integers, got {k!r}")
    ks = [_check_k(v, high, what) for v in k]
    if not ks:
        raise ValueError("k must hold at least one value")
    return ks, False


def _self_join_range(n: int) -> tuple[int, str]:
    if n < 2:
        raise ValueError(f"a set needs at least 2 rows (n >= 2), got n = {n}")
    return n - 1, f"n - 1 for a self-join of n = {n} rows"


def knn(
    x: Any,
    k: int = 10,
    *,
    base: Any = None,
    metric: str = "cosine",
    include_self: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
    screen: str = "auto",
    _block: int | None = None,
) -> KnnResult:
    """Exact k nearest neighbours of every row of ``x``.

    Without ``base`` this is a self-join: the neighbours of row i are the other rows of ``x``
    (with ``include_self=True``, i itself comes first, then its k - 1 nearest others). With
    ``base``, each row of ``x`` is a query against all rows of ``base``. Candidates are ordered
    best first; equal scores go to the lower index. Memory is O(n k): no n x n matrix is built.

    Args:
        x: (n, d) array-like of real numbers. float32 is used as is (no copy when
            contiguous, so a read-only ``np.memmap`` works), float64 is computed in float64,
            other real dtypes are converted to float32.
        k: neighbours per row: 1 <= k <= n - 1 for a self-join, k <= len(base) for queries.
        base: optional (m, d) base set; converted like ``x`` and then to ``x``'s dtype.
        metric: ``"cosine"`` (default), ``"ip"`` (inner product) or ``"l2"`` (Euclidean).
        include_self: self-join only; count each row as its own first neighbour.
        threads: worker threads; None uses ``RAYON_NUM_THREADS`` or all cores.
        progress: optional ``callback(done, total)``, called about every 0.1 s.
        screen: ``"auto"`` (default), ``"on"`` or ``"off"``: whether a cosine float32
            self-join first scores pairs with an int8 product and a proven error bound, and
            recomputes exactly only the pairs that can enter a top-k. The result is the
            same bit for bit; only the speed changes. It needs a CPU with AVX-512 VNNI
            (``nnoverlap._core.SCREEN``); elsewhere, and for other metrics, dtypes and
            queries, it is off. ``"auto"`` screens only where it is expected to win (large
            n, small k; see docs/screening.md).

    Returns:
        ``KnnResult(scores, indices)``, both of shape (n, k).

    Raises:
        ValueError: bad shapes, k out of range, NaN/inf (naming the row), a zero row under
            cosine, unknown metric. TypeError: non-real input. KeyboardInterrupt on Ctrl-C.

    >>> import numpy as np, nnoverlap as nno
    >>> X = np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    >>> nno.knn(X, k=1, metric="l2").indices.ravel().tolist()
    [1, 0, 0]
    """
    metric = _check_metric(metric)
    nthreads = _check_threads(threads)
    with_self = _check_bool(include_self, "include_self")
    arr = _as_matrix(x, "x" if base is None else "queries")
    block = 0 if _block is None else _as_int(_block, "_block")  # 0: the core chooses
    if block < 0:
        raise ValueError(f"_block must be >= 0, got {block}")
    if base is None:
        high, what = _self_join_range(arr.shape[0])
        kk = _check_k(k, high, what)
        scores, indices = _core.knn(
            arr, None, kk, metric, with_self, nthreads, block, progress, screen=screen
        )
        return KnnResult(scores, indices)
    if with_self:
        raise ValueError("include_self=True applies to a self-join only (base=None)")
    b = _as_matrix(base, "base")
    if b.dtype != arr.dtype:
        b = np.ascontiguousarray(b, dtype=arr.dtype)
    if b.shape[1] != arr.shape[1]:
        raise ValueError(
            "queries and base must have the same dimension d: "
            f"queries have shape {arr.shape}, base has shape {b.shape}"
        )
    if arr.shape[0] < 1:
        raise ValueError(f"queries must have at least 1 row, got shape {arr.shape}")
    kk = _check_k(k, b.shape[0], f"the number of base rows, {b.shape[0]}")
    scores, indices = _core.knn(
        arr,
        b,
        kk,
        metric,
        False,
        nthreads,
        block,
        progress,
        name="queries",
        base_name="base",
        screen=screen,
    )
    return KnnResult(scores, indices)


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    A, B = _as_matrix(a, "A"), _as_matrix(b, "B")
    if A.shape[0] != B.shape[0]:
        raise ValueError(
            "A and B must describe the same items (the same number of rows): "
            f"A has shape {A.shape}, B has shape {B.shape}"
        )
    return A, B


def _nno_counts(
    a: Any,
    b: Any,
    k: KSpec,
    metric: str,
    include_self: bool,
    threads: int | None,
    progress: Progress | None,
) -> tuple[np.ndarray, list[int], bool]:
    metric = _check_metric(metric)
    nthreads = _check_threads(threads)
    with_self = _check_bool(include_self, "include_self")
    A, B = _pair(a, b)
    high, what = _self_join_range(A.shape[0])
    ks, single = _check_ks(k, high, what)
    kmax = max(ks)
    block = 0  # the core chooses
    _, ia = _core.knn(A, None, kmax, metric, with_self, nthreads, block, progress, name="A")
    _, ib = _core.knn(B, None, kmax, metric, with_self, nthreads, block, progress, name="B")
    return _core.overlap(ia, ib, ks, nthreads), ks, single


def nno(
    a: Any,
    b: Any,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    include_self: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """Per-item nearest-neighbour overlap NNO^k(i) = |NN^k_A(i) ∩ NN^k_B(i)|.

    ``a`` and ``b`` are two embeddings of the same n items (row i of each is item i; their
    dimensions may differ). Neighbours are computed within each set as in :func:`knn`.

    Returns:
        (n,) int64 counts in [0, k] for an int ``k``; (n, len(k)) for a sequence of k
        (one neighbour pass at the largest k serves all).

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0]]); B = np.array([[0.0], [2.0], [3.0]])
    >>> nno.nno(A, B, k=1, metric="l2").tolist()
    [1, 0, 1]
    """
    counts, _, single = _nno_counts(a, b, k, metric, include_self, threads, progress)
    return counts[:, 0] if single else counts


@overload
def mnno(
    a: Any,
    b: Any,
    k: int = ...,
    *,
    metric: str = ...,
    include_self: bool = ...,
    threads: int | None = ...,
    progress: Progress | None = ...,
) -> float: ...
@overload
def mnno(
    a: Any,
    b: Any,
    k: Sequence[int] | np.ndarray,
    *,
    metric: str = ...,
    include_self: bool = ...,
    threads: int | None = ...,
    progress: Progress | None = ...,
) -> np.ndarray: ...
def mnno(
    a: Any,
    b: Any,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    include_self: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
) -> float | np.ndarray:
    """Mean nearest-neighbour overlap mNNO^k(A, B) = 1/(k n) Σ_i |NN^k_A(i) ∩ NN^k_B(i)|.

    1.0 when both sets see the same neighbourhoods, about ``k / (n - 1)`` (see :func:`chance`)
    for unrelated sets. Symmetric in ``a`` and ``b``.

    Returns:
        a float for an int ``k``; a 1-D float64 array, one value per k, for a sequence.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.array([[0.0], [1.0], [3.0]]); B = np.array([[0.0], [2.0], [3.0]])
    >>> nno.mnno(A, B, k=1, metric="l2")
    0.6666666666666666
    >>> nno.mnno(A, B, k=[1, 2], metric="l2").tolist()
    [0.6666666666666666, 1.0]
    """
    counts, ks, single = _nno_counts(a, b, k, metric, include_self, threads, progress)
    n = counts.shape[0]
    values = counts.sum(axis=0) / (np.asarray(ks, dtype=np.float64) * n)
    return float(values[0]) if single else values


def _as_indices(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer index array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n, k), got shape {arr.shape}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size:
        too_big = np.flatnonzero((arr > np.iinfo(np.int64).max).any(axis=1))
        if too_big.size:
            r = int(too_big[0])
            raise ValueError(
                f"{name} row {r} holds the index {int(arr[r].max())}, beyond any row index"
            )
    return np.ascontiguousarray(arr, dtype=np.int64)


def overlap(i: Any, j: Any, k: int | None = None) -> np.ndarray:
    """Per-row overlap |set(I_r[:k]) ∩ set(J_r[:k])| of two precomputed neighbour lists.

    Args:
        i: (n, width) integer array, each row a neighbour list without repeats (for
            instance the ``indices`` of :func:`knn`, or of faiss). Negative entries (faiss'
            padding for missing results) are rejected.
        j: (n, width) integer array, the other lists, alike.
        k: use the first k columns (default: all).

    Returns:
        (n,) int64 counts.

    >>> import nnoverlap as nno
    >>> nno.overlap([[1, 2, 3], [0, 2, 3]], [[3, 2, 9], [3, 0, 2]]).tolist()
    [2, 3]
    """
    ia, ja = _as_indices(i, "I"), _as_indices(j, "J")
    if ia.shape != ja.shape:
        raise ValueError(f"I and J must have the same shape, got {ia.shape} and {ja.shape}")
    n, width = ia.shape
    if width == 0:
        raise ValueError(f"I and J must have at least one column, got shape {ia.shape}")
    kk = width if k is None else _check_k(k, width, "the number of columns")
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    for name, arr in (("I", ia), ("J", ja)):
        head = arr[:, :kk]
        neg = np.flatnonzero((head < 0).any(axis=1))
        if neg.size:
            r = int(neg[0])
            raise ValueError(
                f"{name} row {r} holds a negative index ({int(head[r].min())}); "
                "neighbour lists must be complete (faiss pads missing results with -1)"
            )
        s = np.sort(head, axis=1)
        dup = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(axis=1))
        if dup.size:
            r = int(dup[0])
            raise ValueError(f"{name} row {r} repeats an index: a neighbour list has no repeats")
    return _core.overlap(ia, ja, [kk])[:, 0]


def chance(n: int, k: int) -> float:
    """Expected mNNO^k of two unrelated sets of n items: k / (n - 1).

    Raises ValueError unless n >= 2 and 1 <= k <= n - 1 (note the order: n first).

    >>> import nnoverlap as nno
    >>> nno.chance(1001, 10)
    0.01
    """
    nn = _as_int(n, "n")
    if nn < 2:
        raise ValueError(f"n must be at least 2 (the number of items), got {nn}")
    kk = _as_int(k, "k")
    if not 1 <= kk <= nn - 1:
        raise ValueError(
            f"k must satisfy 1 <= k <= {nn - 1} (n - 1 for n = {nn}), got {kk}; "
            "the arguments are chance(n, k)"
        )
    return kk / (nn - 1)
