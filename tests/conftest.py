"""Shared test set-up: hypothesis profiles and the location of the real data beside the repo."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import settings

# Fast by default; CI sets NNOVERLAP_HYPOTHESIS_PROFILE=ci for a thorough run. No deadline: the
# first call into the core pays for thread-pool start-up, which is not what the tests measure.
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("NNOVERLAP_HYPOTHESIS_PROFILE", "dev"))

# The larger real embedding sets live in ../shared/data beside the repository (CI always has it;
# a fresh clone elsewhere may not).
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def ci_is_set(environ: Mapping[str, str]) -> bool:
    """Whether the environment says this is a CI run (``CI`` set and not ``0``/``false``/empty)."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_shared(path: Path, environ: Mapping[str, str]) -> Path:
    """Return ``path`` if it is a directory; else skip the test, or fail it when CI is set.

    A developer's clone may lack ``../shared``, and its tests then skip, saying so. In CI the
    data is always there, so its absence is a broken set-up that must not pass as skips.
    """
    if path.is_dir():
        return path
    where = f"real data not found at {path} (../shared/data beside the repository)"
    if ci_is_set(environ):
        pytest.fail(f"{where}, and CI={environ['CI']!r} is set: CI must run the real-data tests")
    pytest.skip(where)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data directory; skips the test when it is absent (fails it under CI)."""
    return require_shared(SHARED, os.environ)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep a failing hypothesis test a test failure.

    On a failure hypothesis' pytest plugin imports ``hypothesis.extra._patching``, which imports
    libcst when it is installed, and libcst 1.0 warns (DeprecationWarning from mypy_extensions).
    Under ``filterwarnings = error`` that warning turned the failure into an INTERNALERROR that
    ended the whole run. Importing the module first, with that warning silenced, avoids it.
    """
    if call.excinfo is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                import hypothesis.extra._patching  # noqa: F401
            except ImportError:
                pass
