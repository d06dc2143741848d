"""One rule for rows no score can use, in ``compare`` and ``neighbors`` alike: a vector with a
NaN or infinite value, and (under cosine) an all-zero vector, stop the command naming the
words, unless ``--drop-nonfinite`` / ``--drop-zero`` leave them out, which the report lists
(how many and which)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnoverlap as nno
from nnoverlap import Embeddings, _commands, reference
from nnoverlap.cli import main
from nnoverlap.datasets import imagenet1k
from nnoverlap.report import compare


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def imagenet_npy(tmp_path_factory) -> tuple[Path, Path, list[int]]:
    """The bundled visual and GloVe vectors of the 1,000 ImageNet classes as .npy files; 25
    GloVe rows are NaN (a token GloVe does not have), as in the real data."""
    d = tmp_path_factory.mktemp("imagenet")
    data = imagenet1k()
    for name, arr in (("visual", data.visual), ("glove", data.glove)):
        np.save(d / f"{name}.npy", arr)
        (d / f"{name}.words.txt").write_text("\n".join(data.wnids) + "\n", encoding="utf-8")
    nan_rows = np.flatnonzero(~np.isfinite(data.glove).all(axis=1)).tolist()
    assert len(nan_rows) == 25
    return d / "visual.npy", d / "glove.npy", nan_rows


def test_nonfinite_rows_stop_compare_with_the_flag_as_advice(imagenet_npy, capsys):
    visual, glove, nan_rows = imagenet_npy
    rc, out, err = run(capsys, "compare", visual, glove, "-k", "10", "-q")
    assert rc == 2 and out == ""
    assert f"row {nan_rows[0] + 1}" in err and "--drop-nonfinite" in err


def test_drop_nonfinite_in_compare_lists_the_words_and_matches_the_reference(
    imagenet_npy, tmp_path, capsys
):
    visual, glove, nan_rows = imagenet_npy
    data = imagenet1k()
    out_json = tmp_path / "s.json"
    rc, out, _ = run(capsys, "compare", visual, glove, "-k", "10", "--drop-nonfinite",
                     "--json", out_json, "-q")  # fmt: skip
    assert rc == 0
    s = json.loads(out_json.read_text())
    dropped = [data.wnids[i] for i in nan_rows]
    assert s["b"]["dropped_nonfinite"] == dropped and s["a"]["dropped_nonfinite"] == []
    assert s["n"] == 975
    keep = [i for i in range(1000) if i not in set(nan_rows)]
    assert s["mnno"]["10"] == nno.mnno(data.visual[keep], data.glove[keep], k=10)
    assert s["mnno"]["10"] == pytest.approx(0.16308, abs=2e-3)  # shared/data reference (f64)
    assert f"left out 25 words with a NaN or infinite value in B: {dropped[0]}" in out
    # Frequency ranks stay the rows of the files, not of what is left.
    with open(tmp_path / "w.csv", "w"):
        pass
    rc, _, _ = run(capsys, "compare", visual, glove, "-k", "10", "--drop-nonfinite",
                   "--csv", tmp_path / "w.csv", "-q")  # fmt: skip
    ranks = [int(line.split(",")[1]) for line in (tmp_path / "w.csv").read_text().split()[1:]]
    assert ranks == [i + 1 for i in keep]


def test_drop_nonfinite_on_rows_a_loader_returns(monkeypatch, tmp_path, capsys):
    """The command layer drops NaN/inf rows from whatever the loader hands it (as
    ``nnoverlap.load(drop_nonfinite=...)`` may, or an in-memory source)."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=(12, 3)).astype(np.float32)
    v[4, 1] = np.nan
    v[7, 0] = np.inf
    words = [f"w{i}" for i in range(12)]
    sets = {"a.txt": Embeddings(words, v, path="a.txt", format="glove"),
            "b.txt": Embeddings(words, 2 * v, path="b.txt", format="glove")}  # fmt: skip
    for name in sets:
        (tmp_path / name).write_text("stand-in\n")
    monkeypatch.setattr(_commands, "load", lambda path, **kw: sets[Path(path).name])
    monkeypatch.chdir(tmp_path)
    rc, _, err = run(capsys, "compare", "a.txt", "b.txt", "-k", "2", "-q")
    assert rc == 2 and "2 shared word(s) with a NaN or infinite value: 'w4', 'w7'" in err
    assert "--drop-nonfinite" in err and "drop_nonfinite=" not in err
    rc, out, _ = run(capsys, "compare", "a.txt", "b.txt", "-k", "2", "--drop-nonfinite", "-q")
    assert rc == 0 and "left out 2 words with a NaN or infinite value in A: w4, w7" in out
    assert "aligned: 12 words" in out and "1.0000" in out  # B = 2 A: identical neighbourhoods


def test_nonfinite_in_a_text_file_names_the_line_and_the_flag(tmp_path, capsys):
    f = tmp_path / "n.txt"
    f.write_text("cat 1 0\ndog nan 1\nemu 1 1\nfox 0 1\n")
    rc, _, err = run(capsys, "neighbors", f, "cat", "-k", "1", "-q")
    assert rc == 2 and "line 2" in err and "--drop-nonfinite" in err
    rc, out, err = run(capsys, "neighbors", f, "cat", "-k", "1", "--drop-nonfinite", "-q")
    if "drop_nonfinite" in _commands._LOAD_PARAMETERS:  # the reader skips such rows itself
        assert rc == 0 and "dog" not in out
    else:  # this version's text readers cannot: say so, and what to do
        assert rc == 2 and ".npy files only" in err


def zero_file(tmp_path: Path) -> Path:
    v = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=np.float32)
    Embeddings(["a", "zero", "c", "d", "e"], v).save(tmp_path / "z.bin")
    return tmp_path / "z.bin"


@pytest.mark.parametrize("command", ["compare", "neighbors"])
def test_zero_rows_under_cosine_stop_both_commands_naming_the_word(tmp_path, capsys, command):
    f = zero_file(tmp_path)
    argv = [command, f, f] if command == "compare" else [command, f, "a"]
    rc, out, err = run(capsys, *argv, "-k", "1", "-q")
    assert rc == 2 and out == ""
    assert "'zero'" in err and "all-zero vector" in err and "--drop-zero" in err
    assert "--metric ip or --metric l2" in err
    rc, out, _ = run(capsys, *argv, "-k", "1", "--metric", "l2", "-q")  # no cosine: no problem
    assert rc == 0


def test_drop_zero_in_compare_and_neighbors_leaves_the_word_out(tmp_path, capsys):
    f = zero_file(tmp_path)
    rc, out, _ = run(capsys, "compare", f, f, "-k", "1", "--drop-zero", "-q")
    assert rc == 0
    assert "left out 1 word with an all-zero vector (cosine undefined) in A: zero" in out
    assert "aligned: 5 words in both" in out and "compared: the other 4 words" in out
    assert "1.0000" in out
    rc, out, err = run(capsys, "neighbors", f, "a", "-k", "3", "--drop-zero", "-q")
    assert rc == 0 and out.splitlines()[1] == "left out 1 word with an all-zero vector: 'zero'"
    listed = [line.split()[1] for line in out.splitlines()[3:]]
    assert "zero" not in listed and len(listed) == 3
    v = Embeddings(["a", "c", "d", "e"], nno.load(f).vectors[[0, 2, 3, 4]])
    expected = nno.knn(v.vectors[:1], 4, base=v.vectors).indices[0][1:]
    assert listed == [v.words[j] for j in expected]


def test_neighbors_of_a_word_whose_own_vector_is_unusable(tmp_path, capsys):
    f = zero_file(tmp_path)
    rc, _, err = run(capsys, "neighbors", f, "zero", "--drop-zero", "-q")
    assert rc == 2 and "the vector of 'zero' has an all-zero vector" in err


def test_compare_function_drops_on_request_and_names_words_otherwise():
    v = np.array([[1.0, 0], [0, 0], [1, 1], [0, 1], [np.nan, 1]])
    e = Embeddings(["a", "z", "c", "d", "n"], v)
    with pytest.raises(ValueError, match=r"'n'; pass drop_nonfinite=True"):
        compare(e, e, k=[1], drop_zero=True)
    with pytest.raises(ValueError, match=r"'z'; pass drop_zero=True"):
        compare(e, e, k=[1], drop_nonfinite=True)
    c = compare(e, e, k=[1], drop_nonfinite=True, drop_zero=True)
    assert c.words == ["a", "c", "d"]
    assert c.a["dropped_nonfinite"] == ["n"] and c.a["dropped_zero"] == ["z"]
    assert c.rank_a.tolist() == [1, 3, 4]
    c = compare(e, e, k=[1], metric="l2", drop_nonfinite=True)  # zero rows are fine for l2
    assert c.words == ["a", "z", "c", "d"] and c.a["dropped_zero"] == []


# --- property: dropping equals computing on what is left (pure-Python reference) -------------


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(5, 24),
    d=st.integers(1, 4),
    metric=st.sampled_from(["ip", "l2"]),
    data=st.data(),
)
def test_drop_nonfinite_equals_the_reference_on_the_rows_left(seed, n, d, metric, data):
    # Small integers: every score is exact, so the core equals the reference, ties included.
    rng = np.random.default_rng(seed)
    A = rng.integers(-3, 4, size=(n, d)).astype(np.float64)
    B = rng.integers(-3, 4, size=(n, d + 1)).astype(np.float64)
    bad_a = data.draw(st.sets(st.integers(0, n - 1), max_size=n // 3))
    bad_b = data.draw(st.sets(st.integers(0, n - 1), max_size=n // 3))
    for i in bad_a:
        A[i, rng.integers(d)] = rng.choice([np.nan, np.inf, -np.inf])
    for i in bad_b:
        B[i, rng.integers(d + 1)] = np.nan
    words = [f"w{i}" for i in range(n)]
    order = rng.permutation(n)  # B lists the same words in another order
    a = Embeddings(words, A)
    b = Embeddings([words[i] for i in order], B[order])
    kept = [i for i in range(n) if i not in bad_a | bad_b]
    if len(kept) < 2:
        with pytest.raises(ValueError, match="share only"):
            compare(a, b, k=[1], metric=metric, drop_nonfinite=True)
        return
    k = data.draw(st.integers(1, len(kept) - 1))
    c = compare(a, b, k=[k], metric=metric, drop_nonfinite=True)
    assert c.words == [words[i] for i in kept]
    assert c.a["dropped_nonfinite"] == [words[i] for i in sorted(bad_a)]
    assert c.b["dropped_nonfinite"] == [words[i] for i in sorted(bad_b - bad_a)]  # A's order
    assert c.rank_a.tolist() == [i + 1 for i in kept]
    expected = reference.mnno(A[kept].tolist(), B[kept].tolist(), k, metric=metric)
    assert float(c.mnno[0]) == expected


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 24), data=st.data())
def test_drop_zero_equals_the_reference_on_the_rows_left(seed, n, data):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(n, 3)), rng.normal(size=(n, 5))
    zero_a = data.draw(st.sets(st.integers(0, n - 1), max_size=n // 3))
    zero_b = data.draw(st.sets(st.integers(0, n - 1), max_size=n // 3))
    A[sorted(zero_a)] = 0
    B[sorted(zero_b)] = 0
    words = [f"w{i}" for i in range(n)]
    kept = [i for i in range(n) if i not in zero_a | zero_b]
    if len(kept) < 2:
        return
    k = data.draw(st.integers(1, len(kept) - 1))
    c = compare(Embeddings(words, A), Embeddings(words, B), k=[k], drop_zero=True)
    assert c.words == [words[i] for i in kept]
    assert c.a["dropped_zero"] == [words[i] for i in sorted(zero_a)]
    assert c.b["dropped_zero"] == [words[i] for i in sorted(zero_b - zero_a)]
    assert float(c.mnno[0]) == pytest.approx(reference.mnno(A[kept], B[kept], k), abs=1e-12)


def test_drop_nonfinite_in_compare_reads_text_files_and_lists_the_shared_words(tmp_path, capsys):
    """Text formats refuse NaN rows; --drop-nonfinite lets the reader leave them out, and the
    report lists the shared ones among them (not as words only the other file has)."""
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("x 1 0\ny nan 1\nz 0 1\nw 1 1\nonly 2 1\n")
    b.write_text("x 1 0\ny 0 1\nz 0 1\nw 1 1\n")
    rc, _, err = run(capsys, "compare", a, b, "-k", "1", "-q")
    assert rc == 2 and "--drop-nonfinite" in err
    js = tmp_path / "s.json"
    rc, out, _ = run(capsys, "compare", a, b, "-k", "1", "--drop-nonfinite", "--json", js, "-q")
    assert rc == 0
    s = json.loads(js.read_text())
    assert s["a"]["dropped_nonfinite"] == ["y"] and s["b"]["dropped_nonfinite"] == []
    assert s["a"]["only_in_a"] == 1 and s["b"]["only_in_b"] == 0 and s["n"] == 3
    assert "left out 1 word with a NaN or infinite value in A: y" in out
    # the three words compared: x, z, w (as the reference says of their vectors)
    A, B = [[1, 0], [0, 1], [1, 1]], [[1, 0], [0, 1], [1, 1]]
    assert s["mnno"]["1"] == reference.mnno(A, B, 1)
