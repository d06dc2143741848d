"""``nnoverlap reproduce``: the paper's experiments from the command line.

Registered by :mod:`nnoverlap.cli` with :func:`add_reproduce_parser`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from .. import _api
from ..mapping import ACTIVATIONS
from .data import (
    SHARED_ENV,
    default_pairs,
    imagenet1k_pairs,
    load_pair_files,
    load_train_test_files,
)
from .experiments import DEFAULT_CONTROLS, DEFAULT_KS, DEFAULT_SETTINGS, ReproduceConfig, reproduce
from .maps import NetSettings
from .protocols import PROTOCOLS

__all__ = ["add_reproduce_parser"]

_NET = NetSettings()

#: The designs of ``--design`` (``quick`` is :meth:`ReproduceConfig.quick`).
DESIGNS = ("default", "full", "quick")

#: What each ``--design`` sets, for the options not given explicitly (``quick`` also takes
#: the small settings of :meth:`ReproduceConfig.quick`).
DESIGN_VALUES: dict[str, dict[str, Any]] = {
    "default": {
        "protocols": ("per-fold",),
        "settings": ("linear-mse", "mlp1-mse"),
        "controls": ("linear-mse", "mlp1-mse"),
        "depths": (),
    },
    "full": {
        "protocols": PROTOCOLS,
        "settings": DEFAULT_SETTINGS,
        "controls": DEFAULT_CONTROLS,
        "depths": (0, 1, 2, 3, 4, 5),
    },
    "quick": {
        "protocols": ("per-fold",),
        "settings": DEFAULT_SETTINGS,
        "controls": DEFAULT_CONTROLS,
        "depths": (0, 2),
    },
}


def add_reproduce_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``reproduce`` subcommand on an ``argparse`` subparsers object."""
    p = sub.add_parser(
        "reproduce",
        help="reproduce Collell & Moens (2018): do cross-modal maps bridge modalities?",
        description=(
            "Train maps X->Y and Y->X (ridge with leave-one-out lambda; linear layers and nets "
            "with the mse, cosine and ranking losses, early stopping; nets of depth 0-5) and "
            "measure, on held-out items under the chosen protocols, mNNO(f(X),X), mNNO(f(X),Y) "
            "and mNNO(X,Y) with bootstrap intervals and permutation p-values, with shuffled-pair "
            "and in-sample controls and several CV seeds (experiment 1); and how much untrained "
            "nets of depth 0-5 keep the neighbourhoods of their input, standardised and raw "
            "(experiment 2). Without data options it runs on the bundled ImageNet-1k pairs and "
            "on words10k when ../shared/data is there."
        ),
    )
    data = p.add_argument_group("data")
    data.add_argument("--x", metavar="X.npy", help="first embedding (n, d1); rows paired with --y")
    data.add_argument("--y", metavar="Y.npy", help="second embedding (n, d2) of the same items")
    for flag, what in (
        ("--train-x", "X of the training items"),
        ("--train-y", "Y of the training items"),
        ("--test-x", "X of the test items"),
        ("--test-y", "Y of the test items"),
    ):
        data.add_argument(
            flag,
            metavar="FILE",
            help=f"{what} (.npy paired by position, or embedding files paired by word)",
        )
    data.add_argument("--name", default=None, help="data set name for your files (default: user)")
    data.add_argument(
        "--shared",
        metavar="DIR",
        default=None,
        help="shared data directory holding words10k/, whose pair then joins the run (with "
        f"--design full: ${SHARED_ENV} or ../shared/data when not given)",
    )
    ev = p.add_argument_group("evaluation")
    ev.add_argument(
        "--protocol",
        dest="protocols",
        nargs="+",
        choices=PROTOCOLS,
        default=None,
        help="per-fold (default; the paper's), split (one held-out test part), pooled "
        "(out-of-fold predictions searched together); several: each is reported (--design "
        "full: all three)",
    )
    ev.add_argument(
        "-k",
        "--k",
        dest="ks",
        type=int,
        nargs="+",
        default=None,
        metavar="K",
        help=f"k of the tables (default: {' '.join(map(str, DEFAULT_KS))}, those <= n - 1)",
    )
    ev.add_argument("--folds", type=int, default=5, help="folds of per-fold and pooled (5)")
    ev.add_argument("--test-size", type=float, default=0.2, help="test fraction of split (0.2)")
    ev.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        metavar="S",
        help="CV seeds; the first is the main run, the others repeat the control maps (0 1 2)",
    )
    ev.add_argument("--metric", choices=_api.METRICS, default="cosine")
    ev.add_argument(
        "--include-self",
        action="store_true",
        help="count each item as its own neighbour (the paper's released code did)",
    )
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (1000)")
    ev.add_argument("--permutations", type=int, default=200, help="permutations of the null (200)")
    ev.add_argument("--threads", type=int, default=None, help="k-NN threads (default: all)")
    mp = p.add_argument_group("maps")
    mp.add_argument(
        "--maps",
        nargs="+",
        default=None,
        metavar="MAP",
        help="maps of the main grid: linear-LOSS (ridge for mse) or mlpD-LOSS, LOSS in mse, "
        "cosine, ranking (default: linear-mse mlp1-mse; --design full: "
        f"{' '.join(DEFAULT_SETTINGS)})",
    )
    mp.add_argument(
        "--controls",
        nargs="*",
        default=None,
        metavar="MAP",
        help="maps that also get the shuffled-pair control and the further seeds "
        f"(default: {' '.join(DEFAULT_CONTROLS)})",
    )
    mp.add_argument(
        "--depths",
        type=int,
        nargs="*",
        default=None,
        metavar="D",
        help="hidden layers of the trained depth curve (mse; default none; --design full: 0-5; "
        "the option alone: none)",
    )
    mp.add_argument("--hidden", type=int, default=_NET.hidden, help="units per hidden layer (300)")
    mp.add_argument("--activation", choices=ACTIVATIONS, default=_NET.activation, help="(tanh)")
    mp.add_argument(
        "--max-epochs",
        type=int,
        default=_NET.max_epochs,
        help=f"most epochs of a net; early stopping usually ends sooner ({_NET.max_epochs})",
    )
    mp.add_argument("--patience", type=int, default=_NET.patience, help="(5)")
    mp.add_argument(
        "--validation",
        type=float,
        default=_NET.validation,
        help="fraction of the training part held out for early stopping (0.1)",
    )
    e2 = p.add_argument_group("experiment 2 (untrained nets)")
    e2.add_argument(
        "--untrained-depths", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5], metavar="D"
    )
    e2.add_argument("--depth-seeds", type=int, default=3, help="seeds per untrained net (3)")
    e2.add_argument("--depth-width", type=int, default=300, help="units per hidden layer (300)")
    e2.add_argument(
        "--scalings",
        nargs="+",
        choices=("standardised", "raw"),
        default=["standardised", "raw"],
        help="inputs of the untrained nets (default: standardised, then raw beside it)",
    )
    run = p.add_argument_group("run")
    run.add_argument(
        "--workers",
        type=int,
        default=None,
        help="folds trained at once, one BLAS thread each (default: 2 with threadpoolctl)",
    )
    run.add_argument("--no-mappings", action="store_true", help="skip experiment 1")
    run.add_argument("--no-depth", action="store_true", help="skip experiment 2")
    run.add_argument(
        "--design",
        choices=DESIGNS,
        default="default",
        help="default: the main finding with its controls, intervals and nulls on the bundled "
        "ImageNet pairs (per-fold; ridge and the 1-hidden-layer mse net; experiment 2), a few "
        "minutes; full: the whole design (per-fold, split and pooled; 6 maps with every loss; "
        "trained depths 0-5; words10k with nets when ../shared/data is there), about an hour "
        "on one core; quick: a first look (2 folds, 1 seed, small nets), not a result. "
        "Options given explicitly override the design's",
    )
    run.add_argument("--quick", action="store_true", help="the same as --design quick")
    run.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write results.md, results.json and the figures (with matplotlib) here",
    )
    run.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_reproduce)
    return p


def _config(args: argparse.Namespace) -> ReproduceConfig:
    values: dict[str, Any] = {
        "protocols": _opt(args.protocols),
        "ks": tuple(args.ks) if args.ks else None,
        "folds": args.folds,
        "test_size": args.test_size,
        "seeds": tuple(args.seeds),
        "metric": args.metric,
        "include_self": bool(args.include_self),
        "bootstrap": args.bootstrap,
        "permutations": args.permutations,
        "threads": args.threads,
        "settings": _opt(args.maps),
        "controls": _opt(args.controls),
        "depths": _opt(args.depths),
        "untrained_depths": tuple(args.untrained_depths),
        "depth_seeds": args.depth_seeds,
        "depth_width": args.depth_width,
        "scalings": tuple(args.scalings),
        "mappings": not args.no_mappings,
        "depth": not args.no_depth,
        "quiet": bool(args.quiet),
        "workers": args.workers,
        "net": NetSettings(
            hidden=args.hidden,
            activation=args.activation,
            max_epochs=args.max_epochs,
            patience=args.patience,
            validation=args.validation,
        ),
    }
    given = set(_given(args))
    design = "quick" if args.quick else args.design
    # The options a design sets default to None in the parser (so that an explicit value equal
    # to some design's is still the user's).
    for name, value in DESIGN_VALUES[design].items():
        if values[name] is None:
            values[name] = value
    if design == "quick":
        # Small settings for whatever the user left at its default.
        quick = ReproduceConfig.quick()
        for name in (
            "folds",
            "seeds",
            "bootstrap",
            "permutations",
            "untrained_depths",
            "depth_width",
            "depth_seeds",
        ):
            if name not in given:
                values[name] = getattr(quick, name)
        values["curve_ks"] = quick.curve_ks
        if not given & {"hidden", "max_epochs", "patience"}:
            values["net"] = replace(quick.net, activation=args.activation)
    return ReproduceConfig(**values)


def _opt(v: list[Any] | None) -> tuple[Any, ...] | None:
    return None if v is None else tuple(v)


def _defaults() -> dict[str, Any]:
    parser = argparse.ArgumentParser(add_help=False)
    return vars(add_reproduce_parser(parser.add_subparsers()).parse_args([]))


def _given(args: argparse.Namespace) -> list[str]:
    """The destinations whose values differ from the parser's defaults."""
    defaults = _defaults()
    return [
        name
        for name, value in vars(args).items()
        if name not in ("func", "command") and name in defaults and defaults[name] != value
    ]


def _cmd_reproduce(args: argparse.Namespace) -> int:
    explicit = [args.train_x, args.train_y, args.test_x, args.test_y]
    if any(v is not None for v in explicit) and not all(v is not None for v in explicit):
        raise ValueError("give all four of --train-x, --train-y, --test-x, --test-y, or none")
    if (args.x is None) != (args.y is None):
        raise ValueError("give both --x and --y (rows paired by position), or neither")
    if args.x is not None and explicit[0] is not None:
        raise ValueError("give --x/--y or --train-x/--train-y/--test-x/--test-y, not both")
    cfg = _config(args)
    if explicit[0] is not None:
        tx, ty, vx, vy = explicit
        pairs = [load_train_test_files(tx, ty, vx, vy, name=args.name)]
        notes = [f"data: train {args.train_x}, {args.train_y}; test {args.test_x}, {args.test_y}"]
    elif args.x is not None:
        pairs = [load_pair_files(args.x, args.y, args.name)]
        notes = [f"data: {args.x} and {args.y}, rows paired by position"]
    elif (not args.quick and args.design == "full") or args.shared is not None:
        pairs, where = default_pairs(args.shared)
        notes = ["data: the bundled ImageNet-1k pairs", where]
    else:
        pairs = imagenet1k_pairs()
        notes = [
            "data: the bundled ImageNet-1k pairs (words10k with --design full or --shared DIR)"
        ]
    command = "nnoverlap reproduce " + " ".join(_argv_of(args))
    report = reproduce(pairs, cfg, notes=notes, command=command.strip())
    if args.out is not None:
        files = report.write(args.out, plots=True)
        for n in report.notes:
            if n.startswith("plots skipped"):
                print(f"nnoverlap: {n}", file=sys.stderr)
        if not args.quiet:
            print("wrote " + ", ".join(str(f) for f in files), file=sys.stderr)
    print(report.to_markdown(), end="")
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    """The options that differ from the defaults, for the report's command line."""
    out: list[str] = []
    for name in _given(args):
        value = getattr(args, name)
        flag = {"protocols": "--protocol", "ks": "-k", "maps": "--maps"}.get(
            name, "--" + name.replace("_", "-")
        )
        if isinstance(value, bool):
            out.append(flag)
        elif isinstance(value, list):
            out += [flag, *map(str, value)]
        elif value is not None:
            out += [flag, str(value)]
    return out
