"""Every built-in keeps the article's shapes."""

import numpy as np
import pytest

import nnscratch as nn

HIDDEN = [
    (nn.relu, nn.d_relu),
    (nn.sigmoid, nn.d_sigmoid),
    (nn.tanh, nn.d_tanh),
    (nn.leaky_relu, nn.d_leaky_relu),
    (nn.elu, nn.d_elu),
    (nn.softplus, nn.d_softplus),
]
OUTPUT = [
    (nn.softmax, nn.d_softmax),
    (nn.identity, nn.d_identity),
    (nn.sigmoid, nn.d_sigmoid_output),
]
LOSSES = [
    (nn.categorical_crossentropy, nn.d_categorical_crossentropy),
    (nn.binary_crossentropy, nn.d_binary_crossentropy),
    (nn.mse, nn.d_mse),
    (nn.mae, nn.d_mae),
    (nn.huber, nn.d_huber),
]


@pytest.mark.parametrize("f, df", HIDDEN, ids=lambda p: getattr(p, "__name__", ""))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hidden_shapes_and_dtype(f, df, dtype, rng):
    z = rng.normal(size=(7, 4)).astype(dtype)
    assert f(z).shape == (7, 4)
    assert df(z).shape == (7, 4)
    assert f(z).dtype == dtype and df(z).dtype == dtype


@pytest.mark.parametrize("f, df", OUTPUT, ids=lambda p: getattr(p, "__name__", ""))
def test_output_shapes(f, df, rng):
    z = rng.normal(size=(7, 3))
    assert f(z).shape == (7, 3)
    assert df(z).shape == (7, 3, 3)


@pytest.mark.parametrize("loss, d_loss", LOSSES, ids=lambda p: getattr(p, "__name__", ""))
def test_loss_shapes(loss, d_loss, rng):
    y_pred = rng.uniform(0.1, 0.9, (6, 4))
    y_true = nn.to_categorical(rng.integers(0, 4, 6), 4)
    assert loss(y_pred, y_true).shape == (6, 1)
    assert d_loss(y_pred, y_true).shape == (6, 1, 4)
    # the article's chain: row vector times Jacobian stack
    assert np.matmul(d_loss(y_pred, y_true), nn.d_softmax(y_pred)).shape == (6, 1, 4)


def test_softmax_rows_sum_to_one_and_never_overflow():
    z = np.array([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    s = nn.softmax(z)
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s.sum(axis=1), 1.0)
    np.testing.assert_allclose(s[0], [0.5, 0.5, 0.0])


def test_sigmoid_is_stable_for_large_inputs():
    with np.errstate(over="raise"):
        s = nn.sigmoid(np.array([[-800.0, 0.0, 800.0]]))
    np.testing.assert_allclose(s, [[0.0, 0.5, 1.0]])


def test_cross_entropy_guards_log_of_zero_per_dtype():
    for dtype in (np.float32, np.float64):
        y_pred = np.array([[0.0, 1.0]], dtype=dtype)
        y_true = np.array([[1.0, 0.0]], dtype=dtype)
        assert np.isfinite(nn.categorical_crossentropy(y_pred, y_true)).all()
        assert np.isfinite(nn.binary_crossentropy(y_pred, y_true)).all()
        assert np.isfinite(nn.d_binary_crossentropy(y_pred, y_true)).all()


def test_eps_is_float64_machine_epsilon():
    assert nn.EPS == np.finfo(np.float64).eps


def test_to_categorical():
    out = nn.to_categorical([0, 2, 1])
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert nn.to_categorical([1], num_classes=4).shape == (1, 4)
    with pytest.raises(ValueError, match="labels"):
        nn.to_categorical([0, 5], num_classes=3)


def test_network_shapes_follow_the_article():
    net = nn.NeuralNetwork(
        [5, 10, 2],
        (nn.relu, nn.d_relu),
        (nn.softmax, nn.d_softmax),
        (nn.categorical_crossentropy, nn.d_categorical_crossentropy),
        nn.SGD(),
        seed=0,
    )
    assert [w.shape for w in net.weights] == [(5, 10), (10, 2)]
    assert [b.shape for b in net.biases] == [(1, 10), (1, 2)]
    assert net.n_params == 5 * 10 + 10 * 2 + 10 + 2


def test_optimizer_sees_flat_vectors():
    seen = []

    class Recorder:
        def update(self, old_params, gradient):
            seen.append((old_params.shape, gradient.shape))
            return old_params - 0.01 * gradient

    net = nn.NeuralNetwork(
        [3, 4, 2], "relu", "softmax", "categorical_crossentropy", Recorder(), seed=0
    )
    net.fit(np.ones((5, 3)), [0, 1, 0, 1, 1], batch_size=2, epochs=1, categorical=True, verbose=0)
    assert seen == [((26,), (26,))] * 3


def test_to_categorical_refuses_infinite_and_huge_labels():
    """Guards a bug hypothesis found: an inf label crashed with OverflowError, and a stray
    huge label would have asked for gigabytes."""
    with pytest.raises(ValueError, match="whole-number"):
        nn.to_categorical([0.0, np.inf])
    with pytest.raises(ValueError, match="pass num_classes explicitly"):
        nn.to_categorical([0, 10**9])
    with pytest.raises(ValueError, match="negative label -1"):
        nn.to_categorical([0, -1])
    with pytest.raises(ValueError, match="num_classes"):
        nn.to_categorical([0, 1], num_classes=0)


@pytest.mark.parametrize("spec", [(nn.relu,), (nn.relu, nn.d_relu, nn.relu), (), (1, 2)])
def test_pairs_of_the_wrong_length_or_kind_are_named_type_errors(spec):
    """Only an (f, df) pair of two callables is a pair; anything else is refused by name."""
    with pytest.raises(TypeError, match="hidden_activation"):
        nn.NeuralNetwork([2, 3, 2], spec, "softmax", "categorical_crossentropy", "sgd")
    with pytest.raises(TypeError, match="loss"):
        nn.NeuralNetwork([2, 3, 2], "relu", "softmax", spec, "sgd")


def test_losses_guard_logs_for_any_prediction_dtype():
    """Integer (or other) predictions are clipped into [EPS, 1 - EPS] too: a certain, right
    prediction costs about EPS, never log(0)."""
    right = np.array([[1, 0], [0, 1]])
    for loss in (nn.binary_crossentropy, nn.categorical_crossentropy):
        value = loss(right, right)
        assert np.isfinite(value).all() and (value >= 0).all() and (value < 1e-12).all()
