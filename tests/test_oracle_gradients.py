"""Whole-network gradients checked against two oracles that share no code with the network.

1. Central finite differences of an objective computed here, in float64, from formulas
   written in this file (activations, losses, the weighted mean), never from nnscratch's
   own functions.
2. :class:`nnscratch.reference.ArticleNetwork`, the article's algorithm (the full
   ``(n, m, m)`` Jacobian route), fed one row at a time so that sample weights can be
   applied outside it.

Targets are the ones ``fit`` accepts but one-hot oracles miss: *soft* rows whose entries
do not sum to 1, *multi-hot* rows, one-hot rows for contrast, each with and without
sample weights (one of them 0).  Every built-in (output activation, loss) pair that is
defined on its outputs' range is covered, through three routes: ``loss_and_gradient``
(the NumPy fused gradient) and one ``fit`` step with the ``numpy`` and the ``numba``
kernel sets (the gradient is captured by an optimizer of our own, which the network
hands an exact copy of the flat gradient).

Guards the bug where the fused softmax + cross-entropy gradient is written ``a - y``: that
is only right when every target row sums to 1; the exact form is ``a * sum(y) - y``.
"""

import numpy as np
import pytest

from nnscratch import NeuralNetwork
from nnscratch.reference import ArticleNetwork

H = 1e-6  # central-difference step; truncation error ~H**2, rounding ~eps / H ~ 1e-10
# |analytic - numeric| <= ATOL + RTOL * |numeric|: the difference quotient is good to about
# 1e-9 on losses of order 1; a wrong formula (a - y for rows summing to 1.5) is off by ~0.1.
RTOL, ATOL = 1e-5, 1e-7


# ------------------------------------------------------------------ our own formulas
def _hidden(name, z):
    if name == "tanh":
        return np.tanh(z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "elu":
        return np.where(z > 0, z, np.exp(np.minimum(z, 0)) - 1)
    if name == "softplus":
        return np.log1p(np.exp(z))
    if name == "identity":
        return z
    raise AssertionError(name)


def _output(name, z):
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "identity":
        return z
    if name == "exp":
        return np.exp(z)
    raise AssertionError(name)


def _xlogy(a, b):
    return np.where(a == 0, 0.0, a * np.log(np.where(a == 0, 1.0, b)))


def _loss(name, p, y):
    """Per-sample loss, shape (n,)."""
    if name == "categorical_crossentropy":
        return -(y * np.log(p)).sum(axis=1)
    if name == "binary_crossentropy":
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    if name == "summed_binary_crossentropy":
        return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    if name == "mse":
        return ((p - y) ** 2).mean(axis=1)
    if name == "half_squared_error":
        return 0.5 * ((p - y) ** 2).mean(axis=1)
    if name == "mae":
        return np.abs(p - y).mean(axis=1)
    if name == "huber":  # delta = 1
        r = np.abs(p - y)
        return np.where(r <= 1, 0.5 * r * r, r - 0.5).mean(axis=1)
    if name == "half_poisson_deviance":
        return (_xlogy(y, y / p) - y + p).sum(axis=1)
    raise AssertionError(name)


def _objective(flat, shapes, x, y, w, hidden, output, loss):
    """Mean (or weighted mean) loss of the network whose parameters are ``flat``."""
    weights, biases, start = [], [], 0
    for fan_in, fan_out in shapes:
        weights.append(flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
        start += fan_in * fan_out
    for _, fan_out in shapes:
        biases.append(flat[start : start + fan_out].reshape(1, fan_out))
        start += fan_out
    a = x
    for i, (wm, b) in enumerate(zip(weights, biases)):
        z = a @ wm + b
        a = _hidden(hidden, z) if i < len(weights) - 1 else _output(output, z)
    per_sample = _loss(loss, a, y)
    if w is None:
        return per_sample.mean()
    return (w * per_sample).sum() / w.sum()


def numeric_gradient(net, x, y, w, hidden, output, loss):
    """Central differences of our objective over every parameter, in float64."""
    flat = net.get_flat_params().astype(np.float64)
    shapes = list(zip(net.layers[:-1], net.layers[1:]))
    grad = np.empty_like(flat)
    for k in range(flat.size):
        keep = flat[k]
        flat[k] = keep + H
        plus = _objective(flat, shapes, x, y, w, hidden, output, loss)
        flat[k] = keep - H
        minus = _objective(flat, shapes, x, y, w, hidden, output, loss)
        flat[k] = keep
        grad[k] = (plus - minus) / (2 * H)
    return grad


def reference_gradient(net, x, y, w):
    """The article's backward pass, row by row, combined with the weights outside it."""
    art = ArticleNetwork(
        net.layers, net.hidden_activation, net.output_activation, net.loss, None, seed=0
    )
    art.weights = [np.array(m, dtype=np.float64) for m in net.weights]
    art.biases = [np.array(b, dtype=np.float64) for b in net.biases]
    n = x.shape[0]
    share = np.full(n, 1 / n) if w is None else w / w.sum()
    total = 0
    for i in range(n):
        d_w, d_b = art.backward(art.forward(x[i : i + 1]), y[i : i + 1])
        total = total + share[i] * art.flatten_params(d_w, d_b)
    return total


# ------------------------------------------------------------------ cases
PROBABILITY_LOSSES = (
    "categorical_crossentropy",
    "binary_crossentropy",
    "summed_binary_crossentropy",
)
REGRESSION_LOSSES = ("mse", "half_squared_error", "mae", "huber")
# every built-in (output, loss) pair whose loss is defined on the output's range
PAIRS = (
    [(out, loss) for loss in PROBABILITY_LOSSES for out in ("softmax", "sigmoid")]
    + [
        (out, loss)
        for loss in REGRESSION_LOSSES
        for out in ("softmax", "sigmoid", "identity", "exp")
    ]
    + [(out, "half_poisson_deviance") for out in ("softmax", "sigmoid", "exp")]
)
TARGETS = ("soft", "multi_hot", "one_hot")


def make_targets(kind, n, m, rng):
    if kind == "soft":  # entries in (0.05, 0.95): rows sum to anything but 1
        y = rng.uniform(0.05, 0.95, size=(n, m))
    elif kind == "multi_hot":
        y = (rng.random((n, m)) < 0.5).astype(float)
        y[:, 0] = 1.0  # at least two ones per row, so no row sums to 1
        y[:, 1] = 1.0
    else:
        y = np.eye(m)[rng.integers(0, m, size=n)]
    return y


def make_case(kind, weighted, seed=0):
    rng = np.random.default_rng(seed)
    n, d, m = 7, 3, 4
    x = rng.normal(size=(n, d))
    y = make_targets(kind, n, m, rng)
    w = None
    if weighted:
        w = rng.uniform(0.2, 2.0, size=n)
        w[2] = 0.0  # a row that must count for nothing
    return x, y, w


class Recorder:
    """An optimizer of our own: keeps every gradient it is handed and changes nothing."""

    def __init__(self):
        self.gradients = []

    def update(self, old_params, gradient):
        self.gradients.append(np.array(gradient, dtype=np.float64))
        return old_params


def gradient_by_route(net, route, x, y, w):
    if route == "loss_and_gradient":
        return net.loss_and_gradient(x, y, sample_weight=w)[1]
    recorder = net.optimizer
    net.fit(x, y, batch_size=x.shape[0], epochs=1, shuffle=False, sample_weight=w, verbose=0)
    assert len(recorder.gradients) == 1
    return recorder.gradients[0]


ROUTES = ("loss_and_gradient", "fit-numpy", "fit-numba")


def build(hidden, output, loss, route, seed=0):
    kernels = route.split("-")[1] if route.startswith("fit") else "numpy"
    if kernels == "numba":
        pytest.importorskip("numba")
    return NeuralNetwork([3, 5, 4], hidden, output, loss, Recorder(), seed=seed, kernels=kernels)


def test_the_soft_and_multi_hot_targets_really_do_not_sum_to_one():
    """Without this the planted ``a - y`` bug could hide behind targets that sum to 1."""
    for kind in ("soft", "multi_hot"):
        _, y, _ = make_case(kind, False)
        assert np.abs(y.sum(axis=1) - 1).min() > 0.2, kind


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize("output,loss", PAIRS)
def test_gradient_matches_finite_differences_and_the_article(output, loss, kind, weighted, route):
    x, y, w = make_case(kind, weighted)
    net = build("tanh", output, loss, route)
    numeric = numeric_gradient(net, x, y, w, "tanh", output, loss)
    reference = reference_gradient(net, x, y, w)
    analytic = gradient_by_route(net, route, x, y, w)
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL)
    # the article's algorithm does the same arithmetic in another order (Jacobians, per row)
    np.testing.assert_allclose(analytic, reference, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "hidden", ["tanh", "sigmoid", "relu", "leaky_relu", "elu", "softplus", "identity"]
)
def test_every_hidden_activation_with_soft_weighted_softmax_targets(hidden, route):
    x, y, w = make_case("soft", True, seed=3)
    net = build(hidden, "softmax", "categorical_crossentropy", route, seed=3)
    numeric = numeric_gradient(net, x, y, w, hidden, "softmax", "categorical_crossentropy")
    analytic = gradient_by_route(net, route, x, y, w)
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(analytic, reference_gradient(net, x, y, w), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("route", ROUTES)
def test_a_batch_whose_weights_are_all_zero_has_a_zero_gradient(route):
    x, y, _ = make_case("soft", False)
    net = build("tanh", "softmax", "categorical_crossentropy", route)
    analytic = gradient_by_route(net, route, x, y, np.zeros(x.shape[0]))
    np.testing.assert_array_equal(analytic, 0.0)


@pytest.mark.parametrize("route", ROUTES)
def test_l2_term_gradient_matches_finite_differences(route):
    """With ``l2`` the objective gains ``l2 / 2 * sum(W ** 2)`` (weights only, not biases)."""
    x, y, w = make_case("soft", True, seed=5)
    net = build("tanh", "softmax", "categorical_crossentropy", route, seed=5)
    net.l2 = 0.3
    shapes = list(zip(net.layers[:-1], net.layers[1:]))
    n_weights = sum(i * o for i, o in shapes)
    flat = net.get_flat_params()
    numeric = numeric_gradient(net, x, y, w, "tanh", "softmax", "categorical_crossentropy")
    numeric[:n_weights] += 0.3 * flat[:n_weights]  # d/dW of l2 / 2 * W**2, by hand
    analytic = gradient_by_route(net, route, x, y, w)
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_a_loss_named_like_a_builtin_but_with_its_own_function_is_not_fused(kernels):
    """Only the built-in's own functions take the fused kernel: a Loss called 'mse' whose
    function is twice the mean squared error reports its own value."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from nnscratch import SGD, d_mse, mse
    from nnscratch.losses import Loss

    own = Loss("mse", lambda p, y: 2 * mse(p, y), d_mse)
    x, y, _ = make_case("soft", False)
    net = NeuralNetwork([3, 5, 4], "tanh", "identity", own, SGD(1e-12), seed=0, kernels=kernels)
    expected = float(np.mean(2 * ((net.predict(x) - y) ** 2).mean(axis=1)))
    (loss,) = net.fit(x, y, batch_size=x.shape[0], epochs=1, shuffle=False, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
@pytest.mark.parametrize(
    "output,loss", [("softmax", "categorical_crossentropy"), ("sigmoid", "binary_crossentropy")]
)
def test_training_accuracy_is_counted_by_the_outputs_rule(output, loss, kernels):
    """Arg-max rows for softmax, each unit at 0.5 for sigmoid (multi-label), whichever
    kernel set counts them; a learning rate of 1e-12 keeps the parameters fixed."""
    if kernels == "numba":
        pytest.importorskip("numba")
    from nnscratch import SGD

    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 3))
    y = make_targets("one_hot" if output == "softmax" else "multi_hot", 40, 4, rng)
    net = NeuralNetwork([3, 5, 4], "tanh", output, loss, SGD(1e-12), seed=1, kernels=kernels)
    p = net.predict(x)
    if output == "softmax":
        expected = np.mean(p.argmax(axis=1) == y.argmax(axis=1))
    else:
        expected = np.mean((p > 0.5) == (y > 0.5))
    assert 0.05 < expected < 0.95  # a count that can be wrong both ways
    net.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert net.history["accuracy"] == [pytest.approx(expected, abs=1e-12)]
