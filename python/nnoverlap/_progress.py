"""Progress reporting: clean ``callback(done, total)`` streams and progress bars on stderr.

The core polls its work about every 0.1 s and passes ``(done, total)`` to a ``progress=``
callback. Before the work is sized it reports ``(0, 0)``, and a step that ends between two
polls never reports its end. :class:`Steps` wraps a callback so that it sees neither: calls
without a total are dropped, ``done`` never exceeds ``total`` nor goes backwards, and
:meth:`Steps.finish` makes the last call ``done == total`` (``(1, 1)`` when the step ended
before any poll).

:class:`Bar` is the command line's bar for one step: tqdm when installed, else one plain
line. It draws nothing during the first half second, so quick steps stay silent, and nothing
at all when disabled (``--quiet``, or stderr is not a terminal).

>>> calls = []
>>> step = Steps(lambda done, total: calls.append((done, total)))
>>> step(0, 0); step(3, 10); step(2, 10); step(12, 10); step.finish()
>>> calls
[(3, 10), (10, 10)]
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

DELAY = 0.5
"""Seconds a step must run before its bar appears."""

Callback = Callable[[int, int], Any]


class Steps:
    """Wraps ``callback(done, total)``: no ``(0, 0)``, no repeats, no going back, and a final
    ``done == total`` call from :meth:`finish` (once, however often it is called)."""

    def __init__(self, callback: Callback | None) -> None:
        self.callback = callback
        self.done = 0
        self.total = 0
        self.finished = False

    def __call__(self, done: int, total: int) -> None:
        if self.callback is None or self.finished or total <= 0:
            return
        done = max(0, min(int(done), int(total)))
        if total == self.total and done <= self.done:
            return  # nothing new (the core polls whether or not work was done)
        if total == self.total:
            done = max(done, self.done)
        self.done, self.total = done, int(total)
        self.callback(done, self.total)

    def finish(self) -> None:
        """Report the end of the step: ``(total, total)``, or ``(1, 1)`` if no total was seen."""
        if self.callback is None or self.finished:
            return
        self.finished = True
        if self.total <= 0:
            self.total = 1
        if self.done < self.total:
            self.done = self.total
            self.callback(self.total, self.total)


def wanted(quiet: bool, stream: TextIO | None = None) -> bool:
    """Whether to show bars: not ``--quiet`` and stderr is a terminal."""
    stream = sys.stderr if stream is None else stream
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


class Bar:
    """A progress bar for one step; use as ``with Bar("k-NN of A", on) as bar: f(progress=bar)``.

    Leaving the ``with`` block normally draws the bar at 100 % (if it was drawn at all) before
    it is cleared; calls without a total (``(0, 0)``) are ignored.
    """

    def __init__(self, label: str, enabled: bool, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = sys.stderr if stream is None else stream
        self.start = time.monotonic()
        self.total = 0
        self._tqdm: Any = None
        self._plain = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        self.total = total
        if time.monotonic() - self.start < DELAY:
            return
        self._draw(done, total)

    def _draw(self, done: int, total: int) -> None:
        if self._tqdm is None and not self._plain:
            try:
                from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
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
            self._tqdm.update(max(0, min(done, total)) - self._tqdm.n)
        else:
            self.stream.write(f"\r{self.label}: {100 * max(0, min(done, total)) / total:3.0f}%")
            self.stream.flush()

    @property
    def shown(self) -> bool:
        """Whether the bar has been drawn."""
        return self._tqdm is not None or self._plain

    def finish(self) -> None:
        """Draw 100 % if the bar is showing (the step is done)."""
        if self.shown and self.total > 0:
            self._draw(self.total, self.total)

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

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.finish()
        self.close()
