"""NeuralNetwork against the article's algorithm as written (nnscratch.reference).

One batch's gradients and one optimizer update of the library, with all its fast
routes (flat buffers, fused output gradients, vector-Jacobian products, in-place
optimizer steps), must equal the article's Jacobian-chain, concatenate-and-slice
version to rounding, for every built-in pair and for a user's own pair.
"""

import numpy as np
import pytest

import nnscratch as nn
from nnscratch.reference import ArticleNetwork, MomentumSGD

HIDDEN = {
    "relu": (nn.relu, nn.d_relu),
    "sigmoid": (nn.sigmoid, nn.d_sigmoid),
    "tanh": (nn.tanh, nn.d_tanh),
    "leaky_relu": (nn.leaky_relu, nn.d_leaky_relu),
    "elu": (nn.elu, nn.d_elu),
    "softplus": (nn.softplus, nn.d_softplus),
}

OUTPUT_LOSS = {  # every pairing the library accepts for training
    "softmax+cce": (
        (nn.softmax, nn.d_softmax),
        (nn.categorical_crossentropy, nn.d_categorical_crossentropy),
        "onehot",
    ),
    "sigmoid+bce": (
        (nn.sigmoid, nn.d_sigmoid_output),
        (nn.binary_crossentropy, nn.d_binary_crossentropy),
        "binary",
    ),
    "identity+mse": ((nn.identity, nn.d_identity), (nn.mse, nn.d_mse), "real"),
    "identity+mae": ((nn.identity, nn.d_identity), (nn.mae, nn.d_mae), "real"),
    "identity+huber": ((nn.identity, nn.d_identity), (nn.huber, nn.d_huber), "real"),
    "softmax+mse": ((nn.softmax, nn.d_softmax), (nn.mse, nn.d_mse), "onehot"),
    "sigmoid+mse": ((nn.sigmoid, nn.d_sigmoid_output), (nn.mse, nn.d_mse), "binary"),
}


def swish(z):
    return z / (1 + np.exp(-z))


def d_swish(z):
    s = 1 / (1 + np.exp(-z))
    return s + z * s * (1 - s)


def cube_loss(y_pred, y_true):
    return np.sum((y_pred - y_true) ** 4, axis=1, keepdims=True) / 4


def d_cube_loss(y_pred, y_true):
    return np.expand_dims((y_pred - y_true) ** 3, 1)


def targets(kind, n, m, rng):
    if kind == "onehot":
        return np.eye(m)[rng.integers(0, m, n)]
    if kind == "binary":
        return (rng.random((n, m)) > 0.5).astype(float)
    return rng.normal(size=(n, m))


def pair_up(hidden, output, loss, layers=(5, 7, 6, 4), lr=0.05, momentum=0.9):
    """The library's network and the reference, with the same starting parameters."""
    net = nn.NeuralNetwork(
        list(layers), hidden, output, loss, nn.SGD(learning_rate=lr, momentum=momentum), seed=0
    )
    ref = ArticleNetwork(list(layers), hidden, output, loss, MomentumSGD(lr, momentum))
    ref.weights = [w.copy() for w in net.weights]
    ref.biases = [b.copy() for b in net.biases]
    return net, ref


@pytest.mark.parametrize("hidden", sorted(HIDDEN))
@pytest.mark.parametrize("combo", sorted(OUTPUT_LOSS))
def test_gradients_and_two_updates_equal_the_articles(hidden, combo):
    rng = np.random.default_rng(7)
    output, loss, kind = OUTPUT_LOSS[combo]
    net, ref = pair_up(HIDDEN[hidden], output, loss)
    x = rng.normal(size=(9, 5))
    y = targets(kind, 9, 4, rng)
    d_w, d_b = net.gradients(x, y)
    r_w, r_b = ref.backward(ref.forward(x), y)
    for mine, theirs in zip(d_w + d_b, r_w + r_b):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    for _ in range(2):  # the second step also checks the momentum state
        net.train_on_batch(x, y)
        ref.train_step(x, y)
    for mine, theirs in zip(list(net.weights) + list(net.biases), ref.weights + ref.biases):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec", ["names", "tuples"])
def test_builtins_by_name_take_the_same_route_as_tuples(spec):
    rng = np.random.default_rng(3)
    pieces = (
        ("relu", "softmax", "categorical_crossentropy")
        if spec == "names"
        else (
            (nn.relu, nn.d_relu),
            (nn.softmax, nn.d_softmax),
            (nn.categorical_crossentropy, nn.d_categorical_crossentropy),
        )
    )
    net, ref = pair_up(*pieces)
    ref.hidden_activation = (nn.relu, nn.d_relu)
    ref.output_activation = (nn.softmax, nn.d_softmax)
    ref.loss = (nn.categorical_crossentropy, nn.d_categorical_crossentropy)
    x, y = rng.normal(size=(6, 5)), np.eye(4)[rng.integers(0, 4, 6)]
    net.train_on_batch(x, y)
    ref.train_step(x, y)
    np.testing.assert_allclose(
        net.get_flat_params(), ref.flatten_params(ref.weights, ref.biases), rtol=1e-10
    )


def test_a_users_own_pairs_and_optimizer_equal_the_articles():
    rng = np.random.default_rng(11)
    hidden = (swish, d_swish)
    loss = (cube_loss, d_cube_loss)
    net = nn.NeuralNetwork(
        [3, 6, 2], hidden, (nn.identity, nn.d_identity), loss, MomentumSGD(0.01, 0.5), seed=2
    )
    ref = ArticleNetwork(
        [3, 6, 2], hidden, (nn.identity, nn.d_identity), loss, MomentumSGD(0.01, 0.5)
    )
    ref.weights = [w.copy() for w in net.weights]
    ref.biases = [b.copy() for b in net.biases]
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    for _ in range(3):
        mine = net.train_on_batch(x, y).loss
        theirs = ref.train_step(x, y)
        assert mine == pytest.approx(theirs, rel=1e-12)
    np.testing.assert_allclose(
        net.get_flat_params(), ref.flatten_params(ref.weights, ref.biases), rtol=1e-10
    )


def test_whole_training_run_matches_the_reference_order_free():
    """Full-batch training has no shuffling order to agree on: epochs must match exactly."""
    rng = np.random.default_rng(5)
    x, labels = rng.normal(size=(30, 5)), rng.integers(0, 4, 30)
    y = np.eye(4)[labels]
    net, ref = pair_up("relu", "softmax", "categorical_crossentropy")
    ref.hidden_activation = (nn.relu, nn.d_relu)
    ref.output_activation = (nn.softmax, nn.d_softmax)
    ref.loss = (nn.categorical_crossentropy, nn.d_categorical_crossentropy)
    mine = net.fit(x, y, 30, 5, verbose=0, shuffle=False)
    theirs = [ref.train_step(x, y) / 30 for _ in range(5)]
    np.testing.assert_allclose(mine, theirs, rtol=1e-10)
