"""Tests of the numpy mapping models in ``nnoverlap.mapping``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from nnoverlap.mapping import (
    ACTIVATIONS,
    LOSSES,
    Activation,
    LinearMap,
    LossName,
    MLPMap,
    cosine_loss,
    mse_loss,
    ranking_loss,
    ridge_path,
    untrained_map,
)

LOSS_FUNCS = {
    "mse": mse_loss,
    "cosine": cosine_loss,
    "ranking": lambda P, T: ranking_loss(P, T, margin=0.5),
}


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    """Norm-wise relative error ``||a - b|| / max(||a|| + ||b||, tiny)``."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def _numerical_grad(f: Callable[[], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar ``f()`` with respect to ``x`` (in place)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f()
        x[idx] = old - h
        fm = f()
        x[idx] = old
        g[idx] = (fp - fm) / (2.0 * h)
    return g


# ---- losses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_gradient_wrt_predictions(loss: LossName) -> None:
    rng = np.random.default_rng(1)
    P = rng.standard_normal((7, 5))
    T = rng.standard_normal((7, 5))
    func = LOSS_FUNCS[loss]
    value, grad = func(P, T)
    assert np.isfinite(value) and grad.shape == P.shape
    num = _numerical_grad(lambda: func(P, T)[0], P)
    assert _rel_err(grad, num) < 1e-6


def test_loss_values_by_hand() -> None:
    P = np.array([[1.0, 0.0], [0.0, 2.0]])
    T = np.array([[1.0, 1.0], [0.0, 1.0]])
    assert mse_loss(P, T)[0] == pytest.approx((1.0 + 1.0) / 2)
    assert cosine_loss(P, T)[0] == pytest.approx(((1 - np.sqrt(0.5)) + 0.0) / 2)
    # S = [[cos(p0,t0), cos(p0,t1)], [cos(p1,t0), cos(p1,t1)]] = [[.7071, 0], [.7071, 1]]
    s = np.sqrt(0.5)
    expected = (max(0.0, 0.5 - s + 0.0) + max(0.0, 0.5 - 1.0 + s)) / 2
    assert ranking_loss(P, T, margin=0.5)[0] == pytest.approx(expected)
    assert ranking_loss(P[:1], T[:1])[0] == 0.0  # no negatives in a batch of one


def test_losses_accept_float32_and_return_float64() -> None:
    rng = np.random.default_rng(2)
    P = rng.standard_normal((4, 3)).astype(np.float32)
    T = rng.standard_normal((4, 3)).astype(np.float32)
    for func in LOSS_FUNCS.values():
        value, grad = func(P, T)
        assert isinstance(value, float) and grad.dtype == np.float64


def test_loss_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 4\)"):
        mse_loss(np.zeros((3, 2)), np.zeros((3, 4)))


# ---- gradient checks through a 2-hidden-layer net ----------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("loss", LOSSES)
def test_parameter_gradients_match_central_differences(
    loss: LossName, activation: Activation
) -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((6, 4))
    Y = rng.standard_normal((6, 3))
    net = MLPMap(hidden=(5, 4), activation=activation, loss=loss, margin=0.5, dropout=0.0)
    net.init_params(4, 3)
    # Non-zero biases so that they matter, as after some training.
    for b in net.biases_:
        b[:] = 0.1 * rng.standard_normal(b.shape)
    value, gW, gb = net.loss_and_gradients(X, Y)
    assert value > 0.0

    def f() -> float:
        return net.loss_and_gradients(X, Y)[0]

    analytic = np.concatenate([g.ravel() for g in (*gW, *gb)])
    numeric = np.concatenate([_numerical_grad(f, p).ravel() for p in (*net.weights_, *net.biases_)])
    assert np.linalg.norm(analytic) > 0.0
    assert _rel_err(analytic, numeric) < 1e-6


def test_parameter_gradients_with_a_fixed_dropout_mask() -> None:
    rng = np.random.default_rng(13)
    X = rng.standard_normal((6, 4))
    Y = rng.standard_normal((6, 3))
    net = MLPMap(hidden=(5, 4), activation="tanh", dropout=0.4).init_params(4, 3)
    value, gW, gb = net.loss_and_gradients(X, Y, dropout_seed=0)
    assert value != net.loss_and_gradients(X, Y)[0]  # the mask is applied

    def f() -> float:
        return net.loss_and_gradients(X, Y, dropout_seed=0)[0]

    analytic = np.concatenate([g.ravel() for g in (*gW, *gb)])
    numeric = np.concatenate([_numerical_grad(f, p).ravel() for p in (*net.weights_, *net.biases_)])
    assert _rel_err(analytic, numeric) < 1e-6


# ---- LinearMap ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_map_recovers_exact_relation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((10, 6))
    b = rng.standard_normal(6)
    X = rng.standard_normal((80, 10))
    Y = X @ W + b
    m = LinearMap(ridge=0.0).fit(X[:60], Y[:60])
    np.testing.assert_allclose(m.predict(X[60:]), Y[60:], rtol=0, atol=1e-8)
    np.testing.assert_allclose(m.coef_, W, rtol=0, atol=1e-8)
    np.testing.assert_allclose(m.intercept_, b, rtol=0, atol=1e-8)
    # A tiny ridge changes nothing visible; float32 input is accepted.
    m32 = LinearMap(ridge=1e-12).fit(X[:60].astype(np.float32), Y[:60])
    assert m32.predict(X[60:].astype(np.float32)).dtype == np.float64


@pytest.mark.parametrize("n", [30, 8])  # primal (n >= d) and dual (n < d) solves
def test_linear_map_ridge_matches_augmented_normal_equations(n: int) -> None:
    rng = np.random.default_rng(4)
    d, k, ridge = 12, 3, 2.5
    X = rng.standard_normal((n, d)) + 3.0
    Y = rng.standard_normal((n, k)) - 1.0
    A = np.hstack([X, np.ones((n, 1))])
    R = ridge * np.eye(d + 1)
    R[d, d] = 0.0  # the intercept is not penalised
    theta = np.linalg.solve(A.T @ A + R, A.T @ Y)
    m = LinearMap(ridge=ridge).fit(X, Y)
    np.testing.assert_allclose(m.coef_, theta[:d], atol=1e-10)
    np.testing.assert_allclose(m.intercept_, theta[d], atol=1e-10)
    m0 = LinearMap(ridge=ridge, fit_intercept=False).fit(X, Y)
    W0 = np.linalg.solve(X.T @ X + ridge * np.eye(d), X.T @ Y)
    np.testing.assert_allclose(m0.coef_, W0, atol=1e-10)
    np.testing.assert_array_equal(m0.intercept_, np.zeros(k))


# ---- MLPMap ------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [0, 1, 5])
def test_identity_init_is_exact_identity(depth: int) -> None:
    X = np.random.default_rng(5).standard_normal((20, 7)).astype(np.float32)
    net = MLPMap(hidden=(7,) * depth, activation="none", init="identity").init_params(7, 7)
    np.testing.assert_array_equal(net.predict(X), X)


def test_identity_init_needs_square_layers() -> None:
    with pytest.raises(ValueError, match=r"identity.*7 -> 5 -> 7"):
        MLPMap(hidden=(5,), init="identity").init_params(7, 7)


def test_seeds_reproduce_and_differ() -> None:
    rng = np.random.default_rng(6)
    X = rng.standard_normal((50, 6))
    Y = np.tanh(X @ rng.standard_normal((6, 4)))

    def run(seed: int) -> tuple[np.ndarray, list[float]]:
        net = MLPMap(hidden=(16, 8), dropout=0.2, epochs=4, batch_size=16, seed=seed)
        net.fit(X, Y)
        return net.predict(X), net.history

    p1, h1 = run(0)
    p2, h2 = run(0)
    p3, _ = run(1)
    np.testing.assert_array_equal(p1, p2)
    assert h1 == h2
    assert not np.array_equal(p1, p3)
    u1 = untrained_map(X, depth=2, width=9, activation="sigmoid", seed=3)
    u2 = untrained_map(X, depth=2, width=9, activation="sigmoid", seed=3)
    np.testing.assert_array_equal(u1, u2)
    assert not np.array_equal(u1, untrained_map(X, depth=2, width=9, seed=4))


def test_refit_same_object_is_identical() -> None:
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((40, 5)), rng.standard_normal((40, 2))
    net = MLPMap(hidden=(8,), epochs=3, batch_size=8)
    first = net.fit(X, Y).predict(X)
    np.testing.assert_array_equal(net.fit(X, Y).predict(X), first)


@pytest.mark.parametrize("loss", LOSSES)
def test_training_reduces_loss(loss: LossName) -> None:
    rng = np.random.default_rng(8)
    X = rng.standard_normal((256, 10))
    Y = np.tanh(X @ rng.standard_normal((10, 8)) / 3.0)
    seen: list[tuple[int, float]] = []
    net = MLPMap(
        hidden=(32,),
        loss=loss,
        epochs=30,
        batch_size=32,
        lr=3e-3,
        seed=1,
        progress=lambda e, v: seen.append((e, v)),
    ).fit(X, Y)
    h = np.asarray(net.history)
    assert len(h) == 30 and seen == list(enumerate(net.history, start=1))
    assert h[-1] < 0.5 * h[0]
    assert np.all(h[-5:] < h[:5].min())  # decreasing overall, not just at one epoch
    # The whole-data loss of the trained net is well below that of the untrained one.
    before = MLPMap(hidden=(32,), loss=loss, seed=1).init_params(10, 8)
    assert net.loss_and_gradients(X, Y)[0] < 0.5 * before.loss_and_gradients(X, Y)[0]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_training_reduces_loss_each_activation(activation: Activation) -> None:
    rng = np.random.default_rng(9)
    X = rng.standard_normal((128, 6))
    Y = X @ rng.standard_normal((6, 3))
    net = MLPMap(hidden=(16, 16), activation=activation, epochs=25, batch_size=16, lr=1e-2)
    h = net.fit(X, Y).history
    assert h[-1] < 0.5 * h[0]


def test_zero_hidden_layers_learns_the_least_squares_map() -> None:
    rng = np.random.default_rng(10)
    X = rng.standard_normal((200, 4))
    Y = X @ rng.standard_normal((4, 2)) + 0.5
    net = MLPMap(hidden=(), epochs=300, batch_size=50, lr=2e-2, dropout=0.5).fit(X, Y)
    assert len(net.weights_) == 1
    np.testing.assert_allclose(net.predict(X), LinearMap(ridge=0.0).fit(X, Y).predict(X), atol=1e-3)


def test_dropout_only_at_training_and_weight_decay_shrinks() -> None:
    rng = np.random.default_rng(11)
    X, Y = rng.standard_normal((64, 5)), rng.standard_normal((64, 3))
    net = MLPMap(hidden=(32,), dropout=0.5, epochs=2).fit(X, Y)
    np.testing.assert_array_equal(net.predict(X), net.predict(X))
    plain = MLPMap(hidden=(8,), epochs=30, lr=1e-2).fit(X, Y)
    decayed = MLPMap(hidden=(8,), epochs=30, lr=1e-2, weight_decay=1.0).fit(X, Y)
    norm = sum(np.sum(W**2) for W in plain.weights_)
    assert sum(np.sum(W**2) for W in decayed.weights_) < norm


def test_untrained_map_shapes_and_init_scale() -> None:
    X = np.random.default_rng(12).standard_normal((500, 64))
    assert untrained_map(X, depth=0, width=16).shape == (500, 16)
    assert untrained_map(X, depth=3, width=16, d_out=5).shape == (500, 5)
    # He init keeps the mean square of relu layers' pre-activations near that of the input.
    net = MLPMap(hidden=(256,), activation="relu").init_params(64, 10)
    Z = X @ net.weights_[0]
    assert 0.8 < np.mean(Z**2) / np.mean(np.sum(X**2, axis=1) / 64) / 2 < 1.2
    # Glorot-uniform bound for the output layer.
    assert np.abs(net.weights_[1]).max() <= np.sqrt(6.0 / (256 + 10))


# ---- input validation --------------------------------------------------------------------------


@pytest.mark.parametrize("model", [LinearMap(), MLPMap(hidden=(4,), epochs=1)])
def test_bad_inputs(model: LinearMap | MLPMap) -> None:
    X, Y = np.zeros((5, 3)), np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"same number of rows.*\(5, 3\).*\(4, 2\)"):
        model.fit(X, Y)
    Xn = np.ones((5, 3))
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains a NaN.*row 3"):
        model.fit(Xn, np.ones((5, 2)))
    Yn = np.ones((5, 2))
    Yn[4, 0] = np.inf
    with pytest.raises(ValueError, match=r"Y contains a NaN.*row 4"):
        model.fit(np.ones((5, 3)), Yn)
    with pytest.raises(ValueError, match="2-D"):
        model.fit(np.ones(5), np.ones((5, 2)))
    with pytest.raises(ValueError, match="at least one row"):
        model.fit(np.ones((0, 3)), np.ones((0, 2)))
    with pytest.raises(ValueError, match="numeric"):
        model.fit(np.array([["a", "b"]]), np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="fit"):
        type(model)().predict(np.ones((2, 3)))
    model.fit(np.ones((5, 3)), np.ones((5, 2)))
    with pytest.raises(ValueError, match="columns"):
        model.predict(np.ones((2, 4)))


def test_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'.*'mse', 'cosine', 'ranking'"):
        MLPMap(loss="hinge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'.*'relu'.*'none'"):
        MLPMap(activation="gelu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown init"):
        MLPMap(init="zeros")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most 5 hidden layers"):
        MLPMap(hidden=(4,) * 6)
    with pytest.raises(ValueError, match="depth must be at most 5"):
        untrained_map(np.ones((2, 2)), depth=6)
    with pytest.raises(ValueError, match="dropout"):
        MLPMap(dropout=1.0)
    with pytest.raises(ValueError, match="lr"):
        MLPMap(lr=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        MLPMap(batch_size=0)
    with pytest.raises(ValueError, match="hidden"):
        MLPMap(hidden=(4, 0))
    with pytest.raises(TypeError, match="hidden"):
        MLPMap(hidden=4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ridge"):
        LinearMap(ridge=-1.0)
    net = MLPMap(hidden=(4,))
    net.loss = "bogus"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="unknown loss"):
        net.fit(np.ones((3, 2)), np.ones((3, 2)))


# ---- ridge penalty by leave-one-out / GCV ---------------------------------------------------


def _brute_loo(X: np.ndarray, Y: np.ndarray, lam: float) -> float:
    """Leave-one-out MSE (summed over outputs) by refitting without each row."""
    total = 0.0
    for i in range(X.shape[0]):
        keep = np.arange(X.shape[0]) != i
        m = LinearMap(ridge=lam).fit(X[keep], Y[keep])
        e = m.predict(X[i : i + 1]) - Y[i : i + 1]
        total += float(np.sum(e * e))
    return total / X.shape[0]


@pytest.mark.parametrize(("n", "d"), [(30, 4), (12, 20)])
def test_ridge_path_loo_equals_refitting_without_each_row(n: int, d: int) -> None:
    rng = np.random.default_rng(n + d)
    X = rng.standard_normal((n, d)) * rng.uniform(0.1, 3.0, size=d) + 2.0
    Y = X @ rng.standard_normal((d, 3)) + rng.standard_normal((n, 3))
    lams = [1e-2, 0.5, 10.0, 300.0]
    fast = ridge_path(X, Y, lams, criterion="loo")
    slow = [_brute_loo(X, Y, lam) for lam in lams]
    np.testing.assert_allclose(fast, slow, rtol=1e-9)


def test_ridge_path_gcv_matches_its_formula() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((25, 6))
    Y = X @ rng.standard_normal((6, 2)) + 0.5 * rng.standard_normal((25, 2))
    lam = 3.0
    Xc = X - X.mean(0)
    H = np.full((25, 25), 1 / 25) + Xc @ np.linalg.solve(Xc.T @ Xc + lam * np.eye(6), Xc.T)
    E = Y - H @ Y
    expected = np.sum(E * E) / 25 / (1 - np.trace(H) / 25) ** 2
    assert ridge_path(X, Y, [lam], criterion="gcv")[0] == pytest.approx(expected, rel=1e-10)


def test_loo_ridge_picks_the_penalty_with_the_least_leave_one_out_error() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 30))
    Y = X[:, :2] + 2.0 * rng.standard_normal((40, 2))  # noisy: a large penalty predicts best
    m = LinearMap(ridge="loo", grid=(1e-4, 1e-2, 1.0, 10.0)).fit(X, Y)
    assert m.path_ is not None
    scale = float(np.sum((X - X.mean(0)) ** 2)) / 30
    brute = [_brute_loo(X, Y, scale * g) for g in (1e-4, 1e-2, 1.0, 10.0)]
    assert m.ridge_ == pytest.approx(scale * (1e-4, 1e-2, 1.0, 10.0)[int(np.argmin(brute))])
    assert m.ridge_ > scale * 1e-2
    np.testing.assert_allclose(m.predict(X), LinearMap(ridge=m.ridge_).fit(X, Y).predict(X))


def test_ridge_selection_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown ridge 'cv'"):
        LinearMap(ridge="cv")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="grid"):
        LinearMap(ridge="loo", grid=())
    with pytest.raises(ValueError, match="lambdas"):
        ridge_path(np.ones((3, 2)), np.ones((3, 1)), [])
    with pytest.raises(ValueError, match="criterion"):
        ridge_path(np.ones((3, 2)), np.ones((3, 1)), [1.0], criterion="aic")  # type: ignore[arg-type]


# ---- early stopping -------------------------------------------------------------------------


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 10))
    Y = rng.standard_normal((60, 3))  # pure noise: validation loss soon rises (over-fitting)
    net = MLPMap(hidden=(64,), epochs=200, lr=1e-2, validation=0.25, patience=3, seed=2)
    net.fit(X, Y)
    assert net.epochs_run_ < 200
    assert net.epochs_run_ == net.best_epoch_ + 3
    assert len(net.val_history) == net.epochs_run_ == len(net.history)
    assert net.val_history[net.best_epoch_ - 1] == min(net.val_history)
    # The kept parameters are the best epoch's: their validation loss is the minimum.
    order = np.random.default_rng([2, 1]).permutation(60)
    val = np.sort(order[:15])
    loss = mse_loss(net.predict(X[val]), Y[val])[0]
    assert loss == pytest.approx(min(net.val_history), rel=1e-12)


def test_no_validation_trains_every_epoch() -> None:
    X = np.random.default_rng(0).standard_normal((30, 3))
    net = MLPMap(hidden=(4,), epochs=4).fit(X, X)
    assert (net.epochs_run_, net.best_epoch_, net.val_history) == (4, 4, [])


def test_early_stopping_bad_arguments() -> None:
    with pytest.raises(ValueError, match="validation"):
        MLPMap(validation=1.0)
    with pytest.raises(ValueError, match="patience"):
        MLPMap(patience=0)
    with pytest.raises(ValueError, match="at least 2 training rows"):
        MLPMap(validation=0.5).fit(np.ones((1, 2)), np.ones((1, 2)))


def test_identity_relu_net_keeps_every_neighbourhood() -> None:
    import nnoverlap as nno
    from nnoverlap.datasets import imagenet1k

    X = imagenet1k().minilm[:200]
    Xp = X - X.min() + 0.1  # positive: relu is the identity on it
    relu = MLPMap(hidden=(384,), activation="relu", init="identity").init_params(384, 384)
    # predict returns float64: compare in one precision (float32 near-ties may order apart).
    out = relu.predict(Xp).astype(Xp.dtype)
    assert nno.mnno(out, Xp, k=10) == 1.0
