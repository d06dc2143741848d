"""The report, the plots, progress and the command line's own help: mNNO printed so that it can
be read beside chance, a warning when alignment drops most of a vocabulary, ``--show 0``, the
range of ``neighbors -k``, plots skipped (with the reason) when they cannot say anything, the
progress callbacks, ``--version`` and ``--help`` of every subcommand."""

from __future__ import annotations

import argparse
import io
import json
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnoverlap as nno
from nnoverlap import Embeddings, _progress
from nnoverlap._commands import imagenet_pair
from nnoverlap.cli import build_parser, main
from nnoverlap.report import Comparison, compare, mnno_decimals, skipped_plots, write_plots


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def mnno_row(out: str, k: int) -> list[str]:
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[0] == str(k):
            return parts
    raise AssertionError(f"no row for k={k} in\n{out}")


# --- numbers next to chance ------------------------------------------------------------------


def test_mnno_near_chance_on_a_large_set_is_not_printed_as_zero():
    # 60,000 words, k = 1, two words agreeing: mNNO = 3.3e-5, twice chance (1.7e-5).
    n = 60_000
    counts = np.zeros((n, 1), dtype=np.int64)
    counts[[5, 7]] = 1
    nb = np.zeros((n, 1), dtype=np.int64)
    c = Comparison(
        [f"w{i}" for i in range(n)], [1], "cosine", counts, nb, nb, np.arange(1, n + 1),
        np.arange(1, n + 1),
    )  # fmt: skip
    _, m, ch, ratio = mnno_row(c.format_text(show=0), 1)
    assert float(m) == pytest.approx(2 / n, rel=0.05) and m != "0.0000"
    assert float(ch) == pytest.approx(1 / (n - 1), rel=0.01)
    assert ratio == "2.0"


def test_mnno_decimals_follow_the_chance_level():
    assert mnno_decimals(1 / 999) == 4  # the demo's table keeps its 4 decimals
    assert mnno_decimals(1 / 9_999) == 5
    assert mnno_decimals(1 / 59_999) == 6
    assert mnno_decimals(1 / 999_999) == 7


@given(n=st.integers(2, 10**9), k=st.integers(1, 1000), times=st.floats(0.1, 1000))
def test_mnno_is_printed_readably_beside_any_chance_level(n, k, times):
    # At or above chance: two significant digits at least; down to a tenth of it: not zero.
    k = min(k, n - 1)
    chance = k / (n - 1)
    value = min(1.0, times * chance)
    digits = mnno_decimals(chance)
    shown = f"{value:.{digits}f}".replace(".", "").lstrip("0")
    assert len(shown) >= (2 if times >= 1 else 1) or value == 1.0, (n, k, value, digits)
    assert digits >= 4


def test_demo_table_keeps_four_decimals(capsys):
    rc, out, _ = run(capsys, "demo", "-q", "--show", "0")
    assert rc == 0 and mnno_row(out, 10)[1:3] == ["0.1972", "0.010010"]


# --- alignment warnings, --show 0, neighbors -k ----------------------------------------------


def test_warns_when_alignment_drops_most_of_a_vocabulary(tmp_path, capsys):
    rng = np.random.default_rng(0)
    a = Embeddings([f"w{i}" for i in range(100)], rng.normal(size=(100, 4)).astype(np.float32))
    b = Embeddings([f"w{i}" for i in range(80, 100)] + [f"W{i}" for i in range(30)],
                   rng.normal(size=(50, 4)).astype(np.float32))  # fmt: skip
    a.save(tmp_path / "a.bin")
    b.save(tmp_path / "b.bin")
    rc, out, err = run(capsys, "compare", tmp_path / "a.bin", tmp_path / "b.bin", "-k", "3",
                       "--json", tmp_path / "s.json")  # fmt: skip
    assert rc == 0
    assert "warning: only 20 of A's 100 words (20%) are in B" in out
    assert "warning: only 20 of B's 50 words (40%) are in A" in out
    assert "nnoverlap: warning: only 20 of A's 100 words" in err
    warnings = json.loads((tmp_path / "s.json").read_text())["warnings"]
    assert len(warnings) == 2 and "same tokens" in warnings[0]
    # Most words shared: no warning.
    rc, out, _ = run(capsys, "compare", tmp_path / "a.bin", tmp_path / "a.bin", "-k", "3", "-q")
    assert rc == 0 and "warning" not in out


def test_show_zero_prints_the_table_without_word_lists(capsys):
    rc, out, _ = run(capsys, "demo", "-q", "--show", "0")
    assert rc == 0 and "mNNO/chance" in out
    assert "agree least" not in out and "agree most" not in out
    with pytest.raises(SystemExit) as info:
        main(["demo", "--show", "-1"])
    assert info.value.code == 2 and "expected an integer >= 0" in capsys.readouterr().err


def test_neighbors_k_beyond_the_other_words_is_an_error_with_the_range(tmp_path, capsys):
    v = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    Embeddings(list("abcdef"), v).save(tmp_path / "s.bin")
    rc, out, err = run(capsys, "neighbors", tmp_path / "s.bin", "a", "-k", "6", "-q")
    assert rc == 2 and out == ""
    assert "-k 6 is out of range" in err and "k must be between 1 and 5" in err
    rc, out, _ = run(capsys, "neighbors", tmp_path / "s.bin", "a", "-k", "5", "-q")
    assert rc == 0 and len(out.strip().splitlines()) == 2 + 5


# --- plots -----------------------------------------------------------------------------------


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib", reason="matplotlib not installed (nnoverlap[plot])")


def test_mnno_vs_k_with_only_k_1_is_skipped_with_the_reason(mpl, tmp_path, capsys):
    rc, _, err = run(capsys, "demo", "-k", "1", "--show", "0", "--plot", tmp_path)
    assert rc == 0
    assert not (tmp_path / "mnno_vs_k.png").exists() and not (tmp_path / "mnno_vs_k.csv").exists()
    assert "no mnno_vs_k.png: mNNO against k needs a largest k of 2 or more; only -k 1" in err
    assert (tmp_path / "overlap_histogram.png").exists()


def test_mnno_vs_k_with_one_larger_k_draws_every_k_up_to_it(mpl, tmp_path, capsys):
    rc, _, _ = run(capsys, "demo", "-k", "10", "--show", "0", "--plot", tmp_path, "-q")
    assert rc == 0 and (tmp_path / "mnno_vs_k.png").read_bytes()[:4] == b"\x89PNG"
    rows = (tmp_path / "mnno_vs_k.csv").read_text().split()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 11))
    visual, text = imagenet_pair()
    expected = nno.mnno(visual.vectors, text.vectors, k=list(range(1, 11)))
    np.testing.assert_allclose([float(r.split(",")[1]) for r in rows], expected, atol=1e-12)


def test_frequency_plot_only_for_rows_in_frequency_order(mpl, tmp_path, capsys):
    visual, text = imagenet_pair()
    words = [w.replace(" ", "_") for w in visual.words]
    Embeddings(words, text.vectors).save(tmp_path / "text.txt", format="glove")  # GloVe: yes
    np.save(tmp_path / "vis.npy", visual.vectors)  # .npy: order unknown
    (tmp_path / "vis.words.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    cases = [
        (("text.txt", "vis.npy"), [], True),
        (("vis.npy", "text.txt"), [], False),
        (("vis.npy", "text.txt"), ["--frequency-order", "yes"], True),
        (("text.txt", "vis.npy"), ["--frequency-order", "no"], False),
    ]
    for i, ((fa, fb), extra, drawn) in enumerate(cases):
        out = tmp_path / f"plots{i}"
        rc, _, err = run(capsys, "compare", tmp_path / fa, tmp_path / fb, "-k", "10", "--show",
                         "0", "--plot", out, *extra)  # fmt: skip
        assert rc == 0
        assert (out / "overlap_vs_rank.png").exists() == drawn, (fa, extra)
        assert (out / "overlap_vs_rank.csv").exists() == drawn
        assert ("no overlap_vs_rank.png" in err) == (not drawn)
        if not drawn and not extra:
            assert "npy data are not known to be" in err and "--frequency-order yes" in err


def test_write_plots_frequency_order_argument(mpl, tmp_path):
    visual, text = imagenet_pair()
    c = compare(visual, text, k=[1, 10])  # bundled data: order unknown
    assert set(skipped_plots(c)) == {"overlap_vs_rank"}
    assert "frequency_order=True" in skipped_plots(c)["overlap_vs_rank"]
    files = write_plots(c, tmp_path / "a")
    assert sorted(f.name for f in files) == [
        "mnno_vs_k.csv", "mnno_vs_k.png", "overlap_histogram.csv", "overlap_histogram.png",
    ]  # fmt: skip
    files = write_plots(c, tmp_path / "b", frequency_order=True)
    assert {"overlap_vs_rank.png", "overlap_vs_rank.csv"} <= {f.name for f in files}
    assert all(f.exists() for f in files)


# --- progress --------------------------------------------------------------------------------


def test_steps_drop_zero_totals_and_end_at_the_total():
    calls: list[tuple[int, int]] = []
    s = _progress.Steps(lambda d, t: calls.append((d, t)))
    s(0, 0)
    s(0, 0)
    s(4, 8)
    s(4, 8)
    s(3, 8)
    s(9, 8)
    s.finish()
    s.finish()
    assert calls == [(4, 8), (8, 8)]
    calls.clear()
    quick = _progress.Steps(lambda d, t: calls.append((d, t)))
    quick(0, 0)
    quick.finish()  # ended before any poll with a total
    assert calls == [(1, 1)]


def test_compare_progress_reaches_the_total_and_never_reports_zero_of_zero():
    # Large enough for the core to poll several times on one thread (about 0.4 s a side); the
    # core's own last poll comes before the end (e.g. 130 of 136).
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(8000)]
    a = Embeddings(words, rng.normal(size=(8000, 128)).astype(np.float32))
    b = Embeddings(words, rng.normal(size=(8000, 128)).astype(np.float32))
    seen: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    compare(a, b, k=[10], threads=1, progress_a=lambda d, t: seen["a"].append((d, t)),
            progress_b=lambda d, t: seen["b"].append((d, t)))  # fmt: skip
    for calls in seen.values():
        assert len(calls) >= 2, calls
        assert all(t > 0 and 0 <= d <= t for d, t in calls)
        assert calls[-1][0] == calls[-1][1]
        assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_bar_ends_at_100_percent_and_ignores_zero_totals(monkeypatch):
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain fallback
    stream = io.StringIO()
    with _progress.Bar("k-NN of A", True, stream=stream) as bar:
        bar(0, 0)
        assert stream.getvalue() == ""
        bar(3, 10)
    text = stream.getvalue()
    assert "\rk-NN of A:  30%" in text and "\rk-NN of A: 100%" in text
    assert text.index("30%") < text.index("100%")
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with _progress.Bar("x", True, stream=stream) as bar:
            bar(1, 10)
            raise KeyboardInterrupt
    assert "100%" not in stream.getvalue()  # an interrupted step does not claim to be done


# --- version and help --------------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nnoverlap {nno.__version__}"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: nnoverlap {name}")
    sub = subcommands()[name]
    assert sub.description and len(sub.description) > 40, f"{name} has no description"
    # Each subcommand is listed with a one-line summary in `nnoverlap --help`.
    top = build_parser().format_help()
    assert name in top


@pytest.mark.parametrize("name", ["compare", "neighbors", "demo"])
def test_every_option_of_the_vocabulary_commands_is_explained(name):
    sub = subcommands()[name]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help text"


def test_python_dash_m_version():
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "nnoverlap", "--version"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.strip() == f"nnoverlap {nno.__version__}"
