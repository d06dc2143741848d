"""A griffe extension for the API reference: the package's docstrings are written for
``help()`` and doctest (reST roles, bare ``>>>`` examples); this turns them into Markdown
that renders well: ``:func:`knn``` becomes ```knn```, and each run of ``>>>`` / ``...`` lines
with its expected output becomes a ``pycon`` code block."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|exc|obj):`~?([^`]+)`")


def markdown_docstring(text: str) -> str:
    """The docstring ``text`` with reST roles as code and doctest runs fenced."""
    text = ROLE.sub(r"`\1`", text)
    out: list[str] = []
    block: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        # A doctest run goes on to the next blank line: what follows ">>>" lines is output.
        if stripped.startswith(">>>") or (block and stripped):
            block.append(line)
            continue
        if block:
            out += _fence(block)
            block = []
        out.append(line)
    if block:
        out += _fence(block)
    return "\n".join(out)


def _fence(block: list[str]) -> list[str]:
    indent = min(len(b) - len(b.lstrip()) for b in block if b.strip())
    body = [b[indent:] for b in block]
    pad = " " * indent
    return [f"{pad}```pycon"] + [pad + b for b in body] + [f"{pad}```"]


class DoctestMarkdown(griffe.Extension):
    """Rewrites every docstring of the loaded objects (see :func:`markdown_docstring`)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
