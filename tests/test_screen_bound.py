"""The screening bound of docs/screening.md holds against the core's exact float32 keys.

benches/screen_survivors.py measures survivor fractions with an upper bound on each pair's
exact cosine key from int8 or bf16 quantised rows (Cauchy-Schwarz on the quantisation error
plus the float32 chain's own rounding). A screen built on it is only exact if no pair's key
ever exceeds its bound: checked here on every pair of adversarial float32 sets (near-ties,
duplicates, rows spanning many orders of magnitude, rows at the int8 rounding boundary),
with the core's own keys from a full self-join (k = n - 1).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nnoverlap as nno

BENCH = Path(__file__).resolve().parents[1] / "benches" / "screen_survivors.py"


def _bench():
    spec = importlib.util.spec_from_file_location("screen_survivors", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ss = _bench()
SLACK = 4e-7  # as in screen_survivors.measure


def upper_bounds(x: np.ndarray, quant: str) -> np.ndarray:
    """ub[i, j] >= the exact float32 cosine key of rows i, j (docs/screening.md)."""
    u = ss.unit_rows(x)
    assert len(u) == len(x), "test data must have finite nonzero rows"
    xh, e, nh = ss.QUANTS[quant](u)
    norm = np.linalg.norm(u.astype(np.float64), axis=1)
    g = ss.gamma(u.shape[1])
    w = e[:, None] * norm[None, :] + nh[:, None] * e[None, :] + g * np.outer(norm, norm)
    if quant == "bf16":
        w += g * np.outer(nh, nh) + u.shape[1] * 2.0**-126
    return np.maximum(xh @ xh.T + w + SLACK, -1.0)


def core_keys(x: np.ndarray) -> np.ndarray:
    """Every pair's key from the core (self excluded): a full self-join, k = n - 1."""
    n = len(x)
    res = nno.knn(x, k=n - 1)
    keys = np.full((n, n), np.nan)
    np.put_along_axis(keys, np.asarray(res.indices), np.asarray(res.scores, dtype=np.float64), 1)
    return keys


@st.composite
def adversarial(draw) -> np.ndarray:
    n = draw(st.integers(3, 24))
    d = draw(st.integers(1, 48))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["gauss", "dynamic", "near_ties", "duplicates", "boundary"]))
    x = rng.standard_normal((n, d))
    if kind == "dynamic":
        # each entry scaled by 10^[-12, 12]: int8 keeps only the largest of a row
        x *= 10.0 ** rng.uniform(-12, 12, size=(n, d))
    elif kind == "near_ties":
        x = x[:1] + 1e-6 * rng.standard_normal((n, d))
    elif kind == "duplicates":
        x = x[rng.integers(0, max(1, n // 3), n)]
    elif kind == "boundary":
        # values at k + 1/2 steps of the row's int8 scale: the rounding is maximally wrong
        s = np.abs(x).max(axis=1, keepdims=True) / 127.0
        x = (np.round(x / s) + 0.5 * np.sign(x)).clip(-127, 127) * s
    x = x.astype(np.float32)
    # cosine needs nonzero rows
    x[np.abs(x).sum(axis=1) == 0, 0] = 1.0
    return x


@pytest.mark.parametrize("quant", ["int8", "bf16"])
@given(x=adversarial())
def test_screen_bound_covers_every_exact_key(quant: str, x: np.ndarray) -> None:
    keys = core_keys(x)
    ub = upper_bounds(x, quant)
    off = ~np.eye(len(x), dtype=bool)
    bad = off & ~(keys <= ub)
    assert not bad.any(), (
        f"{quant}: key above its bound at pairs {np.argwhere(bad)[:5].tolist()}: "
        f"keys {keys[bad][:5]}, bounds {ub[bad][:5]}"
    )


def test_screen_bound_is_tight_enough_to_screen() -> None:
    """The bound must also reject: on random unit rows (d = 300) the int8 bound's median width
    stays below 0.05 in cosine units, so most pairs fall below a k-NN threshold."""
    x = np.random.default_rng(0).standard_normal((200, 300)).astype(np.float32)
    u = ss.unit_rows(x)
    ub = upper_bounds(x, "int8")
    exact = u.astype(np.float64) @ u.astype(np.float64).T
    width = (ub - exact)[~np.eye(200, dtype=bool)]
    assert 0 < np.median(width) < 0.05
