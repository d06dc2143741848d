"""The measures against the implementations the field uses, on small float64 data without
near-ties, to 1e-9 (measures.md: where a reference has one, nnoverlap gives its number).

- sklearn's ``trustworthiness`` and ZADU's ``tnc``, ``mrre``, ``lcmc`` are called as installed
  (test extras; skipped when absent);
- platonic-rep's ``mutual_knn``, ``cycle_knn``, ``cknna`` and ReSi's ``jaccard_similarity``,
  ``rank_similarity``, ``joint_rank_jaccard_similarity``, ``second_order_cosine_similarity``
  are numpy transcriptions written here from reading their code (platonic-rep needs torch;
  ReSi is not on PyPI). docs/measures-references.md lists where they differ from the contract.
"""

from __future__ import annotations

import numpy as np
import pytest

import nnoverlap as nno

TOL = 1e-9


def _pair(seed: int, n: int = 80, d: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    B = A @ rng.normal(size=(d, d - 1)) + 0.7 * rng.normal(size=(n, d - 1))
    return A, B


CASES = [(seed, k) for seed in range(3) for k in (1, 5, 12)]


# ---------------------------------------------------------------------------------------------
# platonic-rep (metrics.py): features L2-normalised, kernel = inner product
# ---------------------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _pr_knn(f: np.ndarray, k: int) -> np.ndarray:
    s = f @ f.T
    np.fill_diagonal(s, -1e8)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def _pr_mutual_knn(fa: np.ndarray, fb: np.ndarray, k: int) -> float:
    ka, kb = _pr_knn(fa, k), _pr_knn(fb, k)
    n = fa.shape[0]
    ma, mb = np.zeros((n, n)), np.zeros((n, n))
    ma[np.arange(n)[:, None], ka] = 1.0
    mb[np.arange(n)[:, None], kb] = 1.0
    return float(((ma * mb).sum(axis=1) / k).mean())


def _pr_cycle_knn(fa: np.ndarray, fb: np.ndarray, k: int) -> float:
    ka, kb = _pr_knn(fa, k), _pr_knn(fb, k)
    n = fa.shape[0]
    hit = ka[kb] == np.arange(n).reshape(-1, 1, 1)
    return float(hit.reshape(n, -1).max(axis=1).mean())


def _pr_hsic_unbiased(K: np.ndarray, L: np.ndarray) -> float:
    m = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    v = (
        np.sum(Kt * Lt.T)
        + np.sum(Kt) * np.sum(Lt) / ((m - 1) * (m - 2))
        - 2 * np.sum(Kt @ Lt) / (m - 2)
    )
    return float(v / (m * (m - 3)))


def _pr_cknna(fa: np.ndarray, fb: np.ndarray, k: int) -> float:
    K, L = fa @ fa.T, fb @ fb.T
    n = K.shape[0]

    def similarity(K: np.ndarray, L: np.ndarray) -> float:
        Kh, Lh = K.copy(), L.copy()
        np.fill_diagonal(Kh, -np.inf)
        np.fill_diagonal(Lh, -np.inf)
        tk = np.argsort(-Kh, axis=1, kind="stable")[:, :k]
        tl = np.argsort(-Lh, axis=1, kind="stable")[:, :k]
        mk, ml = np.zeros((n, n)), np.zeros((n, n))
        np.put_along_axis(mk, tk, 1, axis=1)
        np.put_along_axis(ml, tl, 1, axis=1)
        mask = mk * ml
        return _pr_hsic_unbiased(mask * K, mask * L)

    return similarity(K, L) / (np.sqrt(similarity(K, K) * similarity(L, L)) + 1e-6)


@pytest.mark.parametrize(("seed", "k"), CASES)
def test_mutual_knn_equals_platonic_rep(seed: int, k: int) -> None:
    A, B = _pair(seed)
    want = _pr_mutual_knn(_unit(A), _unit(B), k)
    assert abs(nno.mutual_knn(A, B, k=k) - want) < TOL
    assert abs(nno.mnno(A, B, k=k) - want) < TOL


@pytest.mark.parametrize(("seed", "k"), CASES)
def test_cycle_knn_equals_platonic_rep(seed: int, k: int) -> None:
    A, B = _pair(seed)
    assert abs(nno.cycle_knn(A, B, k=k) - _pr_cycle_knn(_unit(A), _unit(B), k)) < TOL
    assert abs(nno.cycle_knn(B, A, k=k) - _pr_cycle_knn(_unit(B), _unit(A), k)) < TOL


@pytest.mark.parametrize(("seed", "k"), [(s, k) for s in range(3) for k in (2, 5, 12)])
def test_cknna_equals_platonic_rep(seed: int, k: int) -> None:
    A, B = _pair(seed)
    assert abs(nno.cknna(A, B, k=k) - _pr_cknna(_unit(A), _unit(B), k)) < TOL


# ---------------------------------------------------------------------------------------------
# ReSi (repsim/measures/nearest_neighbor.py): sklearn NearestNeighbors with k + 1, first
# column dropped (positional self-removal)
# ---------------------------------------------------------------------------------------------


def _resi_top_k(x: np.ndarray, k: int) -> np.ndarray:
    sk_neighbors = pytest.importorskip("sklearn.neighbors")
    nn = sk_neighbors.NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(x)
    return nn.kneighbors(x)[1][:, 1:]


def _resi_jaccard(a: np.ndarray, b: np.ndarray, k: int) -> float:
    ia, ib = _resi_top_k(a, k), _resi_top_k(b, k)
    return float(np.mean([len(set(x) & set(y)) / len(set(x) | set(y)) for x, y in zip(ia, ib)]))


def _resi_rank_sim_i(joint: list[int], ra: np.ndarray, rb: np.ndarray) -> float:
    if not joint:
        return 0.0
    norm = sum(1 / t for t in range(1, len(joint) + 1))
    score = 0.0
    for j in joint:
        pa = np.argwhere(ra == j)[0][0] + 1
        pb = np.argwhere(rb == j)[0][0] + 1
        score += 2 / ((1 + abs(pa - pb)) * (pa + pb))
    return score / norm


def _resi_rank_similarity(a: np.ndarray, b: np.ndarray, k: int) -> float:
    ia, ib = _resi_top_k(a, k), _resi_top_k(b, k)
    both = [list(set(x) & set(y)) for x, y in zip(ia, ib)]
    return float(np.mean([_resi_rank_sim_i(j, x, y) for j, x, y in zip(both, ia, ib)]))


def _resi_joint(a: np.ndarray, b: np.ndarray, k: int) -> float:
    ia, ib = _resi_top_k(a, k), _resi_top_k(b, k)
    values = []
    for x, y in zip(ia, ib):
        jac = len(set(x) & set(y)) / len(set(x) | set(y))
        values.append(jac * _resi_rank_sim_i(list(set(x) & set(y)), x, y))
    return float(np.mean(values))


def _resi_second_order(a: np.ndarray, b: np.ndarray, k: int) -> float:
    metrics = pytest.importorskip("sklearn.metrics")
    spatial = pytest.importorskip("scipy.spatial.distance")
    ia, ib = _resi_top_k(a, k), _resi_top_k(b, k)
    union = [list(set(x) | set(y)) for x, y in zip(ia, ib)]
    da = metrics.pairwise_distances(a, metric="cosine")
    db = metrics.pairwise_distances(b, metric="cosine")
    return float(np.mean([1 - spatial.cosine(da[i, u], db[i, u]) for i, u in enumerate(union)]))


@pytest.mark.parametrize(("seed", "k"), CASES)
def test_jaccard_equals_resi(seed: int, k: int) -> None:
    A, B = _pair(seed)
    assert abs(nno.jaccard(A, B, k=k) - _resi_jaccard(A, B, k)) < TOL


@pytest.mark.parametrize(("seed", "k"), CASES)
def test_rank_similarity_equals_resi(seed: int, k: int) -> None:
    A, B = _pair(seed)
    assert abs(nno.rank_similarity(A, B, k=k) - _resi_rank_similarity(A, B, k)) < TOL


@pytest.mark.parametrize(("seed", "k"), CASES)
def test_joint_rank_jaccard_equals_resi(seed: int, k: int) -> None:
    A, B = _pair(seed)
    assert abs(nno.joint_rank_jaccard(A, B, k=k) - _resi_joint(A, B, k)) < TOL


@pytest.mark.parametrize(("seed", "k"), CASES)
def test_second_order_cosine_equals_resi(seed: int, k: int) -> None:
    A, B = _pair(seed)
    assert abs(nno.second_order_cosine(A, B, k=k) - _resi_second_order(A, B, k)) < TOL


# ---------------------------------------------------------------------------------------------
# sklearn and ZADU, as installed (Euclidean: their metric)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "k"), CASES)
def test_trustworthiness_equals_sklearn(seed: int, k: int) -> None:
    manifold = pytest.importorskip("sklearn.manifold")
    X, Y = _pair(seed)
    want = manifold.trustworthiness(X, Y, n_neighbors=k)
    assert abs(nno.trustworthiness(X, Y, k=k, metric="l2") - want) < TOL
    # continuity is trustworthiness with the roles swapped
    want_c = manifold.trustworthiness(Y, X, n_neighbors=k)
    assert abs(nno.continuity(X, Y, k=k, metric="l2") - want_c) < TOL


@pytest.mark.parametrize(("seed", "k"), CASES)
def test_tnc_mrre_lcmc_equal_zadu(seed: int, k: int) -> None:
    pytest.importorskip("zadu")
    from zadu.measures import (
        local_continuity_meta_criteria,
        mean_relative_rank_error,
        trustworthiness_continuity,
    )

    X, Y = _pair(seed)
    tnc = trustworthiness_continuity.measure(X, Y, k=k)
    assert abs(nno.trustworthiness(X, Y, k=k, metric="l2") - tnc["trustworthiness"]) < TOL
    assert abs(nno.continuity(X, Y, k=k, metric="l2") - tnc["continuity"]) < TOL
    mr = mean_relative_rank_error.measure(X, Y, k=k)
    false, missing = nno.mrre(X, Y, k=k, metric="l2")
    assert abs(false - mr["mrre_false"]) < TOL
    assert abs(missing - mr["mrre_missing"]) < TOL
    lc = local_continuity_meta_criteria.measure(X, Y, k=k)
    assert abs(nno.lcmc(X, Y, k=k, metric="l2") - lc["lcmc"]) < TOL


def test_per_item_trustworthiness_equals_zadu_local() -> None:
    pytest.importorskip("zadu")
    from zadu.measures import trustworthiness_continuity

    X, Y = _pair(7)
    _, local = trustworthiness_continuity.measure(X, Y, k=6, return_local=True)
    got = nno.trustworthiness(X, Y, k=6, metric="l2", per_item=True)
    np.testing.assert_allclose(got, local["local_trustworthiness"], rtol=0, atol=TOL)
