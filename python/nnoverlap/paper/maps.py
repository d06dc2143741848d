"""The maps of the experiments, fitted as a careful researcher would.

- Linear maps with the mse loss are ridge regressions whose penalty is chosen **per map, on its
  training part**, by exact leave-one-out error in closed form (one SVD, then every penalty
  cheaply: :func:`nnoverlap.mapping.ridge_path`).
- Nets (a linear layer trained with the cosine or ranking loss; nets with 1 to 5 hidden
  layers) train with Adam and **early stopping** on a validation slice of the training part
  (10 % by default); the epochs actually run and the best epoch are reported.
- Nets train on X and Y each divided by its RMS entry (a global scale changes no
  neighbourhood and no cosine) and their predictions are scaled back.

The helpers here only fit and predict; what is measured, and on which items, is
:mod:`nnoverlap.paper.protocols`.

>>> import numpy as np
>>> from nnoverlap.paper.maps import NetSettings, Setting, fit_predict
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((80, 6)); Y = X @ rng.standard_normal((6, 3))
>>> train, test = np.arange(60), np.arange(60, 80)
>>> (P,), info = fit_predict(Setting("linear", "mse"), NetSettings(), X, Y, train, [test], seed=0)
>>> P.shape, info["ridge"] < 1e-2
((20, 3), True)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from ..mapping import ACTIVATIONS, LOSSES, Activation, LinearMap, LossName, MLPMap

__all__ = [
    "MODELS",
    "NetSettings",
    "Setting",
    "blas_threads",
    "default_workers",
    "fit_predict",
    "standardise",
]

#: Models of experiment 1: ``"linear"`` (ridge for mse, a linear layer by Adam otherwise)
#: and ``"mlp"`` (hidden layers of tanh units, ``depth`` of them).
MODELS = ("linear", "mlp")


class Setting(NamedTuple):
    """One map of experiment 1: model, loss, and hidden layers (0 for ``"linear"``)."""

    model: str
    loss: str
    depth: int = 0

    @property
    def label(self) -> str:
        """E.g. ``"ridge (LOO λ)"``, ``"linear/cosine"``, ``"mlp1/mse"``."""
        if self.model == "linear":
            return "ridge (LOO λ)" if self.loss == "mse" else f"linear/{self.loss}"
        if self.depth == 0:
            return f"linear (Adam)/{self.loss}"
        return f"mlp{self.depth}/{self.loss}"

    @property
    def key(self) -> str:
        """A short stable name: ``"linear-mse"``, ``"mlp2-mse"``."""
        return (
            f"{self.model}-{self.loss}"
            if self.model == "linear"
            else f"mlp{self.depth}-{self.loss}"
        )

    @property
    def closed_form(self) -> bool:
        """Whether this is the closed-form ridge (no training loop)."""
        return self.model == "linear" and self.loss == "mse"


@dataclass(frozen=True)
class NetSettings:
    """How the nets train (every value goes into the report).

    ``max_epochs`` with early stopping after ``patience`` epochs without improvement of the loss
    on a ``validation`` fraction of the training part; ``scale``: train on X and Y each divided
    by its RMS entry.
    """

    hidden: int = 300
    activation: str = "tanh"
    dropout: float = 0.0
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    margin: float = 0.5
    max_epochs: int = 100
    validation: float = 0.1
    patience: int = 5
    scale: bool = True

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; one of {ACTIVATIONS}")
        for name in ("hidden", "batch_size", "max_epochs", "patience"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not 0.0 <= float(self.validation) < 1.0:
            raise ValueError(f"validation must be a fraction in [0, 1), got {self.validation}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not (math.isfinite(float(self.lr)) and float(self.lr) > 0.0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if not (math.isfinite(float(self.weight_decay)) and float(self.weight_decay) >= 0.0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay}")

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values."""
        return asdict(self)


def activation_name(name: str) -> Activation:
    """``name`` as an :data:`~nnoverlap.mapping.Activation` (``ValueError`` if unknown)."""
    for a in ACTIVATIONS:
        if a == name:
            return a
    raise ValueError(f"unknown activation {name!r}")


def _loss(name: str) -> LossName:
    for a in LOSSES:
        if a == name:
            return a
    raise ValueError(f"unknown loss {name!r}")


def make_map(setting: Setting, net: NetSettings, seed: int) -> LinearMap | MLPMap:
    """The unfitted map of ``setting`` (ridge with LOO-chosen λ, or a net)."""
    if setting.closed_form:
        return LinearMap(ridge="loo")
    width = int(net.hidden)
    return MLPMap(
        hidden=(width,) * int(setting.depth),
        activation=activation_name(net.activation),
        dropout=float(net.dropout),
        loss=_loss(setting.loss),
        margin=float(net.margin),
        epochs=int(net.max_epochs),
        batch_size=int(net.batch_size),
        lr=float(net.lr),
        weight_decay=float(net.weight_decay),
        seed=int(seed),
        validation=float(net.validation),
        patience=int(net.patience),
    )


def rms(A: np.ndarray) -> float:
    """Root mean square of the entries of ``A`` (1.0 for an all-zero array)."""
    v = math.sqrt(float(np.mean(np.square(A, dtype=np.float64))))
    return v if v > 0 else 1.0


def standardise(A: np.ndarray) -> np.ndarray:
    """Columns centred and divided by their standard deviation (constant columns: centred).

    >>> import numpy as np
    >>> Z = standardise(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> Z.tolist()
    [[-1.0, 0.0], [1.0, 0.0]]
    """
    A64 = np.asarray(A, dtype=np.float64)
    sd = A64.std(axis=0)
    return (A64 - A64.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def fit_predict(
    setting: Setting,
    net: NetSettings,
    X: np.ndarray,
    Y: np.ndarray,
    train: np.ndarray,
    predict: Sequence[np.ndarray],
    *,
    seed: int,
    shuffle_seed: int | None = None,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Fit the map of ``setting`` on the rows ``train`` and predict each row set of ``predict``.

    With ``shuffle_seed`` the training targets are shuffled first (a seeded permutation of the
    training rows of Y): the shuffled-pair control, a map that cannot have learnt any pairing.
    Returns the predictions (float64) and what the fit chose: ``ridge`` (the penalty) and
    ``ridge_at_edge``, or ``epochs_run``, ``best_epoch`` and ``final_loss``.
    """
    Xtr = np.asarray(X[train], dtype=np.float64)
    Ytr = np.asarray(Y[train], dtype=np.float64)
    if shuffle_seed is not None:
        Ytr = Ytr[np.random.default_rng(shuffle_seed).permutation(Ytr.shape[0])]
    model = make_map(setting, net, seed)
    sx = sy = 1.0
    if isinstance(model, MLPMap) and net.scale:
        sx, sy = rms(Xtr), rms(Ytr)
    model.fit(Xtr / sx, Ytr / sy)
    preds = [model.predict(np.asarray(X[rows], dtype=np.float64) / sx) * sy for rows in predict]
    info: dict[str, Any]
    if isinstance(model, LinearMap):
        info = {"ridge": model.ridge_, "ridge_at_edge": bool(model.ridge_at_edge_)}
    else:
        info = {
            "epochs_run": model.epochs_run_,
            "best_epoch": model.best_epoch_,
            "final_loss": float(model.history[-1]) if model.history else math.nan,
        }
    return preds, info


def have_threadpoolctl() -> bool:
    """Whether ``threadpoolctl`` (the ``reproduce`` extra) can be imported."""
    try:
        import threadpoolctl  # type: ignore[import-untyped,unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


def default_workers(requested: int | None) -> int:
    """Fits run at once: ``requested``, or 2 on a machine with 2 or more cores when
    ``threadpoolctl`` can pin numpy's BLAS to one thread per fit (else 1)."""
    if requested is not None:
        return int(requested)
    if (os.cpu_count() or 1) >= 2 and have_threadpoolctl():
        return 2
    return 1


@contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Limit numpy's BLAS threads within the block (needs ``threadpoolctl``; else no-op).

    The nets multiply small matrices (a batch of 64 rows), where BLAS threads cost more than
    they give, dramatically so on a busy machine; one thread per fit, two fits at once, is the
    fast arrangement.
    """
    if limit is None or not have_threadpoolctl():
        yield
        return
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,unused-ignore]

    with threadpool_limits(limits=limit, user_api="blas"):
        yield
