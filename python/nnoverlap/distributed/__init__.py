"""Exact k-NN and neighbour overlap on a Dask cluster, bit-identical to one machine.

``pip install "nnoverlap[dask]"``. Each function builds one Dask task graph and runs it on the
given ``client``, else on the current ``dask.distributed`` client, else (no cluster at all) on
Dask's local threaded scheduler. The results equal :func:`nnoverlap.knn`, :func:`nnoverlap.mnno`
and :func:`nnoverlap.nno` on the same data bit for bit, for any number of workers, any block size
and any order in which tasks run: each pair's key is one fixed chain of prepared rows, the
run's scale and Euclidean centre come from reductions over the whole set, and partial results
are merged under the total order "better score, then lower index".

The task graph of a self-join of n rows in blocks of b rows (B = ceil(n / b) blocks):

- one scan per block (checks every row, as ``knn`` does: the error names the global row) and one
  reduction to the set's largest magnitude; under ``"l2"`` a sample of at most 4096 rows for
  the centre;
- one task per block pair I <= J (B (B + 1) / 2 tasks), each computing every pair of rows once
  and returning the partial top-k of I's rows among J's and of J's rows among I's;
- per block, a merge tree of fan-in 8 over its B partials in block order, then one task that
  turns keys into scores.

Inputs are read by the workers, where they lie: a ``np.memmap`` of a ``.npy`` file (or any
C-contiguous memmap) is opened by each task that needs a block, by path, so the path must be the
same on every worker (shared storage); a zarr array is read by slicing it in the task; a dask
array's chunks (rechunked to the blocks) are the tasks' inputs. Only a plain numpy array, which
lives on the client anyway, travels inside the graph, one block per key.

Memory per worker thread: a task holds its two blocks, 2 b d s bytes (s = 4 for float32, 8 for
float64; memmap blocks are mapped, not copied), and the partial results of its block pair,
2 b k (s + 4) bytes; a merge holds at most 9 partials of b k (s + 4) bytes. Dask keeps a task's
result on a worker until its consumers have run, so a worker also holds the block-pair results
and dask-array chunks waiting for a merge (Dask's spilling bounds those). The client receives
only the output, n k (s + 8) bytes.

>>> import numpy as np, nnoverlap as nno
>>> import nnoverlap.distributed as nd
>>> X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
>>> res = nd.knn(X, k=5, block=64)          # no client: Dask's local threaded scheduler
>>> ref = nno.knn(X, k=5)
>>> bool((res.indices == ref.indices).all() and (res.scores == ref.scores).all())
True
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from .. import _core
from .._api import (
    KnnResult,
    KSpec,
    _as_int,
    _check_bool,
    _check_k,
    _check_ks,
    _check_metric,
    _self_join_range,
)
from ..measures.neighbors import Neighbors
from . import _tasks as _t

__all__ = ["default_block", "knn", "mnno", "neighbors", "nno", "session"]

Progress = Union[bool, Callable[[int, int], Any], None]

FANIN = 8
"""Partials merged per merge task: B blocks need about B / 7 merge tasks per block."""

MAX_BLOCK = 8192
"""Largest default block, in rows: a block pair then costs about 2 * 8192^2 * d flops."""

BLOCK_BYTES = 32 << 20
"""Largest default block, in bytes (b * d * itemsize), for wide rows."""


def _require_dask() -> Any:
    try:
        import dask
    except ImportError:
        raise ImportError(
            'nnoverlap.distributed needs Dask: pip install "nnoverlap[dask]"'
        ) from None
    return dask


def default_block(n: int, d: int, itemsize: int = 4) -> int:
    """Rows per block when ``block=None``: at most 8192 rows and 32 MiB, at least 256 rows
    (or n), so that a block-pair task runs for about a second at d = 300.

    >>> import nnoverlap.distributed as nd
    >>> nd.default_block(100_000, 300), nd.default_block(100_000, 4096), nd.default_block(500, 300)
    (8192, 2048, 500)
    """
    cap = max(256, BLOCK_BYTES // max(1, d * itemsize))
    return max(1, min(n, MAX_BLOCK, cap))


# ---------------------------------------------------------------------------------------------
# Inputs


def _target_dtype(dtype: np.dtype, name: str) -> np.dtype:
    if dtype == np.float32 or dtype == np.float64:
        return np.dtype(dtype)
    if dtype.kind in "fiu":
        return np.dtype(np.float32)
    if dtype.kind == "V":
        # Extension float types (bfloat16) convert through float32, as in nnoverlap.knn.
        return np.dtype(np.float32)
    raise TypeError(f"{name} must hold real numbers (float or integer dtype), got dtype {dtype}")


def _memmap_file(x: np.ndarray) -> tuple[str, int] | None:
    """(path, byte offset of x's first element) when x is a C-contiguous view of a file
    mapped by ``np.memmap`` (``np.load(mmap_mode="r")`` makes one), else None."""
    if not x.flags.c_contiguous:
        return None
    root: Any = x
    while isinstance(root.base, np.ndarray):
        root = root.base
    if not isinstance(root, np.memmap) or getattr(root, "filename", None) is None:
        return None
    start = x.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return str(root.filename), int(root.offset) + int(start)


@dataclass
class _Set:
    """One input set: its shape, the dtype it is computed in, and how tasks get its blocks."""

    name: str
    n: int
    d: int
    dtype: np.dtype
    kind: str  # "numpy", "memmap", "zarr", "dask"
    data: Any
    file: tuple[str, int] | None = None

    def sources(self, bounds: list[int], dsk: dict[Any, Any], prefix: str) -> list[Any]:
        """A task argument per block: a graph key (numpy blocks, dask chunks) or a row source
        the task reads itself (memmap, zarr). Adds what it needs to ``dsk``."""
        target = self.dtype.str
        spans = list(zip(bounds[:-1], bounds[1:]))
        if self.kind == "memmap":
            assert self.file is not None
            path, offset = self.file
            src = self.data.dtype.str
            return [
                _t.NpyRows(path, offset, src, self.n, self.d, r0, r1, target) for r0, r1 in spans
            ]
        if self.kind == "zarr":
            return [_t.ZarrRows(self.data, r0, r1, target) for r0, r1 in spans]
        if self.kind == "dask":
            arr = self.data
            if arr.dtype != self.dtype:
                arr = arr.astype(self.dtype)
            arr = arr.rechunk((tuple(r1 - r0 for r0, r1 in spans), (self.d,)))
            dsk.update(dict(arr.__dask_graph__()))
            return [(arr.name, b, 0) for b in range(len(spans))]
        keys = []
        for b, (r0, r1) in enumerate(spans):
            key = (f"nnoverlap-rows-{prefix}-{self.name}", b)
            dsk[key] = np.ascontiguousarray(self.data[r0:r1], dtype=self.dtype)
            keys.append(key)
        return keys


def _as_set(x: Any, name: str, dtype: np.dtype | None = None) -> _Set:
    """Classifies ``x`` without reading its values (except a plain array-like, converted)."""
    dask = _require_dask()
    import dask.array as da

    del dask
    data: Any
    if isinstance(x, da.Array):
        kind, shape, src_dtype, data = "dask", x.shape, x.dtype, x
        if any(isinstance(s, float) and math.isnan(s) for s in shape):
            raise ValueError(
                f"{name} is a dask array of unknown chunk sizes {shape}: "
                "call .compute_chunk_sizes() first"
            )
    elif type(x).__module__.split(".")[0] == "zarr" and hasattr(x, "shape"):
        kind, shape, src_dtype, data = "zarr", tuple(x.shape), np.dtype(x.dtype), x
    else:
        arr = x if isinstance(x, np.ndarray) else np.asarray(x)
        kind, shape, src_dtype, data = "numpy", arr.shape, arr.dtype, arr
    if len(shape) != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n, d), got {len(shape)}-D shape {shape}"
        )
    n, d = int(shape[0]), int(shape[1])
    if d == 0:
        raise ValueError(f"{name} must have at least 1 dimension (d >= 1), got shape {shape}")
    target = _target_dtype(np.dtype(src_dtype), name) if dtype is None else np.dtype(dtype)
    if kind == "numpy" and data.dtype.kind == "V":
        data = data.astype(np.float32)
    s = _Set(name, n, d, target, kind, data)
    if kind == "numpy" and isinstance(data, np.memmap) and data.dtype.kind in "fiu":
        f = _memmap_file(data)
        if f is not None:
            s.kind, s.file = "memmap", f
    return s


def _bounds(n: int, block: int) -> list[int]:
    return list(range(0, n, block)) + [n]


def _check_block(block: Any, n: int, d: int, itemsize: int) -> int:
    if block is None:
        return default_block(n, d, itemsize)
    b = _as_int(block, "block")
    if b < 1:
        raise ValueError(f"block must be at least 1 row, got {b}")
    return min(b, max(n, 1))


# ---------------------------------------------------------------------------------------------
# Graphs


class _Graph:
    """A task graph under construction: keys are (name, ...) tuples unique to this run."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex[:16]
        self.dsk: dict[Any, Any] = {}

    def name(self, what: str) -> str:
        return f"nnoverlap-{what}-{self.token}"

    def tree(self, what: str, block: int, items: list[tuple[Any, int]]) -> Any:
        """A merge tree over ``items`` (key, side) in their order; returns the root's key."""
        level, cur = 0, items
        while True:
            nxt: list[tuple[Any, int]] = []
            for g in range(0, len(cur), FANIN):
                grp = cur[g : g + FANIN]
                key = (self.name(what), block, level, g // FANIN)
                self.dsk[key] = (_t.merge, [c[0] for c in grp], [c[1] for c in grp])
                nxt.append((key, -1))
            if len(nxt) == 1:
                return nxt[0][0]
            cur, level = nxt, level + 1

    def checks(self, tag: str, sets: list[tuple[_Set, list[Any], list[int]]], metric: str) -> str:
        """Scan tasks for every block of the sets (in this order: the first bad row of the
        first set is the one reported) and the reduction to the run's largest magnitude."""
        scans = []
        for s, srcs, bounds in sets:
            for b, src in enumerate(srcs):
                key = (self.name(f"scan-{tag}-{s.name}"), b)
                self.dsk[key] = (_t.scan, src, metric, s.name, bounds[b], s.dtype.str)
                scans.append(key)
        mkey = self.name(f"maxabs-{tag}")
        self.dsk[mkey] = (_t.max_abs, *scans)
        return mkey

    def centre(self, tag: str, s: _Set, srcs: list[Any], bounds: list[int], mkey: str) -> str:
        """The Euclidean centre of set ``s``: the rows ``_centre_rows(n)``, in order."""
        rows = np.asarray(_core._centre_rows(s.n), dtype=np.int64)
        samples = []
        for b, src in enumerate(srcs):
            lo, hi = np.searchsorted(rows, [bounds[b], bounds[b + 1]])
            if hi > lo:
                key = (self.name(f"sample-{tag}"), b)
                local = [int(r) - bounds[b] for r in rows[lo:hi]]
                self.dsk[key] = (_t.take_rows, src, local, s.dtype.str)
                samples.append(key)
        ckey = self.name(f"centre-{tag}")
        self.dsk[ckey] = (_t.centre, mkey, *samples)
        return ckey

    def self_join(
        self, tag: str, s: _Set, block: int, k: int, metric: str, include_self: bool
    ) -> list[Any]:
        """The self-join of ``s``; returns per block the key of its (scores, indices)."""
        bounds = _bounds(s.n, block)
        srcs = s.sources(bounds, self.dsk, self.token)
        nb = len(srcs)
        mkey = self.checks(tag, [(s, srcs, bounds)], metric)
        ckey = self.centre(tag, s, srcs, bounds, mkey) if metric == "l2" else None
        others = k - int(include_self)
        pair = self.name(f"pair-{tag}")
        if others > 0:
            for i in range(nb):
                for j in range(i, nb):
                    self.dsk[(pair, i, j)] = (
                        _t.block_pair,
                        srcs[i],
                        bounds[i],
                        srcs[j],
                        bounds[j],
                        others,
                        metric,
                        mkey,
                        ckey,
                        s.dtype.str,
                    )
        out = []
        for i in range(nb):
            root = None
            if others > 0:
                items = [((pair, j, i), 2) for j in range(i)]
                items += [((pair, i, j), 0) for j in range(i, nb)]
                root = self.tree(f"merge-{tag}", i, items)
            key = (self.name(f"finish-{tag}"), i)
            rows = bounds[i + 1] - bounds[i]
            self.dsk[key] = (
                _t.finish,
                root,
                metric,
                mkey,
                include_self,
                srcs[i],
                bounds[i],
                rows,
                s.dtype.str,
            )
            out.append(key)
        return out

    def query(self, tag: str, q: _Set, b: _Set, block: int, k: int, metric: str) -> list[Any]:
        """Queries ``q`` against base ``b``; returns per query block its result's key."""
        qb, bb = _bounds(q.n, block), _bounds(b.n, block)
        qs = q.sources(qb, self.dsk, self.token)
        bs = b.sources(bb, self.dsk, self.token)
        mkey = self.checks(tag, [(q, qs, qb), (b, bs, bb)], metric)
        ckey = self.centre(tag, b, bs, bb, mkey) if metric == "l2" else None
        name = self.name(f"query-{tag}")
        out = []
        for i, qsrc in enumerate(qs):
            for j, bsrc in enumerate(bs):
                self.dsk[(name, i, j)] = (
                    _t.block_query,
                    qsrc,
                    bsrc,
                    bb[j],
                    k,
                    metric,
                    mkey,
                    ckey,
                    q.dtype.str,
                )
            root = self.tree(f"merge-{tag}", i, [((name, i, j), 0) for j in range(len(bs))])
            key = (self.name(f"finish-{tag}"), i)
            rows = qb[i + 1] - qb[i]
            self.dsk[key] = (_t.finish, root, metric, mkey, False, qsrc, qb[i], rows, q.dtype.str)
            out.append(key)
        return out


# ---------------------------------------------------------------------------------------------
# Running


def _client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None


def _run(dsk: dict[Any, Any], keys: list[Any], client: Any, progress: Progress) -> list[Any]:
    """Computes ``keys``: on the client's cluster with progress and Ctrl-C cancelling every
    future, or, without a client, on Dask's local threaded scheduler."""
    cl = _client(client)
    if cl is None:
        import dask.threaded

        if callable(progress):
            progress(0, len(keys))
        out = list(dask.threaded.get(dsk, keys))
        if callable(progress):
            progress(len(keys), len(keys))
        return out
    import dask
    from distributed import as_completed, wait

    # A plain numpy input travels inside the graph (one block per key, so that a block lost
    # with a worker can be sent again); Dask warns about large graphs, which the docs say.
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1 PiB"}):
        futures = cl.get(dsk, keys, sync=False)
    try:
        if progress is True:
            from distributed import progress as dask_progress

            dask_progress(futures, notebook=False)
        elif callable(progress):
            total = len(futures)
            progress(0, total)
            for done, _ in enumerate(as_completed(futures), 1):
                progress(done, total)
        wait(futures)
        return list(cl.gather(futures))
    except BaseException:
        # Ctrl-C, or a task's error: nothing stays queued or running on the cluster.
        cl.cancel(futures, force=True)
        raise


def _stack(parts: list[tuple[np.ndarray, np.ndarray]]) -> KnnResult:
    return KnnResult(
        np.concatenate([p[0] for p in parts], axis=0),
        np.concatenate([p[1] for p in parts], axis=0),
    )


def _lazy(g: _Graph, keys: list[Any], bounds: list[int], width: int, dtypes: Any) -> KnnResult:
    import dask.array as da

    chunks = (tuple(b1 - b0 for b0, b1 in zip(bounds[:-1], bounds[1:])), (width,))
    arrays: list[Any] = []
    for pos, (what, dt) in enumerate(zip(("scores", "indices"), dtypes)):
        name = g.name(what)
        for b, key in enumerate(keys):
            g.dsk[(name, b, 0)] = (_t.pick, key, pos)
        arrays.append(da.Array(g.dsk, name, chunks, dtype=dt, meta=np.empty((0, 0), dtype=dt)))
    return KnnResult(arrays[0], arrays[1])


# ---------------------------------------------------------------------------------------------
# Public API


def knn(
    x: Any,
    k: int = 10,
    *,
    base: Any = None,
    metric: str = "cosine",
    include_self: bool = False,
    block: int | None = None,
    client: Any = None,
    compute: bool = True,
    progress: Progress = None,
) -> KnnResult:
    """Exact k nearest neighbours of every row of ``x`` on a Dask cluster.

    The same answer as :func:`nnoverlap.knn` (bit for bit, ties to the lower index), computed
    as one task per block pair: a self-join computes each pair of rows once.

    Args:
        x: (n, d) numpy array, ``np.memmap`` (read by the workers from its file), zarr array
            (read by the workers from its store) or dask array (its chunks are the input).
        k, base, metric, include_self: as for :func:`nnoverlap.knn`.
        block: rows per block (default :func:`default_block`); never changes the result.
        client: a ``dask.distributed.Client``; default the current one, else Dask's local
            threaded scheduler.
        compute: False returns ``KnnResult`` of two dask arrays (chunks of ``block`` rows)
            without computing anything.
        progress: True for Dask's progress bar, or ``callback(done, total)`` called as
            blocks of rows finish (without a distributed client: at the start and the end).

    Returns:
        ``KnnResult(scores, indices)``, (n, k) each, as numpy arrays (or dask arrays).

    Raises:
        ValueError / TypeError: as :func:`nnoverlap.knn` (a bad row is named by its global
        index). KeyboardInterrupt cancels every task of the run.

    >>> import numpy as np, nnoverlap.distributed as nd
    >>> X = np.array([[0.0, 1.0], [0.0, 2.0], [1.0, 0.0]])
    >>> nd.knn(X, k=1, metric="l2").indices.ravel().tolist()
    [1, 0, 0]
    """
    metric = _check_metric(metric)
    with_self = _check_bool(include_self, "include_self")
    compute = _check_bool(compute, "compute")
    g = _Graph()
    if base is None:
        s = _as_set(x, "x")
        high, what = _self_join_range(s.n)
        kk = _check_k(k, high, what)
        blk = _check_block(block, s.n, s.d, s.dtype.itemsize)
        keys = g.self_join("x", s, blk, kk, metric, with_self)
        bounds = _bounds(s.n, blk)
    else:
        if with_self:
            raise ValueError("include_self=True applies to a self-join only (base=None)")
        q = _as_set(x, "queries")
        b = _as_set(base, "base", q.dtype)
        if b.d != q.d:
            raise ValueError(
                "queries and base must have the same dimension d: "
                f"queries have shape {(q.n, q.d)}, base has shape {(b.n, b.d)}"
            )
        if q.n < 1:
            raise ValueError(f"queries must have at least 1 row, got shape {(q.n, q.d)}")
        kk = _check_k(k, b.n, f"the number of base rows, {b.n}")
        blk = _check_block(block, max(q.n, b.n), q.d, q.dtype.itemsize)
        keys = g.query("q", q, b, blk, kk, metric)
        bounds = _bounds(q.n, blk)
        s = q
    if not compute:
        return _lazy(g, keys, bounds, kk, (s.dtype, np.dtype(np.int64)))
    return _stack(_run(g.dsk, keys, client, progress))


def _overlap_graph(
    a: Any,
    b: Any,
    k: KSpec,
    metric: str,
    include_self: bool,
    block: int | None,
) -> tuple[_Graph, list[Any], list[int], list[int], bool]:
    metric = _check_metric(metric)
    with_self = _check_bool(include_self, "include_self")
    A, B = _as_set(a, "A"), _as_set(b, "B")
    if A.n != B.n:
        raise ValueError(
            "A and B must describe the same items (the same number of rows): "
            f"A has shape {(A.n, A.d)}, B has shape {(B.n, B.d)}"
        )
    high, what = _self_join_range(A.n)
    ks, single = _check_ks(k, high, what)
    kmax = max(ks)
    itemsize = max(A.dtype.itemsize, B.dtype.itemsize)
    blk = _check_block(block, A.n, max(A.d, B.d), itemsize)
    g = _Graph()
    ka = g.self_join("A", A, blk, kmax, metric, with_self)
    kb = g.self_join("B", B, blk, kmax, metric, with_self)
    name = g.name("overlap")
    keys = []
    for i, (x, y) in enumerate(zip(ka, kb)):
        g.dsk[(name, i)] = (_t.overlap_counts, x, y, ks)
        keys.append((name, i))
    return g, keys, _bounds(A.n, blk), ks, single


def nno(
    a: Any,
    b: Any,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    include_self: bool = False,
    block: int | None = None,
    client: Any = None,
    compute: bool = True,
    progress: Progress = None,
) -> Any:
    """Per-item overlap NNO^k(i) on a Dask cluster: equal to :func:`nnoverlap.nno`.

    Inputs, ``block``, ``client`` and ``progress`` as for :func:`knn`. Returns (n,) int64
    counts for an int ``k``, (n, len(k)) for a sequence; a dask array with ``compute=False``.

    >>> import numpy as np, nnoverlap.distributed as nd
    >>> A = np.array([[0.0], [1.0], [3.0]]); B = np.array([[0.0], [2.0], [3.0]])
    >>> nd.nno(A, B, k=1, metric="l2").tolist()
    [1, 0, 1]
    """
    compute = _check_bool(compute, "compute")
    g, keys, bounds, ks, single = _overlap_graph(a, b, k, metric, include_self, block)
    if not compute:
        import dask.array as da

        name = g.name("counts")
        for i, key in enumerate(keys):
            g.dsk[(name, i, 0)] = key
        chunks = (tuple(b1 - b0 for b0, b1 in zip(bounds[:-1], bounds[1:])), (len(ks),))
        arr = da.Array(g.dsk, name, chunks, dtype=np.int64, meta=np.empty((0, 0), np.int64))
        return arr[:, 0] if single else arr
    counts = np.concatenate(_run(g.dsk, keys, client, progress), axis=0)
    return counts[:, 0] if single else counts


def mnno(
    a: Any,
    b: Any,
    k: KSpec = 10,
    *,
    metric: str = "cosine",
    include_self: bool = False,
    block: int | None = None,
    client: Any = None,
    progress: Progress = None,
) -> Any:
    """Mean overlap mNNO^k(A, B) on a Dask cluster: equal to :func:`nnoverlap.mnno`.

    Only per-block sums of the counts come back to the client. Returns a float for an int
    ``k``, a float64 array (one value per k) for a sequence.

    >>> import numpy as np, nnoverlap.distributed as nd
    >>> A = np.array([[0.0], [1.0], [3.0]]); B = np.array([[0.0], [2.0], [3.0]])
    >>> nd.mnno(A, B, k=[1, 2], metric="l2").tolist()
    [0.6666666666666666, 1.0]
    """
    g, keys, bounds, ks, single = _overlap_graph(a, b, k, metric, include_self, block)
    name = g.name("sums")
    sums = []
    for i, key in enumerate(keys):
        g.dsk[(name, i)] = (_t.count_sums, key)
        sums.append((name, i))
    total = np.sum(np.stack(_run(g.dsk, sums, client, progress)), axis=0)
    n = bounds[-1]
    values = total / (np.asarray(ks, dtype=np.float64) * n)
    return float(values[0]) if single else values


def neighbors(
    x: Any,
    k: int = 10,
    *,
    metric: str = "cosine",
    include_self: bool = False,
    block: int | None = None,
    client: Any = None,
    compute: bool = True,
    progress: Progress = None,
) -> Neighbors:
    """The self-join of :func:`knn` as a :class:`nnoverlap.Neighbors` object, the lists every
    measure of :mod:`nnoverlap.measures` accepts (self excluded, as the measures define them;
    for ``include_self`` or a lazy result use :func:`knn`).

    >>> import numpy as np, nnoverlap.distributed as nd
    >>> nd.neighbors(np.array([[0.0], [1.0], [3.0]]), k=1, metric="l2").indices.tolist()
    [[1], [0], [1]]
    """
    if include_self:
        raise ValueError("neighbors() excludes each item itself, as the measures do")
    if not compute:
        raise ValueError("neighbors() computes its lists; use knn(..., compute=False)")
    res = knn(x, k, metric=metric, block=block, client=client, progress=progress)
    return Neighbors(res.indices, res.scores, metric)


@contextmanager
def session(
    scheduler: str | None = None, workers: int | None = None
) -> Iterator[Callable[..., KnnResult]]:
    """A cluster for a command: yields a function with the signature of :func:`nnoverlap.knn`
    (``threads`` is ignored) that runs :func:`knn` there.

    ``scheduler``: the address of a running Dask scheduler (``tcp://host:8786``); else
    ``workers``: start a LocalCluster of that many worker processes with one thread each, closed
    on exit. The hook behind ``nnoverlap compare --scheduler ADDR`` / ``--workers N``.

    >>> import numpy as np, nnoverlap.distributed as nd
    >>> with nd.session(workers=1) as knn:  # doctest: +SKIP
    ...     knn(np.eye(3) + 1, k=1).indices.ravel().tolist()
    [1, 0, 0]
    """
    if (scheduler is None) == (workers is None):
        raise ValueError("give either a scheduler address or a number of workers, not both")
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is not None:
        client = Client(scheduler)
    else:
        n = _as_int(workers, "workers")
        if n < 1:
            raise ValueError(f"workers must be at least 1, got {n}")
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = Client(cluster)

    def run(
        x: Any,
        k: int = 10,
        *,
        base: Any = None,
        metric: str = "cosine",
        include_self: bool = False,
        threads: int | None = None,
        progress: Progress = None,
    ) -> KnnResult:
        del threads  # each worker runs one task per thread it has
        return knn(
            x,
            k,
            base=base,
            metric=metric,
            include_self=include_self,
            client=client,
            progress=progress,
        )

    try:
        yield run
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
