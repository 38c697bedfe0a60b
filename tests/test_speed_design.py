"""Design choices that make training fast, checked without timing anything."""

import tracemalloc

import numpy as np
import pytest

import nnscratch as nn


def peak_training_memory(net, x, y, batch_size):
    """Peak bytes NumPy allocates during one epoch of training (tracemalloc sees them)."""
    tracemalloc.start()
    try:
        net.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "out, loss",
    [
        ("softmax", "categorical_crossentropy"),
        ("sigmoid", "binary_crossentropy"),
        ("softmax", "mse"),
        ("sigmoid", "huber"),
        ("identity", "mae"),
    ],
)
def test_no_jacobian_stack_for_builtin_outputs(out, loss):
    """256 inputs, 1,000 outputs, batches of 256: an (n, m, m) stack would be 2 GB."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 256))
    y = nn.to_categorical(rng.integers(0, 1000, 512), 1000)
    net = nn.NeuralNetwork([256, 1000], "relu", out, loss, nn.SGD(0.01, 0.9), seed=0)
    peak = peak_training_memory(net, x, y, 256)
    weights = net.n_params * 8
    activations = 256 * 1000 * 8
    assert peak < 10 * (weights + activations), peak  # a Jacobian stack would be 2 GB


def test_a_users_own_output_pair_does_build_the_jacobian():
    """The guard above would catch a Jacobian: the generic route really allocates one."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 16))
    y = nn.to_categorical(rng.integers(0, 200, 64), 200)
    net = nn.NeuralNetwork(
        [16, 200],
        "relu",
        (lambda z: nn.softmax(z), lambda z: nn.d_softmax(z)),
        "categorical_crossentropy",
        "sgd",
        seed=0,
    )
    peak = peak_training_memory(net, x, y, 64)
    assert peak >= 64 * 200 * 200 * 8


def test_flatten_and_restore_are_free_for_the_networks_own_arrays():
    net = nn.NeuralNetwork([3, 4, 2], "relu", "softmax", "categorical_crossentropy", "sgd")
    flatten = net._flatten_params
    restore = net._restore_params
    assert flatten(net.weights, net.biases) is net._params
    weights, biases = restore(net._params)
    assert weights is net.weights and biases is net.biases
    copy = flatten(list(net.weights), list(net.biases))  # foreign lists: a real concatenation
    assert copy is not net._params
    np.testing.assert_array_equal(copy, net._params)


def test_an_optimizer_may_update_in_place_and_return_its_input():
    class InPlace:
        def update(self, old_params, gradient):
            old_params -= 0.1 * gradient
            return old_params

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    a = nn.NeuralNetwork(
        [3, 4, 2], "relu", "softmax", "categorical_crossentropy", InPlace(), seed=1
    )
    b = nn.NeuralNetwork(
        [3, 4, 2], "relu", "softmax", "categorical_crossentropy", nn.SGD(0.1), seed=1
    )
    la = a.fit(x, y, 5, 3, categorical=True, verbose=0)
    lb = b.fit(x, y, 5, 3, categorical=True, verbose=0)
    np.testing.assert_allclose(la, lb, rtol=1e-12)


@pytest.mark.parametrize("cls", [nn.SGD, nn.Adam, nn.RMSprop])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_state_never_turns_subnormal(cls, dtype):
    """Guards a slowdown: Adam's moments for zero gradients decayed into subnormal
    numbers and made float32 epochs four times slower."""
    opt = cls(momentum=0.9) if cls is nn.SGD else cls()
    params = np.ones(1000, dtype)
    opt.step(params, np.ones(1000, dtype))
    zero = np.zeros(1000, dtype)
    for _ in range(20000 if dtype == np.float32 else 2000):
        opt.step(params, zero)
    tiny = np.finfo(dtype).tiny
    for name, arr in opt.get_state().items():
        if isinstance(arr, np.ndarray):
            assert not np.any((np.abs(arr) < tiny) & (arr != 0)), name
