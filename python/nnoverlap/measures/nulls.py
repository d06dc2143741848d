"""Permutation nulls: relabel B's cached lists with a seeded permutation π,
N^π_B(i) = π⁻¹(N_B(π(i))) with the scores carried along, and recompute; no neighbour search
is repeated. The same seed gives the same π sequence for every pair of sets."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _api
from .catalog import cknna_selves, list_values, mean_of, spec
from .lists import Pair, check_pair_n
from .neighbors import Neighbors, SetLike, resolve
from .results import MeasureResult, null_summary

__all__ = ["permutation_test", "permute", "permutations"]


def permute(nb: Neighbors, perm: np.ndarray) -> Neighbors:
    """B's lists relabelled by π: item i gets the lists of π(i), renamed through π⁻¹.

    >>> import numpy as np
    >>> from nnoverlap.measures.nulls import permute
    >>> import nnoverlap as nno
    >>> nb = nno.neighbors(np.array([[0.0], [1.0], [3.0]]), k=1, metric="l2")
    >>> permute(nb, np.array([2, 0, 1])).indices.ravel().tolist()
    [2, 2, 1]
    """
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    # a permutation relabels distinct items to distinct items: the rows stay valid
    return Neighbors._trusted(inv[nb.indices[perm]], nb.scores[perm], nb.metric)


def permutations(n: int, count: int, seed: int | None) -> Any:
    """The seeded sequence of ``count`` permutations of n items (a generator; the same for
    the same seed, whichever pair of sets it serves)."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield rng.permutation(n)


def check_null(null: Any) -> int:
    if isinstance(null, bool) or not isinstance(null, (int, np.integer)) or null < 1:
        raise ValueError(f"null must be a number of permutations >= 1, got {null!r}")
    return int(null)


def check_alpha(alpha: Any) -> float:
    if not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    return float(alpha)


def permutation_test(
    a: SetLike,
    b: SetLike,
    k: int = 10,
    *,
    measure: str = "mnno",
    permutations: int = 200,
    seed: int | None = 0,
    metric: str = "cosine",
    threads: int | None = None,
    alpha: float = 0.05,
) -> MeasureResult:
    """Permutation test of one list measure: the observed value against ``permutations``
    relabellings of B's cached lists (no new neighbour search). Returns a
    :class:`MeasureResult` with the null mean, τ, p and the calibrated score.

    Measures that need ranks beyond k or other pairs' scores (trustworthiness, continuity,
    MRRE, second-order cosine) have no cheap null: ``ValueError``.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(200, 8))
    >>> r = nno.permutation_test(A, A + 0.3, k=10, permutations=99, seed=1)
    >>> r.p, r.calibrated > 0.5
    (0.01, True)
    """
    s = spec(measure)
    if s.kind not in ("list", "value"):
        raise ValueError(
            f"{measure} needs ranks beyond k or scores of other pairs: it has no cheap "
            "permutation null (only the measures of the top-k lists do)"
        )
    P = check_null(permutations)
    alpha = check_alpha(alpha)
    metric = _api._check_metric(s.metric or metric)
    threads = _api._check_threads(threads)
    n = check_pair_n(a, b)
    high, what = _api._self_join_range(n)
    kk = _api._check_k(k, high, what)
    na = resolve(a, kk, metric, threads, "A")
    nb = resolve(b, kk, metric, threads, "B")
    selves = cknna_selves(na, nb, [kk]) if measure == "cknna" else None
    observed = mean_of(list_values(Pair.build(na, nb, kk), measure, [kk], selves)[0], measure, kk)
    null = np.empty(P)
    for t, perm in enumerate(_perms(n, P, seed)):
        q = Pair.build(na, permute(nb, perm), kk)
        null[t] = mean_of(list_values(q, measure, [kk], selves)[0], measure, kk)
    stats = null_summary(observed, null, alpha, s.s_max(n, kk))
    return MeasureResult(measure, kk, observed, n, chance=s.chance(n, kk), **stats)  # type: ignore[arg-type]


_perms = permutations
