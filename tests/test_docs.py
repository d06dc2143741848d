"""Every `>>>` example in the package's docstrings runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import nnoverlap

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(nnoverlap.__path__, "nnoverlap.")
    if m.name not in {"nnoverlap.__main__", "nnoverlap._core"}
) + ["nnoverlap"]

# The public API must keep its examples.
MUST_HAVE_EXAMPLES = {"nnoverlap", "nnoverlap._api", "nnoverlap.datasets", "nnoverlap.reference"}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0
    if name in MUST_HAVE_EXAMPLES:
        assert result.attempted > 0, f"{name} has no docstring examples"
