"""Embedding files: load and save word2vec (text and binary), GloVe, fastText ``.vec`` and
``.npy``; load ``.npz``, ``.safetensors`` and Parquet; align two vocabularies.

Text and word2vec binary files (plain, or gzip / bzip2 / xz compressed, recognised by their
magic bytes) are parsed by the Rust core as a stream, in parallel: regular files, pipes
(``<(zcat f.gz)``), ``/dev/stdin`` and ``/proc`` files alike; ``limit=N`` stops reading after N
rows. Nothing is memory-mapped, so a file that shrinks while it is read is an error, not a crash.
Reading is strict: a file that does not follow its format raises :class:`FormatError` naming the
file, the line (binary: the row and byte) and what was wrong.

One rule for every format: a UTF-8 byte-order mark (U+FEFF) at the very start of the
(decompressed) content is skipped, anywhere else it is part of a word; words are never empty and
never contain NUL, a line break or a carriage return.
"""

from __future__ import annotations

import json
import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np

from . import _core

__all__ = ["FORMATS", "WRITE_FORMATS", "Alignment", "Embeddings", "FormatError", "align", "load"]

FormatError = _core.FormatError
"""Raised for a file that does not follow its format (a subclass of ``ValueError``).

Its message names the file, the line (or binary row and byte) and what was wrong; the
attributes ``path``, ``line``, ``row`` and ``byte`` hold the same (None where not applicable).
"""

FORMATS = (
    "word2vec",
    "word2vec-binary",
    "glove",
    "fasttext",
    "npy",
    "npz",
    "safetensors",
    "parquet",
)
"""Formats :func:`load` reads (``format=``; by default the format is detected from the content).

- ``word2vec``: text, header ``rows dim``, then ``word v1 ... vd`` per line;
- ``word2vec-binary``: header, then the word, a space and ``dim`` little-endian float32 per row
  (with or without a newline after each vector);
- ``glove``: text without header; the last ``dim`` fields of a line are the vector, the rest
  is the word (which may contain spaces);
- ``fasttext``: ``.vec`` text, like word2vec text with a space after each value;
- ``npy``: a NumPy array with the words one per line in a sibling ``<name>.words.txt``;
- ``npz``: a NumPy archive: the matrix is the array named ``key=``, else the only 2-D real
  array; the words are the 1-D string array named ``words``, else the only 1-D string array,
  else the words file (``words=`` or ``<name>.words.txt``);
- ``safetensors``: the 2-D tensor named ``key=``, else the only 2-D tensor (float16, bfloat16,
  float32, float64 or integers), with the words file (``words=`` or ``<name>.words.txt``);
- ``parquet`` (``pip install "nnoverlap[parquet]"``): the vector column named ``key=``, else
  the only list / fixed-size-list column; the words are the only string column (or the one
  named ``word``, ``words`` or ``token`` when there are several).

The text and binary formats may be gzip, bzip2 or xz compressed.
"""

WRITE_FORMATS = ("word2vec", "word2vec-binary", "glove", "fasttext", "npy")
"""Formats :meth:`Embeddings.save` writes."""

_CONTAINERS = ("npy", "npz", "safetensors", "parquet")
# The private knob of the tests: bytes of text per parallel parsing task (0: the core's 1 MiB).
_CHUNK = 0

_SUFFIXES = {".npy": "npy", ".bin": "word2vec-binary", ".vec": "fasttext"}
_ERRORS = ("strict", "replace")
_WORD_COLUMNS = ("word", "words", "token")
_DUPLICATES = ("error", "first", "last")

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], Any]


def _format_error(
    path: Any, message: str, *, line: int | None = None, row: int | None = None
) -> Exception:
    if line is not None:
        where = f", line {line}"
    elif row is not None:
        where = f", row {row}"
    else:
        where = ""
    err = FormatError(f"{path}{where}: {message}")
    err.path, err.line, err.row, err.byte = str(path), line, row, None
    return err


def _raise_format(
    path: Any, message: str, *, line: int | None = None, row: int | None = None
) -> None:
    raise _format_error(path, message, line=line, row=row)


class Embeddings:
    """Words and their vectors: row i of ``vectors`` belongs to ``words[i]``.

    Words are unique. ``len(e)`` is the number of words, ``word in e`` tests membership,
    ``e.index(word)`` gives the row and ``e[word]`` the vector. ``e.dropped_nonfinite`` lists
    the words whose rows :func:`load` dropped for NaN or infinite values (with
    ``drop_nonfinite=True``; empty otherwise).

    >>> import numpy as np
    >>> from nnoverlap import Embeddings
    >>> e = Embeddings(["cat", "dog"], np.eye(2, dtype=np.float32))
    >>> len(e), "dog" in e, e.index("dog"), e["dog"].tolist()
    (2, True, 1, [0.0, 1.0])
    """

    __slots__ = ("_index", "dropped_nonfinite", "format", "path", "vectors", "words")

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
        self.dropped_nonfinite: list[str] = []
        self._index: dict[str, int] | None = index

    @classmethod
    def _trusted(
        cls, words: list[str], vectors: np.ndarray, path: str | None, format: str | None
    ) -> Embeddings:
        """Wraps the reader's output, which is already checked (unique str words, 2-D); the
        word index is then built on first use."""
        self = cls.__new__(cls)
        self.words, self.vectors, self.path, self.format = words, vectors, path, format
        self.dropped_nonfinite = []
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
        words, one a line, to ``<name>.words.txt`` beside it. What would not read back as written
        is refused before anything is written: words a format cannot store unambiguously (a space
        in word2vec and fastText; a line break or NUL anywhere), NaN and infinity, complex
        values, and GloVe files of 0 rows or whose first line would read as a word2vec header.

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
                    f"pass format= one of {', '.join(WRITE_FORMATS)}"
                )
        _check_choice("format", format, WRITE_FORMATS)
        vectors = self.vectors
        if vectors.dtype.kind not in "fiub":
            raise TypeError(
                f"cannot save {vectors.dtype} vectors: embedding files hold real numbers"
                + (" (take .real or abs() first)" if vectors.dtype.kind == "c" else "")
            )
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
        if not w or "\n" in w or "\r" in w or "\0" in w:
            raise ValueError(
                f"row {i}: cannot write the word {w!r} to a words file: "
                "it is empty or contains a line break or NUL"
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
        if "\0" in w or "\r" in w:
            _raise_format(
                path,
                "the word contains a NUL byte or a carriage return, which no format allows",
                line=i + 1,
            )
    return lines


def _read_npy(path: Path, limit: int | None) -> np.ndarray:
    """The (first ``limit`` rows of the) 2-D array of an .npy file, read (never memory-mapped, so
    a file that shrinks meanwhile is an error, not a crash); errors name the file."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            _check_matrix(path, shape, dtype)
            n, d = shape
            rows = n if limit is None or fortran else min(n, limit)
            count = rows * d
            arr = np.fromfile(f, dtype=dtype, count=count)
    except FormatError:
        raise
    except (ValueError, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, EOFError):
            raise
        raise _format_error(path, f"not a valid .npy file ({exc})") from None
    if arr.size != count:
        raise _format_error(
            path,
            f"the file is truncated: its header announces {n} x {d} {dtype} values "
            f"({count * dtype.itemsize} bytes of data), but only {arr.size * dtype.itemsize} "
            "bytes follow",
        )
    arr = arr.reshape((rows, d), order="F" if fortran else "C")
    return arr if limit is None else arr[:limit]


def _check_matrix(path: Any, shape: tuple[int, ...], dtype: np.dtype, what: str = "") -> None:
    if len(shape) != 2:
        raise _format_error(path, f"expected a 2-D array (n, d){what}, got shape {tuple(shape)}")
    if dtype.kind not in "fiu" or dtype.hasobject:
        raise _format_error(path, f"expected real numbers{what}, got dtype {dtype}")


def _words_for(path: Path, words_path: Path | None, n: int, errors: str, kind: str) -> list[str]:
    wp = words_path if words_path is not None else _words_path(path)
    if not wp.exists():
        raise FileNotFoundError(
            f"{path}: the words of {kind} file are read from {wp.name} beside it "
            "(one word a line), or from the file given as words="
        )
    words = _read_words_file(wp, errors)
    if len(words) != n:
        raise _format_error(
            path, f"has {n} rows but {wp} has {len(words)} words: one word a row expected"
        )
    return words


def _only(path: Any, what: str, names: list[str], key: str | None, hint: str) -> str:
    """The one name among ``names`` (or ``key``); errors list the candidates."""
    if key is not None:
        return key
    if len(names) == 1:
        return names[0]
    listed = ", ".join(repr(n) for n in names) or "none"
    raise _format_error(path, f"{'no' if not names else 'several'} {what} ({listed}): {hint}")


def _load_npz(
    path: Path, key: str | None, words_path: Path | None, limit: int | None, errors: str
) -> tuple[list[str], np.ndarray]:
    try:
        z = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise _format_error(path, f"not a valid .npz file ({exc})") from None
    with z:
        arrays: dict[str, np.ndarray] = {}
        for name in z.files:
            try:
                arrays[name] = z[name]
            except ValueError:
                # Object arrays need pickle, which is never used: skip them, say so if needed.
                continue
            except Exception as exc:  # zipfile.BadZipFile, zlib.error: a damaged archive
                raise _format_error(path, f"cannot read array {name!r} ({exc})") from None
    skipped = [n for n in z.files if n not in arrays]
    matrices = [n for n, a in arrays.items() if a.ndim == 2 and a.dtype.kind in "fiu"]
    name = _only(path, "2-D real arrays", matrices, key, "choose one with key=")
    if name not in arrays:
        extra = (
            " (it holds Python objects, which need pickle: never used)" if name in skipped else ""
        )
        raise _format_error(path, f"no array named {name!r}{extra}; it has {', '.join(z.files)}")
    mat = arrays[name]
    _check_matrix(path, mat.shape, mat.dtype, f" for {name!r}")
    strings = [n for n, a in arrays.items() if a.ndim == 1 and a.dtype.kind in "US"]
    if words_path is None and ("words" in strings or len(strings) == 1):
        wname = "words" if "words" in strings else strings[0]
        warr = arrays[wname]
        if warr.shape[0] != mat.shape[0]:
            raise _format_error(
                path,
                f"array {name!r} has {mat.shape[0]} rows but {wname!r} has {warr.shape[0]} "
                "words: one word a row expected",
            )
        if warr.dtype.kind == "S":
            words = [w.decode("utf-8", errors=errors) for w in warr.tolist()]
        else:
            words = [str(w) for w in warr.tolist()]
        for i, w in enumerate(words):
            if not w or any(c in w for c in "\0\n\r"):
                raise _format_error(
                    path,
                    f"word {i} of {wname!r} ({w!r}) is empty or holds NUL or a line break",
                    row=i + 1,
                )
    else:
        if words_path is None and len(strings) > 1:
            raise _format_error(
                path,
                f"several 1-D string arrays ({', '.join(map(repr, strings))}) and none named "
                "'words': name it 'words', or pass a words file as words=",
            )
        words = _words_for(path, words_path, mat.shape[0], errors, "an .npz")
    if limit is not None:
        mat, words = mat[:limit], words[:limit]
    return words, mat


_SAFETENSORS_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U64": "<u8",
    "U32": "<u4",
    "U16": "<u2",
    "U8": "u1",
}


def _load_safetensors(
    path: Path, key: str | None, words_path: Path | None, limit: int | None, errors: str
) -> tuple[list[str], np.ndarray]:
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        n = int.from_bytes(raw, "little") if len(raw) == 8 else -1
        if n < 2 or 8 + n > size:
            raise _format_error(path, "not a valid safetensors file (bad header length)")
        try:
            header = json.loads(f.read(n))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _format_error(path, f"not a valid safetensors file ({exc})") from None
        if not isinstance(header, dict):
            raise _format_error(path, "not a valid safetensors file (header is not a dict)")
        tensors = {k: v for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}
        matrices = [k for k, v in tensors.items() if len(v.get("shape", ())) == 2]
        name = _only(path, "2-D tensors", matrices, key, "choose one with key=")
        if name not in tensors:
            raise _format_error(path, f"no tensor named {name!r}; it has {', '.join(tensors)}")
        t = tensors[name]
        dt = _SAFETENSORS_DTYPES.get(str(t.get("dtype")))
        shape = t.get("shape")
        offsets = t.get("data_offsets")
        if dt is None:
            raise _format_error(
                path,
                f"tensor {name!r} has dtype {t.get('dtype')}; expected one of "
                f"{', '.join(_SAFETENSORS_DTYPES)}",
            )
        try:
            rows, d = (int(x) for x in (shape or ()))
            begin, end = (int(x) for x in (offsets or ()))
        except (TypeError, ValueError):
            raise _format_error(path, f"tensor {name!r}: bad shape or data_offsets") from None
        dtype = np.dtype(dt)
        if end - begin != rows * d * dtype.itemsize or begin < 0:
            raise _format_error(
                path,
                f"tensor {name!r}: data_offsets {begin}..{end} do not hold {rows} x {d} "
                f"{t['dtype']} values",
            )
        take = rows if limit is None else min(rows, limit)
        f.seek(8 + n + begin)
        arr = np.fromfile(f, dtype=dtype, count=take * d)
    if arr.size != take * d:
        raise _format_error(
            path, f"the file is truncated inside tensor {name!r} ({arr.size} of {take * d} values)"
        )
    if t["dtype"] == "BF16":
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    mat = arr.reshape(take, d)
    words = _words_for(path, words_path, rows, errors, "a safetensors")
    return words[:take], mat


def _load_parquet(path: Path, key: str | None, limit: int | None) -> tuple[list[str], np.ndarray]:
    try:
        import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise ImportError(
            f'{path}: reading Parquet needs pyarrow: pip install "nnoverlap[parquet]"'
        ) from None
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise _format_error(path, f"not a valid Parquet file ({exc})") from None
    lists = [
        f.name
        for f in schema
        if pa.types.is_list(f.type)
        or pa.types.is_large_list(f.type)
        or pa.types.is_fixed_size_list(f.type)
    ]
    strings = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    vname = _only(path, "list columns", lists, key, "choose the vector column with key=")
    if vname not in schema.names:
        raise _format_error(path, f"no column named {vname!r}; it has {', '.join(schema.names)}")
    preferred = [c for c in _WORD_COLUMNS if c in strings]
    wname = (
        preferred[0]
        if preferred
        else _only(path, "string columns", strings, None, "name the word column 'word'")
    )
    try:
        table = pf.read(columns=[wname, vname])
    except (pa.ArrowException, OSError) as exc:
        raise _format_error(path, f"cannot read columns {wname!r}, {vname!r} ({exc})") from None
    if limit is not None:
        table = table.slice(0, limit)
    wcol, vcol = table.column(wname).combine_chunks(), table.column(vname).combine_chunks()
    if wcol.null_count:
        raise _format_error(path, f"column {wname!r} has {wcol.null_count} null words")
    if vcol.null_count:
        raise _format_error(path, f"column {vname!r} has {vcol.null_count} null vectors")
    words = wcol.to_pylist()
    n = len(words)
    if pa.types.is_fixed_size_list(vcol.type):
        d = vcol.type.list_size
        flat = vcol.flatten()
    else:
        offsets = np.asarray(vcol.offsets)
        lengths = np.diff(offsets)
        if n and (lengths != lengths[0]).any():
            i = int(np.flatnonzero(lengths != lengths[0])[0])
            raise _format_error(
                path,
                f"column {vname!r}: vectors of different lengths ({lengths[0]} in row 1, "
                f"{lengths[i]} in row {i + 1})",
                row=i + 1,
            )
        d = int(lengths[0]) if n else 0
        flat = vcol.flatten()
    if flat.null_count:
        raise _format_error(path, f"column {vname!r} has null values inside vectors")
    values = flat.to_numpy(zero_copy_only=False)
    if values.dtype.kind not in "fiu":
        raise _format_error(path, f"column {vname!r} holds {flat.type}, not real numbers")
    for i, w in enumerate(words):
        if not w or any(c in w for c in "\0\n\r"):
            raise _format_error(
                path, f"word {i} ({w!r}) is empty or holds NUL or a line break", row=i + 1
            )
    return words, values.reshape(n, d)


def _finish(
    words: list[str],
    mat: np.ndarray,
    dt: np.dtype,
    duplicates: str,
    drop_nonfinite: bool,
    name: str,
    fmt: str,
) -> Embeddings:
    """Converts a container's matrix, applies the non-finite and duplicate policies."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float64 -> float32 overflow to inf
        vectors = np.array(mat, dtype=dt)
    dropped: list[str] = []
    if vectors.size:
        finite = np.isfinite(vectors).all(axis=1)
        if not finite.all():
            if not drop_nonfinite:
                bad = int(np.flatnonzero(~finite)[0])
                overflow = bool(np.isfinite(np.asarray(mat[bad], dtype=np.float64)).all())
                why = (
                    f"a value overflows {dt} (load with dtype='float64')"
                    if overflow
                    else "NaN or infinite value (drop_nonfinite=True drops such rows)"
                )
                _raise_format(name, f"{why} (row counted from 1)", row=bad + 1)
            dropped = [w for w, ok in zip(words, finite) if not ok]
            words = [w for w, ok in zip(words, finite) if ok]
            vectors = vectors[finite]
    words, vectors = _dedupe(words, vectors, duplicates, name)
    e = Embeddings(words, vectors, path=name, format=fmt)
    e.dropped_nonfinite = dropped
    return e


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


def _check_threads(threads: Any) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be None or an int, got {type(threads).__name__} {threads!r}")
    limit = int(_core.THREAD_LIMIT)
    if not 1 <= threads <= limit:
        raise ValueError(f"threads must be between 1 and {limit}, got {threads}")
    return int(threads)


def load(
    path: PathLike,
    *,
    format: str | None = None,
    limit: int | None = None,
    dtype: Any = np.float32,
    errors: str = "strict",
    duplicates: str = "error",
    words: PathLike | None = None,
    key: str | None = None,
    drop_nonfinite: bool = False,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Embeddings:
    """Load an embedding file.

    Args:
        path: the file: a regular file, or a pipe or device (``/dev/stdin``, ``<(zcat f)``),
            which is read as a stream (text and word2vec binary formats only).
        format: one of :data:`FORMATS`; None detects it from the content (magic bytes for
            compression, ``.npy``, ``.npz``, safetensors and Parquet; then a ``rows dim`` header:
            word2vec text or binary; otherwise GloVe). Files of other kinds (PNG, zip, pickles
            such as gensim ``.kv``, torch ``.pt``) are refused, naming what they look like;
            pickles are never loaded.
        limit: read only the first ``limit`` rows (files are usually in frequency order); the
            rest of the file is not read, so a header's row count is not checked against it.
        dtype: ``np.float32`` (default) or ``np.float64``.
        errors: words that are not valid UTF-8: ``"strict"`` raises, ``"replace"`` substitutes
            U+FFFD (word2vec.c can cut words inside a character).
        duplicates: a word seen twice: ``"error"`` (default), ``"first"`` keeps the first,
            ``"last"`` keeps the last vector (at the first one's position).
        words: for ``npy``, ``npz`` and ``safetensors``, the words file (one word a line;
            default ``<name>.words.txt`` beside the file; an ``.npz`` may hold its words).
        key: for ``npz`` and ``safetensors`` the name of the matrix, for ``parquet`` the vector
            column (default: the only one).
        drop_nonfinite: drop rows holding NaN or infinity instead of raising; their words are
            listed in ``.dropped_nonfinite`` of the result (before the duplicate policy applies).
        threads: parsing threads; None uses ``RAYON_NUM_THREADS`` or all cores.
        progress: optional ``callback(done, total)`` called about every 0.1 s while parsing
            (in bytes of the file; not for pipes, whose size is unknown).

    Raises:
        FormatError (a ValueError) naming the file, the line (binary: row and byte) and the
        problem: a row with the wrong number of values, a value that is not a number, NaN or
        infinity, a value that overflows float32, a header that disagrees with the file or
        claims more than it can hold, invalid UTF-8, a duplicate word, corrupt compressed data,
        a file of a kind not read. OSError if the file cannot be read; MemoryError (saying how
        much) if the vectors do not fit in memory.

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
    if not isinstance(drop_nonfinite, bool):
        raise TypeError(f"drop_nonfinite must be True or False, got {drop_nonfinite!r}")
    if key is not None and not isinstance(key, str):
        raise TypeError(f"key must be None or a str, got {type(key).__name__}")
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    nthreads = _check_threads(threads)
    p = Path(path)
    name = str(path)
    lim = None if limit is None else int(limit)
    st = os.stat(p)
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{name} is a directory, not an embedding file")
    kind = None
    if stat.S_ISREG(st.st_mode) and format is None:
        with open(p, "rb") as f:
            found = _core.sniff(f.read(64))
        kind = None if found is None else found[0]
    container = format if format in _CONTAINERS else kind if kind in _CONTAINERS else None
    if container is not None:
        if not stat.S_ISREG(st.st_mode):
            raise _format_error(name, f"{container} files are read from regular files, not pipes")
        wp = None if words is None else Path(words)
        if container == "npy":
            ws = _words_for(p, wp, _npy_rows(p), errors, "an .npy")
            mat = _read_npy(p, lim)
            ws = ws[: mat.shape[0]]
        elif container == "npz":
            ws, mat = _load_npz(p, key, wp, lim, errors)
        elif container == "safetensors":
            ws, mat = _load_safetensors(p, key, wp, lim, errors)
        else:
            ws, mat = _load_parquet(p, key, lim)
        return _finish(ws, mat, dt, duplicates, drop_nonfinite, name, container)
    ws, vecs, fmt, _, _, dropped = _core.read_file(
        os.fspath(p),
        name,
        format,
        lim,
        dt.name,
        errors,
        duplicates,
        nthreads,
        progress,
        "drop" if drop_nonfinite else "error",
        _CHUNK,
    )
    e = Embeddings._trusted(ws, vecs, name, fmt)
    e.dropped_nonfinite = dropped
    return e


def _npy_rows(path: Path) -> int:
    fmt = np.lib.format
    try:
        with open(path, "rb") as f:
            version = fmt.read_magic(f)
            read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, _, dtype = read(f)
    except (ValueError, EOFError) as exc:
        raise _format_error(path, f"not a valid .npy file ({exc})") from None
    _check_matrix(path, shape, dtype)
    return int(shape[0])


class Alignment(tuple):
    """``(a2, b2)``: the words two embeddings share, in ``a``'s order, with matching rows.

    Unpacks as a pair; also carries ``rows_a`` and ``rows_b`` (the original row of each shared
    word in ``a`` and ``b``), ``dropped_a`` / ``dropped_b`` (how many words only ``a`` / only
    ``b`` has) and ``dropped_nonfinite`` (the shared words dropped because their row in ``a`` or
    ``b`` holds NaN or infinity, with ``drop_nonfinite=True``).
    """

    a: Embeddings
    b: Embeddings
    rows_a: np.ndarray
    rows_b: np.ndarray
    dropped_a: int
    dropped_b: int
    dropped_nonfinite: list[str]

    def __new__(
        cls,
        a: Embeddings,
        b: Embeddings,
        rows_a: np.ndarray,
        rows_b: np.ndarray,
        na: int,
        nb: int,
        nonfinite: list[str] | None = None,
    ):
        self = super().__new__(cls, (a, b))
        self.a, self.b, self.rows_a, self.rows_b = a, b, rows_a, rows_b
        self.dropped_nonfinite = [] if nonfinite is None else nonfinite
        self.dropped_a = na - len(rows_a) - len(self.dropped_nonfinite)
        self.dropped_b = nb - len(rows_b) - len(self.dropped_nonfinite)
        return self

    def __repr__(self) -> str:
        extra = (
            f"; {len(self.dropped_nonfinite)} shared words dropped for NaN/inf"
            if self.dropped_nonfinite
            else ""
        )
        return (
            f"<Alignment {len(self.rows_a)} shared words; dropped {self.dropped_a} from a, "
            f"{self.dropped_b} from b{extra}>"
        )


def _subset(e: Embeddings, rows: np.ndarray) -> Embeddings:
    if len(rows) == len(e) and (len(rows) == 0 or np.array_equal(rows, np.arange(len(e)))):
        return e
    return Embeddings._trusted(
        [e.words[i] for i in rows.tolist()], e.vectors[rows], e.path, e.format
    )


def _finite_rows(v: np.ndarray) -> np.ndarray:
    if v.dtype.kind not in "fc":
        return np.ones(v.shape[0], dtype=bool)
    return np.isfinite(v).all(axis=1)


def align(a: Embeddings, b: Embeddings, *, drop_nonfinite: bool = False) -> Alignment:
    """The words ``a`` and ``b`` share, in ``a``'s order, rows matched: ``a2, b2 = align(a, b)``.

    ``a2.words == b2.words``. The result also tells how many words were dropped from each side
    (``.dropped_a``, ``.dropped_b``) and where the kept rows came from (``.rows_a``,
    ``.rows_b``). With ``drop_nonfinite=True`` shared words whose row holds NaN or infinity on
    either side are dropped too and listed in ``.dropped_nonfinite`` (not counted in
    ``dropped_a`` / ``dropped_b``).

    >>> import numpy as np
    >>> from nnoverlap import Embeddings, align
    >>> a = Embeddings(["the", "cat", "sat"], np.eye(3))
    >>> b = Embeddings(["sat", "dog", "the"], np.eye(3))
    >>> al = align(a, b)
    >>> a2, b2 = al
    >>> a2.words, b2.words, al.dropped_a, al.dropped_b
    (['the', 'sat'], ['the', 'sat'], 1, 1)
    >>> b.vectors[0, 0] = np.nan
    >>> al = align(a, b, drop_nonfinite=True)
    >>> al.a.words, al.dropped_nonfinite
    (['the'], ['sat'])
    """
    for name, e in (("a", a), ("b", b)):
        if not isinstance(e, Embeddings):
            raise TypeError(
                f"{name} must be Embeddings (see nnoverlap.load), got {type(e).__name__}"
            )
    if not isinstance(drop_nonfinite, bool):
        raise TypeError(f"drop_nonfinite must be True or False, got {drop_nonfinite!r}")
    index_b = b._lookup
    rows_a = [i for i, w in enumerate(a.words) if w in index_b]
    rows_b = [index_b[a.words[i]] for i in rows_a]
    ra = np.asarray(rows_a, dtype=np.intp)
    rb = np.asarray(rows_b, dtype=np.intp)
    nonfinite: list[str] = []
    if drop_nonfinite and len(ra):
        ok = _finite_rows(np.asarray(a.vectors)[ra]) & _finite_rows(np.asarray(b.vectors)[rb])
        if not ok.all():
            nonfinite = [a.words[i] for i in ra[~ok].tolist()]
            ra, rb = ra[ok], rb[ok]
    return Alignment(_subset(a, ra), _subset(b, rb), ra, rb, len(a), len(b), nonfinite)
