"""Progress bars on stderr for the command line: tqdm when installed, else one plain line.

A bar is a ``callback(done, total)`` for the ``progress=`` argument of :func:`nnoverlap.knn`
and :func:`nnoverlap.load`. It draws nothing during the first half second, so quick steps
stay silent, and nothing at all when disabled (``--quiet``, or stderr is not a terminal).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

DELAY = 0.5
"""Seconds a step must run before its bar appears."""


def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
    """Whether to show bars: not ``--quiet`` and stderr is a terminal."""
    stream = sys.stderr if stream is None else stream
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


class Bar:
    """A progress bar for one step; use as ``with Bar("k-NN of A", on) as bar: f(progress=bar)``."""

    def __init__(self, label: str, enabled: bool, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.start = time.monotonic()
        self._tqdm: Any = None
        self._plain = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0 or time.monotonic() - self.start < DELAY:
            return
        if self._tqdm is None and not self._plain:
            try:
                from tqdm import tqdm
            except ImportError:
                self._plain = True
            else:
                self._tqdm = tqdm(
                    total=total,
                    desc=self.label,
                    file=self.stream,
                    leave=False,
                    dynamic_ncols=True,
                    mininterval=0,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
                )
        if self._tqdm is not None:
            self._tqdm.total = total
            self._tqdm.update(min(done, total) - self._tqdm.n)
        else:
            self.stream.write(f"\r{self.label}: {100 * min(done, total) / total:3.0f}%")
            self.stream.flush()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
        elif self._plain:
            self.stream.write("\r" + " " * (len(self.label) + 6) + "\r")
            self.stream.flush()
            self._plain = False

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
