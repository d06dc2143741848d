"""The measures of ``nnoverlap.measures`` in the paper's tables, the ``--design`` option of
``nnoverlap reproduce`` and reading a run's ``results.json`` back.

The oracle of every measure is the public core API (``nnoverlap.jaccard``, ``trustworthiness``,
``cknna``, ``linear_cka``) called on the same rows, independently of the runner.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap.datasets import imagenet1k
from nnoverlap.paper import PairedSet, Report, ReproduceConfig, findings, reproduce
from nnoverlap.paper.cli import DESIGN_VALUES, _config, add_reproduce_parser
from nnoverlap.paper.experiments import DEFAULT_SETTINGS
from nnoverlap.paper.protocols import NeighbourCache, make_design, measure_units
from nnoverlap.paper.report import load_report


@pytest.fixture(scope="module")
def pair() -> PairedSet:
    data = imagenet1k()
    return PairedSet("imagenet1k", "visual", "minilm", data.visual[:160], data.minilm[:160])


@pytest.fixture(scope="module")
def report(pair: PairedSet) -> Report:
    cfg = ReproduceConfig.quick(
        protocols=("per-fold", "pooled"),
        ks=(1, 5, 10),
        curve_ks=(2, 20),
        settings=("linear-mse", "mlp1-mse"),
        depths=(),
        depth=False,
    )
    return reproduce([pair], cfg)


KS = [1, 2, 5, 10, 40]


def test_measure_units_extras_equal_the_core_on_each_unit(pair: PairedSet) -> None:
    design = make_design(pair.n, "per-fold", folds=2, test_size=0.2, seed=0)
    rng = np.random.default_rng(0)
    preds = [pair.Y[u] + 0.05 * rng.standard_normal(pair.Y[u].shape) for u in design.units]
    cache = NeighbourCache("cosine", False, None)
    m = measure_units("per-fold", design.units, preds, pair.X, pair.Y, ("x", "y"), KS, cache)
    sizes = np.array([u.size for u in design.units], dtype=float)
    for j, k in enumerate(KS):
        for key, (first, second) in {
            "fx_x": (lambda u, P: pair.X[u], lambda u, P: P),
            "fx_y": (lambda u, P: pair.Y[u], lambda u, P: P),
            "x_y": (lambda u, P: pair.Y[u], lambda u, P: pair.X[u]),
        }.items():
            jac = [nno.jaccard(first(u, P), second(u, P), k=k) for u, P in zip(design.units, preds)]
            assert m.extras[f"jaccard_{key}"][j] == pytest.approx(
                float(np.dot(jac, sizes) / sizes.sum()), abs=1e-12
            )
            if k < 80 / 2:
                tr = [
                    nno.trustworthiness(first(u, P), second(u, P), k=k)
                    for u, P in zip(design.units, preds)
                ]
                expected = float(np.dot(tr, sizes) / sizes.sum())
                assert m.extras[f"trustworthiness_{key}"][j] == pytest.approx(expected, abs=1e-12)
            else:
                assert math.isnan(m.extras[f"trustworthiness_{key}"][j])
            if k >= 2:
                ck = [
                    nno.cknna(first(u, P), second(u, P), k=k) for u, P in zip(design.units, preds)
                ]
                expected = float(np.dot(ck, sizes) / sizes.sum())
                assert m.extras[f"cknna_{key}"][j] == pytest.approx(expected, abs=1e-9)
            else:
                assert math.isnan(m.extras[f"cknna_{key}"][j])


def test_neighbour_lists_are_searched_once_per_set_and_unit(pair: PairedSet, monkeypatch) -> None:
    from nnoverlap import _api
    from nnoverlap.paper import protocols

    calls: list[int] = []
    real = _api.knn

    def counting(*args: Any, **kw: Any) -> Any:
        if kw.get("base") is None:
            calls.append(np.asarray(args[0]).shape[0])
        return real(*args, **kw)

    monkeypatch.setattr(protocols._api, "knn", counting)
    design = make_design(pair.n, "per-fold", folds=2, test_size=0.2, seed=0)
    preds = [pair.Y[u] * 1.0 for u in design.units]
    cache = NeighbourCache("cosine", False, None)
    measure_units("per-fold", design.units, preds, pair.X, pair.Y, ("x", "y"), KS, cache)
    # X and Y once per unit, each unit's predictions once: the measures add no search.
    assert len(calls) == 3 * len(design.units)
    measure_units("per-fold", design.units, preds, pair.X, pair.Y, ("x", "y"), KS, cache)
    assert len(calls) == 4 * len(design.units)


def test_rows_carry_the_measures_and_cka_from_the_core(report: Report, pair: PairedSet) -> None:
    rows = [r for r in report.rows if r.protocol == "pooled" and r.variant == "main"]
    assert rows
    for r in rows:
        for name in ("jaccard", "trustworthiness", "cknna"):
            for c in ("fx_x", "fx_y", "x_y"):
                assert len(r.extras[f"{name}_{c}"]) == len(r.ks)
        assert r.jaccard_fx_y == r.extras["jaccard_fx_y"]
        # Pooled: one unit of all items; X,Y measures are those of the core on all rows.
        i = r.ks.index(10)
        X, Y = (pair.X, pair.Y) if r.direction == "visual→minilm" else (pair.Y, pair.X)
        assert r.extras["jaccard_x_y"][i] == pytest.approx(nno.jaccard(Y, X, k=10), abs=1e-12)
        assert r.extras["trustworthiness_x_y"][i] == pytest.approx(
            nno.trustworthiness(Y, X, k=10), abs=1e-12
        )
        assert r.cka_x_y == pytest.approx(nno.linear_cka(X, Y), rel=1e-12)


def test_findings_count_each_measure(report: Report) -> None:
    for f in findings(report.rows, report.config):
        sel = [
            r
            for r in report.rows
            if r.protocol == f["protocol"] and r.variant in ("main", "in-sample") and r.seed == 0
        ]
        i = sel[0].ks.index(f["k"])
        for name, b in f["by_measure"].items():
            if name == "linear_cka":
                trip = [(r.cka_fx_x, r.cka_fx_y, r.cka_x_y) for r in sel]
            else:
                trip = [
                    tuple(r.extras[f"{name}_{c}"][i] for c in ("fx_x", "fx_y", "x_y")) for r in sel
                ]
            assert b["settings"] == len(trip)
            assert b["keeps_input"] == sum(a > bb for a, bb, _ in trip)
            assert b["above_xy"] == sum(bb > c for _, bb, c in trip)
        if f["k"] == 1:
            assert "cknna" not in f["by_measure"]  # undefined at k = 1


def test_markdown_has_the_measure_tables_and_their_k_curve(report: Report) -> None:
    md = report.to_markdown()
    assert "### The same claims in the other measures" in md
    assert "### The measures beside mNNO, protocol per-fold, k = 10" in md
    assert "### The measures beside mNNO, protocol pooled, k = 10" in md
    assert "### The k-curve in the other measures (protocol per-fold)" in md
    header = next(line for line in md.splitlines() if line.startswith("| protocol | k | mNNO |"))
    assert header.split("|")[3:8] == [
        " mNNO ",
        " Jaccard ",
        " trustworthiness ",
        " CKNNA ",
        " linear CKA ",
    ]


def test_results_json_reads_back_to_the_same_report(report: Report, tmp_path) -> None:
    report.write(tmp_path, plots=False)
    back = load_report(tmp_path / "results.json")
    assert back.to_markdown() == report.to_markdown()
    assert back.to_json() == report.to_json()


def test_load_report_names_a_bad_file(tmp_path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text('{"settings": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="results.json: not a results.json"):
        load_report(bad)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_reproduce_parser(parser.add_subparsers())
    return parser.parse_args(["reproduce", *argv])


def test_design_default_is_the_small_complete_run() -> None:
    cfg = _config(_parse())
    assert cfg.protocols == ("per-fold",)
    assert cfg.settings == ("linear-mse", "mlp1-mse") == cfg.controls
    assert cfg.depths == ()
    assert cfg.seeds == (0, 1, 2) and cfg.bootstrap == 1000 and cfg.permutations == 200


def test_design_full_and_explicit_options() -> None:
    cfg = _config(_parse("--design", "full"))
    assert cfg.protocols == ("per-fold", "split", "pooled")
    assert cfg.settings == DEFAULT_SETTINGS and cfg.depths == (0, 1, 2, 3, 4, 5)
    # Options given explicitly win over the design's.
    cfg = _config(_parse("--design", "full", "--maps", "linear-cosine", "--depths", "2"))
    assert cfg.settings == ("linear-cosine",) and cfg.depths == (2,)
    assert cfg.protocols == DESIGN_VALUES["full"]["protocols"]
    cfg = _config(_parse("--maps", "mlp2-ranking"))
    assert cfg.settings == ("mlp2-ranking",) and cfg.depths == ()
    # --quick is --design quick.
    assert _config(_parse("--quick")) == _config(_parse("--design", "quick"))
    assert _config(_parse("--quick")).folds == 2


def test_in_sample_linear_cka_is_of_the_in_sample_items(report: Report, pair: PairedSet) -> None:
    # Regression: the in-sample control's CKA was that of the held-out predictions.
    cfg = report.config
    design = make_design(pair.n, "per-fold", folds=cfg.folds, test_size=cfg.test_size, seed=0)
    rng = np.random.default_rng([0, 2])
    rows = np.concatenate(
        [
            np.sort(rng.choice(tr, size=min(te.size, tr.size), replace=False))
            for tr, te in design.folds
        ]
    )
    ins = [r for r in report.rows if r.protocol == "in-sample" and r.direction == "visual→minilm"]
    held = [r for r in report.rows if r.protocol == "per-fold" and r.direction == "visual→minilm"]
    assert ins and held
    for r in ins:
        assert r.cka_x_y == pytest.approx(nno.linear_cka(pair.X[rows], pair.Y[rows]), rel=1e-12)
    assert ins[0].cka_x_y != held[0].cka_x_y
    # The report leaves the in-sample CKA out of its counts.
    f = next(f for f in findings(report.rows, cfg) if f["protocol"] == "in-sample")
    assert "linear_cka" not in f["by_measure"]


def test_k_curve_of_the_measures_is_drawn(report: Report, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    names = {p.name for p in report.write(tmp_path)}
    assert {"k_curve.png", "k_curve_measures.png"} <= names
    assert (tmp_path / "k_curve_measures.png").stat().st_size > 1000


def test_an_explicit_value_equal_to_another_designs_is_kept() -> None:
    # Regression: "--depths 0 1 2 3 4 5" (the full design's value) was taken for "not given"
    # and replaced by the default design's none.
    cfg = _config(_parse("--depths", "0", "1", "2", "3", "4", "5"))
    assert cfg.depths == (0, 1, 2, 3, 4, 5)
    cfg = _config(_parse("--design", "full", "--protocol", "per-fold"))
    assert cfg.protocols == ("per-fold",)
    assert _config(_parse("--depths")).depths == ()
    assert _config(_parse("--quick")).settings == DEFAULT_SETTINGS
    assert _config(_parse("--quick")).depths == (0, 2)
