"""Property tests of the package API (the Rust core behind it) against the pure-Python reference.

Two kinds of comparison, as semantics.md allows:
- small-integer data with "ip" or "l2": every score is exact, so the answer must equal the
  reference exactly, ties included;
- anything else (cosine, random floats): the returned neighbours must be a correct top-k within
  rounding, and equal to the reference exactly wherever the reference has no near-ties.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import nnoverlap as nno
from nnoverlap import reference as ref

METRICS = ["cosine", "ip", "l2"]
EXACT_METRICS = ["ip", "l2"]
DTYPES = [np.float32, np.float64]
REL = 1e-5  # "within rounding": relative to the scale of the score, see _scale
NEAR_TIE = 1e-4  # reference gaps below this (relative) may be ordered either way


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


@st.composite
def int_matrix(draw, *, n=None, d=None, dtype=None, nonzero=False):
    """An (n, d) matrix of integers in -3..3 stored as float32/float64: all scores exact."""
    n = draw(st.integers(2, 12)) if n is None else n
    d = draw(st.integers(1, 5)) if d is None else d
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else dtype
    flat = draw(st.lists(st.integers(-3, 3), min_size=n * d, max_size=n * d))
    X = np.array(flat, dtype=dtype).reshape(n, d)
    if nonzero:  # cosine is undefined on a zero row
        X[~X.any(axis=1), 0] = 1
    return X


@st.composite
def int_pair(draw, *, nonzero=False):
    """Two small-integer sets describing the same n items, of possibly different widths."""
    n = draw(st.integers(2, 12))
    dtype = draw(st.sampled_from(DTYPES))
    A = draw(int_matrix(n=n, dtype=dtype, nonzero=nonzero))
    B = draw(int_matrix(n=n, dtype=dtype, nonzero=nonzero))
    return A, B


@st.composite
def float_matrix(draw, *, n=None, d=None, dtype=None):
    """A matrix of standard normal floats: no exact ties, no zero rows."""
    n = draw(st.integers(2, 40)) if n is None else n
    d = draw(st.integers(1, 16)) if d is None else d
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else dtype
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def metric_matrix(metric, **kwargs):
    return int_matrix(nonzero=metric == "cosine", **kwargs)


# ---------------------------------------------------------------------------------------------
# Checkers
# ---------------------------------------------------------------------------------------------


def _key(metric, score):
    """Larger is better, in a space where rounding errors are bounded by _scale."""
    return -(score**2) if metric == "l2" else score


def _scale(metric, x, y, centre, spread):
    """The magnitude against which the rounding error of one _key is measured: for l2 the
    contract's |x - c|^2 + |y - c|^2 around the candidates' centre c (plus their mean squared
    spread, since the core's centre is a rounded sample mean), not |x|^2 + |y|^2."""
    if metric == "cosine":
        return 1.0
    if metric == "ip":
        return float(np.linalg.norm(x) * np.linalg.norm(y))
    dx, dy = x - centre, y - centre
    return float(dx @ dx + dy @ dy + spread)  # l2 is compared through the squared distance


def assert_sorted_best_first(res, metric, start=0):
    """Returned scores are in best-first order; equal scores in increasing index order."""
    scores, indices = res.scores[:, start:], res.indices[:, start:]
    better = scores[:, 1:] < scores[:, :-1] if metric == "l2" else scores[:, 1:] > scores[:, :-1]
    equal = scores[:, 1:] == scores[:, :-1]
    assert not better.any(), "scores are not in best-first order"
    assert (indices[:, 1:] > indices[:, :-1])[equal].all(), "equal scores not in index order"


def assert_top_k_within_rounding(X, res, k, *, metric, base=None, include_self=False):
    """res is a correct top-k of X (against base, or itself) up to rounding; equal to the
    reference exactly where the reference has no near-tie."""
    n = len(X)
    cand = X if base is None else base
    n_cand = len(cand) if base is not None else n - 1
    X64, C64 = X.astype(np.float64), cand.astype(np.float64)
    centre = C64.mean(axis=0)
    spread = float(((C64 - centre) ** 2).sum(axis=1).mean())
    ref_scores, ref_idx = ref.knn(
        X.tolist(), n_cand, metric=metric, base=None if base is None else base.tolist()
    )
    assert res.indices.shape == res.scores.shape == (n, k)
    start = 0
    if include_self:
        np.testing.assert_array_equal(res.indices[:, 0], np.arange(n))
        self_scores = {"cosine": np.ones(n), "ip": (X64 * X64).sum(axis=1), "l2": np.zeros(n)}
        np.testing.assert_allclose(res.scores[:, 0], self_scores[metric], rtol=REL, atol=REL)
        start = 1
    assert_sorted_best_first(res, metric, start)
    for i in range(n):
        got = res.indices[i, start:].tolist()
        got_scores = res.scores[i, start:].astype(np.float64).tolist()
        exact = {j: _key(metric, s) for j, s in zip(ref_idx[i], ref_scores[i])}
        scale = {j: _scale(metric, X64[i], C64[j], centre, spread) for j in exact}
        tol = {j: REL * scale[j] for j in exact}
        assert len(set(got)) == len(got), f"row {i}: repeated neighbour in {got}"
        assert set(got) <= exact.keys(), f"row {i}: {got} holds a non-candidate"
        for j, s in zip(got, got_scores):
            assert abs(_key(metric, s) - exact[j]) <= tol[j], f"row {i}, neighbour {j}: score {s}"
        if not got:
            continue
        worst = min(got, key=exact.get)
        missed = [
            j for j in exact if j not in got and exact[j] > exact[worst] + tol[j] + tol[worst]
        ]
        assert not missed, f"row {i}: {missed} are clearly better than {worst}, left out"
        # Where the reference order is clear around every returned position, it must be exact.
        m = min(len(got) + 1, n_cand)
        order = ref_idx[i][:m]
        clear = all(
            exact[a] - exact[b] > NEAR_TIE * max(scale[a], scale[b])
            for a, b in zip(order, order[1:])
        )
        if clear:
            assert got == order[: len(got)], f"row {i}: {got} != reference {order}"


def has_near_ties(X, metric, rel=1e-9):
    """Whether any row of X sees two of its candidates (self-join) with nearly equal scores."""
    scores, _ = ref.knn(X.tolist(), len(X) - 1, metric=metric)
    for row in scores:
        keys = [_key(metric, s) for s in row]
        if any(abs(a - b) <= rel * (abs(a) + abs(b) + 1e-300) for a, b in zip(keys, keys[1:])):
            return True
    return False


def assert_knn_equal(a, b):
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.scores, b.scores)


# ---------------------------------------------------------------------------------------------
# knn against the reference
# ---------------------------------------------------------------------------------------------


@given(metric=st.sampled_from(EXACT_METRICS), include_self=st.booleans(), data=st.data())
def test_knn_exact_on_small_integers(metric, include_self, data):
    X = data.draw(int_matrix())
    k = data.draw(st.integers(1, len(X) - 1))
    res = nno.knn(X, k=k, metric=metric, include_self=include_self)
    ref_scores, ref_idx = ref.knn(X.tolist(), k, metric=metric, include_self=include_self)
    assert res.indices.dtype == np.int64
    assert res.scores.dtype == X.dtype
    np.testing.assert_array_equal(res.indices, np.array(ref_idx, dtype=np.int64))
    rtol = 1e-6 if X.dtype == np.float32 else 1e-14
    np.testing.assert_allclose(res.scores, np.array(ref_scores), rtol=rtol, atol=0)


@given(metric=st.sampled_from(EXACT_METRICS), data=st.data())
def test_knn_query_exact_on_small_integers(metric, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    d = data.draw(st.integers(1, 5))
    Q = data.draw(int_matrix(d=d, dtype=dtype))
    base = data.draw(int_matrix(d=d, dtype=dtype))
    k = data.draw(st.integers(1, len(base)))
    res = nno.knn(Q, k=k, base=base, metric=metric)
    ref_scores, ref_idx = ref.knn(Q.tolist(), k, base=base.tolist(), metric=metric)
    np.testing.assert_array_equal(res.indices, np.array(ref_idx, dtype=np.int64))
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(res.scores, np.array(ref_scores), rtol=rtol, atol=0)


@given(include_self=st.booleans(), data=st.data())
def test_knn_cosine_on_small_integers(include_self, data):
    X = data.draw(int_matrix(nonzero=True))
    k = data.draw(st.integers(1, len(X) - 1))
    res = nno.knn(X, k=k, include_self=include_self)
    assert_top_k_within_rounding(X, res, k, metric="cosine", include_self=include_self)


@given(data=st.data())
def test_knn_cosine_query_on_small_integers(data):
    dtype = data.draw(st.sampled_from(DTYPES))
    d = data.draw(st.integers(1, 5))
    Q = data.draw(int_matrix(d=d, dtype=dtype, nonzero=True))
    base = data.draw(int_matrix(d=d, dtype=dtype, nonzero=True))
    k = data.draw(st.integers(1, len(base)))
    res = nno.knn(Q, k=k, base=base, metric="cosine")
    assert_top_k_within_rounding(Q, res, k, metric="cosine", base=base)


@given(metric=st.sampled_from(METRICS), include_self=st.booleans(), data=st.data())
def test_knn_within_rounding_on_random_floats(metric, include_self, data):
    X = data.draw(float_matrix())
    k = data.draw(st.integers(1, len(X) - 1))
    res = nno.knn(X, k=k, metric=metric, include_self=include_self)
    assert res.scores.dtype == X.dtype
    assert_top_k_within_rounding(X, res, k, metric=metric, include_self=include_self)


@given(metric=st.sampled_from(METRICS), data=st.data())
def test_knn_query_within_rounding_on_random_floats(metric, data):
    dtype = data.draw(st.sampled_from(DTYPES))
    d = data.draw(st.integers(1, 16))
    Q = data.draw(float_matrix(d=d, dtype=dtype))
    base = data.draw(float_matrix(d=d, dtype=dtype))
    k = data.draw(st.integers(1, len(base)))
    res = nno.knn(Q, k=k, base=base, metric=metric)
    assert_top_k_within_rounding(Q, res, k, metric=metric, base=base)


@pytest.mark.parametrize("metric", EXACT_METRICS)
def test_knn_exact_on_a_larger_integer_set(metric):
    """Enough rows to cross the core's block boundaries, with ties everywhere."""
    rng = np.random.default_rng(7)
    X = rng.integers(-3, 4, size=(300, 7)).astype(np.float32)
    Q = rng.integers(-3, 4, size=(130, 7)).astype(np.float32)
    for res, (ref_scores, ref_idx) in [
        (nno.knn(X, k=10, metric=metric), ref.knn(X.tolist(), 10, metric=metric)),
        (
            nno.knn(Q, k=10, base=X, metric=metric),
            ref.knn(Q.tolist(), 10, base=X.tolist(), metric=metric),
        ),
    ]:
        np.testing.assert_array_equal(res.indices, np.array(ref_idx))
        np.testing.assert_allclose(res.scores, np.array(ref_scores), rtol=1e-6, atol=0)


@pytest.mark.parametrize("metric", METRICS)
def test_knn_within_rounding_on_a_larger_float_set(metric):
    X = np.random.default_rng(11).standard_normal((260, 40)).astype(np.float32)
    res = nno.knn(X, k=12, metric=metric)
    assert_top_k_within_rounding(X, res, 12, metric=metric)


# ---------------------------------------------------------------------------------------------
# nno / mnno / overlap against the reference
# ---------------------------------------------------------------------------------------------


@given(metric=st.sampled_from(EXACT_METRICS), include_self=st.booleans(), data=st.data())
def test_nno_and_mnno_exact_on_small_integers(metric, include_self, data):
    A, B = data.draw(int_pair())
    n = len(A)
    k = data.draw(st.integers(1, n - 1))
    counts = nno.nno(A, B, k=k, metric=metric, include_self=include_self)
    expected = ref.nno(A.tolist(), B.tolist(), k, metric=metric, include_self=include_self)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, np.array(expected))
    value = nno.mnno(A, B, k=k, metric=metric, include_self=include_self)
    assert isinstance(value, float)
    assert value == pytest.approx(sum(expected) / (k * n), rel=1e-12)


@given(metric=st.sampled_from(METRICS), data=st.data())
def test_nno_bounds_and_mean(metric, data):
    A, B = data.draw(int_pair(nonzero=metric == "cosine"))
    n = len(A)
    k = data.draw(st.integers(1, n - 1))
    counts = nno.nno(A, B, k=k, metric=metric)
    assert counts.shape == (n,)
    assert counts.dtype == np.int64
    assert ((counts >= 0) & (counts <= k)).all()
    value = nno.mnno(A, B, k=k, metric=metric)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(counts.sum() / (k * n), rel=1e-12)


@given(metric=st.sampled_from(METRICS), include_self=st.booleans(), data=st.data())
def test_mnno_of_a_set_with_itself_is_one(metric, include_self, data):
    X = data.draw(st.one_of(metric_matrix(metric), float_matrix()))
    k = data.draw(st.integers(1, len(X) - 1))
    assert nno.mnno(X, X, k=k, metric=metric, include_self=include_self) == 1.0
    counts = nno.nno(X, X, k=k, metric=metric, include_self=include_self)
    np.testing.assert_array_equal(counts, np.full(len(X), k))


@given(metric=st.sampled_from(METRICS), include_self=st.booleans(), data=st.data())
def test_mnno_is_symmetric(metric, include_self, data):
    A, B = data.draw(int_pair(nonzero=metric == "cosine"))
    k = data.draw(st.integers(1, len(A) - 1))
    kw = {"k": k, "metric": metric, "include_self": include_self}
    assert nno.mnno(A, B, **kw) == nno.mnno(B, A, **kw)
    np.testing.assert_array_equal(nno.nno(A, B, **kw), nno.nno(B, A, **kw))


@given(metric=st.sampled_from(METRICS), data=st.data())
def test_nno_is_overlap_of_the_two_knn(metric, data):
    A, B = data.draw(int_pair(nonzero=metric == "cosine"))
    k = data.draw(st.integers(1, len(A) - 1))
    I = nno.knn(A, k=k, metric=metric).indices  # noqa: E741
    J = nno.knn(B, k=k, metric=metric).indices
    np.testing.assert_array_equal(nno.nno(A, B, k=k, metric=metric), nno.overlap(I, J))


@given(metric=st.sampled_from(METRICS), data=st.data())
def test_several_k_equal_separate_calls(metric, data):
    A, B = data.draw(int_pair(nonzero=metric == "cosine"))
    n = len(A)
    ks = data.draw(st.lists(st.integers(1, n - 1), min_size=1, max_size=4, unique=True))
    curve = nno.mnno(A, B, k=ks, metric=metric)
    assert isinstance(curve, np.ndarray)
    assert curve.dtype == np.float64
    assert curve.shape == (len(ks),)
    assert curve.tolist() == [nno.mnno(A, B, k=k, metric=metric) for k in ks]
    counts = nno.nno(A, B, k=ks, metric=metric)
    assert counts.shape == (n, len(ks))
    for c, k in enumerate(ks):
        np.testing.assert_array_equal(counts[:, c], nno.nno(A, B, k=k, metric=metric))
    if metric in EXACT_METRICS:
        assert curve.tolist() == pytest.approx(
            ref.mnno(A.tolist(), B.tolist(), ks, metric=metric), rel=1e-12
        )


@given(data=st.data())
def test_overlap_matches_reference(data):
    n = data.draw(st.integers(1, 20))
    k = data.draw(st.integers(1, 10))
    row = st.lists(st.integers(0, 30), min_size=k, max_size=k, unique=True)
    dtype = data.draw(st.sampled_from([np.int64, np.int32]))
    I = np.array(data.draw(st.lists(row, min_size=n, max_size=n)), dtype=dtype)  # noqa: E741
    J = np.array(data.draw(st.lists(row, min_size=n, max_size=n)), dtype=dtype)
    counts = nno.overlap(I, J)
    assert counts.dtype == np.int64
    assert counts.shape == (n,)
    np.testing.assert_array_equal(counts, ref.overlap(I.tolist(), J.tolist()))
    k_sub = data.draw(st.integers(1, k))
    np.testing.assert_array_equal(
        nno.overlap(I, J, k=k_sub), ref.overlap(I.tolist(), J.tolist(), k_sub)
    )


# ---------------------------------------------------------------------------------------------
# Invariances
# ---------------------------------------------------------------------------------------------


@given(metric=st.sampled_from(["l2", "cosine"]), data=st.data())
def test_permuting_items_permutes_counts(metric, data):
    """Relabelling the items of both sets relabels the per-item counts (no ties, so the index
    tie-break, which a permutation changes, never comes into play)."""
    n = data.draw(st.integers(3, 12))
    A = data.draw(float_matrix(n=n, dtype=np.float64))
    B = data.draw(float_matrix(n=n, dtype=np.float64))
    assume(not has_near_ties(A, metric) and not has_near_ties(B, metric))
    perm = np.array(data.draw(st.permutations(range(n))))
    k = data.draw(st.integers(1, n - 1))
    counts = nno.nno(A, B, k=k, metric=metric)
    np.testing.assert_array_equal(nno.nno(A[perm], B[perm], k=k, metric=metric), counts[perm])


@given(data=st.data())
def test_cosine_ignores_power_of_two_scaling(data):
    X = data.draw(st.one_of(int_matrix(nonzero=True), float_matrix()))
    exponents = data.draw(st.lists(st.integers(-8, 8), min_size=len(X), max_size=len(X)))
    scaled = X * (2.0 ** np.array(exponents, dtype=X.dtype))[:, None]
    k = data.draw(st.integers(1, len(X) - 1))
    assert_knn_equal(nno.knn(scaled, k=k), nno.knn(X, k=k))
    assert_knn_equal(nno.knn(scaled, k=k, base=scaled[::-1]), nno.knn(X, k=k, base=X[::-1]))


@given(metric=st.sampled_from(METRICS), data=st.data())
def test_include_self_puts_self_first_despite_duplicates(metric, data):
    X = data.draw(metric_matrix(metric, n=data.draw(st.integers(3, 12))))
    n = len(X)
    i, j = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True)))
    X[j] = X[i]  # row j duplicates a row of lower index
    k = data.draw(st.integers(1, n - 1))
    res = nno.knn(X, k=k, metric=metric, include_self=True)
    np.testing.assert_array_equal(res.indices[:, 0], np.arange(n))
    self_scores = {"cosine": np.ones(n), "ip": (X * X).sum(axis=1), "l2": np.zeros(n)}[metric]
    np.testing.assert_allclose(res.scores[:, 0], self_scores, rtol=1e-6)
    if metric in EXACT_METRICS:
        ref_scores, ref_idx = ref.knn(X.tolist(), k, metric=metric, include_self=True)
        np.testing.assert_array_equal(res.indices, np.array(ref_idx))
        if k > 1:  # then the first k-1 others, as without include_self
            np.testing.assert_array_equal(
                res.indices[:, 1:], nno.knn(X, k=k - 1, metric=metric).indices
            )
    else:
        assert_top_k_within_rounding(X, res, k, metric=metric, include_self=True)


@given(metric=st.sampled_from(METRICS), include_self=st.booleans(), data=st.data())
def test_thread_count_does_not_change_the_result(metric, include_self, data):
    X = data.draw(st.one_of(metric_matrix(metric), float_matrix()))
    k = data.draw(st.integers(1, len(X) - 1))
    kw = {"k": k, "metric": metric, "include_self": include_self}
    assert_knn_equal(nno.knn(X, threads=1, **kw), nno.knn(X, threads=2, **kw))


@pytest.mark.parametrize("metric", METRICS)
def test_thread_count_does_not_change_a_larger_result(metric):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, 48)).astype(np.float32)
    X[1000:1100] = X[:100]  # exact duplicates: tie-breaking must not depend on scheduling
    Q = rng.standard_normal((777, 48)).astype(np.float32)
    one = nno.knn(X, k=20, metric=metric, threads=1)
    for threads in (2, 3, None):
        assert_knn_equal(nno.knn(X, k=20, metric=metric, threads=threads), one)
    one = nno.knn(Q, k=20, base=X, metric=metric, threads=1)
    assert_knn_equal(nno.knn(Q, k=20, base=X, metric=metric, threads=2), one)


@given(data=st.data())
def test_query_against_itself_equals_self_join_with_self_l2(data):
    """With no duplicate rows each row is its own unique nearest base row under l2."""
    X = data.draw(int_matrix())
    assume(len({tuple(row) for row in X.tolist()}) == len(X))
    k = data.draw(st.integers(1, len(X) - 1))
    query = nno.knn(X, k=k, base=X, metric="l2")
    self_join = nno.knn(X, k=k, metric="l2", include_self=True)
    np.testing.assert_array_equal(query.indices, self_join.indices)
    np.testing.assert_allclose(query.scores, self_join.scores, rtol=1e-6, atol=0)


@given(data=st.data())
def test_query_against_itself_equals_self_join_with_self_cosine(data):
    """Random rows: no other row is anywhere near cosine 1, and no near-ties among the rest."""
    X = data.draw(float_matrix(dtype=np.float64))
    assume(not has_near_ties(X, "cosine"))
    best_other = ref.knn(X.tolist(), 1)[0]
    assume(max(row[0] for row in best_other) < 1 - 1e-9)
    k = data.draw(st.integers(1, len(X) - 1))
    query = nno.knn(X, k=k, base=X)
    self_join = nno.knn(X, k=k, include_self=True)
    np.testing.assert_array_equal(query.indices, self_join.indices)
    np.testing.assert_allclose(query.scores, self_join.scores, rtol=1e-12, atol=1e-12)


def test_chance_level_is_about_k_over_n_minus_1():
    """Unrelated random sets overlap at about chance, k / (n - 1)."""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((2000, 16)).astype(np.float32)
    B = rng.standard_normal((2000, 16)).astype(np.float32)
    value = nno.mnno(A, B, k=10)
    assert math.isclose(value, 10 / 1999, rel_tol=0.25)
