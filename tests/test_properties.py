"""Property-based checks: every bad input ends in our own ValueError or TypeError whose
message names the argument at fault, and every valid input gives the right values."""

import math
import numbers
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnscratch as nn

OUR_ERRORS = (ValueError, TypeError)
# example counts and randomness come from the profile chosen in conftest.py
SETTINGS = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def arrays(max_dims=3):
    shapes = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=6)
    floats = hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32]),
        shape=shapes,
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
    )
    ints = hnp.arrays(dtype=st.sampled_from([np.int64, np.uint8, np.bool_]), shape=shapes)
    return st.one_of(floats, ints)


def fresh_net():
    return nn.NeuralNetwork(
        [3, 4, 2], "relu", "softmax", "categorical_crossentropy", nn.SGD(0.1), seed=0
    )


def settles(call, names=None):
    """Run ``call``; it may succeed or raise our errors, nothing else.

    Returns ``(error, result)``.  With ``names``, an error's message must name one of
    them (the argument at fault).
    """
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = call()
        except OUR_ERRORS as err:
            assert str(err), "an error must say something"
            if names is not None:
                assert re.search(rf"\b({'|'.join(names)})\b", str(err)), (names, str(err))
            return err, None
    return None, result


def forward(net, x):
    """The network's output computed here: relu hidden layers, a softmax output."""
    a = np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        z = a @ w + b
        if i < len(net.weights) - 1:
            a = np.maximum(z, 0)
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
    return a


@SETTINGS
@given(
    st.lists(
        st.one_of(st.integers(-3, 6), st.floats(-2, 5), st.text(max_size=2), st.none()), max_size=4
    )
)
def test_layers(layers):
    err, net = settles(
        lambda: nn.NeuralNetwork(layers, "relu", "softmax", "categorical_crossentropy", "sgd"),
        names=["layers"],
    )
    valid = len(layers) >= 2 and all(type(v) is int and v > 0 for v in layers)
    assert (err is None) == valid
    if valid:
        assert list(net.layers) == layers
        assert [w.shape for w in net.weights] == list(zip(layers[:-1], layers[1:]))
        assert [b.shape for b in net.biases] == [(1, k) for k in layers[1:]]


@SETTINGS
@given(
    st.one_of(
        st.text(max_size=8),
        st.integers(),
        st.none(),
        st.tuples(st.sampled_from([nn.relu, 1, None]), st.sampled_from([nn.d_relu, "x", None])),
    )
)
def test_activation_specs(spec):
    err, net = settles(
        lambda: nn.NeuralNetwork([2, 3, 2], spec, "softmax", "categorical_crossentropy", "sgd"),
        names=["hidden_activation", "hidden activation"],
    )
    from nnscratch.registry import hidden_activations

    valid = (isinstance(spec, str) and spec in hidden_activations.names()) or (
        isinstance(spec, tuple) and callable(spec[0]) and callable(spec[1])
    )
    assert (err is None) == valid, spec
    if valid and isinstance(spec, tuple):  # (relu, d_relu): the article's pair, used as is
        z = np.array([[-1.5, 0.0, 2.0]])
        np.testing.assert_array_equal(net.hidden_activation.f(z), [[0.0, 0.0, 2.0]])


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "learning_rate": st.one_of(st.floats(allow_nan=True), st.integers(-2, 2), st.text()),
            "momentum": st.one_of(st.floats(-1, 2), st.booleans()),
            "nesterov": st.one_of(st.booleans(), st.integers(0, 2)),
            "clipnorm": st.one_of(st.none(), st.floats(-1, 2)),
        },
    )
)
@example({"nesterov": True, "momentum": 0.0})  # Nesterov needs a momentum: refused
@example({"nesterov": True, "momentum": 0.5, "clipnorm": 0.1})
def test_optimizer_settings(kwargs):
    err, opt = settles(lambda: nn.SGD(**kwargs), names=list(kwargs))

    def real(v):
        return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)

    lr = kwargs.get("learning_rate", 0.01)
    momentum = kwargs.get("momentum", 0.0)
    nesterov = kwargs.get("nesterov", False)
    clipnorm = kwargs.get("clipnorm")
    valid = (
        real(lr)
        and lr > 0
        and real(momentum)
        and 0 <= momentum < 1
        and isinstance(nesterov, bool)
        and not (nesterov and momentum == 0)
        and (clipnorm is None or (real(clipnorm) and clipnorm > 0))
    )
    assert (err is None) == valid, kwargs
    if valid:
        assert (opt.learning_rate, opt.momentum, opt.nesterov, opt.clipnorm) == (
            lr,
            momentum,
            nesterov,
            clipnorm,
        )
        # and it steps by its rule.  First update from v = 0: v = -lr * g, so p moves by
        # -lr * g (classic) or momentum * v - lr * g = -(1 + momentum) lr g (Nesterov),
        # g first scaled down to norm clipnorm when longer (|[1, -2]| = sqrt(5))
        g = np.array([1.0, -2.0])
        if clipnorm is not None and clipnorm < math.sqrt(5):
            g = g * clipnorm / math.sqrt(5)
        step = -lr * g * ((1 + momentum) if nesterov else 1)
        np.testing.assert_allclose(
            opt.update(np.ones(2), np.array([1.0, -2.0])), 1 + step, rtol=1e-12
        )


@SETTINGS
@given(
    arrays(),
    arrays(),
    st.one_of(st.integers(-2, 12), st.floats(0, 3), st.none()),
    st.one_of(st.integers(-1, 3), st.just(1.5)),
    st.booleans(),
)
def test_fit(x, y, batch_size, epochs, categorical):
    net = fresh_net()
    err, losses = settles(
        lambda: net.fit(x, y, batch_size, epochs, categorical=categorical, verbose=0),
        names=["x", "y", "batch_size", "epochs", "labels", "categorical"],
    )
    if err is None:  # it trained: one finite loss per epoch, recorded in the history
        assert len(losses) == epochs
        assert net.history["loss"] == losses
        assert all(math.isfinite(v) and v >= 0 for v in losses)


@SETTINGS
@given(
    hnp.arrays(
        dtype=np.float64,
        shape=st.tuples(st.integers(1, 8), st.just(3)),
        elements=st.floats(-1e6, 1e6),
    ),
    st.integers(0, 2),
)
def test_fit_valid_inputs_train(x, labels_seed):
    labels = np.random.default_rng(labels_seed).integers(0, 2, x.shape[0])
    net = fresh_net()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        losses = net.fit(x, labels, 4, 2, categorical=True, verbose=0)
    diverged = any(issubclass(w.category, nn.DivergenceWarning) for w in caught)
    assert np.isfinite(net.get_flat_params()).all()
    if diverged:  # stopped early, parameters restored to the start of that epoch
        assert len(losses) < 2
    else:
        assert len(losses) == 2
        assert all(math.isfinite(v) and v >= 0 for v in losses)
        assert net.history["loss"] == losses


@SETTINGS
@given(arrays(), st.booleans())
def test_predict(x, labels):
    net = fresh_net()
    err, out = settles(lambda: net.predict(x, labels=labels), names=["x"])
    shape_ok = (x.ndim == 2 and x.shape[0] > 0 and x.shape[1] == 3) or (
        x.ndim == 1 and x.shape[0] == 3
    )
    if shape_ok and np.isfinite(x).all():
        assert err is None
        expected = forward(net, np.atleast_2d(x))
        if labels:
            expected = expected.argmax(axis=1)
            np.testing.assert_array_equal(out, expected[0] if x.ndim == 1 else expected)
        else:
            # our float64 forward against the network's (BLAS may order sums differently)
            np.testing.assert_allclose(
                out, expected[0] if x.ndim == 1 else expected, rtol=1e-9, atol=1e-12
            )
    else:
        assert err is not None


@SETTINGS
@given(arrays(), arrays(max_dims=2), st.booleans())
def test_score(x, y, accuracy):
    net = fresh_net()
    err, value = settles(lambda: net.score(x, y, accuracy=accuracy), names=["x", "y", "labels"])
    if err is None:
        out = forward(net, np.atleast_2d(x))
        y = np.asarray(y, dtype=np.float64)
        if accuracy:
            truth = y.argmax(axis=1) if y.ndim == 2 else y
            assert value == np.mean(out.argmax(axis=1) == truth)
        else:
            targets = y if y.ndim == 2 else np.eye(2)[y.astype(int)]
            expected = np.mean(-(targets * np.log(np.clip(out, nn.EPS, 1 - nn.EPS))).sum(axis=1))
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)


@SETTINGS
@given(
    st.one_of(arrays(max_dims=2), st.lists(st.integers(-3, 3), max_size=5)),
    st.one_of(st.none(), st.integers(-1, 4)),
)
def test_to_categorical(labels, num_classes):
    err, out = settles(
        lambda: nn.to_categorical(labels, num_classes), names=["labels", "num_classes"]
    )
    if err is None:
        flat = np.asarray(labels).astype(np.int64).ravel()
        width = num_classes if num_classes is not None else flat.max() + 1
        expected = np.zeros((flat.size, width))
        expected[np.arange(flat.size), flat] = 1.0
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "x",
    [
        np.zeros((4, 3), np.complex128),
        np.full((4, 3), "a"),
        np.full((4, 3), "a", dtype=object),
        np.zeros((4, 3), "datetime64[s]"),
    ],
    ids=["complex", "str", "object-str", "datetime"],
)
def test_non_numeric_x_is_a_type_error(x):
    with pytest.raises(TypeError, match="x must be numeric"):
        fresh_net().fit(x, [0, 1, 0, 1], 2, 1, categorical=True, verbose=0)


def test_object_array_of_numbers_is_accepted():
    x = np.arange(12, dtype=object).reshape(4, 3)
    as_objects, as_floats = fresh_net(), fresh_net()
    losses = as_objects.fit(x, [0, 1, 0, 1], 2, 1, categorical=True, verbose=0, shuffle=False)
    expected = as_floats.fit(
        x.astype(np.float64), [0, 1, 0, 1], 2, 1, categorical=True, verbose=0, shuffle=False
    )
    assert losses == expected  # the same numbers as the float array, not just one loss
    np.testing.assert_array_equal(as_objects.get_flat_params(), as_floats.get_flat_params())
