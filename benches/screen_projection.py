"""Projected speed of an exact screened self-join from measured parts (docs/screening.md).

Runs the microbenchmark (benches/screen_microbench: one thread, tile rates of f32 FMA, int8
VNNI and bf16, and the cost of recomputing a survivor exactly), measures numpy's sgemm on one
thread in the same run (thread CPU time, as the microbenchmark), reads the survivor fractions
of benches/screen_survivors.py (--survivors JSON) and prints, per set, k and quantisation:

    cost per pair, in f32-tile pairs = R32 / Rq + survivors * c_recompute / c_f32_pair

for three ways to recompute (scattered pairs gathered: ``pair``; isolated 1 x 16 micro-tile
row segments with their B panel in L1: ``seg``; segments batched into full-rate tiles, the
ideal: ``ideal``), the speed-up over the f32 tile (1 / cost) and over the same-run sgemm
(that times R32 / R_sgemm).

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
    rows = [json.loads(line[5:]) for line in out.splitlines() if line.startswith("JSON ")]
    return {r["d"]: r for r in rows}


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
        "\nset               d    k quant  evolving  seg16 | cost pair   seg ideal |"
        " speed-up vs f32 tile (seg, ideal) | vs sgemm (seg, ideal) |"
        f" n={a.n_large:,}: seg16, vs sgemm (seg, ideal)"
    )
    table = []
    for name, r in surv.items():
        if "block" not in r:
            continue
        d = r["d"]
        md = min(mb, key=lambda x: abs(x - d))  # nearest measured d
        m = mb[md]
        c32 = md / m["f32"]  # ns per f32 tile pair
        for q in r["results"]:
            if q["quant"] != "int8":
                continue  # bf16 is slower than f32 here (see the microbenchmark)
            base = m["f32"] / m["int8"]
            # Round 0 (the diagonal tiles, 1/nb of the pairs) runs in f32 at cost 1.
            diag = 1 / r["nb"]
            rest = 1 - diag
            pair = diag + rest * (base + q["evolving"] * m["gather_ns"] / c32)
            seg = diag + rest * (base + q["seg16"] * m["segment_l1_ns"] / c32)
            ideal = diag + rest * (base + q["seg16"])
            ratio = m["f32"] / sg[md]
            # Large n: 768-row blocks, the seg16 fraction extrapolated by its alpha.
            nb_l = a.n_large // 768
            seg_l = extrapolated(q["alpha_seg16"], a.n_large)
            cost_l = 1 / nb_l + (1 - 1 / nb_l) * (base + seg_l * m["segment_l1_ns"] / c32)
            ideal_l = 1 / nb_l + (1 - 1 / nb_l) * (base + seg_l)
            row = {
                "set": name,
                "d": d,
                "k": q["k"],
                "quant": q["quant"],
                "evolving": q["evolving"],
                "seg16": q["seg16"],
                "cost_pair": pair,
                "cost_seg": seg,
                "cost_ideal": ideal,
                "speedup_seg": 1 / seg,
                "speedup_ideal": 1 / ideal,
                "vs_sgemm_seg": ratio / seg,
                "vs_sgemm_ideal": ratio / ideal,
                "large_n": a.n_large,
                "large_seg16": seg_l,
                "large_vs_sgemm_seg": ratio / cost_l,
                "large_vs_sgemm_ideal": ratio / ideal_l,
            }
            table.append(row)
            print(
                f"{name:16} {d:4} {q['k']:4} {q['quant']:5}  {q['evolving']:.4f}  "
                f"{q['seg16']:.3f} | {pair:6.2f} {seg:5.2f} {ideal:5.2f} |"
                f"      {1 / seg:5.2f}  {1 / ideal:5.2f}               |"
                f"   {ratio / seg:5.2f}  {ratio / ideal:5.2f}       |"
                f"  {seg_l:.4f}  {ratio / cost_l:5.2f}  {ratio / ideal_l:5.2f}"
            )
    if a.json:
        a.json.write_text(json.dumps({"microbench": mb, "sgemm": sg, "table": table}, indent=1))


if __name__ == "__main__":
    main()
