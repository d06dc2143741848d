"""Embedding files: round-trips for every format, every malformed-file case with the line it is
on, format detection, limits, the .npy layout and the Embeddings API."""

from __future__ import annotations

import doctest
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import nnoverlap as nno
import nnoverlap.io
import nnoverlap.report
from nnoverlap import Embeddings, FormatError, load
from nnoverlap.datasets import imagenet1k

TEXT_FORMATS = ("word2vec", "glove", "fasttext")
ALL_FORMATS = ("word2vec", "word2vec-binary", "glove", "fasttext", "npy")
SUFFIX = {"word2vec": ".txt", "word2vec-binary": ".bin", "glove": ".txt", "fasttext": ".vec",
          "npy": ".npy"}  # fmt: skip


@pytest.fixture(scope="module")
def real() -> Embeddings:
    """The bundled ImageNet-1k MiniLM vectors with the class names (real words and values)."""
    data = imagenet1k()
    seen = Counter(data.names)
    words = [n if seen[n] == 1 else f"{n}_{w}" for n, w in zip(data.names, data.wnids)]
    # Class names contain spaces; keep them for GloVe, join them for the other formats.
    return Embeddings(words, data.minilm)


def no_spaces(e: Embeddings) -> Embeddings:
    return Embeddings([w.replace(" ", "_") for w in e.words], e.vectors)


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    return p


def error(path: Path, **kw) -> FormatError:
    with pytest.raises(FormatError) as info:
        load(path, **kw)
    assert str(path) in str(info.value)
    return info.value


# --- round-trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_roundtrip_real_data_is_exact(tmp_path, real, fmt):
    e = real if fmt in ("glove", "npy") else no_spaces(real)
    p = tmp_path / f"e{SUFFIX[fmt]}"
    e.save(p, format=fmt)
    back = load(p, format=fmt)
    assert back.words == e.words
    assert back.vectors.dtype == np.float32
    np.testing.assert_array_equal(back.vectors, e.vectors)
    # Detected from the content alone (fastText .vec reads as word2vec text: the same layout).
    detected = load(p)
    assert detected.format == {"fasttext": "word2vec"}.get(fmt, fmt)
    np.testing.assert_array_equal(detected.vectors, e.vectors)


@pytest.mark.parametrize("fmt", ("word2vec", "glove", "fasttext", "npy"))
def test_roundtrip_float64_is_exact(tmp_path, fmt):
    rng = np.random.default_rng(1)
    e = Embeddings(
        ["α", "b\u00a0c", "1999", "ü"],
        rng.normal(size=(4, 3)) * 10.0 ** rng.integers(-9, 9, (4, 3)),
    )
    p = tmp_path / f"e{SUFFIX[fmt]}"
    e.save(p, format=fmt)
    back = load(p, dtype=np.float64)
    assert back.vectors.dtype == np.float64
    assert back.words == e.words
    np.testing.assert_array_equal(back.vectors, e.vectors)


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
def test_precision_writes_fixed_decimals(tmp_path, real, fmt):
    e = no_spaces(real) if fmt != "glove" else real
    p = tmp_path / "e.txt"
    e.save(p, format=fmt, precision=6)
    line = p.read_text().splitlines()[1 if fmt != "glove" else 0]
    assert all(len(v.split(".")[1]) == 6 for v in line.split(" ")[-3:] if v)
    np.testing.assert_allclose(load(p, format=fmt).vectors, e.vectors, atol=5e-7)


def test_text_layouts_match_the_writers(tmp_path):
    e = Embeddings(["cat", "dog"], np.array([[0.5, 1.0], [2.0, -1.5]], np.float32))
    e.save(tmp_path / "g.txt", format="glove")
    e.save(tmp_path / "w.txt", format="word2vec")
    e.save(tmp_path / "f.vec")
    assert (tmp_path / "g.txt").read_text() == "cat 0.5 1\ndog 2 -1.5\n"
    assert (tmp_path / "w.txt").read_text() == "2 2\ncat 0.5 1\ndog 2 -1.5\n"
    assert (tmp_path / "f.vec").read_text() == "2 2\ncat 0.5 1 \ndog 2 -1.5 \n"
    e.save(tmp_path / "b.bin")
    raw = (tmp_path / "b.bin").read_bytes()
    assert (
        raw
        == b"2 2\ncat "
        + struct.pack("<2f", 0.5, 1)
        + b"\ndog "
        + struct.pack("<2f", 2, -1.5)
        + b"\n"
    )


# --- gensim interoperability -----------------------------------------------------------------


def test_gensim_binary_and_text_read_back_exactly(tmp_path, real):
    gensim_models = pytest.importorskip("gensim.models", reason="gensim not installed")
    e = no_spaces(real)
    kv = gensim_models.KeyedVectors(e.dim)
    kv.add_vectors(e.words, e.vectors)
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    kv.save_word2vec_format(str(tmp_path / "g.txt"), binary=False)
    for name, fmt in (("g.bin", "word2vec-binary"), ("g.txt", "word2vec")):
        back = load(tmp_path / name)
        assert back.format == fmt
        assert back.words == e.words
        np.testing.assert_array_equal(back.vectors, e.vectors)


def test_gensim_reads_what_we_write(tmp_path, real):
    gensim_models = pytest.importorskip("gensim.models", reason="gensim not installed")
    e = no_spaces(real)
    for fmt, binary in (("word2vec-binary", True), ("word2vec", False), ("fasttext", False)):
        p = tmp_path / f"e{SUFFIX[fmt]}"
        e.save(p, format=fmt)
        kv = gensim_models.KeyedVectors.load_word2vec_format(str(p), binary=binary)
        assert kv.index_to_key == e.words
        np.testing.assert_array_equal(kv.vectors, e.vectors)


# --- malformed files: one test each, the message names the file and the line --------------------


def test_row_with_too_few_values(tmp_path):
    p = write(tmp_path, "v.txt", "2 3\ncat 1 2 3\ndog 1 2\n")
    e = error(p)
    assert e.line == 3 and "line 3" in str(e) and "expected a word and 3 values" in str(e)


def test_row_with_too_many_values(tmp_path):
    p = write(tmp_path, "g.txt", "cat 1 2\ndog 1 2 3\n")
    e = error(p)
    assert e.line == 2 and "found 3" in str(e)


def test_value_that_is_not_a_number(tmp_path):
    p = write(tmp_path, "g.txt", "cat 1 2\ndog 1 x2\n")
    e = error(p)
    assert e.line == 2 and '"x2", is not a number' in str(e)


@pytest.mark.parametrize("token", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_nan_and_infinity(tmp_path, token):
    p = write(tmp_path, "g.txt", f"cat 1 2\ndog 1 {token}\n")
    e = error(p)
    assert e.line == 2 and "NaN and infinite values are not allowed" in str(e)


def test_header_announces_more_rows_than_the_file_has(tmp_path):
    p = write(tmp_path, "v.txt", "3 2\ncat 1.5 2.5\ndog 3.5 4.5\n")
    e = error(p)
    assert e.line == 1 and "3 rows of 2 values, but the file has only 2 rows" in str(e)


def test_header_announces_fewer_rows_than_the_file_has(tmp_path):
    p = write(tmp_path, "v.txt", "1 2\ncat 1 2\ndog 3 4\n")
    e = error(p)
    assert e.line == 3 and "goes on" in str(e)


def test_header_with_another_dimension(tmp_path):
    p = write(tmp_path, "v.txt", "2 3\ncat 1.5 2.5\ndog 3.5 4.5\n")
    e = error(p)
    assert e.line == 2 and "expected a word and 3 values" in str(e)


def test_header_claiming_more_than_the_file_can_hold(tmp_path):
    for header in ("99999999999 300", "2 99999999999", "99999999999999999999999 1"):
        p = write(tmp_path, "v.txt", f"{header}\ncat 1 2\n")
        e = error(p)
        assert e.line == 1, header
        # Dimensions of 2^32 or more are refused outright (a row would be over 8 GiB).
        assert ("needs at least" if header != "2 99999999999" else "below") in str(e), header


def test_binary_header_claiming_more_than_the_file_can_hold(tmp_path):
    p = write(tmp_path, "v.bin", b"4000000000 300\ncat " + struct.pack("<300f", *range(300)))
    e = error(p, format="word2vec-binary")
    assert e.line == 1 and "needs at least" in str(e)


def test_header_with_dimension_zero(tmp_path):
    e = error(write(tmp_path, "v.txt", "2 0\ncat\ndog\n"), format="word2vec")
    assert e.line == 1 and "dimension 0" in str(e)


def test_invalid_utf8_strict_names_the_line(tmp_path):
    p = write(tmp_path, "g.txt", b"cat 1 2\nd\xffg 3 4\n")
    e = error(p)
    assert e.line == 2 and "not valid UTF-8" in str(e)


def test_invalid_utf8_replace(tmp_path):
    p = write(tmp_path, "g.txt", b"cat 1 2\nd\xffg 3 4\n")
    assert load(p, errors="replace").words == ["cat", "d\ufffdg"]


def test_word_cut_inside_a_character_as_word2vec_c_does(tmp_path):
    cut = "ü".encode()[:1]
    p = write(tmp_path, "v.bin", b"1 1\nab" + cut + b" " + struct.pack("<f", 1.0) + b"\n")
    e = error(p)
    assert e.row == 1 and "not valid UTF-8" in str(e)
    assert load(p, errors="replace").words == ["ab\ufffd"]


def test_duplicate_word_is_an_error_by_default(tmp_path):
    p = write(tmp_path, "g.txt", "cat 1\ndog 2\ncat 3\n")
    e = error(p)
    assert e.line == 3 and 'duplicate word "cat", first at line 1' in str(e)


def test_duplicate_word_policies(tmp_path):
    p = write(tmp_path, "g.txt", "cat 1\ndog 2\ncat 3\n")
    first, last = load(p, duplicates="first"), load(p, duplicates="last")
    assert first.words == last.words == ["cat", "dog"]
    assert first.vectors.ravel().tolist() == [1.0, 2.0]
    assert last.vectors.ravel().tolist() == [3.0, 2.0]


def test_duplicate_word_in_binary_names_the_row(tmp_path):
    e = Embeddings(["cat", "dog"], np.ones((2, 2), np.float32))
    e.save(tmp_path / "e.bin")
    raw = (tmp_path / "e.bin").read_bytes().replace(b"dog ", b"cat ")
    p = write(tmp_path, "d.bin", raw)
    err = error(p)
    assert err.row == 2 and 'duplicate word "cat", first at row 1' in str(err)


def test_two_spaces_in_a_row(tmp_path):
    e = error(write(tmp_path, "g.txt", "cat 1 2\ndog 1  2\n"))
    assert e.line == 2 and "two spaces in a row" in str(e)


def test_tab_separated_values(tmp_path):
    e = error(write(tmp_path, "g.txt", "cat 1 2\ndog 1\t2 3\n"))
    assert e.line == 2 and "single ASCII spaces" in str(e)


def test_blank_line_inside_the_file(tmp_path):
    e = error(write(tmp_path, "g.txt", "cat 1 2\n\ndog 1 2\n"))
    assert e.line == 2 and "empty" in str(e)


def test_blank_lines_and_crlf_at_the_end_are_tolerated(tmp_path):
    p = write(tmp_path, "g.txt", "\ufeffcat 1 2\r\ndog 3 4 \r\n\n\n")
    e = load(p)
    assert e.words == ["cat", "dog"] and e.vectors.ravel().tolist() == [1, 2, 3, 4]


def test_empty_file(tmp_path):
    e = error(write(tmp_path, "e.txt", ""))
    assert e.line == 1 and "empty" in str(e)


def test_line_that_starts_with_a_space(tmp_path):
    e = error(write(tmp_path, "g.txt", "cat 1 2\n 1 2\n"))
    assert e.line == 2 and "word is empty" in str(e)


def test_binary_truncated_inside_a_vector(tmp_path):
    e = Embeddings(["cat", "dog"], np.ones((2, 4), np.float32))
    e.save(tmp_path / "e.bin")
    p = write(tmp_path, "t.bin", (tmp_path / "e.bin").read_bytes()[:-6])
    err = error(p)
    assert err.row == 2 and "ends inside the vector" in str(err) and "row 2 (byte" in str(err)


def test_binary_with_fewer_rows_than_the_header(tmp_path):
    # Long words, so that the file could hold 3 rows and the size check passes.
    e = Embeddings(["cat" * 10, "dog" * 10], np.ones((2, 4), np.float32))
    e.save(tmp_path / "e.bin")
    p = write(tmp_path, "t.bin", (tmp_path / "e.bin").read_bytes().replace(b"2 4\n", b"3 4\n", 1))
    err = error(p)
    assert err.row == 3 and "ends after 2 rows" in str(err)


def test_binary_with_more_rows_than_the_header(tmp_path):
    e = Embeddings(["cat", "dog"], np.ones((2, 4), np.float32))
    e.save(tmp_path / "e.bin")
    p = write(tmp_path, "t.bin", (tmp_path / "e.bin").read_bytes().replace(b"2 4\n", b"1 4\n", 1))
    err = error(p)
    assert err.row == 2 and "goes on" in str(err)


def test_binary_with_a_wrong_dimension_is_out_of_step(tmp_path):
    rng = np.random.default_rng(0)
    e = Embeddings([f"w{i}" for i in range(20)], rng.normal(size=(20, 8)).astype(np.float32))
    e.save(tmp_path / "e.bin")
    raw = (tmp_path / "e.bin").read_bytes().replace(b"20 8\n", b"20 7\n", 1)
    error(write(tmp_path, "t.bin", raw))


def test_binary_nan(tmp_path):
    p = write(tmp_path, "n.bin", b"1 2\ncat " + struct.pack("<2f", 1.0, float("nan")) + b"\n")
    err = error(p)
    assert err.row == 1 and "NaN" in str(err)


def test_glove_file_read_as_word2vec_says_so(tmp_path):
    e = error(write(tmp_path, "g.txt", "cat 1 2\n"), format="word2vec")
    assert e.line == 1 and 'format="glove"' in str(e)


def test_errors_in_a_large_file_name_the_first_bad_line(tmp_path):
    rows = [f"w{i} {i % 7}.5 -{i % 3}.25" for i in range(300_000)]
    rows[123_456] = "bad 1"
    rows[250_000] = "worse"
    e = error(write(tmp_path, "g.txt", "\n".join(rows) + "\n"))
    assert e.line == 123_457


# --- formats in the wild --------------------------------------------------------------------------


def test_glove_words_with_spaces_and_nbsp(tmp_path):
    text = "the 0.1 0.2\n. . . 0.3 0.4\nat name@domain.com 0.5 0.6\na\u00a0b 0.7 0.8\na b 0.9 1.0\n"
    e = load(write(tmp_path, "g.txt", text))
    assert e.words == ["the", ". . .", "at name@domain.com", "a\u00a0b", "a b"]
    assert "a\u00a0b" in e and "a b" in e  # NBSP is not a separator: no invented duplicate
    assert e.vectors.shape == (5, 2)


def test_fasttext_vec_with_trailing_spaces(tmp_path):
    e = load(write(tmp_path, "f.vec", "2 3\n, 0.1 0.2 0.3 \nde\u00a0la 1 2 3 \n"))
    assert e.format == "word2vec" and e.words == [",", "de\u00a0la"]


def test_word2vec_binary_with_and_without_newlines(tmp_path):
    rows = [("cat", (1.0, 2.0)), ("dog", (3.0, 4.0))]
    with_nl = b"2 2\n" + b"".join(
        w.encode() + b" " + struct.pack("<2f", *v) + b"\n" for w, v in rows
    )
    without = b"2 2\n" + b"".join(w.encode() + b" " + struct.pack("<2f", *v) for w, v in rows)
    for raw in (with_nl, without):
        e = load(write(tmp_path, "b.bin", raw))
        assert e.format == "word2vec-binary" and e.words == ["cat", "dog"]
        assert e.vectors.ravel().tolist() == [1, 2, 3, 4]


def test_one_dimensional_glove_with_a_numeric_first_word(tmp_path):
    # "1999 5" is a header by the one rule (two integers on line 1); the error says what to do,
    # and format="glove" reads the file as GloVe.
    p = write(tmp_path, "g.txt", "1999 5\nthe 0.5\nof 0.25\n")
    with pytest.raises(FormatError, match='format="glove"'):
        load(p)
    e = load(p, format="glove")
    assert e.format == "glove" and e.words == ["1999", "the", "of"]


# --- limit ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ("word2vec", "word2vec-binary", "glove", "npy"))
def test_limit_reads_only_the_first_rows(tmp_path, real, fmt):
    e = real if fmt in ("glove", "npy") else no_spaces(real)
    p = tmp_path / f"e{SUFFIX[fmt]}"
    e.save(p, format=fmt)
    head = load(p, limit=10)
    assert head.words == e.words[:10]
    np.testing.assert_array_equal(head.vectors, e.vectors[:10])
    assert len(load(p, limit=10**9)) == len(e)


def test_limit_does_not_look_at_the_rest(tmp_path):
    p = write(tmp_path, "v.txt", "3 2\ncat 1 2\ndog 3 4\nthis line is broken\n")
    assert load(p, limit=2).words == ["cat", "dog"]
    error(p)


# --- .npy with a words file ---------------------------------------------------------------------


def test_npy_with_words_file(tmp_path, real):
    real.save(tmp_path / "e.npy")
    assert (tmp_path / "e.words.txt").exists()
    np.save(tmp_path / "plain.npy", real.vectors[:5])
    (tmp_path / "names.txt").write_text("a\nb b\nc\u2028d\ne\nf\n", encoding="utf-8")
    e = load(tmp_path / "plain.npy", words=tmp_path / "names.txt")
    assert e.words == ["a", "b b", "c\u2028d", "e", "f"]  # split on newlines only


def test_npy_without_words_file(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 2), np.float32))
    with pytest.raises(FileNotFoundError, match="x.words.txt"):
        load(tmp_path / "x.npy")


def test_npy_words_file_of_another_length(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2), np.float32))
    (tmp_path / "x.words.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="3 rows but .* has 2 words"):
        load(tmp_path / "x.npy")


def test_npy_with_nan_names_the_row(tmp_path):
    arr = np.ones((3, 2), np.float32)
    arr[1, 0] = np.nan
    np.save(tmp_path / "x.npy", arr)
    (tmp_path / "x.words.txt").write_text("a\nb\nc\n")
    with pytest.raises(FormatError, match="row 2"):
        load(tmp_path / "x.npy")


# --- the Embeddings API -------------------------------------------------------------------------


def test_embeddings_api():
    e = Embeddings(["cat", "dog"], np.eye(2, dtype=np.float32))
    assert len(e) == 2 and "cat" in e and "cow" not in e and list(e) == ["cat", "dog"]
    assert e.index("dog") == 1 and e["dog"].tolist() == [0, 1] and e.dim == 2
    with pytest.raises(KeyError, match="cow"):
        e.index("cow")
    with pytest.raises(ValueError, match="duplicate word 'cat'"):
        Embeddings(["cat", "cat"], np.eye(2))
    with pytest.raises(ValueError, match="2 words but 3 vectors"):
        Embeddings(["cat", "dog"], np.eye(3))
    assert "2 words x 2" in repr(e)


def test_loaded_embeddings_look_words_up(tmp_path, real):
    real.save(tmp_path / "e.txt", format="glove")
    e = load(tmp_path / "e.txt")
    w = real.words[500]
    assert w in e and e.index(w) == 500
    np.testing.assert_array_equal(e[w], real.vectors[500])


def test_save_needs_a_format_it_can_tell(tmp_path):
    e = Embeddings(["cat"], np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="cannot tell the format"):
        e.save(tmp_path / "e.txt")
    with pytest.raises(ValueError, match="format must be one of"):
        e.save(tmp_path / "e.txt", format="word2vec-text")


@pytest.mark.parametrize(
    ("word", "fmt"),
    [("a b", "word2vec"), ("a b", "word2vec-binary"), ("a b", "fasttext"), ("a 1", "glove"),
     ("a\nb", "glove"), ("", "glove"), (" a", "glove")],
)  # fmt: skip
def test_writer_refuses_words_it_cannot_store(tmp_path, word, fmt):
    e = Embeddings([word], np.ones((1, 2), np.float32))
    p = tmp_path / "out"
    with pytest.raises(ValueError, match="cannot write the word"):
        e.save(p, format=fmt)
    assert not p.exists()  # nothing written


def test_writer_refuses_nan(tmp_path):
    e = Embeddings(["a"], np.array([[np.nan, 1.0]], np.float32))
    with pytest.raises(ValueError, match="NaN"):
        e.save(tmp_path / "e.txt", format="glove")


def test_bad_arguments():
    with pytest.raises(ValueError, match="format must be one of"):
        load("x", format="csv")
    with pytest.raises(ValueError, match="errors must be one of"):
        load("x", errors="ignore")
    with pytest.raises(ValueError, match="duplicates must be one of"):
        load("x", duplicates="sum")
    with pytest.raises(ValueError, match="limit"):
        load("x", limit=0)
    with pytest.raises(ValueError, match="dtype"):
        load("x", dtype=np.int32)
    with pytest.raises(FileNotFoundError):
        load("/nonexistent/file.txt")


def test_top_level_exports():
    assert nno.load is load and nno.Embeddings is Embeddings and issubclass(FormatError, ValueError)


@pytest.mark.parametrize("module", [nnoverlap.io, nnoverlap.report])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
