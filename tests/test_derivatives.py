"""Derivatives against finite differences, and the fast routes against the article's route."""

import itertools

import numpy as np
import pytest

import nnscratch as nn
from nnscratch import gradcheck
from nnscratch.activations import Activation
from nnscratch.registry import hidden_activations, losses, output_activations

HIDDEN_NAMES = hidden_activations.names()
# (output, loss) pairs that make sense together: cross-entropies need outputs in (0, 1),
# the Poisson deviance positive outputs
PAIRINGS = [
    (out, loss)
    for out, loss in itertools.product(output_activations.names(), losses.names())
    if not (out in ("identity", "exp") and "crossentropy" in loss)
    and not (loss == "half_poisson_deviance" and out not in ("exp", "softmax", "sigmoid"))
]


def targets(out, loss, n, m, rng):
    if loss == "categorical_crossentropy":
        return nn.to_categorical(rng.integers(0, m, n), m)
    if loss == "half_poisson_deviance":
        return rng.poisson(1.5, (n, m)).astype(float)
    if loss.endswith("entropy") or out not in ("identity", "exp"):
        return (
            rng.integers(0, 2, (n, m)).astype(float)
            if loss.endswith("entropy")
            else rng.uniform(0, 1, (n, m))
        )
    return rng.normal(size=(n, m))


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_hidden_derivative_matches_finite_differences(name):
    assert gradcheck.check_activation(name) < 1e-6


@pytest.mark.parametrize("name", output_activations.names())
def test_output_jacobian_matches_finite_differences(name):
    assert gradcheck.check_output_activation(name) < 1e-6


@pytest.mark.parametrize("name", losses.names())
def test_loss_derivative_matches_finite_differences(name, rng):
    y_true = rng.uniform(0, 1, (5, 3)) if name != "categorical_crossentropy" else None
    assert gradcheck.check_loss(name, y_true=y_true) < 1e-6


def test_huber_both_regimes():
    y_pred = np.array([[0.2, 3.0, -2.5]])
    y_true = np.zeros((1, 3))
    assert gradcheck.check_loss(nn.huber, nn.d_huber, y_pred=y_pred, y_true=y_true) < 1e-6


def test_checker_catches_a_wrong_derivative():
    wrong = gradcheck.check_activation(nn.tanh, lambda z: 1 - np.tanh(z))
    assert wrong > 1e-2
    wrong_jac = gradcheck.check_output_activation(nn.softmax, nn.d_identity)
    assert wrong_jac > 1e-2


def test_checker_refuses_non_elementwise_hidden_activation():
    with pytest.raises(ValueError, match="not elementwise"):
        gradcheck.check_activation(nn.softmax, lambda z: np.ones_like(z))


@pytest.mark.parametrize("hidden", HIDDEN_NAMES)
@pytest.mark.parametrize("out, loss", PAIRINGS)
def test_network_gradient_matches_finite_differences(hidden, out, loss):
    rng = np.random.default_rng(7)
    net = nn.NeuralNetwork([3, 5, 4, 3], hidden, out, loss, "sgd", seed=3)
    x = rng.normal(size=(6, 3))
    y = targets(out, loss, 6, 3, rng)
    assert gradcheck.check_network(net, x, y) < 1e-6


def _as_user_pair(piece):
    """Wrap a built-in so the network cannot recognise it: the article's generic route."""
    f, df = piece
    return (lambda *a: f(*a)), (lambda *a: df(*a))


@pytest.mark.parametrize("hidden", HIDDEN_NAMES)
@pytest.mark.parametrize("out, loss", PAIRINGS)
def test_fast_routes_equal_the_jacobian_route(hidden, out, loss):
    """Fused gradients and vector-Jacobian products agree with matmul(dL, J)."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(8, 4))
    y = targets(out, loss, 8, 3, rng)
    fast = nn.NeuralNetwork([4, 6, 3], hidden, out, loss, "sgd", seed=5)
    generic = nn.NeuralNetwork(
        [4, 6, 3],
        _as_user_pair(hidden_activations.get(hidden)),
        _as_user_pair(output_activations.get(out)),
        _as_user_pair(losses.get(loss)),
        "sgd",
        seed=5,
    )
    assert generic.output_activation.name is None and generic.loss.name is None
    gw_fast, gb_fast = fast.gradients(x, y)
    gw_gen, gb_gen = generic.gradients(x, y)
    for a, b in zip(gw_fast + gb_fast, gw_gen + gb_gen):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "spec", ["softmax", (nn.softmax, nn.d_softmax), output_activations.get("softmax")]
)
def test_builtins_are_recognised_however_they_are_passed(spec):
    net = nn.NeuralNetwork(
        [2, 3], "relu", spec, (nn.categorical_crossentropy, nn.d_categorical_crossentropy), "sgd"
    )
    assert net.output_activation is output_activations.get("softmax")
    assert net.loss is losses.get("categorical_crossentropy")


def test_training_steps_match_between_routes():
    """A few epochs through the buffered training loop give the same weights on both routes."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    y = rng.integers(0, 3, 50)
    runs = []
    for pair in ((nn.softmax, nn.d_softmax), _as_user_pair((nn.softmax, nn.d_softmax))):
        net = nn.NeuralNetwork(
            [4, 8, 3],
            (nn.relu, nn.d_relu),
            pair,
            (nn.categorical_crossentropy, nn.d_categorical_crossentropy),
            nn.SGD(0.1, 0.9),
            seed=2,
        )
        runs.append((net.fit(x, y, 16, 3, categorical=True, verbose=0), net))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-10)
    for a, b in zip(runs[0][1].weights, runs[1][1].weights):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_inplace_hidden_shortcuts_match_the_pair(name, rng):
    act = hidden_activations.get(name)
    z = rng.uniform(0.1, 2, (5, 4)) * rng.choice([-1, 1], (5, 4))
    a = act.forward_into(z, np.empty_like(z))
    np.testing.assert_allclose(a, act.f(z), rtol=1e-12)
    delta = rng.normal(size=z.shape)
    expected = delta * act.df(z)
    act.backward_into(z, a, delta)
    np.testing.assert_allclose(delta, expected, rtol=1e-12)


@pytest.mark.parametrize("name", output_activations.names())
def test_vector_jacobian_products_match_the_jacobian(name, rng):
    act = output_activations.get(name)
    z = rng.normal(size=(5, 4))
    g = rng.normal(size=(5, 4))
    a = act.forward_into(z, np.empty_like(z))
    np.testing.assert_allclose(a, act.f(z), rtol=1e-12)
    expected = np.matmul(g[:, None, :], act.df(z))[:, 0, :]
    np.testing.assert_allclose(act.vjp(z, a, g), expected, rtol=1e-10, atol=1e-14)


def test_user_pair_checked_in_one_line():
    def swish(z):
        return z * nn.sigmoid(z)

    def d_swish(z):
        s = nn.sigmoid(z)
        return s + z * s * (1 - s)

    assert gradcheck.check_activation(swish, d_swish) < 1e-6
    assert isinstance(nn.register_activation("swish_test", swish, d_swish), Activation)
    try:
        assert gradcheck.check_activation("swish_test") < 1e-6
    finally:
        hidden_activations.unregister("swish_test")
