"""The NeuralNetwork class: the article's methods, seeds, dtypes, names, files, progress."""

import io
import re

import numpy as np
import pytest

import nnscratch as nn
from nnscratch.progress import Progress


def small_net(**kwargs):
    return nn.NeuralNetwork(
        [4, 6, 3],
        (nn.relu, nn.d_relu),
        (nn.softmax, nn.d_softmax),
        (nn.categorical_crossentropy, nn.d_categorical_crossentropy),
        nn.SGD(learning_rate=0.1, momentum=0.9),
        **kwargs,
    )


def data(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)), rng.integers(0, 3, n)


def test_the_article_flow():
    """Built with positional tuples, trained, predicted, scored, saved and reloaded."""
    x, y = data(60)
    net = nn.NeuralNetwork(
        [4, 10, 3],
        (nn.relu, nn.d_relu),
        (nn.softmax, nn.d_softmax),
        (nn.categorical_crossentropy, nn.d_categorical_crossentropy),
        nn.SGD(),
        seed=0,
    )
    losses = net.fit(x, y, 10, 5, True, verbose=0)
    assert len(losses) == 5 and all(np.isfinite(losses))
    probs = net.predict(x)
    # the article's forward pass, written out here (float64; BLAS may sum in another order)
    hidden = np.maximum(x @ net.weights[0] + net.biases[0], 0)
    z = hidden @ net.weights[1] + net.biases[1]
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-10, atol=1e-14)
    labels = net.predict(x, labels=True)
    np.testing.assert_array_equal(labels, expected.argmax(axis=1))
    assert net.score(x, y, accuracy=True) == np.mean(labels == y)
    assert net.score(x, nn.to_categorical(y, 3)) == pytest.approx(
        float(np.mean(nn.categorical_crossentropy(probs, nn.to_categorical(y, 3))))
    )


def test_initialisation_follows_the_article():
    net = nn.NeuralNetwork(
        [300, 200, 100], "relu", "softmax", "categorical_crossentropy", "sgd", seed=0
    )
    for w, b in zip(net.weights, net.biases):
        std = np.sqrt(1 / (w.shape[0] + w.shape[1]))
        assert abs(w.mean()) < 0.1 * std
        assert w.std() == pytest.approx(std, rel=0.03)
        assert b.std() == pytest.approx(std, rel=0.3)  # biases are drawn too
        assert np.any(b != 0)


def test_same_seed_same_run_and_global_random_untouched():
    x, y = data()
    np.random.seed(99)
    before = np.random.get_state()[1].copy()
    runs = []
    for _ in range(2):
        net = small_net(seed=42)
        runs.append(
            (net.fit(x, y, 8, 3, categorical=True, verbose=0), [w.copy() for w in net.weights])
        )
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert not np.array_equal(small_net(seed=43).weights[0], small_net(seed=42).weights[0])


def test_generator_seed_is_used():
    a = small_net(seed=np.random.default_rng(5))
    b = small_net(seed=np.random.default_rng(5))
    np.testing.assert_array_equal(a.weights[0], b.weights[0])


def test_uneven_last_batch_and_batch_larger_than_data():
    x, y = data(10)
    seen = []

    class Counting(nn.SGD):
        def update(self, old_params, gradient):
            seen.append(1)
            return super().update(old_params, gradient)

    net = nn.NeuralNetwork(
        [4, 6, 3], "relu", "softmax", "categorical_crossentropy", Counting(0.1), seed=0
    )
    sizes = []
    net.input_transform = lambda batch: sizes.append(batch.shape[0]) or batch
    losses = net.fit(x, y, batch_size=4, epochs=2, categorical=True, verbose=0)
    assert len(seen) == 6
    assert sizes == [4, 4, 2, 4, 4, 2]  # batches of 4, 4, 2 per epoch
    assert np.isfinite(losses).all()
    big = small_net(seed=0)
    first = big.score(x, y)
    big_losses = big.fit(x, y, batch_size=1000, epochs=2, categorical=True, verbose=0)
    # one batch of all 10 rows per epoch: the first epoch reports the loss before its update
    assert big_losses[0] == pytest.approx(first, rel=1e-12)
    assert big_losses[1] < big_losses[0]


def test_epoch_loss_is_the_average_over_samples():
    """One epoch, one batch, plain SGD: the reported loss is the loss before the update."""
    x, y = data(12)
    net = small_net(seed=0)
    before = net.score(x, y)
    (loss,) = net.fit(x, y, batch_size=12, epochs=1, categorical=True, verbose=0)
    assert loss == pytest.approx(before)


def test_predict_one_sample():
    x, y = data()
    net = small_net(seed=0)
    row = net.predict(x[0])
    assert row.shape == (3,)
    np.testing.assert_allclose(row, net.predict(x[:1])[0])
    label = net.predict(x[0], labels=True)
    assert np.ndim(label) == 0 and label == net.predict(x[:1], labels=True)[0]


def test_predict_chunks_large_inputs_consistently():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20000, 4))
    net = small_net(seed=0)
    np.testing.assert_allclose(net.predict(x)[-5:], net.predict(x[-5:]), rtol=1e-12)


def test_save_and_load_params_round_trip(tmp_path):
    x, y = data()
    net = small_net(seed=0)
    net.fit(x, y, 8, 2, categorical=True, verbose=0)
    written = net.save_params(tmp_path / "params")
    assert written.endswith("params.npy")
    fresh = small_net(seed=123)
    assert not np.allclose(fresh.predict(x), net.predict(x))
    fresh.load_params(tmp_path / "params.npy")
    np.testing.assert_array_equal(fresh.predict(x), net.predict(x))
    assert [p.name for p in tmp_path.iterdir()] == ["params.npy"]  # no temporary files left


def test_load_params_checks_size_and_dtype(tmp_path):
    net = small_net(seed=0)
    path = net.save_params(tmp_path / "p.npy")
    bigger = nn.NeuralNetwork([4, 7, 3], "relu", "softmax", "categorical_crossentropy", "sgd")
    with pytest.raises(
        ValueError, match=r"shape \(51,\), but this network for layers \[4, 7, 3\] has 59"
    ):
        bigger.load_params(path)
    single = small_net(seed=0, dtype=np.float32)
    with pytest.raises(ValueError, match="float64 parameters, but this network uses float32"):
        single.load_params(path)
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match="junk.npy"):
        net.load_params(tmp_path / "junk.npy")


def test_weights_are_views_of_one_flat_buffer():
    net = small_net(seed=0)
    flat = net._params
    for w in list(net.weights) + list(net.biases):
        assert np.shares_memory(w, flat)
    net.weights[0] = np.zeros((4, 6))
    assert np.all(flat[:24] == 0)
    net.biases = [np.ones((1, 6)), np.ones((1, 3))]
    assert np.all(net.biases[1] == 1) and np.shares_memory(net.biases[1], flat)
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(6, 3\)"):
        net.weights[1] = np.zeros((3, 6))


def test_float32_end_to_end():
    x, y = data()
    net = small_net(seed=0, dtype=np.float32)
    losses = net.fit(x, y, 8, 3, categorical=True, verbose=0)
    assert all(w.dtype == np.float32 for w in net.weights)
    assert net.predict(x).dtype == np.float32
    reference = small_net(seed=0)
    ref_losses = reference.fit(x, y, 8, 3, categorical=True, verbose=0)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4)


def test_names_work_everywhere_and_unknown_names_list_the_known():
    net = nn.NeuralNetwork([2, 3, 2], "tanh", "softmax", "categorical_crossentropy", "adam")
    assert isinstance(net.optimizer, nn.Adam)
    with pytest.raises(ValueError, match=r"unknown hidden activation 'rleu'.*relu.*Did you mean"):
        nn.NeuralNetwork([2, 3, 2], "rleu", "softmax", "categorical_crossentropy", "sgd")
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'; known names: adagrad, adam"):
        nn.NeuralNetwork([2, 3, 2], "relu", "softmax", "categorical_crossentropy", "adamw")


def test_registered_user_pair_by_name():
    def cube(y_pred, y_true):
        return np.sum((y_pred - y_true) ** 4, axis=1, keepdims=True)

    def d_cube(y_pred, y_true):
        return np.expand_dims(4 * (y_pred - y_true) ** 3, 1)

    nn.register_loss("quartic_test", cube, d_cube)
    try:
        net = nn.NeuralNetwork([2, 3, 1], "relu", "identity", "quartic_test", "sgd", seed=0)
        assert net.loss.name == "quartic_test"
        with pytest.raises(ValueError, match="already registered"):
            nn.register_loss("quartic_test", cube, d_cube)
    finally:
        nn.registry.losses.unregister("quartic_test")


def test_sigmoid_hidden_pair_in_the_output_slot_gets_the_output_derivative():
    net = nn.NeuralNetwork([2, 3, 2], "relu", (nn.sigmoid, nn.d_sigmoid), "mse", "sgd")
    assert net.output_activation.df is nn.d_sigmoid_output


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(layers=[4]), ValueError, "at least an input and an output"),
        (dict(layers=[4, 0, 2]), ValueError, r"layers\[1\]"),
        (dict(layers=[4, 2.5, 2]), TypeError, r"layers\[1\]"),
        (dict(layers="4,3"), TypeError, "layers must be a list"),
        (dict(hidden_activation=(nn.relu,)), TypeError, "hidden_activation"),
        (dict(output_activation=42), TypeError, "output_activation"),
        (dict(loss=None), TypeError, "loss"),
        (dict(optimizer=object()), TypeError, "update"),
        (dict(optimizer=nn.SGD), TypeError, "write SGD()"),
        (dict(dtype=np.int32), ValueError, "dtype"),
        (dict(seed="abc"), TypeError, "seed"),
    ],
)
def test_constructor_errors_name_the_argument(kwargs, error, message):
    args = dict(
        layers=[4, 3, 2],
        hidden_activation="relu",
        output_activation="softmax",
        loss="categorical_crossentropy",
        optimizer="sgd",
    )
    args.update(kwargs)
    layers = args.pop("layers")
    with pytest.raises(error, match=message):
        nn.NeuralNetwork(layers, **args)


@pytest.mark.parametrize(
    "x, y, kwargs, message",
    [
        (np.ones((5, 3)), [0] * 5, {}, "x has 3 features, but the network expects 4"),
        (np.ones(4), [0], {}, "x must be a 2-D array"),
        (np.ones((0, 4)), [], {}, "x is empty"),
        (np.full((5, 4), np.nan), [0] * 5, {}, "non-finite"),
        (np.ones((5, 4)), [0] * 4, {}, "4 rows, but x has 5"),
        (np.ones((5, 4)), [0, 1, 2, 3, 9], {}, "labels must lie in 0..2"),
        (np.ones((5, 4)), [0.5] * 5, {}, "whole-number"),
        (np.ones((5, 4)), [0] * 5, {"batch_size": 0}, "batch_size"),
        (np.ones((5, 4)), [0] * 5, {"epochs": 1.5}, "epochs"),
        ([["a"] * 4] * 5, [0] * 5, {}, "numeric"),
    ],
)
def test_fit_errors_name_the_argument(x, y, kwargs, message):
    args = dict(batch_size=2, epochs=1)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        small_net(seed=0).fit(
            x, y, args["batch_size"], args["epochs"], categorical=True, verbose=0
        )


def test_wrong_shaped_user_derivative_is_reported():
    def bad_d_softmax(z):
        return nn.softmax(z)  # forgot the Jacobian

    # caught when the network is built, before any training
    with pytest.raises(
        ValueError,
        match=r"output_activation looks wrong: .*bad_d_softmax "
        r"returned shape \(2, 3\).*must return \(2, 3, 3\)",
    ):
        nn.NeuralNetwork(
            [4, 6, 3],
            "relu",
            (nn.softmax, bad_d_softmax),
            "categorical_crossentropy",
            "sgd",
            seed=0,
        )


def test_progress_is_one_line_per_epoch_when_not_a_terminal(capsys):
    x, y = data()
    small_net(seed=0).fit(x, y, 8, 3, categorical=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert err[0].startswith("Epoch 1/3") and "loss:" in err[0]


def test_verbose_zero_is_silent(capsys):
    x, y = data()
    small_net(seed=0).fit(x, y, 8, 2, categorical=True, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress(1, 2, 100, stream=stream, interval=0.0)
    assert progress.mode == "bar"
    progress.epoch_begin(0)
    progress.batch_end(50, 0.5)
    progress.epoch_end(0, {"loss": 0.25})
    progress.close()
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "loss=0.5" in text
    # the epoch's figures come as a line of their own under the bar
    assert re.search(r"Epoch 1/2 - [0-9.]+s - loss: 0\.2500\n$", text)


def test_repr_names_every_piece():
    text = repr(small_net(seed=0))
    assert text.startswith("NeuralNetwork(layers=[4, 6, 3], hidden_activation='relu'")
    assert "SGD(learning_rate=0.1, momentum=0.9" in text


# ------------------------------------------- pieces probed at construction (issue 10.7)
def _swish(z):
    return z * nn.sigmoid(z)


def _d_swish_flat(z):
    return np.ravel(z)  # wrong shape on purpose


@pytest.mark.parametrize(
    "args, argument",
    [
        # the loss pair passed as the output activation, and the output pair as the loss
        (("relu", (nn.mse, nn.d_mse), (nn.softmax, nn.d_softmax)), "output_activation"),
        (("relu", "softmax", (nn.softmax, nn.d_softmax)), "loss"),
        # a loss pair in the hidden slot
        (((nn.mse, nn.d_mse), "softmax", "categorical_crossentropy"), "hidden_activation"),
        # a hidden derivative of the wrong shape
        (((_swish, _d_swish_flat), "softmax", "categorical_crossentropy"), "hidden_activation"),
        # an elementwise derivative where a Jacobian stack belongs
        (("relu", (nn.softmax, nn.d_relu), "categorical_crossentropy"), "output_activation"),
        # a loss whose derivative is the loss itself (wrong shape)
        (("relu", "softmax", (nn.mse, nn.mse)), "loss"),
    ],
)
def test_a_piece_in_the_wrong_slot_is_named_at_construction(args, argument):
    with pytest.raises((TypeError, ValueError), match=rf"^{argument} looks wrong"):
        nn.NeuralNetwork([4, 5, 3], *args, "sgd")


def test_probing_leaves_the_generator_and_the_optimizer_alone():
    calls = []

    class Recording:
        def update(self, old_params, gradient):
            calls.append(1)
            return old_params - 0.1 * gradient

    a = nn.NeuralNetwork(
        [4, 5, 3], "relu", "softmax", "categorical_crossentropy", Recording(), seed=5
    )
    rng = np.random.default_rng(5)
    b_weights = rng.normal(0, np.sqrt(1 / 9), (4, 5))
    np.testing.assert_array_equal(a.weights[0], b_weights)
    assert calls == []
