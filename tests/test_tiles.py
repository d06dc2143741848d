"""Property tests that cross tile boundaries: blocks of 1-40 rows on sets of up to a few hundred
rows, so that every code path of the tiled core runs: diagonal and off-diagonal tiles of the
symmetric self-join, edge tiles, many rounds (odd and even block counts), the query path, and
partial panels. Against the pure-Python reference (exact on small-integer data, within rounding
elsewhere), and bit for bit against the same call with other blocks and thread counts."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import nnoverlap as nno
from nnoverlap import reference as ref
from test_core_vs_reference import assert_top_k_within_rounding

METRICS = ["cosine", "ip", "l2"]
DTYPES = [np.float32, np.float64]
# The pure-Python reference costs O(n^2 d) per example: fewer, larger examples than elsewhere.
EXAMPLES = 60 if os.environ.get("NNOVERLAP_HYPOTHESIS_PROFILE") == "ci" else 20
tiles = settings(max_examples=EXAMPLES)


@st.composite
def tiled_ints(draw, *, nonzero=False, max_n=100):
    """Small-integer rows (every score exact, many ties and duplicates), maybe offset by an
    integer up to 1000 and scaled by a power of two: both keep every score exact (with d <= 6
    even "ip" sums of offset rows stay below 2^24)."""
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, size=(n, d)).astype(np.float64)
    dup = draw(st.integers(0, n // 2))
    if dup:  # copies of earlier rows
        X[rng.integers(0, n, dup)] = X[rng.integers(0, n, dup)]
    X += draw(st.sampled_from([0.0, 0.0, 16.0, 1000.0]))
    if nonzero:
        X[~X.any(axis=1), 0] = 1
    scale = 2.0 ** draw(st.integers(-60, 40))
    return (X * scale).astype(dtype), scale


@st.composite
def blocking(draw):
    return draw(st.integers(1, 40)), draw(st.sampled_from([1, 2]))


@tiles
@given(metric=st.sampled_from(["ip", "l2"]), include_self=st.booleans(), data=st.data())
def test_tiled_self_join_equals_reference_exactly_on_small_integers(metric, include_self, data):
    X, _ = data.draw(tiled_ints())
    n = len(X)
    k = data.draw(st.integers(1, min(n - 1, 12)))
    block, threads = data.draw(blocking())
    got = nno.knn(X, k, metric=metric, include_self=include_self, threads=threads, _block=block)
    want_s, want_i = ref.knn(X.tolist(), k, metric=metric, include_self=include_self)
    np.testing.assert_array_equal(got.indices, want_i)
    np.testing.assert_allclose(got.scores, want_s, rtol=1e-6)


@tiles
@given(metric=st.sampled_from(["ip", "l2"]), data=st.data())
def test_tiled_query_equals_reference_exactly_on_small_integers(metric, data):
    X, scale = data.draw(tiled_ints(max_n=120))
    m = data.draw(st.integers(2, 60))  # the reference takes at least 2 queries
    Q = X[np.random.default_rng(m).integers(0, len(X), m)] + X.dtype.type(scale)
    k = data.draw(st.integers(1, min(len(X), 12)))
    block, threads = data.draw(blocking())
    got = nno.knn(Q, k, base=X, metric=metric, threads=threads, _block=block)
    want_s, want_i = ref.knn(Q.tolist(), k, metric=metric, base=X.tolist())
    np.testing.assert_array_equal(got.indices, want_i)
    np.testing.assert_allclose(got.scores, want_s, rtol=1e-6)


@tiles
@given(include_self=st.booleans(), data=st.data())
def test_tiled_cosine_is_a_correct_top_k_on_small_integers(include_self, data):
    X, _ = data.draw(tiled_ints(nonzero=True, max_n=120))
    k = data.draw(st.integers(1, min(len(X) - 1, 10)))
    block, threads = data.draw(blocking())
    res = nno.knn(X, k, include_self=include_self, threads=threads, _block=block)
    assert_top_k_within_rounding(X, res, k, metric="cosine", include_self=include_self)


@st.composite
def wide_floats(draw, max_n=90):
    """Gaussian rows with magnitudes anywhere from 1e-30 to 1e30 (per set, or per row under
    cosine), maybe offset, maybe with duplicate rows."""
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, 12))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n, d))
    if draw(st.booleans()):
        X[rng.integers(0, n, n // 4)] = X[rng.integers(0, n, n // 4)]
    X += draw(st.sampled_from([0.0, 0.0, 3.0, 1e3]))
    return X, dtype, rng


@tiles
@given(metric=st.sampled_from(METRICS), data=st.data())
def test_any_blocks_and_threads_give_the_same_bits(metric, data):
    X, dtype, _ = data.draw(wide_floats(max_n=300))
    X = (X * 10.0 ** data.draw(st.integers(-30, 15))).astype(dtype)
    n = len(X)
    k = data.draw(st.integers(1, min(n - 1, 15)))
    include_self = data.draw(st.booleans())
    base = nno.knn(X, k, metric=metric, include_self=include_self, threads=1, _block=0)
    block, threads = data.draw(blocking())
    got = nno.knn(X, k, metric=metric, include_self=include_self, threads=threads, _block=block)
    np.testing.assert_array_equal(got.indices, base.indices)
    np.testing.assert_array_equal(got.scores, base.scores)
    # The query path against the set itself agrees with the self-join that includes self,
    # beyond column 0 (which is the row itself there, and a tie-broken duplicate here).
    q = nno.knn(X, k, base=X, metric=metric, threads=threads, _block=block)
    uniq = len(np.unique(X, axis=0)) == n
    # ... when the query path finds each row first itself: a nearly parallel other row can
    # outscore a row's own cosine after rounding (0.99999994 against 0.99999988)
    first_self = bool((q.indices[:, 0] == np.arange(n)).all())
    if metric != "ip" and uniq and include_self and first_self:
        np.testing.assert_array_equal(q.scores[:, 1:], base.scores[:, 1:])


@tiles
@given(data=st.data())
def test_tiled_cosine_within_rounding_at_any_magnitude(data):
    X, dtype, rng = data.draw(wide_floats())
    n = len(X)
    per_row = 10.0 ** rng.integers(-30, 31, size=(n, 1)) if data.draw(st.booleans()) else 1.0
    X = (X * per_row).astype(dtype)
    X[~X.any(axis=1), 0] = 1
    k = data.draw(st.integers(1, min(n - 1, 10)))
    block, threads = data.draw(blocking())
    res = nno.knn(X, k, threads=threads, _block=block)
    assert np.isfinite(res.scores).all()
    assert_top_k_within_rounding(X, res, k, metric="cosine")


@tiles
@given(metric=st.sampled_from(["ip", "l2"]), data=st.data())
def test_tiled_ip_and_l2_within_rounding_with_offsets(metric, data):
    X, dtype, _ = data.draw(wide_floats())
    # float32 inner products of 1e-21 values are subnormal: ties the output cannot order
    low = -15 if metric == "ip" and dtype == np.float32 else -30
    X = (X * 10.0 ** data.draw(st.integers(low, 15))).astype(dtype)
    n = len(X)
    k = data.draw(st.integers(1, min(n - 1, 10)))
    block, threads = data.draw(blocking())
    res = nno.knn(X, k, metric=metric, threads=threads, _block=block)
    assert np.isfinite(res.scores).all()
    assert_top_k_within_rounding(X, res, k, metric=metric)


@tiles
@given(metric=st.sampled_from(["ip", "l2"]), include_self=st.booleans(), data=st.data())
def test_tiled_large_k_equals_reference_exactly(metric, include_self, data):
    """k >= 200 takes the buffered top-k (batches of 2k candidates, then a selection)."""
    X, _ = data.draw(tiled_ints(max_n=260).filter(lambda xs: len(xs[0]) > 202))
    n = len(X)
    k = data.draw(st.integers(200, n - 1))
    block, threads = data.draw(blocking())
    got = nno.knn(X, k, metric=metric, include_self=include_self, threads=threads, _block=block)
    want_s, want_i = ref.knn(X.tolist(), k, metric=metric, include_self=include_self)
    np.testing.assert_array_equal(got.indices, want_i)
    np.testing.assert_allclose(got.scores, want_s, rtol=1e-6)
