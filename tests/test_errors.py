"""Bad input gets a clear error, never a silent answer (semantics.md, "Bad input"); good input of
every kind users have (memmaps, views, other dtypes, lists) gets the right answer."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import nnoverlap as nno


def rows(n=10, d=3, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


X = rows()


# ---------------------------------------------------------------------------------------------
# Not 2-D, n < 2, d = 0, not real-valued
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [np.ones(5, np.float32), np.ones((4, 3, 2), np.float32), np.float32(1.0)],
    ids=["1-D", "3-D", "0-D"],
)
def test_not_2d(bad):
    with pytest.raises(ValueError, match="2-D"):
        nno.knn(bad, k=1)
    with pytest.raises(ValueError, match="2-D"):
        nno.mnno(bad, bad, k=1)
    with pytest.raises(ValueError, match="2-D"):
        nno.knn(X, k=1, base=bad)


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_rows(n):
    with pytest.raises(ValueError, match="n >= 2"):
        nno.knn(np.ones((n, 3), np.float32), k=1)
    with pytest.raises(ValueError, match="n >= 2"):
        nno.nno(np.ones((n, 3), np.float32), np.ones((n, 2), np.float32), k=1)


def test_zero_dimensions():
    with pytest.raises(ValueError, match="d >= 1"):
        nno.knn(np.ones((5, 0), np.float32), k=1)
    with pytest.raises(ValueError, match="d >= 1"):
        nno.mnno(X, np.ones((10, 0), np.float32), k=1)


@pytest.mark.parametrize(
    "bad",
    [
        X.astype(np.complex64),
        X.astype(str),
        X.astype(object),
        X > 0,
        np.array([["a", "b"], ["c", "d"]]),
    ],
    ids=["complex", "str", "object", "bool", "letters"],
)
def test_not_real_valued(bad):
    with pytest.raises(TypeError, match="real"):
        nno.knn(bad, k=1)
    with pytest.raises(TypeError, match="real"):
        nno.mnno(X[: len(bad)], bad, k=1)


# ---------------------------------------------------------------------------------------------
# NaN / inf, zero rows
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_non_finite_names_the_first_row(bad, dtype):
    Y = rows(dtype=dtype)
    Y[3, 1] = bad
    Y[7, 0] = bad
    for metric in ("cosine", "ip", "l2"):
        with pytest.raises(ValueError, match=r"row 3\b"):
            nno.knn(Y, k=2, metric=metric)
    with pytest.raises(ValueError, match=r"row 3\b"):
        nno.knn(X, k=2, base=Y)
    with pytest.raises(ValueError, match=r"row 3\b"):
        nno.knn(Y, k=2, base=X)
    with pytest.raises(ValueError, match=r"row 3\b"):
        nno.mnno(X, Y, k=2)
    with pytest.raises(ValueError, match=r"row 3\b"):
        nno.nno(Y, X, k=[1, 2])


def test_zero_row_under_cosine():
    Y = X.copy()
    Y[4] = 0
    with pytest.raises(ValueError, match=r"row 4\b"):
        nno.knn(Y, k=2)
    with pytest.raises(ValueError, match=r"row 4\b"):
        nno.knn(X, k=2, base=Y)
    with pytest.raises(ValueError, match=r"row 4\b"):
        nno.mnno(X, Y, k=2, metric="cosine")


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_zero_row_is_fine_under_ip_and_l2(metric):
    Y = X.copy()
    Y[4] = 0
    scores, indices = nno.knn(Y, k=2, metric=metric)
    assert indices.shape == (10, 2)
    assert np.isfinite(scores).all()


# ---------------------------------------------------------------------------------------------
# k out of range
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -1, 10, 11])
def test_k_out_of_range_self_join(k):
    with pytest.raises(ValueError, match=r"1 <= k <= 9\b"):
        nno.knn(X, k=k)
    with pytest.raises(ValueError, match=r"1 <= k <= 9\b"):
        nno.nno(X, X, k=k)
    with pytest.raises(ValueError, match=r"1 <= k <= 9\b"):
        nno.mnno(X, X, k=k)


def test_k_out_of_range_with_include_self():
    nno.knn(X, k=9, include_self=True)  # k = n - 1 is allowed
    with pytest.raises(ValueError, match=r"1 <= k <= 9\b"):
        nno.knn(X, k=10, include_self=True)
    with pytest.raises(ValueError, match=r"1 <= k <= 9\b"):
        nno.mnno(X, X, k=10, include_self=True)


def test_k_out_of_range_query():
    base = rows(n=6)
    nno.knn(X, k=6, base=base)  # k = n_base is allowed
    for k in (0, 7):
        with pytest.raises(ValueError, match=r"1 <= k <= 6\b"):
            nno.knn(X, k=k, base=base)


def test_k_out_of_range_in_a_list():
    with pytest.raises(ValueError, match=r"1 <= k <= 9\b"):
        nno.mnno(X, X, k=[1, 5, 50])
    with pytest.raises(ValueError, match=r"1 <= k <= 9\b"):
        nno.nno(X, X, k=[0, 5])


@pytest.mark.parametrize("k", [2.5, "3", None])
def test_k_not_an_integer(k):
    with pytest.raises((TypeError, ValueError)):
        nno.knn(X, k=k)


# ---------------------------------------------------------------------------------------------
# Shapes that do not match
# ---------------------------------------------------------------------------------------------


def test_a_and_b_with_different_n_give_both_shapes():
    A, B = rows(n=5, d=3), rows(n=6, d=3)
    for func in (nno.nno, nno.mnno):
        with pytest.raises(ValueError) as info:
            func(A, B, k=2)
        assert "(5, 3)" in str(info.value)
        assert "(6, 3)" in str(info.value)


def test_query_and_base_with_different_d_give_both_shapes():
    Q, base = rows(n=4, d=3), rows(n=6, d=2)
    with pytest.raises(ValueError) as info:
        nno.knn(Q, k=2, base=base)
    assert "(4, 3)" in str(info.value)
    assert "(6, 2)" in str(info.value)


def test_overlap_with_different_shapes_gives_both_shapes():
    with pytest.raises(ValueError) as info:
        nno.overlap(np.zeros((4, 3), np.int64), np.zeros((5, 3), np.int64))
    assert "(4, 3)" in str(info.value)
    assert "(5, 3)" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Unknown metric
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["euclidean", "L2", "", "dot"])
def test_unknown_metric_lists_the_metrics(metric):
    for call in (
        lambda: nno.knn(X, k=2, metric=metric),
        lambda: nno.nno(X, X, k=2, metric=metric),
        lambda: nno.mnno(X, X, k=2, metric=metric),
    ):
        with pytest.raises(ValueError) as info:
            call()
        for name in ("cosine", "ip", "l2"):
            assert name in str(info.value)


# ---------------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to its own process")
def test_ctrl_c_interrupts_within_about_a_second():
    """SIGINT during a long self-join raises KeyboardInterrupt promptly and stops the work."""
    big = rows(n=50_000, d=256, seed=1)  # several seconds of work on two cores
    nno.knn(big[:100], k=1)  # start the thread pool outside the timed part
    sent, returned = [], []

    def interrupt():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    # Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored when it started;
    # a process launched in the background by a shell (as CI runners may do) starts with SIGINT
    # ignored. Install the interactive default for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            nno.knn(big, k=10)
            returned.append(time.perf_counter())
            time.sleep(5)  # if the call beat the signal, take the interrupt here, then fail
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGINT, previous)
    caught = time.perf_counter()
    assert not returned, "knn finished before SIGINT was sent: make the test input larger"
    assert caught - sent[0] < 1.5, f"KeyboardInterrupt came {caught - sent[0]:.1f} s after SIGINT"
    # Nothing left running: once the workers have had a moment to stop, the process is idle.
    time.sleep(0.3)
    cpu = time.process_time()
    time.sleep(0.5)
    assert time.process_time() - cpu < 0.25, "worker threads kept computing after Ctrl-C"


# ---------------------------------------------------------------------------------------------
# Inputs are never modified; every kind of real input works
# ---------------------------------------------------------------------------------------------


def test_inputs_are_not_modified():
    A = rows(n=30, d=5, seed=2)
    B = rows(n=30, d=4, dtype=np.float64, seed=3)
    B[7] = 0  # a zero row: fine for l2, an error for cosine
    Q = rows(n=8, d=5, dtype=np.float64, seed=4)
    Bn = B.copy()
    Bn[9, 2] = np.nan
    saved = [arr.copy() for arr in (A, B, Q, Bn)]
    nno.knn(A, k=5)
    nno.knn(Q, k=5, base=A)
    nno.nno(A, B, k=[1, 5], metric="l2", include_self=True)
    nno.mnno(A, B, k=5, metric="ip")
    with pytest.raises(ValueError):
        nno.mnno(A, B, k=5)  # zero row under cosine
    with pytest.raises(ValueError):
        nno.mnno(A, Bn, k=5, metric="l2")
    for arr, copy in zip((A, B, Q, Bn), saved):
        np.testing.assert_array_equal(arr, copy)  # NaN compares equal to NaN here
    I, J = nno.knn(A, k=4).indices, nno.knn(B, k=4, metric="l2").indices  # noqa: E741
    I0, J0 = I.copy(), J.copy()
    nno.overlap(I, J, k=3)
    np.testing.assert_array_equal(I, I0)
    np.testing.assert_array_equal(J, J0)


def test_read_only_memmap(tmp_path):
    A = rows(n=50, d=8)
    np.save(tmp_path / "a.npy", A)
    mm = np.load(tmp_path / "a.npy", mmap_mode="r")
    assert not mm.flags.writeable
    res = nno.knn(mm, k=5)
    assert res.scores.dtype == np.float32
    expected = nno.knn(A, k=5)
    np.testing.assert_array_equal(res.indices, expected.indices)
    np.testing.assert_array_equal(res.scores, expected.scores)
    assert nno.mnno(mm, mm, k=5) == 1.0
    assert nno.knn(A, k=5, base=mm).indices.shape == (50, 5)


def test_non_contiguous_input():
    A = rows(n=40, d=12, dtype=np.float64)
    for view in (A[:, ::2], A[::2], np.asfortranarray(A), A[::-1]):
        expected = nno.knn(np.ascontiguousarray(view), k=3)
        res = nno.knn(view, k=3)
        np.testing.assert_array_equal(res.indices, expected.indices)
        np.testing.assert_array_equal(res.scores, expected.scores)
    base = A[::3, ::2]
    res = nno.knn(A[:, 1::2], k=3, base=base)
    expected = nno.knn(np.ascontiguousarray(A[:, 1::2]), k=3, base=np.ascontiguousarray(base))
    np.testing.assert_array_equal(res.indices, expected.indices)


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int32, np.int64, np.uint8, np.uint16, np.float16, np.float32]
)
def test_other_real_dtypes_give_float32(dtype):
    A = np.random.default_rng(4).integers(1, 6, size=(12, 3)).astype(dtype)
    res = nno.knn(A, k=3, metric="l2")
    assert res.scores.dtype == np.float32
    assert res.indices.dtype == np.int64
    expected = nno.knn(A.astype(np.float32), k=3, metric="l2")
    np.testing.assert_array_equal(res.indices, expected.indices)
    np.testing.assert_array_equal(res.scores, expected.scores)


def test_float64_gives_float64():
    res = nno.knn(rows(dtype=np.float64), k=3)
    assert res.scores.dtype == np.float64
    assert res.indices.dtype == np.int64
    res = nno.knn(rows(dtype=np.float64), k=3, base=rows(n=5, dtype=np.float64))
    assert res.scores.dtype == np.float64


def test_lists_are_accepted():
    A = [[0.0, 1.0], [0.0, 2.0], [1.0, 0.0], [3.0, 3.0]]
    res = nno.knn(A, k=2, metric="l2")
    expected = nno.knn(np.array(A), k=2, metric="l2")
    np.testing.assert_array_equal(res.indices, expected.indices)
    np.testing.assert_array_equal(res.scores, expected.scores)
    assert nno.mnno(A, [[0, 1], [0, 2], [1, 0], [3, 3]], k=2, metric="l2") == 1.0
    assert nno.overlap([[1, 2], [0, 3]], [[2, 1], [3, 2]]).tolist() == [2, 1]


def test_result_is_a_named_tuple():
    res = nno.knn(X, k=3)
    scores, indices = res
    assert scores is res.scores
    assert indices is res.indices
    assert scores.shape == indices.shape == (10, 3)


def test_values_whose_products_overflow_float32_are_rejected_naming_the_row():
    x = rows(n=6, d=3)
    x[4, 1] = 1e19  # 1e38 squared-norm contributions overflow float32 sums of 4 d terms
    for metric in ("ip", "l2"):
        with pytest.raises(ValueError, match=r"row 4 .*overflow float32.*float64"):
            nno.knn(x, k=2, metric=metric)
    # Cosine scales each row by itself before multiplying: any finite row is fine, and row 4
    # is now (almost) the unit vector e_1.
    got = nno.knn(x, k=2, metric="cosine")
    want = nno.knn(np.where(np.arange(6)[:, None] == 4, [[0, 1, 0]], x), k=2, metric="cosine")
    np.testing.assert_array_equal(got.indices, want.indices)
    # The same values are fine in float64, and nothing was changed in the input.
    before = x.copy()
    idx = nno.knn(x.astype(np.float64), k=2, metric="l2").indices
    assert idx.shape == (6, 2)
    np.testing.assert_array_equal(x, before)
