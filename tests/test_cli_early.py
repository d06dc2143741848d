"""The command line fails before the work, and its advice names its own flags.

Each bad output path, a missing input or a missing matplotlib ends the command with status 2
and one line on stderr *before any file is loaded* (the loader is replaced by one that fails
the test). The Python functions that write check their paths the same way. Library messages
that advise keyword arguments (``duplicates="first"``) reach the user as flags
(``--duplicates first``), and the flags exist and work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap import Embeddings, _commands
from nnoverlap.cli import main
from nnoverlap.report import (
    check_output_dir,
    check_output_file,
    compare,
    require_matplotlib,
    write_plots,
)


def run(capsys, *argv: object) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def small_pair(tmp_path) -> tuple[Path, Path]:
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(30)]
    Embeddings(words, rng.normal(size=(30, 4)).astype(np.float32)).save(tmp_path / "a.bin")
    Embeddings(words, rng.normal(size=(30, 6)).astype(np.float32)).save(tmp_path / "b.vec")
    return tmp_path / "a.bin", tmp_path / "b.vec"


@pytest.fixture
def no_loading(monkeypatch):
    """Fails the test if the command loads any file."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a file was loaded before the check: {args[:1]}")

    monkeypatch.setattr(_commands, "load", refuse)


def one_line_error(rc: int, out: str, err: str) -> str:
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnoverlap: error: "), err
    return lines[0]


# --- output paths, before loading ------------------------------------------------------------


def test_json_in_a_missing_directory_fails_before_loading(small_pair, tmp_path, capsys, no_loading):
    target = tmp_path / "missing" / "dir" / "x.json"
    line = one_line_error(*run(capsys, "compare", *small_pair, "--json", target))
    assert f"--json {target}" in line and f"the directory {target.parent} does not exist" in line
    assert "Errno" not in line
    assert not (tmp_path / "missing").exists()


def test_csv_that_is_a_directory_fails_before_loading(small_pair, tmp_path, capsys, no_loading):
    line = one_line_error(*run(capsys, "compare", *small_pair, "--csv", tmp_path))
    assert f"--csv {tmp_path}: is a directory" in line


def test_output_below_a_file_fails_before_loading(small_pair, tmp_path, capsys, no_loading):
    line = one_line_error(*run(capsys, "compare", *small_pair, "--json", small_pair[0] / "x.json"))
    assert f"{small_pair[0]} is not a directory" in line


def test_plot_dir_that_is_a_file_fails_before_loading(small_pair, capsys, no_loading):
    line = one_line_error(*run(capsys, "compare", *small_pair, "--plot", small_pair[1]))
    assert f"--plot {small_pair[1]}: exists and is not a directory" in line


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc accepts no new files")
def test_unwritable_output_directory_fails_before_loading(small_pair, capsys, no_loading):
    # /proc exists but takes no new files, whoever we are (chmod does not stop root).
    line = one_line_error(*run(capsys, "compare", *small_pair, "--json", "/proc/nnoverlap.json"))
    assert "--json /proc/nnoverlap.json: cannot create files in /proc" in line
    line = one_line_error(*run(capsys, "demo", "--plot", "/proc/nnoverlap-plots"))
    assert "--plot /proc/nnoverlap-plots: cannot create it in /proc" in line


def test_plot_without_matplotlib_names_the_extra_before_loading(
    small_pair, tmp_path, capsys, monkeypatch, no_loading
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    line = one_line_error(*run(capsys, "compare", *small_pair, "--plot", tmp_path / "p"))
    assert 'pip install "nnoverlap[plot]"' in line and "--plot" in line
    assert not (tmp_path / "p").exists()
    line = one_line_error(*run(capsys, "demo", "--plot", tmp_path / "p", "-q"))
    assert 'pip install "nnoverlap[plot]"' in line


def test_missing_second_input_fails_before_the_first_is_loaded(small_pair, tmp_path, capsys,
                                                               no_loading):  # fmt: skip
    line = one_line_error(*run(capsys, "compare", small_pair[0], tmp_path / "nope.vec"))
    assert f"B {tmp_path / 'nope.vec'}: no such file" in line
    line = one_line_error(*run(capsys, "neighbors", tmp_path, "cat"))
    assert "is a directory" in line


def test_json_and_csv_on_the_same_file_fail_before_loading(small_pair, tmp_path, capsys,
                                                           no_loading):  # fmt: skip
    out = tmp_path / "same"
    line = one_line_error(*run(capsys, "compare", *small_pair, "--json", out, "--csv", out))
    assert "--json and --csv name the same file" in line


def test_good_outputs_pass_the_checks_and_are_written(small_pair, tmp_path, capsys):
    out = tmp_path / "new" / "deeper"
    rc, _, _ = run(capsys, "compare", *small_pair, "-k", "3", "--json", tmp_path / "s.json",
                   "--plot", out, "-q")  # fmt: skip
    assert rc == 0 and json.loads((tmp_path / "s.json").read_text())["n"] == 30
    if "matplotlib" in sys.modules or _has_matplotlib():
        assert (out / "overlap_histogram.png").exists()


def _has_matplotlib() -> bool:
    try:
        require_matplotlib()
    except ImportError:
        return False
    return True


# --- the Python functions that write ---------------------------------------------------------


def small_comparison() -> nno.report.Comparison:
    rng = np.random.default_rng(0)
    e = Embeddings([f"w{i}" for i in range(20)], rng.normal(size=(20, 3)))
    return compare(e, e, k=[1, 3])


def test_python_writers_check_their_paths_first(tmp_path):
    c = small_comparison()
    with pytest.raises(FileNotFoundError, match="the directory .*missing does not exist"):
        c.write_json(tmp_path / "missing" / "s.json")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        c.write_csv(tmp_path)
    with pytest.raises(NotADirectoryError, match="exists and is not a directory"):
        (tmp_path / "f").write_text("x")
        write_plots(c, tmp_path / "f")
    assert (tmp_path / "f").read_text() == "x"
    assert not (tmp_path / "missing").exists()
    with pytest.raises(FileNotFoundError, match="--json"):
        check_output_file(tmp_path / "a" / "b.json", "--json")
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_write_plots_without_matplotlib_raises_import_error_naming_the_extra(tmp_path, monkeypatch):
    c = small_comparison()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "nnoverlap\[plot\]"'):
        write_plots(c, tmp_path / "plots")
    assert not (tmp_path / "plots").exists()


# --- advice in CLI flags, and the flags work ----------------------------------------------------


def test_duplicate_word_advice_names_the_flag_which_works(tmp_path, capsys):
    f = tmp_path / "dup.txt"
    f.write_text("cat 1 0\ndog 0 1\ncat 1 1\nemu 2 1\n")
    line = one_line_error(*run(capsys, "neighbors", f, "dog", "-k", "1", "-q"))
    assert "--duplicates first or --duplicates last" in line and "duplicates=" not in line
    rc, out, _ = run(capsys, "neighbors", f, "dog", "-k", "1", "--duplicates", "last", "-q")
    assert rc == 0 and out.splitlines()[2].split()[1] == "cat"  # (1, 1) is dog's nearest
    rc, out, _ = run(capsys, "neighbors", f, "dog", "-k", "1", "--duplicates", "first", "-q")
    assert rc == 0 and out.splitlines()[2].split()[1] == "emu"  # (1, 0) is not


def test_invalid_utf8_advice_names_the_flag_which_works(tmp_path, capsys):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"caf\xe9 1 0\ndog 0 1\nemu 1 1\n")
    line = one_line_error(*run(capsys, "neighbors", f, "dog", "-k", "1", "-q"))
    assert "--errors replace" in line and "errors=" not in line and "line 1" in line
    rc, out, _ = run(capsys, "neighbors", f, "dog", "-k", "2", "--errors", "replace", "-q")
    assert rc == 0 and "caf\ufffd" in out


def test_npy_words_file_advice_names_the_flag_which_works(tmp_path, capsys):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "v.npy", rng.normal(size=(5, 3)).astype(np.float32))
    (tmp_path / "names.txt").write_text("a\nb\nc\nd\ne\n")
    line = one_line_error(*run(capsys, "compare", tmp_path / "v.npy", tmp_path / "v.npy", "-k",
                               "1", "-q"))  # fmt: skip
    assert "--words-a" in line and "words=" not in line
    line = one_line_error(*run(capsys, "neighbors", tmp_path / "v.npy", "a", "-k", "1", "-q"))
    assert "--words" in line and "words=" not in line
    names = tmp_path / "names.txt"
    rc, _, _ = run(capsys, "compare", tmp_path / "v.npy", tmp_path / "v.npy", "-k", "1",
                   "--words-a", names, "--words-b", names, "-q")  # fmt: skip
    assert rc == 0
    rc, out, _ = run(capsys, "neighbors", tmp_path / "v.npy", "a", "-k", "2", "--words", names)
    assert rc == 0 and "nearest neighbours of 'a'" in out


def test_overflow_advice_names_dtype_which_works(tmp_path, capsys):
    v = np.array([[1e20, 1.0], [1.0, 2.0], [2.0, 1.0], [3.0, 3.0]], dtype=np.float32)
    Embeddings(["big", "b", "c", "d"], v).save(tmp_path / "o.bin")
    # Inner products of such values overflow float32 (cosine normalises the rows first).
    argv = ["neighbors", tmp_path / "o.bin", "b", "-k", "2", "--metric", "ip", "-q"]
    line = one_line_error(*run(capsys, *argv))
    assert "--dtype float64" in line and "pass float64" not in line
    rc, _, _ = run(capsys, *argv, "--dtype", "float64")
    assert rc == 0


def test_cli_advice_rewrites_keyword_arguments_into_flags():
    from nnoverlap._commands import cli_advice

    assert cli_advice("use metric='ip' or 'l2'") == "use --metric ip or --metric l2"
    assert cli_advice('read it with format="glove")') == "read it with --format glove)"
    assert cli_advice("pass drop_nonfinite=True or drop_zero=True") == (
        "pass --drop-nonfinite or --drop-zero"
    )
    assert cli_advice("x\ny") == "x y"  # one line
