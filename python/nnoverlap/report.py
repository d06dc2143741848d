"""Comparing two vocabularies: mNNO at several k, per-word overlap, the words whose
neighbourhoods agree least and most, and the report as text, JSON, CSV and plots.

>>> import numpy as np
>>> from nnoverlap import Embeddings
>>> from nnoverlap.report import compare
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(50, 8))
>>> words = [f"w{i}" for i in range(50)]
>>> c = compare(Embeddings(words, X), Embeddings(words[::-1], 2 * X[::-1]), k=[1, 5])
>>> c.n, c.mnno.tolist()
(50, [1.0, 1.0])
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import _api
from ._core import __version__
from .io import Embeddings, align

__all__ = ["Comparison", "compare", "mnno_curve", "write_plots"]

Progress = Callable[[int, int], Any]


@dataclass
class Comparison:
    """The result of :func:`compare`: rows are the shared words, in A's order."""

    words: list[str]
    ks: list[int]
    metric: str
    counts: np.ndarray
    """(n, len(ks)) int64: NNO^k of each word, |NN^k_A ∩ NN^k_B|."""
    neighbors_a: np.ndarray
    """(n, max(ks)) int64: each word's nearest neighbours in A (rows of this comparison)."""
    neighbors_b: np.ndarray
    rank_a: np.ndarray
    """(n,) the 1-based row of each word in A's file (its frequency rank, for most files)."""
    rank_b: np.ndarray
    a: dict[str, Any] = field(default_factory=dict)
    """About A: ``label``, ``format``, ``words`` (before alignment), ``dim``, ``only_in_a``."""
    b: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.words)

    @property
    def mnno(self) -> np.ndarray:
        """mNNO at each k of ``ks``."""
        return self.counts.sum(axis=0) / (np.asarray(self.ks, dtype=np.float64) * self.n)

    @property
    def chance(self) -> np.ndarray:
        """The chance level k / (n - 1) at each k."""
        return np.asarray(self.ks, dtype=np.float64) / (self.n - 1)

    @property
    def focus_k(self) -> int:
        """The k at which words are ranked: 10 if computed, else the largest k."""
        return 10 if 10 in self.ks else max(self.ks)

    def _column(self, k: int) -> np.ndarray:
        return self.counts[:, self.ks.index(k)]

    def least(self, m: int) -> list[int]:
        """Rows of the m words that agree least at :attr:`focus_k` (most frequent first on ties)."""
        c = self._column(self.focus_k)
        return np.lexsort((self.rank_a, c))[:m].tolist()

    def most(self, m: int) -> list[int]:
        """Rows of the m words that agree most at :attr:`focus_k` (most frequent first on ties)."""
        c = self._column(self.focus_k)
        return np.lexsort((self.rank_a, -c))[:m].tolist()

    def neighbor_words(self, row: int, side: str, k: int | None = None) -> list[str]:
        nb = self.neighbors_a if side == "a" else self.neighbors_b
        k = self.focus_k if k is None else k
        return [self.words[j] for j in nb[row, :k].tolist()]

    def _word_entry(self, row: int) -> dict[str, Any]:
        return {
            "word": self.words[row],
            "rank_a": int(self.rank_a[row]),
            "nno": int(self._column(self.focus_k)[row]),
            "neighbors_a": self.neighbor_words(row, "a"),
            "neighbors_b": self.neighbor_words(row, "b"),
        }

    def to_dict(self, show: int = 10) -> dict[str, Any]:
        """The summary written by ``--json``."""
        return {
            "n": self.n,
            "metric": self.metric,
            "k": list(self.ks),
            "include_self": False,
            "mnno": {str(k): float(v) for k, v in zip(self.ks, self.mnno)},
            "chance": {str(k): float(v) for k, v in zip(self.ks, self.chance)},
            "a": dict(self.a),
            "b": dict(self.b),
            "focus_k": self.focus_k,
            "least": [self._word_entry(r) for r in self.least(show)],
            "most": [self._word_entry(r) for r in self.most(show)],
            "nnoverlap": __version__,
        }

    def write_json(self, path: str | os.PathLike[str], show: int = 10) -> None:
        Path(path).write_text(json.dumps(self.to_dict(show), indent=2, ensure_ascii=False) + "\n")

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """One row per word: word, rank_a, rank_b, nno_k<k> for each k."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["word", "rank_a", "rank_b"] + [f"nno_k{k}" for k in self.ks])
            ra, rb, counts = self.rank_a.tolist(), self.rank_b.tolist(), self.counts.tolist()
            for i, word in enumerate(self.words):
                w.writerow([word, ra[i], rb[i], *counts[i]])

    def format_text(self, show: int = 5, neighbors: int = 5, width: int = 120) -> str:
        """The report printed by ``nnoverlap compare``, about ``width`` characters wide."""
        a, b = self.a, self.b
        lines = []
        for name, s in (("A", a), ("B", b)):
            lines.append(
                f"{name}: {s.get('label', '?')}  ({s.get('format', '?')}, "
                f"{s.get('words', 0):,} words x {s.get('dim', 0)})"
            )
        lines.append(
            f"aligned: {self.n:,} words in both, in A's order "
            f"({a.get('only_in_a', 0):,} only in A, {b.get('only_in_b', 0):,} only in B)"
        )
        lines.append(f"neighbours: exact, {self.metric}, self excluded\n")
        lines.append(f"{'k':>5}  {'mNNO':>8}  {'chance k/(n-1)':>14}  {'mNNO/chance':>11}")
        for k, m, c in zip(self.ks, self.mnno, self.chance):
            lines.append(f"{k:>5}  {m:8.4f}  {c:14.6f}  {m / c:11.1f}")
        K = self.focus_k
        for title, rows in (("least", self.least(show)), ("most", self.most(show))):
            lines.append(
                f"\nNeighbourhoods that agree {title} at k={K} (earliest in A first on ties; "
                f"* = in both top {K}):"
            )
            lines.extend(self._table(rows, neighbors, width))
        return "\n".join(lines)

    def _table(self, rows: list[int], neighbors: int, total: int) -> list[str]:
        K = self.focus_k
        cells = []
        for r in rows:
            na, nb = self.neighbors_a[r, :K].tolist(), self.neighbors_b[r, :K].tolist()
            both = set(na) & set(nb)

            def show(ids: list[int], width: int, both: set[int] = both) -> str:
                # Whole words only: as many of the nearest as fit in the column.
                names = [("*" if j in both else "") + self.words[j] for j in ids[:neighbors]]
                text = names[0] if len(names[0]) <= width else names[0][: width - 3] + "..."
                for name in names[1:]:
                    if len(text) + 2 + len(name) > width:
                        break
                    text += ", " + name
                return text

            word = self.words[r] if len(self.words[r]) <= 24 else self.words[r][:21] + "..."
            cells.append((word, f"{int(self._column(K)[r])}/{K}", na, nb, show))
        ww = max([len("word")] + [len(c[0]) for c in cells])
        # What is left of the line after the word and NNO columns, shared by the two lists.
        width = max(24, (total - ww - 13) // 2)
        cells = [(w, n, show(na, width), show(nb, width)) for w, n, na, nb, show in cells]
        wa = max([len("nearest in A")] + [len(c[2]) for c in cells])
        out = [f"  {'word':<{ww}}  {'NNO':>5}  {'nearest in A':<{wa}}  nearest in B"]
        out += [f"  {w:<{ww}}  {n:>5}  {na:<{wa}}  {nb}" for w, n, na, nb in cells]
        return out


def _source(e: Embeddings, only: int, side: str) -> dict[str, Any]:
    return {
        "label": e.path or "(in memory)",
        "format": e.format or "array",
        "words": len(e),
        "dim": e.dim,
        f"only_in_{side}": only,
    }


def compare(
    a: Embeddings,
    b: Embeddings,
    k: Sequence[int] = (1, 5, 10, 50),
    *,
    metric: str = "cosine",
    threads: int | None = None,
    progress_a: Progress | None = None,
    progress_b: Progress | None = None,
    knn: Callable[..., Any] | None = None,
) -> Comparison:
    """Align two embeddings on their shared words and compare their neighbourhoods.

    Computes the exact ``max(k)`` nearest neighbours of every shared word within A and within B
    (self excluded) and the overlap NNO^k of each word at every k.

    Raises:
        ValueError: fewer than ``max(k) + 1`` shared words, a zero vector under cosine (naming
            the words), bad k or metric.
    """
    ks = sorted({int(x) for x in k})
    if not ks or ks[0] < 1:
        raise ValueError(f"k must be one or more integers >= 1, got {list(k)}")
    al = align(a, b)
    a2, b2 = al
    n = len(a2)
    if n < ks[-1] + 1:
        raise ValueError(
            f"A and B share only {n} words ({al.dropped_a} more in A, {al.dropped_b} more in B): "
            f"k = {ks[-1]} needs at least {ks[-1] + 1}"
        )
    if metric == "cosine":
        for name, e in (("A", a2), ("B", b2)):
            zero = np.flatnonzero(~np.asarray(e.vectors).any(axis=1))
            if zero.size:
                shown = ", ".join(repr(e.words[i]) for i in zero[:5].tolist())
                raise ValueError(
                    f"{name} ({e.path}) has {zero.size} word(s) whose vector is all zeros, "
                    f"where cosine is undefined: {shown}{', ...' if zero.size > 5 else ''}; "
                    "use --metric ip or l2, or remove them"
                )
    kmax = ks[-1]
    run = _api.knn if knn is None else knn  # knn: e.g. nnoverlap.distributed.session()
    ia = run(a2.vectors, kmax, metric=metric, threads=threads, progress=progress_a).indices
    ib = run(b2.vectors, kmax, metric=metric, threads=threads, progress=progress_b).indices
    counts = np.column_stack([_api.overlap(ia, ib, kk) for kk in ks]).astype(np.int64)
    return Comparison(
        words=list(a2.words),
        ks=ks,
        metric=metric,
        counts=counts,
        neighbors_a=ia,
        neighbors_b=ib,
        rank_a=al.rows_a + 1,
        rank_b=al.rows_b + 1,
        a=_source(a, al.dropped_a, "a"),
        b=_source(b, al.dropped_b, "b"),
    )


def mnno_curve(ia: np.ndarray, ib: np.ndarray, block: int = 2048) -> np.ndarray:
    """mNNO at every k = 1 .. width from two (n, width) neighbour lists, in one pass.

    A shared neighbour at position j of A's list and p of B's counts for every k > max(j, p),
    so a histogram of max(j, p) over all shared neighbours, summed up, gives every k at once.

    >>> import numpy as np
    >>> mnno_curve(np.array([[1, 2], [0, 2]]), np.array([[2, 1], [2, 1]])).tolist()
    [0.0, 0.75]
    """
    n, width = ia.shape
    hits = np.zeros(width, dtype=np.int64)
    for s in range(0, n, block):
        a, b = ia[s : s + block], ib[s : s + block]
        eq = a[:, :, None] == b[:, None, :]
        _, j, p = np.nonzero(eq)
        hits += np.bincount(np.maximum(j, p), minlength=width)
    ks = np.arange(1, width + 1, dtype=np.float64)
    return np.cumsum(hits) / (ks * n)


def _write_rows(path: Path, header: list[str], rows: Sequence[Sequence[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def write_plots(c: Comparison, directory: str | os.PathLike[str]) -> list[Path]:
    """Three PNG plots, each with a CSV of the data behind it, into ``directory``:

    - ``overlap_histogram``: how many words share 0, 1, ..., k of their k nearest neighbours,
      with the chance level marked;
    - ``mnno_vs_k``: mNNO at every k up to the largest (log axis), with chance;
    - ``overlap_vs_rank``: mean per-word overlap against the word's frequency rank in A.

    Needs matplotlib (``pip install 'nnoverlap[plot]'``). Returns the files written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        raise ValueError(
            "plots need matplotlib: pip install 'nnoverlap[plot]' (or pip install matplotlib)"
        ) from None
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    n, K = c.n, c.focus_k
    pair = f"A = {_short(c.a.get('label'))}, B = {_short(c.b.get('label'))}"
    written: list[Path] = []

    # 1. Histogram of per-word overlap at the focus k.
    counts = np.bincount(c._column(K), minlength=K + 1)
    frac = counts / n
    _write_rows(
        out / "overlap_histogram.csv",
        ["nno", "words", "fraction"],
        [(v, int(counts[v]), float(frac[v])) for v in range(K + 1)],
    )
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    ax.bar(np.arange(K + 1), frac, color="#4c72b0", width=0.8, label="words")
    chance_nno = K * K / (n - 1)
    mean_nno = float(c._column(K).mean())
    ax.axvline(chance_nno, color="#c44e52", ls="--", lw=1.5, label=f"chance {chance_nno:.3g}")
    ax.axvline(
        mean_nno, color="black", lw=1.5, label=f"mean {mean_nno:.3g} (mNNO {mean_nno / K:.3f})"
    )
    ax.set_xlabel(f"NNO$^{{{K}}}$: neighbours shared among each word's {K} nearest")
    ax.set_ylabel("fraction of words")
    ax.set_xticks(np.arange(K + 1) if K <= 20 else np.linspace(0, K, 11).round().astype(int))
    ax.set_title(f"Per-word neighbourhood overlap, k = {K}, n = {n:,}\n{pair}", fontsize=10)
    ax.legend(frameon=False)
    written += _save(fig, out / "overlap_histogram.png")

    # 2. mNNO against k (every k up to the largest, from the same neighbour lists).
    curve = mnno_curve(c.neighbors_a, c.neighbors_b)
    kk = np.arange(1, curve.size + 1)
    chance = kk / (n - 1)
    _write_rows(
        out / "mnno_vs_k.csv",
        ["k", "mnno", "chance"],
        [(int(k), float(m), float(ch)) for k, m, ch in zip(kk, curve, chance)],
    )
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    ax.plot(kk, curve, color="#4c72b0", lw=2, label="mNNO$^k$(A, B)")
    ax.plot(c.ks, c.mnno, "o", color="#4c72b0")
    for k, m in zip(c.ks, c.mnno):
        ax.annotate(f"{m:.3f}", (k, m), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.plot(kk, chance, color="#c44e52", ls="--", lw=1.5, label="chance k/(n-1)")
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= curve.size]
    ax.set_xticks(sorted(set(ticks) | set(c.ks)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("k (nearest neighbours, log scale)")
    ax.set_ylabel("mNNO$^k$")
    ax.set_ylim(0, max(0.05, float(curve.max()) * 1.15))
    ax.set_title(f"Mean nearest-neighbour overlap against k, n = {n:,}\n{pair}", fontsize=10)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, which="both")
    written += _save(fig, out / "mnno_vs_k.png")

    # 3. Overlap against frequency rank in A, averaged in log-spaced rank bins.
    ranks = c.rank_a.astype(np.float64)
    share = c._column(K) / K
    # Log-spaced rank bins, each holding at least `least` words so that no point is one word.
    least = max(5, n // 100)
    edges = np.unique(np.geomspace(1, ranks.max() + 1, 41).round())
    order = np.argsort(ranks, kind="stable")
    sorted_ranks, sorted_share = ranks[order], share[order]
    rows = []
    lo = 0
    for hi_rank in edges[1:]:
        hi = int(np.searchsorted(sorted_ranks, hi_rank, side="left"))
        if hi - lo >= least or (hi == n and hi > lo):
            sel = sorted_share[lo:hi]
            q25, q75 = np.percentile(sel, [25, 75])
            rows.append(
                (
                    int(sorted_ranks[lo]),
                    int(sorted_ranks[hi - 1]),
                    int(sel.size),
                    float(sel.mean()),
                    float(q25),
                    float(q75),
                )
            )
            lo = hi
    _write_rows(
        out / "overlap_vs_rank.csv",
        ["rank_from", "rank_to", "words", "mean_overlap", "q25", "q75"],
        rows,
    )
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    mid = np.array([math.sqrt(r[0] * max(r[1], r[0])) for r in rows])
    mean = np.array([r[3] for r in rows])
    ax.fill_between(
        mid,
        [r[4] for r in rows],
        [r[5] for r in rows],
        color="#4c72b0",
        alpha=0.2,
        label="25-75% of words",
    )
    ax.plot(mid, mean, "o-", color="#4c72b0", lw=2, ms=4, label=f"mean NNO$^{{{K}}}$/{K}")
    ax.axhline(K / (n - 1), color="#c44e52", ls="--", lw=1.5, label="chance k/(n-1)")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("frequency rank of the word in A (row in A's file, log scale)")
    ax.set_ylabel(f"share of the {K} nearest neighbours in common")
    ax.set_ylim(0, 1)
    ax.set_title(f"Neighbourhood overlap against word frequency, k = {K}\n{pair}", fontsize=10)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, which="both")
    written += _save(fig, out / "overlap_vs_rank.png")
    return written + [
        out / f"{s}.csv" for s in ("overlap_histogram", "mnno_vs_k", "overlap_vs_rank")
    ]


def _short(label: Any, width: int = 40) -> str:
    text = os.path.basename(str(label)) if label and os.sep in str(label) else str(label)
    return text if len(text) <= width else text[: width - 3] + "..."


def _save(fig: Any, path: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [path]
