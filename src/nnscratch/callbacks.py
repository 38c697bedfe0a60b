"""Callbacks: code that runs at fixed points of ``NeuralNetwork.fit``.

A callback is any object with some of the hooks below (missing ones are
skipped); :class:`Callback` documents them and provides them all as no-ops.
``fit`` hands every callback the network first, through
``set_network(network)``, so hooks can read and change ``self.network``.

To stop training, a hook sets ``self.network.stop_training = True``: after the
current batch when set in ``on_batch_end``, else after the current epoch.
That is the one way; what hooks return is ignored.
"""

from __future__ import annotations

import csv
import io
import math
import os

from . import _checks
from ._atomic import atomic_write
from ._paths import prepare_output
from .optimizers import current_learning_rate


class Callback:
    """Base class: every hook, each a no-op until a subclass fills it in.

    Attributes
    ----------
    network : NeuralNetwork or None
        The network being trained; set by ``fit`` before ``on_train_begin``.
    """

    network = None

    def set_network(self, network):
        """Called by ``fit`` first, with the network it trains."""
        self.network = network

    def on_train_begin(self, logs):
        """Once, before the first epoch.  ``logs`` is an empty dict."""

    def on_epoch_begin(self, epoch, logs):
        """Before each epoch; ``epoch`` counts from 0 within this ``fit`` call.

        ``logs`` is an empty dict.
        """

    def on_batch_end(self, batch, logs):
        """After each training step.

        ``batch`` counts from 0 within the epoch; ``logs`` holds ``"loss"``
        (the batch's mean loss, weighted when weights are given), ``"size"``
        (its number of rows), ``"epoch_seen"`` (rows trained on so far this
        epoch) and ``"epoch_loss"`` (the epoch's running mean loss).  In
        data-parallel training a "batch" is one sync round.  Only callbacks
        that define this hook cost anything per batch.
        """

    def on_epoch_end(self, epoch, logs):
        """After each epoch, with its figures.

        ``logs`` holds ``"loss"`` (the epoch's mean training loss plus the L2
        term), ``"accuracy"`` for classifiers, ``"val_loss"`` and
        ``"val_accuracy"`` when there is validation data, ``"learning_rate"``
        (the rate the next step will use) and ``"seconds"``.
        """

    def on_train_end(self, logs):
        """Once, after the last epoch, also when training stopped early.

        ``logs`` is an empty dict.
        """

    def __repr__(self):
        shown = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "network"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


class History(Callback):
    """Appends each epoch's figures to ``network.history`` (registered by ``fit`` itself).

    Parameters
    ----------
    extra : callable, optional
        Returns more figures of the epoch for the history only (the seconds a
        data-parallel run spent where), not shown to other callbacks.
    """

    def __init__(self, extra=None):
        self.extra = extra

    def on_epoch_end(self, epoch, logs):
        history = self.network.history
        more = self.extra() if self.extra is not None else {}
        for key, value in {**logs, **more}.items():
            history.setdefault(key, []).append(value)


class CallbackList:
    """Calls a hook on every callback that has it."""

    HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end")

    def __init__(self, callbacks, network):
        if callbacks is None:
            callbacks = []
        if not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list, got {type(callbacks).__name__}")
        for cb in callbacks:
            if not any(callable(getattr(cb, hook, None)) for hook in self.HOOKS):
                raise TypeError(
                    f"{cb!r} is not a callback: it has none of the methods {', '.join(self.HOOKS)}"
                )
            if callable(getattr(cb, "set_network", None)):
                cb.set_network(network)
        self.callbacks = list(callbacks)
        self.network = network
        # only the hooks someone defines are called, so per-batch cost stays nil
        self._batch_hooks = [
            cb.on_batch_end
            for cb in self.callbacks
            if callable(getattr(cb, "on_batch_end", None))
            and type(cb).on_batch_end is not Callback.on_batch_end
            and getattr(cb, "wants_batch_end", True)
        ]

    def call(self, hook, *args):
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if callable(method):
                method(*args)

    def batch_end(self, batch, logs):
        for method in self._batch_hooks:
            method(batch, logs)

    @property
    def has_batch_hooks(self):
        return bool(self._batch_hooks)


def _monitor_value(owner, monitor, logs):
    if monitor not in logs:
        known = ", ".join(k for k in logs if k not in ("epoch",)) or "nothing"
        hint = (
            " (pass validation_data or validation_split to fit, or monitor 'loss')"
            if monitor.startswith("val_")
            else ""
        )
        raise ValueError(f"{owner} monitors {monitor!r}, but the epoch logs hold {known}{hint}")
    return logs[monitor]


def _mode(owner, mode, monitor):
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class _Monitor(Callback):
    """Shared bookkeeping: is the monitored figure better than the best so far?"""

    def __init__(self, monitor, min_delta, mode):
        self.monitor = monitor
        self.min_delta = _checks.check_number(
            "min_delta", min_delta, low=0, owner=type(self).__name__
        )
        self.mode = _mode(type(self).__name__, mode, monitor)
        self.best = None

    def _improved(self, value):
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when the monitored figure stops improving, and keep the best weights.

    Parameters
    ----------
    monitor : str
        A key of the epoch logs, e.g. ``'val_loss'`` (default) or ``'val_accuracy'``.
    patience : int
        Epochs without improvement to wait: training stops at the end of the
        ``patience``-th epoch in a row that did not improve (as Keras counts;
        0 stops at the first).
    min_delta : float
        The least change that counts as an improvement.
    restore_best_weights : bool
        At the end of training, put back the parameters of the best epoch,
        also when training ended because ``epochs`` ran out.
    mode : {'auto', 'min', 'max'}
        'auto' maximises figures whose name contains "acc" and minimises the rest.

    Attributes
    ----------
    best_epoch : int or None
    stopped_epoch : int or None
        The epoch after which training was stopped, if it was.
    """

    def __init__(
        self, monitor="val_loss", patience=5, min_delta=0.0, restore_best_weights=True, mode="auto"
    ):
        super().__init__(monitor, min_delta, mode)
        self.patience = _non_negative_int("EarlyStopping", "patience", patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.best_epoch = None
        self.stopped_epoch = None
        self._wait = 0
        self._best_params = None

    def on_train_begin(self, logs):
        self.best = None
        self.best_epoch = None
        self.stopped_epoch = None
        self._wait = 0
        self._best_params = None

    def on_epoch_end(self, epoch, logs):
        value = _monitor_value("EarlyStopping", self.monitor, logs)
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_params = self.network.get_flat_params()
            return
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            self.network.stop_training = True

    def on_train_end(self, logs):
        if self.restore_best_weights and self._best_params is not None:
            self.network.set_flat_params(self._best_params)


class ModelCheckpoint(_Monitor):
    """Save the model after every epoch, or only when it improved.

    Parameters
    ----------
    path : str
        File name; may hold ``{epoch}`` and log keys as format fields, e.g.
        ``"model-{epoch:02d}-{val_loss:.3f}.npz"`` (``epoch`` counts from 1).
    monitor, mode, min_delta : as in :class:`EarlyStopping`
    save_best_only : bool
        Save only when the monitored figure improved.
    save_weights_only : bool
        Write only the parameters (``save_params``) instead of a full model file.
    """

    def __init__(
        self,
        path,
        monitor="val_loss",
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        min_delta=0.0,
    ):
        super().__init__(monitor, min_delta, mode)
        self.path = os.fspath(path)
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.saved = []
        if "{" not in self.path:  # a fixed name: check it now, not after epoch 1
            prepare_output(self.path, "ModelCheckpoint path")

    def on_train_begin(self, logs):
        self.best = None
        if "{" not in self.path:
            prepare_output(self.path, "ModelCheckpoint path")

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            value = _monitor_value("ModelCheckpoint", self.monitor, logs)
            if not self._improved(value):
                return
            self.best = value
        fields = {k: v for k, v in logs.items() if k != "epoch"}
        path = prepare_output(self.path.format(epoch=epoch + 1, **fields), "ModelCheckpoint path")
        if self.save_weights_only:
            path = self.network.save_params(path)
        else:
            path = self.network.save(path)
        self.saved.append(path)


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch.

    ``schedule(epoch)`` or ``schedule(epoch, current_rate)`` returns the new
    rate; ``epoch`` counts from 0 within the current ``fit`` call.
    """

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler needs a callable, got {schedule!r}")
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs):
        opt = self.network.optimizer
        current = _settable_rate("LearningRateScheduler", opt)
        try:
            new = self.schedule(epoch, current)
        except TypeError:
            new = self.schedule(epoch)
        try:
            new = _checks.check_number("learning rate", new, low=0, low_open=True)
        except (TypeError, ValueError):
            raise ValueError(
                f"the schedule returned {new!r} for epoch {epoch}; a learning "
                f"rate must be a positive number"
            ) from None
        opt.learning_rate = new


def _settable_rate(owner, optimizer):
    """The optimizer's current rate, when it is a plain number that a callback may replace."""
    rate = current_learning_rate(optimizer)
    if callable(getattr(optimizer, "learning_rate", None)) or not math.isfinite(rate):
        raise TypeError(
            f"{owner} needs an optimizer whose learning_rate is a number, "
            f"got {getattr(optimizer, 'learning_rate', None)!r}"
        )
    return rate


def _non_negative_int(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner}: {name} must be a non-negative integer, got {value!r}")
    return value


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when the monitored figure stalls.

    After ``patience`` epochs without improvement the rate becomes
    ``max(rate * factor, min_lr)``; then ``cooldown`` epochs pass before
    counting again.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        mode="auto",
    ):
        super().__init__(monitor, min_delta, mode)
        self.factor = _checks.check_number(
            "factor",
            factor,
            low=0,
            high=1,
            low_open=True,
            high_open=True,
            owner="ReduceLROnPlateau",
        )
        self.patience = _non_negative_int("ReduceLROnPlateau", "patience", patience)
        self.cooldown = _non_negative_int("ReduceLROnPlateau", "cooldown", cooldown)
        self.min_lr = _checks.check_number("min_lr", min_lr, low=0, owner="ReduceLROnPlateau")
        self._wait = 0
        self._cooling = 0

    def on_train_begin(self, logs):
        self.best = None
        self._wait = 0
        self._cooling = 0

    def on_epoch_end(self, epoch, logs):
        value = _monitor_value("ReduceLROnPlateau", self.monitor, logs)
        if self._cooling > 0:
            self._cooling -= 1
            self._wait = 0
        if self._improved(value):
            self.best, self._wait = value, 0
            return
        self._wait += 1
        if self._wait >= self.patience and self._cooling == 0:
            opt = self.network.optimizer
            rate = _settable_rate("ReduceLROnPlateau", opt)
            opt.learning_rate = max(rate * self.factor, self.min_lr)
            self._cooling = self.cooldown
            self._wait = 0


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file, one row per epoch.

    The file is rewritten whole (atomically) after every epoch, so it is never
    half-written.  With ``append=True`` rows of an earlier run are kept.
    """

    def __init__(self, path, separator=",", append=False):
        self.path = prepare_output(path, "CSVLogger path")
        self.separator = separator
        self.append = bool(append)
        self._rows = []
        self._columns = []

    def on_train_begin(self, logs):
        prepare_output(self.path, "CSVLogger path")
        self._rows, self._columns = [], []
        if self.append and os.path.exists(self.path):
            with open(self.path, newline="") as handle:
                reader = csv.DictReader(handle, delimiter=self.separator)
                self._columns = list(reader.fieldnames or [])
                self._rows = list(reader)

    def on_epoch_end(self, epoch, logs):
        row = {"epoch": len(self._rows) + 1 if self.append else epoch + 1}
        row.update(logs)
        for key in row:
            if key not in self._columns:
                self._columns.append(key)
        self._rows.append(row)
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=self._columns, delimiter=self.separator, lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(self._rows)
        with atomic_write(self.path, "w") as handle:
            handle.write(buffer.getvalue())
