"""Which items a map is trained on, and which items its neighbourhoods are measured among.

Three protocols (``PROTOCOLS``), all seeded:

``per-fold`` (the default; the paper's ImageNet protocol)
    k-fold cross-validation; each fold's map predicts its test part, and the neighbourhoods
    are searched **within that test part only** (n = the fold's size). Per-item overlaps of all
    folds are averaged (item-weighted), chance is the item-weighted k/(n_fold − 1).
``split`` (the paper's IAPR TC-12 protocol)
    one map trained on the training part (a seeded ``test_size`` fraction held out, or the
    fixed test rows of explicit train/test files), measured on the test part.
``pooled``
    the out-of-fold predictions of all fold models pooled and searched together (n = all
    items). A query's neighbours then come from several models, not one: the protocol of
    earlier versions, kept for comparison.

:func:`measure_units` measures one map's predictions on a list of units (the evaluated row
sets) with exact neighbours, caching the lists of X and Y per unit.

>>> import numpy as np
>>> design = make_design(10, "per-fold", folds=2, test_size=0.2, seed=0)
>>> [t.size for _, t in design.folds], len(design.units)
([5, 5], 2)
>>> len(make_design(10, "pooled", folds=2, test_size=0.2, seed=0).units[0])
10
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _api

__all__ = [
    "PROTOCOLS",
    "Design",
    "Measured",
    "NeighbourCache",
    "make_design",
    "measure_units",
]

#: The evaluation protocols, the paper's first.
PROTOCOLS = ("per-fold", "split", "pooled")


@dataclass(frozen=True)
class Design:
    """The fits a protocol needs and the units it measures.

    ``folds``: (train rows, test rows) of each fit; ``units``: the row sets measured apart
    (per-fold: each test part; split: the test part; pooled: all rows in one unit).
    """

    protocol: str
    seed: int
    folds: list[tuple[np.ndarray, np.ndarray]]
    units: list[np.ndarray]

    def describe(self) -> str:
        """E.g. ``"per-fold, 5 folds, n = 200 per fold"``."""
        sizes = sorted({int(u.size) for u in self.units})
        n_txt = (
            "–".join(str(s) for s in (sizes[0], sizes[-1]) if s)
            if len(sizes) > 1
            else str(sizes[0])
        )
        if self.protocol == "per-fold":
            return f"per-fold, {len(self.folds)} folds, n = {n_txt} per fold"
        if self.protocol == "pooled":
            return f"pooled out-of-fold predictions of {len(self.folds)} folds, n = {n_txt}"
        return f"split, one map, measured on the n = {n_txt} test items"


def make_design(
    n: int,
    protocol: str,
    *,
    folds: int,
    test_size: float,
    seed: int,
    test_rows: np.ndarray | None = None,
    what: str = "data",
) -> Design:
    """The seeded folds and units of ``protocol`` on ``n`` items (see the module docstring).

    ``test_rows`` fixes the split (explicit train/test files); only ``"split"`` may use it.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    rng = np.random.default_rng(seed)
    if protocol == "split":
        if test_rows is not None:
            test = np.unique(np.asarray(test_rows))
        else:
            if not 0.0 < float(test_size) < 1.0:
                raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
            n_test = int(round(float(test_size) * n))
            if n_test < 3 or n - n_test < 2:
                raise ValueError(
                    f"{what}: test_size {test_size} of {n} items leaves {n_test} test and "
                    f"{n - n_test} training items; need at least 3 and 2"
                )
            test = np.sort(rng.permutation(n)[:n_test])
        train = np.setdiff1d(np.arange(n), test)
        return Design(protocol, seed, [(train, test)], [test])
    if test_rows is not None:
        raise ValueError(
            f"{what}: explicit train/test files fix one split; use the split protocol "
            f"(got {protocol!r})"
        )
    if folds < 2 or folds > n // 2:
        raise ValueError(f"{what}: {folds} folds need at least {2 * max(folds, 2)} items, got {n}")
    parts = np.array_split(rng.permutation(n), folds)
    out = []
    for i in range(folds):
        train = np.sort(np.concatenate([p for j, p in enumerate(parts) if j != i]))
        out.append((train, np.sort(parts[i])))
    units = [t for _, t in out] if protocol == "per-fold" else [np.arange(n)]
    return Design(protocol, seed, out, units)


class NeighbourCache:
    """Exact k-NN lists of a set restricted to a unit of rows, computed once per (set, unit)."""

    def __init__(self, metric: str, include_self: bool, threads: int | None) -> None:
        self.metric = metric
        self.include_self = include_self
        self.threads = threads
        self._lists: dict[tuple[str, bytes, int], np.ndarray] = {}

    def search(self, A: np.ndarray, kmax: int) -> np.ndarray:
        """(n, kmax) neighbour indices of the rows of ``A`` within ``A`` (no caching)."""
        return _api.knn(
            A, kmax, metric=self.metric, include_self=self.include_self, threads=self.threads
        ).indices

    def lists(self, name: str, S: np.ndarray, rows: np.ndarray, kmax: int) -> np.ndarray:
        """Neighbour lists of ``S[rows]`` within itself, cached under ``name``."""
        key = (name, np.ascontiguousarray(rows).tobytes(), kmax)
        if key not in self._lists:
            self._lists[key] = self.search(S[rows], kmax)
        return self._lists[key]


@dataclass
class Measured:
    """One map's numbers under one protocol: means over items, per k, and per-item overlaps.

    ``o_fx_x[u]``, ``o_fx_y[u]``, ``o_x_y[u]``: (n_u, len(ks)) overlap counts of unit u, and
    ``lists[u]`` the neighbour lists (f(X), X, Y) that made them (for the permutation null).
    """

    protocol: str
    ks: list[int]
    sizes: list[int]
    fx_x: list[float]
    fx_y: list[float]
    x_y: list[float]
    chance: list[float]
    recall_at_1: float
    recall_at_10: float
    mse: float
    r2: float
    ok: bool = True
    o_fx_x: list[np.ndarray] = field(default_factory=list, repr=False)
    o_fx_y: list[np.ndarray] = field(default_factory=list, repr=False)
    o_x_y: list[np.ndarray] = field(default_factory=list, repr=False)
    lists: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def n(self) -> int:
        """Items measured (all units)."""
        return int(sum(self.sizes))

    def at(self, k: int) -> tuple[float, float, float]:
        """(mNNO(f(X), X), mNNO(f(X), Y), mNNO(X, Y)) at ``k``."""
        i = self.ks.index(k)
        return self.fx_x[i], self.fx_y[i], self.x_y[i]

    def summary(self) -> dict[str, Any]:
        """The JSON-ready numbers (no per-item arrays)."""
        return {
            "protocol": self.protocol,
            "ks": self.ks,
            "unit_sizes": self.sizes,
            "mnno_fx_x": self.fx_x,
            "mnno_fx_y": self.fx_y,
            "mnno_x_y": self.x_y,
            "chance": self.chance,
            "recall_at_1": self.recall_at_1,
            "recall_at_10": self.recall_at_10,
            "mse": self.mse,
            "r2": self.r2,
            "ok": self.ok,
        }


def _usable(P: np.ndarray, metric: str) -> bool:
    if not np.isfinite(P).all():
        return False
    return metric != "cosine" or bool((np.abs(P).max(axis=1) > 0).all())


def measure_units(
    protocol: str,
    units: Sequence[np.ndarray],
    preds: Sequence[np.ndarray],
    X: np.ndarray,
    Y: np.ndarray,
    names: tuple[str, str],
    ks: Sequence[int],
    cache: NeighbourCache,
) -> Measured:
    """Measure predictions ``preds[u]`` of the rows ``units[u]`` (one unit at a time).

    Within each unit: exact neighbours of f(X), X and Y among the unit's rows; per-item
    overlaps at every k; retrieval recall@1 and @10 of the true y_i among the unit's Y rows.
    MSE (over items and dimensions) and R² = 1 − SSE/SST are over all measured rows together.
    Non-finite (or, under cosine, all-zero) predictions give NaN numbers and ``ok = False``.
    """
    ks = [int(k) for k in ks]
    kmax = max(ks)
    sizes = [int(u.size) for u in units]
    total = sum(sizes)
    chance = [sum(s * k / (s - 1) for s in sizes) / total for k in ks]
    xs, ys = [], []
    o_fx_x, o_fx_y, o_x_y, lists = [], [], [], []
    for rows in units:
        ix = cache.lists(names[0], X, rows, kmax)
        iy = cache.lists(names[1], Y, rows, kmax)
        o_x_y.append(np.stack([_api.overlap(ix, iy, k) for k in ks], axis=1))
        xs.append(ix)
        ys.append(iy)
    x_y = [float(sum(o[:, j].sum() for o in o_x_y)) / (k * total) for j, k in enumerate(ks)]
    nan = float("nan")
    if not all(_usable(P, cache.metric) for P in preds):
        return Measured(
            protocol,
            ks,
            sizes,
            [nan] * len(ks),
            [nan] * len(ks),
            x_y,
            chance,
            nan,
            nan,
            nan,
            nan,
            ok=False,
            o_x_y=o_x_y,
        )
    hits1 = hits10 = 0
    sse = 0.0
    Yall = []
    for rows, P, ix, iy in zip(units, preds, xs, ys):
        ip = cache.search(P, kmax)
        o_fx_x.append(np.stack([_api.overlap(ip, ix, k) for k in ks], axis=1))
        o_fx_y.append(np.stack([_api.overlap(ip, iy, k) for k in ks], axis=1))
        lists.append((ip, ix, iy))
        Yu = np.asarray(Y[rows], dtype=np.float64)
        r = min(10, rows.size)
        idx = _api.knn(P, r, base=Yu, metric=cache.metric, threads=cache.threads).indices
        hit = idx == np.arange(rows.size)[:, None]
        hits1 += int(hit[:, 0].sum())
        hits10 += int(hit.any(axis=1).sum())
        err = P - Yu
        sse += float(np.einsum("ij,ij->", err, err))
        Yall.append(Yu)
    Ycat = np.concatenate(Yall)
    centred = Ycat - Ycat.mean(axis=0)
    sst = float(np.einsum("ij,ij->", centred, centred))
    fx_x = [float(sum(o[:, j].sum() for o in o_fx_x)) / (k * total) for j, k in enumerate(ks)]
    fx_y = [float(sum(o[:, j].sum() for o in o_fx_y)) / (k * total) for j, k in enumerate(ks)]
    return Measured(
        protocol,
        ks,
        sizes,
        fx_x,
        fx_y,
        x_y,
        chance,
        hits1 / total,
        hits10 / total,
        sse / Ycat.size,
        1.0 - sse / sst if sst > 0 else nan,
        True,
        o_fx_x,
        o_fx_y,
        o_x_y,
        lists,
    )
