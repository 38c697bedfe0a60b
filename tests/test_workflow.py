"""Training workflow: validation, history, callbacks, schedules, regularisation, weights, plots."""

import io
import struct
import sys

import numpy as np
import pytest

import nnscratch as nn
from nnscratch import gradcheck
from nnscratch.callbacks import Callback
from nnscratch.schedules import Constant, CosineDecay, ExponentialDecay, StepDecay
from nnscratch.training import sample_weights
from nnscratch.utils import split_indices


def blobs(n=120, classes=3, seed=0, p=None):
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, n, p=p)
    centers = rng.normal(scale=3, size=(classes, 4))
    return centers[y] + rng.normal(size=(n, 4)), y


def net_for(**kwargs):
    kwargs.setdefault("seed", 0)
    opt = kwargs.pop("optimizer", nn.SGD(0.05, 0.9))
    return nn.NeuralNetwork([4, 8, 3], "relu", "softmax", "categorical_crossentropy", opt,
                            **kwargs)


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
    net.fit(x, y, 16, 3, categorical=True, verbose=0, validation_split=0.25)
    h = net.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                      "seconds"}
    assert all(len(v) == 3 for v in h.values())
    assert h["learning_rate"] == [0.05] * 3
    assert 0 <= h["val_accuracy"][-1] <= 1


def test_validation_data_and_history_across_fits():
    x, y = blobs()
    net = net_for()
    net.fit(x[:90], y[:90], 16, 2, categorical=True, verbose=0,
            validation_data=(x[90:], y[90:]))
    net.fit(x[:90], y[:90], 16, 3, categorical=True, verbose=0,
            validation_data=(x[90:], y[90:]))
    assert len(net.history["loss"]) == 5 and len(net.history["val_loss"]) == 5
    expected = float(np.mean(nn.categorical_crossentropy(net.predict(x[90:]),
                                                         nn.to_categorical(y[90:], 3))))
    assert net.history["val_loss"][-1] == pytest.approx(expected)
    with pytest.raises(ValueError, match="not both"):
        net.fit(x, y, 16, 1, categorical=True, validation_split=0.1,
                validation_data=(x, y), verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        net.fit(x, y, 16, 1, categorical=True, validation_split=1.5, verbose=0)


# ---------------------------------------------------------------------------- callbacks
class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.calls = []
        self.stop_at = stop_at

    def on_train_begin(self, logs):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs):
        self.calls.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs):
        self.calls.append("batch")
        assert logs["size"] > 0 and np.isfinite(logs["loss"])

    def on_epoch_end(self, epoch, logs):
        self.calls.append(f"epoch_end {epoch}")
        if epoch == self.stop_at:
            self.network.stop_training = True

    def on_train_end(self, logs):
        self.calls.append("train_end")


def test_callback_protocol_order_and_stop():
    x, y = blobs(40)
    rec = Recorder(stop_at=1)
    losses = net_for().fit(x, y, 20, 5, categorical=True, verbose=0, callbacks=[rec])
    assert len(losses) == 2
    assert rec.calls == ["train_begin", "epoch_begin 0", "batch", "batch", "epoch_end 0",
                         "epoch_begin 1", "batch", "batch", "epoch_end 1", "train_end"]
    assert rec.network is not None


def test_stop_from_a_batch_hook():
    class StopNow(Callback):
        def on_batch_end(self, batch, logs):
            self.network.stop_training = True

    x, y = blobs(40)
    net = net_for()
    net.fit(x, y, 10, 5, categorical=True, verbose=0, callbacks=[StopNow()])
    assert net.history.get("loss", []) == []  # stopped inside the first epoch


def test_not_a_callback_is_refused():
    x, y = blobs(40)
    with pytest.raises(TypeError, match="is not a callback"):
        net_for().fit(x, y, 10, 1, categorical=True, verbose=0, callbacks=[object()])


def snapshots():
    kept = []

    class Keep(Callback):
        def on_epoch_end(self, epoch, logs):
            kept.append((logs["val_loss"], self.network.get_flat_params()))
    return kept, Keep()


def test_early_stopping_stops_and_restores_the_best_epoch():
    x, y = blobs(150, seed=3)
    kept, keeper = snapshots()
    stopper = nn.EarlyStopping("val_loss", patience=2)
    # a high rate makes the validation loss bounce, so patience runs out early
    net = net_for(optimizer=nn.SGD(0.5, 0.9))
    net.fit(x, y, 8, 40, categorical=True, verbose=0, validation_split=0.3,
            callbacks=[keeper, stopper])
    assert stopper.stopped_epoch is not None
    assert len(net.history["loss"]) == stopper.stopped_epoch + 1 < 40
    best = int(np.nanargmin([k[0] for k in kept]))
    assert stopper.best_epoch == best
    np.testing.assert_array_equal(net.get_flat_params(), kept[best][1])


def test_early_stopping_restores_best_also_when_epochs_run_out():
    x, y = blobs(150, seed=4)
    kept, keeper = snapshots()
    stopper = nn.EarlyStopping("val_loss", patience=100)
    net = net_for(optimizer=nn.SGD(0.5, 0.9))
    net.fit(x, y, 8, 8, categorical=True, verbose=0, validation_split=0.3,
            callbacks=[keeper, stopper])
    assert stopper.stopped_epoch is None and len(kept) == 8
    best = int(np.argmin([k[0] for k in kept]))
    np.testing.assert_array_equal(net.get_flat_params(), kept[best][1])


def test_monitoring_a_missing_figure_says_what_to_do():
    x, y = blobs(40)
    with pytest.raises(ValueError, match="validation_split"):
        net_for().fit(x, y, 10, 2, categorical=True, verbose=0,
                      callbacks=[nn.EarlyStopping("val_loss")])


def test_model_checkpoint_best_only_and_csv_logger(tmp_path):
    x, y = blobs()
    ckpt = nn.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}.npz"), save_best_only=True)
    log = nn.CSVLogger(tmp_path / "log.csv")
    net = net_for()
    net.fit(x, y, 16, 4, categorical=True, verbose=0, validation_split=0.2,
            callbacks=[ckpt, log])
    assert ckpt.saved and all(p.endswith(".npz") for p in ckpt.saved)
    best = nn.load_model(ckpt.saved[-1])
    assert best.history["val_loss"][-1] == min(net.history["val_loss"])
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate")
    assert len(lines) == 5 and lines[4].startswith("4,")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------- schedules
def test_schedules_give_the_expected_rates():
    assert Constant(0.1)(0) == Constant(0.1)(10 ** 6) == 0.1
    step = StepDecay(0.1, factor=0.5, every=10)
    assert [step(s) for s in (0, 9, 10, 25)] == [0.1, 0.1, 0.05, 0.025]
    exp = ExponentialDecay(1.0, rate=0.5, steps=100)
    assert exp(0) == 1.0 and exp(100) == pytest.approx(0.5) and exp(50) == pytest.approx(
        2 ** -0.5)
    cos = CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert cos(0) == 1.0 and cos(50) == pytest.approx(0.55) and cos(100) == pytest.approx(0.1)
    assert cos(500) == pytest.approx(0.1)
    warm = CosineDecay(1.0, decay_steps=100, warmup_steps=10)
    assert warm(0) == 0.0 and warm(5) == pytest.approx(0.5) and warm(10) == 1.0
    assert warm(60) == pytest.approx(0.5)


@pytest.mark.parametrize("cls", [nn.SGD, nn.Adam, nn.RMSprop, nn.Adagrad])
def test_every_optimizer_follows_a_schedule(cls):
    opt = cls(learning_rate=StepDecay(0.1, factor=0.5, every=2))
    p = np.zeros(3)
    rates = []
    for _ in range(5):
        rates.append(opt.current_learning_rate())
        p = opt.update(p, np.ones(3))
    assert rates == [0.1, 0.1, 0.05, 0.05, 0.025]


def test_learning_rate_scheduler_and_plateau_callbacks():
    x, y = blobs(60)
    net = net_for()
    sched = nn.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    net.fit(x, y, 20, 3, categorical=True, verbose=0, callbacks=[sched])
    assert net.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    plateau = nn.ReduceLROnPlateau("loss", factor=0.5, patience=1, min_delta=10.0)
    net2 = net_for()
    net2.fit(x, y, 20, 4, categorical=True, verbose=0, callbacks=[plateau])
    # min_delta=10 means nothing counts as an improvement after the first epoch
    assert net2.optimizer.learning_rate == pytest.approx(0.05 * 0.5 ** 3)


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
    net = nn.NeuralNetwork([4, 2000, 2], "relu", "softmax", "categorical_crossentropy", "sgd",
                           seed=0, dropout=0.3)
    mask = net._dropout_mask((50, 2000), 0.3)
    np.testing.assert_allclose(np.unique(mask), [0.0, 1 / 0.7], rtol=1e-12)
    assert np.mean(mask == 0) == pytest.approx(0.3, abs=0.01)


def test_dropout_gradient_matches_finite_differences_for_a_fixed_mask():
    """With the masks held fixed, dropout is a linear layer: the gradient must be exact."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)), nn.to_categorical(rng.integers(0, 3, 5), 3)
    net = nn.NeuralNetwork([4, 6, 5, 3], "tanh", "softmax", "categorical_crossentropy",
                           "sgd", seed=1, dropout=[0.5, 0.3])
    masks = [net._dropout_mask((5, 6), 0.5), net._dropout_mask((5, 5), 0.3)]
    forward = net._forward
    backward = net._backward

    def run(train):
        records = forward(x)
        a = x
        for i, rec in enumerate(records):  # redo the forward with the fixed masks
            z = a @ net.weights[i] + net.biases[i]
            out = np.tanh(z) if i < 2 else nn.softmax(z)
            records[i] = rec._replace(input=a, z=z, output=out,
                                      mask=masks[i] if i < 2 else None)
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
        decayed.score(x, y) + penalty)


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
    b = nn.NeuralNetwork([4, 8, 3], "relu", "softmax", "categorical_crossentropy",
                         nn.SGD(0.05, 0.9, clipnorm=None, clipvalue=None), seed=5,
                         dropout=0.0, l2=0.0)
    la = a.fit(x, y, 16, 3, categorical=True, verbose=0)
    lb = b.fit(x, y, 16, 3, categorical=True, verbose=0, sample_weight=None,
               class_weight=None, validation_data=None, callbacks=[])
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
    lb = b.fit(x, targets, 16, 3, categorical=not one_hot, verbose=0,
               sample_weight=np.array([cw[c] for c in y]))
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


@pytest.mark.parametrize("kwargs, message", [
    (dict(sample_weight=np.ones(5)), "sample_weight has 5 entries"),
    (dict(sample_weight=-np.ones(60)), "negative"),
    (dict(sample_weight=np.ones((60, 2))), "1-D"),
    (dict(class_weight={7: 1.0}), "classes are 0..2"),
    (dict(class_weight="even"), "balanced"),
])
def test_bad_weights_are_named(kwargs, message):
    x, y = blobs(60)
    with pytest.raises((ValueError, TypeError), match=message):
        net_for().fit(x, y, 16, 1, categorical=True, verbose=0, **kwargs)


# ---------------------------------------------------------------------------- progress
def test_lines_per_epoch_with_validation_figures(capsys):
    x, y = blobs()
    net_for().fit(x, y, 16, 3, categorical=True, validation_split=0.2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert "val_loss:" in lines[-1] and "val_accuracy:" in lines[-1]


def test_verbose_two_is_lines_even_on_a_terminal():
    from nnscratch.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert Progress(2, 1, 10, stream=Terminal()).mode == "line"
    assert Progress(1, 1, 10, stream=Terminal()).mode == "bar"
    assert Progress(1, 1, 10, stream=io.StringIO()).mode == "line"
    with pytest.raises(ValueError, match="verbose"):
        Progress(3, 1, 10)


# -------------------------------------------------------------------------------- plots
def png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plot_history_writes_a_png_of_the_asked_size(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = blobs()
    net = net_for()
    net.fit(x, y, 16, 4, categorical=True, verbose=0, validation_split=0.2)
    path = tmp_path / "curves.png"
    nn.plot_history(net.history, path, size=(640, 320))
    assert path.stat().st_size > 1000
    assert png_size(path) == (640, 320)
    nn.plot_history(net, tmp_path / "again.png", size=(300, 200), dpi=50)
    assert png_size(tmp_path / "again.png") == (300, 200)


def test_plot_history_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'nnscratch\[plot\]'"):
        nn.plot_history({"loss": [1.0]})


def test_plot_history_needs_a_history():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="loss"):
        nn.plot_history({})


# --------------------------------------------------------------------------- together
def test_everything_in_one_fit_call(tmp_path):
    x, y = blobs(200, seed=9, p=[0.7, 0.2, 0.1])
    net = nn.NeuralNetwork([4, 16, 16, 3], "relu", "softmax", "categorical_crossentropy",
                           nn.Adam(CosineDecay(0.01, decay_steps=200, warmup_steps=20),
                                   clipnorm=5.0),
                           seed=0, dropout=[0.2, 0.1], l2=1e-4)
    stopper = nn.EarlyStopping("val_accuracy", patience=5)
    losses = net.fit(x, y, 16, 30, categorical=True, verbose=2, validation_split=0.2,
                     class_weight="balanced",
                     callbacks=[stopper, nn.ModelCheckpoint(tmp_path / "best.npz",
                                                            save_best_only=True),
                                nn.CSVLogger(tmp_path / "log.csv")])
    assert len(losses) == len(net.history["loss"]) <= 30
    assert net.history["learning_rate"][0] < 0.01  # still warming up after epoch 1
    assert max(net.history["val_accuracy"]) >= 0.8
    assert (tmp_path / "best.npz").exists() and (tmp_path / "log.csv").exists()
    nn.plot_history(net.history, tmp_path / "curves.png")
