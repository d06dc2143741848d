"""Uncertainty for measures taken within several strata (the test folds of a cross-validation,
say) and compared pairwise: a paired, stratified bootstrap of per-item values, and a
permutation null of mNNO whose relabelling stays inside each stratum.

The recipes of ``measures.md`` ("Chance, nulls and uncertainty") for the case that
:func:`nnoverlap.measure` does not cover: one number pooled over strata, each stratum with its
own neighbour lists (items of different folds are never each other's neighbours).

- :func:`paired_bootstrap`: resample items, each stratum within itself and with its own size,
  the same draw for every column; the percentile interval of each column's item-weighted
  mean. A column holding a per-item difference (mNNO(f(X), X) − mNNO(f(X), Y) of the same
  items) gets the interval of that difference.
- :func:`stratified_permutation_test`: relabel B's lists of every stratum with a seeded
  permutation π of that stratum, ``N^π_B(i) = π⁻¹(N_B(π(i)))``, recompute the pooled mNNO;
  no neighbour search is repeated. The null mean, τ, p and the calibrated score as in
  :func:`nnoverlap.permutation_test` (which it equals for one stratum).

>>> import numpy as np
>>> from nnoverlap.measures import paired_bootstrap
>>> lo, hi = paired_bootstrap([np.array([0.0, 1.0, 1.0, 0.0])], reps=200, seed=0)
>>> 0.0 <= float(lo[0]) <= 0.5 <= float(hi[0]) <= 1.0
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np

from .. import _api
from .neighbors import Neighbors
from .nulls import check_alpha, check_null
from .results import MeasureResult, null_summary

__all__ = ["paired_bootstrap", "relabel", "stratified_permutation_test"]

Lists = Union[Neighbors, np.ndarray]


def paired_bootstrap(
    strata: Sequence[Any],
    *,
    reps: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap intervals of item-weighted column means, one draw for all columns.

    ``strata``: one (n_s,) or (n_s, q) array of per-item values per stratum (the same q for
    all). Each stratum is resampled within itself, with its own size; the same resampled items
    serve every column (a paired bootstrap). Seeded. Returns ``(lo, hi)``, each (q,), the
    ``alpha / 2`` and ``1 - alpha / 2`` quantiles of the resampled means.

    >>> import numpy as np
    >>> from nnoverlap.measures import paired_bootstrap
    >>> lo, hi = paired_bootstrap([np.array([[1.0, 0.0], [1.0, 1.0]])], reps=100)
    >>> float(lo[0]), float(hi[0])
    (1.0, 1.0)
    """
    if isinstance(reps, bool) or not isinstance(reps, (int, np.integer)) or reps < 1:
        raise ValueError(f"reps must be an integer >= 1, got {reps!r}")
    alpha = check_alpha(alpha)
    arrays = [np.asarray(g, dtype=np.float64) for g in strata]
    if not arrays:
        raise ValueError("paired_bootstrap needs at least one stratum of per-item values")
    arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[1] != arrays[0].shape[1]:
            raise ValueError(
                f"stratum {i}: expected (n, {arrays[0].shape[1]}) per-item values, "
                f"got shape {a.shape}"
            )
        if not np.isfinite(a).all():
            raise ValueError(f"stratum {i}: per-item values must be finite (NaN or inf found)")
    total = sum(a.shape[0] for a in arrays)
    if total == 0:
        raise ValueError("no items to resample")
    rng = np.random.default_rng(seed)
    sums = np.zeros((int(reps), arrays[0].shape[1]))
    for a in arrays:
        m = a.shape[0]
        if m == 0:
            continue
        # How often each item is drawn in each resample, then one product for every column;
        # in chunks of resamples so that the counts stay small (chunk x m values).
        chunk = max(1, min(int(reps), 2_000_000 // m))
        for start in range(0, int(reps), chunk):
            r = min(chunk, int(reps) - start)
            draws = rng.integers(0, m, size=(r, m)) + (np.arange(r) * m)[:, None]
            counts = np.bincount(draws.ravel(), minlength=r * m).reshape(r, m)
            sums[start : start + r] += counts.astype(np.float64) @ a
    means = sums / total
    lo, hi = np.quantile(means, [alpha / 2.0, 1.0 - alpha / 2.0], axis=0)
    return lo, hi


def relabel(lists: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Neighbour indices of a relabelled set: row i becomes ``π⁻¹(N(π(i)))``.

    >>> import numpy as np
    >>> from nnoverlap.measures.strata import relabel
    >>> relabel(np.array([[1], [0], [0]]), np.array([1, 2, 0])).tolist()
    [[2], [2], [0]]
    """
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    return inv[lists[perm]]


def _indices(s: Lists, k: int, what: str) -> np.ndarray:
    idx = s.indices if isinstance(s, Neighbors) else np.asarray(s)
    if idx.ndim != 2 or idx.dtype.kind not in "iu":
        raise ValueError(f"{what}: expected (n, k) integer neighbour lists, got {idx.shape}")
    if idx.shape[1] < k:
        raise ValueError(f"{what}: k = {k} exceeds the lists' k = {idx.shape[1]}")
    return idx[:, :k]


def stratified_permutation_test(
    pairs: Sequence[tuple[Lists, Lists]],
    k: int,
    *,
    permutations: int = 200,
    seed: int | None = 0,
    alpha: float = 0.05,
) -> MeasureResult:
    """Permutation test of mNNO^k pooled over strata, each with its own neighbour lists.

    ``pairs``: per stratum, (A's lists, B's lists) of its n_s items: :class:`Neighbors` or
    (n_s, ≥ k) index arrays. The observed value is the item-weighted mean overlap / k over all
    strata; each permutation relabels B's lists of every stratum (each with its own π, drawn
    in turn from one seeded generator). Returns a :class:`MeasureResult` (``measure``
    ``"mnno"``, chance the item-weighted k / (n_s − 1)). For one stratum it equals
    :func:`nnoverlap.permutation_test`.

    >>> import numpy as np, nnoverlap as nno
    >>> from nnoverlap.measures import stratified_permutation_test
    >>> A = np.random.default_rng(0).normal(size=(200, 8))
    >>> folds = [np.arange(100), np.arange(100, 200)]
    >>> lists = [(nno.neighbors(A[f], 5), nno.neighbors(A[f] + 0.3, 5)) for f in folds]
    >>> r = stratified_permutation_test(lists, 5, permutations=99)
    >>> r.p, r.n, r.value > r.tau
    (0.01, 200, True)
    """
    P = check_null(permutations)
    alpha = check_alpha(alpha)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    kk = int(k)
    if not pairs:
        raise ValueError("stratified_permutation_test needs at least one stratum")
    strata = []
    for s, (a, b) in enumerate(pairs):
        ia, ib = _indices(a, kk, f"stratum {s}, A"), _indices(b, kk, f"stratum {s}, B")
        if ia.shape[0] != ib.shape[0]:
            raise ValueError(
                f"stratum {s}: A has {ia.shape[0]} items but B has {ib.shape[0]} (the same "
                "items, in the same order, are needed)"
            )
        if ia.shape[0] <= kk:
            raise ValueError(f"stratum {s}: k = {kk} needs more than {kk} items")
        strata.append((ia, ib))
    total = sum(a.shape[0] for a, _ in strata)
    observed = sum(int(_api.overlap(a, b).sum()) for a, b in strata) / (kk * total)
    rng = np.random.default_rng(seed)
    null = np.empty(P)
    for t in range(P):
        hits = 0
        for a, b in strata:
            perm = rng.permutation(a.shape[0])
            hits += int(_api.overlap(a, relabel(b, perm)).sum())
        null[t] = hits / (kk * total)
    stats = null_summary(observed, null, alpha, 1.0)
    chance = sum(a.shape[0] * kk / (a.shape[0] - 1) for a, _ in strata) / total
    return MeasureResult("mnno", kk, observed, total, chance=chance, **stats)  # type: ignore[arg-type]
