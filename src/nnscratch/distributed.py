"""Data-parallel training on a Dask cluster.

Needs Dask and its distributed scheduler (an optional extra:
``pip install 'nnscratch[dask]'``).  The core of nnscratch never imports this
module.

How it works
------------
The rows of ``(x, y)`` are cut into partitions (the row chunks of a Dask
array, or ``replicas`` equal slices of a NumPy array) and held in the memory
of the workers; they never travel back to the client.  The partitions are
gathered into ``replicas`` groups, one model replica per group (by default
one per worker thread), each group made of partitions living on one worker.

Training runs in *sync rounds*.  In a round every replica starts from the same
parameters and optimizer state, takes ``sync_every`` steps of the network's
own training step (:meth:`NeuralNetwork.train_on_batch`) on its own batches,
and sends back its parameters and optimizer state.  The client averages them,
each replica weighted by the samples (the summed sample weights) it trained
on, and the next round starts from the average.  This is "parameter
averaging" (local SGD); with ``sync_every=1`` and plain SGD it is exactly
synchronous SGD: one step on the concatenation of the replicas' batches.

``batch_size`` means what it means for :meth:`NeuralNetwork.fit`: the samples
behind one update, summed over the replicas.  An epoch has
``ceil(n_samples / batch_size)`` steps, and each replica cuts its own rows
into that many batches, so a replica holding a third of the rows trains on
batches about a third of ``batch_size`` big.

Every task is a pure function of (parameters, optimizer state, partition,
seed, step), so when a worker dies Dask runs the lost tasks again elsewhere
(rebuilding lost partitions from their graph) and the result is the same, bit
for bit, as a run without the fault.  ``checkpoint=path`` saves the model
after every round (every ``checkpoint_every`` rounds), so a run also survives
the loss of the client: call :func:`fit` again with ``resume=True``.

Randomness: each epoch draws one seed per replica from ``net.rng``
(``net.rng.integers(2**63 - 1, size=replicas)``); replica ``r`` shuffles its
rows with ``np.random.default_rng(seed_r)`` (see :func:`replica_batches`) and
seeds dropout from ``(seed_r, step)``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import pickle
import threading
import time
import uuid
import warnings
from typing import NamedTuple

import numpy as np

try:
    import cloudpickle
    import dask
    import dask.array as da
    import distributed
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "nnscratch.distributed needs Dask and its distributed scheduler, an "
        "optional extra: pip install 'nnscratch[dask]' (or pip install "
        "'dask[array]' distributed)"
    ) from err

from . import _checks, training
from .callbacks import CallbackList
from .data import ArraySource, TargetEncoder
from .exceptions import ConcurrentTrainingError, DivergenceWarning, TrainingInterrupted
from .optimizers import Optimizer, current_learning_rate
from .progress import Progress

__all__ = [
    "fit",
    "replica_batches",
    "local_cluster",
    "cluster_client",
    "fit_with_cluster",
    "DEFAULT_SYNC_EVERY",
]

DEFAULT_SYNC_EVERY = 64
"""Steps each replica takes between two averagings (see benchmarks/distributed.md)."""

CHECKPOINT_KEY = "nnscratch.distributed"
"""The key of ``net.metadata`` under which a checkpoint records where the run stood."""


# ------------------------------------------------------------------ what runs on workers
class Partition(NamedTuple):
    """Rows of the training data held by one worker.

    Attributes
    ----------
    x : ndarray of shape (n, n_features), any real dtype (converted per batch)
    y : ndarray
        Targets prepared by :meth:`TargetEncoder.prepare`: integer labels of
        shape (n,) when categorical, else float rows of shape (n, n_outputs).
    sample_weight : ndarray of shape (n,) or None
    """

    x: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None


def _make_partition(x, y, w, encoder, n_features):
    """Check one chunk of ``(x, y, w)`` and hold it as a :class:`Partition` (runs on a worker)."""
    x = _checks.check_2d_source(np.asarray(x), n_features=n_features)
    y = encoder.prepare(np.asarray(y), x.shape[0])
    if w is not None:
        w = np.asarray(w)
        if w.ndim != 1 or w.shape[0] != x.shape[0]:
            raise ValueError(
                f"sample_weight must be 1-D with one weight per sample; a chunk "
                f"of x has {x.shape[0]} rows but its weights have shape {w.shape}"
            )
        w = _checks.check_x(w.reshape(-1, 1), dtype=encoder.dtype, name="sample_weight")[:, 0]
        if (w < 0).any():
            raise ValueError("sample_weight must not hold negative weights")
    return Partition(x, y, w)


def replica_batches(n_rows, n_steps, seed, shuffle=True):
    """The row indices a replica trains on in one epoch, one array per step.

    The replica's rows (its partitions one after the other, numbered from 0)
    are put in the order ``np.random.default_rng(seed).permutation(n_rows)``
    (or kept in order when ``shuffle`` is False) and cut into ``n_steps``
    consecutive batches of nearly equal size, larger ones first
    (``np.array_split``).  A replica with fewer rows than steps gets some empty
    batches and skips those steps.

    Returns
    -------
    list of ndarray of int, ``n_steps`` of them
    """
    order = np.random.default_rng(seed).permutation(n_rows) if shuffle else np.arange(n_rows)
    return np.array_split(order, n_steps)


class _ReplicaData:
    """The partitions of one replica seen as one row-numbered data set."""

    def __init__(self, partitions, encoder, dtype):
        self.sources = [ArraySource(p.x, p.y, encoder, p.sample_weight, dtype) for p in partitions]
        sizes = [p.x.shape[0] for p in partitions]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.n_rows = int(self.offsets[-1])
        self.weighted = any(p.sample_weight is not None for p in partitions)

    def batch(self, rows):
        """x, y and weights of ``rows`` (replica-wide numbers), converted and checked."""
        if len(self.sources) == 1:
            b = self.sources[0].batch(rows)
            return b.x, b.y, b.sample_weight
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        xs, ys, ws = [], [], []
        for k in np.unique(which):
            local = rows[which == k] - self.offsets[k]
            b = self.sources[k].batch(local)
            xs.append(b.x)
            ys.append(b.y)
            ws.append(
                b.sample_weight
                if b.sample_weight is not None
                else np.ones(b.x.shape[0], dtype=b.x.dtype)
            )
        w = np.concatenate(ws) if self.weighted else None
        return np.concatenate(xs), np.concatenate(ys), w


class _Plan(NamedTuple):
    """What one replica does in one round (sent with every round task)."""

    seed: int
    epoch: int
    first_step: int
    n_steps: int
    steps_per_epoch: int
    shuffle: bool
    classify: bool


def _load_skeleton(blob):
    return cloudpickle.loads(blob)


_replicas = threading.local()


def _replica_network(skeleton):
    """This worker thread's copy of the network, made once per run from the skeleton.

    Every round overwrites its parameters, optimizer state and generator, so
    reusing it (and its scratch arrays) keeps the round a pure function.
    """
    if getattr(_replicas, "skeleton", None) is not skeleton:
        _replicas.network = copy.deepcopy(skeleton)
        _replicas.skeleton = skeleton
    return _replicas.network


def _seed_rng(network, seed, step):
    """Put the replica's generator in a state fixed by ``(seed, step)`` (dropout masks)."""
    bit_generator = type(network.rng.bit_generator)(np.random.SeedSequence([seed, step]))
    network.rng.bit_generator.state = bit_generator.state


def _train_round(skeleton, encoder, payload, plan, *partitions):
    """One replica's share of a sync round (runs on a worker; a pure function).

    Returns ``(result_bytes, timings)``: the pickled ``(params, state, loss,
    weight, correct, seen, finite)`` and the seconds spent unpacking,
    computing and packing, and the CPU seconds of the computing (less than
    its wall time when the worker shares its core with other processes).
    """
    t0 = time.perf_counter()
    params, state, optimizer = pickle.loads(payload)
    net = _replica_network(skeleton)
    if optimizer is not None:  # an optimizer of the user's own, in its state at the start
        net.optimizer = cloudpickle.loads(optimizer)
    net.set_flat_params(params)
    if state is not None:
        net.optimizer.set_state(state)
    data = _ReplicaData(partitions, encoder, net.dtype)
    t1 = time.perf_counter()
    cpu = time.process_time()
    batches = replica_batches(data.n_rows, plan.steps_per_epoch, plan.seed, plan.shuffle)
    loss = weight = 0.0
    correct = seen = 0
    finite = True
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for step in range(plan.first_step, plan.first_step + plan.n_steps):
            rows = batches[step]
            if rows.size == 0:
                continue
            _seed_rng(net, plan.seed, step)
            x, y, w = data.batch(rows)
            result = net.train_on_batch(x, y, w, classify=plan.classify)
            loss += result.loss
            weight += result.weight
            correct += result.correct
            seen += rows.size
            if not math.isfinite(result.loss):
                finite = False
                break
    new_state = net.optimizer.get_state() if state is not None else None
    t2 = time.perf_counter()
    cpu = time.process_time() - cpu
    blob = pickle.dumps(
        (net.get_flat_params(), new_state, loss, weight, correct, seen, finite), protocol=5
    )
    t3 = time.perf_counter()
    return blob, (t1 - t0, t2 - t1, t3 - t2, cpu)


def _evaluate_partition(skeleton, params, classify, partition, encoder):
    """Summed validation loss, weight, correct count and rows of one partition (on a worker)."""
    net = copy.deepcopy(skeleton)
    net.set_flat_params(params)
    x = np.ascontiguousarray(partition.x, dtype=net.dtype)
    y = encoder.encode(partition.y)
    logs = training.evaluate(net, x, y, partition.sample_weight, classify=classify)
    w = partition.sample_weight
    total = float(w.sum()) if w is not None else float(x.shape[0])
    units = y.shape[1] if net.multilabel() else 1
    correct = logs.get("accuracy", 0.0) * x.shape[0] * units
    return logs["loss"] * total, total, correct, x.shape[0] * units


# ------------------------------------------------------------------------ the client side
def _get_client(client):
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
        return client
    try:
        return distributed.default_client()
    except ValueError:
        raise ValueError(
            "nnscratch.distributed.fit needs a Dask cluster: pass client=, or "
            "connect one first (distributed.Client('tcp://scheduler:8786'), or "
            "distributed.Client(distributed.LocalCluster()) on one machine)"
        ) from None


def _is_dask(a):
    return isinstance(a, da.Array)


def _row_chunks_to_dask(a, chunks, name):
    """A NumPy array as a Dask array cut into ``chunks`` rows (recomputable: no scatter)."""
    if a is None:
        return None
    return da.from_array(a, chunks=(chunks,) + a.shape[1:], name=False)


def _check_dask_input(x, y, w, n_features):
    """Shapes of Dask inputs; returns x, y, w with matching row chunks, x one chunk wide."""
    if x.ndim != 2:
        raise ValueError(
            f"x must be a 2-D array (samples, features), got {x.ndim}-D with shape {x.shape}"
        )
    if any(math.isnan(c) for c in x.chunks[0]):
        raise ValueError("x has chunks of unknown size; call x.compute_chunk_sizes() first")
    if x.shape[1] != n_features:
        raise ValueError(f"x has {x.shape[1]} features, but the network expects {n_features}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must be numeric, got an array of dtype {x.dtype}")
    x = x.rechunk({1: -1})
    out = [x]
    for name, a in (("y", y), ("sample_weight", w)):
        if a is None:
            out.append(None)
            continue
        a = (
            a
            if _is_dask(a)
            else da.from_array(np.asarray(a), chunks=(x.chunks[0],) + np.shape(a)[1:], name=False)
        )
        if a.shape[0] != x.shape[0]:
            raise ValueError(f"{name} has {a.shape[0]} rows, but x has {x.shape[0]} samples")
        if a.chunks[0] != x.chunks[0]:
            a = a.rechunk({0: x.chunks[0]})
        if a.ndim == 2:
            a = a.rechunk({1: -1})
        out.append(a)
    return out


class _Partitions:
    """Futures of the partitions on the cluster and their grouping into replicas."""

    def __init__(self, client, x, y, w, encoder, n_features, placement=None):
        self.client = client
        xs = x.to_delayed().ravel()
        ys = y.to_delayed().ravel()
        ws = w.to_delayed().ravel() if w is not None else [None] * len(xs)
        make = dask.delayed(_make_partition, pure=True)
        parts = [make(a, b, c, encoder, n_features) for a, b, c in zip(xs, ys, ws)]
        if placement is None:
            self.futures = client.compute(parts)
        else:  # one partition per thread slot, placed by the caller
            self.futures = [
                client.compute(p, workers=[addr], allow_other_workers=True)
                for p, addr in zip(parts, placement)
            ]
        self.sizes = [int(c) for c in x.chunks[0]]
        distributed.wait(self.futures)
        for future in self.futures:
            if future.status == "error":
                future.result()  # raises the worker's error here

    def holders(self):
        """The address of a worker holding each partition (None when none does now)."""
        who = self.client.who_has(self.futures)
        return [(sorted(who.get(f.key, ())) or [None])[0] for f in self.futures]

    def group(self, replicas):
        """Split the partitions into ``replicas`` groups of nearly equal rows, by holder."""
        holders = self.holders()
        order = sorted(range(len(self.futures)), key=lambda i: (holders[i] or "", i))
        workers = sorted({h for h in holders if h})
        groups = [[] for _ in range(replicas)]
        # one group per worker first (round robin when groups outnumber workers) ...
        home = {
            w: [g for g in range(replicas) if g % max(len(workers), 1) == k]
            for k, w in enumerate(workers)
        }
        totals = [0] * replicas
        target = sum(self.sizes) / replicas
        for i in order:
            mine = home.get(holders[i]) or list(range(replicas))
            g = min(mine, key=lambda j: totals[j])
            if totals[g] + self.sizes[i] > 1.25 * target:  # ... but keep the sizes even
                g = min(range(replicas), key=lambda j: totals[j])
            groups[g].append(i)
            totals[g] += self.sizes[i]
        return sorted(sorted(g) for g in groups if g)  # replica r: the r-th first partition

    def release(self):
        for future in self.futures:
            future.release()
        self.futures = []


def _state_of(optimizer):
    """The optimizer's averaged state, or None for an optimizer that cannot hand it out."""
    if isinstance(optimizer, Optimizer) or (
        callable(getattr(optimizer, "get_state", None))
        and callable(getattr(optimizer, "set_state", None))
    ):
        return optimizer.get_state()
    return None


class _RoundTimes:
    """Seconds of one epoch's rounds, split by where they went."""

    def __init__(self):
        self.rounds = 0
        self.wall = self.compute = self.compute_cpu = self.serialize = self.average = 0.0

    def add(self, wall, worker_times, client_serialize, average):
        self.rounds += 1
        self.wall += wall
        slowest = max(worker_times, key=lambda t: t[0] + t[1] + t[2])
        self.compute += slowest[1]
        self.compute_cpu += slowest[3]
        self.serialize += client_serialize + slowest[0] + slowest[2]
        self.average += average

    def logs(self):
        overhead = max(self.wall - self.compute - self.serialize - self.average, 0.0)
        return {
            "sync_rounds": self.rounds,
            "compute_seconds": self.compute,
            "compute_cpu_seconds": self.compute_cpu,
            "serialize_seconds": self.serialize,
            "average_seconds": self.average,
            "overhead_seconds": overhead,
        }


class _DataParallelRun:
    """The state of one :func:`fit` call on the client."""

    def __init__(
        self,
        network,
        client,
        partitions,
        groups,
        batch_size,
        epochs,
        *,
        sync_every,
        shuffle,
        classify,
        encoder,
        validation,
        callbacks,
        verbose,
        checkpoint,
        checkpoint_every,
        fingerprint,
    ):
        self.network = network
        self.client = client
        self.partitions = partitions
        self.groups = groups
        self.batch_size = batch_size
        self.epochs = epochs
        self.sync_every = sync_every
        self.shuffle = shuffle
        self.classify = classify
        self.encoder = encoder
        self.validation = validation
        self.callbacks = CallbackList(callbacks, network)
        self.n_samples = sum(partitions.sizes)
        self.steps_per_epoch = math.ceil(self.n_samples / batch_size)
        self.progress = Progress(verbose, epochs, self.n_samples)
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.fingerprint = fingerprint
        self.run_id = uuid.uuid4().hex[:12]
        self.losses = []
        self.position = None  # where a resumed run continues
        self.rounds_done = 0
        skeleton = copy.deepcopy(network)
        skeleton.history, skeleton.metadata = {}, {}
        self.user_optimizer = _state_of(network.optimizer) is None
        self.skeleton = client.submit(
            _load_skeleton,
            cloudpickle.dumps(skeleton),
            key=f"nnscratch-skeleton-{self.run_id}",
            pure=False,
        )

    def close(self):
        """Let the cluster forget this run's data (partitions, skeleton, validation)."""
        self.partitions.release()
        self.skeleton.release()
        if self.validation is not None and self.validation[0] == "dask":
            self.validation[1].release()

    # -- the epochs -------------------------------------------------------------
    def run(self):
        network = self.network
        network.stop_training = False
        start_epoch = len(self.losses)
        with training.InterruptGuard() as self.guard:
            try:
                self.callbacks.call("on_train_begin", {})
                for epoch in range(start_epoch, self.epochs):
                    logs = self.run_epoch(epoch)
                    if logs is None:
                        break
                    self.losses.append(logs["loss"])
                    self.callbacks.call("on_epoch_end", epoch, logs)
                    if network.stop_training or self.guard.interrupted:
                        break
            finally:
                self.progress.close()
                self.close()
            self.callbacks.call("on_train_end", {})
        if self.checkpoint is not None and not self.guard.interrupted:
            self.save_checkpoint(None)  # the run is over: a resume returns at once
        if self.guard.interrupted:
            warnings.warn(
                "training interrupted by Ctrl-C; the model keeps the parameters of "
                "the last finished sync round and its history",
                TrainingInterrupted,
                stacklevel=3,
            )
        return self.losses

    def run_epoch(self, epoch):
        network = self.network
        start_time = time.perf_counter()
        snapshot = network.get_flat_params()
        self.callbacks.call("on_epoch_begin", epoch, {})
        self.progress.epoch_begin(epoch)
        if (
            self.position is not None
            and self.position["epoch"] == epoch
            and self.position["next_step"] > 0
        ):
            pos = self.position  # resuming in the middle of this epoch
            seeds, first = [int(s) for s in pos["seeds"]], pos["next_step"]
            totals = list(pos["totals"])
        else:
            seeds = [int(s) for s in network.rng.integers(2**63 - 1, size=len(self.groups))]
            first, totals = 0, [0.0, 0.0, 0, 0]
        self.position = None
        times = _RoundTimes()
        self.holders = self.partitions.holders()  # refreshed each epoch (a hint only)
        for round_index, step in enumerate(range(first, self.steps_per_epoch, self.sync_every)):
            n_steps = min(self.sync_every, self.steps_per_epoch - step)
            finite = self.run_round(epoch, step, n_steps, seeds, totals, times)
            if not finite:
                self._diverged(snapshot, epoch)
                return None
            self.rounds_done += 1
            loss, weight, correct, seen = totals
            self.progress.batch_end(seen, loss / max(weight, 1e-300))
            if self.callbacks.has_batch_hooks:
                self.callbacks.batch_end(
                    round_index, {"loss": self._last_round_loss, "size": self._last_round_size}
                )
            next_step = step + n_steps
            if (
                self.checkpoint is not None
                and next_step < self.steps_per_epoch
                and self.rounds_done % self.checkpoint_every == 0
            ):
                self.save_checkpoint(
                    {"epoch": epoch, "next_step": next_step, "seeds": seeds, "totals": totals}
                )
            if (
                self.guard.interrupted or network.stop_training
            ) and next_step < self.steps_per_epoch:
                return None
        loss, weight, correct, seen = totals
        logs = {"loss": loss / max(weight, 1e-300) + network.l2_penalty()}
        if self.classify:
            units = network.layers[-1] if network.multilabel() else 1
            logs["accuracy"] = correct / max(seen * units, 1)
        if self.validation is not None:
            logs.update(self.validate())
        logs["learning_rate"] = current_learning_rate(network.optimizer)
        logs["seconds"] = time.perf_counter() - start_time
        for key, value in {**logs, **times.logs()}.items():
            network.history.setdefault(key, []).append(value)
        self.progress.epoch_end(epoch, logs)
        if self.checkpoint is not None:
            self.losses.append(logs["loss"])  # the record counts this epoch as done
            self.save_checkpoint(
                {"epoch": epoch + 1, "next_step": 0, "seeds": [], "totals": [0.0, 0.0, 0, 0]}
            )
            self.losses.pop()
        return logs

    def run_round(self, epoch, step, n_steps, seeds, totals, times):
        """Send the parameters out, let every replica step, average what comes back."""
        network, client = self.network, self.client
        start = time.perf_counter()
        state = _state_of(network.optimizer)
        optimizer = network.optimizer if self.user_optimizer else None
        payload = pickle.dumps(
            (
                network.get_flat_params(),
                state,
                None if optimizer is None else cloudpickle.dumps(optimizer),
            ),
            protocol=5,
        )
        pack = time.perf_counter() - start
        holders = self.holders  # a hint: a task may run elsewhere if its worker is gone
        futures = []
        for r, group in enumerate(self.groups):
            plan = _Plan(
                seeds[r], epoch, step, n_steps, self.steps_per_epoch, self.shuffle, self.classify
            )
            rows_on = {}
            for i in group:
                if holders[i]:
                    rows_on[holders[i]] = rows_on.get(holders[i], 0) + self.partitions.sizes[i]
            where = [max(rows_on, key=rows_on.get)] if rows_on else None
            futures.append(
                client.submit(
                    _train_round,
                    self.skeleton,
                    self.encoder,
                    payload,
                    plan,
                    *[self.partitions.futures[i] for i in group],
                    key=f"nnscratch-round-{self.run_id}-{epoch}-{step}-{r}",
                    workers=where,
                    allow_other_workers=True,
                    pure=False,
                )
            )
        answers = client.gather(futures)
        for f in futures:
            f.release()
        t_unpack = time.perf_counter()
        results = [pickle.loads(blob) for blob, _ in answers]
        unpack = time.perf_counter() - t_unpack
        t_avg = time.perf_counter()
        finite = all(r[6] for r in results)
        weights = np.array([r[3] for r in results], dtype=np.float64)
        if not weights.sum() > 0:  # every weight was zero: average by rows instead
            weights = np.array([r[5] for r in results], dtype=np.float64)
        if weights.sum() > 0:
            share = weights / weights.sum()
            params = sum(s * r[0].astype(np.float64) for s, r in zip(share, results))
            network.set_flat_params(params)
            if state is not None:
                averaged = {}
                for key in results[0][1]:
                    if key == "iterations":
                        continue
                    averaged[key] = sum(
                        s * r[1][key].astype(np.float64) for s, r in zip(share, results)
                    ).astype(network.dtype)
                averaged["iterations"] = state["iterations"] + n_steps
                network.optimizer.set_state(averaged)
        finite = finite and _checks.all_finite(network.get_flat_params())
        average = time.perf_counter() - t_avg
        loss = sum(r[2] for r in results)
        weight = sum(r[3] for r in results)
        totals[0] += loss
        totals[1] += weight
        totals[2] += sum(r[4] for r in results)
        totals[3] += sum(r[5] for r in results)
        self._last_round_loss = loss / max(weight, 1e-300)
        self._last_round_size = sum(r[5] for r in results)
        times.add(time.perf_counter() - start, [t for _, t in answers], pack + unpack, average)
        return finite and math.isfinite(loss)

    def validate(self):
        network = self.network
        kind, data = self.validation
        if kind == "arrays":
            return training.evaluate(network, *data, classify=self.classify, prefix="val_")
        params = network.get_flat_params()
        futures = [
            self.client.submit(
                _evaluate_partition,
                self.skeleton,
                params,
                self.classify,
                part,
                self.encoder,
                pure=False,
            )
            for part in data.futures
        ]
        sums = np.array(self.client.gather(futures), dtype=np.float64).sum(axis=0)
        logs = {"val_loss": sums[0] / sums[1] if sums[1] else 0.0}
        if self.classify:
            logs["val_accuracy"] = sums[2] / sums[3]
        return logs

    def _diverged(self, snapshot, epoch):
        network = self.network
        network.set_flat_params(snapshot)
        network.stop_training = True
        warnings.warn(
            f"distributed training diverged in epoch {epoch + 1}: the loss or the averaged "
            f"parameters stopped being finite. The parameters from the start of that epoch "
            f"were restored and training stopped; try a smaller learning rate, gradient "
            f"clipping (clipnorm=1.0 on the optimizer) or a smaller sync_every.",
            DivergenceWarning,
            stacklevel=4,
        )

    # -- checkpoints ----------------------------------------------------------------
    def save_checkpoint(self, position):
        """Save the model with a record of where the run stands (None: the run is over)."""
        network = self.network
        record = dict(
            self.fingerprint,
            losses=list(self.losses),
            finished=position is None,
            position=position,
            groups=self.groups,
        )
        user_metadata = network.metadata
        network.metadata = {**user_metadata, CHECKPOINT_KEY: record}
        try:
            network.save(self.checkpoint)
        finally:
            network.metadata = user_metadata

    def resume_from(self, loaded):
        """Continue from a checkpoint's model: parameters, state, generator, history."""
        network = self.network
        record = loaded.metadata.get(CHECKPOINT_KEY)
        if record is None:
            raise ValueError(
                f"{self.checkpoint} is a model file, but not a checkpoint of "
                f"nnscratch.distributed.fit (it has no record of a run)"
            )
        for key, value in self.fingerprint.items():
            if key != "epochs" and record.get(key) != value:
                raise ValueError(
                    f"the checkpoint {self.checkpoint} belongs to a different "
                    f"run: its {key} is {record.get(key)!r}, this run's is "
                    f"{value!r}"
                )
        if loaded.layers != network.layers:
            raise ValueError(
                f"the checkpoint {self.checkpoint} holds layers {loaded.layers}, "
                f"but the network has {network.layers}"
            )
        groups = record.get("groups")
        if not isinstance(groups, list) or sorted(i for g in groups for i in g) != list(
            range(len(self.partitions.sizes))
        ):
            raise ValueError(
                f"the checkpoint {self.checkpoint} has a damaged record of its "
                f"replicas ({groups!r})"
            )
        self.groups = [list(g) for g in groups]  # the same replicas as before the fault
        network.set_flat_params(loaded.get_flat_params())
        state = _state_of(loaded.optimizer)
        if state is not None and _state_of(network.optimizer) is not None:
            network.optimizer.set_state(state)
        network.rng.bit_generator.state = loaded.rng.bit_generator.state
        network.history = {k: list(v) for k, v in loaded.history.items()}
        self.losses = list(record["losses"])
        self.position = record["position"]
        return record


def fit(
    net,
    x,
    y,
    batch_size,
    epochs,
    *,
    client=None,
    sync_every=DEFAULT_SYNC_EVERY,
    replicas=None,
    categorical=False,
    shuffle=True,
    validation_data=None,
    validation_split=0.0,
    sample_weight=None,
    class_weight=None,
    callbacks=None,
    verbose=1,
    checkpoint=None,
    checkpoint_every=1,
    resume=False,
):
    """Train ``net`` in place on a Dask cluster by data-parallel parameter averaging.

    Parameters
    ----------
    net : NeuralNetwork
    x : dask.array.Array or array-like, shape (n, n_features)
        A Dask array's row chunks become the partitions, computed and kept on
        the workers; a NumPy array is cut into ``replicas`` row slices, one per
        worker thread.  Any real dtype; batches are converted to ``net.dtype``.
    y : dask.array.Array or array-like
        Targets shaped like the output, or ``(n,)`` labels with
        ``categorical=True``; re-chunked to ``x``'s row chunks when they differ.
    batch_size : int
        Samples behind one update, summed over the replicas.
    epochs : int
    client : distributed.Client, optional
        Default: the current client (``distributed.default_client()``).
    sync_every : int
        Steps each replica takes between two averagings.  1 is synchronous SGD;
        larger values trade a little accuracy for much less communication.
    replicas : int, optional
        Model replicas (default: the cluster's worker threads, at most the
        number of partitions).
    categorical, shuffle, callbacks, verbose, class_weight :
        As for :meth:`NeuralNetwork.fit` (``class_weight`` needs NumPy ``y``).
        ``shuffle`` shuffles within each replica: rows never move between
        workers, so shuffle sorted data once before you start.  A callback's
        ``on_batch_end`` runs once per sync round.
    validation_data : (x_val, y_val) or (x_val, y_val, w_val)
        NumPy arrays are scored on the client with
        :func:`nnscratch.training.evaluate`; Dask arrays on the workers.
    validation_split : float
        Hold out this fraction of a NumPy ``(x, y)`` (as ``net.fit`` does).
    sample_weight : array-like or dask.array.Array of shape (n,), optional
    checkpoint : str or path-like, optional
        Save the model here (atomically, :meth:`NeuralNetwork.save`) after
        every ``checkpoint_every`` sync rounds and at the end of every epoch,
        with a record of the run in ``metadata["nnscratch.distributed"]``.
    checkpoint_every : int
        Sync rounds between two checkpoints within an epoch.
    resume : bool
        When ``checkpoint`` exists, continue the run it records (parameters,
        optimizer state, random generator, history, the position within the
        epoch) instead of starting over; the data, ``batch_size``,
        ``sync_every`` and ``replicas`` must be those of the first call.
        Without a file, training starts from the beginning.  Callbacks start
        afresh (an EarlyStopping's patience counts from the resume).

    Returns
    -------
    list of float
        The average training loss of each epoch of the run (including epochs
        done before a resume).  ``net.history`` also gets, per epoch,
        ``sync_rounds`` and the rounds' seconds split into
        ``compute_seconds`` (the slowest replica's training steps; its CPU
        time is ``compute_cpu_seconds``),
        ``serialize_seconds`` (packing and unpacking parameters on both
        sides), ``average_seconds`` and ``overhead_seconds`` (scheduling and
        transfers: the rest).

    Notes
    -----
    Averaged: the parameters and, for the built-in optimizers, their state
    (momentum, Adam's moments, ...); the step counter advances by the round's
    steps.  An optimizer of your own without ``get_state``/``set_state`` starts
    every round from the state it had when ``fit`` began.
    """
    client = _get_client(client)
    batch_size = _checks.check_positive_int("batch_size", batch_size)
    epochs = _checks.check_positive_int("epochs", epochs)
    sync_every = _checks.check_positive_int("sync_every", sync_every)
    checkpoint_every = _checks.check_positive_int("checkpoint_every", checkpoint_every)
    if replicas is not None:
        replicas = _checks.check_positive_int("replicas", replicas)
    Progress.check_verbose(verbose)
    if validation_data is not None and validation_split:
        raise ValueError("pass validation_data or validation_split, not both")
    if checkpoint is not None:
        checkpoint = os.fspath(checkpoint)
        if not checkpoint.endswith(".npz"):
            checkpoint += ".npz"
    n_features, n_outputs = net.layers[0], net.layers[-1]
    threads = sum(client.nthreads().values())
    if threads == 0:
        raise ValueError("the Dask cluster has no workers; start some first")
    encoder = TargetEncoder(n_outputs, net.dtype, categorical)
    validation = None
    placement = None
    if _is_dask(x):
        if class_weight is not None:
            raise ValueError(
                "class_weight needs NumPy inputs; with Dask arrays pass sample_weight instead"
            )
        if validation_split:
            raise ValueError(
                "validation_split needs NumPy inputs; with Dask arrays pass validation_data"
            )
        x, y, w = _check_dask_input(x, y, sample_weight, n_features)
        if y is None:
            raise ValueError("y is required")
    else:
        source = training.array_source(net, x, y, categorical, sample_weight, class_weight)
        if validation_split:
            source, held = training.split_validation(net, source, validation_split)
            validation = ("arrays", held)
            keep = source.rows
            x_np, y_np = source.x[keep], source.y[keep]
            w_np = None if source.sample_weight is None else source.sample_weight[keep]
        else:
            x_np, y_np, w_np = source.x, source.y, source.sample_weight
        n = x_np.shape[0]
        count = min(replicas or threads, n)
        rows = math.ceil(n / count)
        x, y, w = (
            _row_chunks_to_dask(a, rows, name)
            for a, name in ((x_np, "x"), (y_np, "y"), (w_np, "sample_weight"))
        )
        slots = [addr for addr, k in sorted(client.nthreads().items()) for _ in range(k)]
        placement = [slots[i % len(slots)] for i in range(len(x.chunks[0]))]
    if validation is None and validation_data is not None:
        validation = _prepare_validation(net, client, validation_data, categorical)
    partitions = _Partitions(client, x, y, w, encoder, n_features, placement)
    replicas = min(replicas or threads, len(partitions.sizes))
    groups = partitions.group(replicas)
    fingerprint = {
        "n_samples": sum(partitions.sizes),
        "partitions": len(partitions.sizes),
        "batch_size": batch_size,
        "sync_every": sync_every,
        "shuffle": bool(shuffle),
        "epochs": epochs,
    }
    if not net._fit_lock.acquire(blocking=False):
        partitions.release()
        raise ConcurrentTrainingError(
            "this network is already training; train a copy (copy.deepcopy(net)) instead"
        )
    try:
        run = _DataParallelRun(
            net,
            client,
            partitions,
            groups,
            batch_size,
            epochs,
            sync_every=sync_every,
            shuffle=shuffle,
            classify=categorical or net.is_classifier(),
            encoder=encoder,
            validation=validation,
            callbacks=callbacks,
            verbose=verbose,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            fingerprint=fingerprint,
        )
        if checkpoint is not None and resume and os.path.exists(checkpoint):
            from .network import load_model

            try:
                record = run.resume_from(load_model(checkpoint))
            except Exception:
                run.close()
                raise
            if record["finished"] or len(run.losses) >= epochs:
                run.close()
                return run.losses
        return run.run()
    finally:
        net._fit_lock.release()


def _prepare_validation(net, client, validation_data, categorical):
    """('arrays', (x, y, w)) for NumPy validation data, ('dask', partitions) for Dask."""
    if (
        isinstance(validation_data, (tuple, list))
        and len(validation_data) in (2, 3)
        and _is_dask(validation_data[0])
    ):
        x_val, y_val = validation_data[0], validation_data[1]
        w_val = validation_data[2] if len(validation_data) == 3 else None
        x_val, y_val, w_val = _check_dask_input(x_val, y_val, w_val, net.layers[0])
        as_labels = net.layers[-1] > 1 and y_val.ndim == 1
        encoder = TargetEncoder(
            net.layers[-1], net.dtype, as_labels or categorical, name="validation y"
        )
        return ("dask", _Partitions(client, x_val, y_val, w_val, encoder, net.layers[0]))
    return ("arrays", training.validation_arrays(net, validation_data))


# ------------------------------------------------------------------------ clusters
def local_cluster(workers, *, threads_per_worker=1, **kwargs):
    """A ``distributed.LocalCluster`` of ``workers`` processes with BLAS pinned to one thread.

    Each worker process gets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
    ``MKL_NUM_THREADS`` equal to ``threads_per_worker``, so that worker
    threads, not BLAS threads, share the cores.  Extra keyword arguments go to
    ``LocalCluster``.
    """
    workers = _checks.check_positive_int("workers", workers)
    threads = str(_checks.check_positive_int("threads_per_worker", threads_per_worker))
    env = {"OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    kwargs.setdefault("dashboard_address", ":0")  # any free port
    kwargs.setdefault("processes", True)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env}):
        return distributed.LocalCluster(
            n_workers=workers, threads_per_worker=int(threads), **kwargs
        )


@contextlib.contextmanager
def cluster_client(scheduler=None, workers=None):
    """A client of the cluster at ``scheduler``, or of a new local cluster of ``workers``.

    The local cluster (if any) and the client are closed on leaving the block.
    """
    if (scheduler is None) == (workers is None):
        raise ValueError(
            "pass either scheduler (an address such as tcp://host:8786) or "
            "workers (the size of a local cluster), exactly one of them"
        )
    if scheduler is not None:
        with distributed.Client(scheduler) as client:
            yield client
        return
    with local_cluster(workers) as cluster, distributed.Client(cluster) as client:
        yield client


def fit_with_cluster(net, x, y, batch_size, epochs, *, scheduler=None, workers=None, **fit_kwargs):
    """:func:`fit` on the cluster at ``scheduler`` or on a local cluster of ``workers``.

    What ``nnscratch train --scheduler ADDRESS`` and ``--workers N`` call.
    Returns what :func:`fit` returns.
    """
    with cluster_client(scheduler, workers) as client:
        return fit(net, x, y, batch_size, epochs, client=client, **fit_kwargs)
