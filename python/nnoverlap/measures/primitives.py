"""The two primitives beyond the top-k lists: scores of given pairs, and ranks beyond k.

``pair_scores(x, rows, cols, metric)``: s(i, j) for given pairs. ``rank_counts(x, chosen,
metric)``: for each item i and each chosen j (row i of ``chosen``, -1 = none),
r(i, j) = 1 + #{l not in {i, j} : l beats j for i}, ties to the lower index (``measures.md``).

The Rust core provides both (``_core.pair_scores``, ``_core.rank_counts``) with exactly the
arithmetic of ``knn``, so a pair's score and rank agree with the lists bit for bit. When the
extension predates them, numpy versions below are used: the same definitions in O(block n)
memory, with BLAS rounding (consistent within themselves, not bit-equal to ``knn``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _core

__all__ = ["pair_scores", "rank_counts"]

_BLOCK = 256  # rows per numpy block: block x n keys in flight per thread


def _threads(threads: int | None) -> int:
    if threads is not None:
        return threads
    env = os.environ.get("RAYON_NUM_THREADS")
    return int(env) if env and env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def pair_scores(
    x: np.ndarray, rows: np.ndarray, cols: np.ndarray, metric: str, threads: int | None = None
) -> np.ndarray:
    """The metric's score of each pair (rows[t], cols[t]) of x's rows, in x's dtype."""
    rows = np.ascontiguousarray(rows, dtype=np.int64).ravel()
    cols = np.ascontiguousarray(cols, dtype=np.int64).ravel()
    if hasattr(_core, "pair_scores"):
        return _core.pair_scores(x, rows, cols, metric, threads)
    out = np.empty(rows.size, dtype=x.dtype)
    sq = np.einsum("ij,ij->i", x, x)
    step = max(1, 1 << 20 // max(1, x.shape[1]))
    for s in range(0, rows.size, step):
        r, c = rows[s : s + step], cols[s : s + step]
        dot = np.einsum("ij,ij->i", x[r], x[c])
        if metric == "cosine":
            out[s : s + step] = dot / (np.sqrt(sq[r]) * np.sqrt(sq[c]))
        elif metric == "ip":
            out[s : s + step] = dot
        else:
            out[s : s + step] = np.sqrt(np.maximum(sq[r] + sq[c] - 2 * dot, 0))
    return out


def key_block(x: np.ndarray, sq: np.ndarray, r0: int, r1: int, metric: str) -> np.ndarray:
    """Ranking keys (larger = better) of rows r0..r1 against every row, (r1 - r0, n)."""
    dot = x[r0:r1] @ x.T
    if metric == "cosine":
        inv = 1.0 / np.sqrt(sq)
        return dot * inv[r0:r1, None] * inv[None, :]
    if metric == "ip":
        return dot
    return -np.maximum(sq[r0:r1, None] + sq[None, :] - 2 * dot, 0)


def _rank_block(
    x: np.ndarray, sq: np.ndarray, chosen: np.ndarray, r0: int, r1: int, metric: str
) -> np.ndarray:
    keys = key_block(x, sq, r0, r1, metric)
    n = x.shape[0]
    local = np.arange(r1 - r0)
    keys[local, np.arange(r0, r1)] = -np.inf  # l = i never counts
    cj = chosen[r0:r1]
    out = np.zeros(cj.shape, dtype=np.int64)
    idx = np.arange(n)
    for c in range(cj.shape[1]):
        j = cj[:, c]
        live = j >= 0
        kj = keys[local, np.where(live, j, 0)][:, None]
        beats = (keys > kj) | ((keys == kj) & (idx[None, :] < np.where(live, j, 0)[:, None]))
        out[:, c] = np.where(live, 1 + beats.sum(axis=1), 0)
    return out


def rank_counts(
    x: np.ndarray, chosen: np.ndarray, metric: str, threads: int | None = None
) -> np.ndarray:
    """(n, m) int64: r(i, chosen[i, c]) for every chosen entry (0 where chosen is -1)."""
    chosen = np.ascontiguousarray(chosen, dtype=np.int64)
    if hasattr(_core, "rank_counts"):
        return _core.rank_counts(x, chosen, metric, threads, 0)
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    starts = list(range(0, n, _BLOCK))
    with ThreadPoolExecutor(max_workers=_threads(threads)) as pool:
        parts = list(
            pool.map(lambda r0: _rank_block(x, sq, chosen, r0, min(r0 + _BLOCK, n), metric), starts)
        )
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, chosen.shape[1]), np.int64)
