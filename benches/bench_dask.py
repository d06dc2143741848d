"""nnoverlap.distributed against nnoverlap.knn in-process, and the scheduler check of docs/scale.md.

Two measurements, each printing same-run ratios (seconds on a shared machine are noise):

1. ``knn``: the cosine self-join of n rows (a 100-centre Gaussian mixture, rows normalised, a
   ``.npy`` memory-mapped by the workers) with ``nnoverlap.knn(threads=2)`` in this process, then
   ``nd.knn`` on a LocalCluster of 1 worker and of 2 workers (1 thread each). Prints the 1 -> 2
   worker speed-up and the overhead of the 2-worker run over the in-process one (target <= 1.15),
   and checks that all three results are bit-identical.

       python benches/bench_dask.py knn                    # n = 100,000, d = 300
       python benches/bench_dask.py knn --n 20000 --block 4096

2. ``scheduler``: the full task graph of the self-join of 10^7 rows (built by the same code as
   ``nd.knn``), every task replaced by a stand-in that sleeps for its measured time scaled down
   by ``--scale``, run on a LocalCluster. Reports the graph's size and the scheduler's overhead
   per task: (wall time - sleep time / threads) / tasks.

       python benches/bench_dask.py scheduler --rows 10000000 --block 16384 --scale 2000
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import nnoverlap as nno
import nnoverlap.distributed as nd
from nnoverlap import _core
from nnoverlap.distributed import _tasks


def clustered(n: int, d: int, seed: int = 0, centres: int = 100) -> np.ndarray:
    """A Gaussian mixture, rows normalised (as benches/bench_knn.py)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.5 * rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def cluster(workers: int, threads: int = 1) -> Any:
    from distributed import Client, LocalCluster

    lc = LocalCluster(
        n_workers=workers,
        threads_per_worker=threads,
        processes=True,
        dashboard_address=":0",
        silence_logs=40,
    )
    return lc, Client(lc)


def bench_knn(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(tempfile.gettempdir()) / f"nnoverlap-bench-dask-{args.n}x{args.d}.npy"
    if not path.exists():
        np.save(path, clustered(args.n, args.d))
    X = np.load(path, mmap_mode="r")
    block = args.block or nd.default_block(args.n, args.d)
    out: dict[str, Any] = {"n": args.n, "d": args.d, "k": args.k, "block": block, "runs": {}}
    times: dict[str, list[float]] = {"inprocess_t2": [], "dask_w1": [], "dask_w2": []}
    want = None
    clusters = {w: cluster(w) for w in (1, 2)}
    try:
        for _, c in clusters.values():
            c.wait_for_workers(1)
            nd.knn(X[:2000], k=args.k, block=500, client=c)  # start-up: imports in the workers
        for rep in range(args.repeats):
            t = time.perf_counter()
            ref = nno.knn(X, k=args.k, threads=2)
            times["inprocess_t2"].append(time.perf_counter() - t)
            want = ref if want is None else want
            for w, (_, c) in clusters.items():
                t = time.perf_counter()
                res = nd.knn(X, k=args.k, block=block, client=c)
                times[f"dask_w{w}"].append(time.perf_counter() - t)
                same = (
                    res.indices.tobytes() == want.indices.tobytes()
                    and res.scores.tobytes() == want.scores.tobytes()
                )
                if not same:
                    raise SystemExit(f"dask with {w} worker(s) differs from nnoverlap.knn")
            print(
                f"rep {rep}: " + ", ".join(f"{name} {v[-1]:.2f} s" for name, v in times.items()),
                flush=True,
            )
    finally:
        for lc, c in clusters.values():
            c.close()
            lc.close()
    med = {name: statistics.median(v) for name, v in times.items()}
    out["runs"] = times
    out["median_s"] = med
    out["speedup_1_to_2_workers"] = med["dask_w1"] / med["dask_w2"]
    out["overhead_2_workers_over_inprocess_t2"] = med["dask_w2"] / med["inprocess_t2"]
    out["bit_identical"] = True
    flops = args.n * (args.n - 1) * args.d
    print(f"\nself-join {args.n} x {args.d}, k = {args.k}, cosine, float32, block {block}")
    print(f"{'run':<28}{'median s':>10}{'eff. GFLOP/s':>14}")
    for name, v in med.items():
        print(f"{name:<28}{v:>10.2f}{flops / v / 1e9:>14.1f}")
    print(f"1 -> 2 workers speed-up: {out['speedup_1_to_2_workers']:.2f} (ideal 2)")
    print(
        "2-worker dask / in-process threads=2: "
        f"{out['overhead_2_workers_over_inprocess_t2']:.3f} (target <= 1.15)"
    )
    print("results bit-identical to nnoverlap.knn: yes")
    return out


def stand_in_graph(rows: int, block: int, k: int, d: int, durations: dict[str, float]) -> Any:
    """The task graph nd.knn builds for ``rows`` x ``d`` (zarr-like row sources that no task
    reads), each task replaced by a sleep of its kind's duration with the same dependencies."""
    s = nd._Set("x", rows, d, np.dtype(np.float32), "zarr", None)
    g = nd._Graph()
    keys = g.self_join("x", s, block, k, "cosine", False)
    dsk = g.dsk

    def deps(args: tuple[Any, ...]) -> list[Any]:
        found = []
        for a in args:
            if isinstance(a, list):
                found += deps(tuple(a))
            elif isinstance(a, (tuple, str)) and a in dsk:
                found.append(a)
        return found

    counts: dict[str, int] = {}
    stand: dict[Any, Any] = {}
    for key, task in dsk.items():
        kind = task[0].__name__
        counts[kind] = counts.get(kind, 0) + 1
        stand[key] = (_tasks.sleep_task, durations.get(kind, 0.0), *deps(task[1:]))
    return stand, keys, counts


def bench_scheduler(args: argparse.Namespace) -> dict[str, Any]:
    d, b, k = args.d, args.block, args.k
    # Measured time of one block pair at this block size (one thread; at most 4096 rows timed,
    # scaled by the pair count), and of a merge of FANIN partials.
    tb = min(b, 4096)
    x = clustered(2 * tb, d, seed=3)
    _core._block_pair(x[:tb], 0, x[tb:], tb, k, "cosine", 1.0, None)
    t = time.perf_counter()
    part = _core._block_pair(x[:tb], 0, x[tb:], tb, k, "cosine", 1.0, None)
    pair_s = (time.perf_counter() - t) * (b / tb) ** 2
    t = time.perf_counter()
    for _ in range(nd.FANIN - 1):
        _core._merge(part[0], part[1], part[2], part[3])
    merge_s = (time.perf_counter() - t) * b / tb
    durations = {
        "block_pair": pair_s / args.scale,
        "merge": merge_s / args.scale,
        "scan": 0.0,
        "finish": 0.0,
    }
    t = time.perf_counter()
    dsk, keys, counts = stand_in_graph(args.rows, b, k, d, durations)
    build_s = time.perf_counter() - t
    tasks = len(dsk)
    graph_bytes = len(pickle.dumps(dsk, protocol=5))
    sleep_total = sum(durations.get(kind, 0.0) * c for kind, c in counts.items())
    threads = args.workers * args.threads
    print(
        f"graph of {args.rows:,} rows, block {b}: {tasks:,} tasks {counts}, "
        f"{graph_bytes / 2**20:.1f} MiB pickled, built in {build_s:.1f} s",
        flush=True,
    )
    print(
        f"measured: block pair {pair_s:.3f} s, merge of {nd.FANIN} {merge_s:.4f} s; "
        f"stand-ins sleep those / {args.scale:g}: {sleep_total:.0f} s of sleep on "
        f"{threads} threads = {sleep_total / threads:.1f} s ideal",
        flush=True,
    )
    lc, c = cluster(args.workers, args.threads)
    try:
        c.wait_for_workers(args.workers)
        import dask
        from distributed import wait

        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1 PiB"}):
            t = time.perf_counter()
            futures = c.get(dsk, keys, sync=False)
            submit_s = time.perf_counter() - t
            wait(futures)
        wall = time.perf_counter() - t
    finally:
        c.close()
        lc.close()
    overhead = (wall - sleep_total / threads) / tasks
    out = {
        "rows": args.rows,
        "block": b,
        "d": d,
        "k": k,
        "tasks": tasks,
        "task_counts": counts,
        "graph_pickled_mib": graph_bytes / 2**20,
        "build_s": build_s,
        "submit_s": submit_s,
        "wall_s": wall,
        "measured_pair_s": pair_s,
        "measured_merge_s": merge_s,
        "scale": args.scale,
        "sleep_s": sleep_total,
        "threads": threads,
        "overhead_per_task_ms": overhead * 1e3,
        "scheduler_share_of_real_run": overhead * tasks / (sleep_total * args.scale / threads),
    }
    print(
        f"ran in {wall:.1f} s (submit {submit_s:.1f} s) on {args.workers} workers x "
        f"{args.threads} threads: scheduler overhead {overhead * 1e3:.3f} ms per task; "
        f"on the real run ({sleep_total * args.scale / threads / 3600:.1f} h on {threads} "
        f"cores) that is {100 * out['scheduler_share_of_real_run']:.2f} %"
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("knn", help="1 vs 2 workers against nnoverlap.knn(threads=2)")
    a.add_argument("--n", type=int, default=100_000)
    a.add_argument("--d", type=int, default=300)
    a.add_argument("--k", type=int, default=10)
    a.add_argument("--block", type=int, default=0, help="0: nd.default_block")
    a.add_argument("--repeats", type=int, default=1)
    s = sub.add_parser("scheduler", help="the 10^7-row task graph with stand-in sleep tasks")
    s.add_argument("--rows", type=int, default=10_000_000)
    s.add_argument("--block", type=int, default=16384)
    s.add_argument("--d", type=int, default=300)
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--scale", type=float, default=2000.0, help="tile time divided by this")
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--threads", type=int, default=4, help="threads per worker (tasks sleep)")
    for q in (a, s):
        q.add_argument("--json", type=Path, help="write the numbers here")
    args = p.parse_args(argv)
    out = bench_knn(args) if args.what == "knn" else bench_scheduler(args)
    out["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
