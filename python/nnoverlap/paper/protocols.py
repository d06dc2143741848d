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
from ..measures import Neighbors, measure

__all__ = [
    "EXTRA_MEASURES",
    "PROTOCOLS",
    "Design",
    "Measured",
    "NeighbourCache",
    "make_design",
    "measure_units",
]

#: The evaluation protocols, the paper's first.
PROTOCOLS = ("per-fold", "split", "pooled")

#: The measures of :mod:`nnoverlap.measures` reported beside mNNO, from the same lists.
EXTRA_MEASURES = ("jaccard", "trustworthiness", "cknna", "linear_cka")

#: The three comparisons of every map: (name, first set, second set). Trustworthiness is
#: asymmetric: ``trustworthiness(original, embedding)``, so the original comes first here
#: (X for f(X),X; Y for f(X),Y and X,Y: is f(X), or X, a trustworthy picture of Y?).
COMPARISONS = ("fx_x", "fx_y", "x_y")


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
    """Exact k-NN lists of a set restricted to a unit of rows, computed once per (set, unit).

    The lists are :class:`nnoverlap.Neighbors` (with their vectors), so that every measure of
    :mod:`nnoverlap.measures` reads them without a new search. With ``include_self`` the lists
    that mNNO counts include each item (the paper's released code); the other measures are
    then not computed (they are defined on self-excluded lists).
    """

    def __init__(self, metric: str, include_self: bool, threads: int | None) -> None:
        self.metric = metric
        self.include_self = include_self
        self.threads = threads
        self._lists: dict[tuple[str, bytes, int], Neighbors | np.ndarray] = {}
        #: :func:`extra_measures` of (X, Y) per (names, unit, ks): the same for every map.
        self.extras: dict[Any, dict[str, tuple[np.ndarray | None, list[float]]]] = {}

    def search_nb(self, A: np.ndarray, kmax: int) -> Neighbors | np.ndarray:
        """The lists of the rows of ``A`` within ``A`` (no caching): Neighbors, or (n, kmax)
        indices with ``include_self``."""
        if self.include_self:
            return _api.knn(
                A, kmax, metric=self.metric, include_self=True, threads=self.threads
            ).indices
        arr = np.asarray(A)
        scores, indices = _api.knn(arr, kmax, metric=self.metric, threads=self.threads)
        return Neighbors._trusted(indices, scores, self.metric, arr)

    def search(self, A: np.ndarray, kmax: int) -> np.ndarray:
        """(n, kmax) neighbour indices of the rows of ``A`` within ``A`` (no caching)."""
        return _indices(self.search_nb(A, kmax))

    def neighbours(
        self, name: str, S: np.ndarray, rows: np.ndarray, kmax: int
    ) -> Neighbors | np.ndarray:
        """Lists of ``S[rows]`` within itself (as :meth:`search_nb`), cached under ``name``."""
        key = (name, np.ascontiguousarray(rows).tobytes(), kmax)
        if key not in self._lists:
            self._lists[key] = self.search_nb(S[rows], kmax)
        return self._lists[key]

    def lists(self, name: str, S: np.ndarray, rows: np.ndarray, kmax: int) -> np.ndarray:
        """Neighbour indices of ``S[rows]`` within itself, cached under ``name``."""
        return _indices(self.neighbours(name, S, rows, kmax))


def _indices(nb: Neighbors | np.ndarray) -> np.ndarray:
    return nb.indices if isinstance(nb, Neighbors) else nb


def extra_measures(
    a: Neighbors, b: Neighbors, ks: Sequence[int], metric: str
) -> dict[str, tuple[np.ndarray | None, list[float]]]:
    """Jaccard, trustworthiness and CKNNA of two sets' cached lists at every k.

    Returns, per measure, (per-item values (n, len(ks)) or None, the value per k); NaN where a
    measure is undefined (trustworthiness needs k < n / 2, CKNNA k >= 2 and cosine lists).
    ``a`` is the original for trustworthiness, ``b`` the embedding.
    """
    ks = [int(k) for k in ks]
    nan = float("nan")
    out: dict[str, tuple[np.ndarray | None, list[float]]] = {}
    res = measure(a, b, k=ks, measures=["jaccard"], metric=metric)
    items = np.stack([np.asarray(res["jaccard", k].per_item) for k in ks], axis=1)
    out["jaccard"] = (items, [res["jaccard", k].value for k in ks])
    ok = [k for k in ks if k <= (a.n - 1) // 2]
    items_t = np.full((a.n, len(ks)), nan)
    if ok:
        res = measure(a, b, k=ok, measures=["trustworthiness"], metric=metric)
        for k in ok:
            items_t[:, ks.index(k)] = res["trustworthiness", k].per_item
    out["trustworthiness"] = (items_t, [float(np.mean(c)) for c in items_t.T])
    ok = [k for k in ks if k >= 2] if metric == "cosine" and a.n >= 4 else []
    vals = [nan] * len(ks)
    if ok:
        res = measure(a, b, k=ok, measures=["cknna"], metric=metric)
        for k in ok:
            vals[ks.index(k)] = res["cknna", k].value
    out["cknna"] = (None, vals)
    return out


def _items(part: tuple[np.ndarray | None, list[float]]) -> np.ndarray:
    assert part[0] is not None
    return part[0]


def pooled_extras(
    parts: Sequence[dict[str, tuple[np.ndarray | None, list[float]]]], sizes: Sequence[int]
) -> dict[str, list[float]]:
    """Item-weighted means over units of :func:`extra_measures` (per-item measures over all
    items; CKNNA, which has no per-item values, weighted by unit size)."""
    if not parts:
        return {}
    total = float(sum(sizes))
    out: dict[str, list[float]] = {}
    for name in parts[0]:
        if parts[0][name][0] is not None:
            items = np.concatenate([_items(p[name]) for p in parts])
            out[name] = [float(v) for v in items.mean(axis=0)]
        else:
            vals = np.array([p[name][1] for p in parts], dtype=np.float64)
            w = np.asarray(sizes, dtype=np.float64)[:, None]
            out[name] = [float(v) for v in (vals * w).sum(axis=0) / total]
    return out


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
    #: ``"jaccard_fx_y"`` etc.: :data:`EXTRA_MEASURES` (but linear CKA) per comparison, per k.
    extras: dict[str, list[float]] = field(default_factory=dict)

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
            "extras": self.extras,
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
    parts: dict[str, list[dict[str, tuple[np.ndarray | None, list[float]]]]] = {
        c: [] for c in COMPARISONS
    }
    total = sum(sizes)
    chance = [sum(s * k / (s - 1) for s in sizes) / total for k in ks]
    xs, ys = [], []
    o_fx_x, o_fx_y, o_x_y, lists = [], [], [], []
    nbs = []
    for rows in units:
        nx = cache.neighbours(names[0], X, rows, kmax)
        ny = cache.neighbours(names[1], Y, rows, kmax)
        nbs.append((nx, ny))
        if isinstance(nx, Neighbors) and isinstance(ny, Neighbors):
            key = (names, np.ascontiguousarray(rows).tobytes(), tuple(ks))
            if key not in cache.extras:
                cache.extras[key] = extra_measures(ny, nx, ks, cache.metric)
            parts["x_y"].append(cache.extras[key])
        ix, iy = _indices(nx), _indices(ny)
        o_x_y.append(np.stack([_api.overlap(ix, iy, k) for k in ks], axis=1))
        xs.append(ix)
        ys.append(iy)
    x_y = [float(sum(o[:, j].sum() for o in o_x_y)) / (k * total) for j, k in enumerate(ks)]
    xy_extras = {f"{n}_x_y": v for n, v in pooled_extras(parts["x_y"], sizes).items()}
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
            extras=xy_extras,
        )
    hits1 = hits10 = 0
    sse = 0.0
    Yall = []
    for rows, P, ix, iy, (nx, ny) in zip(units, preds, xs, ys, nbs):
        npred = cache.search_nb(P, kmax)
        ip = _indices(npred)
        if isinstance(npred, Neighbors):
            assert isinstance(nx, Neighbors) and isinstance(ny, Neighbors)
            parts["fx_x"].append(extra_measures(nx, npred, ks, cache.metric))
            parts["fx_y"].append(extra_measures(ny, npred, ks, cache.metric))
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
    extras = {
        f"{name}_{c}": values
        for c in ("fx_x", "fx_y")
        for name, values in pooled_extras(parts[c], sizes).items()
    }
    extras.update(xy_extras)
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
        extras,
    )
