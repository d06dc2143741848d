"""The int8 screened self-join (screen="on") gives the unscreened result bit for bit.

The screen (src/kernel/screen.rs, docs/screening.md) scores each pair with an int8 product plus
a proven bound and recomputes exactly only the pairs that can enter a top-k. Small blocks make
many tiles and rounds run screened; the data is adversarial for the bound: near-ties,
duplicates, rows spanning many orders of magnitude, tiny rows, values at the int8 rounding
boundary. On a CPU without AVX-512 VNNI the screen is off and these tests compare the
unscreened path with itself (the tests that need the screen to run say so and skip).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnoverlap as nno
from nnoverlap import _core

needs_screen = pytest.mark.skipif(not _core.SCREEN, reason="no AVX-512 VNNI on this CPU")


def adversarial_rows(rng: np.random.Generator, n: int, d: int, kind: str) -> np.ndarray:
    x = rng.standard_normal((n, d))
    if kind == "dynamic":
        # each entry scaled by 10^[-15, 15]: int8 keeps only the largest of a row
        x *= 10.0 ** rng.uniform(-15, 15, size=(n, d))
    elif kind == "near_ties":
        x = x[:1] + 1e-6 * rng.standard_normal((n, d))
    elif kind == "duplicates":
        x = x[rng.integers(0, max(1, n // 4), n)]
    elif kind == "boundary":
        # values at k + 1/2 steps of the row's int8 scale: the rounding is maximally wrong
        s = np.abs(x).max(axis=1, keepdims=True) / 127.0
        x = (np.round(x / s) + 0.5 * np.sign(x)).clip(-127, 127) * s
    elif kind == "tiny_and_huge":
        # whole rows of 1e-30 or 1e30 (cosine scales each row), and rows with one entry
        x *= 10.0 ** rng.choice([-30.0, 0.0, 30.0], size=(n, 1))
        one = rng.random(n) < 0.2
        x[one] = 0.0
        x[one, rng.integers(0, d, one.sum())] = 1.0
    elif kind == "clustered":
        c = rng.standard_normal((4, d))
        x = c[rng.integers(0, 4, n)] + 0.05 * x
    x = x.astype(np.float32)
    x[np.abs(x).sum(axis=1) == 0, 0] = 1.0  # cosine needs nonzero rows
    return x


KINDS = ["gauss", "dynamic", "near_ties", "duplicates", "boundary", "tiny_and_huge", "clustered"]


@st.composite
def cases(draw):
    n = draw(st.integers(20, 180))
    d = draw(st.one_of(st.integers(1, 80), st.sampled_from([127, 300, 1040, 1100])))
    k = draw(st.one_of(st.integers(1, 8), st.integers(1, n - 1)))
    block = draw(st.sampled_from([16, 32, 48]))
    kind = draw(st.sampled_from(KINDS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    include_self = draw(st.booleans())
    return adversarial_rows(rng, n, d, kind), k, block, include_self


def assert_same(a: nno.KnnResult, b: nno.KnnResult, what: str) -> None:
    assert np.array_equal(a.indices, b.indices), what
    sa, sb = np.asarray(a.scores), np.asarray(b.scores)
    assert np.array_equal(sa.view(np.uint32), sb.view(np.uint32)), what


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_screen_on_equals_off_bit_for_bit(case) -> None:
    x, k, block, include_self = case
    off = nno.knn(x, k, include_self=include_self, screen="off", _block=block)
    on = nno.knn(x, k, include_self=include_self, screen="on", _block=block)
    assert_same(on, off, f"n={len(x)} d={x.shape[1]} k={k} block={block}")


@needs_screen
@pytest.mark.parametrize("threads", [1, 2])
def test_screen_runs_and_recomputes_few_pairs_on_clustered_rows(threads: int) -> None:
    """The screen really runs (most pairs screened, few recomputed) and changes nothing."""
    x = adversarial_rows(np.random.default_rng(1), 2000, 64, "gauss")
    off = nno.knn(x, 5, threads=threads, screen="off", _block=128)
    before = _core._screen_counters()
    on = nno.knn(x, 5, threads=threads, screen="on", _block=128)
    screened, recomputed = (a - b for a, b in zip(_core._screen_counters(), before))
    assert screened > 0.5 * 2000 * 2000 / 2
    assert 0 < recomputed < 0.2 * screened
    assert_same(on, off, "gauss 2000 x 64")


@needs_screen
def test_screen_off_and_other_paths_never_screen() -> None:
    """off never screens; nor do float64, "ip", "l2" and queries, even with "on"."""
    x = adversarial_rows(np.random.default_rng(2), 300, 16, "gauss")
    before = _core._screen_counters()
    nno.knn(x, 3, screen="off", _block=32)
    nno.knn(x.astype(np.float64), 3, screen="on", _block=32)
    nno.knn(x, 3, metric="ip", screen="on", _block=32)
    nno.knn(x, 3, metric="l2", screen="on", _block=32)
    nno.knn(x[:50], 3, base=x, screen="on", _block=32)
    assert _core._screen_counters() == before


def test_screen_on_equals_off_for_float64_metrics_and_queries() -> None:
    x = adversarial_rows(np.random.default_rng(3), 200, 9, "duplicates")
    for kw in [{"metric": "ip"}, {"metric": "l2"}, {"base": x[:70]}]:
        assert_same(
            nno.knn(x, 4, screen="on", _block=32, **kw),
            nno.knn(x, 4, screen="off", _block=32, **kw),
            str(kw),
        )
    x64 = x.astype(np.float64)
    a = nno.knn(x64, 4, screen="on", _block=32)
    b = nno.knn(x64, 4, screen="off", _block=32)
    assert np.array_equal(a.indices, b.indices) and np.array_equal(a.scores, b.scores)


def test_screen_rejects_unknown_values_naming_the_option() -> None:
    x = np.eye(4, dtype=np.float32)
    with pytest.raises(ValueError, match="screen"):
        nno.knn(x, 1, screen="fast")
    with pytest.raises(TypeError):
        nno.knn(x, 1, screen=True)  # type: ignore[arg-type]


def test_screen_on_reports_bad_rows_as_off_does() -> None:
    """A zero row under cosine is the same error with the screen on."""
    x = adversarial_rows(np.random.default_rng(4), 100, 8, "gauss")
    x[57] = 0.0
    msgs = []
    for s in ["on", "off"]:
        with pytest.raises(ValueError, match="57") as e:
            nno.knn(x, 3, screen=s, _block=16)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_screen_on_falls_back_silently_where_the_kernel_is_capped_below_avx512() -> None:
    """NNOVERLAP_KERNEL=avx2 (as on a CPU without AVX-512 VNNI): "on" runs unscreened, with
    the same result, and no pair is screened."""
    code = (
        "import numpy as np, nnoverlap as nno\n"
        "from nnoverlap import _core\n"
        "x = np.random.default_rng(5).standard_normal((400, 20)).astype(np.float32)\n"
        "a = nno.knn(x, 4, screen='on', _block=32)\n"
        "b = nno.knn(x, 4, screen='off', _block=32)\n"
        "assert not _core.SCREEN\n"
        "assert _core._screen_counters() == (0, 0)\n"
        "assert (a.indices == b.indices).all()\n"
        "assert (a.scores.view(np.uint32) == b.scores.view(np.uint32)).all()\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NNOVERLAP_KERNEL="avx2")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


@needs_screen
def test_screen_keeps_every_tie_at_the_kth_best() -> None:
    """Many exact ties at the k-th best (rows on a coarse grid, duplicated): a tie with the
    threshold must still be recomputed and enter through the lower index."""
    rng = np.random.default_rng(6)
    base = rng.integers(-2, 3, size=(40, 12)).astype(np.float32)
    x = base[rng.integers(0, 40, 1200)]
    x[np.abs(x).sum(axis=1) == 0, 0] = 1.0
    for k in [1, 7, 30]:
        assert_same(
            nno.knn(x, k, screen="on", _block=64),
            nno.knn(x, k, screen="off", _block=64),
            f"k={k}",
        )
