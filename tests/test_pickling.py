"""Pickled, deep-copied and cloned networks train exactly like the original.

Guards the bug "a pickled network cannot learn" (issue 9, point 0): pickle and
deepcopy turned the weight views into arrays of their own, so fit updated the
flat buffer while predict read the stale copies.
"""

import copy
import pickle

import numpy as np
import pytest

from nnscratch import NeuralNetwork
from nnscratch.datasets import load_digits


def _digits():
    x, y = load_digits(normalize=True)
    return x[:600], y[:600]


def _trained(dtype=np.float64, optimizer="adam", dropout=0.0):
    x, y = _digits()
    net = NeuralNetwork(
        [64, 24, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        optimizer,
        seed=3,
        dtype=dtype,
        dropout=dropout,
    )
    net.fit(x, y, 32, 1, categorical=True, verbose=0)
    return net


COPIERS = {
    "pickle": lambda net: pickle.loads(pickle.dumps(net)),
    "deepcopy": copy.deepcopy,
    "pickle-protocol-2": lambda net: pickle.loads(pickle.dumps(net, protocol=2)),
}


@pytest.mark.parametrize("how", sorted(COPIERS))
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pickled_network_trains_exactly_like_the_original(how, optimizer, dtype):
    original = _trained(dtype, optimizer, dropout=0.1)
    clone = COPIERS[how](original)
    for net in (original, clone):
        for views in (net.weights, net.biases):
            for view in views:
                assert np.shares_memory(view, net._params)
    x, y = _digits()
    expected = original.fit(x, y, 32, 3, categorical=True, verbose=0)
    got = clone.fit(x, y, 32, 3, categorical=True, verbose=0)
    assert got == expected
    np.testing.assert_array_equal(clone.predict(x), original.predict(x))
    # learning really happened (the bug left the loss stuck)
    assert got[-1] < got[0]


def test_copy_is_independent_of_the_original():
    original = _trained()
    clone = copy.deepcopy(original)
    before = original.get_flat_params()
    x, y = _digits()
    clone.fit(x, y, 32, 2, categorical=True, verbose=0)
    np.testing.assert_array_equal(original.get_flat_params(), before)
    assert not np.array_equal(clone.get_flat_params(), before)


def test_assigning_weights_on_a_copy_writes_into_its_buffer():
    clone = pickle.loads(pickle.dumps(_trained()))
    clone.weights[0] = np.zeros_like(clone.weights[0])
    assert not clone.get_flat_params()[: clone.weights[0].size].any()
