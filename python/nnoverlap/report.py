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

Every function that writes checks its output path first (:func:`check_output_file`,
:func:`check_output_dir`) and :func:`write_plots` checks for matplotlib before it computes
anything, so a bad path fails at once with a message naming it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import _api, _progress
from .io import Embeddings, align

__all__ = [
    "FREQUENCY_ORDERED_FORMATS",
    "Comparison",
    "check_output_dir",
    "check_output_file",
    "compare",
    "mnno_curve",
    "mnno_decimals",
    "require_matplotlib",
    "skipped_plots",
    "write_plots",
]

Progress = Callable[[int, int], Any]

FREQUENCY_ORDERED_FORMATS = ("word2vec", "word2vec-binary", "glove", "fasttext")
"""Formats whose files list words by descending corpus frequency: word2vec.c, GloVe's
``vocab_count`` and fastText all sort their vocabulary by count before writing, so a word's row
is its frequency rank. Other containers (``.npy``, in-memory arrays) say nothing of the order."""

_DROPPED = ("dropped_nonfinite", "dropped_zero")
_FORMAT_NAMES = {"word2vec-binary": "word2vec", "glove": "GloVe", "fasttext": "fastText"}
PLOT_EXTRA = 'pip install "nnoverlap[plot]"'


# --- output paths ----------------------------------------------------------------------------


def _label(path: Any, what: str | None) -> str:
    return f"{what} {path}" if what else f"cannot write {path}"


def _probe_dir(d: Path) -> str | None:
    """Why no file can be created in the existing directory ``d``, or None if one can."""
    try:
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) replaced by None, numpy scalars and
    arrays made plain: strict JSON, which other tools can read (Python's json writes ``NaN``,
    which is not JSON).

    >>> json_safe({"a": [1.0, float("nan")], "b": np.float64(np.inf), "c": np.arange(2)})
    {'a': [1.0, None], 'b': None, 'c': [0, 1]}
    """
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_text(obj: Any) -> str:
    """Strict JSON of ``obj`` (see :func:`json_safe`), indented, with a final newline."""
    return json.dumps(json_safe(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def check_output_file(path: str | os.PathLike[str], what: str | None = None) -> Path:
    """Check that ``path`` can be written as a file, before any work is done.

    Its directory must exist and accept new files; an existing ``path`` must be a writable
    file, not a directory. ``what`` names the path in the message (the CLI passes the flag,
    such as ``"--json"``). Nothing is created or changed.

    Raises:
        OSError: ``FileNotFoundError``, ``NotADirectoryError``, ``IsADirectoryError`` or
            ``PermissionError``, naming the path and what is wrong with it.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_file(d / "summary.json") == d / "summary.json"
    True
    >>> check_output_file(d / "missing" / "summary.json", "--json")
    Traceback (most recent call last):
    ...
    FileNotFoundError: --json .../missing/summary.json: the directory .../missing does not exist
    """
    p = Path(path)
    label = _label(path, what)
    if p.is_dir():
        raise IsADirectoryError(f"{label}: is a directory; give a file name")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise PermissionError(f"{label}: the file exists and is not writable")
        return p
    parent = p.parent
    if not parent.exists():
        raise FileNotFoundError(f"{label}: the directory {parent} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"{label}: {parent} is not a directory")
    reason = _probe_dir(parent)
    if reason is not None:
        raise PermissionError(f"{label}: cannot create files in {parent} ({reason})")
    return p


def check_output_dir(path: str | os.PathLike[str], what: str | None = None) -> Path:
    """Check that ``path`` is, or can be made, a directory that accepts new files.

    An existing ``path`` must be a writable directory; a missing one is created later (with
    its missing parents), so its nearest existing ancestor must be a writable directory.
    Nothing is created or changed here. Raises ``OSError`` subclasses naming the path.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_dir(d / "plots" / "run1") == d / "plots" / "run1"
    True
    """
    p = Path(path)
    label = _label(path, what)
    if p.exists():
        if not p.is_dir():
            raise NotADirectoryError(f"{label}: exists and is not a directory")
        reason = _probe_dir(p)
        if reason is not None:
            raise PermissionError(f"{label}: cannot create files in it ({reason})")
        return p
    ancestor = p.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(f"{label}: {ancestor} is not a directory")
    reason = _probe_dir(ancestor)
    if reason is not None:
        raise PermissionError(f"{label}: cannot create it in {ancestor} ({reason})")
    return p


def require_matplotlib() -> None:
    """Raise ``ImportError`` saying how to install matplotlib, if it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(
            f"plots need matplotlib, which is not installed: {PLOT_EXTRA} "
            "(or pip install matplotlib)"
        ) from None


# --- the comparison ----------------------------------------------------------------------------


def mnno_decimals(chance: float) -> int:
    """Decimals that show mNNO next to a chance level ``chance`` (the smallest of a table).

    At least 4, and enough for two significant digits of the chance level, so that a value
    near chance never prints as 0.0000.

    >>> mnno_decimals(10 / 999), mnno_decimals(1 / 999), mnno_decimals(1 / 59_999)
    (4, 4, 6)
    """
    if not chance > 0 or not math.isfinite(chance):
        return 4
    return max(4, 1 - math.floor(math.log10(chance)))


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
    """About A: ``label``, ``format``, ``words`` (before alignment), ``dim``, ``only_in_a``,
    ``dropped_nonfinite`` and ``dropped_zero`` (shared words left out for A's vector)."""
    b: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """Things the reader of the numbers should know (most of a vocabulary not shared, ...)."""
    scores_a: np.ndarray | None = field(default=None, repr=False)
    """(n, max(ks)) the scores of ``neighbors_a`` (for ``nnoverlap.Neighbors``)."""
    scores_b: np.ndarray | None = field(default=None, repr=False)
    vectors_a: Any = field(default=None, repr=False)
    """(n, d) A's aligned vectors (the measures that need ranks beyond k use them)."""
    vectors_b: Any = field(default=None, repr=False)
    measures: Any = field(default=None, repr=False)
    """``nnoverlap.measures.compare.CompareMeasures`` added by ``compare --measures`` (None:
    not asked for): the measures' table, JSON object and per-word columns."""

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
        from . import __version__

        return {
            "n": self.n,
            "metric": self.metric,
            "k": list(self.ks),
            "include_self": False,
            "mnno": {str(k): float(v) for k, v in zip(self.ks, self.mnno)},
            "chance": {str(k): float(v) for k, v in zip(self.ks, self.chance)},
            "a": dict(self.a),
            "b": dict(self.b),
            "warnings": list(self.warnings),
            "focus_k": self.focus_k,
            "least": [self._word_entry(r) for r in self.least(show)],
            "most": [self._word_entry(r) for r in self.most(show)],
            "nnoverlap": __version__,
            **({"measures": self.measures.to_dict()} if self.measures is not None else {}),
        }

    def write_json(self, path: str | os.PathLike[str], show: int = 10) -> None:
        """Write :meth:`to_dict` as JSON (the path is checked first; NaN and infinities, which
        JSON has no words for, are written as null)."""
        check_output_file(path)
        Path(path).write_text(json_text(self.to_dict(show)), encoding="utf-8")

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """One row per word: word, rank_a, rank_b, nno_k<k> for each k (the path is checked
        first)."""
        check_output_file(path)
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            extra: list[str] = []
            cols: list[Any] = []
            if self.measures is not None:
                extra, cols = self.measures.per_word()
            w.writerow(["word", "rank_a", "rank_b"] + [f"nno_k{k}" for k in self.ks] + extra)
            ra, rb, counts = self.rank_a.tolist(), self.rank_b.tolist(), self.counts.tolist()
            for i, word in enumerate(self.words):
                w.writerow([word, ra[i], rb[i], *counts[i], *(c[i] for c in cols)])

    def format_text(self, show: int = 5, neighbors: int = 5, width: int = 120) -> str:
        """The report printed by ``nnoverlap compare``, about ``width`` characters wide.

        ``show`` words agreeing least and most are listed (0: none); mNNO is printed with
        :func:`mnno_decimals` decimals, so that it can be read beside the chance level.
        """
        a, b = self.a, self.b
        lines = []
        for name, s in (("A", a), ("B", b)):
            lines.append(
                f"{name}: {s.get('label', '?')}  ({s.get('format', '?')}, "
                f"{s.get('words', 0):,} words x {s.get('dim', 0)})"
            )
        left_out = sum(len(s.get(key) or []) for s in (a, b) for key in _DROPPED)
        lines.append(
            f"aligned: {self.n + left_out:,} words in both, in A's order "
            f"({a.get('only_in_a', 0):,} only in A, {b.get('only_in_b', 0):,} only in B)"
        )
        for name, s in (("A", a), ("B", b)):
            for key, what in (
                ("dropped_nonfinite", "a NaN or infinite value"),
                ("dropped_zero", "an all-zero vector (cosine undefined)"),
            ):
                words = s.get(key) or []
                if words:
                    shown = ", ".join(words[:8]) + (", ..." if len(words) > 8 else "")
                    lines.append(f"left out {_words(len(words))} with {what} in {name}: {shown}")
        if left_out:
            lines.append(f"compared: the other {self.n:,} words")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        lines.append(f"neighbours: exact, {self.metric}, self excluded\n")
        dm = mnno_decimals(float(self.chance.min()))
        dc = max(6, dm + 1)
        wm, wc = max(8, dm + 2), max(14, dc + 2)
        lines.append(f"{'k':>5}  {'mNNO':>{wm}}  {'chance k/(n-1)':>{wc}}  {'mNNO/chance':>11}")
        for k, m, c in zip(self.ks, self.mnno, self.chance):
            lines.append(f"{k:>5}  {m:{wm}.{dm}f}  {c:{wc}.{dc}f}  {m / c:11.1f}")
        if self.measures is not None:
            lines.extend(self.measures.table())
        if show <= 0:
            return "\n".join(lines)
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
        texts = [(w, n, show(na, width), show(nb, width)) for w, n, na, nb, show in cells]
        wa = max([len("nearest in A")] + [len(c[2]) for c in texts])
        out = [f"  {'word':<{ww}}  {'NNO':>5}  {'nearest in A':<{wa}}  nearest in B"]
        out += [f"  {w:<{ww}}  {n:>5}  {na:<{wa}}  {nb}" for w, n, na, nb in texts]
        return out


def _source(e: Embeddings, only: int, side: str) -> dict[str, Any]:
    return {
        "label": e.path or "(in memory)",
        "format": e.format or "array",
        "words": len(e),
        "dim": e.dim,
        f"only_in_{side}": only,
        "dropped_nonfinite": [],
        "dropped_zero": [],
    }


def _bad_rows(vectors: np.ndarray, test: str, block: int = 65536) -> np.ndarray:
    """Rows of ``vectors`` holding a NaN/inf (``test="nonfinite"``) or only zeros
    (``"zero"``), in blocks so that no full-size temporary is made."""
    out = []
    for s in range(0, vectors.shape[0], block):
        chunk = np.asarray(vectors[s : s + block])
        bad = ~np.isfinite(chunk).all(axis=1) if test == "nonfinite" else ~chunk.any(axis=1)
        out.append(np.flatnonzero(bad) + s)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.intp)


def _words(n: int) -> str:
    return f"{n:,} word" if n == 1 else f"{n:,} words"


def _words_text(words: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(w) for w in words[:limit])
    return shown + (", ..." if len(words) > limit else "")


def _most_dropped(name: str, other: str, kept: int, total: int) -> str | None:
    if total == 0 or kept * 2 >= total:
        return None
    return (
        f"only {kept:,} of {name}'s {total:,} words ({kept / total:.0%}) are in {other}: "
        "the numbers describe that part of the vocabulary; check that both files use the "
        "same tokens (case, multi-word phrases joined with _ or spaces)"
    )


def compare(
    a: Embeddings,
    b: Embeddings,
    k: Sequence[int] = (1, 5, 10, 50),
    *,
    metric: str = "cosine",
    drop_nonfinite: bool = False,
    drop_zero: bool = False,
    threads: int | None = None,
    progress_a: Progress | None = None,
    progress_b: Progress | None = None,
    knn: Callable[..., Any] | None = None,
) -> Comparison:
    """Align two embeddings on their shared words and compare their neighbourhoods.

    Computes the exact ``max(k)`` nearest neighbours of every shared word within A and within B
    (self excluded) and the overlap NNO^k of each word at every k.

    A shared word whose vector holds a NaN or infinite value (on either side), or is all
    zeros under cosine, is an error naming the words, unless ``drop_nonfinite=True`` /
    ``drop_zero=True``, which leave those words out of both sides and list them in the
    result (``a["dropped_nonfinite"]``, ...). The progress callbacks end with ``done ==
    total`` and never see ``(0, 0)``.

    Raises:
        ValueError: fewer than ``max(k) + 1`` shared words, NaN/inf or (cosine) zero vectors
            (naming the words), bad k or metric.

    >>> import numpy as np
    >>> from nnoverlap import Embeddings
    >>> v = np.array([[1.0, 0], [0, 1], [np.nan, 0], [1, 1]])
    >>> e = Embeddings(["a", "b", "c", "d"], v)
    >>> c = compare(e, e, k=[1], drop_nonfinite=True)
    >>> c.words, c.a["dropped_nonfinite"]
    (['a', 'b', 'd'], ['c'])
    """
    ks = sorted({int(x) for x in k})
    if not ks or ks[0] < 1:
        raise ValueError(f"k must be one or more integers >= 1, got {list(k)}")
    if metric not in _api.METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(_api.METRICS)}")
    al = align(a, b)
    a2, b2 = al
    # Rows the reader already left out (load(drop_nonfinite=True)): the words the other side
    # has count as shared words left out, not as words only the other side has.
    pre_a = [w for w in a.dropped_nonfinite if w in b]
    pre_b = [w for w in b.dropped_nonfinite if w in a]
    src_a = _source(a, al.dropped_a - len(pre_b), "a")
    src_b = _source(b, al.dropped_b - len(pre_a), "b")
    src_a["dropped_nonfinite"], src_b["dropped_nonfinite"] = pre_a, pre_b
    warnings = [
        w
        for w in (
            _most_dropped("A", "B", len(a2), len(a)),
            _most_dropped("B", "A", len(b2), len(b)),
        )
        if w
    ]
    keep = np.ones(len(a2), dtype=bool)
    tests = [("nonfinite", drop_nonfinite)] + ([("zero", drop_zero)] if metric == "cosine" else [])
    for test, drop in tests:
        for name, e, src in (("A", a2, src_a), ("B", b2, src_b)):
            rows = _bad_rows(e.vectors, test)
            rows = rows[keep[rows]]  # a word already left out is not counted twice
            if not rows.size:
                continue
            words = [e.words[i] for i in rows.tolist()]
            if not drop:
                if test == "nonfinite":
                    what, flag = "a NaN or infinite value", "drop_nonfinite=True"
                    other = ""
                else:
                    what, flag = "an all-zero vector, where cosine is undefined", "drop_zero=True"
                    other = ", or use metric='ip' or 'l2'"
                raise ValueError(
                    f"{name} ({e.path or 'in memory'}) has {len(words):,} shared word(s) with "
                    f"{what}: {_words_text(words)}; pass {flag} to leave them out{other}"
                )
            keep[rows] = False
            src[f"dropped_{test}"] = src[f"dropped_{test}"] + words
    if not keep.all():
        rows = np.flatnonzero(keep)
        a2 = Embeddings._trusted([a2.words[i] for i in rows], a2.vectors[rows], a2.path, a2.format)
        b2 = Embeddings._trusted([b2.words[i] for i in rows], b2.vectors[rows], b2.path, b2.format)
        rows_a, rows_b = al.rows_a[rows], al.rows_b[rows]
    else:
        rows_a, rows_b = al.rows_a, al.rows_b
    n = len(a2)
    if n < ks[-1] + 1:
        left = n if keep.all() else f"{n} usable"
        raise ValueError(
            f"A and B share only {left} words ({al.dropped_a} more in A, {al.dropped_b} more in "
            f"B): k = {ks[-1]} needs at least {ks[-1] + 1}"
        )
    kmax = ks[-1]
    run = _api.knn if knn is None else knn  # knn: e.g. nnoverlap.distributed.session()
    neighbours, scores = [], []
    for e, callback in ((a2, progress_a), (b2, progress_b)):
        step = _progress.Steps(callback)
        result = run(
            e.vectors, kmax, metric=metric, threads=threads, progress=step if callback else None
        )
        step.finish()
        neighbours.append(result.indices)
        scores.append(result.scores)
    ia, ib = neighbours
    counts = np.column_stack([_api.overlap(ia, ib, kk) for kk in ks]).astype(np.int64)
    return Comparison(
        words=list(a2.words),
        ks=ks,
        metric=metric,
        counts=counts,
        neighbors_a=ia,
        neighbors_b=ib,
        rank_a=rows_a + 1,
        rank_b=rows_b + 1,
        a=src_a,
        b=src_b,
        warnings=warnings,
        scores_a=np.asarray(scores[0]),
        scores_b=np.asarray(scores[1]),
        vectors_a=a2.vectors,
        vectors_b=b2.vectors,
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


def _frequency_order(c: Comparison, frequency_order: bool | None) -> bool:
    if frequency_order is not None:
        return bool(frequency_order)
    return c.a.get("format") in FREQUENCY_ORDERED_FORMATS


def skipped_plots(c: Comparison, frequency_order: bool | None = None) -> dict[str, str]:
    """The plots :func:`write_plots` leaves out for ``c``, each with the reason.

    ``mnno_vs_k`` needs neighbour lists longer than 1 (a largest k of at least 2);
    ``overlap_vs_rank`` needs A's rows in frequency order: ``frequency_order=None`` takes it
    from A's format (:data:`FREQUENCY_ORDERED_FORMATS`), True or False says so.
    """
    out = {}
    if max(c.ks) < 2:
        out["mnno_vs_k"] = "mNNO against k needs a largest k of 2 or more; only k = 1 was computed"
    if not _frequency_order(c, frequency_order):
        fmt = c.a.get("format", "?")
        out["overlap_vs_rank"] = (
            f"overlap against frequency rank needs A's rows in frequency order, and rows of "
            f"{fmt} data are not known to be (word2vec, GloVe and fastText files are, as their "
            "tools write them); if they are, pass frequency_order=True"
        )
    return out


def write_plots(
    c: Comparison, directory: str | os.PathLike[str], *, frequency_order: bool | None = None
) -> list[Path]:
    """Up to three PNG plots, each with a CSV of the data behind it, into ``directory``:

    - ``overlap_histogram``: how many words share 0, 1, ..., k of their k nearest neighbours,
      with the chance level marked;
    - ``mnno_vs_k``: mNNO at every k up to the largest (log axis), with chance; left out when
      the largest k is 1;
    - ``overlap_vs_rank``: mean per-word overlap against the word's frequency rank in A (its
      row in A's file); drawn only when A's rows are in frequency order (see
      :func:`skipped_plots`).

    Needs matplotlib (``pip install "nnoverlap[plot]"``): checked, with the directory, before
    anything is computed. Returns the files written.
    """
    require_matplotlib()
    out = check_output_dir(directory)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    skipped = skipped_plots(c, frequency_order)
    out.mkdir(parents=True, exist_ok=True)
    n, K = c.n, c.focus_k
    dm = mnno_decimals(K / (n - 1))
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
        mean_nno, color="black", lw=1.5, label=f"mean {mean_nno:.3g} (mNNO {mean_nno / K:.{dm}f})"
    )
    ax.set_xlabel(f"NNO$^{{{K}}}$: neighbours shared among each word's {K} nearest")
    ax.set_ylabel("fraction of words")
    ax.set_xticks(np.arange(K + 1) if K <= 20 else np.linspace(0, K, 11).round().astype(int))
    ax.set_title(f"Per-word neighbourhood overlap, k = {K}, n = {n:,}\n{pair}", fontsize=10)
    ax.legend(frameon=False)
    written += _save(fig, out / "overlap_histogram.png")

    # 2. mNNO against k (every k up to the largest, from the same neighbour lists).
    if "mnno_vs_k" not in skipped:
        curve = mnno_curve(c.neighbors_a, c.neighbors_b)
        kk = np.arange(1, curve.size + 1)
        chance = kk / (n - 1)
        _write_rows(
            out / "mnno_vs_k.csv",
            ["k", "mnno", "chance"],
            [(int(k), float(m), float(ch)) for k, m, ch in zip(kk, curve, chance)],
        )
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
        ax.plot(kk, curve, color="#4c72b0", lw=2, marker="." if curve.size <= 20 else None,
                label="mNNO$^k$(A, B)")  # fmt: skip
        ax.plot(c.ks, c.mnno, "o", color="#4c72b0")
        dk = mnno_decimals(1 / (n - 1))
        for k, m in zip(c.ks, c.mnno):
            ax.annotate(f"{m:.{min(dk, 6)}f}", (k, m), textcoords="offset points",
                        xytext=(4, 6), fontsize=8)  # fmt: skip
        ax.plot(kk, chance, color="#c44e52", ls="--", lw=1.5, label="chance k/(n-1)")
        ax.set_xscale("log")
        ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= curve.size]
        ax.set_xticks(sorted(set(ticks) | set(c.ks)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlim(0.8, curve.size * 1.25)
        ax.set_xlabel("k (nearest neighbours, log scale)")
        ax.set_ylabel("mNNO$^k$")
        ax.set_ylim(0, max(0.05, float(curve.max()) * 1.15))
        ax.set_title(f"Mean nearest-neighbour overlap against k, n = {n:,}\n{pair}", fontsize=10)
        ax.legend(frameon=False)
        ax.grid(alpha=0.3, which="both")
        written += _save(fig, out / "mnno_vs_k.png")

    # 3. Overlap against frequency rank in A, averaged in log-spaced rank bins.
    if "overlap_vs_rank" not in skipped:
        written += _rank_plot(c, out, pair, plt, matplotlib.ticker)
    return written


def _rank_plot(c: Comparison, out: Path, pair: str, plt: Any, ticker: Any) -> list[Path]:
    n, K = c.n, c.focus_k
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
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    fmt = c.a.get("format", "?")
    why = (
        f"{_FORMAT_NAMES.get(fmt, fmt)} files list words from most to least frequent"
        if fmt in FREQUENCY_ORDERED_FORMATS
        else f"A's rows were declared in frequency order ({fmt} files do not say)"
    )
    ax.set_xlabel(
        f"frequency rank of the word in A = its row in A's file (log scale)\n({why})",
        fontsize=9,
    )
    ax.set_ylabel(f"share of the {K} nearest neighbours in common")
    ax.set_ylim(0, 1)
    ax.set_title(f"Neighbourhood overlap against word frequency, k = {K}\n{pair}", fontsize=10)
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, out / "overlap_vs_rank.png")


def _short(label: Any, width: int = 40) -> str:
    text = os.path.basename(str(label)) if label and os.sep in str(label) else str(label)
    return text if len(text) <= width else text[: width - 3] + "..."


def _save(fig: Any, path: Path) -> list[Path]:
    """Save and close ``fig`` at ``path``; returns the PNG and the CSV beside it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return [path, path.with_suffix(".csv")]
