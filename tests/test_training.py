"""The fit loop: validation, history, regularisation, weights, everything together."""

import copy

import numpy as np
import pytest
from conftest import blobs, net_for

import nnscratch as nn
from nnscratch import gradcheck
from nnscratch.schedules import CosineDecay
from nnscratch.training import sample_weights
from nnscratch.utils import split_indices


# ----------------------------------------------------------------- validation, history
def test_stratified_split_keeps_every_class_and_follows_the_seed():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 3)
    idx = split_indices(len(labels), 0.2, np.random.default_rng(1), labels=labels)
    held = labels[idx]
    assert set(held) == {0, 1, 2}
    assert set(np.delete(labels, idx)) == {0, 1, 2}
    assert np.sum(held == 0) == 10 and np.sum(held == 1) == 6
    again = split_indices(len(labels), 0.2, np.random.default_rng(1), labels=labels)
    np.testing.assert_array_equal(idx, again)
    assert not np.array_equal(idx, np.arange(len(labels) - len(idx), len(labels)))


def test_validation_split_records_validation_figures():
    x, y = blobs()
    net = net_for()
    # The held-out rows are the first draw from the network's generator: replay it on a copy.
    held = split_indices(len(y), 0.25, copy.deepcopy(net.rng), labels=y)
    net.fit(x, y, 16, 3, categorical=True, verbose=0, validation_split=0.25)
    h = net.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"}
    assert all(len(v) == 3 for v in h.values())
    assert h["learning_rate"] == [0.05] * 3
    # The last epoch's figure is the final network's accuracy on exactly those rows.
    expected = float(np.mean(np.argmax(net.predict(x[held]), axis=1) == y[held]))
    assert h["val_accuracy"][-1] == pytest.approx(expected)
    assert h["val_loss"][-1] == pytest.approx(
        float(
            np.mean(
                nn.categorical_crossentropy(net.predict(x[held]), nn.to_categorical(y[held], 3))
            )
        )
    )


def test_validation_data_and_history_across_fits():
    x, y = blobs()
    net = net_for()
    net.fit(x[:90], y[:90], 16, 2, categorical=True, verbose=0, validation_data=(x[90:], y[90:]))
    net.fit(x[:90], y[:90], 16, 3, categorical=True, verbose=0, validation_data=(x[90:], y[90:]))
    assert len(net.history["loss"]) == 5 and len(net.history["val_loss"]) == 5
    expected = float(
        np.mean(nn.categorical_crossentropy(net.predict(x[90:]), nn.to_categorical(y[90:], 3)))
    )
    assert net.history["val_loss"][-1] == pytest.approx(expected)
    with pytest.raises(ValueError, match="not both"):
        net.fit(
            x, y, 16, 1, categorical=True, validation_split=0.1, validation_data=(x, y), verbose=0
        )
    with pytest.raises(ValueError, match="validation_split"):
        net.fit(x, y, 16, 1, categorical=True, validation_split=1.5, verbose=0)


# ----------------------------------------------------------------------- regularisation
def test_dropout_only_while_training_and_reproducible():
    x, y = blobs()
    a = net_for(dropout=0.5, seed=7)
    b = net_for(dropout=0.5, seed=7)
    la = a.fit(x, y, 16, 3, categorical=True, verbose=0)
    lb = b.fit(x, y, 16, 3, categorical=True, verbose=0)
    assert la == lb
    np.testing.assert_array_equal(a.predict(x), a.predict(x))  # no dropout in predict
    plain = net_for(seed=7)
    assert plain.fit(x, y, 16, 3, categorical=True, verbose=0) != la
    h = np.maximum(x @ a.weights[0] + a.biases[0], 0)
    np.testing.assert_allclose(a.predict(x), nn.softmax(h @ a.weights[1] + a.biases[1]))


def test_dropout_mask_rate_and_scale():
    net = nn.NeuralNetwork(
        [4, 2000, 2], "relu", "softmax", "categorical_crossentropy", "sgd", seed=0, dropout=0.3
    )
    mask = net._dropout_mask((50, 2000), 0.3)
    np.testing.assert_allclose(np.unique(mask), [0.0, 1 / 0.7], rtol=1e-12)
    assert np.mean(mask == 0) == pytest.approx(0.3, abs=0.01)


def test_dropout_gradient_matches_finite_differences_for_a_fixed_mask():
    """With the masks held fixed, dropout is a linear layer: the gradient must be exact."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)), nn.to_categorical(rng.integers(0, 3, 5), 3)
    net = nn.NeuralNetwork(
        [4, 6, 5, 3],
        "tanh",
        "softmax",
        "categorical_crossentropy",
        "sgd",
        seed=1,
        dropout=[0.5, 0.3],
    )
    masks = [net._dropout_mask((5, 6), 0.5), net._dropout_mask((5, 5), 0.3)]
    forward = net._forward
    backward = net._backward

    def run(train):
        records = forward(x)
        a = x
        for i, rec in enumerate(records):  # redo the forward with the fixed masks
            z = a @ net.weights[i] + net.biases[i]
            out = np.tanh(z) if i < 2 else nn.softmax(z)
            records[i] = rec._replace(input=a, z=z, output=out, mask=masks[i] if i < 2 else None)
            a = out * masks[i] if i < 2 else out
        return records

    def loss():
        return float(np.mean(nn.categorical_crossentropy(run(False)[-1].output, y)))

    d_w, _ = backward(run(True), y)
    analytic = d_w[0].copy()
    numeric = np.zeros_like(analytic)
    for idx in np.ndindex(*analytic.shape):
        w = net.weights[0]
        old = w[idx]
        w[idx] = old + 1e-6
        plus = loss()
        w[idx] = old - 1e-6
        minus = loss()
        w[idx] = old
        numeric[idx] = (plus - minus) / 2e-6
    assert gradcheck.relative_error(analytic, numeric) < 1e-6


def test_l2_changes_the_gradient_exactly_by_its_formula():
    x, y = blobs(20)
    plain = net_for()
    decayed = net_for(l2=0.1)
    gw0, gb0 = plain.gradients(x, y, categorical=True)
    gw1, gb1 = decayed.gradients(x, y, categorical=True)
    for w, a, b in zip(plain.weights, gw0, gw1):
        np.testing.assert_allclose(b, a + 0.1 * w, rtol=1e-12, atol=1e-15)
    for a, b in zip(gb0, gb1):
        np.testing.assert_array_equal(a, b)  # biases are not decayed
    assert gradcheck.check_network(decayed, x[:6], y[:6], categorical=True) < 1e-6
    penalty = 0.05 * sum(float(np.sum(w * w)) for w in decayed.weights)
    assert decayed.objective(x, y, categorical=True) == pytest.approx(
        decayed.score(x, y) + penalty
    )


def test_clipping_by_value_and_by_norm():
    g = np.array([3.0, -4.0, 0.5])
    assert np.array_equal(nn.SGD(clipvalue=1.0).clip_gradient(g), [1.0, -1.0, 0.5])
    clipped = nn.SGD(clipnorm=1.0).clip_gradient(np.array([3.0, -4.0]))
    np.testing.assert_allclose(clipped, [0.6, -0.8])
    np.testing.assert_array_equal(nn.SGD(clipnorm=10.0).clip_gradient(g), g)
    for cls in (nn.SGD, nn.Adam, nn.RMSprop, nn.Adagrad):
        a, b = cls(clipnorm=1.0), cls()
        p = np.ones(3)
        np.testing.assert_allclose(a.update(p, g), b.update(p, g / np.linalg.norm(g)))
    assert g.tolist() == [3.0, -4.0, 0.5]  # the caller's gradient is left alone


def test_defaults_change_nothing_and_draw_nothing_extra():
    """With dropout, L2, clipping and weights off, training is bit-identical, and the
    generator is used only for initialisation and one permutation per epoch."""
    x, y = blobs()
    a = net_for(seed=5)
    b = nn.NeuralNetwork(
        [4, 8, 3],
        "relu",
        "softmax",
        "categorical_crossentropy",
        nn.SGD(0.05, 0.9, clipnorm=None, clipvalue=None),
        seed=5,
        dropout=0.0,
        l2=0.0,
    )
    la = a.fit(x, y, 16, 3, categorical=True, verbose=0)
    lb = b.fit(
        x,
        y,
        16,
        3,
        categorical=True,
        verbose=0,
        sample_weight=None,
        class_weight=None,
        validation_data=None,
        callbacks=[],
    )
    assert la == lb
    np.testing.assert_array_equal(a.get_flat_params(), b.get_flat_params())
    rng = np.random.default_rng(5)
    for fan_in, fan_out in ((4, 8), (8, 3)):
        std = np.sqrt(1 / (fan_in + fan_out))
        rng.normal(0, std, (fan_in, fan_out))
        rng.normal(0, std, (1, fan_out))
    for _ in range(3):
        rng.permutation(len(x))
    assert rng.bit_generator.state == a._rng.bit_generator.state


# -------------------------------------------------------------------------- imbalance
@pytest.mark.parametrize("one_hot", [False, True])
def test_class_weights_equal_matching_sample_weights(one_hot):
    x, y = blobs(90)
    targets = nn.to_categorical(y, 3) if one_hot else y
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    a, b = net_for(seed=2), net_for(seed=2)
    la = a.fit(x, targets, 16, 3, categorical=not one_hot, verbose=0, class_weight=cw)
    lb = b.fit(
        x,
        targets,
        16,
        3,
        categorical=not one_hot,
        verbose=0,
        sample_weight=np.array([cw[c] for c in y]),
    )
    assert la == lb
    np.testing.assert_array_equal(a.get_flat_params(), b.get_flat_params())
    plain = net_for(seed=2)
    assert plain.fit(x, targets, 16, 3, categorical=not one_hot, verbose=0) != la


def test_balanced_class_weights_and_weighted_loss_report():
    x, y = blobs(60, p=[0.7, 0.2, 0.1])
    net = net_for(seed=1)
    weights = sample_weights(net, nn.to_categorical(y, 3), None, "balanced")
    counts = np.bincount(y, minlength=3)
    np.testing.assert_allclose(weights, (60 / (3 * counts))[y])
    # the reported loss is the weighted mean of the per-sample losses before the update
    w = np.random.default_rng(0).uniform(0, 3, 60)
    a = net_for(seed=1)
    per_sample = nn.categorical_crossentropy(a.predict(x), nn.to_categorical(y, 3))[:, 0]
    (loss,) = a.fit(x, y, 60, 1, categorical=True, verbose=0, sample_weight=w)
    assert loss == pytest.approx(np.sum(w * per_sample) / np.sum(w))
    # weights that are all doubled change nothing (a weighted mean is scale-free)
    b, c = net_for(seed=1), net_for(seed=1)
    lb = b.fit(x, y, 16, 2, categorical=True, verbose=0, sample_weight=w)
    lc = c.fit(x, y, 16, 2, categorical=True, verbose=0, sample_weight=2 * w)
    np.testing.assert_allclose(lb, lc, rtol=1e-12)
    np.testing.assert_allclose(b.get_flat_params(), c.get_flat_params(), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sample_weight=np.ones(5)), "sample_weight has 5 entries"),
        (dict(sample_weight=-np.ones(60)), "negative"),
        (dict(sample_weight=np.ones((60, 2))), "1-D"),
        (dict(class_weight={7: 1.0}), "classes are 0..2"),
        (dict(class_weight="even"), "balanced"),
    ],
)
def test_bad_weights_are_named(kwargs, message):
    x, y = blobs(60)
    with pytest.raises((ValueError, TypeError), match=message):
        net_for().fit(x, y, 16, 1, categorical=True, verbose=0, **kwargs)


# --------------------------------------------------------------------------- together
def test_everything_in_one_fit_call(tmp_path):
    x, y = blobs(200, seed=9, p=[0.7, 0.2, 0.1])
    net = nn.NeuralNetwork(
        [4, 16, 16, 3],
        "relu",
        "softmax",
        "categorical_crossentropy",
        nn.Adam(CosineDecay(0.01, decay_steps=200, warmup_steps=20), clipnorm=5.0),
        seed=0,
        dropout=[0.2, 0.1],
        l2=1e-4,
    )
    stopper = nn.EarlyStopping("val_accuracy", patience=5)
    losses = net.fit(
        x,
        y,
        16,
        30,
        categorical=True,
        verbose=2,
        validation_split=0.2,
        class_weight="balanced",
        callbacks=[
            stopper,
            nn.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True),
            nn.CSVLogger(tmp_path / "log.csv"),
        ],
    )
    assert len(losses) == len(net.history["loss"]) <= 30
    assert net.history["learning_rate"][0] < 0.01  # still warming up after epoch 1
    # Measured: 1.0 (all 39 held-out rows) from epoch 4 on; allow one row to flip elsewhere.
    assert max(net.history["val_accuracy"]) >= 38 / 39 - 1e-12
    assert (tmp_path / "best.npz").exists() and (tmp_path / "log.csv").exists()
    nn.plot_history(net.history, tmp_path / "curves.png")


# ------------------------------------------------------------------ concurrency (issue 9.3)
def test_a_second_concurrent_fit_is_refused():
    """Guards "two threads calling fit on one network both return wrong losses"."""
    import threading

    x, y = blobs(400)
    net = net_for()
    started, release = threading.Event(), threading.Event()

    class Hold(nn.Callback):
        def on_epoch_begin(self, epoch, logs):
            started.set()
            release.wait(10)

    errors = []
    first = threading.Thread(
        target=lambda: net.fit(x, y, 16, 1, categorical=True, verbose=0, callbacks=[Hold()])
    )
    first.start()
    assert started.wait(10)
    try:
        with pytest.raises(nn.ConcurrentTrainingError, match="already training"):
            net.fit(x, y, 16, 1, categorical=True, verbose=0)
    except AssertionError as err:  # keep the thread from hanging on failure
        errors.append(err)
    finally:
        release.set()
        first.join(10)
    assert not errors
    # once the first fit is done, fitting again works
    assert len(net.fit(x, y, 16, 1, categorical=True, verbose=0)) == 1


def test_predict_from_many_threads_gives_the_single_thread_answer():
    from concurrent.futures import ThreadPoolExecutor

    x, y = blobs(3000)
    net = net_for()
    net.fit(x, y, 32, 2, categorical=True, verbose=0)
    expected = net.predict(x)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: net.predict(x), range(32)))
    for got in results:
        np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------ validation targets (issue 10.3)
@pytest.mark.parametrize(
    "y_form, val_form",
    [("labels", "onehot"), ("onehot", "labels"), ("labels", "labels"), ("onehot", "onehot")],
)
def test_validation_targets_in_either_form(y_form, val_form):
    x, y = blobs(150)
    onehot = nn.to_categorical(y, 3)
    fit_y = y[:100] if y_form == "labels" else onehot[:100]
    val_y = y[100:] if val_form == "labels" else onehot[100:]
    net = net_for()
    net.fit(
        x[:100],
        fit_y,
        16,
        2,
        categorical=y_form == "labels",
        verbose=0,
        validation_data=(x[100:], val_y),
    )
    reference = net_for()
    reference.fit(
        x[:100], y[:100], 16, 2, categorical=True, verbose=0, validation_data=(x[100:], y[100:])
    )
    assert net.history["val_loss"] == reference.history["val_loss"]
    assert net.history["val_accuracy"] == reference.history["val_accuracy"]


def test_validation_triple_with_weights_weighs_the_validation_loss():
    x, y = blobs(150)
    w = np.r_[np.zeros(25), np.ones(25)]
    net = net_for()
    net.fit(
        x[:100], y[:100], 16, 1, categorical=True, verbose=0, validation_data=(x[100:], y[100:], w)
    )
    per_sample = nn.categorical_crossentropy(net.predict(x[100:]), nn.to_categorical(y[100:], 3))
    assert net.history["val_loss"][0] == pytest.approx(per_sample[25:].mean())


@pytest.mark.parametrize(
    "bad, message",
    [
        ((np.zeros((5, 3)), np.zeros(5)), "validation x has 3 features"),
        ((np.zeros((5, 4)), np.zeros(4)), "validation y has 4 rows"),
        ((np.zeros((5, 4)), np.full(5, 7)), "validation y holds labels"),
        ((np.zeros((5, 4)),), "validation_data must be a tuple"),
        ((np.zeros((5, 4)), np.zeros(5), np.ones(3)), "validation sample_weight has 3"),
    ],
)
def test_bad_validation_data_is_named(bad, message):
    x, y = blobs(40)
    with pytest.raises((TypeError, ValueError), match=message):
        net_for().fit(x, y, 8, 1, categorical=True, verbose=0, validation_data=bad)


# ------------------------------------------------------------------ divergence (issue 10.6)
def test_divergence_shows_only_our_warning():
    import warnings

    x, _ = blobs(120)
    y = x.sum(axis=1) * 100
    net = nn.NeuralNetwork([4, 8, 1], "relu", "identity", "mse", nn.SGD(0.5), seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(x, y, 8, 5, verbose=0)
    kinds = [type(w.message) for w in caught]
    assert kinds == [nn.DivergenceWarning], [str(w.message) for w in caught]
    assert np.isfinite(net.get_flat_params()).all()


# --------------------------------------------------------------- bad input (issue 9.13)
def test_naming_the_first_nan_costs_little_memory():
    import tracemalloc

    x = np.full((60_000, 100), np.nan)
    net = nn.NeuralNetwork(
        [100, 4, 2], "relu", "softmax", "categorical_crossentropy", "sgd", seed=0
    )
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="row 0, column 0"):
            net.predict(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 4, peak  # the input itself is 48 MB


def test_a_nan_late_in_the_input_is_named_by_its_row():
    x, y = blobs(400)
    x[371, 2] = np.inf
    with pytest.raises(ValueError, match="row 371, column 2"):
        net_for().fit(x, y, 16, 1, categorical=True, verbose=0)


@pytest.mark.parametrize("where", [0, 150, 399])
def test_a_value_too_large_for_float32_is_out_of_range_not_nan(where):
    x, y = blobs(400)
    x[where, 1] = 1e300
    net = net_for(dtype=np.float32)
    for call in (
        lambda: net.fit(x, y, 16, 1, categorical=True, verbose=0),
        lambda: net.predict(x),
        lambda: net.score(x, y, accuracy=True),
    ):
        with pytest.raises(
            ValueError,
            match=rf"1e\+300 at row {where}, column 1, which is "
            r"out of range for float32",
        ):
            call()


@pytest.mark.parametrize("culprit", ["3.5kg", "pd.NA", object()])
def test_non_numeric_objects_are_shown(culprit):
    if culprit == "pd.NA":
        culprit = pytest.importorskip("pandas").NA
    x = np.zeros((6, 4), dtype=object)
    x[4, 3] = culprit
    with pytest.raises(TypeError, match=r"\[4, 3\]") as info:
        net_for().predict(x)
    assert repr(culprit)[:20] in str(info.value)


def test_a_nan_far_into_a_memmap_is_named_and_the_epoch_is_undone(tmp_path):
    """Batches are checked as they are read: parameters go back to the epoch's start."""
    x, y = blobs(3000)
    data = np.lib.format.open_memmap(
        tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=x.shape
    )
    data[:] = x
    data[2718, 3] = np.nan
    data.flush()
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    net = net_for(dtype=np.float32)
    before = net.get_flat_params()
    with pytest.raises(ValueError, match="row 2718, column 3"):
        net.fit(mapped, y, 32, 1, categorical=True, verbose=0)
    np.testing.assert_array_equal(net.get_flat_params(), before)


def test_float_memmap_training_is_bit_identical_to_arrays(tmp_path):
    x, y = blobs(500)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    a, b = net_for(), net_for()
    la = a.fit(x, y, 32, 3, categorical=True, verbose=0, validation_split=0.2)
    lb = b.fit(mapped, y, 32, 3, categorical=True, verbose=0, validation_split=0.2)
    assert la == lb
    np.testing.assert_array_equal(a.get_flat_params(), b.get_flat_params())


def test_uint8_input_is_converted_batch_by_batch_like_a_whole_conversion():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (300, 4), dtype=np.uint8)
    y = rng.integers(0, 3, 300)
    a, b = net_for(dtype=np.float32), net_for(dtype=np.float32)
    la = a.fit(x, y, 32, 2, categorical=True, verbose=0)
    lb = b.fit(x.astype(np.float32), y, 32, 2, categorical=True, verbose=0)
    assert la == lb


# ------------------------------------------------------------ score's labels (issue 9.8)
@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array(["a", "b", "c"] * 40), "numeric"),
        (np.r_[np.full(119, 1.0), np.nan], "whole-number"),
        (np.r_[np.full(119, 1.0), 0.5], "whole-number"),
        (np.r_[np.full(119, 1), 3], "labels from"),
        (np.r_[np.full(119, 1), -1], "negative"),
        (np.zeros(7), "7 rows"),
    ],
)
def test_accuracy_checks_labels_as_fit_does(bad, message):
    x, y = blobs(120)
    net = net_for()
    with pytest.raises((TypeError, ValueError), match=message):
        net.score(x, bad, accuracy=True)
    with pytest.raises((TypeError, ValueError)):
        net.fit(x, bad, 16, 1, categorical=True, verbose=0)


def test_accuracy_takes_labels_or_one_hot_rows_alike():
    x, y = blobs(120)
    net = net_for()
    net.fit(x, y, 16, 3, categorical=True, verbose=0)
    assert net.score(x, y, accuracy=True) == net.score(x, nn.to_categorical(y, 3), accuracy=True)
