"""`nnoverlap compare --measures ... --null P`: the measures' values in the report, JSON and CSV
equal the Python functions' on the same data (the bundled ImageNet-1k pair), usage errors exit
2 before anything is loaded, p-values lie in (0, 1] and the seed reproduces the null."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap import Embeddings
from nnoverlap._commands import imagenet_pair
from nnoverlap.cli import main

MEASURES = "mnno,jaccard,trustworthiness,cknna"


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """The ImageNet-1k pair as .npy files (float32, exact) and the arrays they hold."""
    d = tmp_path_factory.mktemp("pair")
    visual, text = imagenet_pair()
    a = np.asarray(visual.vectors, dtype=np.float32)
    b = np.asarray(text.vectors, dtype=np.float32)
    words = [w.replace(" ", "_") for w in visual.words]
    Embeddings(words, a).save(d / "visual.npy")
    Embeddings(words, b).save(d / "text.npy")
    return d / "visual.npy", d / "text.npy", a, b


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = main([str(x) for x in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def outputs(pair, tmp_path_factory) -> dict:
    """One run with --measures and --null 50: report text, JSON and CSV rows."""
    d = tmp_path_factory.mktemp("out")
    a, b = pair[0], pair[1]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(
            ["compare", str(a), str(b), "-k", "1", "10", "--measures", MEASURES]
            + ["--null", "50", "--seed", "3", "-q"]
            + ["--json", str(d / "s.json"), "--csv", str(d / "w.csv")]
        )
    assert rc == 0
    with open(d / "w.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {
        "text": buf.getvalue(),
        "json": json.loads((d / "s.json").read_text(encoding="utf-8")),
        "csv": rows,
    }


def test_json_values_equal_the_python_functions(pair, outputs):
    _, _, a, b = pair
    got = outputs["json"]["measures"]["results"]
    assert set(got) == set(MEASURES.split(","))
    for k in (1, 10):
        assert got["mnno"][str(k)]["value"] == pytest.approx(outputs["json"]["mnno"][str(k)])
        assert got["mnno"][str(k)]["value"] == pytest.approx(nno.mnno(a, b, k=k), abs=1e-12)
        assert got["mnno"][str(k)]["chance"] == pytest.approx(k / 999)
        assert got["jaccard"][str(k)]["value"] == pytest.approx(nno.jaccard(a, b, k=k), abs=1e-12)
        tw = nno.trustworthiness(a, b, k)
        assert got["trustworthiness"][str(k)]["value"] == pytest.approx(float(tw), abs=1e-9)
        assert got["jaccard"][str(k)]["chance"] is None
    assert got["cknna"]["10"]["value"] == pytest.approx(nno.cknna(a, b, k=10), abs=1e-9)


def test_cknna_at_k_1_is_undefined_not_a_number(outputs):
    # nnoverlap.cknna refuses k < 2; the CLI says so instead of printing a value
    entry = outputs["json"]["measures"]["results"]["cknna"]["1"]
    assert entry == {"value": None, "undefined": "cknna needs k >= 2 (platonic-rep's condition)"}
    line = next(ln for ln in outputs["text"].splitlines() if ln.split()[:2] == ["cknna", "1"])
    assert "undefined: cknna needs k >= 2" in line


def test_json_null_fields_and_p_values(outputs):
    m = outputs["json"]["measures"]
    assert m["permutations"] == 50 and m["seed"] == 3
    for name, k in [("mnno", "1"), ("mnno", "10"), ("jaccard", "1"), ("jaccard", "10"),
                    ("cknna", "10")]:  # fmt: skip
        r = m["results"][name][k]
        assert 0 < r["p"] <= 1
        assert r["permutations"] == 50
        assert 0 <= r["calibrated"] <= 1
    # mNNO of two real models is far above chance: the smallest p a null of 50 can give
    assert m["results"]["mnno"]["10"]["p"] == pytest.approx(1 / 51)
    tw = m["results"]["trustworthiness"]["10"]
    assert tw["p"] is None and "no cheap null" in tw["null"]


def test_null_matches_permutation_test(pair, outputs):
    _, _, a, b = pair
    r = nno.permutation_test(a, b, k=10, measure="jaccard", permutations=50, seed=3)
    got = outputs["json"]["measures"]["results"]["jaccard"]["10"]
    assert got["p"] == pytest.approx(r.p)
    assert got["null_mean"] == pytest.approx(r.null_mean, abs=1e-12)
    assert got["tau"] == pytest.approx(r.tau, abs=1e-12)
    assert got["calibrated"] == pytest.approx(r.calibrated, abs=1e-12)


def test_csv_has_per_word_values_of_the_per_item_measures(pair, outputs):
    _, _, a, b = pair
    rows = outputs["csv"]
    assert len(rows) == 1000
    header = list(rows[0])
    assert header[:5] == ["word", "rank_a", "rank_b", "nno_k1", "nno_k10"]
    assert {"mnno_k1", "mnno_k10", "jaccard_k10", "trustworthiness_k10"} <= set(header)
    assert not any(h.startswith("cknna") for h in header)  # no per-item values
    for r in rows:
        assert float(r["mnno_k10"]) == pytest.approx(int(r["nno_k10"]) / 10)
    ref = nno.measure(a, b, k=[10], measures=["jaccard", "trustworthiness"])
    got_j = np.array([float(r["jaccard_k10"]) for r in rows])
    got_t = np.array([float(r["trustworthiness_k10"]) for r in rows])
    np.testing.assert_allclose(got_j, ref["jaccard", 10].per_item, atol=1e-12)
    np.testing.assert_allclose(got_t, ref["trustworthiness", 10].per_item, atol=1e-12)


def test_report_table_lists_every_measure_and_k(outputs):
    text = outputs["text"]
    assert "Measures (measures.md; n = 1,000; permutation null: P = 50, seed 3)" in text
    lines = text.splitlines()
    for name in MEASURES.split(","):
        for k in (1, 10):
            assert any(ln.split()[:2] == [name, str(k)] for ln in lines), (name, k)
    rows = [tuple(ln.split()[:2]) for ln in lines]
    assert rows.index(("cknna", "1")) + 1 == rows.index(("cknna", "10"))  # in the asked order
    tw = next(ln for ln in lines if ln.split()[:2] == ["trustworthiness", "10"])
    assert "no cheap null" in tw
    mn = next(ln for ln in lines if ln.split()[:2] == ["mnno", "10"]).split()
    v = outputs["json"]["measures"]["results"]["mnno"]["10"]
    assert float(mn[2]) == pytest.approx(v["value"], abs=1e-4)
    assert float(mn[3]) == pytest.approx(10 / 999, abs=1e-4)
    assert float(mn[6]) == pytest.approx(v["p"], rel=1e-3)


def test_seed_reproduces_the_null_and_another_seed_changes_it(pair, tmp_path, capsys):
    a, b = pair[0], pair[1]

    def null_of(seed: int, name: str) -> dict:
        out = tmp_path / name
        rc, _, _ = run(
            capsys, "compare", a, b, "-k", "5", "--measures", "jaccard", "--null", "30",
            "--seed", seed, "-q", "--json", out,
        )  # fmt: skip
        assert rc == 0
        return json.loads(out.read_text(encoding="utf-8"))["measures"]["results"]["jaccard"]["5"]

    first, again, other = null_of(7, "a.json"), null_of(7, "b.json"), null_of(8, "c.json")
    assert first == again
    assert first["null_mean"] != other["null_mean"]


def test_without_measures_the_outputs_have_no_measures(pair, tmp_path, capsys):
    a, b = pair[0], pair[1]
    rc, out, _ = run(capsys, "compare", a, b, "-k", "10", "-q", "--json", tmp_path / "s.json",
                     "--csv", tmp_path / "w.csv")  # fmt: skip
    assert rc == 0 and "Measures" not in out
    assert "measures" not in json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    header = (tmp_path / "w.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "word,rank_a,rank_b,nno_k10"


def test_demo_takes_measures(capsys):
    rc, out, _ = run(capsys, "demo", "-q", "-k", "10", "--measures", "mnno,linear_cka")
    assert rc == 0
    lines = out.splitlines()
    assert any(ln.split()[:2] == ["linear_cka", "all"] for ln in lines)


# --- usage errors: exit 2, before anything is loaded -----------------------------------------


def test_unknown_measure_is_a_usage_error_listing_the_valid_names(tmp_path, capsys):
    missing = tmp_path / "nothing.npy"  # never read: the measure is checked first
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(missing), str(missing), "--measures", "mnno,overlapz"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown measure 'overlapz'" in err
    assert "nothing.npy" not in err
    for name in ("mnno", "jaccard", "trustworthiness", "cknna", "linear_cka"):
        assert name in err


def test_empty_measures_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "a.npy", "b.npy", "--measures", ","])
    assert exc.value.code == 2
    assert "expected one or more of mnno" in capsys.readouterr().err


def test_null_without_measures_is_a_usage_error(tmp_path, capsys):
    missing = tmp_path / "nothing.npy"
    rc, _, err = run(capsys, "compare", missing, missing, "--null", "20")
    assert rc == 2 and "--null needs --measures" in err


def test_cknna_with_another_metric_is_a_usage_error(tmp_path, capsys):
    missing = tmp_path / "nothing.npy"
    rc, _, err = run(capsys, "compare", missing, missing, "--measures", "cknna", "--metric", "l2")
    assert rc == 2 and "cknna" in err and "--metric cosine" in err
    assert "no such file" not in err


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_null_must_be_a_positive_count(bad, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "a.npy", "b.npy", "--measures", "mnno", "--null", bad])
    assert exc.value.code == 2


def test_measures_reuse_the_reports_neighbour_lists(pair, monkeypatch, capsys):
    # one k-NN search per side, whichever measures are asked (trustworthiness needs ranks
    # beyond k: a rank-count pass over the vectors, not a second neighbour search)
    from nnoverlap import _api

    calls = []
    real = _api.knn

    def counting(*args, **kwargs):
        calls.append(kwargs.get("k", args[1] if len(args) > 1 else None))
        return real(*args, **kwargs)

    monkeypatch.setattr(_api, "knn", counting)
    rc, out, _ = run(
        capsys, "compare", pair[0], pair[1], "-k", "5", "10", "-q", "--show", "0",
        "--measures", MEASURES, "--null", "5",
    )  # fmt: skip
    assert rc == 0 and "trustworthiness" in out
    assert calls == [10, 10]


def test_l2_values_equal_the_python_functions_on_small_files(tmp_path, capsys):
    rng = np.random.default_rng(5)
    a = rng.normal(size=(80, 6)).astype(np.float32)
    b = (a + 0.7 * rng.normal(size=a.shape)).astype(np.float32)
    words = [f"w{i}" for i in range(80)]
    Embeddings(words, a).save(tmp_path / "a.npy")
    Embeddings(words, b).save(tmp_path / "b.npy")
    names = "mnno,jaccard,rank_similarity,lcmc,continuity,second_order_cosine"
    rc, _, err = run(
        capsys, "compare", tmp_path / "a.npy", tmp_path / "b.npy", "-k", "3", "7",
        "--metric", "l2", "--measures", names, "-q", "--json", tmp_path / "s.json",
    )  # fmt: skip
    assert rc == 0, err
    got = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))["measures"]["results"]
    ref = nno.measure(a, b, k=[3, 7], measures=names.split(","), metric="l2")
    for r in ref:
        assert got[r.measure][str(r.k)]["value"] == pytest.approx(r.value, abs=1e-12)
    assert got["lcmc"]["7"]["value"] == pytest.approx(nno.lcmc(a, b, k=7, metric="l2"), abs=1e-12)
    assert got["lcmc"]["7"]["chance"] == 0.0


def _strict_json(text: str) -> object:
    def refuse(word: str) -> object:
        raise AssertionError(f"{word} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_writes_an_undefined_value_as_null_not_nan(pair, tmp_path, monkeypatch, capsys):
    # An unbiased HSIC can come out negative, and then CKNNA's square root is NaN; Python's
    # json would write the bare word NaN, which no strict JSON reader accepts.
    from nnoverlap.measures import catalog

    monkeypatch.setattr(catalog, "cknna_value", lambda *a, **kw: float("nan"))
    out = tmp_path / "s.json"
    rc = main(
        ["compare", str(pair[0]), str(pair[1]), "-k", "5", "--measures", "mnno,cknna", "-q"]
        + ["--json", str(out)]
    )
    assert rc == 0
    doc = _strict_json(out.read_text(encoding="utf-8"))
    assert doc["measures"]["results"]["cknna"]["5"]["value"] is None
    assert doc["measures"]["results"]["mnno"]["5"]["value"] == nno.mnno(pair[2], pair[3], k=5)


def test_matrix_json_is_strict_json(pair, tmp_path, monkeypatch, capsys):
    from nnoverlap.measures import catalog, many

    # the per-pair path (not the batched core call), with cknna made NaN
    monkeypatch.setattr(many, "_BATCHED", frozenset())
    monkeypatch.setattr(catalog, "cknna_value", lambda *a, **kw: float("nan"))
    out = tmp_path / "m.json"
    rc, _, _ = run(
        capsys, "matrix", pair[0], pair[1], "-k", "5", "--measures", "mnno,cknna", "--json", out
    )
    assert rc == 0
    doc = _strict_json(out.read_text(encoding="utf-8"))
    assert doc["cknna"]["values"][0][1] is None
