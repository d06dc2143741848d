"""The ``nnoverlap`` command line (also ``python -m nnoverlap``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ._commands import add_commands, add_demo_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnoverlap",
        description="Exact k-NN and nearest-neighbour overlap (mNNO) between embeddings.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="run compare on the bundled ImageNet-1k visual and text embeddings"
    )
    add_demo_args(demo)  # demo, compare, neighbors: _commands.py
    add_commands(sub)
    from .paper.cli import add_reproduce_parser  # `nnoverlap reproduce` (nnoverlap/paper/)

    add_reproduce_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # The reader went away (`nnoverlap compare ... | head`): stop quietly. Point stdout at
        # /dev/null so that Python's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, OSError) as exc:
        print(f"nnoverlap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnoverlap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
