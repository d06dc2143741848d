"""Compressed embedding files (issue 9): gzip, bzip2 and xz, recognised by their magic bytes,
for every text and binary format, read as a stream."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import threading

import numpy as np
import pytest

from nnoverlap import Embeddings, FormatError, load

COMPRESSORS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}
FORMATS = ["word2vec", "word2vec-binary", "glove", "fasttext"]


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    n = 5000
    words = [f"w{i}é" for i in range(n)]
    return Embeddings(words, rng.normal(size=(n, 12)).astype(np.float32))


def plain_bytes(table, fmt, tmp_path) -> bytes:
    p = tmp_path / f"plain.{fmt}"
    table.save(p, format=fmt)
    return p.read_bytes()


@pytest.mark.parametrize("codec", list(COMPRESSORS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_compressed_files_read_as_the_plain_file(tmp_path, table, fmt, codec):
    raw = plain_bytes(table, fmt, tmp_path)
    p = tmp_path / "e.any"  # no telling suffix: the magic bytes decide
    p.write_bytes(COMPRESSORS[codec](raw))
    e = load(p)
    assert e.format == fmt.replace("fasttext", "word2vec")
    assert e.words == table.words
    assert np.array_equal(e.vectors, table.vectors)
    # With the format named, and with a limit (the rest is never decompressed).
    assert load(p, format=fmt).words == table.words
    head = load(p, limit=7)
    assert head.words == table.words[:7] and np.array_equal(head.vectors, table.vectors[:7])


@pytest.mark.parametrize("codec", list(COMPRESSORS))
def test_a_compressed_pipe_is_read(tmp_path, table, codec):
    data = COMPRESSORS[codec](plain_bytes(table, "glove", tmp_path))
    r, w = os.pipe()

    def feed():
        try:
            os.write(w, data)
        finally:
            os.close(w)

    t = threading.Thread(target=feed)
    t.start()
    try:
        e = load(f"/dev/fd/{r}")
    finally:
        t.join()
        os.close(r)
    assert e.words == table.words and np.array_equal(e.vectors, table.vectors)


def test_concatenated_gzip_members_are_one_file(tmp_path, table):
    raw = plain_bytes(table, "glove", tmp_path)
    cut = raw.index(b"\n", len(raw) // 2) + 1
    p = tmp_path / "e.gz"
    p.write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]))
    assert load(p).words == table.words


@pytest.mark.parametrize("codec", list(COMPRESSORS))
def test_truncated_compressed_data_is_an_error(tmp_path, table, codec):
    data = COMPRESSORS[codec](plain_bytes(table, "word2vec", tmp_path))
    p = tmp_path / "e.z"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError) as info:
        load(p)
    assert str(info.value).startswith(str(p))


@pytest.mark.parametrize("codec", list(COMPRESSORS))
def test_corrupt_compressed_data_is_an_error_naming_the_codec(tmp_path, table, codec):
    data = bytearray(COMPRESSORS[codec](plain_bytes(table, "glove", tmp_path)))
    for i in range(40, len(data) - 40, 97):
        data[i] ^= 0x5A
    p = tmp_path / "e.z"
    p.write_bytes(bytes(data))
    with pytest.raises(FormatError) as info:
        load(p)
    msg = str(info.value)
    assert str(p) in msg and "\n" not in msg


def test_errors_inside_compressed_text_name_the_line(tmp_path):
    p = tmp_path / "e.gz"
    p.write_bytes(gzip.compress(b"cat 1 2\ndog 3\n"))
    with pytest.raises(FormatError, match="expected a word and 2 values") as info:
        load(p)
    assert info.value.line == 2


def test_compressed_header_check_happens_at_the_end(tmp_path):
    # The size of compressed content is unknown: a header claiming more rows than the file
    # has is found when the data ends, never by allocating from the header.
    p = tmp_path / "e.gz"
    p.write_bytes(gzip.compress(b"1000000000000 2\ncat 1 2\n"))
    with pytest.raises(FormatError, match="has only 1 row") as info:
        load(p)
    assert info.value.line == 1


def test_a_compressed_png_is_named(tmp_path):
    p = tmp_path / "x.gz"
    p.write_bytes(gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(300)))
    with pytest.raises(FormatError, match="PNG image inside gzip"):
        load(p)


def test_compressed_with_bom_and_drop_nonfinite(tmp_path):
    p = tmp_path / "e.xz"
    p.write_bytes(lzma.compress(b"\xef\xbb\xbf3 2\ncat 1 2\nnan 3 nan\ndog 5 6\n"))
    e = load(p, drop_nonfinite=True)
    assert e.words == ["cat", "dog"] and e.dropped_nonfinite == ["nan"]
