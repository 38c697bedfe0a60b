"""The fit loop: one epoch frame that a local or a data-parallel run fills with rounds.

:meth:`NeuralNetwork.fit` hands its arguments to :func:`fit` here, which asks
the data package (:mod:`nnscratch.data`) for a source and its validation data,
then runs one :class:`EpochFrame` over :class:`LocalRounds`.
:mod:`nnscratch.distributed` runs the very same frame over its own rounds.

The frame is written once and owns what lasts one ``fit`` call: the callbacks
(the history and the progress display are callbacks it registers first), the
Ctrl-C guard, the snapshot of each epoch's start (restored when the loss or the
parameters stop being finite, or when reading the data fails mid-epoch), the
validation figures and the epoch's logs.  What differs between a local and a
data-parallel run is only how one *round* is computed: a round is one batch
through ``network.train_on_batch`` locally, one sync round of every replica on
a cluster; each reports a :class:`RoundResult`.

``predict``, ``score`` and ``evaluate`` live in :mod:`nnscratch.inference`; the
names here are kept for callers.  This module drives the network and receives
it as an argument; it never imports the network module.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from . import _checks
from . import data as data_module
from .callbacks import CallbackList, History
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
from .inference import evaluate, forward_in_chunks, predict, score  # noqa: F401 - old home
from .optimizers import current_learning_rate
from .progress import Progress, ProgressLogger


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
    classify = categorical or network.is_classifier()
    rounds = LocalRounds(
        network, source, batch_size, shuffle, classify, prefetch_depth(prefetch, source)
    )
    frame = EpochFrame(
        network,
        rounds,
        epochs,
        verbose=verbose,
        validation=validation,
        callbacks=callbacks,
        classify=classify,
        caller_depth=2,
    )
    return frame.run()


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


class RoundResult(NamedTuple):
    """What one round of training gave: one batch locally, one sync round on a cluster.

    Attributes
    ----------
    loss : float
        The summed (weighted) loss of the round's samples.
    weight : float
        The summed weights (the number of samples without weights).
    correct : int
        Correct predictions (0 unless the run counts them).
    seen : int
        Rows trained on.
    finite : bool
        False when the round found the loss or the parameters non-finite.
    carried : bool
        True for the totals of rounds done before a resume: they count in the
        epoch's figures but are not a round of this call (no batch hooks).
    """

    loss: float
    weight: float
    correct: int
    seen: int
    finite: bool = True
    carried: bool = False


@dataclass
class EpochTotals:
    """The running sums of one epoch."""

    loss: float = 0.0
    weight: float = 0.0
    correct: int = 0
    seen: int = 0

    def add(self, result):
        self.loss += result.loss
        self.weight += result.weight
        self.correct += result.correct
        self.seen += result.seen

    def mean_loss(self):
        return self.loss / max(self.weight, 1e-300)


class Rounds(Protocol):
    """How one kind of run computes its rounds; everything else is the frame's.

    ``n_samples`` (rows per epoch, or None until a generator's first epoch
    ends); ``rounds(epoch)``, an iterator of :class:`RoundResult` that trains
    the network in place and draws the epoch's randomness when first advanced;
    ``unit`` (what a round is, for messages), ``advice`` (extra things to try
    when training diverges); optionally ``callbacks()`` (internal callbacks run
    after the history and the progress display, before the user's),
    ``epoch_logs()`` (extra history entries of the epoch), ``finish(completed)``
    (after the last ``on_train_end``) and ``close()`` (always, at the end).
    """

    n_samples: int | None
    unit: str
    advice: str

    def rounds(self, epoch: int) -> Iterator[RoundResult]: ...


class LocalRounds:
    """Rounds of one batch each, from a data source, through ``network.train_on_batch``.

    Parameters
    ----------
    network : NeuralNetwork
    source : nnscratch.data.DataSource
    batch_size : int or None
    shuffle, classify : bool
    prefetch : int
        Batches prepared ahead in a background thread (0: none); see
        :func:`nnscratch.data.prefetch`.
    """

    unit = "batch"
    advice = ""

    def __init__(self, network, source, batch_size, shuffle, classify, prefetch=0):
        self.network = network
        self.source = source
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.classify = classify
        self.prefetch = prefetch

    @property
    def n_samples(self):
        return self.source.n_samples

    def rounds(self, epoch):
        batches = self.source.batches(self.batch_size, self.network.rng, self.shuffle)
        if self.prefetch:
            batches = data_module.prefetch(batches, self.prefetch)
        return self._train(batches)

    def _train(self, batches):
        network = self.network
        for batch in batches:
            result = network.train_on_batch(
                batch.x, batch.y, batch.sample_weight, classify=self.classify
            )
            yield RoundResult(result.loss, result.weight, result.correct, batch.x.shape[0])
        ran_out = getattr(self.source, "ran_out", None)
        if ran_out is not None:  # as Keras does: say so, and stop after this epoch
            epoch, steps = ran_out
            network.stop_training = True
            warnings.warn(
                f"the batch generator ran out of data in epoch {epoch} after {steps} of "
                f"steps_per_epoch={self.source.steps_per_epoch} batches; training stops "
                f"after this epoch. Give a generator that yields steps_per_epoch batches "
                f"per epoch (a function returning a fresh iterator each time), or leave "
                f"steps_per_epoch out to train on whatever each pass yields",
                UserWarning,
                stacklevel=2,
            )


#: A loss this many times its first epoch's value means a run that diverged without
#: (yet) overflowing.  A healthy run's loss falls, or rises by a small factor when the
#: learning rate is a little high; a million-fold rise is far outside both and is
#: what a step size past the stable range does within a few epochs (each step
#: multiplies the error), so the warning does not fire on noisy but sound runs.
#: A loss below 1 never warns: a near-perfect fit (first loss 1e-12, say) may
#: wobble by huge factors harmlessly, and a true explosion grows geometrically,
#: so this floor delays its warning by a few epochs at most.
EXPLOSION_FACTOR = 1e6


class EpochFrame:
    """The epochs of one ``fit`` call, around the rounds a :class:`Rounds` computes.

    Parameters
    ----------
    network : NeuralNetwork
    rounds : Rounds
    epochs : int
        The last epoch (counting from 1) to train; a resumed run starts at
        ``first_epoch``.
    verbose : {0, 1, 2}
    validation : (x_val, y_val, w_val), data source, or None
        Scored after every epoch by :func:`nnscratch.inference.evaluate`.
    callbacks : list or None
    classify : bool
        Record accuracies.
    first_epoch : int
    caller_depth : int
        Frames between the user's call and :meth:`run`, so that warnings
        point at the user's line.
    """

    def __init__(
        self,
        network,
        rounds,
        epochs,
        *,
        verbose=1,
        validation=None,
        callbacks=None,
        classify=False,
        first_epoch=0,
        caller_depth=2,
    ):
        self.network = network
        self.rounds = rounds
        self.epochs = epochs
        self.first_epoch = first_epoch
        self.validation = validation
        self.classify = classify
        self.caller_depth = caller_depth
        self.progress = ProgressLogger(Progress(verbose, epochs, rounds.n_samples))
        internal = [History(getattr(rounds, "epoch_logs", None)), self.progress]
        internal += list(getattr(rounds, "callbacks", list)())
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            CallbackList(callbacks, network)  # raises its clear error
        self.callbacks = CallbackList(internal + list(callbacks or []), network)
        self.guard = None

    def run(self):
        """Train the epochs (or until something stops training); returns the epoch losses."""
        network = self.network
        network.stop_training = False
        losses = []
        try:
            with InterruptGuard() as self.guard:
                try:
                    self.callbacks.call("on_train_begin", {})
                    for epoch in range(self.first_epoch, self.epochs):
                        logs = self.run_epoch(epoch)
                        if logs is None:  # diverged or interrupted mid-epoch
                            break
                        self._check_growth(logs["loss"])
                        losses.append(logs["loss"])
                        self.callbacks.call("on_epoch_end", epoch, logs)
                        if network.stop_training or self.guard.interrupted:
                            break
                finally:
                    self.progress.close()
                self.callbacks.call("on_train_end", {})
            finish = getattr(self.rounds, "finish", None)
            if finish is not None:
                finish(not self.guard.interrupted)
        finally:
            close = getattr(self.rounds, "close", None)
            if close is not None:
                close()
        if self.guard.interrupted:
            warnings.warn(
                f"training interrupted by Ctrl-C; the model keeps the parameters "
                f"of the last finished {self.rounds.unit} and its history",
                TrainingInterrupted,
                stacklevel=self.caller_depth + 2,
            )
        return losses

    def run_epoch(self, epoch):
        """Train one epoch; returns its logs, or None when training must stop now."""
        network = self.network
        start_time = time.perf_counter()
        snapshot = network.get_flat_params()  # known-finite parameters to fall back on
        self.callbacks.call("on_epoch_begin", epoch, {})
        totals = EpochTotals()
        index = 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for result in _guarded(self.rounds.rounds(epoch), network, snapshot):
                totals.add(result)
                if not result.finite or not math.isfinite(result.loss):
                    what = (
                        f"the loss became {result.loss}"
                        if not math.isfinite(result.loss)
                        else "the parameters stopped being finite"
                    )
                    self._diverged(snapshot, what)
                    return None
                if result.carried:
                    continue
                if self.callbacks.has_batch_hooks:
                    self.callbacks.batch_end(
                        index,
                        {
                            "loss": result.loss / max(result.weight, 1e-300),
                            "size": result.seen,
                            # for the progress display: the epoch so far
                            "epoch_seen": totals.seen,
                            "epoch_loss": totals.mean_loss(),
                        },
                    )
                index += 1
                n = self.rounds.n_samples
                if (self.guard.interrupted or network.stop_training) and (
                    n is None or totals.seen < n
                ):
                    return None
            if not _checks.all_finite(network.get_flat_params()):
                self._diverged(snapshot, "the parameters stopped being finite")
                return None
        if self.progress.progress.n_samples is None:  # a generator: now the size is known
            self.progress.set_total(totals.seen)
        logs = {"loss": totals.mean_loss() + network.l2_penalty()}
        if self.classify:
            units = network.layers[-1] if network.multilabel() else 1
            logs["accuracy"] = totals.correct / max(totals.seen * units, 1)
        if self.validation is not None:
            try:
                logs.update(self._validate())
            except Exception:
                # a bad value in streamed validation data is found only now: the epoch is
                # not recorded, so the network must not keep it either
                network.set_flat_params(snapshot)
                raise
        logs["learning_rate"] = current_learning_rate(network.optimizer)
        logs["seconds"] = time.perf_counter() - start_time
        return logs

    def _check_growth(self, loss):
        """Warn once when the epoch loss has grown :data:`EXPLOSION_FACTOR` times.

        The reference is the network's first recorded epoch loss (this run's
        first epoch for a fresh network).  Finite but exploding losses are
        not caught by the non-finite check: the run goes on, so this only warns.
        """
        history = self.network.history.get("loss") or []
        first = history[0] if history else loss
        if (
            getattr(self, "_warned_growth", False)
            or not math.isfinite(first)
            or first <= 0
            or loss <= EXPLOSION_FACTOR * first
            or loss <= 1.0
        ):
            return
        self._warned_growth = True
        epoch = len(history) + 1
        warnings.warn(
            f"the loss is exploding: epoch {epoch} ended at {loss:.3g}, more than "
            f"{EXPLOSION_FACTOR:.0e} times the first epoch's {first:.3g}, although it is "
            f"still finite. Training goes on, but the run has most likely diverged: try a "
            f"smaller learning rate (it is {current_learning_rate(self.network.optimizer):g}), "
            f"gradient clipping (clipnorm=1.0 on the optimizer) or inputs scaled to about "
            f"unit size.",
            DivergenceWarning,
            stacklevel=self.caller_depth + 3,
        )

    def _validate(self):
        if isinstance(self.validation, tuple):
            return evaluate(self.network, *self.validation, classify=self.classify, prefix="val_")
        return evaluate(self.network, self.validation, classify=self.classify, prefix="val_")

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
            f"on the optimizer){self.rounds.advice} or inputs scaled to about unit size.",
            DivergenceWarning,
            stacklevel=self.caller_depth + 4,
        )


def _guarded(rounds, network, snapshot):
    """Pass the rounds through; a round that fails restores the epoch's start first.

    A bad value found far into a file (a NaN at row 3,000,000, say), on this
    machine or on a worker, must not leave the network half-way through an
    epoch: the parameters go back to where the epoch began before the error
    reaches the caller.
    """
    iterator = iter(rounds)
    while True:
        try:
            result = next(iterator)
        except StopIteration:
            return
        except Exception:
            network.set_flat_params(snapshot)
            raise
        yield result
