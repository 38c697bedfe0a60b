"""Property-based checks: every bad input ends in our own ValueError or TypeError."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
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


def settles(call):
    """Run ``call``; it may succeed or raise our errors, nothing else."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            call()
        except OUR_ERRORS as err:
            assert str(err), "an error must say something"
            return err
    return None


@SETTINGS
@given(
    st.lists(
        st.one_of(st.integers(-3, 6), st.floats(-2, 5), st.text(max_size=2), st.none()), max_size=4
    )
)
def test_layers(layers):
    err = settles(
        lambda: nn.NeuralNetwork(layers, "relu", "softmax", "categorical_crossentropy", "sgd")
    )
    valid = len(layers) >= 2 and all(type(v) is int and v > 0 for v in layers)
    assert (err is None) == valid


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
    settles(
        lambda: nn.NeuralNetwork([2, 3, 2], spec, "softmax", "categorical_crossentropy", "sgd")
    )


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
def test_optimizer_settings(kwargs):
    settles(lambda: nn.SGD(**kwargs))


@SETTINGS
@given(
    arrays(),
    arrays(),
    st.one_of(st.integers(-2, 12), st.floats(0, 3), st.none()),
    st.one_of(st.integers(-1, 3), st.just(1.5)),
    st.booleans(),
)
def test_fit(x, y, batch_size, epochs, categorical):
    settles(lambda: fresh_net().fit(x, y, batch_size, epochs, categorical=categorical, verbose=0))


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
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        losses = net.fit(x, labels, 4, 2, categorical=True, verbose=0)
    assert len(losses) <= 2
    assert np.isfinite(net.get_flat_params()).all()


@SETTINGS
@given(arrays(), st.booleans())
def test_predict(x, labels):
    err = settles(lambda: fresh_net().predict(x, labels=labels))
    shape_ok = (x.ndim == 2 and x.shape[0] > 0 and x.shape[1] == 3) or (
        x.ndim == 1 and x.shape[0] == 3
    )
    if shape_ok and np.isfinite(x).all():
        assert err is None
    else:
        assert err is not None


@SETTINGS
@given(arrays(), arrays(max_dims=2), st.booleans())
def test_score(x, y, accuracy):
    settles(lambda: fresh_net().score(x, y, accuracy=accuracy))


@SETTINGS
@given(
    st.one_of(arrays(max_dims=2), st.lists(st.integers(-3, 3), max_size=5)),
    st.one_of(st.none(), st.integers(-1, 4)),
)
def test_to_categorical(labels, num_classes):
    settles(lambda: nn.to_categorical(labels, num_classes))


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
    x = np.zeros((4, 3), dtype=object)
    assert len(fresh_net().fit(x, [0, 1, 0, 1], 2, 1, categorical=True, verbose=0)) == 1
