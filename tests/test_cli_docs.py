"""The documentation: README and the docs pages link to files that exist, the site's pages and
the README sections they quote exist, the contract is in the repository, and (when MkDocs is
installed, ``pip install -e ".[docs]"``) the site builds with warnings as errors."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"(?<!`)\[[^\]]*\]\(([^)\s]+)\)")


def pages() -> list[Path]:
    return [ROOT / "README.md"] + sorted(DOCS.glob("*.md"))


def hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.name)
def test_relative_links_point_to_files_that_exist(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name} links to {target}, which does not exist"


def test_the_contract_is_in_the_repository_and_readme_links_to_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("semantics.md", "measures.md"):
        assert (DOCS / name).is_file()
        assert f"(docs/{name})" in readme
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "nnoverlap developers" in license_text


def test_nav_pages_exist():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r":\s+([\w/.-]+\.md)\s*$", config, flags=re.M)
    assert {"index.md", "cli.md", "api.md", "semantics.md", "reproduce.md"} <= set(nav)
    for name in nav:
        assert (DOCS / name).is_file(), f"mkdocs.yml lists {name}, which does not exist"


def test_the_readme_sections_and_commands_the_pages_quote_exist():
    h = hooks()
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.glob("*.md"))
    sections = re.findall(r"<!-- readme: (.+?) -->", text)
    tables = re.findall(r"<!-- readme-table: (.+?) -->", text)
    commands = re.findall(r"<!-- cli-help: ([\w-]+) -->", text)
    assert sections and tables and set(commands) >= {"main", "compare", "neighbors", "demo"}
    for title in sections:
        assert h._readme_section(title).strip(), title
    for key in tables:
        assert "|---" in h._readme_table(key)
    for command in commands:
        assert f"nnoverlap {command}" in h._cli_help(command) or command == "main"
    # Repository files outside docs/ are named, not linked (they are not on the site).
    assert "](benches/" not in h._readme_section("Speed")
    assert "](semantics.md)" in h._fix_links("[x](docs/semantics.md)")


def test_doctest_examples_become_code_blocks():
    spec = importlib.util.find_spec("griffe")
    if spec is None:
        pytest.skip('griffe not installed (pip install -e ".[docs]")')
    sys.path.insert(0, str(DOCS))
    try:
        from griffe_docstrings import markdown_docstring
    finally:
        sys.path.remove(str(DOCS))
    text = "See :func:`knn`.\n\n>>> 1 + 1\n2\n\nAfter."
    assert markdown_docstring(text) == "See `knn`.\n\n```pycon\n>>> 1 + 1\n2\n```\n\nAfter."


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    if not all(importlib.util.find_spec(m) for m in ("mkdocs", "mkdocstrings", "material")):
        pytest.skip('mkdocs not installed (pip install -e ".[docs]")')
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "--drop-nonfinite" in cli and "nnoverlap neighbors" in cli
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "nnoverlap.mnno" in api and "&gt;&gt;&gt;" in api


def test_readme_shows_the_demo_output_as_it_is(capsys):
    from nnoverlap.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("```text\nnnoverlap demo:") + len("```text\n")
    shown = readme[start : readme.index("```", start)]
    assert "with `--show 3`" in readme
    assert main(["demo", "--show", "3", "-q"]) == 0
    assert capsys.readouterr().out == shown
