"""The two experiments of Collell & Moens (ACL 2018), with controls and uncertainty.

Experiment 1 (:func:`run_mappings`)
    For each direction (X→Y and Y→X) and each map (ridge with its λ chosen by leave-one-out on
    the training part; a linear layer trained with the cosine or ranking loss; nets with 1
    hidden layer and every loss; nets of depth 0–5 with mse for the depth curve), predictions
    of held-out items under each protocol of :mod:`nnoverlap.paper.protocols`, measured at
    every k: mNNO(f(X), X), mNNO(f(X), Y), mNNO(X, Y), chance, Jaccard, recall, R²; bootstrap
    intervals of each mNNO and of the differences mNNO(f(X), X) − mNNO(f(X), Y) and
    mNNO(f(X), Y) − mNNO(X, Y); permutation-null p-values; linear CKA. Controls, for the
    control maps (ridge and the 1-hidden-layer mse net by default): maps trained on shuffled
    pairs, in-sample numbers (each fold's map on as many of its own training items as its test
    part has), and further CV seeds.

Experiment 2 (:func:`run_depths`)
    Untrained nets of depth 0–5 (relu, tanh, sigmoid; several seeds) applied to each set,
    standardised (columns to mean 0, sd 1: the default) and as given, side by side:
    mNNO(f(X), X) against depth.

:func:`reproduce` runs both on several pairs and returns a
:class:`~nnoverlap.paper.report.Report`.

>>> import numpy as np
>>> from nnoverlap.paper import PairedSet, ReproduceConfig, run_mappings
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((60, 8)); Y = X @ rng.standard_normal((8, 5))
>>> cfg = ReproduceConfig.quick(ks=(5,), settings=("linear-mse",), depths=())
>>> rows = run_mappings(PairedSet("toy", "x", "y", X, Y), cfg)
>>> sorted({(r.direction, r.variant) for r in rows})[:2]
[('x→y', 'in-sample'), ('x→y', 'main')]
>>> main = [r for r in rows if r.variant == "main" and r.direction == "x→y"][0]
>>> main.fx_y[0] > 0.9  # Y = X W exactly: the map recovers Y's neighbourhoods
True
"""

from __future__ import annotations

import math
import sys
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .. import _api
from ..mapping import ACTIVATIONS, LOSSES, untrained_map
from ..measures import linear_cka, paired_bootstrap, stratified_permutation_test
from .data import PairedSet
from .maps import (
    NetSettings,
    Setting,
    blas_threads,
    default_workers,
    fit_predict,
    have_threadpoolctl,
    standardise,
)
from .maps import (
    activation_name as _activation,
)
from .protocols import PROTOCOLS, Design, Measured, NeighbourCache, make_design, measure_units

if TYPE_CHECKING:
    from .report import Report

__all__ = [
    "DEFAULT_KS",
    "CURVE_KS",
    "DepthPoint",
    "MapRow",
    "ReproduceConfig",
    "parse_setting",
    "reproduce",
    "run_depths",
    "run_mappings",
]

#: The k of the tables when the user gives none (those <= n - 1 of the smallest unit).
DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 50)
#: The k of the k-curve (mNNO against k/n), added to the measured k.
CURVE_KS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100)
#: Maps of experiment 1 by default: ridge, linear layers and 1-hidden-layer nets, every loss.
DEFAULT_SETTINGS: tuple[str, ...] = (
    "linear-mse",
    "linear-cosine",
    "linear-ranking",
    "mlp1-mse",
    "mlp1-cosine",
    "mlp1-ranking",
)
#: Maps that also get the shuffled-pair control and the further CV seeds.
DEFAULT_CONTROLS: tuple[str, ...] = ("linear-mse", "mlp1-mse")


def parse_setting(key: str) -> Setting:
    """``"linear-mse"``, ``"mlp2-ranking"``, ... as a :class:`~nnoverlap.paper.maps.Setting`.

    >>> parse_setting("mlp2-cosine")
    Setting(model='mlp', loss='cosine', depth=2)
    """
    model, _, loss = str(key).partition("-")
    if loss not in LOSSES:
        raise ValueError(f"map {key!r}: the loss must be one of {', '.join(LOSSES)}")
    if model == "linear":
        return Setting("linear", loss, 0)
    if model.startswith("mlp") and model[3:].isdigit() and 0 <= int(model[3:]) <= 5:
        return Setting("mlp", loss, int(model[3:]))
    raise ValueError(
        f"map {key!r}: expected linear-LOSS or mlpD-LOSS with D in 0..5 (mlp0: a linear layer "
        "trained by Adam)"
    )


@dataclass(frozen=True)
class ReproduceConfig:
    """Every setting of the two experiments (all of it goes into the JSON report).

    Evaluation: ``protocols`` (the first is the headline; see
    :mod:`~nnoverlap.paper.protocols`), ``folds`` and ``test_size``; ``seeds`` the CV seeds
    (the first is the main run; the others repeat the ``controls`` maps); ``ks`` the k of the
    tables (None: :data:`DEFAULT_KS` that fit), ``curve_ks`` the k-curve's; ``metric``,
    ``include_self`` (the paper's released code counted each item as its own neighbour),
    ``threads`` for the k-NN core. ``bootstrap`` resamples and ``permutations`` of the null.

    Maps: ``settings`` (keys such as ``"linear-mse"``, ``"mlp1-ranking"``), ``depths`` the
    hidden layers of the trained depth curve (mse; depth 0 is a linear layer trained by Adam),
    ``controls`` the maps that get the shuffled-pair control and the further seeds; ``net``
    how nets train (:class:`~nnoverlap.paper.maps.NetSettings`).

    Experiment 2: ``untrained_depths``, ``depth_width``, ``depth_activations``, ``depth_seeds``,
    ``depth_rows`` (a seeded subset of larger sets), ``scalings`` (``"standardised"`` first by
    default, and ``"raw"``). ``mappings=False`` / ``depth=False`` skip an experiment.
    ``workers`` folds train at once (None: 2 with threadpoolctl on 2+ cores).
    """

    protocols: tuple[str, ...] = ("per-fold",)
    folds: int = 5
    test_size: float = 0.2
    seeds: tuple[int, ...] = (0, 1, 2)
    ks: tuple[int, ...] | None = None
    curve_ks: tuple[int, ...] = CURVE_KS
    metric: str = "cosine"
    include_self: bool = False
    threads: int | None = None
    bootstrap: int = 1000
    permutations: int = 200
    settings: tuple[str, ...] = DEFAULT_SETTINGS
    depths: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    controls: tuple[str, ...] = DEFAULT_CONTROLS
    net: NetSettings = field(default_factory=NetSettings)
    mappings: bool = True
    depth: bool = True
    untrained_depths: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    depth_width: int = 300
    depth_activations: tuple[str, ...] = ("relu", "tanh", "sigmoid")
    depth_seeds: int = 3
    depth_rows: int | None = 2000
    scalings: tuple[str, ...] = ("standardised", "raw")
    workers: int | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        def ints(name: str, low: int, high: int | None = None, empty: bool = False) -> None:
            vals = tuple(getattr(self, name))
            bad = [
                v
                for v in vals
                if isinstance(v, bool)
                or not isinstance(v, (int, np.integer))
                or v < low
                or (high is not None and v > high)
            ]
            if bad or (not vals and not empty):
                rng = f"{low}..{high}" if high is not None else f">= {low}"
                raise ValueError(f"{name} must be integers {rng}, got {list(vals)!r}")
            object.__setattr__(self, name, tuple(int(v) for v in vals))

        def one(name: str, low: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")

        protos = tuple(self.protocols)
        if not protos or any(p not in PROTOCOLS for p in protos):
            raise ValueError(f"protocols must be some of {', '.join(PROTOCOLS)}, got {protos!r}")
        object.__setattr__(self, "protocols", tuple(dict.fromkeys(protos)))
        one("folds", 2)
        if not 0.0 < float(self.test_size) < 1.0:
            raise ValueError(f"test_size must be a fraction in (0, 1), got {self.test_size!r}")
        ints("seeds", 0)
        object.__setattr__(self, "seeds", tuple(dict.fromkeys(self.seeds)))
        if self.ks is not None:
            ints("ks", 1)
            object.__setattr__(self, "ks", tuple(sorted(set(self.ks))))
        ints("curve_ks", 1, empty=True)
        object.__setattr__(self, "curve_ks", tuple(sorted(set(self.curve_ks))))
        if self.metric not in _api.METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of {_api.METRICS}")
        one("bootstrap", 1)
        one("permutations", 1)
        for name in ("settings", "controls"):
            keys = tuple(dict.fromkeys(getattr(self, name)))
            for key in keys:
                parse_setting(key)
            object.__setattr__(self, name, keys)
        if not self.settings and not self.depths:
            raise ValueError("settings and depths are both empty: no map to train")
        ints("depths", 0, 5, empty=True)
        ints("untrained_depths", 0, 5)
        acts = tuple(self.depth_activations)
        if not acts or any(a not in ACTIVATIONS for a in acts):
            raise ValueError(f"depth_activations must be a non-empty subset of {ACTIVATIONS}")
        object.__setattr__(self, "depth_activations", acts)
        scal = tuple(self.scalings)
        if not scal or any(s not in ("standardised", "raw") for s in scal):
            raise ValueError(f"scalings must be some of 'standardised', 'raw', got {scal!r}")
        one("depth_width", 1)
        one("depth_seeds", 1)
        if self.depth_rows is not None:
            one("depth_rows", 4)
        if self.threads is not None:
            one("threads", 1)
        if self.workers is not None:
            one("workers", 1)
        if not isinstance(self.net, NetSettings):
            raise TypeError("net must be a NetSettings")

    @classmethod
    def quick(cls, **kw: Any) -> ReproduceConfig:
        """Small, fast settings (for tests and a first look); ``kw`` overrides any of them."""
        base: dict[str, Any] = {
            "folds": 2,
            "seeds": (0,),
            "bootstrap": 100,
            "permutations": 20,
            "curve_ks": (),
            "net": NetSettings(hidden=32, max_epochs=8, patience=2),
            "depths": (0, 2),
            "untrained_depths": (0, 2),
            "depth_width": 32,
            "depth_seeds": 2,
            "depth_activations": ("relu", "tanh"),
            "quiet": True,
        }
        base.update(kw)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = (
                v.to_dict()
                if isinstance(v, NetSettings)
                else list(v)
                if isinstance(v, tuple)
                else v
            )
        return out

    @property
    def main_settings(self) -> list[Setting]:
        """Every map trained in the main run: ``settings`` then the depth curve's mse nets."""
        out = [parse_setting(s) for s in self.settings]
        for d in self.depths:
            s = Setting("mlp", "mse", d)
            if s not in out:
                out.append(s)
        return out


# --------------------------------------------------------------------------------------------
# Progress on stderr
# --------------------------------------------------------------------------------------------


class _Reporter:
    def __init__(self, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = sys.stderr if stream is None else stream
        self._lock = threading.Lock()

    def info(self, msg: str) -> None:
        if not self.quiet:
            with self._lock:
                print(msg, file=self.stream, flush=True)


# --------------------------------------------------------------------------------------------
# Experiment 1
# --------------------------------------------------------------------------------------------


@dataclass
class MapRow:
    """One measured map: data set, direction, map, variant, CV seed and protocol.

    ``variant`` is ``"main"``, ``"shuffled"`` (trained on shuffled pairs) or ``"in-sample"``
    (each fold's map measured on as many of its own training items as its test part holds,
    per fold). Lists run over ``ks``; ``ci_*`` hold ``[lo, hi]`` 95 % bootstrap intervals per
    k: of each mNNO, of ``gap`` = mNNO(f(X), X) − mNNO(f(X), Y) and of ``gain`` =
    mNNO(f(X), Y) − mNNO(X, Y). ``p_fx_x`` / ``p_fx_y``: permutation-null p-values at
    ``main_k``, ``null_fx_y``: that null's mean. ``fit``: per fold, the chosen ridge λ or the
    epochs run and the best epoch.
    """

    dataset: str
    direction: str
    setting: str
    label: str
    model: str
    loss: str
    depth: int
    variant: str
    seed: int
    protocol: str
    n: int
    unit_sizes: list[int]
    ks: list[int]
    main_k: int
    fx_x: list[float]
    fx_y: list[float]
    x_y: list[float]
    chance: list[float]
    ci_fx_x: list[list[float]]
    ci_fx_y: list[list[float]]
    ci_x_y: list[list[float]]
    ci_gap: list[list[float]]
    ci_gain: list[list[float]]
    jaccard_fx_y: list[float]
    p_fx_x: float
    p_fx_y: float
    null_fx_y: float
    recall_at_1: float
    recall_at_10: float
    mse: float
    r2: float
    cka_fx_x: float
    cka_fx_y: float
    cka_x_y: float
    fit: dict[str, list[Any]]
    seconds: float
    ok: bool = True
    #: Jaccard, trustworthiness and CKNNA of each comparison per k, from the same lists as
    #: mNNO: keys ``"jaccard_fx_x"``, ``"trustworthiness_fx_y"``, ``"cknna_x_y"``, ...
    #: (:func:`nnoverlap.paper.protocols.extra_measures`; NaN where undefined).
    extras: dict[str, list[float]] = field(default_factory=dict)

    def at(self, k: int) -> tuple[float, float, float]:
        """(mNNO(f(X), X), mNNO(f(X), Y), mNNO(X, Y)) at ``k``."""
        i = self.ks.index(k)
        return self.fx_x[i], self.fx_y[i], self.x_y[i]


def _main_k(ks: Sequence[int]) -> int:
    """The headline k: 10 (the paper's) if measured, else the nearest."""
    return min(ks, key=lambda k: (abs(k - 10), k))


def _ks_for(
    cfg: ReproduceConfig, smallest: int, what: str
) -> tuple[list[int], list[int], list[str]]:
    """Table k, every measured k (table and curve), and notes, for units of >= ``smallest``."""
    high = smallest - 1
    notes = []
    if cfg.ks is None:
        table = [k for k in DEFAULT_KS if k <= high]
        dropped = [k for k in DEFAULT_KS if k > high]
        if not table:
            raise ValueError(f"{what}: units of {smallest} items are too few for any k")
        if dropped:
            notes.append(f"{what}: k = {dropped} left out (k must be <= n - 1 = {high})")
    else:
        bad = [k for k in cfg.ks if k > high]
        if bad:
            raise ValueError(
                f"{what}: k = {bad} too large for units of {smallest} items; k must satisfy "
                f"1 <= k <= n - 1 = {high}"
            )
        table = list(cfg.ks)
    return table, sorted(set(table) | {k for k in cfg.curve_ks if k <= high}), notes


def _salt(direction: int, setting: Setting, variant: str) -> int:
    """A seed offset fixed by the direction, the map and the variant (not by list order, so a
    map gets the same seeds whichever other maps run beside it)."""
    key = f"{direction}|{setting.key}|{variant}".encode()
    return zlib.crc32(key) % 1_000_003


def _fit_seed(seed: int, salt: int, fold: int) -> int:
    return (seed * 100_003 + salt * 101 + fold) % (2**32)


def _intervals(m: Measured, cfg: ReproduceConfig, seed: int) -> dict[str, list[list[float]]]:
    names = ("ci_fx_x", "ci_fx_y", "ci_x_y", "ci_gap", "ci_gain")
    nk = len(m.ks)
    if not m.ok:
        return {name: [[math.nan, math.nan]] * nk for name in names}
    kk = np.asarray(m.ks, dtype=np.float64)
    groups = []
    for a, b, c in zip(m.o_fx_x, m.o_fx_y, m.o_x_y):
        a, b, c = a / kk, b / kk, c / kk
        groups.append(np.concatenate([a, b, c, a - b, b - c], axis=1))
    lo, hi = paired_bootstrap(groups, reps=cfg.bootstrap, alpha=0.05, seed=seed)
    return {
        name: [[float(lo[j * nk + i]), float(hi[j * nk + i])] for i in range(nk)]
        for j, name in enumerate(names)
    }


def _row(
    pair: PairedSet,
    direction: str,
    setting: Setting,
    variant: str,
    seed: int,
    m: Measured,
    cka: tuple[float, float, float],
    fit: dict[str, list[Any]],
    seconds: float,
    cfg: ReproduceConfig,
    table_ks: list[int],
) -> MapRow:
    k = _main_k(table_ks)
    ci = _intervals(m, cfg, seed)
    nan = math.nan
    p_fx_x = p_fx_y = null_fx_y = nan
    jac = m.extras.get("jaccard_fx_y", [nan] * len(m.ks))
    if m.ok:
        salt = seed * 7919 + len(m.protocol)
        nx = stratified_permutation_test(
            [(ip, ix) for ip, ix, _ in m.lists], k, permutations=cfg.permutations, seed=salt
        )
        ny = stratified_permutation_test(
            [(ip, iy) for ip, _, iy in m.lists], k, permutations=cfg.permutations, seed=salt + 1
        )
        p_fx_x, p_fx_y, null_fx_y = float(nx.p), float(ny.p), float(ny.null_mean)  # type: ignore[arg-type]
        if "jaccard_fx_y" not in m.extras:  # include_self: lists with the item itself
            o = [np.concatenate([u[:, i] for u in m.o_fx_y]) for i in range(len(m.ks))]
            jac = [float(np.mean(o[i] / (2.0 * kk - o[i]))) for i, kk in enumerate(m.ks)]
    return MapRow(
        dataset=pair.name,
        direction=direction,
        setting=setting.key,
        label=setting.label,
        model=setting.model,
        loss=setting.loss,
        depth=setting.depth,
        variant=variant,
        seed=seed,
        protocol=m.protocol,
        n=m.n,
        unit_sizes=m.sizes,
        ks=m.ks,
        main_k=k,
        fx_x=m.fx_x,
        fx_y=m.fx_y,
        x_y=m.x_y,
        chance=m.chance,
        jaccard_fx_y=jac,
        p_fx_x=p_fx_x,
        p_fx_y=p_fx_y,
        null_fx_y=null_fx_y,
        recall_at_1=m.recall_at_1,
        recall_at_10=m.recall_at_10,
        mse=m.mse,
        r2=m.r2,
        cka_fx_x=cka[0],
        cka_fx_y=cka[1],
        cka_x_y=cka[2],
        fit=fit,
        seconds=seconds,
        ok=m.ok,
        extras=m.extras,
        **ci,
    )


def _designs(
    pair: PairedSet, cfg: ReproduceConfig
) -> tuple[list[tuple[str, int, Design]], list[str]]:
    """(fit kind, seed, design) for every fit the protocols need, and notes."""
    notes: list[str] = []
    protocols = list(cfg.protocols)
    if pair.test_rows is not None:
        if protocols != ["split"]:
            notes.append(
                f"{pair.label}: explicit train/test files fix one split; measured with the split "
                f"protocol only (asked for {', '.join(protocols)})"
            )
        protocols = ["split"]
    out = []
    for seed in cfg.seeds:
        if any(p in ("per-fold", "pooled") for p in protocols):
            out.append(
                (
                    "kfold",
                    seed,
                    make_design(
                        pair.n,
                        "per-fold",
                        folds=cfg.folds,
                        test_size=cfg.test_size,
                        seed=seed,
                        what=pair.label,
                    ),
                )
            )
        if "split" in protocols:
            out.append(
                (
                    "split",
                    seed,
                    make_design(
                        pair.n,
                        "split",
                        folds=cfg.folds,
                        test_size=cfg.test_size,
                        seed=seed,
                        test_rows=pair.test_rows,
                        what=pair.label,
                    ),
                )
            )
    return out, notes


def run_mappings(
    pair: PairedSet, cfg: ReproduceConfig, *, stream: TextIO | None = None
) -> list[MapRow]:
    """Experiment 1 on one pair: every map, both directions, every protocol, with controls.

    Every map of a pair sees the same folds for a given CV seed, so rows compare like with like.
    Returns one :class:`MapRow` per (direction, map, variant, seed, protocol).
    """
    rep = _Reporter(cfg.quiet, stream)
    rows, _ = _run_mappings(pair, cfg, rep)
    return rows


@dataclass
class _Job:
    """What one (design, direction, map, variant) needs, for :func:`_fit_folds`."""

    design: Design
    X: np.ndarray
    Y: np.ndarray
    setting: Setting
    variant: str
    seed: int
    salt: int
    insample: list[np.ndarray] | None


def _fit_folds(
    job: _Job, cfg: ReproduceConfig, workers: int
) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, list[Any]]]:
    """Fit the job's map on every fold (``workers`` at once): test predictions, in-sample
    predictions (when asked), and what each fit chose."""

    def run(i: int) -> tuple[list[np.ndarray], dict[str, Any]]:
        train, test = job.design.folds[i]
        want = [test] if job.insample is None else [test, job.insample[i]]
        shuffle = _fit_seed(job.seed, job.salt + 500, i) if job.variant == "shuffled" else None
        return fit_predict(
            job.setting,
            cfg.net,
            job.X,
            job.Y,
            train,
            want,
            seed=_fit_seed(job.seed, job.salt, i),
            shuffle_seed=shuffle,
        )

    n_fits = len(job.design.folds)
    with blas_threads(1 if workers > 1 else None):
        if workers > 1 and n_fits > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                fits = list(pool.map(run, range(n_fits)))
        else:
            fits = [run(i) for i in range(n_fits)]
    fit: dict[str, list[Any]] = {}
    for _, info in fits:
        for key, v in info.items():
            fit.setdefault(key, []).append(v)
    tests = [f[0][0] for f in fits]
    ins = [f[0][1] for f in fits] if job.insample is not None else []
    return tests, ins, fit


def _cka(P: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[float, float, float]:
    if not np.isfinite(P).all():
        return math.nan, math.nan, math.nan
    return _linear_cka(P, X), _linear_cka(P, Y), _linear_cka(X, Y)


def _linear_cka(A: np.ndarray, B: np.ndarray) -> float:
    """:func:`nnoverlap.linear_cka`, NaN for a constant set (as the paper's tables show it)."""
    try:
        return float(linear_cka(A, B))
    except ValueError:
        return math.nan


def _run_mappings(
    pair: PairedSet, cfg: ReproduceConfig, rep: _Reporter
) -> tuple[list[MapRow], list[str]]:
    designs, notes = _designs(pair, cfg)
    protocols = ["split"] if pair.test_rows is not None else list(cfg.protocols)
    smallest = min(int(t.size) for _, _, d in designs for _, t in d.folds)
    table_ks, ks, k_notes = _ks_for(cfg, smallest, pair.label)
    notes.extend(k_notes)
    for note in notes:
        rep.info(f"note: {note}")
    cache = NeighbourCache(cfg.metric, cfg.include_self, cfg.threads)
    workers = default_workers(cfg.workers)
    main_seed = cfg.seeds[0]
    controls = {parse_setting(c) for c in cfg.controls}
    out: list[MapRow] = []
    directions = [
        (f"{pair.x_name}→{pair.y_name}", pair.X, pair.Y, (pair.x_name, pair.y_name)),
        (f"{pair.y_name}→{pair.x_name}", pair.Y, pair.X, (pair.y_name, pair.x_name)),
    ]
    for d_i, (kind, seed, design) in enumerate(designs):
        main = seed == main_seed
        # The in-sample control comes from the first design of the main seed only.
        with_insample = main and d_i == 0
        settings = [s for s in cfg.main_settings if main or s in controls]
        here = [p for p in protocols if (p == "split") == (kind == "split")]
        rep.info(f"[{pair.label}] experiment 1, seed {seed}: {design.describe()}; k = {table_ks}")
        rng = np.random.default_rng([seed, 2])
        insample = [
            np.sort(rng.choice(train, size=min(test.size, train.size), replace=False))
            for train, test in design.folds
        ]
        tests = [t for _, t in design.folds]
        allrows = np.concatenate(tests)
        order = np.argsort(allrows)
        for d_index, (direction, X, Y, names) in enumerate(directions):
            for setting in settings:
                variants = ["main", "shuffled"] if setting in controls and main else ["main"]
                for variant in variants:
                    t0 = time.perf_counter()
                    job = _Job(
                        design,
                        X,
                        Y,
                        setting,
                        variant,
                        seed,
                        _salt(d_index, setting, variant),
                        insample if variant == "main" and with_insample else None,
                    )
                    preds, ins, fit = _fit_folds(job, cfg, workers)
                    Pall = np.concatenate(preds)
                    cka = _cka(Pall, X[allrows], Y[allrows])
                    seconds = time.perf_counter() - t0
                    measured = []
                    for protocol in here:
                        if protocol == "pooled":
                            units, ups = [allrows[order]], [Pall[order]]
                        else:
                            units, ups = tests, preds
                        m = measure_units(protocol, units, ups, X, Y, names, ks, cache)
                        measured.append((variant, m))
                    if ins:
                        m = measure_units("in-sample", insample, ins, X, Y, names, ks, cache)
                        measured.append(("in-sample", m))
                        rows_in = np.concatenate(insample)
                        cka_in = _cka(np.concatenate(ins), X[rows_in], Y[rows_in])
                    for var, m in measured:
                        c = cka_in if m.protocol == "in-sample" else cka
                        args = (pair, direction, setting, var, seed, m, c, fit, seconds)
                        out.append(_row(*args, cfg, table_ks))
                        if not m.ok:
                            notes.append(
                                f"{pair.label} {direction} {setting.label} ({var}, seed {seed}): "
                                "non-finite or all-zero predictions (training diverged)"
                            )
                    _progress(rep, out[-len(measured)], fit, seconds)
    return out, notes


def _progress(rep: _Reporter, r: MapRow, fit: dict[str, list[Any]], seconds: float) -> None:
    a, b, c = r.at(r.main_k)
    extra = (
        f"λ {np.median(fit['ridge']):.3g}"
        if "ridge" in fit
        else f"epochs {min(fit['epochs_run'])}–{max(fit['epochs_run'])}"
    )
    rep.info(
        f"  {r.dataset} {r.direction} {r.label} [{r.variant}, seed {r.seed}, {r.protocol}]: "
        f"mNNO@{r.main_k} f(X),X {a:.3f}  f(X),Y {b:.3f}  X,Y {c:.3f}  {extra}  "
        f"[{seconds:.1f} s]"
    )


# --------------------------------------------------------------------------------------------
# Experiment 2
# --------------------------------------------------------------------------------------------


@dataclass
class DepthPoint:
    """One point of experiment 2: an untrained net of ``depth`` hidden layers on ``input``.

    ``scaling`` says what the input was (``"standardised"`` columns or ``"raw"``);
    ``mnno_fx_x[s][j]``: mNNO(f(X), X) of seed s at ``ks[j]``; ``chance`` per k.
    """

    dataset: str
    input: str
    scaling: str
    activation: str
    depth: int
    n: int
    ks: list[int]
    seeds: list[int]
    mnno_fx_x: list[list[float]]
    chance: list[float]
    seconds: float = 0.0

    @property
    def mean(self) -> list[float]:
        """Mean over seeds, per k."""
        return [float(v) for v in np.mean(np.asarray(self.mnno_fx_x), axis=0)]

    @property
    def std(self) -> list[float]:
        """Standard deviation over seeds (0 for one seed), per k."""
        return [float(v) for v in np.std(np.asarray(self.mnno_fx_x), axis=0)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with mean and std."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["mean"] = self.mean
        out["std"] = self.std
        return out


def run_depths(
    pair: PairedSet,
    cfg: ReproduceConfig,
    *,
    untrained_on: Sequence[str] | None = None,
    stream: TextIO | None = None,
) -> tuple[list[DepthPoint], list[str]]:
    """Experiment 2 on one pair: untrained nets of each depth on each set; and notes.

    Nets have ``cfg.depth_width`` units per hidden layer and as many outputs; each input is
    used standardised and/or raw (``cfg.scalings``). Sets larger than ``cfg.depth_rows`` are
    cut to a seeded random subset (noted). ``untrained_on`` names the sets (default: both).
    """
    rep = _Reporter(cfg.quiet, stream)
    notes: list[str] = []
    X, Y = pair.X, pair.Y
    seed0 = cfg.seeds[0]
    if cfg.depth_rows is not None and pair.n > cfg.depth_rows:
        rng = np.random.default_rng(seed0 + 1)
        rows = np.sort(rng.choice(pair.n, size=int(cfg.depth_rows), replace=False))
        X, Y = X[rows], Y[rows]
        notes.append(
            f"{pair.label}: experiment 2 uses a random subset of {rows.size} of the "
            f"{pair.n} items (seed {seed0 + 1}; depth_rows = {cfg.depth_rows})"
        )
        rep.info(f"note: {notes[-1]}")
    n = X.shape[0]
    table, ks, k_notes = _ks_for(replace(cfg, curve_ks=()), n, f"{pair.label} experiment 2")
    notes.extend(k_notes)
    kmax = max(ks)
    cache = NeighbourCache(cfg.metric, cfg.include_self, cfg.threads)
    seeds = [seed0 + s for s in range(int(cfg.depth_seeds))]
    sides = [(pair.x_name, X), (pair.y_name, Y)]
    if untrained_on is not None:
        sides = [(name, S) for name, S in sides if name in untrained_on]
    points: list[DepthPoint] = []
    chance = [_api.chance(n, k) for k in ks]
    width = int(cfg.depth_width)
    for name, S in sides:
        iS = cache.search(S, kmax)
        for scaling in cfg.scalings:
            inp = standardise(S) if scaling == "standardised" else np.asarray(S, dtype=np.float64)
            for act in cfg.depth_activations:
                for depth in cfg.untrained_depths:
                    t0 = time.perf_counter()
                    values = []
                    for seed in seeds:
                        F = untrained_map(
                            inp, depth=depth, width=width, activation=_activation(act), seed=seed
                        )
                        iF = cache.search(F, kmax)
                        values.append([float(_api.overlap(iF, iS, k).sum()) / (k * n) for k in ks])
                    points.append(
                        DepthPoint(
                            pair.name,
                            name,
                            scaling,
                            act,
                            depth,
                            n,
                            list(ks),
                            list(seeds),
                            values,
                            chance,
                            time.perf_counter() - t0,
                        )
                    )
                k = _main_k(ks)
                curve = " ".join(
                    f"{p.mean[ks.index(k)]:.3f}"
                    for p in points
                    if (p.input, p.scaling, p.activation) == (name, scaling, act)
                )
                rep.info(
                    f"  {pair.name} untrained {act} on {name} ({scaling}): "
                    f"mNNO@{k} by depth {curve}"
                )
    return points, notes


# --------------------------------------------------------------------------------------------
# Both experiments
# --------------------------------------------------------------------------------------------


def reproduce(
    pairs: Sequence[PairedSet],
    cfg: ReproduceConfig | None = None,
    *,
    notes: Sequence[str] = (),
    stream: TextIO | None = None,
    command: str | None = None,
) -> Report:
    """Run experiment 1 (and, with ``cfg.depth``, experiment 2) on every pair: a
    :class:`~nnoverlap.paper.report.Report`.

    ``notes`` (e.g. where the data came from) and every pair's own notes are printed on stderr
    (unless quiet) and kept in the report. numpy's BLAS runs one thread per fit throughout
    (with threadpoolctl; two fits at once): many BLAS threads on small matrices crawl, 60-fold
    on a busy machine.
    """
    from .report import Report

    cfg = ReproduceConfig() if cfg is None else cfg
    if not pairs:
        raise ValueError("no data: give at least one paired set")
    if not (cfg.mappings or cfg.depth):
        raise ValueError("nothing to run: both experiments are switched off")
    rep = _Reporter(cfg.quiet, stream)
    t0 = time.perf_counter()
    all_notes = list(notes)
    for p in pairs:
        all_notes.extend(p.notes)
    if not have_threadpoolctl():
        all_notes.append(
            "threadpoolctl is not installed: numpy's BLAS may use several threads per fit, "
            "which is slow on a busy machine (pip install 'nnoverlap[reproduce]')"
        )
    for note in all_notes:
        rep.info(f"note: {note}")
    rows: list[MapRow] = []
    depths: list[DepthPoint] = []
    with blas_threads(1):
        for p in pairs if cfg.mappings else ():
            r, n1 = _run_mappings(p, cfg, rep)
            rows.extend(r)
            all_notes.extend(n1)
        if cfg.depth:
            seen: set[tuple[str, str]] = set()
            for p in pairs:
                # A set shared by two pairs (the visual side of the ImageNet pairs) gets
                # untrained nets once, on its first appearance.
                fresh = [s for s in (p.x_name, p.y_name) if (p.name, s) not in seen]
                seen.update((p.name, s) for s in fresh)
                pts, n2 = run_depths(p, cfg, untrained_on=fresh, stream=stream)
                depths.extend(pts)
                all_notes.extend(n2)
    seconds = time.perf_counter() - t0
    rep.info(f"done in {seconds:.1f} s")
    return Report(
        config=cfg,
        datasets=[p.describe() for p in pairs],
        rows=rows,
        depths=depths,
        notes=list(dict.fromkeys(all_notes)),
        seconds=seconds,
        command=command,
    )
