"""Projected speed of an exact screened self-join from measured parts (docs/screening.md).

Runs the microbenchmark (benches/screen_microbench: one thread, tile rates of f32 FMA, int8
VNNI and bf16, and the cost of recomputing a survivor exactly), measures numpy's sgemm on one
thread in the same run (thread CPU time, as the microbenchmark), reads the survivor fractions
of benches/screen_survivors.py (--survivors JSON) and prints, per set, k and quantisation:

    cost per pair, in f32-tile pairs = R32 / Rq + survivors * c_recompute / c_f32_pair

for three ways to recompute (scattered pairs gathered: ``pair``; isolated 1 x 16 micro-tile
row segments with their B panel in L1: ``seg``; segments batched into full-rate tiles, the
ideal: ``ideal``; the measured screened tile at the survivor fraction: ``tile``; two passes
with warm thresholds: ``warm``), the speed-up over the f32 tile (1 / cost) and over the
same-run sgemm (that times R32 / R_sgemm).

    cargo build --release --manifest-path benches/screen_microbench/Cargo.toml
    OPENBLAS_NUM_THREADS=1 python benches/screen_projection.py \
        --survivors benches/results/screen_survivors.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
BIN = HERE / "screen_microbench" / "target" / "release" / "screen_microbench"


def sgemm_rate(d: int, n: int = 4096, min_s: float = 0.3) -> float:
    """numpy float32 matmul (n x d) @ (d x n), multiply-adds per second (G/s), CPU time."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, d), dtype=np.float32)
    b = rng.standard_normal((n, d), dtype=np.float32)
    a @ b.T
    best = float("inf")
    for _ in range(3):
        reps, t = 0, 0.0
        t0 = time.thread_time()
        while t < min_s:
            a @ b.T
            reps += 1
            t = time.thread_time() - t0
        best = min(best, t / reps)
    return n * n * d / best / 1e9


def microbench() -> dict[int, dict]:
    if not BIN.exists():
        subprocess.run(
            ["cargo", "build", "--release", "--manifest-path", str(BIN.parents[2] / "Cargo.toml")],
            check=True,
        )
    out = subprocess.run([str(BIN)], check=True, capture_output=True, text=True).stdout
    print(out)
    rows = {
        r["d"]: r
        for r in (json.loads(line[5:]) for line in out.splitlines() if line.startswith("JSON "))
    }
    for line in out.splitlines():
        if line.startswith("SCREEN "):
            sc = json.loads(line[7:])
            rows[sc["d"]]["screen_p"] = sc["p"]
            rows[sc["d"]]["screen_speedup"] = sc["speedup"]
    return rows


def measured_cost(m: dict, p: float) -> float:
    """Cost per pair (f32-tile pairs) of the measured screened tile at survivor fraction p:
    linear in p between the measured points (1 / speed-up), extended linearly past them."""
    ps = np.array(m["screen_p"])
    cs = 1 / np.array(m["screen_speedup"])
    if p <= ps[-1]:
        return float(np.interp(p, ps, cs))
    slope = (cs[-1] - cs[-2]) / (ps[-1] - ps[-2])
    return float(cs[-1] + slope * (p - ps[-1]))


def extrapolated(alpha: float, n: int, block: int = 768) -> float:
    """Mean survivor fraction of a self-join of n rows when round r (r blocks seen) keeps
    min(1, alpha / (r * block)) of its pairs: the law the measured rounds follow."""
    rounds = max(1, n // block)
    r = np.arange(1, rounds + 1)
    return float(np.minimum(1.0, alpha / (r * block)).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--survivors", type=Path, default=HERE / "results" / "screen_survivors.json")
    p.add_argument("--json", type=Path)
    p.add_argument("--n-large", type=int, default=1_000_000, help="extrapolate to this n")
    a = p.parse_args()
    mb = microbench()
    sg = {d: sgemm_rate(d) for d in mb}
    print("same-run sgemm, one thread (G multiply-adds/s):")
    for d in mb:
        f32 = mb[d]["f32"]
        print(f"  d={d:4}  sgemm {sg[d]:6.1f}   f32 tile {f32:6.1f} ({f32 / sg[d]:.2f}x sgemm)")
    surv = json.loads(a.survivors.read_text())
    print(
        "\nint8 screen: cost per pair in f32-tile pairs (seg: composed from isolated segment"
        "\nrecomputes; ideal: segments batched at tile rate; tile: the measured screened tile at"
        "\nthe pair survivor fraction) and effective speed over the same-run sgemm (x sgemm)"
    )
    print(
        f"{'set':16} {'d':>4} {'k':>4} surv   seg16 |  seg ideal  tile | x sgemm: seg ideal"
        f"  tile | n={a.n_large:,}: surv   seg16 x sgemm: seg ideal  tile |"
        " warm: surv  tile x sgemm, n, large n"
    )
    table = []
    nb_l = a.n_large // 768
    for name, r in surv.items():
        if "block" not in r:
            continue
        d = r["d"]
        md = min(mb, key=lambda x: abs(x - d))  # nearest measured d
        m = mb[md]
        c32 = md / m["f32"]  # ns per f32 tile pair
        ratio = m["f32"] / sg[md]
        for q in r["results"]:
            if q["quant"] != "int8":
                continue  # bf16 is slower than f32 here (see the microbenchmark)
            base = m["f32"] / m["int8"]
            # Round 0 (the diagonal tiles, 1/nb of the pairs) runs in f32 at cost 1.
            diag, rest = 1 / r["nb"], 1 - 1 / r["nb"]
            seg = diag + rest * (base + q["seg16"] * m["segment_l1_ns"] / c32)
            ideal = diag + rest * (base + q["seg16"])
            meas = diag + rest * measured_cost(m, q["evolving"])
            # Warm floors: a first int8-only pass (cost `base`) seeds each row's threshold
            # with a valid lower bound; the second pass then sees the "warm" fraction.
            warm = diag + rest * (base + measured_cost(m, q["warm"]))
            # At large n the warm (= about final) fraction falls as 1/n.
            warm_l = q["warm"] * r["n"] / a.n_large
            # Large n: 768-row blocks, the fractions extrapolated by their alpha.
            pair_l = extrapolated(q["alpha"], a.n_large)
            seg_l = extrapolated(q["alpha_seg16"], a.n_large)
            dl, rl = 1 / nb_l, 1 - 1 / nb_l
            seg_lc = dl + rl * (base + seg_l * m["segment_l1_ns"] / c32)
            ideal_lc = dl + rl * (base + seg_l)
            meas_lc = dl + rl * measured_cost(m, pair_l)
            warm_lc = dl + rl * (base + measured_cost(m, warm_l))
            row = {
                "set": name,
                "d": d,
                "d_measured": md,
                "k": q["k"],
                "quant": q["quant"],
                "evolving": q["evolving"],
                "seg16": q["seg16"],
                "cost_seg": seg,
                "cost_ideal": ideal,
                "cost_tile": meas,
                "f32_tile_vs_sgemm": ratio,
                "vs_sgemm_seg": ratio / seg,
                "vs_sgemm_ideal": ratio / ideal,
                "vs_sgemm_tile": ratio / meas,
                "large_n": a.n_large,
                "large_pairs": pair_l,
                "large_seg16": seg_l,
                "large_vs_sgemm_seg": ratio / seg_lc,
                "large_vs_sgemm_ideal": ratio / ideal_lc,
                "large_vs_sgemm_tile": ratio / meas_lc,
                "warm": q["warm"],
                "cost_warm": warm,
                "vs_sgemm_warm": ratio / warm,
                "large_warm": warm_l,
                "large_vs_sgemm_warm": ratio / warm_lc,
            }
            table.append(row)
            print(
                f"{name:16} {d:4} {q['k']:4} {q['evolving']:.4f} {q['seg16']:.3f} |"
                f" {seg:5.2f} {ideal:5.2f} {meas:5.2f} |"
                f"         {ratio / seg:5.2f} {ratio / ideal:5.2f} {ratio / meas:5.2f} |"
                f"          {pair_l:.5f} {seg_l:.4f}         {ratio / seg_lc:5.2f}"
                f" {ratio / ideal_lc:5.2f} {ratio / meas_lc:5.2f} |"
                f"  {q['warm']:.4f} {warm:5.2f}   {ratio / warm:5.2f}  {ratio / warm_lc:5.2f}"
            )
    if a.json:
        a.json.write_text(json.dumps({"microbench": mb, "sgemm": sg, "table": table}, indent=1))


if __name__ == "__main__":
    main()
