"""The paper's intervals and nulls now come from ``nnoverlap.measures``: the numbers stay those
of the paper's former ``paper/stats.py``.

The former recipes are kept here, frozen, as the oracle: the new functions must give the same
intervals, p-values, null means and τ on the neighbour lists of the bundled real data (5 test
folds of the ImageNet-1k visual / MiniLM pair), and the measures beside mNNO (Jaccard, linear
CKA) the same values as the former in-paper versions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap.datasets import imagenet1k
from nnoverlap.measures import paired_bootstrap, stratified_permutation_test
from nnoverlap.measures.strata import relabel
from nnoverlap.paper.protocols import extra_measures, make_design, pooled_extras

# --------------------------------------------------------------------------------------------
# The former paper/stats.py recipes (frozen; the oracle of this file)
# --------------------------------------------------------------------------------------------


def _old_bootstrap_intervals(groups, *, reps=1000, level=0.95, seed=0):
    arrays = [np.asarray(g, dtype=np.float64) for g in groups]
    arrays = [a[:, None] if a.ndim == 1 else a for a in arrays]
    total = sum(a.shape[0] for a in arrays)
    rng = np.random.default_rng(seed)
    sums = np.zeros((reps, arrays[0].shape[1]))
    for a in arrays:
        m = a.shape[0]
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


def _old_relabel(lists, perm):
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    return inv[lists[perm]]


def _old_permutation_null(pairs, k, observed, *, permutations=200, alpha=0.05, seed=0):
    rng = np.random.default_rng(seed)
    total = sum(a.shape[0] for a, _ in pairs)
    null = np.empty(permutations)
    for t in range(permutations):
        s = 0
        for a, b in pairs:
            perm = rng.permutation(a.shape[0])
            s += int(nno.overlap(a[:, :k], _old_relabel(b[:, :k], perm)).sum())
        null[t] = s / (k * total)
    values = np.sort(np.append(null, observed))
    rank = min(values.size, math.ceil((1.0 - alpha) * (permutations + 1)))
    tau = float(values[rank - 1])
    p = (1 + int(np.sum(null >= observed))) / (permutations + 1)
    return float(null.mean()), tau, p


def _old_jaccard(overlaps, k):
    o = np.asarray(overlaps, dtype=np.float64)
    return float(np.mean(o / (2.0 * k - o)))


def _old_linear_cka(A, B):
    Ac = np.asarray(A, dtype=np.float64)
    Bc = np.asarray(B, dtype=np.float64)
    Ac = Ac - Ac.mean(axis=0)
    Bc = Bc - Bc.mean(axis=0)
    cross = float(np.sum((Bc.T @ Ac) ** 2))
    return cross / (float(np.linalg.norm(Ac.T @ Ac)) * float(np.linalg.norm(Bc.T @ Bc)))


# --------------------------------------------------------------------------------------------
# Real lists: 5 test folds of the bundled visual / MiniLM pair
# --------------------------------------------------------------------------------------------

KS = [1, 5, 10, 50]


@pytest.fixture(scope="module")
def folds():
    data = imagenet1k()
    X, Y = data.visual, data.minilm
    design = make_design(X.shape[0], "per-fold", folds=5, test_size=0.2, seed=0)
    out = []
    for rows in design.units:
        out.append((X[rows], Y[rows], nno.neighbors(X[rows], 50), nno.neighbors(Y[rows], 50)))
    return out


def _overlaps(folds):
    groups = []
    for _, _, nx, ny in folds:
        o = np.stack([nno.overlap(nx.indices, ny.indices, k) for k in KS], axis=1) / KS
        groups.append(o)
    return groups


def test_paired_bootstrap_gives_the_former_intervals_on_real_folds(folds) -> None:
    groups = _overlaps(folds)
    # A paired difference column, as the paper's gap / gain columns.
    groups = [np.concatenate([g, g[:, :1] - g[:, 2:3]], axis=1) for g in groups]
    for seed in (0, 7):
        old_lo, old_hi = _old_bootstrap_intervals(groups, reps=500, seed=seed)
        lo, hi = paired_bootstrap(groups, reps=500, alpha=0.05, seed=seed)
        np.testing.assert_allclose(lo, old_lo, rtol=0, atol=1e-12)
        np.testing.assert_allclose(hi, old_hi, rtol=0, atol=1e-12)


def test_stratified_permutation_test_gives_the_former_null_on_real_folds(folds) -> None:
    pairs = [(nx.indices, ny.indices) for _, _, nx, ny in folds]
    total = sum(a.shape[0] for a, _ in pairs)
    for k in (1, 10, 50):
        observed = sum(int(nno.overlap(a, b, k).sum()) for a, b in pairs) / (k * total)
        mean, tau, p = _old_permutation_null(pairs, k, observed, permutations=60, seed=k)
        r = stratified_permutation_test(pairs, k, permutations=60, seed=k)
        assert r.value == observed
        assert (r.null_mean, r.tau, r.p, r.permutations) == (mean, tau, p, 60)
        # Neighbors objects serve as well as index arrays.
        nbs = [(nx, ny) for _, _, nx, ny in folds]
        assert stratified_permutation_test(nbs, k, permutations=60, seed=k).p == p


def test_one_stratum_equals_the_core_permutation_test(folds) -> None:
    _, _, nx, ny = folds[0]
    r = stratified_permutation_test([(nx, ny)], 10, permutations=80, seed=3)
    core = nno.permutation_test(nx, ny, 10, permutations=80, seed=3)
    assert (r.value, r.null_mean, r.tau, r.p, r.calibrated) == pytest.approx(
        (core.value, core.null_mean, core.tau, core.p, core.calibrated), abs=1e-12
    )
    assert r.chance == pytest.approx(10 / (nx.n - 1))


def test_extra_measures_jaccard_and_cka_equal_the_former_paper_versions(folds) -> None:
    parts, sizes = [], []
    overlaps = []
    for X, Y, nx, ny in folds:
        parts.append(extra_measures(ny, nx, KS, "cosine"))
        sizes.append(nx.n)
        overlaps.append(np.stack([nno.overlap(nx.indices, ny.indices, k) for k in KS], axis=1))
        assert nno.linear_cka(X, Y) == pytest.approx(_old_linear_cka(X, Y), rel=1e-12)
    pooled = pooled_extras(parts, sizes)
    o = np.concatenate(overlaps)
    for j, k in enumerate(KS):
        assert pooled["jaccard"][j] == pytest.approx(_old_jaccard(o[:, j], k), abs=1e-12)
    # Trustworthiness of X as a picture of Y, per fold, item-weighted; the core's own value.
    X, Y, nx, ny = folds[0]
    t = nno.trustworthiness(Y, X, k=10)
    assert parts[0]["trustworthiness"][1][KS.index(10)] == pytest.approx(t, abs=1e-12)
    # CKNNA is undefined at k = 1 and the core's value elsewhere.
    assert math.isnan(parts[0]["cknna"][1][0])
    assert parts[0]["cknna"][1][2] == pytest.approx(nno.cknna(ny, nx, k=10), abs=1e-12)


def test_extra_measures_leave_trustworthiness_undefined_beyond_half_n() -> None:
    A = np.random.default_rng(0).normal(size=(21, 4))
    na, nb = nno.neighbors(A, 15), nno.neighbors(A + 0.1, 15)
    out = extra_measures(na, nb, [5, 10, 15], "cosine")
    t = out["trustworthiness"][1]
    assert not math.isnan(t[0]) and not math.isnan(t[1]) and math.isnan(t[2])


def test_relabel_gives_the_lists_of_the_permuted_set() -> None:
    A = np.random.default_rng(1).normal(size=(40, 5))
    lists = nno.knn(A, 6).indices
    perm = np.random.default_rng(2).permutation(40)
    assert np.array_equal(relabel(lists, perm), nno.knn(A[perm], 6).indices)


@pytest.mark.parametrize(
    ("strata", "message"),
    [
        ([], "at least one stratum"),
        ([np.zeros((3, 2)), np.zeros((3, 3))], "stratum 1: expected"),
        ([np.array([0.0, np.nan])], "stratum 0: per-item values must be finite"),
    ],
)
def test_paired_bootstrap_rejects_bad_strata(strata, message) -> None:
    with pytest.raises(ValueError, match=message):
        paired_bootstrap(strata, reps=10)


def test_paired_bootstrap_rejects_bad_reps_and_alpha() -> None:
    with pytest.raises(ValueError, match="reps"):
        paired_bootstrap([np.ones(3)], reps=0)
    with pytest.raises(ValueError, match="alpha"):
        paired_bootstrap([np.ones(3)], alpha=1.5)


def test_stratified_permutation_test_rejects_bad_lists() -> None:
    a = nno.knn(np.random.default_rng(0).normal(size=(10, 3)), 3).indices
    with pytest.raises(ValueError, match="stratum 0: A has 10 items but B has 9"):
        stratified_permutation_test([(a, a[:9])], 2)
    with pytest.raises(ValueError, match="stratum 1, B: k = 3 exceeds"):
        stratified_permutation_test([(a, a), (a, a[:, :2])], 3)
    with pytest.raises(ValueError, match="k must be"):
        stratified_permutation_test([(a, a)], 0)
    with pytest.raises(ValueError, match="at least one stratum"):
        stratified_permutation_test([], 2)


def test_inputs_are_not_modified() -> None:
    g = np.random.default_rng(0).random((30, 2))
    before = g.copy()
    paired_bootstrap([g], reps=20)
    assert np.array_equal(g, before)
