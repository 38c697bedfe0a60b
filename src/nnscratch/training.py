"""The fit loop: epochs of batches from a data source, around the network's training step.

:meth:`NeuralNetwork.fit` hands its arguments to :func:`fit` here, which
prepares a data source (:mod:`nnscratch.data`), then runs one
:class:`TrainingRun`.  The run owns what lasts one ``fit`` call: callbacks,
the progress display, the Ctrl-C guard, the validation data, the epoch's
snapshot for divergence.  For each batch the source yields, it calls
``network.train_on_batch`` (the article's forward -> backward -> update step)
and never looks at the whole data set itself, so sources that stream from disk
or from a cluster plug in unchanged.

This module drives the network and receives it as an argument; it never
imports the network module.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings

import numpy as np

from . import _checks
from .callbacks import CallbackList
from .data import ArraySource, TargetEncoder
from .exceptions import DivergenceWarning, TrainingInterrupted
from .optimizers import current_learning_rate
from .progress import Progress
from .utils import labels_from_targets, split_indices


class InterruptGuard:
    """Turns the first Ctrl-C during ``fit`` into a flag checked after each batch.

    The batch in progress is finished, so parameters and optimizer state stay
    consistent.  A second Ctrl-C interrupts at once, as usual.  Outside the
    main thread (where Python never delivers SIGINT) it does nothing.
    """

    def __init__(self):
        self.interrupted = False
        self._installed = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handle)
                self._installed = True
            except ValueError:  # embedded interpreters without signal support
                pass
        return self

    def _handle(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def __exit__(self, *exc):
        if self._installed:
            # None means the previous handler was set outside Python; Python's own is
            # the closest thing to put back
            previous = self._previous if self._previous is not None \
                else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
        return False


def fit(network, x, y, batch_size, epochs, *, categorical=False, verbose=1, shuffle=True,
        validation_data=None, validation_split=0.0, callbacks=None, sample_weight=None,
        class_weight=None):
    """Train ``network`` on ``(x, y)``; see :meth:`NeuralNetwork.fit` for the arguments.

    Returns the list of per-epoch training losses.
    """
    batch_size = _checks.check_positive_int("batch_size", batch_size)
    epochs = _checks.check_positive_int("epochs", epochs)
    Progress.check_verbose(verbose)
    if validation_data is not None and validation_split:
        raise ValueError("pass validation_data or validation_split, not both")
    source = array_source(network, x, y, categorical, sample_weight, class_weight)
    validation = None
    if validation_split:
        source, validation = split_validation(network, source, validation_split)
    elif validation_data is not None:
        validation = validation_arrays(network, validation_data)
    run = TrainingRun(network, source, batch_size, epochs, verbose=verbose, shuffle=shuffle,
                      validation=validation, callbacks=callbacks,
                      classify=categorical or network.is_classifier())
    return run.run()


class TrainingRun:
    """The state of one ``fit`` call.

    Parameters
    ----------
    network : NeuralNetwork
        Trained in place through ``train_on_batch``.
    source : data source
        Has ``n_samples`` and ``batches(batch_size, rng, shuffle)`` yielding
        :class:`~nnscratch.data.Batch` records.
    batch_size, epochs : int
    verbose : {0, 1, 2}
    shuffle : bool
    validation : (x_val, y_val, w_val) or None
        Arrays already in the network's dtype (``w_val`` may be None).
    callbacks : list or None
    classify : bool
        Record accuracies.
    """

    def __init__(self, network, source, batch_size, epochs, *, verbose=1, shuffle=True,
                 validation=None, callbacks=None, classify=False):
        self.network = network
        self.source = source
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.validation = validation
        self.classify = classify
        self.callbacks = CallbackList(callbacks, network)
        self.progress = Progress(verbose, epochs, source.n_samples)
        self.guard = None

    def run(self):
        """Train all epochs (or until something stops training); returns the epoch losses."""
        network = self.network
        network.stop_training = False
        losses = []
        with InterruptGuard() as self.guard:
            try:
                self.callbacks.call("on_train_begin", {})
                for epoch in range(self.epochs):
                    logs = self.run_epoch(epoch)
                    if logs is None:  # diverged or interrupted mid-epoch
                        break
                    losses.append(logs["loss"])
                    self.callbacks.call("on_epoch_end", epoch, logs)
                    if network.stop_training or self.guard.interrupted:
                        break
            finally:
                self.progress.close()
            self.callbacks.call("on_train_end", {})
        if self.guard.interrupted:
            warnings.warn("training interrupted by Ctrl-C; the model keeps the parameters "
                          "of the last finished batch and its history", TrainingInterrupted,
                          stacklevel=4)
        return losses

    def run_epoch(self, epoch):
        """Train one epoch; returns its logs, or None when training must stop now."""
        network = self.network
        start_time = time.perf_counter()
        snapshot = network.get_flat_params()  # known-finite parameters to fall back on
        self.callbacks.call("on_epoch_begin", epoch, {})
        self.progress.epoch_begin(epoch)
        total = weight_total = 0.0
        correct = seen = 0
        batches = self.source.batches(self.batch_size, network.rng, self.shuffle)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for index, batch in enumerate(_guarded(batches, network, snapshot)):
                result = network.train_on_batch(batch.x, batch.y, batch.sample_weight,
                                                classify=self.classify)
                if not math.isfinite(result.loss):
                    self._diverged(snapshot, f"the loss became {result.loss}")
                    return None
                total += result.loss
                weight_total += result.weight
                correct += result.correct
                seen += batch.x.shape[0]
                self.progress.batch_end(seen, total / max(weight_total, 1e-300))
                if self.callbacks.has_batch_hooks:
                    self.callbacks.batch_end(index, {
                        "loss": result.loss / max(result.weight, 1e-300),
                        "size": batch.x.shape[0]})
                if (self.guard.interrupted or network.stop_training) \
                        and seen < self.source.n_samples:
                    return None
            if not _checks.all_finite(network.get_flat_params()):
                self._diverged(snapshot, "the parameters stopped being finite")
                return None
        logs = {"loss": total / max(weight_total, 1e-300) + network.l2_penalty()}
        if self.classify:
            units = network.layers[-1] if network.multilabel() else 1
            logs["accuracy"] = correct / (seen * units)
        if self.validation is not None:
            logs.update(evaluate(network, *self.validation, classify=self.classify,
                                 prefix="val_"))
        logs["learning_rate"] = current_learning_rate(network.optimizer)
        logs["seconds"] = time.perf_counter() - start_time
        for key, value in logs.items():
            network.history.setdefault(key, []).append(value)
        self.progress.epoch_end(epoch, logs)
        return logs

    def _diverged(self, snapshot, what):
        network = self.network
        network.set_flat_params(snapshot)
        network.stop_training = True
        rate = current_learning_rate(network.optimizer)
        hint = f" (it is {rate:g})" if rate == rate else ""
        warnings.warn(
            f"training diverged in epoch {len(network.history.get('loss', [])) + 1}: {what}. "
            f"The parameters from the start of that epoch were restored and training "
            f"stopped. Try a smaller learning rate{hint}, gradient clipping (clipnorm=1.0 "
            f"on the optimizer) or inputs scaled to about unit size.",
            DivergenceWarning, stacklevel=6)


def _guarded(batches, network, snapshot):
    """Pass batches through; a batch the source refuses restores the epoch's start first.

    A bad value found far into a file (a NaN at row 3,000,000, say) must not
    leave the network half-way through an epoch: the parameters go back to
    where the epoch began before the error reaches the caller.
    """
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except Exception:
            network.set_flat_params(snapshot)
            raise
        yield batch


def evaluate(network, x, y, sample_weight=None, *, classify=False, prefix=""):
    """Mean loss (weighted when ``sample_weight``) and, when ``classify``, the accuracy."""
    output = network.predict(x)
    per_sample = network.loss.f(output, y)[:, 0]
    if sample_weight is None:
        logs = {prefix + "loss": float(np.mean(per_sample))}
    else:
        total = float(sample_weight.sum())
        logs = {prefix + "loss": float(sample_weight @ per_sample) / total if total else 0.0}
    if classify:
        units = y.shape[1] if network.multilabel() else 1
        logs[prefix + "accuracy"] = network._count_correct(output, y) / (y.shape[0] * units)
    return logs


# ------------------------------------------------------------- preparing the data
def array_source(network, x, y, categorical, sample_weight=None, class_weight=None):
    """An :class:`~nnscratch.data.ArraySource` over ``(x, y)``, checked for shape and form.

    The values of ``x`` are checked batch by batch as training reaches them;
    a plain in-memory array is also checked once here, so a bad value is
    reported before any training happens.
    """
    x = _checks.check_2d_source(x, n_features=network.layers[0])
    encoder = TargetEncoder(network.layers[-1], network.dtype, categorical)
    targets = encoder.prepare(y, x.shape[0])
    if type(x) is np.ndarray and x.dtype.kind == "f" and not _checks.all_finite(x):
        raise ValueError(_checks.describe_non_finite("x", x, None, x))
    weights = sample_weights(network, targets if not categorical else None, sample_weight,
                             class_weight, labels=targets if categorical else None)
    return ArraySource(x, targets, encoder, weights, network.dtype)


def sample_weights(network, y, sample_weight, class_weight, labels=None):
    """One weight per row (``sample_weight`` times the class weight), or None when all are 1.

    ``y`` holds targets shaped like the output; ``labels`` may give the class
    labels directly instead.
    """
    n = labels.shape[0] if labels is not None else y.shape[0]
    weights = None
    if sample_weight is not None:
        if np.ndim(sample_weight) != 1:
            raise ValueError(f"sample_weight must be 1-D (one weight per sample), got "
                             f"shape {np.shape(sample_weight)}")
        weights = _checks.check_x(np.reshape(sample_weight, (-1, 1)), dtype=network.dtype,
                                  name="sample_weight")[:, 0]
        if weights.shape[0] != n:
            raise ValueError(f"sample_weight has {weights.shape[0]} entries, but x has "
                             f"{n} samples")
        if (weights < 0).any():
            raise ValueError("sample_weight must not hold negative weights")
    if class_weight is not None:
        if labels is None:
            labels = labels_from_targets(y)
        per_class = class_weights(class_weight, labels, network.layers[-1])
        row_weights = per_class[labels].astype(network.dtype)
        weights = row_weights if weights is None else weights * row_weights
    return weights


def class_weights(class_weight, labels, n_outputs):
    """The weight of each class: from a dict, or 'balanced' (inverse frequency)."""
    n_classes = max(n_outputs, 2)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        present = counts > 0
        weights = np.ones(n_classes)
        weights[present] = labels.shape[0] / (present.sum() * counts[present])
        return weights
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict or 'balanced', got "
                        f"{type(class_weight).__name__}")
    weights = np.ones(n_classes)
    for label, weight in class_weight.items():
        if not isinstance(label, (int, np.integer)) or not 0 <= label < n_classes:
            raise ValueError(f"class_weight has the key {label!r}, but classes are 0.."
                             f"{n_classes - 1}")
        weights[label] = _checks.check_number(f"class_weight[{label}]", weight, low=0)
    return weights


def split_validation(network, source, fraction):
    """Hold out ``fraction`` of the source's rows for validation.

    The held-out rows are drawn from the network's generator (stratified by
    class for classification) as one index array; training then runs over the
    remaining rows of the same arrays, so nothing is copied but the held-out
    part, which is gathered once for scoring.
    """
    fraction = _checks.check_number("validation_split", fraction, low=0, high=1,
                                    high_open=True)
    n = source.n_samples
    categorical = source.encoder.categorical
    if categorical:
        labels = source.y
    elif network.is_classifier():
        labels = labels_from_targets(source.y)
    else:
        labels = None
    held = split_indices(n, fraction, network.rng, labels=labels)
    keep = np.ones(n, dtype=bool)
    keep[held] = False
    train_rows = np.flatnonzero(keep)
    validation = source.batch(held)
    train = ArraySource(source.x, source.y, source.encoder, source.sample_weight,
                        source.dtype, rows=train_rows, name=source.name)
    return train, (validation.x, validation.y, None)


def validation_arrays(network, validation_data):
    """``(x_val, y_val[, w_val])`` checked; ``y_val`` as labels or one-hot, whichever it is."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise TypeError("validation_data must be a tuple (x_val, y_val) or "
                        "(x_val, y_val, sample_weight_val), got "
                        f"{type(validation_data).__name__}"
                        + (f" of length {len(validation_data)}"
                           if isinstance(validation_data, (tuple, list)) else ""))
    x_val = _checks.check_x(validation_data[0], dtype=network.dtype,
                            n_features=network.layers[0], name="validation x")
    m = network.layers[-1]
    y_raw = validation_data[1]
    as_labels = m > 1 and np.ndim(y_raw) == 1
    y_val = _checks.check_targets(y_raw, n_samples=x_val.shape[0], n_outputs=m,
                                  dtype=network.dtype, categorical=as_labels,
                                  name="validation y")
    w_val = None
    if len(validation_data) == 3 and validation_data[2] is not None:
        w_val = _checks.check_x(np.reshape(validation_data[2], (-1, 1)), dtype=network.dtype,
                                name="validation sample_weight")[:, 0]
        if w_val.shape[0] != x_val.shape[0]:
            raise ValueError(f"validation sample_weight has {w_val.shape[0]} entries, but "
                             f"validation x has {x_val.shape[0]} samples")
    return x_val, y_val, w_val
