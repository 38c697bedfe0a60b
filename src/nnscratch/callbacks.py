"""Callbacks: code that runs at fixed points of ``NeuralNetwork.fit``.

A callback is any object with some of these methods (missing ones are
skipped); :class:`Callback` provides them all as no-ops::

    on_train_begin(logs)
    on_epoch_begin(epoch, logs)
    on_batch_end(batch, logs)          logs: {"loss": mean loss of the batch, "size": rows}
    on_epoch_end(epoch, logs)          logs: {"loss", "val_loss", "accuracy", ...}
    on_train_end(logs)

Any of them may return True (or set ``network.stop_training = True``) to ask
training to stop: after the current batch for ``on_batch_end``, else after the
current epoch.  ``fit`` hands every callback the network first, through
``set_network(network)`` when the callback has it.
"""

from __future__ import annotations

import csv
import io
import math
import os

import numpy as np

from ._atomic import atomic_write


class Callback:
    """Base class with every hook as a no-op; ``self.network`` is set by ``fit``."""

    network = None

    def set_network(self, network):
        self.network = network

    def on_train_begin(self, logs):
        pass

    def on_epoch_begin(self, epoch, logs):
        pass

    def on_batch_end(self, batch, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_train_end(self, logs):
        pass

    def __repr__(self):
        shown = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "network"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


class CallbackList:
    """Calls a hook on every callback and reports whether any asked to stop."""

    HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end",
             "on_train_end")

    def __init__(self, callbacks, network):
        if callbacks is None:
            callbacks = []
        if not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list, got {type(callbacks).__name__}")
        for cb in callbacks:
            if not any(callable(getattr(cb, hook, None)) for hook in self.HOOKS):
                raise TypeError(f"{cb!r} is not a callback: it has none of the methods "
                                f"{', '.join(self.HOOKS)}")
            if callable(getattr(cb, "set_network", None)):
                cb.set_network(network)
        self.callbacks = list(callbacks)
        self.network = network
        # only the hooks someone defines are called, so per-batch cost stays nil
        self._batch_hooks = [cb.on_batch_end for cb in self.callbacks
                             if callable(getattr(cb, "on_batch_end", None))
                             and type(cb).on_batch_end is not Callback.on_batch_end]

    def call(self, hook, *args):
        stop = False
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if callable(method) and method(*args) is True:
                stop = True
        return stop or bool(getattr(self.network, "stop_training", False))

    def batch_end(self, batch, logs):
        stop = False
        for method in self._batch_hooks:
            if method(batch, logs) is True:
                stop = True
        return stop

    @property
    def has_batch_hooks(self):
        return bool(self._batch_hooks)


def _monitor_value(owner, monitor, logs):
    if monitor not in logs:
        known = ", ".join(k for k in logs if k not in ("epoch",)) or "nothing"
        hint = (" (pass validation_data or validation_split to fit, or monitor 'loss')"
                if monitor.startswith("val_") else "")
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
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ValueError(f"{type(self).__name__}: min_delta must be >= 0, got {min_delta!r}")
        self.min_delta = float(min_delta)
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
        Epochs without improvement to wait before stopping.
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

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0,
                 restore_best_weights=True, mode="auto"):
        super().__init__(monitor, min_delta, mode)
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be a non-negative integer, "
                             f"got {patience!r}")
        self.patience = patience
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
            return False
        self._wait += 1
        if self._wait > self.patience:
            self.stopped_epoch = epoch
            return True
        return False

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

    def __init__(self, path, monitor="val_loss", save_best_only=False,
                 save_weights_only=False, mode="auto", min_delta=0.0):
        super().__init__(monitor, min_delta, mode)
        self.path = os.fspath(path)
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.saved = []

    def on_train_begin(self, logs):
        self.best = None

    def on_epoch_end(self, epoch, logs):
        if self.save_best_only:
            value = _monitor_value("ModelCheckpoint", self.monitor, logs)
            if not self._improved(value):
                return False
            self.best = value
        fields = {k: v for k, v in logs.items() if k != "epoch"}
        path = self.path.format(epoch=epoch + 1, **fields)
        if self.save_weights_only:
            path = self.network.save_params(path)
        else:
            path = self.network.save(path)
        self.saved.append(path)
        return False


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
        current = _numeric_rate("LearningRateScheduler", opt)
        try:
            new = self.schedule(epoch, current)
        except TypeError:
            new = self.schedule(epoch)
        if isinstance(new, bool) or not isinstance(new, (int, float, np.floating)) \
                or not math.isfinite(new) or new <= 0:
            raise ValueError(f"the schedule returned {new!r} for epoch {epoch}; a learning "
                             f"rate must be a positive number")
        opt.learning_rate = float(new)


def _numeric_rate(owner, optimizer):
    rate = getattr(optimizer, "learning_rate", None)
    if callable(rate) or not isinstance(rate, (int, float, np.floating)):
        raise TypeError(f"{owner} needs an optimizer whose learning_rate is a number, "
                        f"got {rate!r}")
    return float(rate)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when the monitored figure stalls.

    After ``patience`` epochs without improvement the rate becomes
    ``max(rate * factor, min_lr)``; then ``cooldown`` epochs pass before
    counting again.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, min_delta=1e-4,
                 cooldown=0, min_lr=0.0, mode="auto"):
        super().__init__(monitor, min_delta, mode)
        if not isinstance(factor, (int, float)) or not 0 < factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must lie between 0 and 1, got "
                             f"{factor!r}")
        self.factor = float(factor)
        self.patience = patience
        self.cooldown = cooldown
        self.min_lr = float(min_lr)
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
            return False
        self._wait += 1
        if self._wait >= self.patience and self._cooling == 0:
            opt = self.network.optimizer
            rate = _numeric_rate("ReduceLROnPlateau", opt)
            opt.learning_rate = max(rate * self.factor, self.min_lr)
            self._cooling = self.cooldown
            self._wait = 0
        return False


class CSVLogger(Callback):
    """Write the epoch logs to a CSV file, one row per epoch.

    The file is rewritten whole (atomically) after every epoch, so it is never
    half-written.  With ``append=True`` rows of an earlier run are kept.
    """

    def __init__(self, path, separator=",", append=False):
        self.path = os.fspath(path)
        self.separator = separator
        self.append = bool(append)
        self._rows = []
        self._columns = []

    def on_train_begin(self, logs):
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
        writer = csv.DictWriter(buffer, fieldnames=self._columns, delimiter=self.separator,
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows)
        with atomic_write(self.path, "w") as handle:
            handle.write(buffer.getvalue())
        return False
