"""``nnoverlap compare --measures ... --null P``: the measures of ``measures.md`` computed from
the neighbour lists :func:`nnoverlap.report.compare` already found (no second search), as a
table for the report, an object for ``--json`` and per-word columns for ``--csv``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .catalog import MEASURES, spec
from .many import measure
from .neighbors import Neighbors
from .results import MeasureResult, MeasureResults

__all__ = ["CompareMeasures", "compare_measures", "measures_arg"]


def measures_arg(text: str) -> list[str]:
    """``--measures``: comma-separated names of ``MEASURES``, checked when the command line is
    parsed (before anything is loaded).

    >>> measures_arg("mnno, jaccard")
    ['mnno', 'jaccard']
    """
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected one or more of {', '.join(MEASURES)}, separated by commas"
        )
    bad = [m for m in names if m not in MEASURES]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown measure{'s' if len(bad) > 1 else ''} {', '.join(repr(m) for m in bad)}; "
            f"valid names: {', '.join(MEASURES)}"
        )
    return list(dict.fromkeys(names))  # a name given twice is computed once


def _why_undefined(name: str, k: int | None) -> str | None:
    """Why ``name`` has no value at ``k`` (None: it has one)."""
    if name == "cknna" and k is not None and k < 2:
        return "cknna needs k >= 2 (platonic-rep's condition)"
    return None


_NO_NULL = "no cheap null (not a measure of the top-k lists alone)"


@dataclass
class CompareMeasures:
    """The measures of ``compare --measures``: the results, what was asked and the null.

    >>> import numpy as np, nnoverlap as nno
    >>> A = np.random.default_rng(0).normal(size=(50, 4))
    >>> m = CompareMeasures(nno.measure(A, A, k=[1, 5], measures=["mnno"]), ["mnno"], [1, 5])
    >>> m.to_dict()["results"]["mnno"]["5"]["value"], m.per_word()[0]
    (1.0, ['mnno_k1', 'mnno_k5'])
    """

    results: MeasureResults
    names: list[str]
    ks: list[int]
    null: int | None = None
    seed: int | None = None

    def _undefined(self) -> list[tuple[str, int, str]]:
        return [(m, k, why) for m in self.names for k in self.ks if (why := _why_undefined(m, k))]

    def table(self) -> list[str]:
        """The report's lines: measure x k, value, chance where defined, and with a null its
        mean, τ, p and the calibrated score (or why there is none)."""
        n = self.results[0].n if len(self.results) else None
        head = "\nMeasures (measures.md" + (f"; n = {n:,}" if n else "")
        head += f"; permutation null: P = {self.null}, seed {self.seed})" if self.null else ")"
        cols = f"{'measure':<20} {'k':>5}  {'value':>8}  {'chance':>8}"
        if self.null:
            cols += f"  {'null mean':>9}  {'tau':>8}  {'p':>8}  {'calibrated':>10}"
        rows: list[tuple[str, int, str]] = []  # (measure, k, line), in the asked order
        for r in self.results:
            row = f"{r.measure:<20} {'all' if r.k is None else r.k:>5}  {r.value:8.4f}  "
            row += f"{'-':>8}" if r.chance is None else f"{r.chance:8.4f}"
            if self.null:
                if r.p is None:
                    row += f"  {_NO_NULL}"
                else:
                    row += f"  {r.null_mean:9.4f}  {r.tau:8.4f}  {r.p:8.4g}  {r.calibrated:10.4f}"
            rows.append((r.measure, r.k or 0, row))
        for name, k, why in self._undefined():
            rows.append((name, k, f"{name:<20} {k:>5}  undefined: {why}"))
        rows.sort(key=lambda t: (self.names.index(t[0]), t[1]))
        lines = [head, cols, *(line for _, _, line in rows)]
        return lines

    def to_dict(self) -> dict[str, Any]:
        """``--json``'s "measures" object: per measure, per k ("all" for global measures), the
        fields of :class:`MeasureResult` (``null`` says why a measure has no null;
        ``undefined`` why it has no value)."""
        results: dict[str, dict[str, Any]] = {m: {} for m in self.names}
        for r in self.results:
            entry = {
                key: v
                for key, v in r.as_dict().items()
                if key not in ("measure", "k", "n", "ci_low", "ci_high")
            }
            if self.null and r.p is None:
                entry["null"] = _NO_NULL
            results[r.measure]["all" if r.k is None else str(r.k)] = entry
        for name, k, why in self._undefined():
            results[name][str(k)] = {"value": None, "undefined": why}
        seed = self.seed if self.null else None
        return {"permutations": self.null, "seed": seed, "results": results}

    def per_word(self) -> tuple[list[str], list[list[Any]]]:
        """``--csv``'s extra columns ``<measure>_k<k>``: the per-item values of the measures
        that have them, in the comparison's row order."""
        header, columns = [], []
        for r in self.results:
            if r.per_item is not None and r.k is not None:
                header.append(f"{r.measure}_k{r.k}")
                columns.append(r.per_item.tolist())
        return header, columns


def compare_measures(
    c: Any,
    names: Sequence[str],
    *,
    null: int | None = None,
    seed: int | None = 0,
    threads: int | None = None,
) -> CompareMeasures:
    """The measures ``names`` at the k of a :class:`nnoverlap.report.Comparison`, from its
    cached neighbour lists (``nnoverlap.Neighbors`` carrying the aligned vectors for the
    measures that need them; no neighbour search is repeated); ``null=P`` adds the
    permutation null of the measures of the top-k lists.

    >>> import numpy as np, nnoverlap as nno
    >>> from nnoverlap.report import compare
    >>> rng = np.random.default_rng(0)
    >>> words = [f"w{i}" for i in range(60)]
    >>> A = rng.normal(size=(60, 4))
    >>> c = compare(nno.Embeddings(words, A), nno.Embeddings(words, A + 0.1), [5])
    >>> m = compare_measures(c, ["mnno", "jaccard"], null=20)
    >>> r = m.results["mnno", 5]
    >>> abs(r.value - float(c.mnno[0])) < 1e-12, 0 < r.p <= 1
    (True, True)
    """
    for name in names:
        s = spec(name)
        if s.metric is not None and s.metric != c.metric:
            raise ValueError(
                f"{name} is defined on {s.metric} neighbours, but this comparison uses "
                f"--metric {c.metric} (leave {name} out, or use --metric {s.metric})"
            )
    if c.scores_a is None or c.scores_b is None:
        raise ValueError("this Comparison keeps no neighbour scores; recompute it with compare()")
    na = Neighbors(c.neighbors_a, c.scores_a, c.metric, c.vectors_a)
    nb = Neighbors(c.neighbors_b, c.scores_b, c.metric, c.vectors_b)
    ks = list(c.ks)
    # cknna is undefined at k < 2 (nnoverlap.cknna and measure refuse it): measured only at
    # the other k, the outputs say why. The same seed gives every measure the same nulls.
    groups = [([n for n in names if n != "cknna"], ks)]
    if "cknna" in names:
        groups.append((["cknna"], [k for k in ks if _why_undefined("cknna", k) is None]))
    found: dict[tuple[str, int | None], MeasureResult] = {}
    for group, gks in groups:
        if group and gks:
            res = measure(
                na, nb, gks, measures=group, metric=c.metric, threads=threads, null=null, seed=seed
            )
            found.update({(r.measure, r.k): r for r in res})
    # in the asked order: measure by measure, k by k (global measures once, k None)
    order = [(n, k) for n in names for k in [None, *ks]]
    kept = MeasureResults([found[key] for key in order if key in found])
    return CompareMeasures(kept, list(names), ks, null, seed)
