"""The vocabulary commands of the ``nnoverlap`` command line: ``compare``, ``neighbors`` and
``demo`` (``compare`` on the real data bundled with the package).

Every command checks what it can before it loads anything: the input files exist, each output
path (``--json``, ``--csv``, ``--plot``) can be written, matplotlib is there for ``--plot``.
Errors are raised as :class:`UsageError` (or ``ValueError`` / ``OSError``); ``cli.main`` prints
them on one line on stderr and exits with status 2. Advice in the library's messages names
Python keyword arguments (``duplicates="first"``); :func:`cli_advice` rewrites it into the
flags of the command line (``--duplicates first``).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import re
import shutil
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from . import _api, _progress
from .datasets import imagenet1k
from .io import FORMATS, Embeddings, load
from .measures.catalog import MEASURES
from .measures.compare import compare_measures, measures_arg
from .report import (
    Comparison,
    _bad_rows,
    _words,
    _words_text,
    check_output_dir,
    check_output_file,
    compare,
    require_matplotlib,
    skipped_plots,
    write_plots,
)

DEFAULT_KS = (1, 5, 10, 50)


class UsageError(Exception):
    """Bad usage or bad input, with a one-line reason; the CLI exits with status 2."""


# --- advice in CLI terms -----------------------------------------------------------------------

_Q = "[\"']"
_ADVICE: list[tuple[str, str]] = [
    (rf"errors={_Q}(\w+){_Q}", r"--errors \1"),
    (rf"duplicates={_Q}(\w+){_Q}\s+or\s+{_Q}(\w+){_Q}", r"--duplicates \1 or --duplicates \2"),
    (rf"duplicates={_Q}(\w+){_Q}", r"--duplicates \1"),
    (rf"metric={_Q}(\w+){_Q}\s+or\s+{_Q}(\w+){_Q}", r"--metric \1 or --metric \2"),
    (rf"metric={_Q}(\w+){_Q}", r"--metric \1"),
    (rf"format={_Q}([\w-]+){_Q}", r"--format \1"),
    (r"\bdrop_nonfinite=True", "--drop-nonfinite"),
    (r"\bdrop_zero=True", "--drop-zero"),
    (r"\bdrop the row, or use\b", "pass --drop-zero to leave such words out, or use"),
    (r"\bpass float64\b", "pass --dtype float64"),
    (r"\blimit=", "--limit "),
    (r"\bthreads=", "--threads "),
    (r"\bfrequency_order=True", "--frequency-order yes"),
    (r"\bk = (\d+) needs\b", r"-k \1 needs"),
    (r"\bonly k = 1 was computed", "only -k 1 was given (e.g. -k 1 10 50 draws it)"),
]


def cli_advice(message: str, words_flag: str = "--words") -> str:
    """The library's advice in command-line terms, on one line.

    >>> cli_advice('duplicate word "cat"; read with duplicates="first" or "last" to keep one')
    'duplicate word "cat"; read with --duplicates first or --duplicates last to keep one'
    >>> cli_advice("read from x.words.txt beside it, or from the file given as words=", "--words-b")
    'read from x.words.txt beside it, or from the file given with --words-b'
    """
    text = " ".join(str(message).split("\n"))
    for pattern, repl in _ADVICE:
        text = re.sub(pattern, repl, text)
    text = re.sub(r"\bthe file given as words=", f"the file given with {words_flag}", text)
    return re.sub(r"\bwords=", f"{words_flag} ", text)


def error_text(exc: BaseException, words_flag: str = "--words") -> str:
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return cli_advice(str(exc), words_flag)


# --- arguments ---------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _add_output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-k",
        type=_positive,
        nargs="+",
        default=list(DEFAULT_KS),
        metavar="K",
        help="neighbourhood sizes; one neighbour search at the largest serves all "
        "(default: 1 5 10 50)",
    )
    p.add_argument(
        "--metric",
        choices=_api.METRICS,
        default="cosine",
        help="cosine similarity (default), inner product or Euclidean distance",
    )
    p.add_argument("--json", metavar="FILE", help="write the summary as JSON")
    p.add_argument("--csv", metavar="FILE", help="write each word's overlap at each k as CSV")
    p.add_argument(
        "--plot",
        metavar="DIR",
        help="write plots (PNG) and the data behind them (CSV) into DIR, created if needed; "
        'needs matplotlib (pip install "nnoverlap[plot]")',
    )
    p.add_argument(
        "--frequency-order",
        choices=("auto", "yes", "no"),
        default="auto",
        help="whether A's rows are in frequency order, for the overlap-against-frequency plot "
        "(auto: yes for word2vec, GloVe and fastText files, whose tools write words from most "
        "to least frequent; no for .npy and others)",
    )
    p.add_argument(
        "--show",
        type=_count,
        default=5,
        metavar="N",
        help="words shown whose neighbourhoods agree least and most (default 5; 0: none)",
    )
    p.add_argument(
        "--threads", type=_positive, default=None, metavar="N", help="worker threads (default: all)"
    )
    p.add_argument(
        "--measures",
        type=measures_arg,
        default=None,
        metavar="LIST",
        help="also compute these measures at each k from the same neighbour lists, "
        "comma-separated (mnno,jaccard,trustworthiness,cknna, ...; see measures.md); "
        "added to the report, --json and --csv",
    )
    p.add_argument(
        "--null",
        type=_positive,
        default=None,
        metavar="P",
        help="with --measures: a permutation null of P relabellings (null mean, tau, p and "
        "calibrated score of the measures of the top-k lists)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the --null permutations (default 0)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes")


def _add_input_args(p: argparse.ArgumentParser, both: bool) -> None:
    files = "both files" if both else "the file"
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help=f"format of {files} (default: detected from the content)",
    )
    p.add_argument(
        "--limit",
        type=_positive,
        default=None,
        metavar="N",
        help=f"read only the first N rows of {files} (usually the N most frequent words)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="precision of the vectors and of the neighbour search (default float32)",
    )
    p.add_argument(
        "--errors",
        choices=("strict", "replace"),
        default="strict",
        help="words that are not valid UTF-8: strict (default) stops with the line, "
        "replace substitutes U+FFFD",
    )
    p.add_argument(
        "--duplicates",
        choices=("error", "first", "last"),
        default="error",
        help="a word listed twice: error (default), or keep its first or last vector",
    )
    p.add_argument(
        "--drop-nonfinite",
        action="store_true",
        help="leave out words whose vector holds NaN or infinity, and list them "
        "(default: stop, naming them)",
    )
    p.add_argument(
        "--drop-zero",
        action="store_true",
        help="under cosine, leave out words whose vector is all zeros (cosine is undefined "
        "there), and list them (default: stop, naming them)",
    )
    if both:
        for side in ("a", "b"):
            p.add_argument(
                f"--words-{side}",
                metavar="FILE",
                default=None,
                help=f"the words of {side.upper()} if it is .npy, one a line "
                f"(default: <name>.words.txt beside it)",
            )
    else:
        p.add_argument(
            "--words",
            metavar="FILE",
            default=None,
            help="the words of an .npy file, one a line (default: <name>.words.txt beside it)",
        )


def add_commands(sub: Any) -> None:
    """Adds ``compare`` and ``neighbors`` to the sub-command parsers of the CLI."""
    formats = "word2vec text or binary, GloVe, fastText .vec, or .npy with <name>.words.txt"
    p = sub.add_parser(
        "compare",
        help="compare the neighbourhoods of two embedding files on their shared words",
        description="Load two embedding files, align them on their shared words (in A's order) "
        "and compute the exact mean nearest-neighbour overlap mNNO at each k, beside the chance "
        "level k/(n-1), with the words whose neighbourhoods agree least and most. Output paths "
        "and matplotlib (for --plot) are checked before anything is loaded.",
        epilog="example: nnoverlap compare glove.6B.300d.txt wiki.en.vec -k 1 10 50 "
        "--limit 100000 --json summary.json --plot plots/",
    )
    p.add_argument("a", metavar="A", help=f"embedding file ({formats})")
    p.add_argument("b", metavar="B", help="embedding file, any of the same formats")
    _add_input_args(p, both=True)
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

    p = sub.add_parser(
        "neighbors",
        help="a word's nearest neighbours in an embedding file",
        description="Load an embedding file and print the exact k nearest neighbours of WORD "
        "among all its other words, with their cosine similarity, inner product or distance.",
        epilog="example: nnoverlap neighbors glove.6B.300d.txt frog -k 10",
    )
    p.add_argument("file", metavar="FILE", help=f"embedding file ({formats})")
    p.add_argument("word", metavar="WORD", help="the word whose neighbours to show")
    p.add_argument(
        "-k",
        type=_positive,
        default=10,
        help="neighbours to show, 1 to (words in the file) - 1 (default 10)",
    )
    p.add_argument(
        "--metric",
        choices=_api.METRICS,
        default="cosine",
        help="cosine similarity (default), inner product or Euclidean distance",
    )
    _add_input_args(p, both=False)
    p.add_argument(
        "--threads", type=_positive, default=None, metavar="N", help="worker threads (default: all)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or notes")
    p.set_defaults(func=run_neighbors)


def add_demo_args(p: argparse.ArgumentParser) -> None:
    """The options of ``demo``: those of ``compare`` that do not concern input files."""
    _add_output_args(p)
    p.set_defaults(func=run_demo)


DEMO_DESCRIPTION = (
    "Run `nnoverlap compare` on real data bundled with the package: the 1,000 ImageNet classes "
    "as seen by a vision model (EfficientNet-Lite0 classifier rows) and by a text model "
    "(all-MiniLM-L6-v2 embeddings of the class names), then explain the numbers. Takes the "
    "output options of compare."
)


# --- checks before the work ------------------------------------------------------------------


def _check_input(path: str, what: str) -> None:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} {path}: no such file")
    if p.is_dir():
        raise UsageError(f"{what} {path}: is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise UsageError(f"{what} {path}: not readable")


def preflight(args: argparse.Namespace, inputs: list[tuple[str, str]]) -> None:
    """Everything that can fail without loading anything: the inputs ``(what, path)`` exist,
    each output path can be written, matplotlib is there for ``--plot``."""
    if getattr(args, "null", None) is not None and not getattr(args, "measures", None):
        raise UsageError("--null needs --measures (the measures to test)")
    for name in getattr(args, "measures", None) or []:
        forced = MEASURES[name].metric
        if forced is not None and forced != args.metric:
            raise UsageError(
                f"--measures {name} is defined on {forced} neighbours, but --metric is "
                f"{args.metric} (leave {name} out, or use --metric {forced})"
            )
    for what, source in inputs:
        _check_input(source, what)
    outputs: list[tuple[str, str | None]] = [
        (flag, getattr(args, flag[2:], None)) for flag in ("--json", "--csv")
    ]
    try:
        for flag, path in outputs:
            if path:
                check_output_file(path, flag)
        if getattr(args, "plot", None):
            check_output_dir(args.plot, "--plot")
    except OSError as exc:
        raise UsageError(str(exc)) from None
    given = [os.path.abspath(p) for _, p in outputs if p]
    if len(given) == 2 and given[0] == given[1]:
        raise UsageError(f"--json and --csv name the same file, {args.json}")
    if getattr(args, "plot", None):
        try:
            require_matplotlib()
        except ImportError as exc:
            raise UsageError(f"--plot: {exc}") from None


# --- loading -----------------------------------------------------------------------------------

_LOAD_PARAMETERS = inspect.signature(load).parameters


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        sys.stdout.flush()
        print(text, file=sys.stderr)


def _width() -> int:
    """Report width: the terminal's, or 120 when printing to a file or pipe."""
    if sys.stdout.isatty():
        return max(60, shutil.get_terminal_size().columns - 1)
    return 120


def _load(
    path: str, args: argparse.Namespace, bars: bool, words: str | None, words_flag: str
) -> Embeddings:
    t = time.perf_counter()
    kwargs: dict[str, Any] = {
        "format": args.format,
        "limit": args.limit,
        "dtype": args.dtype,
        "errors": args.errors,
        "duplicates": args.duplicates,
        "threads": args.threads,
    }
    if words is not None:
        kwargs["words"] = words
    # The reader drops NaN/inf rows (every format) and lists their words in
    # e.dropped_nonfinite; compare's report lists the shared ones among them.
    reader_drops = bool(args.drop_nonfinite)
    if reader_drops:
        kwargs["drop_nonfinite"] = True
    try:
        with _progress.Bar(f"reading {path}", bars) as bar:
            e = load(path, progress=bar, **kwargs)
    except (ValueError, TypeError, OSError) as exc:
        reason = error_text(exc, words_flag)
        if re.search(r"NaN (or|and) infinit", reason) and "drop" not in reason:
            if not args.drop_nonfinite:
                reason += "; pass --drop-nonfinite to leave such words out"
            elif not reader_drops:
                reason += (
                    "; --drop-nonfinite can skip such rows in .npy files only in this version "
                    "(convert the file to .npy, or remove the rows)"
                )
        raise UsageError(reason) from None
    _note(
        args,
        f"read {path}: {len(e):,} words x {e.dim} ({e.format}) in {time.perf_counter() - t:.2f} s",
    )
    return e


# --- compare -----------------------------------------------------------------------------------


def _frequency_order(args: argparse.Namespace) -> bool | None:
    return {"auto": None, "yes": True, "no": False}[args.frequency_order]


def _run(
    a: Embeddings, b: Embeddings, args: argparse.Namespace, bars: bool, demo: bool = False
) -> Comparison:
    t = time.perf_counter()
    try:
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
                drop_nonfinite=getattr(args, "drop_nonfinite", False),
                drop_zero=getattr(args, "drop_zero", False),
                threads=args.threads,
                progress_a=pa,
                progress_b=pb,
                knn=knn,
            )
    except ValueError as exc:
        raise UsageError(error_text(exc)) from None
    _note(args, f"neighbours of {result.n:,} words computed in {time.perf_counter() - t:.2f} s")
    if getattr(args, "measures", None):
        t = time.perf_counter()
        try:
            result.measures = compare_measures(
                result, args.measures, null=args.null, seed=args.seed, threads=args.threads
            )
        except ValueError as exc:
            raise UsageError(error_text(exc)) from None
        _note(args, f"measures computed in {time.perf_counter() - t:.2f} s")
    return result


def _outputs(result: Comparison, args: argparse.Namespace) -> None:
    print(result.format_text(show=args.show, width=_width()))
    if not sys.stdout.isatty():  # the report went to a file: say it where it is seen
        for w in result.warnings:
            print(f"nnoverlap: warning: {w}", file=sys.stderr)
    if args.json:
        result.write_json(args.json, show=max(args.show, 10))
        _note(args, f"wrote {args.json}")
    if args.csv:
        result.write_csv(args.csv)
        _note(args, f"wrote {args.csv}")
    if args.plot:
        order = _frequency_order(args)
        for name, why in skipped_plots(result, order).items():
            _note(args, f"no {name}.png: {cli_advice(why)}")
        files = write_plots(result, args.plot, frequency_order=order)
        _note(args, f"wrote {len(files)} files to {args.plot}: " + ", ".join(f.name for f in files))


def run_compare(args: argparse.Namespace) -> int:
    preflight(
        args,
        [("A", args.a), ("B", args.b)]
        + [(f"--words-{s}", w) for s, w in (("a", args.words_a), ("b", args.words_b)) if w],
    )
    bars = _progress.wanted(args.quiet)
    a = _load(args.a, args, bars, args.words_a, "--words-a")
    b = _load(args.b, args, bars, args.words_b, "--words-b")
    _outputs(_run(a, b, args, bars), args)
    return 0


# --- neighbors ---------------------------------------------------------------------------------


def _usable_rows(e: Embeddings, args: argparse.Namespace) -> tuple[np.ndarray, list[str]]:
    """Rows of ``e`` that can be neighbours, and what was left out: NaN/inf rows and (cosine)
    zero rows are an error naming the words, or left out with --drop-nonfinite / --drop-zero."""
    keep = np.ones(len(e), dtype=bool)
    left_out: list[str] = []
    i = e.index(args.word)
    tests = [("nonfinite", args.drop_nonfinite, "--drop-nonfinite", "a NaN or infinite value")]
    if args.metric == "cosine":
        tests.append(("zero", args.drop_zero, "--drop-zero", "an all-zero vector"))
    for test, drop, flag, what in tests:
        rows = _bad_rows(e.vectors, test)
        rows = rows[keep[rows]]
        if not rows.size:
            continue
        if i in set(rows.tolist()):
            undefined = "cosine is undefined" if test == "zero" else "no score can be computed"
            raise UsageError(f"the vector of {args.word!r} has {what}: {undefined}")
        words = [e.words[j] for j in rows.tolist()]
        if not drop:
            other = ", or use --metric ip or --metric l2" if test == "zero" else ""
            raise UsageError(
                f"{args.file} has {len(words):,} word(s) with {what}: {_words_text(words)}; "
                f"pass {flag} to leave them out{other}"
            )
        keep[rows] = False
        left_out.append(f"left out {_words(len(words))} with {what}: {_words_text(words, 8)}")
    return np.flatnonzero(keep), left_out


def run_neighbors(args: argparse.Namespace) -> int:
    preflight(args, [("FILE", args.file)] + ([("--words", args.words)] if args.words else []))
    bars = _progress.wanted(args.quiet)
    e = _load(args.file, args, bars, args.words, "--words")
    if args.word not in e:
        folded = [w for w in e.words if w.casefold() == args.word.casefold()][:5]
        hint = f"; did you mean {', '.join(map(repr, folded))}?" if folded else ""
        raise UsageError(f"{args.word!r} is not among the {len(e):,} words of {args.file}{hint}")
    i = e.index(args.word)
    keep, left_out = _usable_rows(e, args)
    others = keep.size - 1
    if not 1 <= args.k <= others:
        left = f" ({len(e) - keep.size:,} left out)" if keep.size < len(e) else ""
        raise UsageError(
            f"-k {args.k} is out of range: {args.file} has {others:,} other usable words"
            f"{left}, so k must be between 1 and {others:,}"
        )
    vectors = e.vectors
    base = vectors[keep] if keep.size < len(e) else vectors
    try:
        with _progress.Bar("searching", bars) as bar:
            scores, idx = _api.knn(
                vectors[i : i + 1],
                args.k + 1,
                base=base,
                metric=args.metric,
                threads=args.threads,
                progress=bar,
            )
    except ValueError as exc:
        raise UsageError(error_text(exc)) from None
    found = [(int(keep[j]), float(s)) for j, s in zip(idx[0], scores[0]) if keep[j] != i]
    found = found[: args.k]
    score = {"cosine": "cosine", "ip": "inner product", "l2": "distance"}[args.metric]
    print(
        f"nearest neighbours of {args.word!r} in {args.file} "
        f"({len(e):,} words x {e.dim}, {args.metric}):"
    )
    for line in left_out:
        print(line)
    width = max([4] + [len(e.words[j]) for j, _ in found])
    print(f"  {'rank':>4}  {'word':<{width}}  {score}")
    for r, (j, s) in enumerate(found, 1):
        print(f"  {r:>4}  {e.words[j]:<{width}}  {s:.4f}")
    return 0


# --- demo --------------------------------------------------------------------------------------


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
    preflight(args, [])
    print("nnoverlap demo: `nnoverlap compare` on real data bundled with the package: the 1,000")
    print("ImageNet classes as seen by a vision model and by a text model.\n")
    visual, text = imagenet_pair()
    result = _run(visual, text, args, _progress.wanted(args.quiet))
    _outputs(result, args)
    k = result.focus_k
    m = float(result.mnno[result.ks.index(k)])
    times = m / (k / (result.n - 1))
    meaning = (
        "What the numbers mean: mNNO^k is the mean share of each class's k nearest classes "
        "(found within each model separately) that the two models have in common. It is 1 for "
        f"identical neighbourhoods and about k/(n-1) by chance. At k={k} the vision and text "
        f"models share {m:.0%} of each class's neighbours, {times:.0f} times chance: far more "
        "than by accident, yet most neighbourhoods differ."
    )
    print("\n" + textwrap.fill(meaning, width=88))
    print("Compare your own files: nnoverlap compare A B -k 1 5 10 50 [--plot DIR]")
    return 0


__all__ = [
    "DEMO_DESCRIPTION",
    "UsageError",
    "add_commands",
    "add_demo_args",
    "cli_advice",
    "error_text",
    "imagenet_pair",
    "preflight",
]
