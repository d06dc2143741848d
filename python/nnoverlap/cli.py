"""The ``nnoverlap`` command line (also ``python -m nnoverlap``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import _api
from .datasets import imagenet1k

DEMO_KS = (1, 5, 10, 50)


def _demo(args: argparse.Namespace) -> int:
    data = imagenet1k()
    n = data.visual.shape[0]
    print("nnoverlap demo: the 1,000 ImageNet classes in two modalities (bundled, real data)")
    print("  visual: EfficientNet-Lite0 classifier rows (1280-d)")
    print("  text:   all-MiniLM-L6-v2 embeddings of the class names (384-d)")
    print(f"  n = {n}, metric = {args.metric}, neighbours exact, self excluded\n")
    curve = _api.mnno(
        data.visual, data.minilm, k=list(DEMO_KS), metric=args.metric, threads=args.threads
    )
    print(f"{'k':>4}  {'mNNO':>7}  {'chance k/(n-1)':>14}  {'x chance':>8}")
    for k, value in zip(DEMO_KS, curve):
        c = _api.chance(n, k)
        print(f"{k:>4}  {value:7.4f}  {c:14.4f}  {value / c:8.1f}")
    print(
        "\nmNNO^k is the mean fraction of a class's k nearest classes (within its own modality)\n"
        "that both modalities agree on. 1 would mean identical neighbourhoods; chance is\n"
        "about k/(n-1). The two modalities agree far above chance, but far from fully."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnoverlap",
        description="Exact k-NN and nearest-neighbour overlap (mNNO) between embeddings.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compare the bundled ImageNet-1k visual and text sets")
    demo.add_argument("--metric", choices=_api.METRICS, default="cosine")
    demo.add_argument("--threads", type=int, default=None)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, OSError) as exc:
        print(f"nnoverlap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnoverlap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
