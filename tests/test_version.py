"""The version has one source, Cargo.toml; the extension, the package and the wheel agree on it."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import nnoverlap
from nnoverlap import _core
from nnoverlap.cli import main

ROOT = Path(__file__).resolve().parents[1]


def cargo_version() -> str:
    text = (ROOT / "Cargo.toml").read_text(encoding="utf-8")
    package = text.split("[package]", 1)[1].split("\n[", 1)[0]
    match = re.search(r'^version\s*=\s*"([^"]+)"', package, re.MULTILINE)
    assert match, "Cargo.toml's [package] has no version"
    return match.group(1)


def test_package_version_is_the_installed_distribution_version() -> None:
    # The wheel's metadata (what pip reports) and nnoverlap.__version__ must agree.
    assert nnoverlap.__version__ == importlib.metadata.version("nnoverlap")


def test_package_version_comes_from_the_extension() -> None:
    assert nnoverlap.__version__ == _core.__version__


def test_installed_version_is_cargo_toml_version() -> None:
    # Fails when Cargo.toml was bumped but the installed build is older: rebuild.
    assert nnoverlap.__version__ == cargo_version()


def test_pyproject_has_no_version_of_its_own() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", project, re.MULTILINE), "version belongs in Cargo.toml"
    assert re.search(r'^dynamic\s*=\s*\[[^\]]*"version"', project, re.MULTILINE)


def test_changelog_starts_with_unreleased_then_version_sections() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings and headings[0] == "Unreleased", headings[:1]
    for heading in headings[1:]:
        assert re.fullmatch(r"\d+\.\d+\.\d+( \(.+\))?", heading), f"not a version: {heading!r}"
    versions = [h.split()[0] for h in headings[1:]]
    assert len(versions) == len(set(versions)), "a version has two sections"


def test_command_line_version_is_cargo_toml_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnoverlap {cargo_version()}"
