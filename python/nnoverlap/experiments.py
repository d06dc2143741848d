"""Moved: the paper's experiments are the subpackage :mod:`nnoverlap.paper`.

This name stays so that old imports keep working; it re-exports :mod:`nnoverlap.paper`.

>>> import nnoverlap.experiments, nnoverlap.paper
>>> nnoverlap.experiments.reproduce is nnoverlap.paper.reproduce
True
"""

from __future__ import annotations

from .paper import *  # noqa: F403
from .paper import __all__  # noqa: F401
