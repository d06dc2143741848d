"""Regression tests of issue 8 ("never silently wrong, never a crash"), one per case, named
after what each protects. Numbers are checked against float64 brute force or the reference."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap import _core
from nnoverlap import reference as ref


def brute_indices(X: np.ndarray, k: int, metric: str) -> np.ndarray:
    """Exact float64 top-k of a self-join (lower index first on ties)."""
    X = X.astype(np.float64)
    if metric == "l2":
        # differences first: exact for offset data, unlike the |x|^2 + |y|^2 - 2xy expansion
        D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
        key = -D
    elif metric == "cosine":
        N = X / np.linalg.norm(X, axis=1, keepdims=True)
        key = N @ N.T
    else:
        key = X @ X.T
    np.fill_diagonal(key, -np.inf)
    return np.argsort(-key, axis=1, kind="stable")[:, :k]


def recall(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(got, want)]))


# --- Silent wrong answers on valid input ------------------------------------------------------


def test_cosine_rows_with_tiny_norms_get_complete_correct_lists():
    X = np.array([[1e-25, 0], [0, 1], [0, 2], [1, 1]], "f4")
    res = nno.knn(X, 3)
    assert res.indices.max() < 4 and res.indices.min() >= 0
    _, want = ref.knn(X.tolist(), 3)
    np.testing.assert_array_equal(res.indices, want)
    assert np.isfinite(res.scores).all()
    assert nno.mnno(X, X * np.float32(1e-20), 3) == 1.0


def test_cosine_rows_of_any_finite_magnitude_are_normalised_correctly():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 7)).astype(np.float32)
    scales = np.float32(10.0) ** rng.integers(-37, 38, size=(60, 1)).astype(np.float32)
    Y = (X * scales).astype(np.float32)
    assert np.isfinite(Y).all()
    assert (np.abs(Y).max(axis=1) > 0).all()
    a, b = nno.knn(X, 5), nno.knn(Y, 5)
    # Each row's direction is unchanged up to one rounding per value: the same lists, the same
    # cosines within float32 rounding.
    assert recall(a.indices, b.indices) > 0.99
    np.testing.assert_allclose(a.scores, b.scores, atol=2e-6)


@pytest.mark.parametrize("offset", [1e3, 1e4, 1e5])
def test_l2_on_data_with_a_common_offset_is_as_exact_as_without(offset):
    X = (offset + np.random.default_rng(0).standard_normal((500, 20))).astype("f4")
    res = nno.knn(X, 10, metric="l2")
    assert recall(res.indices, brute_indices(X, 10, "l2")) == 1.0
    X64 = X.astype(np.float64)
    true = np.linalg.norm(X64[:, None, :] - X64[res.indices], axis=2)
    np.testing.assert_allclose(res.scores, true, rtol=1e-4)
    assert (res.scores > 1.0).all()  # no distance collapses to 0 (true ones are about 3.7)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaling_the_whole_set_by_powers_of_two_changes_no_list(metric, dtype):
    X = np.random.default_rng(2).standard_normal((150, 9)).astype(dtype)
    want = nno.knn(X, 7, metric=metric, _block=16)
    for p in (-60, -31, -1, 1, 17, 40):
        got = nno.knn(X * dtype(2.0**p), 7, metric=metric, _block=16)
        np.testing.assert_array_equal(got.indices, want.indices, err_msg=f"2^{p}")
        factor = {"cosine": 1.0, "ip": 2.0 ** (2 * p), "l2": 2.0**p}[metric]
        np.testing.assert_array_equal(got.scores, want.scores * dtype(factor))


def test_scaling_one_row_by_a_power_of_two_leaves_cosine_lists_unchanged():
    X = np.random.default_rng(3).standard_normal((90, 6)).astype(np.float32)
    want = nno.knn(X, 8, _block=7)
    for row, p in [(0, -100), (45, 60), (89, -126)]:
        Y = X.copy()
        Y[row] *= np.float32(2.0**p)
        got = nno.knn(Y, 8, _block=7)
        np.testing.assert_array_equal(got.indices, want.indices)
        np.testing.assert_array_equal(got.scores, want.scores)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_include_self_scores_agree_with_duplicate_rows(metric):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 5)).astype(np.float32)
    X[10] = X[3]
    X[20] = X[3]
    res = nno.knn(X, 4, metric=metric, include_self=True)
    np.testing.assert_array_equal(res.indices[:, 0], np.arange(40))
    for i in (3, 10, 20):
        others = [j for j in (3, 10, 20) if j != i]
        assert set(others) <= set(res.indices[i, 1:3].tolist()), (i, res.indices[i])
        # the row itself and its duplicates score the same, bit for bit
        assert (res.scores[i, :3] == res.scores[i, 0]).all(), res.scores[i]
    if metric != "ip":  # under "ip" self-first is not best-first by definition
        s = res.scores
        bad = s[:, 1:] > s[:, :-1] if metric == "cosine" else s[:, 1:] < s[:, :-1]
        assert not bad.any()


def test_portable_kernel_is_forced_by_the_environment_and_agrees_within_rounding():
    code = (
        "import numpy as np, nnoverlap as nno, nnoverlap._core as c;"
        "X=np.random.default_rng(5).standard_normal((300, 24)).astype('f4');"
        "r=nno.knn(X, 6, metric='{m}');"
        "np.save('{out}', np.concatenate([r.indices, r.scores.astype('f8')], axis=1));"
        "print(c.KERNEL)"
    )
    X = np.random.default_rng(5).standard_normal((300, 24)).astype("f4")
    for metric in ("cosine", "ip", "l2"):
        out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"nno_portable_{os.getpid()}.npy")
        env = dict(os.environ, NNOVERLAP_KERNEL="portable")
        kernel = subprocess.run(
            [sys.executable, "-c", code.format(m=metric, out=out)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "portable" in kernel
        got = np.load(out)
        os.unlink(out)
        here = nno.knn(X, 6, metric=metric)
        assert recall(got[:, :6].astype(np.int64), here.indices) > 0.99
        np.testing.assert_allclose(got[:, 6:], here.scores, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(
    not _core.KERNEL.startswith("avx512"), reason="the CPU runs no AVX-512 build of the kernel"
)
def test_avx512_kernel_gives_the_avx2_kernels_bits():
    # The AVX-512 build pairs B panels for wider registers but sums every pair in the same
    # order: lists, scores and the rank-count pass (trustworthiness) must not change a bit.
    # Shapes cross odd and even panel counts, edge tiles and both dtypes.
    code = (
        "import numpy as np, nnoverlap as nno, nnoverlap._core as c;"
        "rng=np.random.default_rng(8);"
        "X=rng.standard_normal((203, 37)).astype('{t}');"
        "Y=rng.standard_normal((203, 11)).astype('{t}');"
        "r=nno.knn(X, 7, metric='{m}');q=nno.knn(X[:50], 5, base=X[9:], metric='{m}');"
        "tw=nno.trustworthiness(X, Y, k=6, metric='{m}', per_item=True);"
        "np.savez('{out}', i=r.indices, s=r.scores, qi=q.indices, qs=q.scores, tw=tw);"
        "print(c.KERNEL)"
    )
    for dtype in ("f4", "f8"):
        for metric in ("cosine", "ip", "l2"):
            runs = []
            for kernel in ("avx2", "auto"):
                out = os.path.join(
                    os.environ.get("TMPDIR", "/tmp"), f"nno_{kernel}_{os.getpid()}.npz"
                )
                name = subprocess.run(
                    [sys.executable, "-c", code.format(t=dtype, m=metric, out=out)],
                    env=dict(os.environ, NNOVERLAP_KERNEL=kernel),
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                assert name.startswith(kernel if kernel == "avx2" else "avx512"), name
                with np.load(out) as f:
                    runs.append({key: f[key] for key in f.files})
                os.unlink(out)
            for key in runs[0]:
                assert np.array_equal(runs[0][key], runs[1][key]), (dtype, metric, key)


# --- Crashes, hangs and aborts become exceptions ----------------------------------------------


def _knn_in_child(n: int) -> list[int]:
    X = np.random.default_rng(n).standard_normal((n, 8)).astype(np.float32)
    return nno.knn(X, 3).indices[:, 0].tolist()


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method is Linux's default")
def test_knn_in_a_process_forked_after_use_does_not_hang():
    X = np.random.default_rng(6).standard_normal((500, 8)).astype(np.float32)
    nno.knn(X, 3, threads=2)  # start the parent's pools
    nno.mnno(X, X[:, ::-1], 3)
    want = _knn_in_child(300)
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        got = pool.map_async(_knn_in_child, [300, 300]).get(timeout=60)
    assert got == [want, want]


def _measures_in_child(n: int) -> list[float]:
    X = np.random.default_rng(n).standard_normal((n, 8)).astype(np.float32)
    Y = X + 0.1 * np.random.default_rng(n + 1).standard_normal((n, 8)).astype(np.float32)
    return [nno.jaccard(X, Y, 5), nno.cknna(X, Y, 5)]


@pytest.mark.skipif(sys.platform != "linux", reason="the fork start method is Linux's default")
def test_list_measures_in_a_process_forked_after_use_do_not_hang():
    # find_in_rows once ran on rayon's global pool, which a fork leaves without its threads.
    want = _measures_in_child(3000)  # the look-ups and the masked HSIC run in this process
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        got = pool.map_async(_measures_in_child, [3000, 3000]).get(timeout=60)
    assert got == [want, want]


def test_threads_beyond_the_limit_are_refused():
    X = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"threads must satisfy 1 <= threads <= \d+"):
        nno.knn(X, 1, threads=10**6)
    for bad in (1.5, "2", True):
        with pytest.raises(TypeError, match="threads"):
            nno.knn(X, 1, threads=bad)
    assert _core.THREAD_LIMIT >= 64


def test_rayon_num_threads_beyond_the_limit_is_an_error():
    code = "import numpy as np, nnoverlap as nno; nno.knn(np.ones((4, 2), 'f4'), 1)"
    env = dict(os.environ, RAYON_NUM_THREADS="1000000")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.returncode == 1
    assert "RAYON_NUM_THREADS = 1000000" in r.stderr and "ValueError" in r.stderr


def test_an_impossible_allocation_is_a_memory_error():
    X = np.zeros((2**21, 1), np.float32)
    with pytest.raises(MemoryError, match=r"cannot allocate \d+ bytes .*neighbour"):
        nno.knn(X, 2**21 - 1, metric="ip")


@pytest.mark.parametrize("in_pool", [False, True])
def test_a_panic_in_the_core_is_a_runtime_error_naming_the_operation(in_pool):
    with pytest.raises(RuntimeError, match="internal error in _panic_for_tests .*deliberate"):
        _core._panic_for_tests(in_pool)


def test_calls_from_several_python_threads_at_once_agree():
    X = np.random.default_rng(7).standard_normal((800, 16)).astype(np.float32)
    want = nno.knn(X, 5, threads=1)
    barrier = threading.Barrier(4)

    def call(_: int) -> np.ndarray:
        barrier.wait()
        return nno.knn(X, 5, threads=2).indices

    with ThreadPoolExecutor(4) as ex:
        for got in ex.map(call, range(4)):
            np.testing.assert_array_equal(got, want.indices)


# --- Argument checks --------------------------------------------------------------------------


def test_include_self_must_be_a_bool():
    X = np.ones((4, 2), np.float32) + np.eye(4, 2, dtype=np.float32)
    with pytest.raises(TypeError, match="include_self must be True or False"):
        nno.knn(X, 1, include_self="no")
    with pytest.raises(TypeError, match="include_self"):
        nno.mnno(X, X, 1, include_self=0)


def test_k_may_be_a_zero_dimensional_integer_array():
    X = np.random.default_rng(8).standard_normal((10, 3))
    assert nno.knn(X, np.array(3)).indices.shape == (10, 3)
    assert nno.mnno(X, X, k=np.array(3)) == 1.0
    with pytest.raises(TypeError, match="k must be an integer"):
        nno.knn(X, np.array(3.0))


@pytest.mark.parametrize(("n", "k"), [(10, -3), (10, 0), (10, 10), (10, 10000), (1, 1)])
def test_chance_rejects_k_outside_one_to_n_minus_one(n, k):
    with pytest.raises(ValueError):
        nno.chance(n, k)
    assert nno.chance(10, 9) == 1.0


def test_overlap_of_huge_unsigned_indices_names_the_value():
    big = np.array([[2**63, 1]], dtype=np.uint64)
    with pytest.raises(ValueError, match=r"row 0 holds the index 9223372036854775808"):
        nno.overlap(big, big)


def test_row_errors_name_the_set_and_the_row():
    A = np.random.default_rng(9).standard_normal((6, 3))
    B = A.copy()
    B[4, 2] = np.nan
    with pytest.raises(ValueError, match=r"^B has a NaN or infinite value in row 4$"):
        nno.mnno(A, B, 2)
    Z = A.copy()
    Z[2] = 0
    with pytest.raises(ValueError, match=r"^base row 2 is all zeros"):
        nno.knn(A, 2, base=Z)
    with pytest.raises(ValueError, match=r"^queries row 2 is all zeros"):
        nno.knn(Z, 2, base=A)


def test_unaligned_contiguous_input_is_accepted():
    X = np.random.default_rng(10).standard_normal((30, 4)).astype(np.float32)
    buf = bytearray(X.nbytes + 1)
    Y = np.frombuffer(buf, dtype=np.uint8)[1:].view(np.float32).reshape(30, 4)
    Y[...] = X
    assert not Y.flags.aligned and Y.flags.c_contiguous
    np.testing.assert_array_equal(nno.knn(Y, 3).indices, nno.knn(X, 3).indices)
