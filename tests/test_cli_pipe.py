"""The command line stops quietly when its reader goes away (`nnoverlap demo | head -1`)."""

from __future__ import annotations

import subprocess
import sys


def test_demo_into_a_closed_pipe_stops_without_a_traceback() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "nnoverlap", "demo", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # the reader goes away after one line, as `head -1` does
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert first.strip(), "demo printed nothing"
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == 0, err
