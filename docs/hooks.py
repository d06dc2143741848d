"""MkDocs hooks: pages that quote the repository instead of copying it.

- ``<!-- readme: TITLE -->`` is replaced by the section ``## TITLE`` of README.md (``intro``:
  the text before the first section), with links made to work on the site: ``docs/x.md``
  becomes ``x.md``; other files of the repository are named as code, not linked.
- ``<!-- readme-table: TEXT -->`` is replaced by the first line of README.md that contains
  TEXT and the table that follows it.
- ``<!-- cli-help: COMMAND -->`` is replaced by the ``--help`` text of ``nnoverlap COMMAND``
  (``main``: of ``nnoverlap`` itself), taken from the parser that the command line uses, so
  the CLI reference cannot drift from the code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELP_WIDTH = 88


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.M)
    if title == "intro":
        body = parts[0].split("\n", 1)[1]  # without the "# nnoverlap" title
    else:
        found = [p for p in parts[1:] if p.split("\n", 1)[0].strip() == title]
        if not found:
            raise ValueError(f"README.md has no section '## {title}'")
        body = found[0].split("\n", 1)[1]
    return _fix_links(body.strip() + "\n")


def _readme_table(key: str) -> str:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").split("\n")
    start = next((i for i, line in enumerate(lines) if key in line), None)
    if start is None:
        raise ValueError(f"README.md has no line with {key!r}")
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    end = first
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return _fix_links("\n".join([lines[start], ""] + lines[first:end]) + "\n")


def _fix_links(text: str) -> str:
    def link(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2)
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            return m.group(0)
        if target.startswith("docs/"):
            return f"[{label}]({target[len('docs/') :]})"
        return label if label.startswith("`") else f"{label} (`{target}` in the repository)"

    return re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", link, text)


def _cli_help(command: str) -> str:
    os.environ["COLUMNS"] = str(HELP_WIDTH)  # argparse wraps at the terminal width
    import argparse

    from nnoverlap.cli import build_parser

    parser = build_parser()
    if command == "main":
        text = parser.format_help()
    else:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        text = sub.choices[command].format_help()
    name = "nnoverlap" if command == "main" else f"nnoverlap {command}"
    return f"```text\n$ {name} --help\n{text.rstrip()}\n```\n"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    markdown = re.sub(r"<!-- readme: (.+?) -->", lambda m: _readme_section(m.group(1)), markdown)
    markdown = re.sub(
        r"<!-- readme-table: (.+?) -->", lambda m: _readme_table(m.group(1)), markdown
    )
    return re.sub(r"<!-- cli-help: ([\w-]+) -->", lambda m: _cli_help(m.group(1)), markdown)
