"""The neighbourhood measures side by side with the implementations the field uses.

Each case prints same-run ratios (the machine is shared and noisy: compare ratios, not
seconds); the peers run in the same process, one after the other, alternating over repeats.

    python benches/bench_measures.py --quick          # small sizes, a few minutes
    python benches/bench_measures.py                  # the sizes of issue 10
    python benches/bench_measures.py --case rankpass --n 100000

Cases:
  tnc       trustworthiness + continuity at k = 10 (n = 10,000, d = 300) vs sklearn's
            ``trustworthiness`` called both ways (it needs ~3 n^2 float64)
  rankpass  the rank-count pass vs a self-join k-NN pass on the same set (n = 100,000, d = 300)
  many      compare_many of 12 sets of 10,000 vs the 12 neighbour passes alone, and the
            platonic-rep style (every pair recomputes both lists; timed on 3 pairs, scaled to 66)
  cknna     cknna at n = 50,000 from the lists (platonic-rep's needs several n x n float
            matrices: about 40 GB at 50,000, so it is not run)
  rnxauc    the exact R_NX AUC at n = 10,000 (for its docstring)
  big       trustworthiness + continuity at n = 200,000 (sklearn would need ~960 GB)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

import nnoverlap as nno
from nnoverlap.measures.lists import Pair
from nnoverlap.measures.primitives import rank_counts


def clustered(n: int, d: int, seed: int, centres: int = 100) -> np.ndarray:
    """A Gaussian mixture (the benchmark data of bench_knn.py)."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, d)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.5 * rng.normal(size=(n, d)).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def embedding(x: np.ndarray, d_out: int, seed: int) -> np.ndarray:
    """A lossy view of x: a random projection plus noise."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(x.shape[1], d_out)).astype(np.float32) / np.sqrt(x.shape[1])
    y = x @ p + 0.3 * rng.normal(size=(x.shape[0], d_out)).astype(np.float32)
    return np.ascontiguousarray(y, dtype=np.float32)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def best_of(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, alternating between them on each repeat."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn)[0])
    return {name: statistics.median(v) for name, v in times.items()}


def report(case: str, t: dict[str, float], base: str) -> None:
    for name, s in t.items():
        print(f"{case:<9} {name:<34} {s:9.3f} s   x{s / t[base]:7.2f} of {base}")
    sys.stdout.flush()


def case_tnc(n: int, repeats: int) -> None:
    from sklearn.manifold import trustworthiness

    X = clustered(n, 300, 0)
    Y = embedding(X, 50, 1)
    Xd, Yd = X.astype(np.float64), Y.astype(np.float64)
    ours = nno.trustworthiness(X, Y, k=10, metric="l2"), nno.continuity(X, Y, k=10, metric="l2")
    theirs = trustworthiness(Xd, Yd, n_neighbors=10), trustworthiness(Yd, Xd, n_neighbors=10)
    print(f"tnc       values: nnoverlap {ours}, sklearn {theirs}")
    both = ["trustworthiness", "continuity"]
    t = best_of(
        {
            # one k-NN pass per set, one rank-count pass per set
            "nnoverlap trust+cont (float32)": lambda: nno.measure(
                X, Y, k=10, measures=both, metric="l2"
            ),
            "sklearn trustworthiness x2": lambda: (
                trustworthiness(Xd, Yd, n_neighbors=10),
                trustworthiness(Yd, Xd, n_neighbors=10),
            ),
        },
        repeats,
    )
    report("tnc", t, "nnoverlap trust+cont (float32)")


def case_rankpass(n: int, repeats: int) -> None:
    X = clustered(n, 300, 2)
    Y = embedding(X, 50, 3)
    nx, ny = nno.neighbors(X, k=10, metric="l2"), nno.neighbors(Y, k=10, metric="l2")
    p = Pair.build(nx, ny, 10)
    chosen = np.where(p.pos >= 0, -1, ny.indices)
    print(f"rankpass  n = {n}: {int((chosen >= 0).sum())} chosen pairs of {chosen.size}")
    t = best_of(
        {
            "knn self-join pass (k = 10)": lambda: nno.knn(X, k=10, metric="l2"),
            "rank-count pass": lambda: rank_counts(X, chosen, "l2"),
        },
        repeats,
    )
    report("rankpass", t, "knn self-join pass (k = 10)")


def case_many(n: int, m: int, repeats: int) -> None:
    base = clustered(n, 300, 4)
    sets = [embedding(base, 64, 10 + i) for i in range(m)]

    def passes() -> None:
        for s in sets:
            nno.knn(s, k=10)

    def many() -> None:
        nno.compare_many(sets, k=10, measures=["mnno", "jaccard", "cknna"])

    def platonic_style_three_pairs() -> None:
        for i, j in [(0, 1), (2, 3), (4, 5)]:
            nno.mutual_knn(sets[i], sets[j], k=10)
            nno.jaccard(sets[i], sets[j], k=10)
            nno.cknna(sets[i], sets[j], k=10)

    t = best_of({"12 knn passes": passes, "compare_many (3 measures)": many}, repeats)
    tp, _ = timed(platonic_style_three_pairs)
    pairs = m * (m - 1) // 2
    t[f"recompute per pair (3 of {pairs}, scaled)"] = tp * pairs / 3
    report("many", t, "12 knn passes")


def case_cknna(n: int) -> None:
    A = clustered(n, 300, 5)
    B = embedding(A, 100, 6)
    s, v = timed(lambda: nno.cknna(A, B, k=10))
    sk, _ = timed(lambda: (nno.knn(A, k=10), nno.knn(B, k=10)))
    print(f"cknna     n = {n}: cknna {v:.4f} in {s:.2f} s; the two knn passes alone {sk:.2f} s")


def case_rnxauc(n: int) -> None:
    A = clustered(n, 300, 7)
    B = embedding(A, 50, 8)
    s, v = timed(lambda: nno.rnx_auc(A, B))
    print(f"rnxauc    n = {n}, d = 300: exact R_NX AUC {v:.4f} in {s:.2f} s")


def case_big(n: int) -> None:
    X = clustered(n, 300, 9)
    Y = embedding(X, 50, 10)
    both = ["trustworthiness", "continuity"]
    # one call, as a user would make it: the passes are shared between the two measures
    s, res = timed(lambda: nno.measure(X, Y, k=10, measures=both, metric="l2"))
    v = tuple(res[name, 10].value for name in both)
    sk, _ = timed(lambda: nno.knn(X, k=10, metric="l2"))
    print(
        f"big       n = {n}: trustworthiness, continuity = {v} in {s:.1f} s "
        f"(x{s / sk:.2f} of one k-NN self-join pass over X: {sk:.1f} s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--case", action="append", help="run only these cases")
    ap.add_argument("--n", type=int, help="override n of the chosen cases")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    q = a.quick
    cases = a.case or ["tnc", "rankpass", "many", "cknna", "rnxauc"]
    print(f"nnoverlap {nno.__version__}, kernel {nno._core.KERNEL}")
    for c in cases:
        if c == "tnc":
            case_tnc(a.n or (3000 if q else 10_000), a.repeats)
        elif c == "rankpass":
            case_rankpass(a.n or (20_000 if q else 100_000), a.repeats)
        elif c == "many":
            case_many(a.n or (2000 if q else 10_000), 12, a.repeats)
        elif c == "cknna":
            case_cknna(a.n or (10_000 if q else 50_000))
        elif c == "rnxauc":
            case_rnxauc(a.n or (3000 if q else 10_000))
        elif c == "big":
            case_big(a.n or 200_000)
        else:
            raise SystemExit(f"unknown case {c!r}")


if __name__ == "__main__":
    main()
