"""nnoverlap.distributed on a LocalCluster of 2 worker processes with 1 thread each.

The oracle is :func:`nnoverlap.knn` on one machine: the distributed results must equal it bit
for bit (scores compared as raw bytes, so even -0.0 against 0.0 would fail) for every metric,
dtype, block size and input kind, and the pure-Python reference where every score is exact.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnoverlap as nno
from nnoverlap import reference as ref

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
nd = pytest.importorskip("nnoverlap.distributed")

METRICS = ["cosine", "ip", "l2"]
DTYPES = [np.float32, np.float64]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal dtype, shape and bytes."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_identical(res, want) -> None:
    assert same(res.indices, want.indices), "indices differ"
    assert same(res.scores, want.scores), "scores differ"


@pytest.fixture(scope="session")
def shared_data(request):
    """../shared/data beside the repository, else $NNOVERLAP_SHARED_DATA (a git worktree lies
    elsewhere); skips when neither exists."""
    from conftest import SHARED

    for p in (SHARED, Path(os.environ.get("NNOVERLAP_SHARED_DATA", "/nonexistent"))):
        if p.is_dir():
            return p
    pytest.skip(f"real data not found at {SHARED} (../shared/data beside the repository)")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def clustered(n: int, d: int, dtype=np.float32, seed: int = 0) -> np.ndarray:
    """Gaussian clusters with a few exact duplicate rows (ties)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, d))
    X = centres[rng.integers(0, 8, n)] + 0.3 * rng.normal(size=(n, d))
    X[5] = X[17]
    X[40] = X[3]
    return X.astype(dtype)


# ---------------------------------------------------------------------------------------------
# Bit-identity


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_self_join_is_bit_identical_for_any_block(client, metric, dtype):
    X = clustered(230, 12, dtype)
    want = nno.knn(X, k=7, metric=metric)
    for block in (16, 57, 230):
        res = nd.knn(X, k=7, metric=metric, block=block, client=client)
        assert_identical(res, want)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_query_is_bit_identical_for_any_block(client, metric, dtype):
    X = clustered(190, 9, dtype, seed=1)
    Q = clustered(61, 9, dtype, seed=2)
    want = nno.knn(Q, k=6, base=X, metric=metric)
    for block in (13, 64, 200):
        res = nd.knn(Q, k=6, base=X, metric=metric, block=block, client=client)
        assert_identical(res, want)


@pytest.mark.parametrize("metric", METRICS)
def test_include_self_is_bit_identical(client, metric):
    X = clustered(150, 10, np.float32, seed=3) * np.float32(2.0**-70)  # scaled: ip self-scores
    for k in (1, 4):
        want = nno.knn(X, k=k, metric=metric, include_self=True)
        res = nd.knn(X, k=k, metric=metric, include_self=True, block=40, client=client)
        assert_identical(res, want)


def test_k_larger_than_a_block_is_filled_from_the_others(client):
    X = clustered(60, 5, np.float64)
    want = nno.knn(X, k=59, metric="l2")
    assert_identical(nd.knn(X, k=59, metric="l2", block=8, client=client), want)


def test_other_dtypes_convert_as_knn_does(client):
    X = np.random.default_rng(4).integers(-5, 6, size=(80, 6)).astype(np.int16)
    X[X.sum(axis=1) == 0, 0] = 7
    for metric in METRICS:
        assert_identical(
            nd.knn(X, k=5, metric=metric, block=30, client=client), nno.knn(X, k=5, metric=metric)
        )


@st.composite
def int_sets(draw):
    n = draw(st.integers(2, 40))
    d = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(DTYPES))
    flat = draw(st.lists(st.integers(-3, 3), min_size=n * d, max_size=n * d))
    X = np.array(flat, dtype=dtype).reshape(n, d)
    X[~X.any(axis=1), 0] = 1  # no zero row (cosine)
    k = draw(st.integers(1, n - 1))
    block = draw(st.integers(1, n))
    return X, k, block


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=int_sets(), metric=st.sampled_from(METRICS))
def test_hypothesis_sets_equal_knn_and_the_exact_reference(client, case, metric):
    X, k, block = case
    res = nd.knn(X, k=k, metric=metric, block=block, client=client)
    assert_identical(res, nno.knn(X, k=k, metric=metric))
    if metric != "cosine":  # small integers: every score exact, ties included
        _, want = ref.knn(X.tolist(), k, metric=metric)
        assert res.indices.tolist() == want


@settings(max_examples=5, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(2, 60),
    nq=st.integers(1, 30),
    block=st.integers(1, 60),
    seed=st.integers(0, 2**16),
    metric=st.sampled_from(METRICS),
)
def test_hypothesis_queries_equal_knn(client, n, nq, block, seed, metric):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    Q = rng.normal(size=(nq, 3)).astype(np.float32)
    k = int(rng.integers(1, n + 1))
    res = nd.knn(Q, k=k, base=X, metric=metric, block=block, client=client)
    assert_identical(res, nno.knn(Q, k=k, base=X, metric=metric))


# ---------------------------------------------------------------------------------------------
# Real data


def test_words10k_self_join_and_mnno_are_bit_identical(client, shared_data):
    glove = np.load(shared_data / "words10k" / "words10k_glove50.npy", mmap_mode="r")
    minilm = np.load(shared_data / "words10k" / "words10k_minilm384.npy", mmap_mode="r")
    res = nd.knn(glove, k=10, block=2500, client=client)
    assert_identical(res, nno.knn(glove, k=10))
    got = nd.mnno(glove, minilm, k=[1, 10], block=3000, client=client)
    want = nno.mnno(glove, minilm, k=[1, 10])
    assert same(got, want)
    assert abs(got[1] - 0.22656) < 5e-6  # shared/data/README.md, exact float64 brute force


@pytest.mark.parametrize("metric", METRICS)
def test_imagenet_real_sets_with_duplicates_are_bit_identical(client, shared_data, metric):
    d = shared_data / "imagenet1k"
    text = np.load(d / "imagenet1k_minilm384.npy")  # rows 134 = 517, 638 = 639: exact ties
    visual = np.load(d / "imagenet1k_effnetlite0_fcweight1280.npy")
    for X in (text, visual, visual.astype(np.float64)):
        assert_identical(
            nd.knn(X, k=10, metric=metric, block=300, client=client),
            nno.knn(X, k=10, metric=metric),
        )
    assert_identical(
        nd.knn(text[:100], k=5, base=text, metric=metric, block=256, client=client),
        nno.knn(text[:100], k=5, base=text, metric=metric),
    )


def test_imagenet_mnno_reference_values(client, shared_data):
    d = shared_data / "imagenet1k"
    visual = np.load(d / "imagenet1k_effnetlite0_fcweight1280.npy")
    text = np.load(d / "imagenet1k_minilm384.npy")
    assert abs(nd.mnno(visual, text, k=10, block=128, client=client) - 0.19700) < 5e-6
    l2 = nd.mnno(visual, text, k=10, metric="l2", block=128, client=client)
    assert l2 == nno.mnno(visual, text, k=10, metric="l2")
    assert abs(l2 - 0.13690) < 5e-6
    counts = nd.nno(visual, text, k=[1, 10], block=333, client=client)
    assert same(counts, nno.nno(visual, text, k=[1, 10]))


# ---------------------------------------------------------------------------------------------
# Inputs where they lie


def test_memmap_is_read_by_the_workers_from_its_file(client, tmp_path):
    X = clustered(300, 16, np.float32, seed=5)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    s = nd._as_set(mm, "x")
    assert s.kind == "memmap" and s.file == (str(path), 128)  # not copied into the graph
    assert_identical(nd.knn(mm, k=8, block=70, client=client), nno.knn(X, k=8))


def test_memmap_row_slice_reads_from_the_right_offset(client, tmp_path):
    """Regression: a view of a memmap starts inside the file, not at the array's header."""
    X = clustered(300, 16, np.float64, seed=6)
    path = tmp_path / "x.npy"
    np.save(path, X)
    view = np.load(path, mmap_mode="r")[37:251]
    assert nd._as_set(view, "x").kind == "memmap"
    assert_identical(
        nd.knn(view, k=5, metric="l2", block=50, client=client),
        nno.knn(X[37:251], k=5, metric="l2"),
    )


def test_float16_memmap_converts_to_float32_in_the_task(client, tmp_path):
    X = clustered(120, 8, np.float16, seed=7)
    path = tmp_path / "h.npy"
    np.save(path, X)
    res = nd.knn(np.load(path, mmap_mode="r"), k=4, block=50, client=client)
    assert_identical(res, nno.knn(X, k=4))
    assert res.scores.dtype == np.float32


def test_memmap_that_shrank_gives_an_error_not_sigbus(client, tmp_path):
    X = clustered(100, 8, np.float32)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    other = tmp_path / "copy.npy"
    np.save(other, X)
    view = np.load(other, mmap_mode="r")
    with open(other, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(ValueError, match="shrank"):
        nd.knn(view, k=3, block=30, client=client)
    del mm, view


def test_dask_array_chunks_are_the_input(client):
    X = clustered(250, 10, np.float32, seed=8)
    dx = da.from_array(X, chunks=(33, 5))  # chunks unlike the blocks, split columns too
    for metric in METRICS:
        assert_identical(
            nd.knn(dx, k=6, metric=metric, block=64, client=client),
            nno.knn(X, k=6, metric=metric),
        )
    dq = da.from_array(X[:40].astype(np.float64), chunks=7)
    assert_identical(
        nd.knn(dq, k=3, base=dx, block=64, client=client),
        nno.knn(X[:40].astype(np.float64), k=3, base=X),
    )


def test_zarr_array_is_read_by_the_workers(client, tmp_path):
    zarr = pytest.importorskip("zarr")
    X = clustered(210, 12, np.float32, seed=9)
    z = zarr.open(str(tmp_path / "x.zarr"), mode="w", shape=X.shape, chunks=(50, 12), dtype="f4")
    z[:] = X
    z = zarr.open(str(tmp_path / "x.zarr"), mode="r")
    assert nd._as_set(z, "x").kind == "zarr"
    for metric in METRICS:
        assert_identical(
            nd.knn(z, k=6, metric=metric, block=64, client=client),
            nno.knn(X, k=6, metric=metric),
        )


def test_compute_false_returns_dask_arrays(client):
    X = clustered(140, 6, np.float64, seed=10)
    lazy = nd.knn(X, k=5, metric="ip", block=32, compute=False)
    assert isinstance(lazy.scores, da.Array) and lazy.scores.chunks[0] == (32, 32, 32, 32, 12)
    scores, indices = client.compute([lazy.scores, lazy.indices], sync=True)
    assert_identical(nno.KnnResult(scores, indices), nno.knn(X, k=5, metric="ip"))
    counts = nd.nno(X, X[::-1] * 2.0, k=[1, 3], block=50, compute=False)
    assert same(counts.compute(), nno.nno(X, X[::-1] * 2.0, k=[1, 3]))


def test_neighbors_gives_lists_for_the_measures(client):
    A = clustered(100, 6, np.float32, seed=11)
    B = clustered(100, 9, np.float32, seed=12)
    na = nd.neighbors(A, k=10, block=30, client=client)
    nb = nd.neighbors(B, k=10, block=30, client=client)
    assert na.k == 10 and na.metric == "cosine"
    assert_identical(nno.KnnResult(na.scores, na.indices), nno.knn(A, k=10))
    assert isinstance(na, nno.Neighbors)
    per_item = nno.mutual_knn(na, nb, k=5, per_item=True)
    np.testing.assert_array_equal(per_item * 5, nno.nno(A, B, k=5))
    assert nno.mutual_knn(na, nb, k=10) == pytest.approx(nno.mnno(A, B, k=10), rel=1e-14)


# ---------------------------------------------------------------------------------------------
# Bad input: the same errors as one machine


def test_bad_rows_give_the_message_of_knn_naming_the_first_global_row(client):
    X = clustered(200, 8, np.float32)
    X[150] = np.nan
    X[190, 2] = np.inf
    with pytest.raises(ValueError) as local:
        nno.knn(X, k=3)
    with pytest.raises(ValueError) as dist:
        nd.knn(X, k=3, block=20, client=client)
    assert str(dist.value) == str(local.value)
    assert "150" in str(dist.value)
    Z = clustered(200, 8, np.float32)
    Z[77] = 0
    with pytest.raises(ValueError, match="77"):
        nd.knn(Z, k=3, block=20, client=client)
    with pytest.raises(ValueError) as local:
        nno.knn(Z[:10], k=3, base=Z)
    with pytest.raises(ValueError) as dist:
        nd.knn(Z[:10], k=3, base=Z, block=20, client=client)
    assert str(dist.value) == str(local.value)


def test_bad_arguments_are_rejected_before_anything_runs():
    X = np.ones((10, 3))
    with pytest.raises(ValueError, match=r"1 <= k <= 9"):
        nd.knn(X, k=10)
    with pytest.raises(ValueError, match="unknown metric"):
        nd.knn(X, metric="hamming")
    with pytest.raises(ValueError, match="same dimension"):
        nd.knn(X, k=1, base=np.ones((4, 2)))
    with pytest.raises(ValueError, match="same items"):
        nd.mnno(X, np.ones((9, 3)), k=1)
    with pytest.raises(ValueError, match="2-D"):
        nd.knn(np.ones(5))
    with pytest.raises(TypeError, match="real numbers"):
        nd.knn(np.array([["a", "b"], ["c", "d"]]), k=1)
    with pytest.raises(ValueError, match="block"):
        nd.knn(X, k=2, block=0)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        dx = da.from_array(X, chunks=5)
        nd.knn(dx[dx[:, 0] > 0], k=2)


def test_inputs_are_never_modified(client):
    X = clustered(90, 5, np.float32)
    before = X.copy()
    nd.knn(X, k=4, metric="l2", block=20, client=client)
    nd.mnno(X, X, k=3, block=20, client=client)
    assert same(X, before)


# ---------------------------------------------------------------------------------------------
# Progress, cancelling, a worker lost mid-run


def test_progress_counts_the_blocks(client):
    X = clustered(100, 4, np.float32)
    seen = []
    nd.knn(X, k=3, block=25, client=client, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4) and len(seen) == 5


def _run_keys(client) -> list[str]:
    def ours(dask_scheduler=None):
        return [str(k) for k in dask_scheduler.tasks if "nnoverlap-" in str(k)]

    return client.run_on_scheduler(ours)


def test_interrupt_cancels_every_task(client):
    X = clustered(1500, 16, np.float32)

    def interrupt(done, total):
        if done == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nd.knn(X, k=5, block=40, client=client, progress=interrupt)
    deadline = time.monotonic() + 10
    while _run_keys(client) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _run_keys(client) == []


def exit_worker(c, address: str) -> None:
    """os._exit in the worker at ``address`` (the reply never comes: the worker is gone)."""
    try:
        c.run(os._exit, 1, workers=[address])
    except Exception:
        pass


def test_worker_killed_mid_run_still_gives_the_complete_identical_result():
    """One worker process dies (os._exit) while tasks are in flight; Dask reruns what it lost."""
    X = clustered(2000, 24, np.float32, seed=13)
    want = nno.knn(X, k=10, metric="l2")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    with distributed.Client(cluster) as c:
        c.wait_for_workers(2)
        killed = {}

        def kill_one(done, total):
            if done == 1 and not killed:
                busy = c.processing()
                victim = max(busy, key=lambda w: len(busy[w]))
                killed["addr"], killed["in_flight"] = victim, len(busy[victim])
                threading.Thread(target=exit_worker, args=(c, victim), daemon=True).start()

        res = nd.knn(X, k=10, metric="l2", block=40, client=c, progress=kill_one)
        assert killed and killed["in_flight"] > 0
        assert_identical(res, want)
        assert killed["addr"] not in c.scheduler_info()["workers"]
    cluster.close()


def test_session_runs_knn_on_its_own_local_cluster():
    X = clustered(120, 6, np.float32, seed=14)
    with nd.session(workers=1) as knn:
        res = knn(X, k=4, metric="l2", threads=2)
    assert_identical(res, nno.knn(X, k=4, metric="l2"))
    with pytest.raises(ValueError, match="not both"):
        with nd.session("tcp://127.0.0.1:1", 2):
            pass


def test_block_offsets_past_the_u32_index_space_are_rejected():
    """The building blocks check offset + rows against the u32 indices (no silent wrap)."""
    from nnoverlap import _core

    x = np.ones((10, 3), np.float32)
    with pytest.raises(ValueError, match="offset 4294967291 plus 10 rows"):
        _core._block_pair(x, 2**32 - 5, x, 0, 2, "ip", 1.0, None)
    with pytest.raises(ValueError, match="offset 4294967286 plus 10 rows"):
        _core._block_pair(x, 0, x, 2**32 - 10, 2, "ip", 1.0, None)
    with pytest.raises(ValueError, match="base block"):
        _core._block_query(x, x, 2**32 - 5, None, 2, "ip", 1.0, None)


def unaligned(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` at an odd address, as Dask can deserialise arrays."""
    buf = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = np.frombuffer(buf.data[1:], dtype=a.dtype).reshape(a.shape)
    out[...] = a
    assert out.flags.c_contiguous and (a.size == 0 or not out.flags.aligned)
    return out


def test_tasks_accept_unaligned_blocks_from_dask_buffers():
    """Regression: arrays from Dask's network buffers can be unaligned; the core rejects those,
    so every task aligns its inputs (copying only then)."""
    from nnoverlap.distributed import _tasks

    X = clustered(64, 5, np.float32)
    want = nno.knn(X, k=4, metric="l2")
    mabs = _tasks.max_abs(_tasks.scan(unaligned(X[:32]), "l2", "x", 0, "<f4"), 0.0)
    mabs = max(mabs, _tasks.scan(unaligned(X[32:]), "l2", "x", 32, "<f4"))
    ctr = _tasks.centre(mabs, unaligned(X))
    pairs = {
        (i, j): _tasks.block_pair(
            unaligned(X[32 * i : 32 * i + 32]), 32 * i, unaligned(X[32 * j : 32 * j + 32]),
            32 * j, 4, "l2", mabs, unaligned(ctr), "<f4",
        )
        for i, j in ((0, 0), (0, 1), (1, 1))
    }  # fmt: skip
    parts = [[pairs[0, 0], pairs[0, 1]], [pairs[0, 1], pairs[1, 1]]]
    sides = [[0, 0], [2, 0]]
    out = []
    for b in range(2):
        merged = _tasks.merge([tuple(unaligned(a) for a in p) for p in parts[b]], sides[b])
        merged = (unaligned(merged[0]), unaligned(merged[1]))
        out.append(_tasks.finish(merged, "l2", mabs, False, None, 32 * b, 32, "<f4"))
    assert same(np.concatenate([o[1] for o in out]), want.indices)
    assert same(np.concatenate([o[0] for o in out]), want.scores)
