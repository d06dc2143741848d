"""Other containers (issue 9): .npz, .safetensors, Parquet; and drop_nonfinite in load/align."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest

from nnoverlap import Embeddings, FormatError, align, load

WORDS = ["cat", "dog", "emu"]
MAT = np.array([[1, 2], [3, 4], [5, 6]], np.float32)


# --- npz ------------------------------------------------------------------------------------------


def test_npz_with_matrix_and_words(tmp_path):
    p = tmp_path / "e.npz"
    np.savez(p, vectors=MAT, words=np.array(WORDS))
    e = load(p)
    assert e.format == "npz" and e.words == WORDS and np.array_equal(e.vectors, MAT)
    assert load(p, limit=2).words == WORDS[:2]


def test_npz_chooses_the_only_string_array_and_the_only_matrix(tmp_path):
    p = tmp_path / "e.npz"
    np.savez(p, emb=MAT, vocab=np.array(WORDS), counts=np.arange(3))
    e = load(p)
    assert e.words == WORDS and np.array_equal(e.vectors, MAT)


def test_npz_with_several_matrices_needs_key(tmp_path):
    p = tmp_path / "e.npz"
    np.savez(p, a=MAT, b=MAT * 2, words=np.array(WORDS))
    with pytest.raises(FormatError, match="several 2-D real arrays.*key="):
        load(p)
    assert np.array_equal(load(p, key="b").vectors, MAT * 2)
    with pytest.raises(FormatError, match="no array named 'c'"):
        load(p, key="c")


def test_npz_without_words_reads_the_words_file(tmp_path):
    p = tmp_path / "e.npz"
    np.savez(p, vectors=MAT)
    with pytest.raises(FileNotFoundError, match="e.words.txt"):
        load(p)
    (tmp_path / "e.words.txt").write_text("\n".join(WORDS) + "\n")
    assert load(p).words == WORDS


def test_npz_with_object_words_is_never_unpickled(tmp_path):
    p = tmp_path / "e.npz"
    np.savez(p, vectors=MAT, words=np.array(WORDS, dtype=object))
    # The object array is skipped (it needs pickle), so the words file is looked for.
    with pytest.raises(FileNotFoundError):
        load(p)


def test_npz_words_of_another_length(tmp_path):
    p = tmp_path / "e.npz"
    np.savez(p, vectors=MAT, words=np.array(WORDS[:2]))
    with pytest.raises(FormatError, match="3 rows but 'words' has 2"):
        load(p)


# --- safetensors ----------------------------------------------------------------------------------


def write_safetensors(path, tensors: dict[str, np.ndarray], dtypes: dict[str, str]) -> None:
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        b = np.ascontiguousarray(arr).tobytes()
        header[name] = {
            "dtype": dtypes[name],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(b)],
        }
        blobs.append(b)
        offset += len(b)
    header["__metadata__"] = {"format": "np"}
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


@pytest.mark.parametrize("dtype,code", [("<f4", "F32"), ("<f8", "F64"), ("<f2", "F16")])
def test_safetensors_with_words_file(tmp_path, dtype, code):
    p = tmp_path / "e.safetensors"
    write_safetensors(p, {"emb": MAT.astype(dtype)}, {"emb": code})
    (tmp_path / "e.words.txt").write_text("\n".join(WORDS) + "\n")
    e = load(p)
    assert e.format == "safetensors" and e.words == WORDS
    assert np.array_equal(e.vectors, MAT)
    assert load(p, limit=1).vectors.tolist() == [[1, 2]]


def test_safetensors_bfloat16_is_upcast(tmp_path):
    p = tmp_path / "e.safetensors"
    bf16 = (MAT.view(np.uint32) >> 16).astype(np.uint16)  # exact for these small integers
    write_safetensors(p, {"emb": bf16}, {"emb": "BF16"})
    e = load(p, words=_words(tmp_path))
    assert np.array_equal(e.vectors, MAT)


def _words(tmp_path):
    w = tmp_path / "vocab.txt"
    w.write_text("\n".join(WORDS) + "\n")
    return w


def test_safetensors_several_tensors_need_key(tmp_path):
    p = tmp_path / "e.safetensors"
    write_safetensors(
        p, {"a": MAT, "b": MAT * 3, "bias": MAT[0]}, {"a": "F32", "b": "F32", "bias": "F32"}
    )
    with pytest.raises(FormatError, match="several 2-D tensors"):
        load(p, words=_words(tmp_path))
    assert np.array_equal(load(p, key="b", words=_words(tmp_path)).vectors, MAT * 3)


def test_truncated_safetensors_is_an_error(tmp_path):
    p = tmp_path / "e.safetensors"
    write_safetensors(p, {"emb": MAT}, {"emb": "F32"})
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(FormatError, match="truncated") as info:
        load(p, words=_words(tmp_path))
    assert str(info.value).startswith(str(p))


# --- parquet --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixed", [True, False])
def test_parquet_word_and_vector_columns(tmp_path, fixed):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    flat = pa.array(MAT.ravel())
    vec = (
        pa.FixedSizeListArray.from_arrays(flat, 2)
        if fixed
        else pa.ListArray.from_arrays(pa.array([0, 2, 4, 6], pa.int32()), flat)
    )
    p = tmp_path / "e.parquet"
    pq.write_table(pa.table({"word": WORDS, "embedding": vec, "freq": [3, 2, 1]}), p)
    e = load(p)
    assert e.format == "parquet" and e.words == WORDS and np.array_equal(e.vectors, MAT)
    assert e.vectors.dtype == np.float32
    assert load(p, limit=2).words == WORDS[:2]


def test_parquet_ragged_vectors_are_an_error(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    p = tmp_path / "e.parquet"
    pq.write_table(pa.table({"word": WORDS, "v": [[1.0, 2.0], [3.0], [5.0, 6.0]]}), p)
    with pytest.raises(FormatError, match="different lengths") as info:
        load(p)
    assert info.value.row == 2


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, monkeypatch):
    p = tmp_path / "e.parquet"
    p.write_bytes(b"PAR1" + bytes(100) + b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r"nnoverlap\[parquet\]"):
        load(p)


# --- drop_nonfinite -------------------------------------------------------------------------------

NAN_TEXT = "4 2\ncat 1 2\nbad nan 1\ndog 3 4\nworse 1 inf\n"


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove", "npy"])
def test_drop_nonfinite_drops_and_names_the_rows(tmp_path, fmt):
    vecs = np.array([[1, 2], [np.nan, 1], [3, 4], [1, np.inf]], np.float32)
    e = Embeddings(["cat", "bad", "dog", "worse"], vecs)
    p = tmp_path / ("e.npy" if fmt == "npy" else "e")
    if fmt == "npy":
        np.save(p, vecs)
        (tmp_path / "e.words.txt").write_text("cat\nbad\ndog\nworse\n")
    elif fmt == "word2vec-binary":
        rows = b"".join(w.encode() + b" " + v.tobytes() + b"\n" for w, v in zip(e.words, vecs))
        p.write_bytes(b"4 2\n" + rows)
    else:
        text = NAN_TEXT if fmt == "word2vec" else NAN_TEXT.split("\n", 1)[1]
        p.write_text(text)
    with pytest.raises(FormatError, match="drop_nonfinite=True"):
        load(p)
    got = load(p, drop_nonfinite=True)
    assert got.words == ["cat", "dog"] and got.vectors.tolist() == [[1, 2], [3, 4]]
    assert got.dropped_nonfinite == ["bad", "worse"]
    assert load(tmp_path / p.name, drop_nonfinite=False, limit=1).dropped_nonfinite == []


def test_drop_nonfinite_then_duplicates_name_the_right_line(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("a 1\nb nan\nc 2\na 3\n")
    with pytest.raises(FormatError, match="duplicate") as info:
        load(p, drop_nonfinite=True)
    assert info.value.line == 4
    e = load(p, drop_nonfinite=True, duplicates="last")
    assert e.words == ["a", "c"] and e.vectors.ravel().tolist() == [3, 2]


def test_align_drop_nonfinite():
    a = Embeddings(["x", "y", "z", "only_a"], np.array([[1.0], [np.nan], [2.0], [3.0]]))
    b = Embeddings(["z", "y", "x"], np.array([[np.inf], [1.0], [4.0]]))
    with pytest.raises(TypeError):
        align(a, b, drop_nonfinite="yes")
    al = align(a, b, drop_nonfinite=True)
    assert al.a.words == ["x"] == al.b.words
    assert al.dropped_nonfinite == ["y", "z"]
    assert (al.dropped_a, al.dropped_b) == (1, 0)
    assert al.rows_a.tolist() == [0] and al.rows_b.tolist() == [2]
    plain = align(a, b)
    assert plain.a.words == ["x", "y", "z"] and plain.dropped_nonfinite == []
