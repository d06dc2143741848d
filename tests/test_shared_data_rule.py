"""The real-data tests skip on a developer's clone without ../shared, but fail in CI.

CI always has ../shared/data beside the clone; if it is missing there, the set-up is broken and
the real-data tests must not pass quietly as skips (issue 8, "CI that proves a fresh machine
works").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ci_is_set, require_shared


def test_present_shared_data_is_returned_with_or_without_ci(tmp_path: Path) -> None:
    assert require_shared(tmp_path, {}) == tmp_path
    assert require_shared(tmp_path, {"CI": "true"}) == tmp_path


def test_missing_shared_data_skips_outside_ci(tmp_path: Path) -> None:
    missing = tmp_path / "shared" / "data"
    for environ in ({}, {"CI": ""}, {"CI": "0"}, {"CI": "false"}):
        with pytest.raises(pytest.skip.Exception, match="real data not found"):
            require_shared(missing, environ)


def test_missing_shared_data_fails_when_ci_is_set(tmp_path: Path) -> None:
    missing = tmp_path / "shared" / "data"
    for value in ("true", "1", "yes"):
        with pytest.raises(pytest.fail.Exception, match=r"CI must run the real-data tests") as e:
            require_shared(missing, {"CI": value})
        assert str(missing) in str(e.value)


def test_ci_is_set_reads_the_usual_spellings() -> None:
    assert ci_is_set({"CI": "true"}) and ci_is_set({"CI": "True"}) and ci_is_set({"CI": "1"})
    assert not ci_is_set({}) and not ci_is_set({"CI": "false"}) and not ci_is_set({"CI": "0"})
