"""Fuzzing the readers with hypothesis: no crash, no hang, no silent wrong answer.

Three properties:
- any table the writers accept reads back exactly, in every format;
- broken files (valid files with bytes replaced, inserted or deleted, and arbitrary bytes) give
  exactly what an independent, deliberately plain Python reader of the same rules gives: the
  same rows and values, or an error at the same line (text) or row (binary);
- format detection never fails on any input except with a FormatError.

Each runs with the parser's chunk size (the private knob ``chunk``: bytes per parallel task,
1 MiB by default) drawn from 1 to 64 bytes, so that rows cross chunk boundaries everywhere;
one test crosses the real 1 MiB boundaries of a 3 MiB file.

The Python reader below is the executable statement of the rules in ``src/readers.rs``; any
disagreement is a bug in one of the two.
"""

from __future__ import annotations

import math
import re
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from nnoverlap import Embeddings, FormatError, _core

BOM = b"\xef\xbb\xbf"
# The number syntax of Rust's `f64::from_str`; bytes patterns match ASCII digits only.
NUMBER = re.compile(rb"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
                    re.IGNORECASE)  # fmt: skip
ASCII_WS = b" \t\n\x0c\r"  # Rust's u8::is_ascii_whitespace (no vertical tab)


class Bad(Exception):
    """The reference reader's error: where, as (line, row)."""

    def __init__(self, line: int | None = None, row: int | None = None):
        super().__init__(line, row)
        self.where = (line, row)


# --- the reference reader -------------------------------------------------------------------------


def looks_like_another_kind(data: bytes) -> bool:
    """Magic bytes of files that are not embedding text or binary (compressed data, archives,
    images, pickles, ...): such content is refused as a whole."""
    prefixes = (b"\x1f\x8b", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"\x93NUMPY", b"PK\x03\x04",
                b"PK\x05\x06", b"PAR1", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"%PDF",
                b"\x89HDF\r\n\x1a\n", b"\x7fELF", b"ARROW1")  # fmt: skip
    if data.startswith(prefixes):
        return True
    if len(data) >= 4 and data.startswith(b"BZh") and 0x31 <= data[3] <= 0x39:
        return True
    if (
        len(data) >= 10
        and data[8] == ord("{")
        and 2 <= int.from_bytes(data[:8], "little") < 100 << 20
    ):
        return True
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def bad_word(word: bytes) -> bool:
    """The rule of every format: a word never holds NUL, a newline or a carriage return."""
    return any(b in word for b in (b"\0", b"\n", b"\r"))


def split_line(data: bytes) -> tuple[bytes, bytes]:
    i = data.find(b"\n")
    return (data, b"") if i < 0 else (data[:i], data[i + 1 :])


def trim_end(line: bytes) -> bytes:
    if line.endswith(b"\r"):
        line = line[:-1]
    return line.rstrip(b" ")


def is_blank(line: bytes) -> bool:
    return all(b in b" \r\t" for b in line)


def all_ws(data: bytes) -> bool:
    return all(b in ASCII_WS for b in data)


def number(field: bytes) -> float | None:
    return float(field) if NUMBER.fullmatch(field) else None


def looks_numeric(field: bytes) -> bool:
    return any(48 <= b <= 57 for b in field) and NUMBER.fullmatch(field) is not None


def header(line: bytes) -> tuple[int, int] | None:
    fields = [f for f in re.split(rb"[ \t\r]", line) if f]
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
        return None
    return tuple(min(int(f), 2**64 - 1) for f in fields)  # type: ignore[return-value]


def check_header(data: bytes, min_row: int) -> tuple[int, int, bytes]:
    first, body = split_line(data)
    h = header(first)
    if h is None or h[1] == 0 or h[1] >= 2**32:  # dimensions must be below 2^32
        raise Bad(line=1)
    rows, dim = h
    if rows * (min_row * dim + 2 if min_row == 4 else 2 * dim + 1) > len(body) + 1:
        raise Bad(line=1)
    return rows, dim, body


def parse_row(line: bytes, dim: int) -> tuple[str, list[float]]:
    rest = trim_end(line)
    values = [0.0] * dim
    for j in reversed(range(dim)):
        sp = rest.rfind(b" ")
        if sp < 0:
            raise Bad()
        field, rest = rest[sp + 1 :], rest[:sp]
        v = number(field) if field else None
        if v is None or not math.isfinite(v):
            raise Bad()
        values[j] = v
    word = rest
    if not word or word.endswith(b" ") or word.startswith(b" ") or bad_word(word):
        raise Bad()
    if b" " in word and looks_numeric(word.split(b" ")[-1]):
        raise Bad()
    try:
        return word.decode("utf-8"), values
    except UnicodeDecodeError:
        raise Bad() from None


def check_duplicates(words: list[str], where) -> None:
    seen: set[str] = set()
    for i, w in enumerate(words):
        if w in seen:
            raise where(i)
        seen.add(w)


def reference_text(data: bytes, has_header: bool, limit: int | None):
    data = data[3:] if data.startswith(BOM) else data
    rows = None
    if has_header:
        rows, dim, body = check_header(data, 2)
        first_line = 2
    else:
        if all_ws(data):
            raise Bad(line=1)
        first = trim_end(split_line(data)[0])
        if not first:
            raise Bad(line=1)
        fields = first.split(b" ")
        numeric = 0
        for f in reversed(fields):
            if not looks_numeric(f):
                break
            numeric += 1
        dim = len(fields) - 1 if numeric == len(fields) else numeric
        if dim == 0:
            raise Bad(line=1)
        body, first_line = data, 1
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last line, it does not start another
    wanted = None if limit is None else (limit if rows is None else min(limit, rows))
    if wanted is not None:
        lines = lines[:wanted]
    words, vectors, blank = [], [], None
    for i, line in enumerate(lines):
        lineno = first_line + i
        if is_blank(line):
            blank = blank or lineno
            continue
        if blank is not None:
            raise Bad(line=blank)
        if rows is not None and limit is None and len(words) == rows:
            raise Bad(line=lineno)  # the file goes on after the rows the header announced
        try:
            w, v = parse_row(line, dim)
        except Bad:
            raise Bad(line=lineno) from None
        words.append(w)
        vectors.append(v)
    if rows is not None and len(words) < (rows if wanted is None else wanted):
        raise Bad(line=1)

    def where(i: int) -> Bad:
        return Bad(line=first_line + i)

    check_duplicates(words, where)
    return words, np.array(vectors, dtype=np.float64).reshape(len(words), dim)


def reference_binary(data: bytes, limit: int | None):
    data = data[3:] if data.startswith(BOM) else data
    rows, dim, body = check_header(data, 4)
    pos = len(data) - len(body)
    wanted = rows if limit is None else min(limit, rows)
    words, vectors = [], []
    for r in range(wanted):
        # One row at a time: its layout, then its word, then its values.
        if all_ws(data[pos:]):
            raise Bad(row=r + 1)
        sp = data.find(b" ", pos)
        if sp <= pos or len(data) - (sp + 1) < 4 * dim:  # no space, empty word, short vector
            raise Bad(row=r + 1)
        word = data[pos:sp]
        v = struct.unpack(f"<{dim}f", data[sp + 1 : sp + 1 + 4 * dim])
        pos = sp + 1 + 4 * dim
        if data[pos : pos + 1] == b"\n":
            pos += 1
        if bad_word(word):
            raise Bad(row=r + 1)
        try:
            words.append(word.decode("utf-8"))
        except UnicodeDecodeError:
            raise Bad(row=r + 1) from None
        if not all(math.isfinite(x) for x in v):
            raise Bad(row=r + 1)
        vectors.append(v)
    if (limit is None or limit >= rows) and not all_ws(data[pos:]):
        raise Bad(row=rows + 1)
    check_duplicates(words, lambda i: Bad(row=i + 1))
    return words, np.array(vectors, dtype=np.float64).reshape(len(words), dim)


def reference(data: bytes, fmt: str, limit: int | None):
    try:
        if looks_like_another_kind(data):
            raise Bad()
        if fmt == "word2vec-binary":
            words, vectors = reference_binary(data, limit)
        else:
            words, vectors = reference_text(data, fmt != "glove", limit)
    except Bad as bad:
        return ("error", bad.where)
    return ("ok", words, vectors.tolist())


def ours(data: bytes, fmt: str, limit: int | None, dtype: str = "float64", chunk: int = 0):
    arr = np.frombuffer(data, dtype=np.uint8)
    try:
        words, vectors, got_fmt, _, _, dropped = _core.read_embeddings(
            arr, "fuzz", fmt, limit, dtype, "strict", "error", chunk=chunk
        )
    except FormatError as err:
        assert str(err).startswith("fuzz, " if err.line or err.row else "fuzz: ")
        return ("error", (err.line, err.row))
    assert got_fmt == fmt and dropped == []
    assert vectors.dtype == dtype and vectors.shape[0] == len(words)
    assert np.isfinite(vectors).all()
    return ("ok", words, vectors.tolist())


# --- strategies -----------------------------------------------------------------------------------

FORMATS = ("word2vec", "word2vec-binary", "glove", "fasttext")
LETTERS = "abcxyzé\u00a0_.-'19"
plain_words = st.text(alphabet=LETTERS, min_size=1, max_size=6)
spaced_words = st.builds(lambda a, b: f"{a} {b}", plain_words, st.text(alphabet="abé", min_size=1))
values = st.floats(width=32, allow_nan=False, allow_infinity=False)
# The parser's chunk size: 0 is the default (1 MiB); small ones cut rows everywhere.
chunks = st.one_of(st.just(0), st.integers(1, 64))


@st.composite
def tables(draw, fmt: str):
    dim = draw(st.integers(1, 5))
    word = st.one_of(plain_words, spaced_words) if fmt == "glove" else plain_words
    words = draw(st.lists(word, unique=True, min_size=1 if fmt == "glove" else 0, max_size=12))
    vecs = draw(st.lists(st.lists(values, min_size=dim, max_size=dim), min_size=len(words),
                         max_size=len(words)))  # fmt: skip
    return Embeddings(words, np.array(vecs, dtype=np.float32).reshape(len(words), dim))


def written(e: Embeddings, fmt: str, tmp) -> bytes:
    p = tmp / "f"
    try:
        e.save(p, format=fmt)
    except ValueError as err:
        # The one table the GloVe writer refuses: a first line that reads as a header.
        assert fmt == "glove" and "word2vec header" in str(err), err
        reject()
    return p.read_bytes()


INTERESTING = [b" ", b"\n", b"\r", b"\t", b"0", b"1", b".", b"-", b"e", b"n", b"i", b"\xff",
               b"\xc3", b"\x00", b"9", b"a", b"\x0b"]  # fmt: skip
mutations = st.lists(
    st.tuples(
        st.sampled_from(["replace", "insert", "delete", "truncate"]),
        st.integers(0, 10**9),
        st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=1)),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for op, pos, byte in ops:
        i = pos % (len(b) + 1)
        if op == "insert":
            b[i:i] = byte
        elif b and op == "replace":
            b[i % len(b)] = byte[0]
        elif b and op == "delete":
            del b[i % len(b)]
        elif op == "truncate":
            del b[i:]
    return bytes(b)


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# --- properties -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_written_tables_read_back_exactly(tmp, fmt, data):
    e = data.draw(tables(fmt))
    raw = written(e, fmt, tmp)
    chunk = data.draw(chunks)
    # float32 values are written as the shortest text that reads back as the same float32.
    assert ours(raw, fmt, None, "float32", chunk) == ("ok", e.words, e.vectors.tolist())
    assert reference(raw, fmt, None) == ours(raw, fmt, None, chunk=chunk)
    limit = data.draw(st.integers(1, 15))
    head = ("ok", e.words[:limit], e.vectors[:limit].tolist())
    assert ours(raw, fmt, limit, "float32", chunk) == head


@pytest.mark.parametrize("fmt", FORMATS)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), ops=mutations, limit=st.one_of(st.none(), st.integers(1, 6)))
def test_broken_files_agree_with_the_reference(tmp, fmt, data, ops, limit):
    e = data.draw(tables(fmt))
    raw = mutate(written(e, fmt, tmp), ops)
    chunk = data.draw(chunks)
    assert ours(raw, fmt, limit, chunk=chunk) == reference(raw, fmt, limit)


@pytest.mark.parametrize("fmt", FORMATS)
@given(raw=st.binary(max_size=200), limit=st.one_of(st.none(), st.integers(1, 4)), chunk=chunks)
@example(raw=b"18446744073709551615 18446744073709551615\nx", limit=None, chunk=0)
@example(raw=b"99999999999999999999999 9999999999999999999999999\n", limit=None, chunk=0)
@example(raw=b"1 1\n\xef\xbb\xbfa 1\n", limit=None, chunk=0)
# Zero-row headers: nothing may be sized from the dimension, and rows after them are errors.
@example(raw=b"0 1000000000000\ncat 0.1 0.2\n", limit=None, chunk=0)
@example(raw=b"0 18446744073709551615\ncat 0.1 0.2\n", limit=None, chunk=0)
@example(raw=b"0 3\n", limit=None, chunk=0)
@example(raw=b"0 3\n\n\n", limit=1, chunk=1)
@example(raw=b"0 2\na 1 2\n", limit=2, chunk=3)
@example(raw=b"\xef\xbb\xbf1 1\na \x00\x00\x80?\n", limit=None, chunk=0)
def test_arbitrary_bytes_agree_with_the_reference(fmt, raw, limit, chunk):
    assert ours(raw, fmt, limit, chunk=chunk) == reference(raw, fmt, limit)


@pytest.mark.parametrize("fmt", ["word2vec", "glove", "fasttext"])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_errors_across_the_real_1mib_chunk_boundaries(fmt, data):
    # A 3 MiB file, broken near the default chunk boundaries (1 MiB and 2 MiB).
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n = 40_000
    words = [f"w{i}" for i in range(n)]
    vecs = rng.integers(-999, 999, size=(n, 8)).astype(np.float32) / 8
    lines = [f"{w} " + " ".join(repr(float(x)) for x in v) + "\n" for w, v in zip(words, vecs)]
    body = "".join(lines).encode()
    raw = (f"{n} 8\n".encode() if fmt != "glove" else b"") + body
    ops = [
        (op, (1 << 20) * k + data.draw(st.integers(-40, 40)), byte)
        for op, k, byte in data.draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["replace", "insert", "delete"]),
                    st.integers(1, 2),
                    st.sampled_from(INTERESTING),
                ),
                max_size=2,
            )
        )
    ]
    b = bytearray(raw)
    for op, i, byte in ops:
        if op == "insert":
            b[i:i] = byte
        elif op == "replace":
            b[i] = byte[0]
        else:
            del b[i]
    raw = bytes(b)
    assert ours(raw, fmt, None) == reference(raw, fmt, None)


@given(raw=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode)))
def test_detection_never_fails_but_with_a_format_error(raw):
    arr = np.frombuffer(raw, dtype=np.uint8)
    try:
        fmt = _core.detect_format(arr, "fuzz")
    except FormatError as err:
        assert err.line == 1
        return
    assert fmt in ("npy", *FORMATS)
