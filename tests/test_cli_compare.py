"""The `compare`, `neighbors` and `demo` commands: real files in, report, JSON, CSV and plots
out; reference values reproduced; exit status 2 with a message on stderr for bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap import Embeddings, _progress
from nnoverlap._commands import imagenet_pair
from nnoverlap.cli import main
from nnoverlap.report import compare, mnno_curve


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory) -> tuple[Path, Path]:
    """The bundled ImageNet-1k pair written as files: visual as word2vec binary, text as GloVe."""
    d = tmp_path_factory.mktemp("pair")
    visual, text = imagenet_pair()
    words = [w.replace(" ", "_") for w in visual.words]  # word2vec binary cannot hold spaces
    Embeddings(words, visual.vectors).save(d / "visual.bin")
    Embeddings(words, text.vectors).save(d / "text.txt", format="glove")
    return d / "visual.bin", d / "text.txt"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --- reference values on real data ----------------------------------------------------------


def test_compare_reproduces_the_reference_mnno_on_words10k(shared_data, tmp_path, capsys):
    d = shared_data / "words10k"
    words = (d / "words10k.txt").read_text(encoding="utf-8").split("\n")[:10_000]
    glove = Embeddings(words, np.load(d / "words10k_glove50.npy"))
    minilm = Embeddings(words, np.load(d / "words10k_minilm384.npy"))
    glove.save(tmp_path / "glove50.txt", format="glove")
    minilm.save(tmp_path / "minilm384.bin")
    np.save(tmp_path / "e5.npy", np.load(d / "words10k_e5small384_f16.npy"))  # float16
    (tmp_path / "e5.words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")

    out_json = tmp_path / "out.json"
    rc, out, _ = run(capsys, "compare", tmp_path / "glove50.txt", tmp_path / "minilm384.bin",
                     "-k", "1", "5", "10", "50", "--json", out_json, "--quiet")  # fmt: skip
    assert rc == 0
    summary = json.loads(out_json.read_text())
    assert summary["n"] == 10_000 and summary["metric"] == "cosine"
    assert summary["mnno"]["10"] == pytest.approx(0.22656, abs=1e-4)
    assert summary["chance"]["10"] == pytest.approx(10 / 9999)
    assert "0.22656" in out  # 5 decimals beside a chance level of 1e-4

    rc, _, _ = run(capsys, "compare", tmp_path / "minilm384.bin", tmp_path / "e5.npy",
                   "-k", "10", "--json", out_json, "--quiet")  # fmt: skip
    assert rc == 0
    assert json.loads(out_json.read_text())["mnno"]["10"] == pytest.approx(0.33301, abs=1e-4)


def test_compare_on_the_bundled_pair_matches_the_api(pair_files, tmp_path, capsys):
    visual_path, text_path = pair_files
    out_json, out_csv = tmp_path / "s.json", tmp_path / "w.csv"
    rc, out, err = run(capsys, "compare", visual_path, text_path, "-k", "1", "10",
                       "--json", out_json, "--csv", out_csv)  # fmt: skip
    assert rc == 0
    visual, text = imagenet_pair()
    expected = nno.mnno(visual.vectors, text.vectors, k=[1, 10])
    summary = json.loads(out_json.read_text())
    assert summary["mnno"] == {"1": expected[0], "10": expected[1]}
    assert summary["mnno"]["10"] == pytest.approx(0.197, abs=2e-3)  # the reference on float32
    assert summary["a"]["format"] == "word2vec-binary" and summary["b"]["format"] == "glove"
    assert len(summary["least"]) == 10 and len(summary["least"][0]["neighbors_a"]) == 10
    # The report: n, each k beside its chance level, words agreeing least and most.
    assert "aligned: 1,000 words in both" in out
    assert "0.001001" in out and "0.010010" in out
    assert "agree least" in out and "agree most" in out and "nearest in A" in out
    assert "read " in err  # notes go to stderr
    with open(out_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1000 and rows[0]["word"] == visual.words[0].replace(" ", "_")
    nno10 = np.array([int(r["nno_k10"]) for r in rows])
    np.testing.assert_array_equal(nno10, nno.nno(visual.vectors, text.vectors, k=10))


def test_compare_aligns_and_reports_what_was_dropped(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = Embeddings([f"w{i}" for i in range(40)], rng.normal(size=(40, 5)).astype(np.float32))
    keep = list(range(5, 40))
    b = Embeddings([f"w{i}" for i in keep] + ["extra"], rng.normal(size=(36, 7)).astype(np.float32))
    a.save(tmp_path / "a.txt", format="word2vec")
    b.save(tmp_path / "b.vec")
    out_json = tmp_path / "s.json"
    rc, out, _ = run(capsys, "compare", tmp_path / "a.txt", tmp_path / "b.vec", "-k", "3",
                     "--json", out_json, "-q")  # fmt: skip
    assert rc == 0
    assert "35 words in both" in out and "5 only in A, 1 only in B" in out
    s = json.loads(out_json.read_text())
    assert s["n"] == 35 and s["a"]["only_in_a"] == 5 and s["b"]["only_in_b"] == 1
    a2 = a.vectors[keep]
    assert s["mnno"]["3"] == nno.mnno(a2, b.vectors[:35], k=3)


def test_compare_limit_reads_the_first_rows(pair_files, tmp_path, capsys):
    out_json = tmp_path / "s.json"
    rc, _, _ = run(capsys, "compare", *pair_files, "--limit", "200", "-k", "5", "--json",
                   out_json, "-q")  # fmt: skip
    assert rc == 0
    visual, text = imagenet_pair()
    s = json.loads(out_json.read_text())
    assert s["n"] == 200
    assert s["mnno"]["5"] == nno.mnno(visual.vectors[:200], text.vectors[:200], k=5)


def test_plots_and_the_data_behind_them(pair_files, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib not installed (nnoverlap[plot])")
    rc, _, _ = run(capsys, "compare", *pair_files, "--plot", tmp_path / "plots", "-q")
    assert rc == 0
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    stems = ("mnno_vs_k", "overlap_histogram", "overlap_vs_rank")
    assert names == sorted(f"{s}.{ext}" for s in stems for ext in ("csv", "png"))
    for s in stems:
        assert (tmp_path / "plots" / f"{s}.png").read_bytes()[:4] == b"\x89PNG"
    with open(tmp_path / "plots" / "mnno_vs_k.csv", newline="") as f:
        curve = {int(r["k"]): float(r["mnno"]) for r in csv.DictReader(f)}
    assert len(curve) == 50
    visual, text = imagenet_pair()
    assert curve[10] == pytest.approx(nno.mnno(visual.vectors, text.vectors, k=10))
    with open(tmp_path / "plots" / "overlap_histogram.csv", newline="") as f:
        hist = list(csv.DictReader(f))
    assert sum(int(r["words"]) for r in hist) == 1000 and len(hist) == 11


def test_mnno_curve_matches_every_k():
    visual, text = imagenet_pair()
    ia = nno.knn(visual.vectors, 20).indices
    ib = nno.knn(text.vectors, 20).indices
    curve = mnno_curve(ia, ib, block=64)
    expected = nno.mnno(visual.vectors, text.vectors, k=list(range(1, 21)))
    np.testing.assert_allclose(curve, expected, rtol=0, atol=1e-12)


def test_compare_function_needs_shared_words():
    a = Embeddings(["a", "b", "c"], np.eye(3))
    b = Embeddings(["a", "x", "y"], np.eye(3))
    with pytest.raises(ValueError, match="share only 1 words"):
        compare(a, b, k=[1])


# --- neighbors and demo ----------------------------------------------------------------------


def test_neighbors(pair_files, capsys):
    rc, out, _ = run(capsys, "neighbors", pair_files[1], "tabby", "-k", "3", "-q")
    assert rc == 0
    lines = out.strip().splitlines()
    assert "nearest neighbours of 'tabby'" in lines[0]
    assert len(lines) == 2 + 3 and "tabby" not in "".join(lines[2:])
    visual, text = imagenet_pair()
    i = text.index("tabby")
    top = nno.knn(text.vectors, 3).indices[i]
    assert [ln.split()[1] for ln in lines[2:]] == [text.words[j].replace(" ", "_") for j in top]


def test_neighbors_of_an_unknown_word(pair_files, capsys):
    rc, _, err = run(capsys, "neighbors", pair_files[1], "Tabby", "-q")
    assert rc == 2 and "'Tabby' is not among the 1,000 words" in err and "'tabby'" in err


def test_demo(capsys):
    rc, out, _ = run(capsys, "demo", "-q")
    assert rc == 0
    assert "ImageNet" in out and "What the numbers mean" in out
    assert "0.197" in out


# --- bad input: exit status 2, message on stderr ---------------------------------------------


def test_malformed_file_exits_2_naming_the_line(pair_files, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("cat 1 2\ndog 1 2\nemu 1\n")
    rc, out, err = run(capsys, "compare", bad, pair_files[1], "-q")
    assert rc == 2 and out == ""
    assert f"nnoverlap: error: {bad}, line 3: expected a word and 2 values" in err


def test_missing_file_exits_2(tmp_path, capsys):
    rc, _, err = run(capsys, "compare", tmp_path / "nope.txt", tmp_path / "nope2.txt", "-q")
    assert rc == 2 and "nope.txt" in err


def test_k_too_large_exits_2(tmp_path, capsys):
    Embeddings(["a", "b", "c"], np.eye(3, dtype=np.float32)).save(tmp_path / "a.bin")
    rc, _, err = run(capsys, "compare", tmp_path / "a.bin", tmp_path / "a.bin", "-k", "5", "-q")
    assert rc == 2 and "share only 3 words" in err and "-k 5 needs at least 6" in err


def test_zero_vector_under_cosine_exits_2_naming_the_word(tmp_path, capsys):
    v = np.eye(4, dtype=np.float32)
    v[2] = 0
    Embeddings(["a", "b", "zero", "d"], v).save(tmp_path / "z.bin")
    rc, _, err = run(capsys, "compare", tmp_path / "z.bin", tmp_path / "z.bin", "-k", "1", "-q")
    assert rc == 2 and "'zero'" in err and "all-zero vector" in err and "--drop-zero" in err
    rc, _, _ = run(capsys, "compare", tmp_path / "z.bin", tmp_path / "z.bin", "-k", "1",
                   "--metric", "l2", "-q")  # fmt: skip
    assert rc == 0


def test_bad_usage_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["compare", "a.txt", "b.txt", "-k", "0"])
    assert info.value.code == 2
    assert "expected an integer >= 1" in capsys.readouterr().err


def test_python_dash_m_exit_status(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2\ncat 1 2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "nnoverlap", "compare", str(bad), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "line 1: the header announces 2 rows" in proc.stderr


# --- progress bars -------------------------------------------------------------------------


def test_no_progress_output_when_not_a_terminal(pair_files, capsys):
    rc, _, err = run(capsys, "compare", *pair_files, "-k", "5")
    assert rc == 0 and "\r" not in err


def test_progress_bar_plain_fallback(monkeypatch):
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    stream = io.StringIO()
    with _progress.Bar("k-NN of A", True, stream=stream) as bar:
        bar(5, 10)
        bar(10, 10)
    text = stream.getvalue()
    assert "\rk-NN of A:  50%" in text and "\rk-NN of A: 100%" in text
    quiet = io.StringIO()
    with _progress.Bar("x", False, stream=quiet) as bar:
        bar(1, 2)
    assert quiet.getvalue() == ""
    assert not _progress.wanted(False, io.StringIO())  # not a terminal
