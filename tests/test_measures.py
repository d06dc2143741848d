"""The measures against the pure-Python reference (hypothesis), their identities, the nulls,
compare_many, the Neighbors object, and the contract's errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnoverlap as nno
from nnoverlap import reference as ref

TOL = 1e-12
LIST_MEASURES = ["jaccard", "rank_similarity", "joint_rank_jaccard", "lcmc", "cycle_knn"]


@st.composite
def int_pair(draw, min_n: int = 4, max_n: int = 16):
    """Two small-integer sets of the same n items: every ip / l2 score exact, ties and
    duplicate rows frequent."""
    n = draw(st.integers(min_n, max_n))
    da, db = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    a = draw(st.lists(st.integers(-2, 2), min_size=n * da, max_size=n * da))
    b = draw(st.lists(st.integers(-2, 2), min_size=n * db, max_size=n * db))
    return np.array(a, float).reshape(n, da), np.array(b, float).reshape(n, db)


def _close(got: float, want: float) -> None:
    assert abs(got - want) < TOL, (got, want)


@given(int_pair(), st.sampled_from(["ip", "l2"]), st.data())
def test_list_measures_equal_reference_ties_included(pair, metric, data) -> None:
    A, B = pair
    n = A.shape[0]
    k = data.draw(st.integers(1, n - 1))
    a, b = A.tolist(), B.tolist()
    for name in LIST_MEASURES:
        got = getattr(nno, name)(A, B, k=k, metric=metric, per_item=True)
        want = getattr(ref, name)(a, b, k, metric=metric, per_item=True)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL, err_msg=name)
    _close(nno.mutual_knn(A, B, k=k, metric=metric), ref.mnno(a, b, k, metric=metric))
    np.testing.assert_allclose(nno.qnx(A, B, k, metric=metric), ref.qnx(a, b, k, metric=metric))
    if n >= 3:
        kk = min(k, n - 2)
        np.testing.assert_allclose(
            nno.rnx(A, B, kk, metric=metric), ref.rnx(a, b, kk, metric=metric), atol=TOL
        )


@given(int_pair(), st.sampled_from(["ip", "l2"]), st.data())
def test_rank_measures_equal_reference_ties_included(pair, metric, data) -> None:
    X, Y = pair
    n = X.shape[0]
    k = data.draw(st.integers(1, (n - 1) // 2))
    x, y = X.tolist(), Y.tolist()
    got = nno.trustworthiness(X, Y, k=k, metric=metric, per_item=True)
    np.testing.assert_allclose(
        got, ref.trustworthiness(x, y, k, metric=metric, per_item=True), atol=TOL
    )
    _close(nno.continuity(X, Y, k=k, metric=metric), ref.continuity(x, y, k, metric=metric))
    got_m = nno.mrre(X, Y, k=k, metric=metric)
    np.testing.assert_allclose(got_m, ref.mrre(x, y, k, metric=metric), atol=TOL)
    _close(nno.rnx_auc(X, Y, metric=metric), ref.rnx_auc(x, y, metric=metric))


def _draw_chosen(data, n: int, m: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Up to m distinct other rows per row (-1 pads), and the (i, j) pairs they name."""
    chosen = np.full((n, m), -1, dtype=np.int64)
    pairs = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        picks = data.draw(st.lists(st.sampled_from(others), max_size=m, unique=True))
        chosen[i, : len(picks)] = picks
        pairs += [(i, j) for j in picks]
    return chosen, pairs


@given(int_pair(max_n=40), st.data())
def test_rank_counts_equal_reference_ranks(pair, data) -> None:
    from nnoverlap.measures.primitives import rank_counts

    X, _ = pair
    n = X.shape[0]
    metric = data.draw(st.sampled_from(["ip", "l2"]))
    m = data.draw(st.integers(1, n - 1))
    chosen, pairs = _draw_chosen(data, n, m)
    want = ref.ranks(X.tolist(), pairs, metric=metric)
    for dtype in (np.float32, np.float64):
        x = X.astype(dtype)
        for block in (1, 2, 5, None):  # tiny blocks: many tiles, both sides of the kernel
            got = rank_counts(x, chosen, metric, _block=block)
            assert got[chosen >= 0].tolist() == want, (dtype, block)
            assert (got[chosen < 0] == 0).all()


@given(int_pair(max_n=40), st.data())
def test_fused_knn_and_rank_pass_equals_reference_lists_and_ranks(pair, data) -> None:
    # _core.knn_ranked: the self-join's lists and the ranks of chosen candidates from one
    # sweep. Both must equal the reference (exact ties and duplicates: the tie rule on both
    # sides of off-diagonal tiles and in diagonal ones), whatever the block size.
    from nnoverlap import _core

    X, _ = pair
    n = X.shape[0]
    metric = data.draw(st.sampled_from(["ip", "l2"]))
    k = data.draw(st.integers(1, n - 1))
    m = data.draw(st.integers(0, n - 1))
    chosen, pairs = _draw_chosen(data, n, m)
    want_ranks = ref.ranks(X.tolist(), pairs, metric=metric)
    want_scores, want_idx = ref.knn(X.tolist(), k, metric=metric)
    for dtype in (np.float32, np.float64):
        x = X.astype(dtype)
        for block in (1, 2, 5, 0):  # tiny blocks: many tiles and rounds
            scores, idx, ranks = _core.knn_ranked(x, k, chosen, metric, None, block)
            assert ranks[chosen >= 0].tolist() == want_ranks, (dtype, block)
            assert (ranks[chosen < 0] == 0).all()
            assert idx.tolist() == want_idx, (dtype, block)
            np.testing.assert_allclose(scores, want_scores, rtol=1e-6, atol=1e-6)


def test_trustworthiness_continuity_mrre_share_one_fused_pass_and_equal_separate_calls() -> None:
    # measure() takes the cross ranks from a fused sweep and a cache; every value must equal
    # the measures called one by one, and those must equal the plain passes they replace.
    from nnoverlap.measures.primitives import rank_counts

    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 12)).astype(np.float32)
    Y = (X[:, :4] + 0.3 * rng.normal(size=(300, 4))).astype(np.float32)
    names = ["trustworthiness", "continuity", "mrre_false", "mrre_missing"]
    res = nno.measure(X, Y, k=[3, 10], measures=names, metric="l2")
    mf, mm = nno.mrre(X, Y, k=[3, 10], metric="l2")
    single = {
        "trustworthiness": nno.trustworthiness(X, Y, k=[3, 10], metric="l2"),
        "continuity": nno.continuity(X, Y, k=[3, 10], metric="l2"),
        "mrre_false": mf,
        "mrre_missing": mm,
    }
    for name in names:
        for c, kk in enumerate([3, 10]):
            assert res[name, kk].value == single[name][c], (name, kk)
    # the ranks in X of Y's lists, as the separate passes give them
    ny = nno.knn(Y, 10, metric="l2")
    want = rank_counts(X, ny.indices.astype(np.int64), "l2")
    from nnoverlap import _core

    _, idx, got = _core.knn_ranked(X, 10, ny.indices.astype(np.int64), "l2", None, 0)
    assert (got == want).all()
    assert (idx == nno.knn(X, 10, metric="l2").indices).all()


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_fused_and_separate_rank_passes_give_equal_measures(monkeypatch, metric) -> None:
    # The fused sweep is taken only where the estimate says it pays; forcing either path must
    # change no value (per item, every k, all four rank measures).
    from nnoverlap.measures import ranks

    rng = np.random.default_rng(6)
    X = rng.normal(size=(250, 9))
    Y = X[:, :3] + 0.4 * rng.normal(size=(250, 3))
    names = ["trustworthiness", "continuity", "mrre_false", "mrre_missing"]
    got = {}
    for limit in (-1.0, 2.0):  # never fuse, always fuse
        monkeypatch.setattr(ranks, "FUSED_MAX_FRACTION", limit)
        res = nno.measure(X, Y, k=[2, 7], measures=names, metric=metric)
        got[limit] = [(r.value, r.per_item.tolist()) for r in res]
        assert nno.trustworthiness(X, Y, k=7, metric=metric) == res["trustworthiness", 7].value
    assert got[-1.0] == got[2.0]


def test_offered_fraction_estimates_the_pairs_the_fused_sweep_counts() -> None:
    from nnoverlap.measures.ranks import offered_fraction

    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 6))
    chosen = nno.knn(X[:, :2].copy(), 5).indices
    keys = X @ X.T / np.outer(np.linalg.norm(X, axis=1), np.linalg.norm(X, axis=1))
    low = np.take_along_axis(keys, chosen, axis=1).min(axis=1)
    np.fill_diagonal(keys, -np.inf)
    want = (keys >= low[:, None]).sum() / (120 * 119)
    # up to one pair per row: the chosen key itself, scored by another rounding
    assert offered_fraction(X, chosen, "cosine", rows=120) == pytest.approx(want, abs=1 / 119)
    # a sample of the rows stays near it
    assert abs(offered_fraction(X, chosen, "cosine", rows=30) - want) < 0.15


def _floats(seed: int, n: int = 40, d: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, d))
    return A, A[:, :3] + 0.5 * rng.normal(size=(n, 3))


@pytest.mark.parametrize("seed", range(3))
def test_cknna_second_order_and_cka_equal_reference(seed: int) -> None:
    A, B = _floats(seed)
    a, b = A.tolist(), B.tolist()
    for k in (2, 5):
        assert abs(nno.cknna(A, B, k=k) - ref.cknna(a, b, k)) < 1e-9
        _close(nno.second_order_cosine(A, B, k=k), ref.second_order_cosine(a, b, k))
    _close(nno.linear_cka(A, B), ref.linear_cka(a, b))


# ---------------------------------------------------------------------------------------------
# Identities (measures.md)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_identities(seed: int) -> None:
    A, B = _floats(seed, n=60)
    n, ks = 60, [1, 3, 7, 15]
    q = nno.qnx(A, B, k_max=15)
    np.testing.assert_allclose(q[np.array(ks) - 1], nno.mnno(A, B, k=ks), atol=TOL)
    np.testing.assert_allclose(
        nno.lcmc(A, B, k=ks), nno.mnno(A, B, k=ks) - np.array(ks) / (n - 1), atol=TOL
    )
    o = nno.nno(A, B, k=7)
    np.testing.assert_allclose(nno.jaccard(A, B, k=7, per_item=True), o / (14 - o), atol=TOL)
    assert nno.trustworthiness(A, A, k=10) == 1.0
    assert nno.continuity(A, A, k=10) == 1.0
    assert nno.mrre(A, A, k=10) == (1.0, 1.0)
    assert abs(nno.rnx_auc(A, 2 * A) - 1.0) < TOL
    # trustworthiness(X, Y) is continuity(Y, X)
    _close(nno.trustworthiness(A, B, k=5), nno.continuity(B, A, k=5))


def test_several_k_equal_separate_calls() -> None:
    A, B = _floats(4, n=50)
    for name in [*LIST_MEASURES, "trustworthiness", "continuity", "second_order_cosine"]:
        fn = getattr(nno, name)
        together = fn(A, B, k=[2, 5, 9])
        assert together.shape == (3,)
        for c, k in enumerate([2, 5, 9]):
            _close(together[c], fn(A, B, k=k))
        assert fn(A, B, k=[2, 5], per_item=True).shape == (50, 2)
    np.testing.assert_allclose(
        nno.cknna(A, B, k=[3, 6]), [nno.cknna(A, B, k=3), nno.cknna(A, B, k=6)]
    )


def test_neighbors_serve_every_measure_and_every_smaller_k(tmp_path) -> None:
    A, B = _floats(5, n=50)
    na, nb = nno.neighbors(A, k=12), nno.neighbors(B, k=12)
    for name in [*LIST_MEASURES, "trustworthiness", "continuity", "second_order_cosine"]:
        fn = getattr(nno, name)
        _close(fn(na, nb, k=6), fn(A, B, k=6))
    _close(nno.cknna(na, nb, k=6), nno.cknna(A, B, k=6))
    path = tmp_path / "a.npz"
    na.save(path)
    back = nno.Neighbors.load(path)
    assert back.data is None and back.metric == "cosine" and back.k == 12
    np.testing.assert_array_equal(back.indices, na.indices)
    _close(nno.jaccard(back, nb, k=4), nno.jaccard(A, B, k=4))
    with pytest.raises(ValueError, match="needs the vectors of A"):
        nno.trustworthiness(back, nb, k=4)
    na.save(path, include_data=True)
    _close(nno.trustworthiness(nno.Neighbors.load(path), nb, k=4), nno.trustworthiness(A, B, k=4))


def test_inputs_are_not_modified() -> None:
    A, B = _floats(6)
    a0, b0 = A.copy(), B.copy()
    nno.measure(A, B, k=[3, 5], measures=list(nno.measures.catalog.MEASURES), null=5, bootstrap=5)
    np.testing.assert_array_equal(A, a0)
    np.testing.assert_array_equal(B, b0)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_errors_name_what_is_wrong() -> None:
    A, B = _floats(7, n=20)
    with pytest.raises(ValueError, match=r"k < n / 2"):
        nno.trustworthiness(A, B, k=10)
    with pytest.raises(ValueError, match=r"k < n / 2"):
        nno.continuity(A, B, k=[3, 12])
    with pytest.raises(ValueError, match=r"same items.*20 rows.*19"):
        nno.jaccard(A, B[:19], k=3)
    with pytest.raises(ValueError, match=r"1 <= k <= 19"):
        nno.rank_similarity(A, B, k=20)
    with pytest.raises(ValueError, match=r"unknown metric"):
        nno.lcmc(A, B, k=3, metric="manhattan")
    with pytest.raises(ValueError, match=r"k >= 2"):
        nno.cknna(A, B, k=1)
    with pytest.raises(ValueError, match=r"NaN or infinite value in row 4"):
        bad = A.copy()
        bad[4, 1] = np.nan
        nno.cycle_knn(bad, B, k=3)
    with pytest.raises(ValueError, match=r"exceeds the k = 5"):
        nno.jaccard(nno.neighbors(A, k=5), nno.neighbors(B, k=5), k=6)
    with pytest.raises(ValueError, match=r"metric 'cosine'.*'l2'"):
        nno.jaccard(nno.neighbors(A, k=5), B, k=3, metric="l2")
    with pytest.raises(ValueError, match=r"unknown measure"):
        nno.measure(A, B, measures=["mnnoo"])
    with pytest.raises(ValueError, match=r"no cheap permutation null"):
        nno.permutation_test(A, B, k=3, measure="trustworthiness")
    with pytest.raises(ValueError, match=r"R_NX needs|1 <= k <= 18"):
        nno.rnx(A, B, k_max=19)


# ---------------------------------------------------------------------------------------------
# Nulls, bootstrap, results, compare_many
# ---------------------------------------------------------------------------------------------


def test_permutation_p_values_are_uniform_under_a_true_null() -> None:
    rng = np.random.default_rng(123)
    ps = []
    for t in range(200):
        A, B = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
        ps.append(nno.permutation_test(A, B, k=3, permutations=19, seed=t).p)
    ps = np.array(ps)
    # p takes the values 1/20 .. 20/20, each with probability about 1/20 under the null
    # (discrete ties make small values slightly rarer, never more frequent).
    assert 0.35 < ps.mean() < 0.65
    assert np.mean(ps <= 0.05) <= 0.1
    assert np.mean(ps <= 0.5) < 0.62


def test_null_statistics_follow_the_recipe() -> None:
    from nnoverlap.measures.results import null_summary

    s = null_summary(0.5, np.array([0.1, 0.2, 0.3, 0.6]), 0.05, 1.0)
    # ceil(0.95 * 5) = 5th of [0.1, 0.2, 0.3, 0.5, 0.6] is 0.6; one null value >= 0.5
    assert s["tau"] == 0.6 and s["p"] == 2 / 5 and s["calibrated"] == 0.0
    s = null_summary(0.9, np.array([0.1, 0.2, 0.3, 0.4]), 0.25, 1.0)
    # ceil(0.75 * 5) = 4th of [0.1, 0.2, 0.3, 0.4, 0.9] is 0.4
    assert s["tau"] == 0.4 and s["p"] == 1 / 5 and abs(s["calibrated"] - 0.5 / 0.6) < TOL


def test_measure_table_with_null_bootstrap_and_pandas() -> None:
    A, B = _floats(8, n=80)
    res = nno.measure(
        A,
        B,
        k=[5, 10],
        measures=["mnno", "cknna", "trustworthiness", "linear_cka"],
        null=30,
        bootstrap=50,
        seed=3,
    )
    r = res["mnno", 10]
    _close(r.value, nno.mnno(A, B, k=10))
    assert r.chance == 10 / 79 and r.permutations == 30
    assert r.ci_low <= r.value <= r.ci_high
    assert r.p == nno.permutation_test(A, B, k=10, permutations=30, seed=3).p
    t = res["trustworthiness", 5]
    _close(t.value, nno.trustworthiness(A, B, k=5))
    assert t.p is None and t.ci_low is not None
    assert res["linear_cka", None].value == nno.linear_cka(A, B)
    _close(res["cknna", 5].value, nno.cknna(A, B, k=5))
    pd = pytest.importorskip("pandas")
    frame = res.to_pandas()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 7


def test_compare_many_equals_pairwise_calls_and_shares_permutations() -> None:
    rng = np.random.default_rng(9)
    base = rng.normal(size=(60, 6))
    sets = [base + s * rng.normal(size=base.shape) for s in (0.2, 0.5, 1.0, 3.0)]
    names = ["mnno", "jaccard", "cycle_knn", "cknna"]
    res = nno.compare_many(sets, k=5, measures=names, null=20, seed=4)
    for i in range(4):
        for j in range(4):
            for name in names:
                fn = nno.mutual_knn if name == "mnno" else getattr(nno, name)
                _close(res[name][i, j], fn(sets[i], sets[j], k=5))
            p = nno.permutation_test(sets[i], sets[j], k=5, permutations=20, seed=4).p
            assert res.p["mnno"][i, j] == p
    two = nno.compare_many(sets[:2], sets[1:], k=5, measures=["mnno", "trustworthiness"])
    assert two["mnno"].shape == (2, 3)
    _close(two["trustworthiness"][1, 2], nno.trustworthiness(sets[1], sets[3], k=5))
    value, (i, j) = two.best("mnno")
    assert value == two.max("mnno") == two["mnno"].max() and two["mnno"][i, j] == value


def test_mutual_knn_equals_mnno_bit_for_bit() -> None:
    # mutual_knn is mNNO: the same sum(o_i) / (k n), not a mean of rounded o_i / k
    rng = np.random.default_rng(11)
    A, B = rng.normal(size=(1000, 5)), rng.normal(size=(1000, 5))
    for k in (3, 7, 10):
        want = nno.mnno(A, B, k=k)
        assert nno.mutual_knn(A, B, k=k) == want
        assert nno.measure(A, B, k=k, measures=["mnno"])["mnno", k].value == want
        assert nno.compare_many([A, B], k=k)["mnno"][0, 1] == want
    assert (nno.mutual_knn(A, B, k=[3, 7]) == nno.mnno(A, B, k=[3, 7])).all()


def test_measure_refuses_cknna_at_k_1_as_cknna_does() -> None:
    rng = np.random.default_rng(12)
    A, B = rng.normal(size=(50, 5)), rng.normal(size=(50, 5))
    with pytest.raises(ValueError, match="cknna needs k >= 2"):
        nno.cknna(A, B, k=1)
    with pytest.raises(ValueError, match="cknna needs k >= 2"):
        nno.measure(A, B, k=[1, 5], measures=["mnno", "cknna"])
    with pytest.raises(ValueError, match="cknna needs k >= 2"):
        nno.compare_many([A, B], k=1, measures=["cknna"])
    assert nno.measure(A, B, k=[1, 5], measures=["mnno"])["mnno", 1].value == nno.mnno(A, B, k=1)


def test_compare_many_batched_path_equals_the_per_pair_path(monkeypatch) -> None:
    # mnno, jaccard, lcmc and cknna come from one batched core call; the per-pair path (the
    # measures' own functions) must give the same matrices, nulls included, on one family
    # and on two
    from nnoverlap.measures import many

    rng = np.random.default_rng(13)
    base = rng.normal(size=(80, 6))
    sets = [base + s * rng.normal(size=base.shape) for s in (0.1, 0.5, 2.0)]
    names = ["mnno", "jaccard", "lcmc", "cknna"]
    fast = nno.compare_many(sets, k=6, measures=names, null=15, seed=2)
    fast2 = nno.compare_many(sets[:2], sets[1:], k=6, measures=names)
    monkeypatch.setattr(many, "_BATCHED", frozenset())
    slow = nno.compare_many(sets, k=6, measures=names, null=15, seed=2)
    slow2 = nno.compare_many(sets[:2], sets[1:], k=6, measures=names)
    for name in names:
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fast2[name], slow2[name], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(fast.p[name], slow.p[name])
    assert (fast["mnno"] == slow["mnno"]).all()  # sum(o_i) / (k n) both ways
    assert fast["mnno"][0, 1] == nno.mnno(sets[0], sets[1], k=6)


PAIRWISE = {"mnno": nno.mutual_knn, "jaccard": nno.jaccard, "lcmc": nno.lcmc, "cknna": nno.cknna}


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 4),
    st.integers(8, 40),
    st.integers(2, 6),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_compare_many_one_family_equals_pairwise_calls(m, n, k, seed, as_neighbors) -> None:
    # one family asks the core for each unordered pair once (both directions from it): every
    # entry must still be the pairwise call on (set i, set j), the asymmetric cknna too
    k = min(k, n - 2)
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 3))
    sets = [base + s * rng.normal(size=base.shape) for s in rng.uniform(0.05, 2.0, size=m)]
    given_sets = [nno.neighbors(s, k=k + 1) for s in sets] if as_neighbors else sets
    res = nno.compare_many(given_sets, k=k, measures=list(PAIRWISE))
    for name, fn in PAIRWISE.items():
        assert res[name].shape == (m, m)
        for i in range(m):
            for j in range(m):
                want = fn(sets[i], sets[j], k=k)
                assert abs(res[name][i, j] - want) <= 1e-12, (name, i, j, res[name][i, j], want)
        if name != "cknna":
            assert (res[name] == res[name].T).all()


def test_compare_many_cknna_is_asymmetric_and_both_directions_equal_pairwise_calls() -> None:
    # the reverse direction's masked HSIC comes from the same pass as the forward one, summed
    # in its own order: [i, j] and [j, i] differ, and each equals nno.cknna bit for bit
    rng = np.random.default_rng(21)
    base = rng.normal(size=(300, 5))
    sets = [base + s * rng.normal(size=base.shape) for s in (0.3, 0.8, 1.5)]
    res = nno.compare_many(sets, k=8, measures=["cknna", "mnno"])
    c = res["cknna"]
    assert (c != c.T).any(), "the test data should make cknna asymmetric"
    for i in range(3):
        for j in range(3):
            assert c[i, j] == nno.cknna(sets[i], sets[j], k=8), (i, j)
    assert (res["mnno"] == res["mnno"].T).all()


def test_pair_stats_reverse_equals_both_ordered_calls() -> None:
    # the core's each-pair-once call against the ordered calls it replaces, bit for bit
    from nnoverlap import _core

    rng = np.random.default_rng(22)
    nbs = [nno.neighbors(rng.normal(size=(200, 4)), k=6) for _ in range(3)]
    lists = [nb.indices for nb in nbs]
    scores = [nb.scores.astype(np.float64) for nb in nbs]
    pairs = np.array([(a, b) for a in range(3) for b in range(a, 3)], dtype=np.int64)
    hist, hsic, rev = _core.pair_stats(lists, scores, 6, pairs, reverse=True)
    back = pairs[:, ::-1].copy()
    hist_f, hsic_f, none = _core.pair_stats(lists, scores, 6, pairs)
    hist_b, hsic_b, _ = _core.pair_stats(lists, scores, 6, back)
    assert np.isnan(none).all()
    np.testing.assert_array_equal(hist, hist_f)
    np.testing.assert_array_equal(hist, hist_b)
    assert hsic.tobytes() == hsic_f.tobytes() and rev.tobytes() == hsic_b.tobytes()
    bad = lists[1].copy()
    bad[7, 1] = bad[7, 0]
    with pytest.raises(ValueError, match="set 1's list of row 7 repeats item"):
        _core.pair_stats([lists[0], bad], [], 6, pairs[:1], reverse=True)


def test_neighbors_rejects_a_row_that_repeats_an_item(tmp_path) -> None:
    # each unordered pair once relies on rows of distinct items (the overlap of (b, a) is
    # that of (a, b) only then)
    idx = np.array([[1, 2], [2, 0], [3, 3], [0, 1]])
    sc = np.zeros(idx.shape)
    with pytest.raises(ValueError, match="row 2 of the neighbour lists names item 3 twice"):
        nno.Neighbors(idx, sc, "cosine")
    path = tmp_path / "bad.npz"
    np.savez(path, indices=idx, scores=sc, metric=np.array("cosine"))
    with pytest.raises(ValueError, match="row 2 .* names item 3 twice"):
        nno.Neighbors.load(path)


def test_neighbors_rejects_a_row_that_names_itself() -> None:
    # NN^k(i) excludes i: a row holding its own item is refused, naming the row
    idx = np.array([[1, 2], [1, 0], [0, 1]])
    with pytest.raises(ValueError, match="row 1 of the neighbour lists names item 1 itself"):
        nno.Neighbors(idx, np.zeros(idx.shape), "cosine")
    ok = np.array([[1, 2], [2, 0], [0, 1]])
    assert nno.Neighbors(ok, np.zeros(ok.shape), "cosine").k == 2


def test_lists_the_package_makes_pass_the_row_check() -> None:
    # the k-NN pass and the null's relabelling skip the constructor's row check (they are
    # distinct by construction): check them here, with duplicate rows and ties
    from nnoverlap.measures.neighbors import _check_rows
    from nnoverlap.measures.nulls import permutations, permute

    rng = np.random.default_rng(23)
    x = rng.integers(-1, 2, size=(60, 2)).astype(float)  # many duplicate rows
    for metric in ("cosine", "ip", "l2"):
        nb = nno.neighbors(x + 1e-3 * (metric == "cosine"), k=20, metric=metric)
        _check_rows(nb.indices)
        for perm in permutations(60, 3, 0):
            _check_rows(permute(nb, perm).indices)
