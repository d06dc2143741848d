"""Uncertainty and chance for the paper's numbers: bootstrap intervals, permutation nulls.

A stop-gap until the measures issue (issue 10) lands ``nnoverlap.permutation_test`` and the
``bootstrap=`` option of the measures: the recipes are those of
``design/measures.md`` ("Chance, nulls and uncertainty"), written here in a few lines on the
cached neighbour lists, so that they can move to the core package unchanged.

- :func:`bootstrap_interval`: resample items (their per-item values), seeded; the percentile
  interval of the mean. Several groups (the test folds of the per-fold protocol) are
  resampled each within itself.
- :func:`permutation_null`: relabel B's neighbour lists with a seeded permutation π,
  ``N^π_B(i) = π⁻¹(N_B(π(i)))``, recompute mNNO; no neighbour search is repeated. Returns the
  null mean, τ (the ⌈(1 − α)(P + 1)⌉-th order statistic of the observed value and the null
  values), and ``p = (1 + #{null >= observed}) / (P + 1)``.
- :func:`jaccard_from_overlaps` and :func:`linear_cka`: two measures of the measures issue
  that need nothing beyond what the experiments already have.

>>> import numpy as np
>>> lo, hi = bootstrap_interval([np.array([0.0, 1.0, 1.0, 0.0])], reps=200, seed=0)
>>> 0.0 <= lo <= 0.5 <= hi <= 1.0
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import _api

__all__ = [
    "NullResult",
    "bootstrap_interval",
    "bootstrap_intervals",
    "jaccard_from_overlaps",
    "linear_cka",
    "permutation_null",
    "relabel",
]


def bootstrap_intervals(
    groups: Sequence[np.ndarray], *, reps: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap intervals of item-weighted column means, one draw for all columns.

    ``groups`` holds one (n_g, q) array of per-item values per group (several groups, such as
    the test folds of the per-fold protocol, are each resampled within themselves, with their
    own size). The same resampled items serve every column, so a column holding a paired
    difference gets the interval of that difference. Seeded. Returns ``(lo, hi)``, each (q,).

    >>> import numpy as np
    >>> lo, hi = bootstrap_intervals([np.array([[1.0, 0.0], [1.0, 1.0]])], reps=100)
    >>> lo.tolist()[0], hi.tolist()[0]
    (1.0, 1.0)
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    arrays = [np.asarray(g, dtype=np.float64) for g in groups]
    arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
    total = sum(a.shape[0] for a in arrays)
    if total == 0:
        raise ValueError("no items to resample")
    rng = np.random.default_rng(seed)
    sums = np.zeros((reps, arrays[0].shape[1]))
    for a in arrays:
        if a.shape[0] == 0:
            continue
        m = a.shape[0]
        # How often each item is drawn in each resample, then one product for every column;
        # in chunks of resamples so that the counts stay small (chunk x m floats).
        chunk = max(1, min(reps, 2_000_000 // m))
        for start in range(0, reps, chunk):
            r = min(chunk, reps - start)
            draws = rng.integers(0, m, size=(r, m)) + (np.arange(r) * m)[:, None]
            counts = np.bincount(draws.ravel(), minlength=r * m).reshape(r, m)
            sums[start : start + r] += counts.astype(np.float64) @ a
    means = sums / total
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail], axis=0)
    return lo, hi


def bootstrap_interval(
    groups: Sequence[np.ndarray], *, reps: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the item-weighted mean of per-item values.

    ``groups`` holds one array of per-item values per group (see :func:`bootstrap_intervals`).

    >>> import numpy as np
    >>> bootstrap_interval([np.ones(10)], reps=50)
    (1.0, 1.0)
    """
    lo, hi = bootstrap_intervals(
        [np.asarray(g, dtype=np.float64).ravel() for g in groups], reps=reps, level=level, seed=seed
    )
    return float(lo[0]), float(hi[0])


def relabel(lists: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Neighbour lists of a relabelled set: row i becomes ``π⁻¹(N(π(i)))``.

    >>> import numpy as np
    >>> relabel(np.array([[1], [0], [0]]), np.array([1, 2, 0])).tolist()
    [[2], [2], [0]]
    """
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    return inv[lists[perm]]


@dataclass(frozen=True)
class NullResult:
    """A permutation null of one mNNO: its mean, τ (α = 0.05), the p-value, P."""

    mean: float
    tau: float
    p: float
    permutations: int


def permutation_null(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    k: int,
    observed: float,
    *,
    permutations: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> NullResult:
    """Permutation null of mNNO^k for lists (A's, B's) of one or more groups.

    Each permutation relabels B's lists of every group (each group with its own π drawn from
    one seeded generator) and recomputes the item-weighted mean overlap / k over all groups.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> lists = np.array([rng.permutation([j for j in range(30) if j != i])[:5] for i in range(30)])
    >>> res = permutation_null([(lists, lists)], 5, observed=1.0, permutations=99)
    >>> res.p, res.mean < 0.5
    (0.01, True)
    """
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    rng = np.random.default_rng(seed)
    total = sum(a.shape[0] for a, _ in pairs)
    null = np.empty(permutations)
    for t in range(permutations):
        s = 0
        for a, b in pairs:
            perm = rng.permutation(a.shape[0])
            s += int(_api.overlap(a[:, :k], relabel(b[:, :k], perm)).sum())
        null[t] = s / (k * total)
    values = np.sort(np.append(null, observed))
    rank = min(values.size, math.ceil((1.0 - alpha) * (permutations + 1)))
    tau = float(values[rank - 1])
    p = (1 + int(np.sum(null >= observed))) / (permutations + 1)
    return NullResult(float(null.mean()), tau, p, permutations)


def jaccard_from_overlaps(overlaps: np.ndarray, k: int) -> float:
    """Mean Jaccard index ``o / (2k - o)`` of the two k-NN sets of each item.

    >>> import numpy as np
    >>> jaccard_from_overlaps(np.array([10, 5, 0]), 10)
    0.4444444444444444
    """
    o = np.asarray(overlaps, dtype=np.float64)
    return float(np.mean(o / (2.0 * k - o)))


def linear_cka(A: np.ndarray, B: np.ndarray) -> float:
    """Linear CKA of Kornblith et al. (2019): ``‖B̄ᵀĀ‖²_F / (‖ĀᵀĀ‖_F ‖B̄ᵀB̄‖_F)``, centred columns.

    O(n·d_A·d_B) time, never an n × n matrix.

    >>> import numpy as np
    >>> A = np.random.default_rng(0).standard_normal((50, 4))
    >>> round(linear_cka(A, 3 * A @ np.linalg.qr(np.ones((4, 4)) + np.eye(4))[0]), 9)
    1.0
    """
    Ac = np.asarray(A, dtype=np.float64)
    Bc = np.asarray(B, dtype=np.float64)
    Ac = Ac - Ac.mean(axis=0)
    Bc = Bc - Bc.mean(axis=0)
    cross = float(np.sum((Bc.T @ Ac) ** 2))
    na = float(np.linalg.norm(Ac.T @ Ac))
    nb = float(np.linalg.norm(Bc.T @ Bc))
    if na == 0.0 or nb == 0.0:
        return float("nan")
    return cross / (na * nb)
