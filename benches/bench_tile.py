"""The self-join's rate against numpy's sgemm at the same d, in one process (issue 12).

For each (n, d): ``nnoverlap.knn(x, k, threads=t)`` on clustered unit rows, and numpy's
``x[:s] @ x[:s].T`` (s = min(n, 4096), the same inner dimension d) with the BLAS held to the
same thread count, alternating, best of ``--reps``. The self-join computes each pair once:
n(n-1)/2 pairs of d multiply-adds, n(n-1)d flops; the product 2 s^2 d flops. The machine is
shared: read the ratio, not the absolute times (``--cpu`` times CPU seconds, for one thread).

    python benches/bench_tile.py --threads 1
    python benches/bench_tile.py --threads 2 --case 10000x300 --case 30000x300
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--metric", default="cosine")
    ap.add_argument(
        "--cpu",
        action="store_true",
        help="time CPU seconds of the process (threads=1 on a shared machine) instead of wall",
    )
    ap.add_argument(
        "--case",
        action="append",
        help="NxD, repeatable (default 10000x300, 30000x300, 10000x50, 10000x768)",
    )
    args = ap.parse_args()
    t = str(args.threads)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = t
    import numpy as np

    import nnoverlap as nno
    from nnoverlap import _core

    clock = time.process_time if args.cpu else time.perf_counter
    cases = args.case or ["10000x300", "30000x300", "10000x50", "10000x768"]
    print(
        f"kernel {_core.KERNEL}; threads {args.threads}; k {args.k}; {args.dtype} {args.metric}; "
        f"{'cpu' if args.cpu else 'wall'} time"
    )
    print(f"{'case':>12} {'knn s':>8} {'GF/s':>7} {'gemm s':>8} {'GF/s':>7} {'% gemm':>7}")
    for case in cases:
        n, d = (int(v) for v in case.lower().split("x"))
        rng = np.random.default_rng(0)
        c = rng.normal(size=(100, d)).astype(np.float32)
        x = c[rng.integers(0, 100, n)] + 0.5 * rng.normal(size=(n, d)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x = np.ascontiguousarray(x, dtype=args.dtype)
        s = min(n, 4096)
        xs = x[:s].copy()
        xt = xs.T.copy()
        nno.knn(x[:2000], k=args.k, metric=args.metric, threads=args.threads)
        xs @ xt
        tk, tg = [], []
        for _ in range(args.reps):
            t0 = clock()
            nno.knn(x, k=args.k, metric=args.metric, threads=args.threads)
            tk.append(clock() - t0)
            t0 = clock()
            xs @ xt
            tg.append(clock() - t0)
        bk, bg = min(tk), min(tg)
        gk = n * (n - 1) * d / bk / 1e9
        gg = 2 * s * s * d / bg / 1e9
        print(f"{case:>12} {bk:8.3f} {gk:7.1f} {bg:8.3f} {gg:7.1f} {100 * gk / gg:6.1f}%")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
