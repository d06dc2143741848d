"""Tests of the paper's experiments, ``nnoverlap.paper``, and ``nnoverlap reproduce``.

Small real subsets of the bundled ImageNet-1k pair, 2 folds, small nets, few resamples: the
whole file runs in seconds. The oracle of every neighbourhood number is the public core API
(``nnoverlap.mnno`` / ``knn`` on the same rows), computed here independently of the runner.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap.cli import main
from nnoverlap.datasets import imagenet1k
from nnoverlap.mapping import LinearMap
from nnoverlap.measures import paired_bootstrap, stratified_permutation_test
from nnoverlap.paper import (
    PairedSet,
    Report,
    ReproduceConfig,
    findings,
    load_train_test_files,
    reproduce,
    run_depths,
    run_mappings,
)
from nnoverlap.paper.maps import NetSettings, Setting, fit_predict
from nnoverlap.paper.protocols import make_design


@pytest.fixture(scope="module")
def small_pair() -> PairedSet:
    """200 real ImageNet classes: visual (1280-d) vs MiniLM (384-d)."""
    data = imagenet1k()
    return PairedSet("imagenet1k", "visual", "minilm", data.visual[:200], data.minilm[:200])


def _cfg(**kw: Any) -> ReproduceConfig:
    base: dict[str, Any] = {
        "protocols": ("per-fold", "pooled", "split"),
        "ks": (1, 5, 10),
        "settings": ("linear-mse", "mlp1-mse", "linear-ranking"),
        "depths": (0, 1),
    }
    base.update(kw)
    return ReproduceConfig.quick(**base)


@pytest.fixture(scope="module")
def small_report(small_pair: PairedSet) -> Report:
    return reproduce([small_pair], _cfg())


def _rows(report: Report, **match: Any) -> list[Any]:
    return [r for r in report.rows if all(getattr(r, k) == v for k, v in match.items())]


# ---- the runner ------------------------------------------------------------------------------


def test_every_protocol_variant_and_map_is_reported(small_report: Report) -> None:
    main = _rows(small_report, variant="main")
    keys = {(r.direction, r.setting, r.protocol) for r in main}
    maps = {"linear-mse", "mlp1-mse", "linear-ranking", "mlp0-mse"}
    assert keys == {
        (d, s, p)
        for d in ("visual→minilm", "minilm→visual")
        for s in maps
        for p in ("per-fold", "pooled", "split")
    }
    for r in main:
        assert r.ok and r.ks == [1, 5, 10] and r.main_k == 10
        for values in (r.fx_x, r.fx_y, r.x_y):
            assert all(0.0 <= v <= 1.0 for v in values)
        for ci, v in zip(r.ci_fx_y, r.fx_y):
            assert ci[0] <= v <= ci[1]
        assert 0.0 <= r.recall_at_1 <= r.recall_at_10 <= 1.0
        assert 0 < r.p_fx_y <= 1 and r.null_fx_y < r.fx_y[2]
    per_fold = _rows(small_report, variant="main", protocol="per-fold")
    assert all(r.unit_sizes == [100, 100] and r.n == 200 for r in per_fold)
    assert all(r.unit_sizes == [200] for r in _rows(small_report, protocol="pooled"))
    assert all(r.unit_sizes == [40] for r in _rows(small_report, protocol="split"))
    # Controls: shuffled pairs and in-sample numbers for the control maps only.
    shuffled = {(r.setting, r.protocol) for r in _rows(small_report, variant="shuffled")}
    assert shuffled == {
        (s, p) for s in ("linear-mse", "mlp1-mse") for p in ("per-fold", "pooled", "split")
    }
    ins = _rows(small_report, variant="in-sample")
    assert {r.protocol for r in ins} == {"in-sample"} and all(
        r.unit_sizes == [100, 100] for r in ins
    )


def test_per_fold_numbers_equal_the_core_on_each_test_part(
    small_pair: PairedSet, small_report: Report
) -> None:
    """mNNO per fold, item-weighted, recomputed from scratch with the public API."""
    design = make_design(200, "per-fold", folds=2, test_size=0.2, seed=0)
    row = _rows(small_report, variant="main", protocol="per-fold", setting="linear-mse")[0]
    pooled = _rows(small_report, variant="main", protocol="pooled", setting="linear-mse")[0]
    X, Y = small_pair.X, small_pair.Y
    fx_x = fx_y = x_y = 0.0
    P_all = np.empty((200, Y.shape[1]))
    for train, test in design.folds:
        P = LinearMap(ridge="loo").fit(X[train], Y[train]).predict(X[test])
        P_all[test] = P
        fx_x += nno.mnno(P, X[test], k=10) * test.size / 200
        fx_y += nno.mnno(P, Y[test], k=10) * test.size / 200
        x_y += nno.mnno(X[test], Y[test], k=10) * test.size / 200
    assert row.direction == "visual→minilm"
    assert row.at(10) == pytest.approx((fx_x, fx_y, x_y), abs=1e-12)
    assert pooled.at(10) == pytest.approx(
        (nno.mnno(P_all, X, k=10), nno.mnno(P_all, Y, k=10), nno.mnno(X, Y, k=10)), abs=1e-12
    )
    assert row.chance[2] == pytest.approx(10 / 99)
    assert pooled.chance[2] == pytest.approx(10 / 199)


def test_seeded_reruns_are_identical(small_pair: PairedSet, small_report: Report) -> None:
    again = reproduce([small_pair], _cfg())

    def numbers(rep: Report) -> list[Any]:
        return [(r.fx_x, r.fx_y, r.x_y, r.ci_gain, r.p_fx_y, r.recall_at_10) for r in rep.rows]

    assert numbers(again) == numbers(small_report)
    other = reproduce([small_pair], _cfg(seeds=(5,), depth=False))
    assert [r.fx_x for r in other.rows] != [r.fx_x for r in small_report.rows]


def test_exact_linear_relation_is_recovered_and_shuffling_destroys_it() -> None:
    data = imagenet1k()
    X = data.minilm[:150, :20].astype(np.float64)  # 75 training rows determine a 20 x 40 map
    Y = X @ np.random.default_rng(0).standard_normal((20, 40))
    cfg = _cfg(settings=("linear-mse",), depths=(), controls=("linear-mse",), depth=False)
    rows = run_mappings(PairedSet("toy", "x", "y", X, Y), cfg)
    main = _rows_of(rows, direction="x→y", variant="main", protocol="per-fold")
    assert main.fx_y[2] > 0.95 and main.ci_gain[2][0] > 0  # the map bridges: the gain is real
    shuffled = _rows_of(rows, direction="x→y", variant="shuffled", protocol="per-fold")
    assert shuffled.fx_y[2] < main.fx_y[2] - 0.3


def _rows_of(rows: list[Any], **match: Any) -> Any:
    sel = [r for r in rows if all(getattr(r, k) == v for k, v in match.items())]
    assert len(sel) == 1
    return sel[0]


def test_extra_seeds_repeat_only_the_control_maps(small_pair: PairedSet) -> None:
    cfg = _cfg(seeds=(0, 3), protocols=("per-fold",), depth=False, depths=())
    rows = run_mappings(small_pair, cfg)
    assert {r.setting for r in rows if r.seed == 3} == {"linear-mse", "mlp1-mse"}
    assert {r.variant for r in rows if r.seed == 3} == {"main"}
    a = _rows_of(rows, seed=0, setting="linear-mse", direction="visual→minilm", variant="main")
    b = _rows_of(rows, seed=3, setting="linear-mse", direction="visual→minilm", variant="main")
    assert a.x_y != b.x_y  # other folds, other test parts


def test_ridge_lambda_and_epochs_are_reported(small_report: Report) -> None:
    ridge = _rows(small_report, setting="linear-mse", protocol="per-fold", variant="main")
    assert all(len(r.fit["ridge"]) == 2 and min(r.fit["ridge"]) > 0 for r in ridge)
    net = _rows(small_report, setting="mlp1-mse", protocol="per-fold", variant="main")
    for r in net:
        assert all(1 <= b <= e <= 8 for b, e in zip(r.fit["best_epoch"], r.fit["epochs_run"]))


def test_findings_count_the_rows(small_report: Report) -> None:
    cfg = small_report.config
    found = findings(small_report.rows, cfg)
    assert [f["protocol"] for f in found] == ["per-fold"] * 3 + ["pooled"] * 3 + ["split"] * 3 + [
        "in-sample"
    ] * 3
    for f in found:
        sel = [
            r
            for r in _rows(small_report, protocol=f["protocol"])
            if r.setting in cfg.settings and r.variant in ("main", "in-sample")
        ]
        i = sel[0].ks.index(f["k"])
        assert f["settings"] == len(sel) == 6
        assert f["keeps_input"] == sum(r.fx_x[i] > r.fx_y[i] for r in sel)
        assert f["not_above_xy"] == sum(r.fx_y[i] <= r.x_y[i] for r in sel)
        assert f["above_xy_sig"] == sum(r.ci_gain[i][0] > 0 for r in sel)


def test_markdown_says_protocol_k_and_n(small_report: Report) -> None:
    md = small_report.to_markdown()
    for text in (
        "## What holds, by protocol and k",
        "### Experiment 1, protocol per-fold, k = 10",
        "### Experiment 1, protocol pooled, k = 10",
        "### Experiment 1, protocol split, k = 10",
        "### Experiment 1, protocol in-sample, k = 10",
        "## Controls (protocol per-fold, k = 10)",
        "| imagenet1k | visual→minilm | ridge (LOO λ) | 2 × 100 |",
        "| imagenet1k | visual→minilm | ridge (LOO λ) | 40 |",
        "standardised input / raw input",
    ):
        assert text in md
    d = json.loads(small_report.to_json())
    assert d["settings"]["protocols"] == ["per-fold", "pooled", "split"]
    assert d["findings"] and len(d["experiment1"]) == len(small_report.rows)


# ---- protocols ------------------------------------------------------------------------------


@pytest.mark.parametrize("n, folds", [(10, 2), (23, 5), (200, 10)])
def test_folds_partition_the_items(n: int, folds: int) -> None:
    d = make_design(n, "per-fold", folds=folds, test_size=0.2, seed=1)
    tests = np.concatenate([t for _, t in d.folds])
    assert np.array_equal(np.sort(tests), np.arange(n))
    for train, test in d.folds:
        assert np.intersect1d(train, test).size == 0 and train.size + test.size == n
    assert [u.tolist() for u in d.units] == [t.tolist() for _, t in d.folds]
    pooled = make_design(n, "pooled", folds=folds, test_size=0.2, seed=1)
    assert [u.tolist() for u in pooled.units] == [list(range(n))]


def test_split_design_and_fixed_test_rows() -> None:
    d = make_design(50, "split", folds=5, test_size=0.2, seed=0)
    ((train, test),) = d.folds
    assert test.size == 10 and train.size == 40 and np.intersect1d(train, test).size == 0
    fixed = make_design(50, "split", folds=5, test_size=0.2, seed=0, test_rows=np.arange(45, 50))
    assert fixed.units[0].tolist() == [45, 46, 47, 48, 49]
    with pytest.raises(ValueError, match="split protocol"):
        make_design(50, "per-fold", folds=5, test_size=0.2, seed=0, test_rows=np.arange(45, 50))
    with pytest.raises(ValueError, match="unknown protocol"):
        make_design(50, "loo", folds=5, test_size=0.2, seed=0)


def test_shuffled_fit_sees_permuted_targets() -> None:
    X = np.random.default_rng(0).standard_normal((40, 3))
    Y = X.copy()
    rows = np.arange(40)
    (P,), _ = fit_predict(Setting("linear", "mse"), NetSettings(), X, Y, rows, [rows], seed=0)
    (S,), _ = fit_predict(
        Setting("linear", "mse"), NetSettings(), X, Y, rows, [rows], seed=0, shuffle_seed=1
    )
    assert np.allclose(P, Y, atol=1e-3) and not np.allclose(S, Y, atol=0.3)


# ---- statistics -----------------------------------------------------------------------------


def _interval(groups: list[np.ndarray], **kw: Any) -> tuple[float, float]:
    lo, hi = paired_bootstrap(groups, **kw)
    return float(lo[0]), float(hi[0])


def test_bootstrap_resamples_within_groups() -> None:
    # Group means are fixed within groups, so resampling each group alone never moves the mean.
    lo, hi = _interval([np.zeros(3), np.ones(7)], reps=200, seed=0)
    assert lo == hi == pytest.approx(0.7)
    lo, hi = _interval([np.r_[np.zeros(3), np.ones(7)]], reps=500, seed=0)
    assert lo < 0.7 < hi


def test_bootstrap_interval_covers_a_known_mean() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0.3, 1.0, size=4000)
    lo, hi = _interval([x], reps=800, seed=2)
    se = x.std() / math.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.3 * se)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.3 * se)
    los, his = paired_bootstrap([np.stack([x, 2 * x], axis=1)], reps=800, seed=2)
    assert los[1] == pytest.approx(2 * los[0]) and his[1] == pytest.approx(2 * his[0])


def test_permutation_null_p_values() -> None:
    rng = np.random.default_rng(5)
    A = rng.standard_normal((80, 4))
    ia = nno.knn(A, 5).indices
    same = stratified_permutation_test([(ia, ia)], 5, permutations=99, seed=0)
    assert same.value == 1.0
    assert same.p == pytest.approx(0.01) and same.null_mean == pytest.approx(5 / 79, abs=0.03)
    # Under a true null (unrelated sets) p-values spread over (0, 1].
    ps = []
    for s in range(20):
        B = np.random.default_rng(100 + s).standard_normal((80, 4))
        ib = nno.knn(B, 5).indices
        ps.append(float(stratified_permutation_test([(ia, ib)], 5, permutations=49, seed=s).p))
    assert 0.2 < float(np.mean(ps)) < 0.8 and max(ps) > 0.5


def test_linear_cka_matches_its_kernel_definition() -> None:
    rng = np.random.default_rng(6)
    A, B = rng.standard_normal((30, 4)), rng.standard_normal((30, 3))
    H = np.eye(30) - 1.0 / 30
    K, L = H @ A @ A.T @ H, H @ B @ B.T @ H
    expected = np.sum(K * L) / math.sqrt(np.sum(K * K) * np.sum(L * L))
    assert nno.linear_cka(A, B) == pytest.approx(expected, rel=1e-10)
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    assert nno.linear_cka(A, 3.0 * A @ Q + 1.0) == pytest.approx(1.0)


# ---- experiment 2 ----------------------------------------------------------------------------


def test_untrained_nets_on_standardised_and_raw_inputs(small_pair: PairedSet) -> None:
    pts, _ = run_depths(small_pair, _cfg(depth_activations=("relu", "sigmoid")))
    assert {(p.input, p.scaling) for p in pts} == {
        (s, c) for s in ("visual", "minilm") for c in ("standardised", "raw")
    }
    d0 = [p for p in pts if p.depth == 0 and p.input == "visual" and p.scaling == "raw"]
    assert len(d0) == 2 and d0[0].mnno_fx_x == d0[1].mnno_fx_x  # depth 0: no activation
    # Raw input of a depth-0 net: a random linear map, recomputed with the core.
    from nnoverlap.mapping import untrained_map

    F = untrained_map(small_pair.X, depth=0, width=32, seed=0)
    assert d0[0].mnno_fx_x[0][2] == pytest.approx(nno.mnno(F, small_pair.X, k=10), abs=1e-12)


def test_experiment2_subsamples_large_sets(small_pair: PairedSet) -> None:
    pts, notes = run_depths(small_pair, _cfg(depth_rows=50, depth_activations=("tanh",)))
    assert all(p.n == 50 for p in pts) and "random subset of 50 of the 200" in notes[0]


# ---- data -----------------------------------------------------------------------------------


def test_train_test_files_by_position(tmp_path) -> None:
    data = imagenet1k()
    paths = []
    for name, arr in (
        ("tx", data.visual[:80]),
        ("ty", data.minilm[:80]),
        ("vx", data.visual[80:100]),
        ("vy", data.minilm[80:100]),
    ):
        paths.append(tmp_path / f"{name}.npy")
        np.save(paths[-1], arr)
    pair = load_train_test_files(*paths)
    assert (
        pair.n == 100
        and pair.test_rows is not None
        and pair.test_rows.tolist() == list(range(80, 100))
    )
    rows = run_mappings(pair, _cfg(settings=("linear-mse",), depths=(), ks=(5,)))
    assert {r.protocol for r in rows} == {"split", "in-sample"}
    main = [r for r in rows if r.variant == "main"]
    assert all(r.unit_sizes == [20] for r in main)
    P = LinearMap(ridge="loo").fit(data.visual[:80], data.minilm[:80]).predict(data.visual[80:100])
    xy = [r for r in main if r.direction == "tx→ty"][0]
    assert xy.fx_y[0] == pytest.approx(nno.mnno(P, data.minilm[80:100], k=5), abs=1e-12)


def test_train_test_files_by_word_drop_test_words_from_training(tmp_path) -> None:
    data = imagenet1k()
    words = [f"w{i}" for i in range(60)]
    train_words, test_words = words[:45], words[40:]  # w40..w44 in both parts
    files = {}
    for part, ws in (("train", train_words), ("test", test_words)):
        rows = [int(w[1:]) for w in ws]
        for side, arr in (("x", data.visual), ("y", data.minilm)):
            e = nno.Embeddings(
                ws[::-1] if side == "y" else ws, arr[rows][::-1] if side == "y" else arr[rows]
            )
            files[part + side] = tmp_path / f"{part}_{side}.txt"
            e.save(files[part + side], format="word2vec")
    pair = load_train_test_files(files["trainx"], files["trainy"], files["testx"], files["testy"])
    assert pair.n == 40 + 20 and pair.test_rows is not None and pair.test_rows.size == 20
    assert any("5 words of the training part are also test words" in n for n in pair.notes)
    # Rows are paired by word, whatever the order in the files.
    assert np.allclose(pair.Y[:40], data.minilm[:40], atol=1e-3)


def test_train_test_files_errors(tmp_path) -> None:
    np.save(tmp_path / "a.npy", np.ones((10, 3)))
    np.save(tmp_path / "b.npy", np.ones((9, 3)))
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    with pytest.raises(ValueError, match="training part: X and Y must have the same number"):
        load_train_test_files(a, b, a, a)
    with pytest.raises(ValueError, match="--test-y: no such file"):
        load_train_test_files(a, a, a, tmp_path / "none.npy")


def test_glove_nan_rows_dropped_with_a_note() -> None:
    from nnoverlap.paper import imagenet1k_pairs

    vm, vg = imagenet1k_pairs()
    assert vm.n == 1000 and vg.n == 975 and "dropped 25 of 1000 rows" in vg.notes[0]


def test_bad_settings_raise() -> None:
    for kw, message in (
        ({"protocols": ("bogus",)}, "protocols"),
        ({"settings": ("linear-hinge",)}, "loss must be one of"),
        ({"settings": ("mlp9-mse",)}, "D in 0..5"),
        ({"depths": (6,)}, "depths"),
        ({"scalings": ("log",)}, "scalings"),
        ({"test_size": 1.5}, "test_size"),
        ({"seeds": ()}, "seeds"),
    ):
        with pytest.raises(ValueError, match=message):
            ReproduceConfig(**kw)


# ---- figures, command line, packaging --------------------------------------------------------


def test_figures_written(small_report: Report, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    files = small_report.write(tmp_path)
    names = sorted(p.name for p in files)
    assert names == sorted(
        [
            "results.md",
            "results.json",
            "mnno_scatter_per-fold.png",
            "mnno_scatter_pooled.png",
            "mnno_scatter_split.png",
            "depth_trained.png",
            "depth_untrained.png",
        ]
    )
    assert all(p.stat().st_size > 1000 for p in files)


def test_figures_need_matplotlib(small_report: Report, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rep = replace(small_report, notes=list(small_report.notes))
    files = rep.write(tmp_path)
    assert sorted(p.name for p in files) == ["results.json", "results.md"]
    assert any("pip install 'nnoverlap[plot]'" in n for n in rep.notes)


def _save_pair(tmp_path, n: int = 120) -> tuple[str, str]:
    data = imagenet1k()
    x, y = tmp_path / "visual.npy", tmp_path / "minilm.npy"
    np.save(x, data.visual[:n])
    np.save(y, data.minilm[:n])
    return str(x), str(y)


def test_cli_quick_run_writes_the_report(tmp_path, capsys) -> None:
    x, y = _save_pair(tmp_path)
    out = tmp_path / "out"
    argv = ["reproduce", "--x", x, "--y", y, "--quick", "--maps", "linear-mse", "--depths"]
    argv += ["--protocol", "per-fold", "split", "-k", "5", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    report = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert report["datasets"][0]["x"] == "visual" and report["datasets"][0]["n"] == 120
    assert report["command"].startswith("nnoverlap reproduce --x")
    assert "--protocol per-fold split" in report["command"]
    stdout = capsys.readouterr().out
    assert "### Experiment 1, protocol split, k = 5" in stdout


def test_cli_train_test_files(tmp_path, capsys) -> None:
    data = imagenet1k()
    names = []
    for name, arr in (("tx", data.visual[:60]), ("ty", data.minilm[:60])):
        np.save(tmp_path / f"{name}.npy", arr)
        names.append(str(tmp_path / f"{name}.npy"))
    for name, arr in (("vx", data.visual[60:90]), ("vy", data.minilm[60:90])):
        np.save(tmp_path / f"{name}.npy", arr)
        names.append(str(tmp_path / f"{name}.npy"))
    argv = ["reproduce", "--train-x", names[0], "--train-y", names[1], "--test-x", names[2]]
    argv += ["--test-y", names[3], "--quick", "--maps", "linear-mse", "--depths", "--no-depth"]
    assert main(argv + ["-k", "5"]) == 0
    captured = capsys.readouterr()
    assert "### Experiment 1, protocol split, k = 5" in captured.out
    assert "measured with the split protocol only" in captured.err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--folds", "1"], "folds"),
        (["--folds", "200"], "folds need at least"),
        (["-k", "500"], "too large"),
        (["--test-size", "2"], "test_size"),
        (["--maps", "ridge"], "loss must be one of"),
        (["--train-x", "a.npy"], "all four of --train-x"),
    ],
)
def test_cli_bad_settings_exit_2(tmp_path, capsys, extra, message) -> None:
    x, y = _save_pair(tmp_path, 60)
    assert main(["reproduce", "--x", x, "--y", y, "--quiet", *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_bad_files_exit_2(tmp_path, capsys) -> None:
    x, y = _save_pair(tmp_path, 60)
    np.save(tmp_path / "short.npy", np.ones((50, 3)))
    (tmp_path / "junk.npy").write_text("not an array")
    cases = [
        (["--x", x], "both --x and --y"),
        (["--x", x, "--y", str(tmp_path / "missing.npy")], "no such file"),
        (["--x", x, "--y", str(tmp_path / "short.npy")], "same number of rows"),
        (["--x", x, "--y", str(tmp_path / "junk.npy")], "cannot read"),
    ]
    for args, message in cases:
        assert main(["reproduce", *args, "--quiet"]) == 2
        assert message in capsys.readouterr().err


def test_core_package_imports_nothing_the_paper_needs() -> None:
    code = (
        "import sys, nnoverlap, nnoverlap.cli; nnoverlap.cli.build_parser(); "
        "bad = [m for m in ('matplotlib', 'threadpoolctl', 'nnoverlap.paper.experiments') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['nnoverlap.paper.experiments']" or out.stdout.strip() == "[]"
    assert "matplotlib" not in out.stdout and "threadpoolctl" not in out.stdout


def test_old_module_name_still_works() -> None:
    import nnoverlap.experiments as old

    assert old.reproduce is reproduce


def test_a_maps_numbers_do_not_depend_on_the_other_maps(small_pair: PairedSet) -> None:
    """Regression: fit seeds once came from the map's position in the list."""
    cfg = _cfg(protocols=("per-fold",), depth=False, depths=(), controls=())
    alone = run_mappings(small_pair, replace(cfg, settings=("mlp1-mse",)))
    beside = run_mappings(small_pair, replace(cfg, settings=("linear-ranking", "mlp1-mse")))
    a = [r.fx_x for r in alone if r.variant == "main"]
    b = [r.fx_x for r in beside if r.variant == "main" and r.setting == "mlp1-mse"]
    assert a == b
