"""Tests of the paper-reproduction runner ``nnoverlap.experiments`` and ``nnoverlap reproduce``.

Runs on small real subsets of the bundled ImageNet-1k pair (2 folds, few epochs, small nets),
so the whole file takes seconds, not minutes.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap.cli import main
from nnoverlap.datasets import imagenet1k
from nnoverlap.experiments import (
    PairedSet,
    Report,
    ReproduceConfig,
    _mnno_lists,
    _neighbours,
    _splits,
    auto_epochs,
    imagenet1k_pairs,
    load_pair_files,
    plot_mnno_scatter,
    reproduce,
    run_depths,
    run_mappings,
)
from nnoverlap.mapping import MLPMap

COLUMNS = (
    "mNNO(f(X),X)",
    "mNNO(f(X),Y)",
    "mNNO(X,Y)",
    "recall@1",
    "recall@10",
    "MSE",
    "R²",
)


@pytest.fixture(scope="module")
def small_pair() -> PairedSet:
    """200 real ImageNet classes: visual (1280-d) vs MiniLM (384-d)."""
    data = imagenet1k()
    return PairedSet("imagenet1k", "visual", "minilm", data.visual[:200], data.minilm[:200])


def _small_cfg(**kw: Any) -> ReproduceConfig:
    """Tiny settings for a run of a few seconds; ``kw`` overrides any of them."""
    base = ReproduceConfig(
        ks=(1, 5, 10),
        folds=2,
        epochs=2,
        hidden=32,
        depths=(1, 2),
        depth_width=300,
        depth_activations=("relu", "tanh"),
        depth_seeds=2,
        quiet=True,
    )
    return replace(base, **kw)


# Fitted losses, MSE and R^2 may differ in the last bits between runs (BLAS kernels can sum in
# another order depending on memory alignment); every neighbour-based number is exact.
_FLOAT_STATS = ("mse", "r2", "train_loss")


def _numbers(d: dict) -> dict:
    """A report's dict without the timings and the float statistics named above."""
    d = json.loads(json.dumps(d))
    d.pop("seconds")
    for r in d["experiment1"] + d["experiment2"]:
        r.pop("seconds")
        for key in _FLOAT_STATS:
            r.pop(key, None)
    return d


def _stats(d: dict) -> list[float]:
    return [
        float(v)
        for r in d["experiment1"]
        for key in _FLOAT_STATS
        for v in np.ravel(np.asarray(r[key], dtype=float))
    ]


@pytest.fixture(scope="module")
def small_report(small_pair: PairedSet) -> Report:
    return reproduce([small_pair], _small_cfg())


def test_runner_produces_every_column(small_report: Report) -> None:
    rows = small_report.mappings
    settings = {(r.direction, r.model, r.loss) for r in rows}
    assert len(rows) == len(settings) == 2 * 6  # 2 directions x (3 linear + 3 MLP losses)
    assert {r.direction for r in rows} == {"visual→minilm", "minilm→visual"}
    for r in rows:
        assert r.ok and r.n == 200 and r.ks == [1, 5, 10]
        for values in (r.mnno_fx_x, r.mnno_fx_y, r.mnno_x_y):
            assert len(values) == 3 and all(0.0 <= v <= 1.0 for v in values)
        assert 0.0 <= r.recall_at_1 <= r.recall_at_10 <= 1.0
        assert math.isfinite(r.mse) and r.mse >= 0 and math.isfinite(r.r2)
        assert r.chance == [nno.chance(200, k) for k in (1, 5, 10)]
    # mNNO(X, Y) is the plain measure on the evaluated items.
    r0 = rows[0]
    data = imagenet1k()
    assert r0.mnno_x_y == pytest.approx(
        np.asarray(nno.mnno(data.visual[:200], data.minilm[:200], k=[1, 5, 10])).tolist()
    )
    md = small_report.to_markdown()
    for col in COLUMNS:
        assert col in md
    assert "Experiment 2" in md and "depth 2" in md
    d = small_report.to_dict()
    assert len(d["experiment1"]) == 12
    # untrained: 2 sets x 2 activations x 2 depths; trained: 2 depths
    assert len(d["experiment2"]) == 2 * 2 * 2 + 2
    assert d["settings"]["folds"] == 2 and d["settings"]["include_self"] is False


def test_seeded_reruns_are_identical(small_pair: PairedSet, small_report: Report) -> None:
    again = reproduce([small_pair], _small_cfg())
    assert _numbers(again.to_dict()) == _numbers(small_report.to_dict())
    assert _stats(again.to_dict()) == pytest.approx(_stats(small_report.to_dict()), rel=1e-9)
    other = reproduce([small_pair], _small_cfg(seed=1, depth=False))
    assert [r.mnno_fx_x for r in other.mappings] != [r.mnno_fx_x for r in small_report.mappings]


def test_linear_map_recovers_an_exact_linear_relation() -> None:
    data = imagenet1k()
    X = data.glove[data.glove_rows][:300].astype(np.float64)  # 50-d, real
    W = np.random.default_rng(0).standard_normal((50, 40))
    pair = PairedSet("exact", "glove", "glove_W", X, X @ W)
    cfg = ReproduceConfig(
        ks=(10,), folds=3, models=("linear",), losses=("mse",), ridge=1e-9, quiet=True
    )
    res = {r.direction: r for r in run_mappings(pair, cfg)}
    fwd = res["glove→glove_W"]
    assert fwd.mnno_fx_y[0] > 0.99
    assert fwd.recall_at_1 == 1.0 and fwd.r2 > 0.999999
    # f(X) has Y's neighbourhoods, so its overlap with X is X's with Y.
    assert fwd.mnno_fx_x[0] == pytest.approx(fwd.mnno_x_y[0], abs=0.01)


def test_identity_net_keeps_every_neighbourhood(small_pair: PairedSet) -> None:
    cfg = _small_cfg(ks=(1, 10))
    X = small_pair.Y  # MiniLM, 384-d
    net = MLPMap(hidden=(384, 384), activation="none", init="identity").init_params(384, 384)
    ix = _neighbours(X, 10, cfg)
    assert _mnno_lists(_neighbours(net.predict(X), 10, cfg), ix, [1, 10]) == [1.0, 1.0]
    # A positive rescaling (relu of a positive identity map) changes nothing either.
    relu = MLPMap(hidden=(384,), activation="relu", init="identity").init_params(384, 384)
    Xp = X - X.min() + 0.1
    ip = _neighbours(Xp, 10, cfg)
    # (predict returns float64: compare in one precision, float32 near-ties may order apart)
    out = relu.predict(Xp).astype(Xp.dtype)
    assert _mnno_lists(_neighbours(out, 10, cfg), ip, [10]) == [1.0]


def test_untrained_nets_keep_much_of_the_input_structure(small_report: Report) -> None:
    untrained = [p for p in small_report.depths if p.kind == "untrained"]
    for p in untrained:
        assert len(p.mnno_fx_x) == 2 and len(p.std) == 3
        i = p.ks.index(10)
        # far above chance (10 / 199 = 0.05): random nets keep much of the neighbourhoods
        assert p.mean[i] > 3 * nno.chance(200, 10)
    trained = [p for p in small_report.depths if p.kind == "trained"]
    assert [p.depth for p in trained] == [1, 2]
    for p in trained:
        assert p.mnno_fx_y is not None and p.mnno_x_y is not None


def test_include_self_counts_self_as_first_neighbour(small_pair: PairedSet) -> None:
    kw = dict(models=("linear",), losses=("mse",), depth=False)
    no_self = run_mappings(small_pair, _small_cfg(ks=(4,), **kw))[0]
    with_self = run_mappings(small_pair, _small_cfg(ks=(5,), include_self=True, **kw))[0]
    # NN_self^5(i) = {i} + NN^4(i): 5 mNNO_self^5 = 1 + 4 mNNO^4, for every pair of sets.
    for a, b in (
        (with_self.mnno_x_y, no_self.mnno_x_y),
        (with_self.mnno_fx_x, no_self.mnno_fx_x),
        (with_self.mnno_fx_y, no_self.mnno_fx_y),
    ):
        assert 5 * a[0] == pytest.approx(1 + 4 * b[0])
    assert with_self.recall_at_10 == no_self.recall_at_10


def test_splits_partition_the_items() -> None:
    splits, evaluated = _splits(103, 4, None, seed=3, what="t")
    tests = np.concatenate([te for _, te in splits])
    assert sorted(tests.tolist()) == list(range(103)) and evaluated.tolist() == list(range(103))
    for train, test in splits:
        assert np.intersect1d(train, test).size == 0 and train.size + test.size == 103
    one, ev = _splits(100, 10, 0.25, seed=3, what="t")
    assert len(one) == 1 and ev.size == 25 and one[0][0].size == 75
    assert auto_epochs(800, 64) == 16 and auto_epochs(8000, 64) == 2


def test_train_test_split_measures_the_test_part(small_pair: PairedSet) -> None:
    cfg = _small_cfg(test_size=0.3, models=("linear",), losses=("mse",), depth=False)
    res = run_mappings(small_pair, cfg)
    assert all(r.n == 60 for r in res)


def test_glove_nan_rows_dropped_with_a_note() -> None:
    vm, vg = imagenet1k_pairs()
    assert vm.n == 1000 and not vm.notes
    assert vg.n == 975 and np.isfinite(vg.Y).all()
    assert len(vg.notes) == 1 and "dropped 25 of 1000 rows" in vg.notes[0]


def test_user_pair_nan_rows_dropped_with_a_note(tmp_path) -> None:
    X = np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32)
    Y = np.random.default_rng(1).standard_normal((30, 3))
    Y[[3, 7]] = np.nan
    np.save(tmp_path / "a.npy", X)
    np.save(tmp_path / "b.npy", Y)
    pair = load_pair_files(tmp_path / "a.npy", tmp_path / "b.npy")
    assert pair.n == 28 and "dropped 2 of 30 rows" in pair.notes[0] and "3, 7" in pair.notes[0]


def test_default_ks_are_cut_to_small_sets(small_pair: PairedSet) -> None:
    tiny = PairedSet("tiny", "a", "b", small_pair.X[:30], small_pair.Y[:30])
    res = run_mappings(tiny, _small_cfg(ks=None, models=("linear",), losses=("mse",)))
    assert res[0].ks == [1, 5, 10]  # 50 > n - 1 = 29 is left out
    with pytest.raises(ValueError, match="too large"):
        run_mappings(tiny, _small_cfg(ks=(50,), models=("linear",), losses=("mse",)))


def test_bad_settings_raise() -> None:
    with pytest.raises(ValueError, match="folds"):
        ReproduceConfig(folds=1)
    with pytest.raises(ValueError, match="test_size"):
        ReproduceConfig(test_size=1.5)
    with pytest.raises(ValueError, match="losses"):
        ReproduceConfig(losses=("hinge",))
    with pytest.raises(ValueError, match="depths"):
        ReproduceConfig(depths=(6,))


def test_plots_need_matplotlib(small_report: Report, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="nnoverlap\\[plot\\]"):
        plot_mnno_scatter(small_report, tmp_path / "x.png")


def test_plots_written(small_report: Report, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    files = {p.name for p in small_report.write(tmp_path)}
    assert {"results.md", "results.json", "mnno_scatter.png", "depth_curve.png"} <= files
    assert (tmp_path / "depth_curve.png").stat().st_size > 1000


def _save_pair(tmp_path, n: int = 120):
    data = imagenet1k()
    x, y = tmp_path / "visual.npy", tmp_path / "minilm.npy"
    np.save(x, data.visual[:n])
    np.save(y, data.minilm[:n])
    return str(x), str(y)


def test_cli_smoke(tmp_path, capsys) -> None:
    x, y = _save_pair(tmp_path)
    out = tmp_path / "out"
    argv = ["reproduce", "--x", x, "--y", y, "--folds", "2", "--epochs", "1", "--hidden", "16"]
    argv += ["--depth-seeds", "1", "-k", "1", "10", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    assert (out / "results.md").is_file() and (out / "results.json").is_file()
    report = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert report["datasets"][0]["x"] == "visual" and report["datasets"][0]["n"] == 120
    assert len(report["experiment1"]) == 12 and report["experiment2"]
    assert report["command"].startswith("nnoverlap reproduce")
    stdout = capsys.readouterr().out
    assert "| user (n = 120) | visual→minilm |" in stdout


def test_cli_progress_on_stderr(tmp_path, capsys) -> None:
    x, y = _save_pair(tmp_path, 60)
    argv = ["reproduce", "--x", x, "--y", y, "--folds", "2", "--epochs", "1", "--hidden", "8"]
    assert main(argv + ["--no-depth", "-k", "5"]) == 0
    err = capsys.readouterr().err
    assert "fold 2/2" in err and "epochs, loss" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--folds", "1"], "folds"),
        (["--folds", "200"], "folds need at least"),
        (["-k", "500"], "too large"),
        (["--test-size", "2"], "test_size"),
    ],
)
def test_cli_bad_settings_exit_2(tmp_path, capsys, extra, message) -> None:
    x, y = _save_pair(tmp_path, 60)
    assert main(["reproduce", "--x", x, "--y", y, "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_bad_files_exit_2(tmp_path, capsys) -> None:
    x, y = _save_pair(tmp_path, 60)
    np.save(tmp_path / "short.npy", np.ones((50, 3)))
    np.save(tmp_path / "flat.npy", np.ones(60))
    (tmp_path / "junk.npy").write_text("not an array")
    cases = [
        (["--x", x], "both --x and --y"),
        (["--x", x, "--y", str(tmp_path / "missing.npy")], "no such file"),
        (["--x", x, "--y", str(tmp_path / "short.npy")], "same number of rows"),
        (["--x", x, "--y", str(tmp_path / "flat.npy")], "2-D"),
        (["--x", x, "--y", str(tmp_path / "junk.npy")], "cannot read"),
    ]
    for args, message in cases:
        assert main(["reproduce", *args, "--quiet"]) == 2
        assert message in capsys.readouterr().err


def test_run_depths_subsamples_large_sets(small_pair: PairedSet) -> None:
    cfg = _small_cfg(depth_rows=50, depth_trained=False, depth_activations=("sigmoid",))
    pts, notes = run_depths(small_pair, cfg)
    assert all(p.n == 50 for p in pts) and "random subset of 50 of the 200" in notes[0]


def test_shared_set_gets_untrained_nets_once(small_pair: PairedSet) -> None:
    other = PairedSet("imagenet1k", "visual", "glove", small_pair.X[:150], small_pair.Y[:150, :50])
    cfg = _small_cfg(mappings=False, depths=(1,), depth_activations=("tanh",), depth_seeds=1)
    report = reproduce([small_pair, other], cfg)
    untrained = {(p.input, p.n) for p in report.depths if p.kind == "untrained"}
    assert untrained == {("visual", 200), ("minilm", 200), ("glove", 150)}
    trained = {(p.input, p.target) for p in report.depths if p.kind == "trained"}
    assert trained == {("visual", "minilm"), ("visual", "glove")}
    assert report.mappings == [] and "Experiment 1" not in report.to_markdown()


def test_depth_zero_is_one_linear_map_for_every_activation(small_pair: PairedSet) -> None:
    cfg = _small_cfg(depths=(0,), depth_activations=("relu", "sigmoid"), depth_trained=False)
    pts, _ = run_depths(small_pair, cfg, untrained_on=("visual",))
    assert len(pts) == 2 and pts[0].mnno_fx_x == pts[1].mnno_fx_x
    assert "depth 0" in reproduce([small_pair], replace(cfg, mappings=False)).to_markdown()
