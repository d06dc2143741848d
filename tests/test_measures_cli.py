"""`nnoverlap matrix`: the m x m matrix of several embedding files, and layer x layer."""

from __future__ import annotations

import json

import numpy as np

import nnoverlap as nno
from nnoverlap.cli import main


def test_matrix_of_files_aligns_words_and_equals_compare_many(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(120)]
    A = rng.normal(size=(120, 8)).astype(np.float32)
    B = (A + 0.4 * rng.normal(size=A.shape)).astype(np.float32)
    paths = []
    for name, x, order in [("a", A, slice(None)), ("b", B, slice(None, None, -1))]:
        e = nno.Embeddings([words[i] for i in range(120)][order], x[order])
        path = tmp_path / f"{name}.txt"
        e.save(path, format="word2vec")
        paths.append(str(path))
    out = tmp_path / "m.json"
    assert (
        main(["matrix", *paths, "-k", "5", "--measures", "mnno,jaccard", "--json", str(out)]) == 0
    )
    text = capsys.readouterr().out
    assert "aligned: 120 words in all 2 files" in text
    got = json.loads(out.read_text())
    want = nno.compare_many([A, B], k=5, measures=["mnno", "jaccard"])
    np.testing.assert_allclose(got["mnno"]["values"], want["mnno"], atol=1e-6)
    np.testing.assert_allclose(got["jaccard"]["values"], want["jaccard"], atol=1e-6)


def test_matrix_of_layers_reports_the_maximum(tmp_path, capsys) -> None:
    rng = np.random.default_rng(1)
    A = rng.normal(size=(80, 6)).astype(np.float32)
    np.save(tmp_path / "a.npy", np.stack([A, rng.normal(size=A.shape)]).astype(np.float32))
    np.save(tmp_path / "b.npy", np.stack([rng.normal(size=A.shape), 3 * A]).astype(np.float32))
    args = ["matrix", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--layers", "-k", "4"]
    assert main(args) == 0
    assert "max 1.0000 at (A0, B1)" in capsys.readouterr().out


def test_matrix_bad_usage_exits_2(tmp_path, capsys) -> None:
    np.save(tmp_path / "a.npy", np.zeros((3, 4), dtype=np.float32))
    assert main(["matrix", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--layers"]) == 2
    assert "expected shape (layers, n, d)" in capsys.readouterr().err
