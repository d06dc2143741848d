"""The functions that run inside Dask tasks (on the workers): numpy and the core only.

Nothing here imports dask, so every function can be tested (and is) without a cluster. A block
argument is either an array (a chunk of a dask array, or a block embedded in the graph) or a
row source (``NpyRows``, ``ZarrRows``) that the task reads itself, from where the data lies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .. import _core

Partial = tuple[np.ndarray, np.ndarray]
"""A partial top-k: (keys, uint32 indices), each (rows, k), best first; u32::MAX pads."""

EMPTY = np.iinfo(np.uint32).max


@dataclass(frozen=True)
class NpyRows:
    """Rows ``r0:r1`` of a C-ordered 2-D array stored raw at ``offset`` bytes into ``path``
    (a ``.npy`` file, as ``np.load(mmap_mode="r")`` maps it), read by memory map in the task.

    The path must name the same file on every worker (shared storage). The file's size is
    checked before it is mapped, so a file that shrank gives a ``ValueError``, not SIGBUS.
    """

    path: str
    offset: int
    dtype: str
    rows: int
    cols: int
    r0: int
    r1: int
    target: str

    def read(self) -> np.ndarray:
        item = np.dtype(self.dtype).itemsize
        need = self.offset + self.rows * self.cols * item
        try:
            size = os.path.getsize(self.path)
        except OSError as e:
            raise ValueError(
                f"cannot read rows {self.r0}..{self.r1} of {self.path} on this worker: {e} "
                "(np.memmap input must lie on storage every worker sees under the same path)"
            ) from None
        if size < need:
            raise ValueError(
                f"{self.path} holds {size} bytes but its array needs {need}: "
                "the file changed or shrank since the run started"
            )
        if self.r1 == self.r0:
            return np.zeros((0, self.cols), dtype=self.target)
        mm = np.memmap(
            self.path,
            dtype=self.dtype,
            mode="r",
            offset=self.offset + self.r0 * self.cols * item,
            shape=(self.r1 - self.r0, self.cols),
        )
        if mm.dtype == np.dtype(self.target):
            return mm
        return np.ascontiguousarray(mm, dtype=self.target)


@dataclass(frozen=True)
class ZarrRows:
    """Rows ``r0:r1`` of a 2-D zarr array, read in the task (the array pickles as a reference
    to its store, so every worker must reach the store)."""

    array: Any
    r0: int
    r1: int
    target: str

    def read(self) -> np.ndarray:
        return np.ascontiguousarray(self.array[self.r0 : self.r1], dtype=self.target)


Source = Union[np.ndarray, NpyRows, ZarrRows]


def ready(a: Any, dtype: Any = None) -> np.ndarray:
    """``a`` as a C-contiguous, aligned array (no copy when it already is one). Arrays that
    Dask deserialises from its network buffers can be unaligned, which the core rejects."""
    return np.require(a, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED"])


def rows_of(src: Any, dtype: str) -> np.ndarray:
    """The block as a C-contiguous, aligned array of ``dtype``."""
    if isinstance(src, (NpyRows, ZarrRows)):
        return ready(src.read(), dtype)
    return ready(src, dtype)


def scan(src: Any, metric: str, name: str, row0: int, dtype: str) -> Any:
    """The block's largest magnitude, or the ValueError of its first bad row (returned, so
    that ``max_abs`` can raise the error of the lowest bad row whatever order tasks ran in)."""
    try:
        return _core._scan(rows_of(src, dtype), metric, name, row0)
    except ValueError as e:
        return e


def max_abs(*scans: Any) -> float:
    """The run's largest magnitude; raises the error of the first bad block, in block order."""
    for s in scans:
        if isinstance(s, BaseException):
            raise s
    return float(max(scans))


def take_rows(src: Any, local: list[int], dtype: str) -> np.ndarray:
    """The given rows of a block (for the Euclidean centre's sample)."""
    return ready(rows_of(src, dtype)[np.asarray(local, dtype=np.intp)])


def centre(checked: float, *samples: np.ndarray) -> np.ndarray:
    """The Euclidean centre of the sample rows, in order (``checked``: the run's max_abs, a
    dependency only, so that bad input fails with its row before the centre is formed)."""
    return _core._centre(ready(np.concatenate(samples, axis=0)))


def block_pair(
    src_i: Any,
    i0: int,
    src_j: Any,
    j0: int,
    k: int,
    metric: str,
    mabs: float,
    ctr: np.ndarray | None,
    dtype: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One block pair of a self-join (I == J: the diagonal block, second result empty)."""
    xi = rows_of(src_i, dtype)
    xj = xi if i0 == j0 else rows_of(src_j, dtype)
    c = None if ctr is None else ready(ctr)
    return _core._block_pair(xi, i0, xj, j0, k, metric, mabs, c)


def block_query(
    src_q: Any,
    src_b: Any,
    b0: int,
    k: int,
    metric: str,
    mabs: float,
    ctr: np.ndarray | None,
    dtype: str,
) -> Partial:
    """The partial top-k of a block of queries among a block of base rows."""
    q, b = rows_of(src_q, dtype), rows_of(src_b, dtype)
    c = None if ctr is None else ready(ctr)
    return _core._block_query(q, b, b0, None, k, metric, mabs, c)


def merge(parts: list[Any], sides: list[int]) -> Partial:
    """Merges partials of the same rows, left to right. ``sides[t]`` picks the half of a
    block pair's result (0: I's rows, 2: J's rows) or, for -1, takes ``parts[t]`` itself."""
    chosen = [p if s < 0 else (p[s], p[s + 1]) for p, s in zip(parts, sides)]
    keys, idx = ready(chosen[0][0]), ready(chosen[0][1])
    for kb, ib in chosen[1:]:
        keys, idx = _core._merge(keys, idx, ready(kb), ready(ib))
    return keys, idx


def empty_partial(rows: int, k: int, dtype: str) -> Partial:
    """A partial top-k that has seen no candidates."""
    return np.zeros((rows, k), dtype=dtype), np.full((rows, k), EMPTY, dtype=np.uint32)


def self_scores(x: np.ndarray, metric: str, mabs: float) -> np.ndarray:
    """The score of each row with itself, exactly as ``knn(include_self=True)`` gives it.

    Cosine 1 and Euclidean 0 (as the core scores a row with itself); inner product: the
    kernel's key of the pair (i, i) under the run's scale, which ``_pair_scores`` computes with
    the scale of the set it is given: the block with one more row whose largest value is the
    run's ``max_abs`` has the run's scale (a power of two fixed by that largest value).
    """
    n = x.shape[0]
    if metric == "cosine":
        return np.ones(n, dtype=x.dtype)
    if metric == "l2":
        return np.zeros(n, dtype=x.dtype)
    extra = np.zeros((1, x.shape[1]), dtype=x.dtype)
    extra[0, 0] = mabs
    both = np.concatenate([x, extra], axis=0)
    pairs = np.repeat(np.arange(n, dtype=np.int64)[:, None], 2, axis=1)
    return _core._pair_scores(both, None, np.ascontiguousarray(pairs), "ip", 1)


def finish(
    part: Partial | None,
    metric: str,
    mabs: float,
    include_self: bool,
    src: Any,
    row0: int,
    rows: int,
    dtype: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and int64 indices of a block, as ``knn`` returns them (with ``include_self``,
    each row itself first; ``part`` is None when k = 1 leaves no other neighbour)."""
    if part is None:
        scores = np.zeros((rows, 0), dtype=dtype)
        idx = np.zeros((rows, 0), dtype=np.int64)
    else:
        scores, idx = _core._finish(ready(part[0]), ready(part[1]), metric, mabs)
    if not include_self:
        return scores, idx
    own = self_scores(rows_of(src, dtype), metric, mabs)
    rows_idx = np.arange(row0, row0 + rows, dtype=np.int64)
    return (
        np.concatenate([own[:, None], scores], axis=1),
        np.concatenate([rows_idx[:, None], idx], axis=1),
    )


def pick(result: tuple[Any, ...], i: int) -> Any:
    """One element of a task's tuple result."""
    return result[i]


def overlap_counts(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], ks: list[int]
) -> np.ndarray:
    """NNO^k of each row of a block, for each k (the neighbour lists of A and of B)."""
    return _core.overlap(ready(a[1]), ready(b[1]), [int(v) for v in ks], 1)


def count_sums(counts: np.ndarray) -> np.ndarray:
    """Column sums of a block's overlap counts (int64)."""
    return counts.sum(axis=0, dtype=np.int64)


def sleep_task(seconds: float, *deps: Any) -> int:
    """A stand-in task for the scheduler test of docs/scale.md: sleeps, returns a few bytes."""
    import time

    time.sleep(seconds)
    return 0
