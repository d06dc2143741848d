"""The two primitives beyond the top-k lists, from the Rust core: scores of given pairs, and
ranks beyond k.

``pair_scores(x, rows, cols, metric)``: s(i, j) of given pairs. ``rank_counts(x, chosen,
metric)``: for each item i and each chosen j (row i of ``chosen``, -1 = none),
r(i, j) = 1 + #{l not in {i, j} : l beats j for i}, ties to the lower index (``measures.md``),
from one more sweep over the tiles of the self-join (O(n m) memory). Both use exactly the
arithmetic of ``knn``, so a pair's score and rank agree with the neighbour lists bit for bit.

>>> import numpy as np
>>> from nnoverlap.measures.primitives import rank_counts
>>> X = np.array([[0.0], [1.0], [3.0], [7.0]])
>>> rank_counts(X, np.array([[3], [-1], [0], [1]]), "l2").ravel().tolist()
[3, 0, 2, 2]
"""

from __future__ import annotations

import os

import numpy as np

from .. import _core

__all__ = ["key_block", "pair_scores", "rank_counts"]

_BLOCK = 256  # rows per numpy block of rnx_auc: block x n keys in flight per thread


def _threads(threads: int | None) -> int:
    if threads is not None:
        return threads
    env = os.environ.get("RAYON_NUM_THREADS")
    return int(env) if env and env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def pair_scores(
    x: np.ndarray, rows: np.ndarray, cols: np.ndarray, metric: str, threads: int | None = None
) -> np.ndarray:
    """The metric's score of each pair (rows[t], cols[t]) of x's rows, in x's dtype."""
    pairs = np.stack(
        [np.asarray(rows, dtype=np.int64).ravel(), np.asarray(cols, dtype=np.int64).ravel()],
        axis=1,
    )
    return _core._pair_scores(x, None, np.ascontiguousarray(pairs), metric, threads)


def rank_counts(
    x: np.ndarray,
    chosen: np.ndarray,
    metric: str,
    threads: int | None = None,
    *,
    _block: int | None = None,
) -> np.ndarray:
    """(n, m) int64: r(i, chosen[i, c]) for every chosen entry (0 where chosen is -1).

    ``x`` must be a validated C-contiguous float32/float64 array (as the measures pass it);
    ``_block`` sets the rows per block (tests use small blocks to cross many tiles).
    """
    c = np.ascontiguousarray(chosen, dtype=np.int64)
    block = 0 if _block is None else int(_block)
    return _core.rank_counts(x, c, metric, threads, block)


def key_block(x: np.ndarray, sq: np.ndarray, r0: int, r1: int, metric: str) -> np.ndarray:
    """Ranking keys (larger = better) of rows r0..r1 against every row, (r1 - r0, n), with
    numpy's BLAS (rnx_auc ranks every candidate, so it needs whole rows of keys)."""
    dot = x[r0:r1] @ x.T
    if metric == "cosine":
        inv = 1.0 / np.sqrt(sq)
        return dot * inv[r0:r1, None] * inv[None, :]
    if metric == "ip":
        return dot
    return -np.maximum(sq[r0:r1, None] + sq[None, :] - 2 * dot, 0)
