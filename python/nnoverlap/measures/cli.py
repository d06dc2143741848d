"""``nnoverlap matrix``: the m x m matrix of a measure over several embeddings of the same
vocabulary (or, with ``--layers``, the layer x layer matrix of two models)."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from .. import _api
from .catalog import MEASURES
from .many import compare_many

__all__ = ["add_matrix_parser"]


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _measures(text: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    for m in names:
        if m not in MEASURES:
            raise argparse.ArgumentTypeError(
                f"unknown measure {m!r}; expected some of {', '.join(MEASURES)}"
            )
    if not names:
        raise argparse.ArgumentTypeError("--measures needs at least one measure")
    return names


def add_matrix_parser(sub: Any) -> None:
    """Adds ``nnoverlap matrix`` to the command line's sub-commands."""
    p = sub.add_parser(
        "matrix",
        help="m x m matrix of neighbourhood measures over several embeddings of one vocabulary",
        description=(
            "Finds each embedding's neighbours once and prints the matrix of each measure "
            "(row = A for asymmetric measures). Embedding files are aligned to the words all "
            "of them have, in the first file's order. With --layers, exactly two .npy files of "
            "shape (layers, n, d), rows the same items: the layer x layer matrix and its maximum."
        ),
    )
    p.add_argument(
        "files", metavar="FILE", nargs="+", help="embedding files (or .npy with --layers)"
    )
    p.add_argument("--layers", action="store_true", help="two (layers, n, d) .npy files")
    p.add_argument("-k", type=_positive, default=10, help="neighbours per item (default 10)")
    p.add_argument(
        "--measures",
        type=_measures,
        default=["mnno"],
        metavar="LIST",
        help="comma-separated measures (default mnno)",
    )
    p.add_argument("--metric", choices=_api.METRICS, default="cosine")
    p.add_argument("--null", type=_positive, default=None, metavar="P", help="permutations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=_positive, default=None, metavar="N", help="first N rows")
    p.add_argument("--threads", type=_positive, default=None)
    p.add_argument("--json", metavar="FILE", help="write the matrices as JSON")
    p.add_argument("--plot", metavar="DIR", help="write a heatmap PNG per measure (matplotlib)")
    p.set_defaults(func=run_matrix)


def _sets(args: argparse.Namespace) -> tuple[list[Any], list[Any] | None, list[str], list[str]]:
    from ..io import load

    if args.layers:
        if len(args.files) != 2:
            raise ValueError(f"--layers compares exactly two files, got {len(args.files)}")
        stacks = []
        for path in args.files:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if arr.ndim != 3:
                raise ValueError(f"{path}: expected shape (layers, n, d), got {arr.shape}")
            stacks.append(arr[:, : args.limit] if args.limit else arr)
        a, b = stacks
        la = [f"A{i}" for i in range(a.shape[0])]
        lb = [f"B{i}" for i in range(b.shape[0])]
        return list(a), list(b), la, lb
    if len(args.files) < 2:
        raise ValueError("matrix needs at least two embedding files")
    embs = [load(path, limit=args.limit, threads=args.threads) for path in args.files]
    common = set(embs[0].words)
    for e in embs[1:]:
        common &= set(e.words)
    words = [w for w in embs[0].words if w in common]
    if len(words) < 2:
        raise ValueError(f"the files share {len(words)} words; at least 2 are needed")
    sets = []
    for e in embs:
        index = {w: i for i, w in enumerate(e.words)}
        sets.append(np.asarray(e.vectors)[[index[w] for w in words]])
    names = [str(p) for p in args.files]
    print(f"aligned: {len(words):,} words in all {len(embs)} files, in the first file's order")
    return sets, None, names, names


def run_matrix(args: argparse.Namespace) -> int:
    rows, cols, rnames, cnames = _sets(args)
    res = compare_many(
        rows,
        cols,
        k=args.k,
        measures=args.measures,
        metric=args.metric,
        threads=args.threads,
        null=args.null,
        seed=args.seed,
    )
    width = max(len(n) for n in rnames) + 2
    out: dict[str, Any] = {"k": args.k, "n": res.n, "rows": rnames, "cols": cnames}
    for name in args.measures:
        v = res.values[name]
        print(f"\n{name} at k = {args.k} (n = {res.n:,}; row = A)")
        print(" " * width + "".join(f"{j:>12}" for j in range(v.shape[1])))
        for i, rn in enumerate(rnames):
            cells = "".join(f"{v[i, j]:12.4f}" for j in range(v.shape[1]))
            print(f"{rn[-width + 2 :]:<{width}}{cells}")
        for j, cn in enumerate(cnames):
            print(f"  column {j}: {cn}")
        best, (bi, bj) = res.best(name)
        print(f"max {best:.4f} at ({rnames[bi]}, {cnames[bj]})")
        entry: dict[str, Any] = {"values": v.tolist(), "max": best, "argmax": [bi, bj]}
        if args.null:
            entry["p"] = res.p[name].tolist()
            entry["calibrated"] = res.calibrated[name].tolist()
            print(f"permutation p (P = {args.null}), max over pairs: {res.p[name].max():.4g}")
        out[name] = entry
        if args.plot:
            _heatmap(v, name, args, rnames, cnames)
    if args.json:
        from ..report import json_text

        with open(args.json, "w", encoding="utf-8") as f:
            f.write(json_text(out))
    return 0


def _heatmap(
    v: np.ndarray, name: str, args: argparse.Namespace, rnames: list[str], cnames: list[str]
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install nnoverlap[plot]") from None
    from pathlib import Path

    out = Path(args.plot)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1 + 0.6 * v.shape[1], 1 + 0.6 * v.shape[0]))
    im = ax.imshow(v, cmap="viridis")
    ax.set_xticks(range(len(cnames)), [c[-12:] for c in cnames], rotation=90)
    ax.set_yticks(range(len(rnames)), [r[-12:] for r in rnames])
    ax.set_title(f"{name}, k = {args.k}")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(out / f"matrix_{name}.png", dpi=120)
    plt.close(fig)
