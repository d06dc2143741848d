"""Cross-modal mapping models in pure numpy.

Collell & Moens (ACL 2018), "Do Neural Network Cross-modal Mappings Really Bridge
Modalities?", learn maps ``f: X -> Y`` between image features and word embeddings and then
compare the neighbour structure of ``f(X)`` with that of ``X`` and ``Y``. This module provides
the maps:

* :class:`LinearMap` -- closed-form ridge least squares with an unpenalised intercept;
* :class:`MLPMap` -- a feed-forward net with 0 to 5 hidden layers and a linear output layer,
  trained with Adam on shuffled mini-batches, with hand-written vectorised backpropagation;
* :func:`untrained_map` -- a randomly initialised (untrained) net applied to ``X``, the
  paper's second experiment;
* the losses :func:`mse_loss`, :func:`cosine_loss` and :func:`ranking_loss`, each returning
  the loss and its gradient with respect to the predictions.

Everything is computed in float64 (float32 input is accepted and converted); every random draw
comes from ``np.random.default_rng(seed)``, so a given seed reproduces a run bit for bit.

>>> import numpy as np
>>> from nnoverlap.mapping import LinearMap, MLPMap
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((100, 8))
>>> Y = X @ rng.standard_normal((8, 4)) + 1.0
>>> bool(np.allclose(LinearMap(ridge=0.0).fit(X, Y).predict(X), Y))
True
>>> MLPMap(hidden=(16,), epochs=3).fit(X, Y).predict(X).shape
(100, 4)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ACTIVATIONS",
    "INITS",
    "LOSSES",
    "MAX_HIDDEN_LAYERS",
    "Activation",
    "InitName",
    "LinearMap",
    "LossName",
    "MLPMap",
    "RIDGE_GRID",
    "RidgeSelect",
    "cosine_loss",
    "mse_loss",
    "ranking_loss",
    "ridge_path",
    "untrained_map",
]

Activation = Literal["relu", "tanh", "sigmoid", "none"]
LossName = Literal["mse", "cosine", "ranking"]
InitName = Literal["default", "identity"]
FloatArray = npt.NDArray[np.float64]

#: Hidden-layer activations accepted by :class:`MLPMap` (``"none"`` is the identity).
ACTIVATIONS: tuple[Activation, ...] = ("relu", "tanh", "sigmoid", "none")
#: Training losses accepted by :class:`MLPMap`.
LOSSES: tuple[LossName, ...] = ("mse", "cosine", "ranking")
#: Initialisation schemes accepted by :class:`MLPMap`.
INITS: tuple[InitName, ...] = ("default", "identity")
#: Largest number of hidden layers an :class:`MLPMap` may have.
MAX_HIDDEN_LAYERS = 5

# Norms below this are clipped when normalising rows for the cosine-based losses.
_NORM_EPS = 1e-12
# Adam constants (Kingma & Ba 2015 defaults).
_ADAM_BETA1 = 0.9
_ADAM_BETA2 = 0.999
_ADAM_EPS = 1e-8


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _as_matrix(A: npt.ArrayLike, name: str) -> FloatArray:
    """Return ``A`` as a C-contiguous float64 matrix, or raise a ``ValueError`` naming ``name``.

    Rejects non-numeric data, anything that is not 2-D, zero rows or columns, and non-finite
    values (the message names the first offending row and column).
    """
    arr = np.asarray(A)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} must be real-valued, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features), got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} contains a NaN or infinite value in row {int(row)} "
            f"(column {int(col)}, value {out[row, col]})"
        )
    return out


def _check_pair(X: npt.ArrayLike, Y: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    Xa = _as_matrix(X, "X")
    Ya = _as_matrix(Y, "Y")
    if Xa.shape[0] != Ya.shape[0]:
        raise ValueError(
            "X and Y must have the same number of rows, "
            f"got X with shape {Xa.shape} and Y with shape {Ya.shape}"
        )
    return Xa, Ya


def _check_choice(value: object, name: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(
            f"unknown {name} {value!r}; choose one of {', '.join(repr(c) for c in choices)}"
        )


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_float(
    value: object, name: str, *, low: float, low_open: bool = False, high: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if v < low or (low_open and v == low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and v >= high:
        raise ValueError(f"{name} must be < {high}, got {v}")
    return v


def _check_hidden(hidden: Sequence[int]) -> tuple[int, ...]:
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        raise TypeError(f"hidden must be a sequence of layer widths such as ({hidden},)")
    widths = tuple(hidden)
    if len(widths) > MAX_HIDDEN_LAYERS:
        raise ValueError(
            f"at most {MAX_HIDDEN_LAYERS} hidden layers are supported, "
            f"got {len(widths)} (hidden={widths})"
        )
    return tuple(_check_int(w, f"hidden[{i}]", 1) for i, w in enumerate(widths))


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------


def _check_pred_target(P: npt.ArrayLike, T: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    Pa = np.asarray(P, dtype=np.float64)
    Ta = np.asarray(T, dtype=np.float64)
    if Pa.ndim != 2 or Pa.shape != Ta.shape:
        raise ValueError(
            "predictions P and targets T must be 2-D arrays of the same shape, "
            f"got P with shape {Pa.shape} and T with shape {Ta.shape}"
        )
    if Pa.shape[0] == 0:
        raise ValueError("predictions P and targets T must have at least one row")
    return Pa, Ta


def _unit_rows(A: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Rows of ``A`` divided by their norms (clipped below at 1e-12), and those norms."""
    norms = np.maximum(np.sqrt(np.einsum("ij,ij->i", A, A)), _NORM_EPS)
    return A / norms[:, None], norms


def _unit_rows_backward(
    dU: FloatArray, U: FloatArray, norms: FloatArray, raw_norms: FloatArray
) -> FloatArray:
    """Gradient with respect to ``A`` given the gradient ``dU`` with respect to ``A / |A|``."""
    radial = np.einsum("ij,ij->i", dU, U)
    # Where the norm was clipped the map is A -> A / eps, whose Jacobian is I / eps.
    radial = np.where(raw_norms > _NORM_EPS, radial, 0.0)
    return (dU - radial[:, None] * U) / norms[:, None]


def mse_loss(P: npt.ArrayLike, T: npt.ArrayLike) -> tuple[float, FloatArray]:
    """Mean squared error and its gradient with respect to ``P``.

    ``L = (1/b) * sum_i ||p_i - t_i||^2``: the squared error is *summed* over the ``d``
    output dimensions and *averaged* over the ``b`` rows (it is ``d`` times the element-wise
    mean used by e.g. Keras' ``mse``). The gradient is ``dL/dP = 2 (P - T) / b``.

    Args:
        P: predictions, shape ``(b, d)``.
        T: targets, shape ``(b, d)``.

    Returns:
        ``(loss, dL/dP)`` with ``dL/dP`` of shape ``(b, d)``, float64.

    >>> import numpy as np
    >>> loss, grad = mse_loss(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))
    >>> loss, grad.tolist()
    (5.0, [[2.0, 4.0]])
    """
    Pa, Ta = _check_pred_target(P, T)
    b = Pa.shape[0]
    diff = Pa - Ta
    loss = float(np.einsum("ij,ij->", diff, diff)) / b
    return loss, (2.0 / b) * diff


def cosine_loss(P: npt.ArrayLike, T: npt.ArrayLike) -> tuple[float, FloatArray]:
    """Cosine loss ``L = (1/b) * sum_i (1 - cos(p_i, t_i))`` and its gradient w.r.t. ``P``.

    Row norms are clipped below at ``1e-12`` so that zero rows give a finite loss (cosine 0).
    The loss lies in ``[0, 2]``.

    Args:
        P: predictions, shape ``(b, d)``.
        T: targets, shape ``(b, d)``.

    Returns:
        ``(loss, dL/dP)`` with ``dL/dP`` of shape ``(b, d)``, float64.

    >>> import numpy as np
    >>> loss, grad = cosine_loss(np.array([[2.0, 0.0]]), np.array([[0.0, 3.0]]))
    >>> loss, grad.tolist()
    (1.0, [[-0.0, -0.5]])
    """
    Pa, Ta = _check_pred_target(P, T)
    b = Pa.shape[0]
    U, pn = _unit_rows(Pa)
    V, _ = _unit_rows(Ta)
    cos = np.einsum("ij,ij->i", U, V)
    loss = float(np.mean(1.0 - cos))
    raw_pn = np.sqrt(np.einsum("ij,ij->i", Pa, Pa))
    grad = _unit_rows_backward(-V / b, U, pn, raw_pn)
    return loss, grad


def ranking_loss(
    P: npt.ArrayLike, T: npt.ArrayLike, margin: float = 0.5
) -> tuple[float, FloatArray]:
    """Max-margin ranking loss (Frome et al. 2013, DeViSE) and its gradient w.r.t. ``P``.

    With ``S_ij = cos(p_i, t_j)`` the loss is
    ``L = (1/b) * sum_i sum_{j != i} max(0, margin - S_ii + S_ij)``: every other target in the
    batch is a negative for row ``i``. The sum over negatives is not normalised, so the loss
    grows with the batch size; a batch of one row has no negatives and loss 0. A negative
    whose target equals ``t_i`` contributes the constant ``margin`` (and no gradient). Row
    norms are clipped below at ``1e-12``. At a hinge point (``margin - S_ii + S_ij == 0``)
    the term is treated as inactive.

    Args:
        P: predictions, shape ``(b, d)``.
        T: targets, shape ``(b, d)``.
        margin: the margin of the hinge.

    Returns:
        ``(loss, dL/dP)`` with ``dL/dP`` of shape ``(b, d)``, float64.

    >>> import numpy as np
    >>> T = np.eye(2)
    >>> ranking_loss(T, T, margin=0.5)[0]  # perfect predictions, orthogonal negatives
    0.0
    >>> ranking_loss(T[::-1], T, margin=0.5)[0]  # swapped: each row loses 0.5 + 1
    1.5
    """
    Pa, Ta = _check_pred_target(P, T)
    margin = _check_float(margin, "margin", low=-math.inf)
    b = Pa.shape[0]
    U, pn = _unit_rows(Pa)
    V, _ = _unit_rows(Ta)
    S = U @ V.T
    pos = np.diag(S).copy()
    hinge = margin - pos[:, None] + S
    np.fill_diagonal(hinge, 0.0)
    active = hinge > 0.0
    loss = float(np.sum(hinge, where=active)) / b
    # dL/dS: +1/b for every active (i, j), and -(number of active j)/b on the diagonal.
    G = active.astype(np.float64)
    np.fill_diagonal(G, -G.sum(axis=1))
    G /= b
    raw_pn = np.sqrt(np.einsum("ij,ij->i", Pa, Pa))
    grad = _unit_rows_backward(G @ V, U, pn, raw_pn)
    return loss, grad


def _loss(name: str, P: FloatArray, T: FloatArray, margin: float) -> tuple[float, FloatArray]:
    if name == "mse":
        return mse_loss(P, T)
    if name == "cosine":
        return cosine_loss(P, T)
    return ranking_loss(P, T, margin)


# --------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------


def _activate(name: str, Z: FloatArray) -> FloatArray:
    if name == "relu":
        return np.maximum(Z, 0.0)
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        # Overflow-free logistic function: 1 / (1 + exp(-z)) == (1 + tanh(z / 2)) / 2.
        return 0.5 * (1.0 + np.tanh(0.5 * Z))
    return Z


def _activate_grad(name: str, Z: FloatArray, A: FloatArray) -> FloatArray:
    """Derivative of the activation at pre-activation ``Z`` (``A`` = activation of ``Z``)."""
    if name == "relu":
        return (Z > 0.0).astype(np.float64)
    if name == "tanh":
        return 1.0 - A * A
    if name == "sigmoid":
        return A * (1.0 - A)
    return np.ones_like(Z)


# --------------------------------------------------------------------------------------------
# Linear map
# --------------------------------------------------------------------------------------------


#: The default grid of ridge penalties searched by ``LinearMap(ridge="loo")`` / ``"gcv"``,
#: as multiples of the mean squared singular value of the centred training inputs (so the
#: grid follows the scale of the data): ``10**-6`` to ``10**3``, 37 values.
RIDGE_GRID: tuple[float, ...] = tuple(float(v) for v in np.logspace(-6.0, 3.0, 37))
RidgeSelect = Literal["loo", "gcv"]


def ridge_path(
    X: npt.ArrayLike,
    Y: npt.ArrayLike,
    lambdas: Sequence[float],
    *,
    criterion: RidgeSelect = "loo",
    fit_intercept: bool = True,
) -> FloatArray:
    """Held-out error of ridge maps ``X -> Y`` at every penalty in ``lambdas``, in closed form.

    One thin SVD of the (centred) training inputs ``X = U S V^T`` serves every penalty. The
    ridge smoother (with an unpenalised intercept when ``fit_intercept``) is
    ``H = J/n + U diag(s^2 / (s^2 + lam)) U^T``; with ``criterion="loo"`` the score is the exact
    leave-one-out mean squared error ``(1/n) sum_i ||e_i||^2 / (1 - h_ii)^2`` (residuals
    ``e_i`` of the fit on all rows), with ``"gcv"`` generalised cross-validation
    ``(1/n) ||E||_F^2 / (1 - tr(H)/n)^2``. Both are summed over the output columns.

    Returns one score per penalty (float64; ``inf`` where a row has leverage 1).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 4)); Y = X @ rng.standard_normal((4, 2))
    >>> Y = Y + 0.1 * rng.standard_normal(Y.shape)
    >>> scores = ridge_path(X, Y, [1e-3, 1.0, 1e3])
    >>> bool(scores[0] < scores[2] and scores[1] < scores[2])
    True
    """
    Xa, Ya = _check_pair(X, Y)
    _check_choice(criterion, "criterion", ("loo", "gcv"))
    lams = [_check_float(v, "lambdas[]", low=0.0, low_open=True) for v in lambdas]
    if not lams:
        raise ValueError("lambdas must hold at least one penalty")
    n = Xa.shape[0]
    if fit_intercept:
        Xc = Xa - Xa.mean(axis=0)
        Yc = Ya - Ya.mean(axis=0)
        base_leverage = 1.0 / n
    else:
        Xc, Yc = Xa, Ya
        base_leverage = 0.0
    U, s, _ = np.linalg.svd(Xc, full_matrices=False)
    s2 = s * s
    UtY = U.T @ Yc
    U2 = U * U
    total = float(np.einsum("ij,ij->", Yc, Yc))
    out = np.empty(len(lams))
    for i, lam in enumerate(lams):
        f = s2 / (s2 + lam)
        if criterion == "gcv":
            # ||(I - H) Yc||^2 from the SVD alone: Yc's part outside span(U) plus the shrunk rest.
            inside = np.einsum("ij,ij->i", UtY, UtY)
            sse = total - float(inside.sum()) + float(np.sum(((1.0 - f) ** 2) * inside))
            dof = base_leverage * n + float(f.sum())
            denom = (1.0 - dof / n) ** 2
            out[i] = math.inf if denom <= 0.0 else max(sse, 0.0) / n / denom
            continue
        E = Yc - U @ (f[:, None] * UtY)
        h = base_leverage + U2 @ f
        with np.errstate(divide="ignore"):
            w = np.where(h < 1.0 - 1e-12, 1.0 / (1.0 - h) ** 2, math.inf)
        out[i] = float(np.sum(np.einsum("ij,ij->i", E, E) * w)) / n
    return out


class LinearMap:
    """Closed-form ridge regression ``f(x) = x W + b`` from ``X`` to ``Y``.

    Minimises ``||Y - X W - 1 b^T||_F^2 + ridge * ||W||_F^2``; the intercept ``b`` is not
    penalised. With ``fit_intercept`` the problem is solved on centred data (which is exactly
    the unpenalised-intercept solution of the ``(d+1) x (d+1)`` normal equations), then
    ``b = mean(Y) - mean(X) W``. For ``ridge > 0`` the normal equations are solved with
    ``np.linalg.solve`` (in the ``n x n`` dual form when there are fewer rows ``n`` than input
    dimensions ``d``); for ``ridge == 0`` ``np.linalg.lstsq`` gives the minimum-norm solution.

    ``ridge="loo"`` or ``"gcv"`` chooses the penalty on the training rows at every :meth:`fit`,
    by exact leave-one-out error or generalised cross-validation over ``grid`` (multiples of
    the mean squared singular value of the centred inputs; default :data:`RIDGE_GRID`), all
    from one SVD (:func:`ridge_path`); the chosen penalty is ``ridge_`` and the scores
    ``path_``. ``ridge_at_edge_`` says whether it lies at either end of the grid.

    Attributes (after :meth:`fit`):
        coef_: ``W``, shape ``(d_in, d_out)``.
        intercept_: ``b``, shape ``(d_out,)`` (zeros without ``fit_intercept``).
        ridge_: the penalty used.

    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> m = LinearMap(ridge=0.0).fit(X, 3.0 * X + 1.0)
    >>> np.round(m.predict(np.array([[4.0]])), 6).tolist()
    [[13.0]]
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 3))
    >>> tuned = LinearMap(ridge="loo").fit(X, X @ np.ones((3, 2)))
    >>> tuned.ridge_ < 1e-3  # noise-free data: the smallest penalties predict best
    True
    """

    def __init__(
        self,
        ridge: float | RidgeSelect = 1.0,
        fit_intercept: bool = True,
        grid: Sequence[float] = RIDGE_GRID,
    ) -> None:
        self.ridge = ridge
        self.fit_intercept = fit_intercept
        self.grid = tuple(grid)
        self._check_params()
        self.coef_: FloatArray | None = None
        self.intercept_: FloatArray | None = None
        self.ridge_: float | None = None
        self.path_: FloatArray | None = None
        self.ridge_at_edge_: bool = False

    def __repr__(self) -> str:
        return f"LinearMap(ridge={self.ridge!r}, fit_intercept={self.fit_intercept!r})"

    def _check_params(self) -> float | None:
        if isinstance(self.ridge, str):
            _check_choice(self.ridge, "ridge", ("loo", "gcv"))
            if not self.grid:
                raise ValueError("grid must hold at least one penalty multiple")
            for v in self.grid:
                _check_float(v, "grid[]", low=0.0, low_open=True)
            return None
        return _check_float(self.ridge, "ridge", low=0.0)

    def _select(self, Xa: FloatArray, Ya: FloatArray, criterion: RidgeSelect) -> float:
        Xc = Xa - Xa.mean(axis=0) if self.fit_intercept else Xa
        scale = float(np.einsum("ij,ij->", Xc, Xc)) / max(1, min(Xc.shape))
        scale = scale if scale > 0.0 else 1.0
        lams = [scale * g for g in self.grid]
        self.path_ = ridge_path(Xa, Ya, lams, criterion=criterion, fit_intercept=self.fit_intercept)
        best = int(np.argmin(self.path_))
        self.ridge_at_edge_ = len(lams) > 1 and best in (0, len(lams) - 1)
        return lams[best]

    def fit(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> LinearMap:
        """Fit ``W`` and ``b`` on rows of ``X`` (shape ``(n, d_in)``) and ``Y`` (``(n, d_out)``).

        Returns ``self``.
        """
        fixed = self._check_params()
        Xa, Ya = _check_pair(X, Y)
        if fixed is None:
            criterion: RidgeSelect = "gcv" if self.ridge == "gcv" else "loo"
            ridge = self._select(Xa, Ya, criterion)
        else:
            ridge = fixed
        self.ridge_ = ridge
        if self.fit_intercept:
            x_mean = Xa.mean(axis=0)
            y_mean = Ya.mean(axis=0)
            Xc = Xa - x_mean
            Yc = Ya - y_mean
        else:
            Xc, Yc = Xa, Ya
        n, d = Xc.shape
        if ridge == 0.0:
            W = np.linalg.lstsq(Xc, Yc, rcond=None)[0]
        elif n < d:
            # Dual form: W = X^T (X X^T + ridge I)^{-1} Y, identical to the primal solution.
            K = Xc @ Xc.T
            K[np.diag_indices_from(K)] += ridge
            W = Xc.T @ np.linalg.solve(K, Yc)
        else:
            G = Xc.T @ Xc
            G[np.diag_indices_from(G)] += ridge
            W = np.linalg.solve(G, Xc.T @ Yc)
        self.coef_ = np.ascontiguousarray(W)
        self.intercept_ = y_mean - x_mean @ W if self.fit_intercept else np.zeros(Ya.shape[1])
        return self

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Map rows of ``X`` (shape ``(n, d_in)``) to ``X W + b`` (shape ``(n, d_out)``)."""
        if self.coef_ is None or self.intercept_ is None:
            raise RuntimeError("this LinearMap is not fitted yet; call fit(X, Y) first")
        Xa = _as_matrix(X, "X")
        if Xa.shape[1] != self.coef_.shape[0]:
            raise ValueError(
                f"X has {Xa.shape[1]} columns but the map was fitted on "
                f"{self.coef_.shape[0]} input dimensions (X shape {Xa.shape})"
            )
        return Xa @ self.coef_ + self.intercept_


# --------------------------------------------------------------------------------------------
# Feed-forward net
# --------------------------------------------------------------------------------------------


class MLPMap:
    """Feed-forward net ``f: X -> Y`` trained with Adam, backpropagation written by hand.

    Architecture: ``len(hidden)`` (0 to 5) fully connected hidden layers of the given widths,
    each followed by ``activation`` and, during training only, inverted dropout with rate
    ``dropout`` on its output; then a linear output layer. ``hidden=()`` is a single linear
    layer trained by gradient descent (``dropout`` then has no effect).

    Initialisation (``init="default"``): biases are zero; the weights of a hidden layer
    followed by ``relu`` are He-normal, ``N(0, 2 / fan_in)``; all other weights (hidden
    layers with ``tanh``, ``sigmoid`` or ``none``, and the linear output layer) are
    Glorot-uniform, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``. With
    ``init="identity"`` every weight matrix is the identity and every bias zero; this needs
    ``d_in == every hidden width == d_out`` and otherwise raises ``ValueError``. With
    ``activation="none"`` such a net maps ``X`` to exactly ``X``.

    Training: each epoch visits the rows in a fresh random order in mini-batches of
    ``batch_size`` (the last batch may be smaller) and takes one Adam step (``lr``, betas
    ``(0.9, 0.999)``, eps ``1e-8``) per batch. ``weight_decay`` adds ``weight_decay * W`` to
    the gradient of every weight matrix (L2 regularisation as in ``torch.optim.Adam``; biases
    are not decayed, and the penalty is not part of the reported loss). ``history[e]`` is the
    mean of the mini-batch losses of epoch ``e`` weighted by batch size, as computed during
    training (with dropout). ``progress(epoch, loss)`` is called after every epoch with the
    1-based epoch number and that loss.

    Reproducibility: :meth:`fit` and :meth:`init_params` start from
    ``np.random.default_rng(seed)``; initial weights, then the shuffling and dropout masks,
    are drawn from it in a fixed order, so the same seed and data give bit-identical results.

    Early stopping: with ``validation > 0`` that fraction of the training rows (a seeded
    draw from ``default_rng([seed, 1])``, at least one row, and at least one row left to train
    on) is held out; after every epoch the loss on it (no dropout, the whole slice as one
    batch) is recorded in ``val_history``; training stops once it has not improved for
    ``patience`` epochs, and the parameters of the best epoch are kept. ``epochs`` is then the
    maximum. ``best_epoch_`` (1-based) and ``epochs_run_`` say what happened.

    Losses are described in :func:`mse_loss`, :func:`cosine_loss` and :func:`ranking_loss`
    (``margin`` is used by the latter only). All arithmetic is float64.

    Attributes:
        weights_: list of weight matrices, ``weights_[l]`` of shape ``(fan_in, fan_out)``.
        biases_: list of bias vectors, ``biases_[l]`` of shape ``(fan_out,)``.
        history: training loss per epoch of the last :meth:`fit`.
        val_history: validation loss per epoch (empty without ``validation``).
        best_epoch_: the epoch whose parameters were kept (the last one without
            ``validation``).
        epochs_run_: the epochs actually trained.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((64, 3))
    >>> net = MLPMap(hidden=(8, 8), activation="tanh", epochs=5, seed=1).fit(X, 2.0 * X)
    >>> len(net.history), net.predict(X).shape
    (5, (64, 3))
    >>> ident = MLPMap(hidden=(3,), activation="none", init="identity").init_params(3, 3)
    >>> bool(np.array_equal(ident.predict(X), X))
    True
    """

    def __init__(
        self,
        hidden: Sequence[int] = (300,),
        activation: Activation = "relu",
        dropout: float = 0.0,
        loss: LossName = "mse",
        margin: float = 0.5,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
        init: InitName = "default",
        progress: Callable[[int, float], None] | None = None,
        validation: float = 0.0,
        patience: int = 5,
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.loss = loss
        self.margin = margin
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.seed = seed
        self.init = init
        self.progress = progress
        self.validation = validation
        self.patience = patience
        self._check_params()
        self.weights_: list[FloatArray] = []
        self.biases_: list[FloatArray] = []
        self.history: list[float] = []
        self.val_history: list[float] = []
        self.best_epoch_ = 0
        self.epochs_run_ = 0

    def __repr__(self) -> str:
        names = (
            "hidden",
            "activation",
            "dropout",
            "loss",
            "margin",
            "epochs",
            "batch_size",
            "lr",
            "weight_decay",
            "seed",
            "init",
            "validation",
            "patience",
        )
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in names)
        return f"MLPMap({args})"

    # ---- parameters -----------------------------------------------------------------------

    def _check_params(self) -> tuple[int, ...]:
        widths = _check_hidden(self.hidden)
        _check_choice(self.activation, "activation", ACTIVATIONS)
        _check_choice(self.loss, "loss", LOSSES)
        _check_choice(self.init, "init", INITS)
        _check_float(self.dropout, "dropout", low=0.0, high=1.0)
        _check_float(self.margin, "margin", low=-math.inf)
        _check_int(self.epochs, "epochs", 0)
        _check_int(self.batch_size, "batch_size", 1)
        _check_float(self.lr, "lr", low=0.0, low_open=True)
        _check_float(self.weight_decay, "weight_decay", low=0.0)
        _check_int(self.seed, "seed", 0)
        _check_float(self.validation, "validation", low=0.0, high=1.0)
        _check_int(self.patience, "patience", 1)
        if self.progress is not None and not callable(self.progress):
            raise TypeError("progress must be a callable progress(epoch, loss) or None")
        return widths

    def _init(self, d_in: int, d_out: int, rng: np.random.Generator) -> None:
        widths = self._check_params()
        d_in = _check_int(d_in, "d_in", 1)
        d_out = _check_int(d_out, "d_out", 1)
        sizes = (d_in, *widths, d_out)
        if self.init == "identity":
            if len(set(sizes)) != 1:
                raise ValueError(
                    "init='identity' needs d_in == every hidden width == d_out, got layer "
                    f"sizes {' -> '.join(map(str, sizes))}"
                )
            self.weights_ = [np.eye(d_in) for _ in range(len(sizes) - 1)]
        else:
            self.weights_ = []
            for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                is_hidden = layer < len(widths)
                if is_hidden and self.activation == "relu":
                    W = rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
                else:
                    a = math.sqrt(6.0 / (fan_in + fan_out))
                    W = rng.uniform(-a, a, size=(fan_in, fan_out))
                self.weights_.append(W)
        self.biases_ = [np.zeros(n) for n in sizes[1:]]
        self.history = []

    def init_params(self, d_in: int, d_out: int) -> MLPMap:
        """Initialise the (untrained) parameters for ``d_in`` inputs and ``d_out`` outputs.

        Uses the scheme described in the class docstring and ``default_rng(seed)``, exactly as
        :meth:`fit` does before training; afterwards :meth:`predict` applies the untrained
        net. Returns ``self``.

        >>> import numpy as np
        >>> net = MLPMap(hidden=(5,), seed=3).init_params(4, 2)
        >>> [W.shape for W in net.weights_]
        [(4, 5), (5, 2)]
        """
        self._init(d_in, d_out, np.random.default_rng(self.seed))
        return self

    # ---- forward / backward ---------------------------------------------------------------

    def _require_params(self, X: FloatArray) -> None:
        if not self.weights_:
            raise RuntimeError(
                "this MLPMap has no parameters yet; call fit(X, Y) or init_params(d_in, d_out)"
            )
        if X.shape[1] != self.weights_[0].shape[0]:
            raise ValueError(
                f"X has {X.shape[1]} columns but the net expects "
                f"{self.weights_[0].shape[0]} input dimensions (X shape {X.shape})"
            )

    def _forward(
        self, X: FloatArray, rng: np.random.Generator | None
    ) -> tuple[FloatArray, list[tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]]]:
        """Forward pass; dropout is applied iff ``rng`` is given and ``dropout > 0``.

        Returns the output and, per hidden layer, ``(input, pre-activation, activation,
        dropout mask or None)`` for the backward pass.
        """
        cache: list[tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]] = []
        h = X
        keep = 1.0 - float(self.dropout)
        for W, b in zip(self.weights_[:-1], self.biases_[:-1]):
            z = h @ W
            z += b
            a = _activate(self.activation, z)
            mask = None
            if rng is not None and self.dropout > 0.0:
                mask = (rng.random(a.shape) < keep) / keep
                out = a * mask
            else:
                out = a
            cache.append((h, z, a, mask))
            h = out
        P = h @ self.weights_[-1]
        P += self.biases_[-1]
        cache.append((h, P, P, None))
        return P, cache

    def _backward(
        self,
        dP: FloatArray,
        cache: list[tuple[FloatArray, FloatArray, FloatArray, FloatArray | None]],
    ) -> tuple[list[FloatArray], list[FloatArray]]:
        n_layers = len(self.weights_)
        gW: list[FloatArray] = [np.empty(0)] * n_layers
        gb: list[FloatArray] = [np.empty(0)] * n_layers
        delta = dP
        for layer in range(n_layers - 1, -1, -1):
            h_in, z, a, mask = cache[layer]
            if layer < n_layers - 1:
                # delta is dL/d(layer output after dropout); go back through dropout and act.
                if mask is not None:
                    delta = delta * mask
                delta = delta * _activate_grad(self.activation, z, a)
            gW[layer] = h_in.T @ delta
            gb[layer] = delta.sum(axis=0)
            if layer > 0:
                delta = delta @ self.weights_[layer].T
        return gW, gb

    def loss_and_gradients(
        self, X: npt.ArrayLike, Y: npt.ArrayLike, *, dropout_seed: int | None = None
    ) -> tuple[float, list[FloatArray], list[FloatArray]]:
        """Loss of the current parameters on ``(X, Y)`` and its gradients.

        The loss is the configured ``loss`` on the whole of ``X`` as one batch (weight decay
        is not included). Dropout is off unless ``dropout_seed`` is given, in which case the
        training-time dropout masks are drawn from ``default_rng(dropout_seed)`` (the same
        seed gives the same masks). Returns ``(loss, dL/dweights_, dL/dbiases_)`` with one
        array per layer, shaped like :attr:`weights_` and :attr:`biases_`. Useful for
        gradient checks.

        >>> import numpy as np
        >>> X = np.ones((2, 3))
        >>> net = MLPMap(hidden=(4,)).init_params(3, 2)
        >>> loss, gW, gb = net.loss_and_gradients(X, np.zeros((2, 2)))
        >>> [g.shape for g in gW], [g.shape for g in gb]
        ([(3, 4), (4, 2)], [(4,), (2,)])
        """
        Xa, Ya = _check_pair(X, Y)
        self._require_params(Xa)
        if Ya.shape[1] != self.weights_[-1].shape[1]:
            raise ValueError(
                f"Y has {Ya.shape[1]} columns but the net has "
                f"{self.weights_[-1].shape[1]} outputs (Y shape {Ya.shape})"
            )
        rng = None
        if dropout_seed is not None:
            rng = np.random.default_rng(_check_int(dropout_seed, "dropout_seed", 0))
        P, cache = self._forward(Xa, rng)
        loss, dP = _loss(self.loss, P, Ya, float(self.margin))
        gW, gb = self._backward(dP, cache)
        return loss, gW, gb

    # ---- public API -----------------------------------------------------------------------

    def fit(self, X: npt.ArrayLike, Y: npt.ArrayLike) -> MLPMap:
        """Initialise from ``seed`` and train on ``X`` (``(n, d_in)``) and ``Y`` (``(n, d_out)``).

        Any previous parameters are discarded. Returns ``self``; per-epoch losses are in
        :attr:`history`.
        """
        self._check_params()
        Xa, Ya = _check_pair(X, Y)
        Xv = Yv = None
        if self.validation > 0.0:
            n_all = Xa.shape[0]
            if n_all < 2:
                raise ValueError("validation needs at least 2 training rows, got 1")
            n_val = min(n_all - 1, max(1, int(round(float(self.validation) * n_all))))
            order = np.random.default_rng([int(self.seed), 1]).permutation(n_all)
            val, keep = np.sort(order[:n_val]), np.sort(order[n_val:])
            Xa, Ya, Xv, Yv = Xa[keep], Ya[keep], Xa[val], Ya[val]
        rng = np.random.default_rng(self.seed)
        self._init(Xa.shape[1], Ya.shape[1], rng)
        self.val_history = []
        params = [*self.weights_, *self.biases_]
        n_weights = len(self.weights_)
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        lr = float(self.lr)
        wd = float(self.weight_decay)
        margin = float(self.margin)
        n = Xa.shape[0]
        bs = int(self.batch_size)
        step = 0
        best_val = math.inf
        best: list[FloatArray] | None = None
        self.best_epoch_ = 0
        self.epochs_run_ = 0
        for epoch in range(int(self.epochs)):
            order = rng.permutation(n)
            total = 0.0
            for start in range(0, n, bs):
                idx = order[start : start + bs]
                P, cache = self._forward(Xa[idx], rng)
                loss, dP = _loss(self.loss, P, Ya[idx], margin)
                total += loss * len(idx)
                gW, gb = self._backward(dP, cache)
                grads = [*gW, *gb]
                step += 1
                c1 = 1.0 - _ADAM_BETA1**step
                c2 = 1.0 - _ADAM_BETA2**step
                for k, (p, g) in enumerate(zip(params, grads)):
                    if wd and k < n_weights:
                        g = g + wd * p
                    m[k] *= _ADAM_BETA1
                    m[k] += (1.0 - _ADAM_BETA1) * g
                    v[k] *= _ADAM_BETA2
                    v[k] += (1.0 - _ADAM_BETA2) * (g * g)
                    p -= lr * (m[k] / c1) / (np.sqrt(v[k] / c2) + _ADAM_EPS)
            epoch_loss = total / n
            self.history.append(epoch_loss)
            self.epochs_run_ = epoch + 1
            if self.progress is not None:
                self.progress(epoch + 1, epoch_loss)
            if Xv is None or Yv is None:
                self.best_epoch_ = epoch + 1
                continue
            val_loss = _loss(self.loss, self._forward(Xv, None)[0], Yv, margin)[0]
            self.val_history.append(val_loss)
            if val_loss < best_val:
                best_val = val_loss
                best = [p.copy() for p in params]
                self.best_epoch_ = epoch + 1
            elif epoch + 1 - self.best_epoch_ >= int(self.patience):
                break
        if best is not None:
            for p, saved in zip(params, best):
                p[...] = saved
        return self

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Apply the net (without dropout) to rows of ``X``; returns ``(n, d_out)`` float64."""
        Xa = _as_matrix(X, "X")
        self._require_params(Xa)
        return self._forward(Xa, None)[0]


def untrained_map(
    X: npt.ArrayLike,
    depth: int = 1,
    width: int = 300,
    activation: Activation = "relu",
    seed: int = 0,
    *,
    d_out: int | None = None,
) -> FloatArray:
    """Apply a randomly initialised, untrained :class:`MLPMap` to ``X`` (the paper's exp. 2).

    The net has ``depth`` hidden layers (0 to 5; 0 is a random linear map) of ``width`` units
    with ``activation``, and a linear output layer of ``d_out`` units (default ``width``). It
    is initialised exactly as ``MLPMap(...).init_params`` does (He-normal for ``relu`` hidden
    layers, Glorot-uniform otherwise, zero biases) from ``default_rng(seed)``.

    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((10, 6))
    >>> untrained_map(X, depth=2, width=32, activation="tanh", seed=1).shape
    (10, 32)
    """
    depth = _check_int(depth, "depth", 0)
    if depth > MAX_HIDDEN_LAYERS:
        raise ValueError(f"depth must be at most {MAX_HIDDEN_LAYERS}, got {depth}")
    width = _check_int(width, "width", 1)
    out = width if d_out is None else _check_int(d_out, "d_out", 1)
    Xa = _as_matrix(X, "X")
    net = MLPMap(hidden=(width,) * depth, activation=activation, seed=seed)
    return net.init_params(Xa.shape[1], out).predict(Xa)
