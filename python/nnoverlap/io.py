"""Embedding files: load and save word2vec (text and binary), GloVe, fastText ``.vec`` and
``.npy``; align two vocabularies.

Files are parsed by the Rust core, in parallel, from a memory map (``limit=N`` touches only
the first N rows). Reading is strict: a file that does not follow its format raises
:class:`FormatError` naming the file, the line (binary: the row and byte) and what was wrong.
"""

from __future__ import annotations

import json
import mmap
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from . import _core

__all__ = ["FORMATS", "Alignment", "Embeddings", "FormatError", "align", "load"]

FormatError = _core.FormatError
"""Raised for a file that does not follow its format (a subclass of ``ValueError``).

Its message names the file, the line (or binary row and byte) and what was wrong; the
attributes ``path``, ``line``, ``row`` and ``byte`` hold the same (None where not applicable).
"""

FORMATS = ("word2vec", "word2vec-binary", "glove", "fasttext", "npy")
"""Formats :func:`load` reads and :meth:`Embeddings.save` writes.

- ``word2vec``: text, header ``rows dim``, then ``word v1 ... vd`` per line;
- ``word2vec-binary``: header, then the word, a space and ``dim`` little-endian float32 per row
  (with or without a newline after each vector);
- ``glove``: text without header; the last ``dim`` fields of a line are the vector, the rest
  is the word (which may contain spaces);
- ``fasttext``: ``.vec`` text, like word2vec text with a space after each value;
- ``npy``: a NumPy array with the words one per line in a sibling ``<name>.words.txt``.
"""

_SUFFIXES = {".npy": "npy", ".bin": "word2vec-binary", ".vec": "fasttext"}
_ERRORS = ("strict", "replace")
_DUPLICATES = ("error", "first", "last")

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], Any]


def _raise_format(path: Any, message: str, *, line: int | None = None, row: int | None = None):
    where = f"line {line}" if line is not None else f"row {row}"
    err = FormatError(f"{path}, {where}: {message}")
    err.path, err.line, err.row, err.byte = str(path), line, row, None
    raise err


class Embeddings:
    """Words and their vectors: row i of ``vectors`` belongs to ``words[i]``.

    Words are unique. ``len(e)`` is the number of words, ``word in e`` tests membership,
    ``e.index(word)`` gives the row and ``e[word]`` the vector.

    >>> import numpy as np
    >>> from nnoverlap import Embeddings
    >>> e = Embeddings(["cat", "dog"], np.eye(2, dtype=np.float32))
    >>> len(e), "dog" in e, e.index("dog"), e["dog"].tolist()
    (2, True, 1, [0.0, 1.0])
    """

    __slots__ = ("_index", "format", "path", "vectors", "words")

    def __init__(
        self,
        words: Iterable[str],
        vectors: Any,
        *,
        path: PathLike | None = None,
        format: str | None = None,
    ) -> None:
        words = list(words)
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n, d), got shape {vectors.shape}")
        if len(words) != vectors.shape[0]:
            raise ValueError(
                f"{len(words)} words but {vectors.shape[0]} vectors: one row per word expected"
            )
        for i, w in enumerate(words):
            if not isinstance(w, str):
                raise TypeError(f"words must be str, word {i} is {type(w).__name__}: {w!r}")
        index = {w: i for i, w in enumerate(words)}
        if len(index) != len(words):
            seen: dict[str, int] = {}
            for i, w in enumerate(words):
                if w in seen:
                    raise ValueError(f"duplicate word {w!r} at rows {seen[w]} and {i}")
                seen[w] = i
        self.words: list[str] = words
        self.vectors: np.ndarray = vectors
        self.path: str | None = None if path is None else str(path)
        self.format: str | None = format
        self._index: dict[str, int] | None = index

    @classmethod
    def _trusted(
        cls, words: list[str], vectors: np.ndarray, path: str | None, format: str | None
    ) -> Embeddings:
        """Wraps the reader's output, which is already checked (unique str words, 2-D); the
        word index is then built on first use."""
        self = cls.__new__(cls)
        self.words, self.vectors, self.path, self.format = words, vectors, path, format
        self._index = None
        return self

    @property
    def _lookup(self) -> dict[str, int]:
        if self._index is None:
            self._index = {w: i for i, w in enumerate(self.words)}
        return self._index

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._lookup

    def __iter__(self) -> Iterator[str]:
        return iter(self.words)

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.index(word)]

    def index(self, word: str) -> int:
        """Row of ``word``; ``KeyError`` if absent."""
        try:
            return self._lookup[word]
        except KeyError:
            raise KeyError(f"{word!r} is not among the {len(self)} words") from None

    def __repr__(self) -> str:
        src = f", path={self.path!r}" if self.path else ""
        return f"<Embeddings {len(self)} words x {self.dim} {self.vectors.dtype}{src}>"

    def save(self, path: PathLike, format: str | None = None, *, precision: int | None = None):
        """Write to ``path`` in ``format`` (default: from the suffix ``.npy``, ``.bin``, ``.vec``).

        Text values are written as the shortest text that reads back exactly, or with
        ``precision`` decimals (GloVe and word2vec.c write 6). ``npy`` writes the array and the
        words, one a line, to ``<name>.words.txt`` beside it. Words a format cannot store
        unambiguously (a space in word2vec and fastText; a line break anywhere) are refused before
        anything is written.

        >>> import numpy as np, tempfile, pathlib
        >>> from nnoverlap import Embeddings, load
        >>> e = Embeddings(["cat", "dog"], np.array([[0.5, 1.0], [2.0, -1.5]], np.float32))
        >>> p = pathlib.Path(tempfile.mkdtemp(), "e.txt")
        >>> e.save(p, format="glove"); p.read_text()
        'cat 0.5 1\\ndog 2 -1.5\\n'
        >>> load(p).words
        ['cat', 'dog']
        """
        path = Path(path)
        if format is None:
            format = _SUFFIXES.get(path.suffix.lower())
            if format is None:
                raise ValueError(
                    f"cannot tell the format from the name {path.name!r}; "
                    f"pass format= one of {', '.join(FORMATS)}"
                )
        _check_choice("format", format, FORMATS)
        vectors = self.vectors
        if vectors.dtype not in (np.float32, np.float64):
            vectors = vectors.astype(np.float32)
        vectors = np.ascontiguousarray(vectors)
        if format == "npy":
            _save_npy(path, self.words, vectors)
            return
        if precision is not None and (isinstance(precision, bool) or precision < 0):
            raise ValueError(f"precision must be None or an integer >= 0, got {precision!r}")
        _core.write_embeddings(os.fspath(path), self.words, vectors, format, precision)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _words_path(path: Path) -> Path:
    return path.with_name(path.stem + ".words.txt")


def _save_npy(path: Path, words: list[str], vectors: np.ndarray) -> None:
    if path.suffix != ".npy":
        raise ValueError(f"an npy file's name must end in .npy, got {path.name!r}")
    for i, w in enumerate(words):
        if not w or "\n" in w or "\r" in w:
            raise ValueError(
                f"row {i}: cannot write the word {w!r} to a words file: "
                "it is empty or contains a line break"
            )
    np.save(path, vectors)
    _words_path(path).write_text("".join(w + "\n" for w in words), encoding="utf-8")


def _read_words_file(path: Path, errors: str) -> list[str]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        _raise_format(
            path,
            f"invalid UTF-8 (byte {exc.start}); read with errors='replace' to substitute U+FFFD",
            line=line,
        )
    if text.startswith("\ufeff"):
        text = text[1:]
    # Split on "\n" only: str.splitlines would also split at U+2028, U+0085 and others.
    lines = [w[:-1] if w.endswith("\r") else w for w in text.split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    for i, w in enumerate(lines):
        if not w:
            _raise_format(path, "the line is empty (one word a line expected)", line=i + 1)
    return lines


def _load_npy(
    path: Path, words_path: Path | None, limit: int | None, dtype: np.dtype, errors: str
) -> tuple[list[str], np.ndarray]:
    arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D array (n, d), got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{path}: expected real numbers, got dtype {arr.dtype}")
    wp = words_path if words_path is not None else _words_path(path)
    if not wp.exists():
        raise FileNotFoundError(
            f"{path}: the words of an .npy file are read from {wp.name} beside it "
            "(one word a line), or from the file given as words="
        )
    words = _read_words_file(wp, errors)
    if len(words) != arr.shape[0]:
        raise ValueError(
            f"{path} has {arr.shape[0]} rows but {wp} has {len(words)} words: "
            "one word a row expected"
        )
    rows = arr if limit is None else arr[:limit]
    vectors = np.array(rows, dtype=dtype)
    bad = _core.first_nonfinite_row(vectors)
    if bad is not None:
        _raise_format(path, "NaN or infinite value (row counted from 1)", row=bad + 1)
    return words[: vectors.shape[0]], vectors


def _dedupe(
    words: list[str], vectors: np.ndarray, policy: str, path: Any
) -> tuple[list[str], np.ndarray]:
    first: dict[str, int] = {}
    drop: list[int] = []
    for i, w in enumerate(words):
        j = first.setdefault(w, i)
        if j != i:
            if policy == "error":
                _raise_format(
                    path,
                    f"duplicate word {json.dumps(w, ensure_ascii=False)}, first at row {j + 1}; "
                    'read with duplicates="first" '
                    'or "last" to keep one of them',
                    row=i + 1,
                )
            if policy == "last":
                vectors[j] = vectors[i]
            drop.append(i)
    if not drop:
        return words, vectors
    keep = np.ones(len(words), dtype=bool)
    keep[drop] = False
    return [w for w, k in zip(words, keep) if k], vectors[keep]


def load(
    path: PathLike,
    *,
    format: str | None = None,
    limit: int | None = None,
    dtype: Any = np.float32,
    errors: str = "strict",
    duplicates: str = "error",
    words: PathLike | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Embeddings:
    """Load an embedding file.

    Args:
        path: the file.
        format: one of :data:`FORMATS`; None detects it from the content (``.npy`` magic;
            a ``rows dim`` header: word2vec text or binary; otherwise GloVe).
        limit: read only the first ``limit`` rows (files are usually in frequency order); the
            rest of the file is not read, so a header's row count is not checked against it.
        dtype: ``np.float32`` (default) or ``np.float64``.
        errors: words that are not valid UTF-8: ``"strict"`` raises, ``"replace"`` substitutes
            U+FFFD (word2vec.c can cut words inside a character).
        duplicates: a word seen twice: ``"error"`` (default), ``"first"`` keeps the first,
            ``"last"`` keeps the last vector (at the first one's position).
        words: for ``.npy``, the words file (default: ``<name>.words.txt`` beside it).
        threads: parsing threads; None uses ``RAYON_NUM_THREADS`` or all cores.
        progress: optional ``callback(done, total)`` called about every 0.1 s while parsing.

    Raises:
        FormatError (a ValueError) naming the file, the line (binary: row and byte) and the
        problem: a row with the wrong number of values, a value that is not a number, NaN or
        infinity, a header that disagrees with the file or claims more than it can hold, invalid
        UTF-8, a duplicate word. OSError if the file cannot be read.

    >>> import tempfile, pathlib, nnoverlap as nno
    >>> p = pathlib.Path(tempfile.mkdtemp(), "v.txt")
    >>> _ = p.write_text("2 3\\ncat 1 0 0\\ndog 0 1 0.5\\n")
    >>> e = nno.load(p)
    >>> e.format, e.words, e.vectors.shape
    ('word2vec', ['cat', 'dog'], (2, 3))
    >>> _ = p.write_text("2 3\\ncat 1 0\\ndog 0 1 0.5\\n")
    >>> nno.load(p)
    Traceback (most recent call last):
    ...
    nnoverlap.FormatError: ...v.txt, line 2: expected a word and 3 values, found a word and 2 values
    """
    if format is not None:
        _check_choice("format", format, FORMATS)
    _check_choice("errors", errors, _ERRORS)
    _check_choice("duplicates", duplicates, _DUPLICATES)
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1
    ):
        raise ValueError(f"limit must be None or an integer >= 1, got {limit!r}")
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
        raise ValueError(f"threads must be None or an integer >= 1, got {threads!r}")
    p = Path(path)
    name = str(path)
    if format == "npy" or (format is None and _is_npy(p)):
        wp = None if words is None else Path(words)
        ws, vecs = _load_npy(p, wp, limit, dt, errors)
        ws, vecs = _dedupe(ws, vecs, duplicates, name)
        return Embeddings(ws, vecs, path=name, format="npy")
    with open(p, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None
    data = np.frombuffer(mm, dtype=np.uint8) if mm is not None else np.zeros(0, np.uint8)
    try:
        fmt = format if format is not None else _core.detect_format(data, name)
        if fmt == "npy":  # detected from content
            raise ValueError(f"{name} is an .npy file; load it with format='npy'")
        ws, vecs, _, _ = _core.read_embeddings(
            data,
            name,
            fmt,
            None if limit is None else int(limit),
            dt.name,
            errors,
            duplicates,
            None if threads is None else int(threads),
            progress,
        )
    finally:
        # Drop the view first: the map cannot close while an array (or a traceback holding
        # this frame) still refers to it.
        data = None
        if mm is not None:
            mm.close()
    return Embeddings._trusted(ws, vecs, name, fmt)


def _is_npy(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(6) == b"\x93NUMPY"


class Alignment(tuple):
    """``(a2, b2)``: the words two embeddings share, in ``a``'s order, with matching rows.

    Unpacks as a pair; also carries ``rows_a`` and ``rows_b`` (the original row of each shared
    word in ``a`` and ``b``) and ``dropped_a`` / ``dropped_b`` (how many words only ``a`` /
    only ``b`` has).
    """

    a: Embeddings
    b: Embeddings
    rows_a: np.ndarray
    rows_b: np.ndarray
    dropped_a: int
    dropped_b: int

    def __new__(
        cls, a: Embeddings, b: Embeddings, rows_a: np.ndarray, rows_b: np.ndarray, na: int, nb: int
    ):
        self = super().__new__(cls, (a, b))
        self.a, self.b, self.rows_a, self.rows_b = a, b, rows_a, rows_b
        self.dropped_a = na - len(rows_a)
        self.dropped_b = nb - len(rows_b)
        return self

    def __repr__(self) -> str:
        return (
            f"<Alignment {len(self.rows_a)} shared words; dropped {self.dropped_a} from a, "
            f"{self.dropped_b} from b>"
        )


def _subset(e: Embeddings, rows: np.ndarray) -> Embeddings:
    if len(rows) == len(e) and (len(rows) == 0 or np.array_equal(rows, np.arange(len(e)))):
        return e
    return Embeddings._trusted(
        [e.words[i] for i in rows.tolist()], e.vectors[rows], e.path, e.format
    )


def align(a: Embeddings, b: Embeddings) -> Alignment:
    """The words ``a`` and ``b`` share, in ``a``'s order, rows matched: ``a2, b2 = align(a, b)``.

    ``a2.words == b2.words``. The result also tells how many words were dropped from each side
    (``.dropped_a``, ``.dropped_b``) and where the kept rows came from (``.rows_a``,
    ``.rows_b``).

    >>> import numpy as np
    >>> from nnoverlap import Embeddings, align
    >>> a = Embeddings(["the", "cat", "sat"], np.eye(3))
    >>> b = Embeddings(["sat", "dog", "the"], np.eye(3))
    >>> al = align(a, b)
    >>> a2, b2 = al
    >>> a2.words, b2.words, al.dropped_a, al.dropped_b
    (['the', 'sat'], ['the', 'sat'], 1, 1)
    """
    for name, e in (("a", a), ("b", b)):
        if not isinstance(e, Embeddings):
            raise TypeError(
                f"{name} must be Embeddings (see nnoverlap.load), got {type(e).__name__}"
            )
    index_b = b._lookup
    rows_a = [i for i, w in enumerate(a.words) if w in index_b]
    rows_b = [index_b[a.words[i]] for i in rows_a]
    ra = np.asarray(rows_a, dtype=np.intp)
    rb = np.asarray(rows_b, dtype=np.intp)
    return Alignment(_subset(a, ra), _subset(b, rb), ra, rb, len(a), len(b))
