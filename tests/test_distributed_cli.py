"""``nnoverlap compare --scheduler ADDR`` and ``--workers N``: the same report as one machine."""

from __future__ import annotations

import json

import pytest

from nnoverlap import Embeddings
from nnoverlap._commands import imagenet_pair
from nnoverlap.cli import main

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    visual, text = imagenet_pair()
    words = [w.replace(" ", "_") for w in visual.words]
    Embeddings(words, visual.vectors).save(d / "visual.bin")
    Embeddings(words, text.vectors).save(d / "text.txt", format="glove")
    return d / "visual.bin", d / "text.txt"


def run_compare(capsys, files, out, *extra: str) -> tuple[int, dict, str]:
    a, b = files
    rc = main(["compare", str(a), str(b), "-k", "1", "10", "--json", str(out), "--quiet", *extra])
    text, _ = capsys.readouterr()
    return rc, json.loads(out.read_text()), text


def test_compare_on_a_scheduler_and_on_local_workers_gives_the_same_report(pair, tmp_path, capsys):
    rc, want, text = run_compare(capsys, pair, tmp_path / "one.json")
    assert rc == 0
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    try:
        rc, got, got_text = run_compare(
            capsys, pair, tmp_path / "s.json", "--scheduler", cluster.scheduler_address
        )
    finally:
        cluster.close()
    assert rc == 0 and got == want and got_text == text
    rc, got, got_text = run_compare(capsys, pair, tmp_path / "w.json", "--workers", "1")
    assert rc == 0 and got == want and got_text == text


def test_scheduler_and_workers_exclude_each_other(pair, capsys):
    with pytest.raises(SystemExit) as e:
        main(["compare", str(pair[0]), str(pair[1]), "--scheduler", "tcp://x:1", "--workers", "2"])
    assert e.value.code == 2
    assert "not allowed with" in capsys.readouterr().err
