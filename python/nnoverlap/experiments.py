"""Reproduce Collell & Moens (ACL 2018): do cross-modal mappings bridge modalities?

The paper learns maps ``f: X -> Y`` between two embeddings of the same items (image features
and word embeddings, in both directions) and asks whose neighbourhoods the mapped vectors
``f(X)`` have: the input's (``mNNO(f(X), X)`` high) or the target's (``mNNO(f(X), Y)`` high, what
retrieval and zero-shot learning need). Its finding: the first is far higher than the second,
for linear maps and neural nets and every loss; and untrained nets barely disturb the
neighbourhoods of their input. This module runs both experiments on any paired data set.

Experiment 1 (:func:`run_mappings`)
    For each direction (X->Y and Y->X), each model (ridge regression in closed form; a linear
    layer trained with the cosine or ranking loss; a net with one hidden layer) and each loss
    (mse, cosine, ranking), predictions are made **out of fold** with seeded k-fold
    cross-validation (every item is predicted by a model that never saw it; all n items are then
    measured together), or on the test part of one seeded train/test split. Reported on those
    held-out items: mNNO(f(X), X), mNNO(f(X), Y) and mNNO(X, Y) at several k, the retrieval
    recall@1 and recall@10 of the true y_i among all held-out Y for f(x_i), the mean squared
    error (mean over items and dimensions) and R^2 (``1 - SSE / SST`` over all entries).

Experiment 2 (:func:`run_depths`)
    Untrained nets of depth 1 to 5 (hidden layers of ``width`` units, relu/tanh/sigmoid,
    several seeds, :func:`~nnoverlap.mapping.untrained_map`) applied to each input set:
    mNNO(f(X), X) against depth; depth 0, a random linear map to ``width`` dimensions, is the
    reference without non-linearity. The same for trained nets of those depths (X->Y, mse,
    out of fold), which also report mNNO(f(X), Y).

Neighbours are exact (:func:`nnoverlap.knn`, a base set for retrieval) and follow the project's
contract: self excluded by default; ``include_self=True`` counts each item as its own first
neighbour, as the paper's released code did (which adds about 1/k to every mNNO).

:func:`reproduce` runs both experiments on several pairs and returns a :class:`Report` that
writes a markdown table shaped like the paper's, a JSON file with every number and setting,
and (with matplotlib, the ``plot`` extra) two figures. ``nnoverlap reproduce`` is the command
line for it (:func:`add_reproduce_parser`).

>>> import numpy as np
>>> from nnoverlap.experiments import PairedSet, ReproduceConfig, run_mappings
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((60, 8)); Y = X @ rng.standard_normal((8, 5))
>>> cfg = ReproduceConfig(ks=(5,), folds=3, models=("linear",), losses=("mse",), quiet=True)
>>> res = run_mappings(PairedSet("toy", "x", "y", X, Y), cfg)
>>> [(r.direction, r.model, r.loss) for r in res]
[('x→y', 'linear', 'mse'), ('y→x', 'linear', 'mse')]
>>> res[0].mnno_fx_y[0] > 0.95  # Y = X W exactly: the map recovers Y's neighbourhoods
True
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from . import _api
from .datasets import imagenet1k
from .mapping import ACTIVATIONS, LOSSES, Activation, LinearMap, LossName, MLPMap, untrained_map

__all__ = [
    "DEFAULT_KS",
    "MODELS",
    "DepthPoint",
    "MappingResult",
    "PairedSet",
    "Report",
    "ReproduceConfig",
    "add_reproduce_parser",
    "auto_epochs",
    "default_pairs",
    "find_shared_data",
    "imagenet1k_pairs",
    "load_pair_files",
    "plot_depth_curve",
    "plot_mnno_scatter",
    "reproduce",
    "run_depths",
    "run_mappings",
    "words10k_pair",
]

ModelName = Literal["linear", "mlp"]
#: The models of experiment 1: ``"linear"`` (ridge in closed form for mse, a linear layer
#: trained by Adam for cosine and ranking) and ``"mlp"`` (one hidden layer).
MODELS: tuple[ModelName, ...] = ("linear", "mlp")
#: The k of the paper-style tables when the user gives none (those <= n - 1 are used).
DEFAULT_KS: tuple[int, ...] = (1, 5, 10, 50)
#: Depths of experiment 2 (hidden layers; 0 is a linear map).
DEFAULT_DEPTHS: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
#: Adam steps aimed at when ``epochs`` is ``None`` (see :func:`auto_epochs`).
AUTO_STEPS = 200
#: Environment variable naming the shared real-data directory (with ``words10k/`` inside).
SHARED_ENV = "NNOVERLAP_SHARED_DATA"

FloatArray = np.ndarray
Progress = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedSet:
    """Two embeddings of the same items: row i of ``X`` and row i of ``Y`` describe item i.

    ``name`` names the data set, ``x_name`` / ``y_name`` the two embeddings (they label the
    directions, e.g. ``"visual→minilm"``). ``notes`` records what was done to the data on the
    way in (rows dropped, and why); every note is printed and written to the report.
    """

    name: str
    x_name: str
    y_name: str
    X: np.ndarray
    Y: np.ndarray
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for side, arr in (("X", self.X), ("Y", self.Y)):
            if not isinstance(arr, np.ndarray) or arr.ndim != 2:
                raise ValueError(f"{self.name}: {side} must be a 2-D numpy array")
        if self.X.shape[0] != self.Y.shape[0]:
            raise ValueError(
                f"{self.name}: X and Y must have the same number of rows (paired by position), "
                f"got X {self.X.shape} and Y {self.Y.shape}"
            )

    @property
    def n(self) -> int:
        """Number of items."""
        return int(self.X.shape[0])

    @property
    def label(self) -> str:
        """``"name (x_name/y_name)"``."""
        return f"{self.name} ({self.x_name}/{self.y_name})"

    def describe(self) -> dict[str, Any]:
        """Name, sizes and notes, for the report."""
        return {
            "name": self.name,
            "x": self.x_name,
            "y": self.y_name,
            "n": self.n,
            "dim_x": int(self.X.shape[1]),
            "dim_y": int(self.Y.shape[1]),
            "notes": list(self.notes),
        }


def _drop_nonfinite(
    name: str, x_name: str, y_name: str, X: np.ndarray, Y: np.ndarray, why: str = ""
) -> PairedSet:
    """A :class:`PairedSet`, without the rows that hold a NaN or inf in X or Y (with a note)."""
    bad_x = ~np.isfinite(X).all(axis=1)
    bad_y = ~np.isfinite(Y).all(axis=1)
    bad = bad_x | bad_y
    notes: tuple[str, ...] = ()
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(str(int(r)) for r in rows[:10]) + (", ..." if rows.size > 10 else "")
        sides = " and ".join(s for s, b in ((x_name, bad_x), (y_name, bad_y)) if b.any())
        notes = (
            f"{name}: dropped {rows.size} of {X.shape[0]} rows with a NaN or infinite value in "
            f"{sides}{why} (rows {shown}); {X.shape[0] - rows.size} items remain",
        )
        X, Y = X[~bad], Y[~bad]
    return PairedSet(name, x_name, y_name, X, Y, notes)


def imagenet1k_pairs() -> list[PairedSet]:
    """The bundled ImageNet-1k classes: visual vs MiniLM (1000 rows), visual vs GloVe (975).

    The GloVe vectors of 25 class names are NaN (a token missing from GloVe); those classes
    are dropped from the visual/GloVe pair, and the pair's ``notes`` say so.
    """
    data = imagenet1k()
    vm = PairedSet("imagenet1k", "visual", "minilm", data.visual, data.minilm)
    vg = _drop_nonfinite(
        "imagenet1k",
        "visual",
        "glove",
        data.visual,
        data.glove,
        why=" (class names with a token missing from GloVe)",
    )
    return [vm, vg]


def find_shared_data(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The shared real-data directory, or ``None`` when there is none.

    Looks at ``path`` when given, else at ``$NNOVERLAP_SHARED_DATA``, else at ``../shared/data``
    relative to the current directory (the project's layout). A directory counts when it holds
    ``words10k/``.
    """
    if path is not None:
        candidates = [Path(path)]
    elif os.environ.get(SHARED_ENV):
        candidates = [Path(os.environ[SHARED_ENV])]
    else:
        candidates = [Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if (c / "words10k").is_dir():
            return c
    return None


def words10k_pair(shared: str | os.PathLike[str]) -> PairedSet:
    """The words10k vocabulary: GloVe-6B 50d vs MiniLM 384d of the same 10,000 words."""
    d = Path(shared) / "words10k"
    X = _load_npy(d / "words10k_glove50.npy", "words10k GloVe")
    Y = _load_npy(d / "words10k_minilm384.npy", "words10k MiniLM")
    return _drop_nonfinite("words10k", "glove", "minilm", X, Y)


def default_pairs(shared: str | os.PathLike[str] | None = None) -> tuple[list[PairedSet], str]:
    """The pairs of the default run and a note on where they came from.

    The bundled ImageNet-1k pairs always; words10k (GloVe vs MiniLM) when the shared data
    directory is found (:func:`find_shared_data`).
    """
    pairs = imagenet1k_pairs()
    found = find_shared_data(shared)
    if found is None:
        where = shared if shared is not None else os.environ.get(SHARED_ENV, "../shared/data")
        return pairs, f"words10k skipped: no shared data directory with words10k/ at {where}"
    pairs.append(words10k_pair(found))
    try:
        shown = os.path.relpath(found / "words10k")
    except ValueError:  # another drive (Windows)
        shown = str(found / "words10k")
    return pairs, f"words10k read from {shown}"


def _load_npy(path: str | os.PathLike[str], what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what}: no such file: {p}")
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a file that is not .npy
        raise ValueError(f"{what}: cannot read {p} as a .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{what}: {p} holds several arrays (.npz); give one .npy array")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{what}: {p} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{what}: {p} must be a 2-D array (n, d), got shape {arr.shape}")
    if arr.shape[0] < 4 or arr.shape[1] < 1:
        raise ValueError(f"{what}: {p} needs at least 4 rows and 1 column, got {arr.shape}")
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32)


def load_pair_files(
    x_path: str | os.PathLike[str], y_path: str | os.PathLike[str], name: str | None = None
) -> PairedSet:
    """A user pair from two ``.npy`` files whose rows are paired by position.

    Rows with a NaN or infinite value in either file are dropped, with a note. Raises
    ``ValueError`` (saying which file and what is wrong) for a missing or unreadable file, an
    array that is not 2-D and real, different row counts, or (cosine's undoing) an all-zero
    row.
    """
    X = _load_npy(x_path, "--x")
    Y = _load_npy(y_path, "--y")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            "X and Y must have the same number of rows (paired by position): "
            f"{x_path} has shape {X.shape}, {y_path} has shape {Y.shape}"
        )
    xs, ys = Path(x_path).stem, Path(y_path).stem
    if xs == ys:
        xs, ys = "X", "Y"
    pair = _drop_nonfinite(name or "user", xs, ys, X, Y)
    if pair.n < 4:
        raise ValueError(f"{pair.name}: fewer than 4 complete rows remain ({pair.n})")
    return pair


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReproduceConfig:
    """Every setting of the two experiments (all of it goes into the JSON report).

    Evaluation: ``ks`` the k of mNNO (``None``: :data:`DEFAULT_KS` restricted to
    ``k <= n - 1`` of each evaluated set; given explicitly, every k must fit); ``metric`` for
    every neighbour search; ``include_self`` counts each item as its own neighbour (the paper's
    released code; default excludes it); ``folds`` for k-fold cross-validation, or
    ``test_size`` (a fraction in (0, 1)) for one train/test split instead; ``seed`` seeds the
    folds, the subsets and every model; ``threads`` for the k-NN core (None: all cores).

    Models (experiment 1): ``models`` and ``losses`` select the settings; ``linear_losses``
    also trains the linear model with cosine and ranking (Adam on a linear layer; mse is
    always the closed-form ridge with penalty ``ridge``, on the data as given); ``scale``
    trains the nets on X and Y each divided by its RMS entry (see :func:`_predict_out_of_fold`);
    the net has one hidden layer of
    ``hidden`` units with ``activation`` and ``dropout``. Training: ``epochs`` (``None``: see
    :func:`auto_epochs`), ``batch_size``, ``lr``, ``weight_decay``, and ``margin`` of the
    ranking loss.

    Experiment 2: ``depths`` (hidden layers, 0 to 5; 0 is a random linear map to
    ``depth_width`` dimensions, or a trained linear layer) of width ``depth_width``,
    ``depth_activations`` and ``depth_seeds`` seeds for the untrained nets (applied to both
    sets of each pair); ``depth_rows`` caps the rows used (a seeded random subset; ``None``:
    all); ``depth_trained`` also trains nets of those depths (X->Y, mse, activation
    ``activation``) out of fold over ``depth_folds`` folds. ``depth=False`` skips experiment 2,
    ``mappings=False`` experiment 1.

    ``workers`` folds are trained at once in threads (``None``: 2 when the machine has 2 or
    more cores and ``threadpoolctl`` is installed to pin numpy's BLAS to one thread per fit,
    else 1); results do not depend on it. ``quiet`` silences the progress lines on stderr.
    """

    ks: tuple[int, ...] | None = None
    metric: str = "cosine"
    include_self: bool = False
    folds: int = 10
    test_size: float | None = None
    seed: int = 0
    threads: int | None = None
    models: tuple[str, ...] = MODELS
    losses: tuple[str, ...] = LOSSES
    linear_losses: bool = True
    ridge: float = 1.0
    scale: bool = True
    hidden: int = 300
    activation: str = "tanh"
    dropout: float = 0.0
    epochs: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    margin: float = 0.5
    mappings: bool = True
    depth: bool = True
    depths: tuple[int, ...] = DEFAULT_DEPTHS
    depth_width: int = 300
    depth_activations: tuple[str, ...] = ("relu", "tanh", "sigmoid")
    depth_seeds: int = 3
    depth_rows: int | None = 2000
    depth_trained: bool = True
    depth_folds: int = 2
    workers: int | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        def pos_int(name: str, low: int = 1) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")

        if self.ks is not None:
            ks = tuple(self.ks)
            if not ks or any(
                isinstance(k, bool) or not isinstance(k, (int, np.integer)) for k in ks
            ):
                raise ValueError(f"ks must be a non-empty sequence of integers, got {self.ks!r}")
            if min(ks) < 1:
                raise ValueError(f"every k must be >= 1, got {list(ks)}")
            object.__setattr__(self, "ks", tuple(sorted({int(k) for k in ks})))
        if self.metric not in _api.METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; expected one of {_api.METRICS}")
        pos_int("folds", 2)
        if self.test_size is not None and not 0.0 < float(self.test_size) < 1.0:
            raise ValueError(f"test_size must be a fraction in (0, 1), got {self.test_size!r}")
        pos_int("seed", 0)
        for name, allowed in (("models", MODELS), ("losses", LOSSES)):
            vals = tuple(getattr(self, name))
            unknown = [v for v in vals if v not in allowed]
            if not vals or unknown:
                raise ValueError(
                    f"{name} must be a non-empty subset of {', '.join(allowed)}, got {vals!r}"
                )
            object.__setattr__(self, name, vals)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; one of {ACTIVATIONS}")
        acts = tuple(self.depth_activations)
        if not acts or any(a not in ACTIVATIONS for a in acts):
            raise ValueError(f"depth_activations must be a non-empty subset of {ACTIVATIONS}")
        object.__setattr__(self, "depth_activations", acts)
        depths = tuple(self.depths)
        if not depths or any(
            not isinstance(d, (int, np.integer)) or not 0 <= d <= 5 for d in depths
        ):
            raise ValueError(f"depths must be integers from 0 to 5, got {self.depths!r}")
        object.__setattr__(self, "depths", tuple(int(d) for d in depths))
        for name in ("hidden", "batch_size", "depth_width", "depth_seeds"):
            pos_int(name)
        pos_int("depth_folds", 2)
        if self.epochs is not None:
            pos_int("epochs")
        if self.depth_rows is not None:
            pos_int("depth_rows", 4)
        for name in ("ridge", "dropout", "weight_decay"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {v}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (math.isfinite(float(self.lr)) and float(self.lr) > 0.0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if self.threads is not None:
            pos_int("threads")
        if self.workers is not None:
            pos_int("workers")

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


def auto_epochs(n_train: int, batch_size: int, steps: int = AUTO_STEPS) -> int:
    """Epochs giving about ``steps`` Adam steps on ``n_train`` rows (at least 2, at most 200).

    Small sets (the 1,000 ImageNet classes) need many epochs, large ones (10,000 words) few;
    a fixed number of steps keeps the training effort, and the run time, alike. On the
    ImageNet pairs (800 training rows) about 200 steps of batch 64 is where held-out quality
    peaks; more steps over-fit.

    >>> auto_epochs(800, 64), auto_epochs(8000, 64)
    (16, 2)
    """
    per_epoch = math.ceil(n_train / batch_size)
    return int(min(200, max(2, math.ceil(steps / per_epoch))))


def _ks_for(cfg: ReproduceConfig, n: int, what: str) -> tuple[list[int], list[str]]:
    """The k to evaluate on ``n`` items, and notes on any default k left out."""
    high = n - 1
    if cfg.ks is None:
        ks = [k for k in DEFAULT_KS if k <= high]
        dropped = [k for k in DEFAULT_KS if k > high]
        if not ks:
            raise ValueError(f"{what}: {n} items are too few for any k (need n >= 2)")
        notes = [f"{what}: k = {dropped} left out (k must be <= n - 1 = {high})"] if dropped else []
        return ks, notes
    bad = [k for k in cfg.ks if k > high]
    if bad:
        raise ValueError(f"{what}: k = {bad} too large; k must satisfy 1 <= k <= n - 1 = {high}")
    return list(cfg.ks), []


def _main_k(ks: Sequence[int]) -> int:
    """The k of the headline table: 10 (the paper's) if evaluated, else the nearest."""
    return min(ks, key=lambda k: (abs(k - 10), k))


# --------------------------------------------------------------------------------------------
# Progress on stderr
# --------------------------------------------------------------------------------------------


class _Reporter:
    """Progress lines on stderr: per epoch on a terminal (one updated line), per fit otherwise."""

    def __init__(self, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self._open = False
        self._lock = threading.Lock()

    def info(self, msg: str) -> None:
        if self.quiet:
            return
        self._close()
        print(msg, file=self.stream, flush=True)

    def _close(self) -> None:
        if self._open:
            self.stream.write("\r\033[K")
            self._open = False

    def epochs(self, label: str, total: int) -> Callable[[int, float], None] | None:
        """A ``progress(epoch, loss)`` callback for :class:`MLPMap`, or None when quiet."""
        if self.quiet:
            return None

        def callback(epoch: int, loss: float) -> None:
            with self._lock:
                if self.tty:
                    self.stream.write(f"\r\033[K  {label}: epoch {epoch}/{total}, loss {loss:.4g}")
                    self.stream.flush()
                    self._open = True
                    if epoch == total:
                        self._close()
                elif epoch == total:
                    print(
                        f"  {label}: {total} epochs, loss {loss:.4g}", file=self.stream, flush=True
                    )

        return callback


# --------------------------------------------------------------------------------------------
# Neighbour and quality measures
# --------------------------------------------------------------------------------------------


def _neighbours(A: np.ndarray, kmax: int, cfg: ReproduceConfig) -> np.ndarray:
    """Exact (n, kmax) neighbour indices of every row of ``A`` within ``A``."""
    return _api.knn(
        A, kmax, metric=cfg.metric, include_self=cfg.include_self, threads=cfg.threads
    ).indices


def _mnno_lists(ia: np.ndarray, ib: np.ndarray, ks: Sequence[int]) -> list[float]:
    """mNNO^k for each k from two precomputed neighbour lists (prefixes serve smaller k)."""
    n = ia.shape[0]
    return [float(_api.overlap(ia, ib, k).sum()) / (k * n) for k in ks]


def _recall(P: np.ndarray, Y: np.ndarray, cfg: ReproduceConfig) -> tuple[float, float]:
    """Recall@1 and @10 of the true row i of ``Y`` among all rows of ``Y`` for query P[i]."""
    n = Y.shape[0]
    r = min(10, n)
    idx = _api.knn(P, r, base=Y, metric=cfg.metric, threads=cfg.threads).indices
    hit = idx == np.arange(n)[:, None]
    return float(hit[:, 0].mean()), float(hit.any(axis=1).mean())


def _quality(P: np.ndarray, Y: np.ndarray) -> tuple[float, float]:
    """Mean squared error (over items and dimensions) and R^2 = 1 - SSE / SST (all entries)."""
    Yd = np.asarray(Y, dtype=np.float64)
    err = P - Yd
    sse = float(np.einsum("ij,ij->", err, err))
    centred = Yd - Yd.mean(axis=0)
    sst = float(np.einsum("ij,ij->", centred, centred))
    mse = sse / err.size
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    return mse, r2


# --------------------------------------------------------------------------------------------
# Splits and out-of-fold prediction
# --------------------------------------------------------------------------------------------


def _splits(
    n: int, folds: int, test_size: float | None, seed: int, what: str
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Seeded (train, test) index pairs and the evaluated rows (sorted)."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    if test_size is not None:
        n_test = int(round(float(test_size) * n))
        if n_test < 3 or n - n_test < 2:
            raise ValueError(
                f"{what}: test_size {test_size} of {n} items leaves {n_test} test and "
                f"{n - n_test} training items; need at least 3 and 2"
            )
        test = np.sort(perm[:n_test])
        return [(np.sort(perm[n_test:]), test)], test
    if folds > n // 2:
        raise ValueError(f"{what}: {folds} folds need at least {2 * folds} items, got {n}")
    parts = np.array_split(perm, folds)
    out = []
    for i in range(folds):
        train = np.sort(np.concatenate([p for j, p in enumerate(parts) if j != i]))
        out.append((train, np.sort(parts[i])))
    return out, np.arange(n)


def _have_threadpoolctl() -> bool:
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        return False
    return True


def _workers(cfg: ReproduceConfig) -> int:
    """Folds trained at once: ``cfg.workers``, or by default 2 on a machine with 2 or more
    cores when ``threadpoolctl`` can pin numpy's BLAS to one thread per fit (else 1)."""
    if cfg.workers is not None:
        return int(cfg.workers)
    if (os.cpu_count() or 1) >= 2 and _have_threadpoolctl():
        return 2
    return 1


@contextmanager
def _blas_threads(limit: int | None) -> Iterator[None]:
    """Limit numpy's BLAS threads within the block (needs ``threadpoolctl``; else no-op).

    The nets here multiply small matrices (a batch of 64 rows), where BLAS threads cost more
    than they give, dramatically so on a busy machine; one thread per fit, and two fits at
    once, is the fast arrangement.
    """
    if limit is None or not _have_threadpoolctl():
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=limit, user_api="blas"):
        yield


def _rms(A: np.ndarray) -> float:
    """Root mean square of the entries of ``A`` (1.0 for an all-zero array)."""
    v = math.sqrt(float(np.mean(np.square(A, dtype=np.float64))))
    return v if v > 0 else 1.0


def _fit_seed(cfg: ReproduceConfig, fold: int, salt: int = 0) -> int:
    return cfg.seed * 100_003 + salt * 101 + fold


def _predict_out_of_fold(
    make: Callable[[int, int, Callable[[int, float], None] | None], LinearMap | MLPMap],
    X: np.ndarray,
    Y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    evaluated: np.ndarray,
    label: str,
    epochs_of: Callable[[int], int],
    rep: _Reporter,
    salt: int,
    cfg: ReproduceConfig,
) -> tuple[np.ndarray, list[float]]:
    """Predictions for the evaluated rows, each by a model fitted without it; final losses.

    With ``cfg.scale``, a net (not the closed-form ridge) is trained on X and Y each divided by
    one number, the root mean square of its training rows' entries, and its predictions are
    multiplied back: Adam and the default initialisation then see unit-scale data whatever the
    units of the embeddings. A global scale changes no neighbourhood and no cosine.
    """
    P = np.full((X.shape[0], Y.shape[1]), np.nan)

    def run(i: int) -> tuple[np.ndarray, float | None]:
        train, test = splits[i]
        epochs = epochs_of(train.size)
        where = f"fold {i + 1}/{len(splits)}" if len(splits) > 1 else "train/test"
        cb = rep.epochs(f"{label} {where}", epochs)
        model = make(_fit_seed(cfg, i, salt), epochs, cb)
        Xtr, Ytr = X[train], Y[train]
        sx = sy = 1.0
        if cfg.scale and isinstance(model, MLPMap):
            sx, sy = _rms(Xtr), _rms(Ytr)
        model.fit(Xtr / sx, Ytr / sy)
        pred = model.predict(X[test] / sx) * sy
        last = float(model.history[-1]) if isinstance(model, MLPMap) and model.history else None
        return pred, last

    workers = _workers(cfg)
    with _blas_threads(1 if workers > 1 or cfg.workers is None else None):
        if workers > 1 and len(splits) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                outs = list(pool.map(run, range(len(splits))))
        else:
            outs = [run(i) for i in range(len(splits))]
    final_losses: list[float] = []
    for (_, test), (pred, last) in zip(splits, outs):
        P[test] = pred
        if last is not None:
            final_losses.append(last)
    return P[evaluated], final_losses


# --------------------------------------------------------------------------------------------
# Experiment 1
# --------------------------------------------------------------------------------------------


@dataclass
class MappingResult:
    """One row of experiment 1: a data set, a direction, a model and a loss.

    ``mnno_fx_x``, ``mnno_fx_y``, ``mnno_x_y`` and ``chance`` hold one value per k of ``ks``,
    measured on the ``n`` held-out items. ``train_loss`` is the final training loss of each
    fold (nets only). ``ok`` is False when a model produced non-finite predictions (its
    measures are then NaN and ``notes`` says so).
    """

    dataset: str
    direction: str
    model: str
    loss: str
    n: int
    ks: list[int]
    mnno_fx_x: list[float]
    mnno_fx_y: list[float]
    mnno_x_y: list[float]
    chance: list[float]
    recall_at_1: float
    recall_at_10: float
    mse: float
    r2: float
    epochs: int | None
    train_loss: list[float]
    seconds: float
    ok: bool = True
    notes: list[str] = field(default_factory=list)

    def at(self, k: int) -> tuple[float, float, float]:
        """(mNNO(f(X), X), mNNO(f(X), Y), mNNO(X, Y)) at ``k``."""
        i = self.ks.index(k)
        return self.mnno_fx_x[i], self.mnno_fx_y[i], self.mnno_x_y[i]


def _settings(cfg: ReproduceConfig) -> list[tuple[str, str]]:
    out = []
    for model in cfg.models:
        for loss in cfg.losses:
            if model == "linear" and loss != "mse" and not cfg.linear_losses:
                continue
            out.append((model, loss))
    return out


def _model_factory(
    model: str, loss: str, cfg: ReproduceConfig
) -> Callable[[int, int, Callable[[int, float], None] | None], LinearMap | MLPMap]:
    def make(seed: int, epochs: int, cb: Callable[[int, float], None] | None):
        if model == "linear" and loss == "mse":
            return LinearMap(ridge=float(cfg.ridge))
        hidden: tuple[int, ...] = () if model == "linear" else (int(cfg.hidden),)
        return _mlp(cfg, hidden, _loss_name(loss), seed, epochs, cb)

    return make


def _mlp(
    cfg: ReproduceConfig,
    hidden: tuple[int, ...],
    loss: LossName,
    seed: int,
    epochs: int,
    cb: Callable[[int, float], None] | None,
) -> MLPMap:
    """A net with the training settings of ``cfg``."""
    return MLPMap(
        hidden=hidden,
        activation=_activation(cfg.activation),
        dropout=float(cfg.dropout),
        loss=loss,
        margin=float(cfg.margin),
        epochs=epochs,
        batch_size=int(cfg.batch_size),
        lr=float(cfg.lr),
        weight_decay=float(cfg.weight_decay),
        seed=seed,
        progress=cb,
    )


def _activation(name: str) -> Activation:
    for a in ACTIVATIONS:
        if a == name:
            return a
    raise ValueError(f"unknown activation {name!r}")


def _loss_name(name: str) -> LossName:
    for a in LOSSES:
        if a == name:
            return a
    raise ValueError(f"unknown loss {name!r}")


def run_mappings(
    pair: PairedSet, cfg: ReproduceConfig, *, stream: TextIO | None = None
) -> list[MappingResult]:
    """Experiment 1 on one pair: both directions, every selected model and loss.

    Every model of a pair sees the same folds (seeded by ``cfg.seed``), so the rows compare
    like with like. Returns one :class:`MappingResult` per (direction, model, loss), X->Y
    first.
    """
    rep = _Reporter(cfg.quiet, stream)
    splits, evaluated = _splits(pair.n, cfg.folds, cfg.test_size, cfg.seed, pair.label)
    n_eval = evaluated.size
    ks, k_notes = _ks_for(cfg, n_eval, pair.label)
    for note in k_notes:
        rep.info(f"note: {note}")
    kmax = max(ks)
    scheme = f"{len(splits)}-fold out of fold" if cfg.test_size is None else f"test part, {n_eval}"
    rep.info(f"[{pair.label}] experiment 1: n = {pair.n}, {scheme}, k = {ks}")

    results: list[MappingResult] = []
    directions = [
        (pair.x_name, pair.y_name, pair.X, pair.Y),
        (pair.y_name, pair.x_name, pair.Y, pair.X),
    ]
    for d_index, (src, dst, X, Y) in enumerate(directions):
        direction = f"{src}→{dst}"
        Xe, Ye = X[evaluated], Y[evaluated]
        ix = _neighbours(Xe, kmax, cfg)
        iy = _neighbours(Ye, kmax, cfg)
        xy = _mnno_lists(ix, iy, ks)
        chance = [_api.chance(n_eval, k) for k in ks]
        for s_index, (model, loss) in enumerate(_settings(cfg)):
            t0 = time.perf_counter()
            label = f"{pair.name} {direction} {model}/{loss}"
            gd = not (model == "linear" and loss == "mse")

            def epochs_of(n_train: int) -> int:
                if cfg.epochs is not None:
                    return int(cfg.epochs)
                return auto_epochs(n_train, int(cfg.batch_size))

            P, losses = _predict_out_of_fold(
                _model_factory(model, loss, cfg),
                X,
                Y,
                splits,
                evaluated,
                label,
                epochs_of,
                rep,
                salt=d_index * 10 + s_index,
                cfg=cfg,
            )
            epochs = epochs_of(splits[0][0].size) if gd else None
            notes: list[str] = []
            if np.isfinite(P).all() and (cfg.metric != "cosine" or _no_zero_rows(P)):
                ip = _neighbours(P, kmax, cfg)
                fx_x = _mnno_lists(ip, ix, ks)
                fx_y = _mnno_lists(ip, iy, ks)
                r1, r10 = _recall(P, Ye, cfg)
                mse, r2 = _quality(P, Ye)
                ok = True
            else:
                nan = float("nan")
                fx_x = fx_y = [nan] * len(ks)
                r1 = r10 = mse = r2 = nan
                ok = False
                notes.append(f"{label}: non-finite or all-zero predictions (training diverged)")
                rep.info(f"warning: {notes[-1]}")
            res = MappingResult(
                dataset=pair.name,
                direction=direction,
                model=model,
                loss=loss,
                n=int(n_eval),
                ks=list(ks),
                mnno_fx_x=fx_x,
                mnno_fx_y=fx_y,
                mnno_x_y=xy,
                chance=chance,
                recall_at_1=r1,
                recall_at_10=r10,
                mse=mse,
                r2=r2,
                epochs=epochs,
                train_loss=losses,
                seconds=time.perf_counter() - t0,
                ok=ok,
                notes=notes,
            )
            results.append(res)
            k = _main_k(ks)
            a, b, c = res.at(k)
            rep.info(
                f"  {label}: mNNO@{k} f(X),X {a:.3f}  f(X),Y {b:.3f}  X,Y {c:.3f}  "
                f"R@10 {r10:.3f}  [{res.seconds:.1f} s]"
            )
    return results


def _no_zero_rows(P: np.ndarray) -> bool:
    return bool((np.abs(P).max(axis=1) > 0).all())


# --------------------------------------------------------------------------------------------
# Experiment 2
# --------------------------------------------------------------------------------------------


@dataclass
class DepthPoint:
    """One point of experiment 2's depth curve.

    ``kind`` is ``"untrained"`` (a random net applied to the set ``input``; one value per seed
    per k in ``mnno_fx_x``) or ``"trained"`` (``input`` -> ``target``, out of fold; one run, and
    ``mnno_fx_y`` / ``mnno_x_y`` filled). ``mean`` / ``std`` are over seeds, per k.
    """

    dataset: str
    kind: str
    input: str
    target: str | None
    activation: str
    depth: int
    n: int
    ks: list[int]
    seeds: list[int]
    mnno_fx_x: list[list[float]]
    mnno_fx_y: list[list[float]] | None = None
    mnno_x_y: list[float] | None = None
    seconds: float = 0.0

    @property
    def mean(self) -> list[float]:
        """Mean of mNNO(f(X), X) over seeds, per k."""
        return [float(v) for v in np.mean(np.asarray(self.mnno_fx_x), axis=0)]

    @property
    def std(self) -> list[float]:
        """Standard deviation of mNNO(f(X), X) over seeds (0 for one seed), per k."""
        return [float(v) for v in np.std(np.asarray(self.mnno_fx_x), axis=0)]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
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
    """Experiment 2 on one pair: untrained (and trained) nets of each depth; and notes.

    Untrained nets (``cfg.depth_width`` units per hidden layer and as many outputs) are applied
    to the sets named in ``untrained_on`` (default: both sets of the pair),
    ``cfg.depth_seeds`` seeds per (activation, depth). Trained nets
    map X -> Y with the mse loss and ``cfg.activation``, out of fold over ``cfg.depth_folds``
    folds. A pair larger than ``cfg.depth_rows`` is cut to a seeded random subset (noted).
    """
    rep = _Reporter(cfg.quiet, stream)
    notes: list[str] = []
    X, Y = pair.X, pair.Y
    if cfg.depth_rows is not None and pair.n > cfg.depth_rows:
        rng = np.random.default_rng(cfg.seed + 1)
        rows = np.sort(rng.choice(pair.n, size=int(cfg.depth_rows), replace=False))
        X, Y = X[rows], Y[rows]
        notes.append(
            f"{pair.label}: experiment 2 uses a random subset of {rows.size} of the "
            f"{pair.n} items (seed {cfg.seed + 1}; depth_rows = {cfg.depth_rows})"
        )
        rep.info(f"note: {notes[-1]}")
    n = X.shape[0]
    ks, k_notes = _ks_for(cfg, n, f"{pair.label} experiment 2")
    notes.extend(k_notes)
    kmax = max(ks)
    rep.info(f"[{pair.label}] experiment 2: n = {n}, depths {list(cfg.depths)}")
    points: list[DepthPoint] = []
    seeds = [cfg.seed + s for s in range(int(cfg.depth_seeds))]
    neigh = {pair.x_name: _neighbours(X, kmax, cfg), pair.y_name: _neighbours(Y, kmax, cfg)}
    sides = [(pair.x_name, X), (pair.y_name, Y)]
    if untrained_on is not None:
        sides = [(name, S) for name, S in sides if name in untrained_on]
    for name, S in sides:
        iS = neigh[name]
        for act in cfg.depth_activations:
            for depth in cfg.depths:
                t0 = time.perf_counter()
                values = []
                for seed in seeds:
                    F = untrained_map(
                        S,
                        depth=depth,
                        width=int(cfg.depth_width),
                        activation=_activation(act),
                        seed=seed,
                    )
                    values.append(_mnno_lists(_neighbours(F, kmax, cfg), iS, ks))
                pt = DepthPoint(
                    dataset=pair.name,
                    kind="untrained",
                    input=name,
                    target=None,
                    activation=act,
                    depth=depth,
                    n=n,
                    ks=list(ks),
                    seeds=list(seeds),
                    mnno_fx_x=values,
                    seconds=time.perf_counter() - t0,
                )
                points.append(pt)
            k = _main_k(ks)
            curve = " ".join(
                f"{p.mean[ks.index(k)]:.3f}"
                for p in points
                if p.input == name and p.activation == act and p.kind == "untrained"
            )
            rep.info(f"  {pair.name} untrained {act} on {name}: mNNO@{k} by depth {curve}")
    if cfg.depth_trained:
        splits, evaluated = _splits(n, cfg.depth_folds, None, cfg.seed, pair.label)
        ix, iy = neigh[pair.x_name], neigh[pair.y_name]
        xy = _mnno_lists(ix, iy, ks)
        for depth in cfg.depths:
            t0 = time.perf_counter()
            label = f"{pair.name} {pair.x_name}→{pair.y_name} depth {depth}"

            def make(
                seed: int, epochs: int, cb: Callable[[int, float], None] | None, depth: int = depth
            ) -> MLPMap:
                return _mlp(cfg, (int(cfg.depth_width),) * depth, "mse", seed, epochs, cb)

            def epochs_of(n_train: int) -> int:
                return (
                    int(cfg.epochs)
                    if cfg.epochs is not None
                    else auto_epochs(n_train, int(cfg.batch_size))
                )

            P, _ = _predict_out_of_fold(
                make, X, Y, splits, evaluated, label, epochs_of, rep, salt=1000 + depth, cfg=cfg
            )
            if np.isfinite(P).all() and (cfg.metric != "cosine" or _no_zero_rows(P)):
                ip = _neighbours(P, kmax, cfg)
                fx_x, fx_y = _mnno_lists(ip, ix, ks), _mnno_lists(ip, iy, ks)
            else:
                fx_x = fx_y = [float("nan")] * len(ks)
                notes.append(f"{label}: non-finite or all-zero predictions (training diverged)")
            points.append(
                DepthPoint(
                    dataset=pair.name,
                    kind="trained",
                    input=pair.x_name,
                    target=pair.y_name,
                    activation=cfg.activation,
                    depth=depth,
                    n=n,
                    ks=list(ks),
                    seeds=[cfg.seed],
                    mnno_fx_x=[fx_x],
                    mnno_fx_y=[fx_y],
                    mnno_x_y=xy,
                    seconds=time.perf_counter() - t0,
                )
            )
            k = _main_k(ks)
            rep.info(
                f"  {label} trained: mNNO@{k} f(X),X {fx_x[ks.index(k)]:.3f}  "
                f"f(X),Y {fx_y[ks.index(k)]:.3f}  X,Y {xy[ks.index(k)]:.3f}"
            )
    return points, notes


# --------------------------------------------------------------------------------------------
# Both experiments, the report
# --------------------------------------------------------------------------------------------


@dataclass
class Report:
    """Everything one run produced: settings, data sets, both experiments, notes, timing."""

    config: ReproduceConfig
    datasets: list[dict[str, Any]]
    mappings: list[MappingResult]
    depths: list[DepthPoint]
    notes: list[str]
    seconds: float
    command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """All numbers and settings as JSON-ready values (NaN becomes ``null``)."""
        from . import __version__

        return _json_ready(
            {
                "what": "Collell & Moens (ACL 2018) reproduction: do cross-modal mappings "
                "bridge modalities?",
                "nnoverlap_version": __version__,
                "numpy_version": np.__version__,
                "command": self.command,
                "settings": self.config.to_dict(),
                "datasets": self.datasets,
                "notes": self.notes,
                "experiment1": [asdict(r) for r in self.mappings],
                "experiment2": [p.to_dict() for p in self.depths],
                "seconds": self.seconds,
            }
        )

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False, allow_nan=False) + "\n"

    def to_markdown(self) -> str:
        """The paper-shaped tables as markdown (experiment 1 at the headline k, all k; exp. 2)."""
        return _markdown(self)

    def write(self, out: str | os.PathLike[str], plots: bool = True) -> list[Path]:
        """Write ``results.md``, ``results.json`` and the figures into directory ``out``.

        The figures (``mnno_scatter.png``, ``depth_curve.png``) need matplotlib; without it
        they are skipped and a note saying so is added to :attr:`notes` (and the markdown).
        Returns the files written.
        """
        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        written = []
        if plots:
            try:
                if self.mappings:
                    written.append(plot_mnno_scatter(self, d / "mnno_scatter.png"))
                if self.depths:
                    written.append(plot_depth_curve(self, d / "depth_curve.png"))
            except ImportError as exc:
                self.notes.append(f"plots skipped: {exc}")
        md = d / "results.md"
        md.write_text(self.to_markdown(), encoding="utf-8")
        js = d / "results.json"
        js.write_text(self.to_json(), encoding="utf-8")
        return [md, js, *written]


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, ReproduceConfig):
        return obj.to_dict()
    return obj


def reproduce(
    pairs: Sequence[PairedSet],
    cfg: ReproduceConfig | None = None,
    *,
    notes: Sequence[str] = (),
    stream: TextIO | None = None,
    command: str | None = None,
) -> Report:
    """Run experiment 1 (and, with ``cfg.depth``, experiment 2) on every pair.

    ``notes`` (e.g. where the data came from) and every pair's own notes are printed on stderr
    (unless quiet) and kept in the report.
    """
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
    for note in all_notes:
        rep.info(f"note: {note}")
    mappings: list[MappingResult] = []
    depths: list[DepthPoint] = []
    for p in pairs if cfg.mappings else ():
        mappings.extend(run_mappings(p, cfg, stream=stream))
        all_notes.extend(n for r in mappings if r.dataset == p.name for n in r.notes)
    if cfg.depth:
        seen: set[tuple[str, str]] = set()
        for p in pairs:
            # A set shared by two pairs (the visual side of the ImageNet pairs) gets untrained
            # nets once, on its first (largest-first as given) appearance.
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
        mappings=mappings,
        depths=depths,
        notes=list(dict.fromkeys(all_notes)),
        seconds=seconds,
        command=command,
    )


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def _f(v: float, digits: int = 3) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _g(v: float) -> str:
    return "—" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _model_label(model: str, loss: str) -> str:
    if model == "linear":
        return "linear (ridge, closed form)" if loss == "mse" else "linear (Adam)"
    return "MLP, 1 hidden layer"


def _markdown_mappings(report: Report) -> list[str]:
    cfg = report.config
    lines: list[str] = []
    scheme = (
        f"{cfg.folds}-fold cross-validation, predictions made out of fold and measured on all items"
        if cfg.test_size is None
        else f"one train/test split, measured on the {cfg.test_size:.0%} test items"
    )
    self_txt = "self counted as a neighbour" if cfg.include_self else "self excluded"
    lines.append("## Experiment 1: mapped vectors f(X) against their input X and target Y\n")
    lines.append(
        f"Metric {cfg.metric}, exact neighbours, {self_txt}; {scheme}; seed {cfg.seed}. "
        "Recall@r: the true y_i among the r nearest rows of Y to f(x_i). MSE is the mean over "
        "items and dimensions; R² = 1 − SSE/SST over all entries (cosine- and ranking-trained "
        "maps are not fitted to Y's scale, so their MSE and R² are not meaningful).\n"
    )
    by_ds: dict[str, list[MappingResult]] = {}
    for r in report.mappings:
        by_ds.setdefault(r.dataset + "|" + str(r.n), []).append(r)
    header = (
        "| data set | direction | model | loss | mNNO(f(X),X) | mNNO(f(X),Y) | mNNO(X,Y) "
        "| recall@1 | recall@10 | MSE | R² |"
    )
    rule = "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    ks_main = sorted({_main_k(r.ks) for r in report.mappings})
    for k in ks_main:
        rows = [r for r in report.mappings if _main_k(r.ks) == k]
        ns = sorted({r.n for r in rows})
        chance = ", ".join(f"{_f(_api.chance(n, k), 4)} (n = {n})" for n in ns)
        lines.append(f"**k = {k}** (chance k/(n−1): {chance})\n")
        lines.append(header)
        lines.append(rule)
        for r in rows:
            a, b, c = r.at(k)
            lines.append(
                f"| {r.dataset} (n = {r.n}) | {r.direction} | {_model_label(r.model, r.loss)} "
                f"| {r.loss} | {_f(a)} | {_f(b)} | {_f(c)} | {_f(r.recall_at_1)} "
                f"| {_f(r.recall_at_10)} | {_g(r.mse)} | {_f(r.r2)} |"
            )
        lines.append("")
    lines.append("### Every k: mNNO(f(X),X) / mNNO(f(X),Y) / mNNO(X,Y)\n")
    all_ks = sorted({k for r in report.mappings for k in r.ks})
    lines.append(
        "| data set | direction | model | loss | " + " | ".join(f"k = {k}" for k in all_ks) + " |"
    )
    lines.append("|---|---|---|---|" + "---:|" * len(all_ks))
    for r in report.mappings:
        cells = []
        for k in all_ks:
            if k in r.ks:
                a, b, c = r.at(k)
                cells.append(f"{_f(a)} / {_f(b)} / {_f(c)}")
            else:
                cells.append("—")
        lines.append(
            f"| {r.dataset} | {r.direction} | {r.model} | {r.loss} | " + " | ".join(cells) + " |"
        )
    lines.append("")
    return lines


def _markdown(report: Report) -> str:
    cfg = report.config
    lines: list[str] = ["# Do cross-modal mappings bridge modalities? (Collell & Moens 2018)\n"]
    if report.mappings:
        lines.extend(_markdown_mappings(report))
    if report.depths:
        lines.extend(_markdown_depths(report))
    lines.append("## Settings and notes\n")
    lines.append(
        f"Nets: one hidden layer of {cfg.hidden} units ({cfg.activation}), dropout "
        f"{cfg.dropout}, Adam lr {cfg.lr}, batch {cfg.batch_size}, epochs "
        f"{cfg.epochs if cfg.epochs is not None else f'auto (about {AUTO_STEPS} steps)'}, "
        f"weight decay {cfg.weight_decay}, ranking margin {cfg.margin}"
        + ("; nets trained on X and Y each divided by its RMS entry" if cfg.scale else "")
        + f"; ridge penalty {cfg.ridge} (closed form, data as given). "
        f"Total time {report.seconds:.0f} s.\n"
    )
    for d in report.datasets:
        lines.append(
            f"- {d['name']} {d['x']}/{d['y']}: n = {d['n']}, dims {d['dim_x']} / {d['dim_y']}"
        )
    for note in report.notes:
        lines.append(f"- note: {note}")
    if report.command:
        lines.append(f"\nCommand: `{report.command}`")
    return "\n".join(lines) + "\n"


def _markdown_depths(report: Report) -> list[str]:
    cfg = report.config
    lines = ["## Experiment 2: nets of depth 0–5 applied to X (0: a linear map)\n"]
    depths = sorted({p.depth for p in report.depths})
    untrained = [p for p in report.depths if p.kind == "untrained"]
    if untrained:
        k = _main_k(untrained[0].ks)
        lines.append(
            f"Untrained nets ({cfg.depth_width} units per hidden layer, {cfg.depth_width} "
            f"outputs): mNNO@{k}(f(X), X), mean ± std over {cfg.depth_seeds} seeds.\n"
        )
        lines.append(
            "| data set | X | activation | " + " | ".join(f"depth {d}" for d in depths) + " |"
        )
        lines.append("|---|---|---|" + "---:|" * len(depths))
        groups: dict[tuple[str, str, str, int], dict[int, DepthPoint]] = {}
        for p in untrained:
            groups.setdefault((p.dataset, p.input, p.activation, p.n), {})[p.depth] = p
        for (ds, inp, act, n), by_depth in groups.items():
            cells = []
            for d in depths:
                q = by_depth.get(d)
                if q is None:
                    cells.append("—")
                else:
                    i = q.ks.index(_main_k(q.ks))
                    cells.append(f"{_f(q.mean[i])} ± {_f(q.std[i])}")
            lines.append(f"| {ds} (n = {n}) | {inp} | {act} | " + " | ".join(cells) + " |")
        lines.append("")
    trained = [p for p in report.depths if p.kind == "trained"]
    if trained:
        k = _main_k(trained[0].ks)
        lines.append(
            f"Trained nets (X→Y, mse, {cfg.activation}, {cfg.depth_width} units per hidden "
            f"layer, out of fold over {cfg.depth_folds} folds): mNNO@{k} f(X),X / f(X),Y "
            "(mNNO(X,Y) in the last column).\n"
        )
        lines.append(
            "| data set | X→Y | " + " | ".join(f"depth {d}" for d in depths) + " | mNNO(X,Y) |"
        )
        lines.append("|---|---|" + "---:|" * (len(depths) + 1))
        tgroups: dict[tuple[str, str, str, int], dict[int, DepthPoint]] = {}
        for p in trained:
            tgroups.setdefault((p.dataset, p.input, p.target or "", p.n), {})[p.depth] = p
        for (ds, inp, tgt, n), by_depth in tgroups.items():
            cells = []
            xy = "—"
            for d in depths:
                q = by_depth.get(d)
                if q is None or q.mnno_fx_y is None or q.mnno_x_y is None:
                    cells.append("—")
                    continue
                i = q.ks.index(_main_k(q.ks))
                cells.append(f"{_f(q.mnno_fx_x[0][i])} / {_f(q.mnno_fx_y[0][i])}")
                xy = _f(q.mnno_x_y[i])
            lines.append(f"| {ds} (n = {n}) | {inp}→{tgt} | " + " | ".join(cells) + f" | {xy} |")
        lines.append("")
    return lines


# --------------------------------------------------------------------------------------------
# Plots (optional: matplotlib, the ``plot`` extra)
# --------------------------------------------------------------------------------------------


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plots need matplotlib: pip install 'nnoverlap[plot]' (or pip install matplotlib)"
        ) from None
    return plt


_MARKERS = {
    ("linear", "mse"): "s",
    ("linear", "cosine"): "D",
    ("linear", "ranking"): "P",
    ("mlp", "mse"): "o",
    ("mlp", "cosine"): "^",
    ("mlp", "ranking"): "v",
}


def plot_mnno_scatter(report: Report, path: str | os.PathLike[str]) -> Path:
    """mNNO(f(X), X) (x axis) against mNNO(f(X), Y) (y axis) for every setting of exp. 1.

    One colour per data set and direction, one marker per model and loss, the diagonal, and
    mNNO(X, Y) of each data set and direction as a dotted horizontal line in its colour.
    Points below the diagonal keep more of the input's neighbourhoods than they take on of
    the target's. Raises ``ImportError`` (saying what to install) without matplotlib.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    groups = list(dict.fromkeys((r.dataset, r.n, r.direction) for r in report.mappings))
    cmap = plt.get_cmap("tab10")
    k_used = None
    for gi, g in enumerate(groups):
        color = cmap(gi % 10)
        rows = [r for r in report.mappings if (r.dataset, r.n, r.direction) == g]
        for r in rows:
            k = _main_k(r.ks)
            k_used = k
            a, b, c = r.at(k)
            ax.scatter(
                a,
                b,
                color=color,
                marker=_MARKERS.get((r.model, r.loss), "o"),
                s=46,
                edgecolors="black",
                linewidths=0.4,
                zorder=3,
            )
        c = rows[0].at(_main_k(rows[0].ks))[2]
        ax.axhline(c, color=color, linestyle=":", linewidth=1.2, zorder=1)
        ax.plot([], [], color=color, linewidth=6, label=f"{g[0]} {g[2]}")
    for (model, loss), m in _MARKERS.items():
        if any(r.model == model and r.loss == loss for r in report.mappings):
            ax.scatter([], [], marker=m, color="grey", label=f"{model} / {loss}")
    ax.plot([0, 1], [0, 1], color="black", linewidth=0.8, label="diagonal")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"mNNO@{k_used}(f(X), X): keeps the input's neighbours")
    ax.set_ylabel(f"mNNO@{k_used}(f(X), Y): takes on the target's neighbours")
    ax.set_title("Experiment 1 (dotted: mNNO(X, Y) of each data set)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", ncol=1, framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def plot_depth_curve(report: Report, path: str | os.PathLike[str]) -> Path:
    """Experiment 2: mNNO(f(X), X) against depth, one panel per data set and input set.

    Untrained nets: one line per activation, mean ± std over seeds. Trained nets (in the
    panel of their input, one grey shade per target Y): mNNO(f(X), X) dashed and
    mNNO(f(X), Y) dotted. Raises ``ImportError`` (saying what to install) without matplotlib.
    """
    plt = _pyplot()
    panels = list(dict.fromkeys((p.dataset, p.input) for p in report.depths))
    if not panels:
        raise ValueError("the report has no experiment 2 results to plot")
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 3.4 * rows), dpi=90, squeeze=False, sharey=True
    )
    cmap = plt.get_cmap("tab10")
    greys = ("black", "dimgray", "darkgray")
    acts = list(dict.fromkeys(p.activation for p in report.depths if p.kind == "untrained"))
    k_used = None
    for i, key in enumerate(panels):
        ax = axes[i // cols][i % cols]
        pts = [p for p in report.depths if (p.dataset, p.input) == key]
        ns = sorted({p.n for p in pts if p.kind == "untrained"} or {p.n for p in pts})
        for ai, act in enumerate(acts):
            sel = sorted(
                (p for p in pts if p.kind == "untrained" and p.activation == act),
                key=lambda p: p.depth,
            )
            if not sel:
                continue
            k = _main_k(sel[0].ks)
            k_used = k
            j = sel[0].ks.index(k)
            ax.errorbar(
                [p.depth for p in sel],
                [p.mean[j] for p in sel],
                yerr=[p.std[j] for p in sel],
                color=cmap(ai),
                marker="o",
                markersize=4,
                capsize=2,
                label=f"untrained {act}",
            )
        targets = list(dict.fromkeys((p.target, p.n) for p in pts if p.kind == "trained"))
        for ti, (target, n) in enumerate(targets):
            tr = sorted(
                (p for p in pts if p.kind == "trained" and (p.target, p.n) == (target, n)),
                key=lambda p: p.depth,
            )
            k = _main_k(tr[0].ks)
            k_used = k_used or k
            j = tr[0].ks.index(k)
            grey = greys[ti % len(greys)]
            extra = "" if n in ns else f", n = {n}"
            ax.plot(
                [p.depth for p in tr],
                [p.mnno_fx_x[0][j] for p in tr],
                color=grey,
                linestyle="--",
                marker="s",
                markersize=4,
                label=f"trained →{target}{extra}: f(X),X",
            )
            ax.plot(
                [p.depth for p in tr],
                [(p.mnno_fx_y or [[math.nan] * len(p.ks)])[0][j] for p in tr],
                color=grey,
                linestyle=":",
                marker="x",
                markersize=5,
                label=f"trained →{target}{extra}: f(X),Y",
            )
        n_txt = ", ".join(str(n) for n in ns)
        ax.set_title(f"{key[0]}: X = {key[1]} (n = {n_txt})", fontsize=9)
        ax.set_xlabel("hidden layers (0: linear map)")
        ax.set_xticks(sorted({p.depth for p in pts}))
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if i % cols == 0:
            ax.set_ylabel(f"mNNO@{k_used}(f(X), X)")
        ax.legend(fontsize=6, loc="upper right", framealpha=0.85)
    for j in range(len(panels), rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.suptitle("Experiment 2: nets of depth 0–5 applied to X", fontsize=10)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


# --------------------------------------------------------------------------------------------
# Command line: ``nnoverlap reproduce``
# --------------------------------------------------------------------------------------------

#: Defaults of the command line, chosen to run in a few minutes on 2 cores.
CLI_FOLDS = 5


def add_reproduce_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``reproduce`` subcommand on an ``argparse`` subparsers object."""
    p = sub.add_parser(
        "reproduce",
        help="reproduce Collell & Moens (2018): do cross-modal maps bridge modalities?",
        description=(
            "Train linear and neural maps X->Y and Y->X (mse, cosine, ranking losses) and "
            "report, on held-out items, mNNO(f(X),X), mNNO(f(X),Y), mNNO(X,Y), retrieval "
            "recall, MSE and R^2 (experiment 1); and how much untrained and trained nets of "
            "depth 0-5 keep the neighbourhoods of their input (experiment 2). Without --x/--y "
            "it runs on the bundled ImageNet-1k pairs (visual vs MiniLM, visual vs GloVe) and "
            "on words10k (GloVe vs MiniLM) when ../shared/data is there."
        ),
    )
    p.add_argument("--x", metavar="X.npy", help="first embedding (n, d1); rows paired with --y")
    p.add_argument("--y", metavar="Y.npy", help="second embedding (n, d2) of the same items")
    p.add_argument("--name", default=None, help="data set name for --x/--y (default: user)")
    p.add_argument(
        "--shared",
        metavar="DIR",
        default=None,
        help=f"shared data directory holding words10k/ (default: ${SHARED_ENV} or ../shared/data)",
    )
    p.add_argument(
        "-k",
        "--k",
        dest="ks",
        type=int,
        nargs="+",
        default=None,
        metavar="K",
        help=f"k of mNNO (default: {' '.join(map(str, DEFAULT_KS))}, those <= n - 1)",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=CLI_FOLDS,
        help=f"k-fold cross-validation, out of fold (default {CLI_FOLDS})",
    )
    p.add_argument(
        "--test-size",
        type=float,
        default=None,
        help="one train/test split with this test fraction instead of --folds",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"training epochs (default: auto, about {AUTO_STEPS} Adam steps per fit)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of folds, subsets and models")
    p.add_argument("--hidden", type=int, default=300, help="hidden units of the nets (300)")
    p.add_argument("--metric", choices=_api.METRICS, default="cosine")
    p.add_argument("--threads", type=int, default=None, help="k-NN threads (default: all)")
    p.add_argument(
        "--include-self",
        action="store_true",
        help="count each item as its own neighbour (the paper's released code did)",
    )
    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default="tanh",
        help="hidden activation of the trained nets (default tanh)",
    )
    p.add_argument("--no-mappings", action="store_true", help="skip experiment 1")
    p.add_argument("--no-depth", action="store_true", help="skip experiment 2")
    p.add_argument(
        "--no-depth-trained", action="store_true", help="experiment 2 with untrained nets only"
    )
    p.add_argument("--depth-seeds", type=int, default=3, help="seeds per untrained net (default 3)")
    p.add_argument(
        "--depth-width", type=int, default=300, help="units per hidden layer in exp. 2 (300)"
    )
    p.add_argument(
        "--depths",
        type=int,
        nargs="+",
        default=None,
        metavar="D",
        help="hidden layers of the exp. 2 nets, 0 to 5 (default 0 1 2 3 4 5; 0 = linear map)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="write results.md, results.json and plots (with matplotlib) here",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_reproduce)
    return p


def _cmd_reproduce(args: argparse.Namespace) -> int:
    if (args.x is None) != (args.y is None):
        raise ValueError("give both --x and --y (rows paired by position), or neither")
    cfg = ReproduceConfig(
        ks=tuple(args.ks) if args.ks else None,
        metric=args.metric,
        include_self=bool(args.include_self),
        folds=args.folds,
        test_size=args.test_size,
        seed=args.seed,
        threads=args.threads,
        hidden=args.hidden,
        epochs=args.epochs,
        activation=args.activation,
        mappings=not args.no_mappings,
        depth=not args.no_depth,
        depth_trained=not args.no_depth_trained,
        depth_seeds=args.depth_seeds,
        depths=tuple(args.depths) if args.depths else DEFAULT_DEPTHS,
        depth_width=args.depth_width,
        quiet=bool(args.quiet),
    )
    if args.x is not None:
        pairs = [load_pair_files(args.x, args.y, args.name)]
        notes = [f"data: {args.x} and {args.y}, rows paired by position"]
    else:
        pairs, where = default_pairs(args.shared)
        notes = ["data: the bundled ImageNet-1k pairs", where]
    command = "nnoverlap reproduce " + " ".join(_argv_of(args))
    report = reproduce(pairs, cfg, notes=notes, command=command.strip())
    if args.out is not None:
        files = report.write(args.out, plots=True)
        for n in report.notes:
            if n.startswith("plots skipped"):
                print(f"nnoverlap: {n}", file=sys.stderr)
        if not args.quiet:
            print("wrote " + ", ".join(str(f) for f in files), file=sys.stderr)
    print(report.to_markdown(), end="")
    return 0


def _argv_of(args: argparse.Namespace) -> list[str]:
    """The options that differ from the defaults, for the report's command line."""
    out = []
    defaults = {
        "folds": CLI_FOLDS,
        "seed": 0,
        "hidden": 300,
        "metric": "cosine",
        "depth_seeds": 3,
        "depth_width": 300,
        "activation": "tanh",
    }
    for name, flag in (
        ("x", "--x"),
        ("y", "--y"),
        ("name", "--name"),
        ("shared", "--shared"),
        ("folds", "--folds"),
        ("test_size", "--test-size"),
        ("epochs", "--epochs"),
        ("seed", "--seed"),
        ("hidden", "--hidden"),
        ("metric", "--metric"),
        ("threads", "--threads"),
        ("depth_seeds", "--depth-seeds"),
        ("depth_width", "--depth-width"),
        ("activation", "--activation"),
        ("out", "--out"),
    ):
        v = getattr(args, name)
        if v is not None and defaults.get(name) != v:
            out += [flag, str(v)]
    if args.ks:
        out += ["-k", *map(str, args.ks)]
    if args.depths:
        out += ["--depths", *map(str, args.depths)]
    for name, flag in (
        ("include_self", "--include-self"),
        ("no_mappings", "--no-mappings"),
        ("no_depth", "--no-depth"),
        ("no_depth_trained", "--no-depth-trained"),
        ("quiet", "--quiet"),
    ):
        if getattr(args, name):
            out.append(flag)
    return out
