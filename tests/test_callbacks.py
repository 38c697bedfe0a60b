"""Callbacks: the protocol, stopping, early stopping, checkpoints, logs, rate callbacks."""

import numpy as np
import pytest
from conftest import blobs, net_for

import nnscratch as nn
from nnscratch.callbacks import Callback


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
    assert rec.calls == [
        "train_begin",
        "epoch_begin 0",
        "batch",
        "batch",
        "epoch_end 0",
        "epoch_begin 1",
        "batch",
        "batch",
        "epoch_end 1",
        "train_end",
    ]
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
    net.fit(
        x, y, 8, 40, categorical=True, verbose=0, validation_split=0.3, callbacks=[keeper, stopper]
    )
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
    net.fit(
        x, y, 8, 8, categorical=True, verbose=0, validation_split=0.3, callbacks=[keeper, stopper]
    )
    assert stopper.stopped_epoch is None and len(kept) == 8
    best = int(np.argmin([k[0] for k in kept]))
    np.testing.assert_array_equal(net.get_flat_params(), kept[best][1])


def test_monitoring_a_missing_figure_says_what_to_do():
    x, y = blobs(40)
    with pytest.raises(ValueError, match="validation_split"):
        net_for().fit(
            x, y, 10, 2, categorical=True, verbose=0, callbacks=[nn.EarlyStopping("val_loss")]
        )


def test_model_checkpoint_best_only_and_csv_logger(tmp_path):
    x, y = blobs()
    ckpt = nn.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}.npz"), save_best_only=True)
    log = nn.CSVLogger(tmp_path / "log.csv")
    net = net_for()
    net.fit(x, y, 16, 4, categorical=True, verbose=0, validation_split=0.2, callbacks=[ckpt, log])
    assert ckpt.saved and all(p.endswith(".npz") for p in ckpt.saved)
    best = nn.load_model(ckpt.saved[-1])
    assert best.history["val_loss"][-1] == min(net.history["val_loss"])
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate")
    assert len(lines) == 5 and lines[4].startswith("4,")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


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
    assert net2.optimizer.learning_rate == pytest.approx(0.05 * 0.5**3)


# ------------------------------------------------ paths made before training (issue 10.1)
def test_checkpoint_and_log_into_new_folders(tmp_path):
    x, y = blobs(60)
    checkpoint = nn.ModelCheckpoint(tmp_path / "ckpt" / "deeper" / "best.npz")
    logger = nn.CSVLogger(tmp_path / "logs" / "run.csv")
    assert (tmp_path / "ckpt" / "deeper").is_dir() and (tmp_path / "logs").is_dir()
    net_for().fit(x, y, 16, 2, categorical=True, verbose=0, callbacks=[checkpoint, logger])
    assert (tmp_path / "ckpt" / "deeper" / "best.npz").exists()
    assert len((tmp_path / "logs" / "run.csv").read_text().splitlines()) == 3
    templated = nn.ModelCheckpoint(tmp_path / "by-epoch" / "m-{epoch:02d}.npz")
    net_for().fit(x, y, 16, 2, categorical=True, verbose=0, callbacks=[templated])
    assert sorted(p.name for p in (tmp_path / "by-epoch").iterdir()) == ["m-01.npz", "m-02.npz"]


@pytest.mark.parametrize("make", [nn.ModelCheckpoint, nn.CSVLogger])
def test_unwritable_outputs_are_refused_before_training(tmp_path, make):
    (tmp_path / "a-file").write_text("x")
    for bad in (tmp_path, tmp_path / "a-file" / "below.npz"):
        with pytest.raises(OSError, match="path"):
            make(bad)


@pytest.mark.parametrize("patience", [0, 1, 3])
def test_patience_counts_epochs_without_improvement_as_keras_does(patience):
    class Flat(Callback):
        """Reports the same validation loss every epoch: nothing ever improves."""

        def on_epoch_end(self, epoch, logs):
            logs["val_loss"] = 1.0

    x, y = blobs(60)
    stopper = nn.EarlyStopping("val_loss", patience=patience)
    net = net_for()
    net.fit(x, y, 16, 20, categorical=True, verbose=0, callbacks=[Flat(), stopper])
    # the first epoch sets the best; the patience-th epoch in a row without improvement
    # stops it (patience 0 stops at the first such epoch)
    assert len(net.history["loss"]) == 1 + max(patience, 1)
    assert stopper.stopped_epoch == max(patience, 1)
