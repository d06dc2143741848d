"""The ``nnoverlap`` command line (also ``python -m nnoverlap``).

Exit status: 0 on success, 2 for bad usage or bad input (one line on stderr saying why),
130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ._commands import DEMO_DESCRIPTION, UsageError, add_commands, add_demo_args, error_text


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``nnoverlap`` with all its subcommands."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="nnoverlap",
        description="Exact k-NN and nearest-neighbour overlap (mNNO) between embeddings.",
        epilog="Run `nnoverlap COMMAND --help` for the options of a command.",
    )
    parser.add_argument(
        "--version", action="version", version=f"nnoverlap {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run compare on the bundled ImageNet-1k visual and text embeddings",
        description=DEMO_DESCRIPTION,
    )
    add_demo_args(demo)  # demo, compare, neighbors: _commands.py
    add_commands(sub)
    from .experiments import add_reproduce_parser  # `nnoverlap reproduce` (experiments.py)

    add_reproduce_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # The reader went away (`nnoverlap compare ... | head`): stop quietly. Point stdout at
        # /dev/null so that Python's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as exc:
        print(f"nnoverlap: error: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError, ImportError, KeyError) as exc:
        print(f"nnoverlap: error: {error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnoverlap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
