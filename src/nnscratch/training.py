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
from . import data as data_module
from .callbacks import CallbackList
from .data import (  # noqa: F401 - the data preparation once lived here
    array_source,
    class_weights,
    data_source,
    input_transform,
    sample_weights,
    split_validation,
    validation_arrays,
)
from .exceptions import DivergenceWarning, TrainingInterrupted
from .optimizers import current_learning_rate
from .progress import Progress
from .utils import labels_from_output


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
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
        return False


def fit(
    network,
    x,
    y,
    batch_size,
    epochs,
    *,
    categorical=False,
    verbose=1,
    shuffle=True,
    validation_data=None,
    validation_split=0.0,
    callbacks=None,
    sample_weight=None,
    class_weight=None,
    shuffle_buffer=None,
    steps_per_epoch=None,
    prefetch="auto",
):
    """Train ``network`` on ``(x, y)``; see :meth:`NeuralNetwork.fit` for the arguments.

    ``x`` may be an array, a memory map, a chunked store or a batch generator
    (then ``y`` is None and ``batch_size`` may be None); see
    :func:`nnscratch.data.as_source`.  Returns the list of per-epoch training
    losses.
    """
    streamed_batches = data_module._is_batch_stream(x)
    if batch_size is None and not streamed_batches:
        raise TypeError(
            "batch_size is required for array input (only a batch generator "
            "makes its own batches); pass e.g. batch_size=32"
        )
    if batch_size is not None:
        batch_size = _checks.check_positive_int("batch_size", batch_size)
    epochs = _checks.check_positive_int("epochs", epochs)
    Progress.check_verbose(verbose)
    if validation_data is not None and validation_split:
        raise ValueError("pass validation_data or validation_split, not both")
    source = data_source(
        network,
        x,
        y,
        categorical,
        sample_weight,
        class_weight,
        shuffle_buffer=shuffle_buffer,
        steps_per_epoch=steps_per_epoch,
    )
    validation = None
    if validation_split:
        source, validation = split_validation(network, source, validation_split)
    elif validation_data is not None:
        validation = validation_arrays(network, validation_data)
    run = TrainingRun(
        network,
        source,
        batch_size,
        epochs,
        verbose=verbose,
        shuffle=shuffle,
        validation=validation,
        callbacks=callbacks,
        classify=categorical or network.is_classifier(),
        prefetch=prefetch_depth(prefetch, source),
    )
    return run.run()


def prefetch_depth(prefetch, source):
    """Batches prepared ahead in a background thread: 0 (none), or 1 or 2.

    ``'auto'`` is off: on this project's 2-core machine, idle, the thread paid
    for no source (``benchmarks/out_of_core.md``: uint8 memory map 0.99x of the
    in-memory time with it, 0.97x without; Zarr 1.64x against 1.45x; HDF5
    1.70x against 1.26x; Dask 1.51x against 1.60x, a tie by the minimum),
    because the matrix products and kernels already keep both cores busy.
    Under heavy load from other jobs it did pay for uint8 arrays and Zarr;
    ask for it with ``prefetch=1`` (or ``True``) where a spare core exists.
    Generators never get it unless asked: their code may not expect to run in
    another thread.  An int asks for that many batches ahead (at most 2).
    """
    if isinstance(prefetch, str):
        if prefetch != "auto":
            raise ValueError(f"prefetch must be 'auto', a bool or 0, 1 or 2, got {prefetch!r}")
        return 1 if auto_prefetch(source) else 0
    if isinstance(prefetch, (bool, np.bool_)):
        return int(prefetch)
    if not isinstance(prefetch, (int, np.integer)) or not 0 <= prefetch <= 2:
        raise ValueError(f"prefetch must be 'auto', a bool or 0, 1 or 2, got {prefetch!r}")
    return int(prefetch)


def auto_prefetch(source):
    """Whether ``prefetch='auto'`` turns the background thread on for ``source``: never,
    as measured on a 2-core machine (see :func:`prefetch_depth`)."""
    return False


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
    validation : (x_val, y_val, w_val), data source, or None
        Arrays already in the network's dtype (``w_val`` may be None), or a
        source streamed in chunks at each scoring.
    callbacks : list or None
    classify : bool
        Record accuracies.
    prefetch : int
        Batches prepared ahead in a background thread (0: none); see
        :func:`nnscratch.data.prefetch`.
    """

    def __init__(
        self,
        network,
        source,
        batch_size,
        epochs,
        *,
        verbose=1,
        shuffle=True,
        validation=None,
        callbacks=None,
        classify=False,
        prefetch=0,
    ):
        self.network = network
        self.source = source
        self.batch_size = batch_size
        self.epochs = epochs
        self.shuffle = shuffle
        self.validation = validation
        self.classify = classify
        self.prefetch = prefetch
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
            warnings.warn(
                "training interrupted by Ctrl-C; the model keeps the parameters "
                "of the last finished batch and its history",
                TrainingInterrupted,
                stacklevel=4,
            )
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
        if self.prefetch:
            batches = data_module.prefetch(batches, self.prefetch)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for index, batch in enumerate(_guarded(batches, network, snapshot)):
                result = network.train_on_batch(
                    batch.x, batch.y, batch.sample_weight, classify=self.classify
                )
                if not math.isfinite(result.loss):
                    self._diverged(snapshot, f"the loss became {result.loss}")
                    return None
                total += result.loss
                weight_total += result.weight
                correct += result.correct
                seen += batch.x.shape[0]
                self.progress.batch_end(seen, total / max(weight_total, 1e-300))
                if self.callbacks.has_batch_hooks:
                    self.callbacks.batch_end(
                        index,
                        {
                            "loss": result.loss / max(result.weight, 1e-300),
                            "size": batch.x.shape[0],
                        },
                    )
                if (self.guard.interrupted or network.stop_training) and (
                    self.source.n_samples is None or seen < self.source.n_samples
                ):
                    return None
            if not _checks.all_finite(network.get_flat_params()):
                self._diverged(snapshot, "the parameters stopped being finite")
                return None
        if self.progress.n_samples is None:  # a generator: now the epoch's size is known
            self.progress.n_samples = seen
            if self.progress._bar is not None:
                self.progress._bar.total = seen
        logs = {"loss": total / max(weight_total, 1e-300) + network.l2_penalty()}
        if self.classify:
            units = network.layers[-1] if network.multilabel() else 1
            logs["accuracy"] = correct / (seen * units)
        if isinstance(self.validation, tuple):
            logs.update(evaluate(network, *self.validation, classify=self.classify, prefix="val_"))
        elif self.validation is not None:
            logs.update(evaluate(network, self.validation, classify=self.classify, prefix="val_"))
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
            DivergenceWarning,
            stacklevel=6,
        )


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


def evaluate(network, validation, y=None, sample_weight=None, *, classify=False, prefix=""):
    """Mean loss (weighted when weights are given) and, when ``classify``, the accuracy.

    ``validation`` is either arrays ``(x, y, w)`` already converted and
    transformed (pass them as ``validation, y, sample_weight``, as before), or
    a data source, streamed in order :data:`~nnscratch.data.PREDICT_ROWS` rows
    at a time so that nothing is held whole.
    """
    if y is not None or isinstance(validation, np.ndarray):
        return _evaluate_arrays(network, validation, y, sample_weight, classify, prefix)
    total = weight_total = 0.0
    correct = seen = 0
    units = network.layers[-1] if network.multilabel() else 1
    single = None
    for index, batch in enumerate(
        validation.batches(data_module.PREDICT_ROWS, None, shuffle=False)
    ):
        output = network._forward_fast(batch.x)
        per_sample = network.loss.f(output, batch.y)[:, 0]
        if batch.sample_weight is None:
            total += float(per_sample.sum(dtype=np.float64))
            weight_total += per_sample.shape[0]
        else:
            total += float(batch.sample_weight.astype(np.float64) @ per_sample)
            weight_total += float(batch.sample_weight.sum(dtype=np.float64))
        if classify:
            correct += network._count_correct(output, batch.y)
        seen += batch.x.shape[0]
        # a source of one chunk is scored with exactly the arithmetic of the array path
        single = (output, batch) if index == 0 else None
    if single is not None:
        return _evaluate_arrays(
            network, None, single[1].y, single[1].sample_weight, classify, prefix, output=single[0]
        )
    logs = {prefix + "loss": total / weight_total if weight_total else 0.0}
    if classify:
        logs[prefix + "accuracy"] = correct / (seen * units)
    return logs


def _evaluate_arrays(network, x, y, sample_weight, classify, prefix, output=None):
    if output is None:
        output = forward_in_chunks(network, x)
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


def forward_in_chunks(network, x, chunk=8192):
    """The network's output for converted (and transformed) ``x``, 8192 rows at a time."""
    parts = [network._forward_fast(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


# ------------------------------------------------------------------ predict and score
def predict(network, x, *, labels=False, out=None):
    """:meth:`NeuralNetwork.predict`: in-memory input at once, other input streamed.

    Memory maps, chunked stores and generators are read
    :data:`~nnscratch.data.PREDICT_ROWS` rows at a time; the outputs are
    gathered into a new array, or written into ``out`` (e.g. a memory map
    opened for writing) when it is given, which is then returned.
    """
    transform = input_transform(network)
    if out is None and not data_module.is_streamed(x):
        single = np.ndim(x) == 1
        x = _checks.check_x(x, dtype=network.dtype, n_features=network.layers[0], allow_1d=True)
        if transform is None:
            result = forward_in_chunks(network, x)
            if result is x:  # identity network on its own input: never hand back the caller's
                result = result.copy()
        else:
            result = forward_in_chunks(network, data_module._apply(transform, x, "x"))
        if labels:
            result = labels_from_output(result, network.multilabel())
        return result[0] if single else result
    if out is not None and np.ndim(x) == 1 and not data_module._is_batch_stream(x):
        raise ValueError("out= needs 2-D x (samples, features); predict one sample without it")
    chunks = data_module.iter_x_chunks(
        x,
        data_module.PREDICT_ROWS,
        network.dtype,
        n_features=network.layers[0],
        transform=transform,
    )
    if out is not None:
        return _predict_into(network, chunks, labels, out, _n_rows(x))
    parts = []
    for chunk in chunks:
        result = network._forward_fast(chunk)
        parts.append(labels_from_output(result, network.multilabel()) if labels else result)
    if not parts:
        raise ValueError("x is empty: it has 0 samples")
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _n_rows(x):
    shape = getattr(x, "shape", None)
    return None if shape is None else shape[0]


def _predict_into(network, chunks, labels, out, n):
    """Write each chunk's outputs (or labels) into ``out``; checks its shape first."""
    m = network.layers[-1]
    if labels:
        expected = (n, m) if network.multilabel() and m > 1 else (n,)
    else:
        expected = (n, m)
    shape = getattr(out, "shape", None)
    if shape is None or not hasattr(out, "__setitem__"):
        raise TypeError(f"out must be an array (a memory map, say), got {type(out).__name__}")
    if (
        len(shape) != len(expected)
        or shape[1:] != expected[1:]
        or (n is not None and shape[0] != n)
    ):
        want = tuple("n" if d is None else d for d in expected)
        raise ValueError(f"out has shape {tuple(shape)}, but the predictions have shape {want}")
    if not labels and np.dtype(out.dtype).kind != "f":
        raise TypeError(f"out must have a float dtype for the outputs, got {out.dtype}")
    start = 0
    for chunk in chunks:
        result = network._forward_fast(chunk)
        if labels:
            result = labels_from_output(result, network.multilabel())
        stop = start + result.shape[0]
        if stop > shape[0]:
            raise ValueError(f"out has {shape[0]} rows, but x yielded more samples")
        out[start:stop] = result
        start = stop
    if start != shape[0]:
        raise ValueError(f"out has {shape[0]} rows, but x held {start} samples")
    return out


def score(network, x, y, *, accuracy=False):
    """:meth:`NeuralNetwork.score`: in-memory input at once, other input streamed.

    For streamed ``x`` (a memory map, a chunked store, a generator yielding
    ``(x, y)``) the loss or accuracy is summed chunk by chunk; ``y`` may then
    be a memory map or a chunked store too.
    """
    m = network.layers[-1]
    transform = input_transform(network)
    if not data_module.is_streamed(x) and not data_module._is_lazy_array(y):
        x = _checks.check_x(x, dtype=network.dtype, n_features=network.layers[0])
        if transform is not None:
            x = data_module._apply(transform, x, "x")
        if accuracy:
            predicted = labels_from_output(forward_in_chunks(network, x), network.multilabel())
            truth = _checks.check_accuracy_targets(
                y, n_samples=x.shape[0], n_outputs=m, multilabel=network.multilabel()
            )
            return float(np.mean(predicted == truth))
        as_labels = np.ndim(y) == 1 and m > 1
        y_arr = _checks.check_targets(
            y, n_samples=x.shape[0], n_outputs=m, dtype=network.dtype, categorical=as_labels
        )
        return float(np.mean(network.loss.f(forward_in_chunks(network, x), y_arr)))
    if y is None:  # a generator: labels or one-hot rows, decided per batch
        categorical = None
    else:
        categorical = len(y.shape if hasattr(y, "shape") else np.shape(y)) == 1 and m > 1
    source = data_module.as_source(
        x,
        y,
        n_features=network.layers[0],
        n_outputs=m,
        dtype=network.dtype,
        categorical=categorical,
        transform=transform,
    )
    logs = evaluate(network, source, classify=accuracy)
    return logs["accuracy"] if accuracy else logs["loss"]
