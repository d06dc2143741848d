"""Shared test set-up: hypothesis profiles and the location of the real data beside the repo."""

from __future__ import annotations

import os
import warnings
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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data directory; skips the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data not found at {SHARED} (../shared/data beside the repository)")
    return SHARED


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
