"""The `Neighbors` object: one set's k-NN lists, computed once, serving every measure.

Every measure takes arrays or `Neighbors`; lists computed at some k serve every k' <= k (NN^k'
is a prefix of NN^k), every measure and every permutation null, without a new search.
"""

from __future__ import annotations

import os
from typing import Any, Union

import numpy as np

from .. import _api

__all__ = ["Neighbors", "neighbors"]


class Neighbors:
    """The k nearest neighbours of each of n items within one set (self excluded), best first.

    Attributes:
        indices: (n, k) int64, row i the neighbours of item i, best first, ties to the
            lower index (``semantics.md``).
        scores: (n, k) their scores (cosine / inner product descending, l2 ascending).
        metric: the metric the lists were computed with.
        k: list length; n: number of items.
        data: the vectors the lists came from, when known (measures that need ranks beyond
            k or scores of pairs outside the lists use it); None after loading a file saved
            without it.

    >>> import numpy as np, nnoverlap as nno
    >>> X = np.array([[0.0], [1.0], [3.0], [7.0]])
    >>> nb = nno.neighbors(X, k=2, metric="l2")
    >>> nb.indices.tolist(), nb.k, nb.n
    ([[1, 2], [0, 2], [1, 0], [2, 1]], 2, 4)
    """

    __slots__ = ("data", "indices", "k", "metric", "n", "scores")

    def __init__(
        self, indices: Any, scores: Any, metric: str, data: np.ndarray | None = None
    ) -> None:
        idx = np.asarray(indices)
        sc = np.asarray(scores)
        if idx.dtype.kind not in "iu" or idx.ndim != 2:
            raise ValueError(
                f"indices must be a 2-D integer array (n, k), got {idx.dtype} {idx.shape}"
            )
        if sc.shape != idx.shape or sc.dtype.kind != "f":
            raise ValueError(
                f"scores must be a float array of the shape of indices {idx.shape}, "
                f"got {sc.dtype} {sc.shape}"
            )
        n, k = idx.shape
        if n < 2 or k < 1:
            raise ValueError(
                f"neighbour lists need n >= 2 rows and k >= 1 columns, got {idx.shape}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"indices must lie in 0..{n - 1} (the items of the set)")
        _check_rows(idx)
        self.metric = _api._check_metric(metric)
        self.indices = np.ascontiguousarray(idx, dtype=np.int64)
        self.scores = np.ascontiguousarray(sc)
        self.n, self.k = int(n), int(k)
        if data is not None and data.shape[0] != n:
            raise ValueError(f"data has {data.shape[0]} rows but the lists describe {n} items")
        self.data = data

    @classmethod
    def _trusted(
        cls, indices: np.ndarray, scores: np.ndarray, metric: str, data: np.ndarray | None = None
    ) -> Neighbors:
        """Lists the package made itself (a k-NN pass, a relabelling by a permutation): the
        constructor without its O(n k log k) check of the rows, which they pass by
        construction. Everything from outside goes through ``Neighbors(...)``."""
        out = cls.__new__(cls)
        out.indices = np.ascontiguousarray(indices, dtype=np.int64)
        out.scores = np.ascontiguousarray(scores)
        out.n, out.k = int(out.indices.shape[0]), int(out.indices.shape[1])
        out.metric, out.data = metric, data
        return out

    def __repr__(self) -> str:
        with_data = "with data" if self.data is not None else "no data"
        return f"Neighbors(n={self.n}, k={self.k}, metric={self.metric!r}, {with_data})"

    def head(self, k: int) -> Neighbors:
        """The lists cut to their first ``k`` entries (a view; k <= self.k).

        >>> import numpy as np, nnoverlap as nno
        >>> nno.neighbors(np.arange(8.0).reshape(4, 2), k=3).head(1).k
        1
        """
        kk = _api._check_k(k, self.k, f"the k = {self.k} of these neighbour lists")
        out = Neighbors.__new__(Neighbors)
        out.indices, out.scores = self.indices[:, :kk], self.scores[:, :kk]
        out.metric, out.n, out.k, out.data = self.metric, self.n, kk, self.data
        return out

    def save(self, path: str | os.PathLike[str], *, include_data: bool = False) -> None:
        """Writes the lists to an ``.npz`` file (no pickle); ``include_data`` adds the vectors.

        >>> import numpy as np, nnoverlap as nno, tempfile, os
        >>> nb = nno.neighbors(np.arange(8.0).reshape(4, 2), k=2)
        >>> path = os.path.join(tempfile.mkdtemp(), "nb.npz")
        >>> nb.save(path); nno.Neighbors.load(path).indices.tolist() == nb.indices.tolist()
        True
        """
        arrays = {
            "indices": self.indices,
            "scores": self.scores,
            "metric": np.array(self.metric),
        }
        if include_data and self.data is not None:
            arrays["data"] = self.data
        np.savez(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Neighbors:
        """Reads lists written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as f:
            missing = {"indices", "scores", "metric"} - set(f.files)
            if missing:
                raise ValueError(
                    f"{os.fspath(path)}: not a Neighbors file (missing {sorted(missing)})"
                )
            data = f["data"] if "data" in f.files else None
            return cls(f["indices"], f["scores"], str(f["metric"]), data)


SetLike = Union[Neighbors, Any]

# Rows checked per block (bounds the sorted copy to 2**16 rows).
_CHECK_ROWS = 1 << 16


def _check_rows(idx: np.ndarray) -> None:
    """Every row holds distinct items other than itself (NN^k(i) excludes i), else a
    ValueError naming the first bad row and item: sorted rows compared with their
    neighbours, O(n k log k), in blocks of rows.

    >>> import numpy as np
    >>> _check_rows(np.array([[1, 2], [2, 0], [0, 0]]))
    Traceback (most recent call last):
    ...
    ValueError: row 2 of the neighbour lists names item 0 twice (each row must hold distinct items)
    """
    for start in range(0, idx.shape[0], _CHECK_ROWS):
        block = idx[start : start + _CHECK_ROWS]
        rows = np.arange(start, start + block.shape[0])[:, None]
        own = block == rows
        srt = np.sort(block, axis=1)
        rep = srt[:, 1:] == srt[:, :-1]
        bad = np.flatnonzero(own.any(axis=1) | rep.any(axis=1))
        if not bad.size:
            continue
        r = int(bad[0])
        if own[r].any():
            raise ValueError(
                f"row {start + r} of the neighbour lists names item {start + r} itself "
                "(NN^k(i) excludes the item i)"
            )
        item = int(srt[r, 1:][rep[r]][0])
        raise ValueError(
            f"row {start + r} of the neighbour lists names item {item} twice "
            "(each row must hold distinct items)"
        )


def neighbors(
    x: Any, k: int = 10, metric: str = "cosine", *, threads: int | None = None
) -> Neighbors:
    """The k nearest neighbours of every row of ``x`` (self excluded), kept with the data.

    One pass of :func:`nnoverlap.knn`; pass the result to any measure in place of the array.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(50, 4))
    >>> nb = nno.neighbors(A, k=10)
    >>> nno.jaccard(nb, nb, k=5)
    1.0
    """
    arr = _api._as_matrix(x, "x")
    scores, indices = _api.knn(arr, k, metric=metric, threads=threads)
    return Neighbors._trusted(indices, scores, metric, arr)


def resolve(
    s: SetLike, k: int, metric: str, threads: int | None, name: str, *, need_data: bool = False
) -> Neighbors:
    """``s`` as Neighbors with at least ``k`` entries per row (searching when ``s`` is an array)."""
    if isinstance(s, Neighbors):
        if s.metric != metric:
            raise ValueError(
                f"{name} holds neighbour lists of metric {s.metric!r}, but metric={metric!r} "
                "was asked for (pass metric= to match, or recompute the lists)"
            )
        if k > s.k:
            raise ValueError(
                f"k = {k} exceeds the k = {s.k} of {name}'s neighbour lists "
                "(compute them at the largest k you need)"
            )
        if need_data and s.data is None:
            raise ValueError(
                f"this measure needs the vectors of {name}, but its Neighbors carry none "
                "(pass the array, or save with include_data=True)"
            )
        return s
    arr = _api._as_matrix(s, name)
    high, what = _api._self_join_range(arr.shape[0])
    _api._check_k(k, high, what)
    scores, indices = _api.knn(arr, k, metric=metric, threads=threads)
    return Neighbors._trusted(indices, scores, metric, arr)


def n_of(s: SetLike, name: str) -> int:
    """The number of items of an array or Neighbors (for checks before any search)."""
    if isinstance(s, Neighbors):
        return s.n
    return int(_api._as_matrix(s, name).shape[0])
