"""The vocabulary commands of the ``nnoverlap`` command line: ``compare``, ``neighbors`` and
``demo`` (``compare`` on the real data bundled with the package).

Errors are raised as ``ValueError`` / ``OSError``; ``cli.main`` prints them on stderr and
exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import textwrap
import time
from collections import Counter
from typing import Any

import numpy as np

from . import _api, _progress
from .datasets import imagenet1k
from .io import FORMATS, Embeddings, load
from .report import Comparison, compare, write_plots

DEFAULT_KS = (1, 5, 10, 50)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-k",
        type=_positive,
        nargs="+",
        default=list(DEFAULT_KS),
        metavar="K",
        help="neighbourhood sizes (default: 1 5 10 50)",
    )
    p.add_argument("--metric", choices=_api.METRICS, default="cosine")
    p.add_argument("--json", metavar="FILE", help="write the summary as JSON")
    p.add_argument("--csv", metavar="FILE", help="write each word's overlap at each k as CSV")
    p.add_argument(
        "--plot",
        metavar="DIR",
        help="write plots (PNG) and the data behind them (CSV); needs matplotlib",
    )
    p.add_argument(
        "--show",
        type=_positive,
        default=5,
        metavar="N",
        help="words shown whose neighbourhoods agree least and most (default 5)",
    )
    p.add_argument("--threads", type=_positive, default=None, help="worker threads (default: all)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes")


def add_commands(sub: Any) -> None:
    """Adds ``compare`` and ``neighbors`` to the sub-command parsers of the CLI."""
    p = sub.add_parser(
        "compare",
        help="compare the neighbourhoods of two embedding files on their shared words",
        description="Load two embedding files, align them on their shared words (in A's order) "
        "and compute the exact mean nearest-neighbour overlap mNNO at each k, beside the chance "
        "level k/(n-1), with the words whose neighbourhoods agree least and most.",
    )
    p.add_argument(
        "a",
        metavar="A",
        help="embedding file (word2vec text/binary, GloVe, "
        "fastText .vec, or .npy with <name>.words.txt)",
    )
    p.add_argument("b", metavar="B", help="embedding file")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="format of both files (default: detected from the content)",
    )
    p.add_argument(
        "--limit",
        type=_positive,
        default=None,
        metavar="N",
        help="read only the first N rows of each file",
    )
    _add_output_args(p)
    where = p.add_mutually_exclusive_group()  # nnoverlap.distributed.session
    where.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="compute the neighbours on the Dask scheduler at ADDR (tcp://host:8786); "
        'needs pip install "nnoverlap[dask]"',
    )
    where.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="compute the neighbours on a local Dask cluster of N worker processes",
    )
    p.set_defaults(func=run_compare)

    p = sub.add_parser("neighbors", help="a word's nearest neighbours in an embedding file")
    p.add_argument("file", metavar="FILE")
    p.add_argument("word", metavar="WORD")
    p.add_argument("-k", type=_positive, default=10, help="neighbours to show (default 10)")
    p.add_argument("--metric", choices=_api.METRICS, default="cosine")
    p.add_argument("--format", choices=FORMATS, default=None)
    p.add_argument("--limit", type=_positive, default=None, metavar="N")
    p.add_argument("--threads", type=_positive, default=None)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run_neighbors)


def add_demo_args(p: argparse.ArgumentParser) -> None:
    _add_output_args(p)
    p.set_defaults(func=run_demo)


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        sys.stdout.flush()
        print(text, file=sys.stderr)


def _width() -> int:
    """Report width: the terminal's, or 120 when printing to a file or pipe."""
    if sys.stdout.isatty():
        return max(60, shutil.get_terminal_size().columns - 1)
    return 120


def _load(path: str, args: argparse.Namespace, bars: bool) -> Embeddings:
    t = time.perf_counter()
    with _progress.Bar(f"reading {path}", bars) as bar:
        e = load(path, format=args.format, limit=args.limit, threads=args.threads, progress=bar)
    _note(
        args,
        f"read {path}: {len(e):,} words x {e.dim} ({e.format}) in {time.perf_counter() - t:.2f} s",
    )
    return e


def _run(a: Embeddings, b: Embeddings, args: argparse.Namespace, bars: bool) -> Comparison:
    t = time.perf_counter()
    with contextlib.ExitStack() as stack:
        knn = None
        if getattr(args, "scheduler", None) or getattr(args, "workers", None):
            from .distributed import session

            knn = stack.enter_context(session(args.scheduler, args.workers))
        pa = stack.enter_context(_progress.Bar("k-NN of A", bars))
        pb = stack.enter_context(_progress.Bar("k-NN of B", bars))
        result = compare(
            a,
            b,
            args.k,
            metric=args.metric,
            threads=args.threads,
            progress_a=pa,
            progress_b=pb,
            knn=knn,
        )
    _note(args, f"neighbours of {result.n:,} words computed in {time.perf_counter() - t:.2f} s")
    return result


def _outputs(result: Comparison, args: argparse.Namespace) -> None:
    print(result.format_text(show=args.show, width=_width()))
    if args.json:
        result.write_json(args.json, show=max(args.show, 10))
        _note(args, f"wrote {args.json}")
    if args.csv:
        result.write_csv(args.csv)
        _note(args, f"wrote {args.csv}")
    if args.plot:
        files = write_plots(result, args.plot)
        _note(args, f"wrote {len(files)} files to {args.plot}: " + ", ".join(f.name for f in files))


def run_compare(args: argparse.Namespace) -> int:
    bars = _progress.wanted(args.quiet)
    a = _load(args.a, args, bars)
    b = _load(args.b, args, bars)
    _outputs(_run(a, b, args, bars), args)
    return 0


def run_neighbors(args: argparse.Namespace) -> int:
    bars = _progress.wanted(args.quiet)
    e = _load(args.file, args, bars)
    if args.word not in e:
        folded = [w for w in e.words if w.casefold() == args.word.casefold()][:5]
        hint = f"; did you mean {', '.join(map(repr, folded))}?" if folded else ""
        raise ValueError(f"{args.word!r} is not among the {len(e):,} words of {args.file}{hint}")
    i = e.index(args.word)
    vectors = e.vectors
    keep = np.arange(len(e))
    if args.metric == "cosine":
        nonzero = vectors.any(axis=1)
        if not nonzero[i]:
            raise ValueError(f"the vector of {args.word!r} is all zeros: cosine is undefined")
        if not nonzero.all():
            keep = np.flatnonzero(nonzero)
            _note(args, f"left out {len(e) - keep.size} words whose vector is all zeros")
    base = vectors[keep] if keep.size < len(e) else vectors
    k = min(args.k + 1, base.shape[0])
    with _progress.Bar("searching", bars) as bar:
        scores, idx = _api.knn(
            vectors[i : i + 1], k, base=base, metric=args.metric, threads=args.threads, progress=bar
        )
    found = [(int(keep[j]), float(s)) for j, s in zip(idx[0], scores[0]) if keep[j] != i]
    found = found[: args.k]
    score = {"cosine": "cosine", "ip": "inner product", "l2": "distance"}[args.metric]
    print(
        f"nearest neighbours of {args.word!r} in {args.file} "
        f"({len(e):,} words x {e.dim}, {args.metric}):"
    )
    width = max([4] + [len(e.words[j]) for j, _ in found])
    print(f"  {'rank':>4}  {'word':<{width}}  {score}")
    for r, (j, s) in enumerate(found, 1):
        print(f"  {r:>4}  {e.words[j]:<{width}}  {s:.4f}")
    return 0


def imagenet_pair() -> tuple[Embeddings, Embeddings]:
    """The bundled ImageNet-1k pair as Embeddings: visual and MiniLM text vectors of the 1,000
    classes, with the class names as words (a WordNet id is added to the two names that two
    classes share: crane, maillot)."""
    data = imagenet1k()
    repeats = Counter(data.names)
    words = [n if repeats[n] == 1 else f"{n} ({w})" for n, w in zip(data.names, data.wnids)]
    visual = Embeddings(
        words,
        data.visual,
        path="ImageNet-1k visual: EfficientNet-Lite0 classifier rows",
        format="bundled",
    )
    text = Embeddings(
        words, data.minilm, path="ImageNet-1k text: all-MiniLM-L6-v2 class names", format="bundled"
    )
    return visual, text


def run_demo(args: argparse.Namespace) -> int:
    print("nnoverlap demo: `nnoverlap compare` on real data bundled with the package: the 1,000")
    print("ImageNet classes as seen by a vision model and by a text model.\n")
    visual, text = imagenet_pair()
    result = _run(visual, text, args, _progress.wanted(args.quiet))
    _outputs(result, args)
    k = result.focus_k
    m = float(result.mnno[result.ks.index(k)])
    times = m / (k / (result.n - 1))
    text = (
        "What the numbers mean: mNNO^k is the mean share of each class's k nearest classes "
        "(found within each model separately) that the two models have in common. It is 1 for "
        f"identical neighbourhoods and about k/(n-1) by chance. At k={k} the vision and text "
        f"models share {m:.0%} of each class's neighbours, {times:.0f} times chance: far more "
        "than by accident, yet most neighbourhoods differ."
    )
    print("\n" + textwrap.fill(text, width=88))
    print("Compare your own files: nnoverlap compare A B -k 1 5 10 50 [--plot DIR]")
    return 0
