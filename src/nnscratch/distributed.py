"""Data-parallel training on a Dask cluster: how one round runs on the workers, nothing more.

Needs Dask and its distributed scheduler (an optional extra:
``pip install -e '.[dask]' in the checkout``).  The core of nnscratch never imports this
module.

One road
--------
:func:`fit` prepares its data with the very functions :meth:`NeuralNetwork.fit`
uses (:func:`nnscratch.data.data_source`, ``split_validation``,
``validation_arrays``), runs the same epoch frame
(:class:`nnscratch.training.EpochFrame`: callbacks, history, progress, Ctrl-C,
divergence) and differs only in how one round of batches is computed.  Every
replica's batches come from :class:`nnscratch.data.ArraySource` objects with the
network's input transform, so the replicas train on exactly the values
``predict`` serves.

Where the data lies
-------------------
The training rows are cut into partitions: a Dask array's or a chunked store's
row chunks, or ``replicas`` row ranges of a NumPy array or memory map.  Each
partition is made *on a worker*, which reads its own rows where they lie:

* a memory map (``np.load(path, mmap_mode='r')``, ``np.memmap``): the worker
  maps the same file and reads the rows of each batch from it;
* an ``h5py.Dataset`` or a ``zarr.Array``: the worker opens the file (store)
  and reads its row range once;
* a Dask array: the worker computes its row blocks.

Only a small description (path, offset, dtype, row range) and the targets
travel, so the client holds the model and the bookkeeping only and no large
task graph is sent.  **The files must be visible to every worker at the same
path** (one machine, or a shared file system); a worker that cannot open one
says so.  A NumPy array in the client's memory travels inside the graph, as
its partitions.

Sync rounds
-----------
In a round every replica starts from the same parameters and optimizer state,
takes ``sync_every`` steps of the network's own training step
(:meth:`NeuralNetwork.train_on_batch`) on its own batches, and sends back its
parameters and optimizer state.  The client averages them, each replica
weighted by the samples (the summed sample weights) it trained on, and the
next round starts from the average.  This is "parameter averaging" (local
SGD); with ``sync_every=1`` and plain SGD it is exactly synchronous SGD: one
step on the concatenation of the replicas' batches.

``batch_size`` means what it means for :meth:`NeuralNetwork.fit`: the samples
behind one update, summed over the replicas.  An epoch has
``ceil(n_samples / batch_size)`` steps, and each replica cuts its own rows
into that many batches, so a replica holding a third of the rows trains on
batches about a third of ``batch_size`` big.

Every task is a pure function of (parameters, optimizer state, partition,
seed, step), so when a worker dies Dask runs the lost tasks again elsewhere
(re-reading lost partitions from where they lie) and the result is the same,
bit for bit, as a run without the fault.  ``checkpoint=path`` saves the model
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
import mmap
import os
import pickle
import threading
import time
import uuid
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
        "optional extra: pip install -e '.[dask]' in the checkout (or pip install "
        "'dask[array]' distributed)"
    ) from err

from . import _checks, data, saving, training
from .exceptions import ConcurrentTrainingError
from .optimizers import Optimizer
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


# ------------------------------------------------------------------ where the rows lie
class _MemmapFile(NamedTuple):
    """How a worker maps the file behind a memory map (C-ordered rows)."""

    path: str
    offset: int
    dtype: str
    shape: tuple

    def open(self):
        return np.memmap(
            self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape
        )


class _HDF5Dataset(NamedTuple):
    """How a worker opens an HDF5 data set."""

    path: str
    name: str

    def open(self):
        import h5py

        return h5py.File(self.path, "r")[self.name]


class _Store(NamedTuple):
    """A store that pickles as its location (a Zarr array), sent as it is."""

    store: object

    def open(self):
        return self.store


def _memmap_file(x):
    """The file, offset and shape of a C-contiguous memory map, or None when there is none."""
    if not x.flags.c_contiguous or not getattr(x, "filename", None):
        return None
    root = x
    while isinstance(root.base, np.memmap):
        root = root.base
    if not isinstance(root.base, mmap.mmap):
        return None
    # np.memmap maps from the allocation boundary below its offset; the data starts
    # ``offset % ALLOCATIONGRANULARITY`` bytes into the map
    start = root.offset - root.offset % mmap.ALLOCATIONGRANULARITY
    mapped = np.frombuffer(root.base, dtype=np.uint8)
    offset = start + (x.ctypes.data - mapped.ctypes.data)
    return _MemmapFile(os.fspath(x.filename), int(offset), x.dtype.str, tuple(x.shape))


def _opener(a):
    """A small description a worker opens ``a`` from, or None when ``a`` must travel."""
    if isinstance(a, np.memmap):
        return _memmap_file(a)
    module = type(a).__module__
    if module.startswith("h5py"):
        return _HDF5Dataset(os.fspath(a.file.filename), a.name)
    if module.startswith("zarr"):
        return _Store(a)
    return None


def _piece(a, start, stop):
    """What a partition task gets for rows ``start:stop`` of ``a`` (targets, x)."""
    if a is None:
        return None
    if isinstance(a, da.Array):
        return a[start:stop]  # a dependency: computed on the worker
    opener = _opener(a)
    if opener is not None:
        return opener
    if data.is_lazy_array(a):  # another store: read here, travels with the task
        return data.source._read_rows(a, start, stop)
    return a[start:stop]


def _open_rows(piece, start, stop, name):
    """Rows ``start:stop`` on the worker: mapped (memmap), read (stores) or as given."""
    if not hasattr(piece, "open"):
        return piece
    try:
        opened = piece.open()
    except (OSError, ValueError) as err:
        raise OSError(
            f"a Dask worker could not open {name} from {getattr(piece, 'path', piece)!r} "
            f"({err}); nnscratch.distributed.fit reads the data where it lies, so the "
            f"file must be visible to every worker at the same path"
        ) from err
    if isinstance(opened, np.memmap):
        return opened[start:stop]  # read batch by batch
    return data.source._read_rows(opened, start, stop)


class _Partition:
    """The rows of the training data one worker serves, as an :class:`ArraySource`.

    Pickles as its description (a file's path, a row range, the targets), so a
    partition moved between workers is re-opened where it lands instead of
    travelling with its data.

    Parameters
    ----------
    x, y : opener or ndarray
        Where rows ``start:stop`` of the inputs and of the prepared targets lie.
    start, stop : int
        The partition's rows in the whole training data.
    sample_weight : ndarray of shape (stop - start,) or None
    rows : ndarray of int or None
        The rows to train on, counted from ``start`` (None: all of them).
    encoder : TargetEncoder
    dtype : numpy dtype
    transform : callable or None
        The network's input transform.
    """

    def __init__(self, x, y, start, stop, sample_weight, rows, encoder, dtype, transform):
        self.spec = (x, y, start, stop, sample_weight, rows, encoder, dtype, transform)
        self._source = None

    def __getstate__(self):
        return {"spec": self.spec}

    def __setstate__(self, state):
        self.spec = state["spec"]
        self._source = None

    @property
    def source(self):
        if self._source is None:
            x, y, start, stop, w, rows, encoder, dtype, transform = self.spec
            self._source = data.ArraySource(
                _open_rows(x, start, stop, "x"),
                _open_rows(y, start, stop, "y"),
                encoder,
                w,
                dtype,
                rows=rows,
                transform=transform,
                first_row=start,
            )
        return self._source

    @property
    def n_rows(self):
        return self.source.n_samples


def _make_partition(x, y, start, stop, w, rows, encoder, dtype, transform):
    """Make a partition on a worker, opening it once so that a bad path fails here."""
    part = _Partition(x, y, start, stop, w, rows, encoder, dtype, transform)
    part.source  # noqa: B018 - opens the file now, where the error is clear
    return part


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

    def __init__(self, partitions):
        self.sources = [p.source for p in partitions]
        for source in self.sources:
            source.check_file()  # a truncated file must not kill the worker (SIGBUS)
        sizes = [s.n_samples for s in self.sources]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_rows = int(self.offsets[-1])
        self.weighted = any(s.sample_weight is not None for s in self.sources)

    @staticmethod
    def _batch(source, local):
        return source.batch(local if source.rows is None else source.rows[local])

    def batch(self, rows):
        """x, y and weights of ``rows`` (replica-wide numbers), converted, checked, transformed."""
        if len(self.sources) == 1:
            b = self._batch(self.sources[0], rows)
            return b.x, b.y, b.sample_weight
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        xs, ys, ws = [], [], []
        for k in np.unique(which):
            b = self._batch(self.sources[k], rows[which == k] - self.offsets[k])
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


class _Outcome(NamedTuple):
    """What one replica sends back after a round."""

    params: np.ndarray
    state: dict | None
    loss: float
    weight: float
    correct: int
    seen: int
    finite: bool


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


def _train_round(skeleton, payload, plan, *partitions):
    """One replica's share of a sync round (runs on a worker; a pure function).

    Returns ``(outcome_bytes, timings)``: the pickled :class:`_Outcome` and the
    seconds spent unpacking, computing and packing, and the CPU seconds of the
    computing (less than its wall time when the worker shares its core with
    other processes).
    """
    t0 = time.perf_counter()
    params, state, optimizer = pickle.loads(payload)
    net = _replica_network(skeleton)
    if optimizer is not None:  # an optimizer of the user's own, in its state at the start
        net.optimizer = cloudpickle.loads(optimizer)
    net.set_flat_params(params)
    if state is not None:
        net.optimizer.set_state(state)
    rows_of = _ReplicaData(partitions)
    t1 = time.perf_counter()
    cpu = time.process_time()
    batches = replica_batches(rows_of.n_rows, plan.steps_per_epoch, plan.seed, plan.shuffle)
    loss = weight = 0.0
    correct = seen = 0
    finite = True
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for step in range(plan.first_step, plan.first_step + plan.n_steps):
            rows = batches[step]
            if rows.size == 0:
                continue
            _seed_rng(net, plan.seed, step)
            x, y, w = rows_of.batch(rows)
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
    outcome = _Outcome(net.get_flat_params(), new_state, loss, weight, correct, seen, finite)
    blob = pickle.dumps(tuple(outcome), protocol=5)
    t3 = time.perf_counter()
    return blob, (t1 - t0, t2 - t1, t3 - t2, cpu)


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


def _row_ranges(source, count):
    """The training rows of ``source`` as partitions: ``(start, stop, rows)`` triples.

    An array source is cut into ``count`` ranges of ``ceil(n / count)`` rows
    (its training rows, when some are held out, with ``rows`` counted from
    ``start``); a chunked store keeps its row blocks, the largest cut in two
    until there are at least ``count``.
    """
    if source.kind == "array":
        n = source.n_samples
        size = math.ceil(n / count)
        if source.rows is None:
            return [(s, min(s + size, n), None) for s in range(0, n, size)]
        ranges = []
        for at in range(0, n, size):
            ids = source.rows[at : at + size]
            start = int(ids[0])
            ranges.append((start, int(ids[-1]) + 1, (ids - start).astype(np.int64)))
        return ranges
    blocks = [b for b in source.blocks if b[1] > b[0]]  # an empty chunk holds nothing
    while len(blocks) < count:
        i = max(range(len(blocks)), key=lambda k: blocks[k][1] - blocks[k][0])
        start, stop = blocks[i]
        if stop - start < 2:
            break
        middle = (start + stop + 1) // 2
        blocks[i : i + 1] = [(start, middle), (middle, stop)]
    return [(start, stop, None) for start, stop in blocks]


class _Partitions:
    """Futures of the partitions on the cluster and their grouping into replicas."""

    def __init__(self, client, source, count, placement_slots):
        self.client = client
        ranges = _row_ranges(source, count)
        make = dask.delayed(_make_partition, pure=True)
        parts = []
        for start, stop, rows in ranges:
            w = None if source.sample_weight is None else source.sample_weight[start:stop]
            parts.append(
                make(
                    _piece(source.x, start, stop),
                    _piece(source.y, start, stop),
                    start,
                    stop,
                    w,
                    rows,
                    source.encoder,
                    source.dtype,
                    source.transform,
                )
            )
        # one partition per thread slot in turn, so that the replicas are the same in every
        # run on the same cluster (a Dask array's blocks too: computed where placed)
        self.futures = [
            client.compute(
                p,
                workers=[placement_slots[i % len(placement_slots)]],
                allow_other_workers=True,  # its worker may be gone: then anywhere
            )
            for i, p in enumerate(parts)
        ]
        self.sizes = [
            stop - start if rows is None else rows.shape[0] for start, stop, rows in ranges
        ]
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


class _EpochCheckpoint:
    """Saves the run's checkpoint when an epoch ends (after the history, before the user's
    callbacks), and keeps the run's list of epoch losses."""

    def __init__(self, rounds):
        self.rounds = rounds

    def on_epoch_end(self, epoch, logs):
        self.rounds.losses.append(logs["loss"])
        if self.rounds.checkpoint is not None:
            self.rounds.save_checkpoint(
                {"epoch": epoch + 1, "next_step": 0, "seeds": [], "totals": [0.0, 0.0, 0, 0]}
            )


class _DataParallelRounds:
    """Sync rounds on a Dask cluster, for :class:`nnscratch.training.EpochFrame`."""

    unit = "sync round"
    advice = ", a smaller sync_every"

    def __init__(
        self,
        network,
        client,
        partitions,
        groups,
        batch_size,
        *,
        sync_every,
        shuffle,
        classify,
        checkpoint,
        checkpoint_every,
        fingerprint,
    ):
        self.network = network
        self.client = client
        self.partitions = partitions
        self.groups = groups
        self.sync_every = sync_every
        self.shuffle = shuffle
        self.classify = classify
        self.n_samples = sum(partitions.sizes)
        self.steps_per_epoch = math.ceil(self.n_samples / batch_size)
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.fingerprint = fingerprint
        self.run_id = uuid.uuid4().hex[:12]
        self.losses = []
        self.position = None  # where a resumed run continues
        self.rounds_done = 0
        self.times = _RoundTimes()
        skeleton = copy.deepcopy(network)
        skeleton.history, skeleton.metadata = {}, {}
        self.user_optimizer = _state_of(network.optimizer) is None
        self.skeleton = client.submit(
            _load_skeleton,
            cloudpickle.dumps(skeleton),
            key=f"nnscratch-skeleton-{self.run_id}",
            pure=False,
        )

    # -- what the frame asks -----------------------------------------------------
    def callbacks(self):
        return [_EpochCheckpoint(self)]

    def epoch_logs(self):
        return self.times.logs()

    def finish(self, completed):
        if self.checkpoint is not None and completed:
            self.save_checkpoint(None)  # the run is over: a resume returns at once

    def close(self):
        """Let the cluster forget this run's data (partitions, skeleton)."""
        self.partitions.release()
        self.skeleton.release()

    def rounds(self, epoch):
        """The sync rounds of one epoch (a resumed epoch first carries its earlier totals)."""
        network = self.network
        pos = self.position
        self.position = None
        self.times = _RoundTimes()
        totals = training.EpochTotals()
        if pos is not None and pos["epoch"] == epoch and pos["next_step"] > 0:
            seeds, first = [int(s) for s in pos["seeds"]], pos["next_step"]
            carried = training.RoundResult(*pos["totals"], carried=True)
            totals.add(carried)
            yield carried
        else:
            seeds = [int(s) for s in network.rng.integers(2**63 - 1, size=len(self.groups))]
            first = 0
        holders = self.partitions.holders()  # refreshed each epoch (a hint only)
        for step in range(first, self.steps_per_epoch, self.sync_every):
            n_steps = min(self.sync_every, self.steps_per_epoch - step)
            result = self.run_round(epoch, step, n_steps, seeds, holders)
            totals.add(result)
            self.rounds_done += 1
            next_step = step + n_steps
            if (
                result.finite
                and self.checkpoint is not None
                and next_step < self.steps_per_epoch
                and self.rounds_done % self.checkpoint_every == 0
            ):
                self.save_checkpoint(
                    {
                        "epoch": epoch,
                        "next_step": next_step,
                        "seeds": seeds,
                        "totals": [totals.loss, totals.weight, totals.correct, totals.seen],
                    }
                )
            yield result

    def run_round(self, epoch, step, n_steps, seeds, holders):
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
        futures = []
        for r, group in enumerate(self.groups):
            plan = _Plan(
                seeds[r], epoch, step, n_steps, self.steps_per_epoch, self.shuffle, self.classify
            )
            futures.append(
                client.submit(
                    _train_round,
                    self.skeleton,
                    payload,
                    plan,
                    *[self.partitions.futures[i] for i in group],
                    key=f"nnscratch-round-{self.run_id}-{epoch}-{step}-{r}",
                    pure=False,
                    **self._where(group, holders),
                )
            )
        answers = client.gather(futures)
        for f in futures:
            f.release()
        t_unpack = time.perf_counter()
        outcomes = [_Outcome(*pickle.loads(blob)) for blob, _ in answers]
        unpack = time.perf_counter() - t_unpack
        t_avg = time.perf_counter()
        self._average(outcomes, state, n_steps)
        finite = all(o.finite for o in outcomes) and _checks.all_finite(network.get_flat_params())
        average = time.perf_counter() - t_avg
        self.times.add(
            time.perf_counter() - start, [t for _, t in answers], pack + unpack, average
        )
        return training.RoundResult(
            loss=sum(o.loss for o in outcomes),
            weight=sum(o.weight for o in outcomes),
            correct=sum(o.correct for o in outcomes),
            seen=sum(o.seen for o in outcomes),
            finite=finite,
        )

    def _where(self, group, holders):
        """Run a replica's round where most of its rows are, when a live worker holds them.

        ``allow_other_workers`` goes only with ``workers``: when the worker that
        held every partition of the replica died, the task runs anywhere (and
        Dask re-makes the lost partitions there).
        """
        rows_on = {}
        for i in group:
            if holders[i]:
                rows_on[holders[i]] = rows_on.get(holders[i], 0) + self.partitions.sizes[i]
        if not rows_on:
            return {}
        return {"workers": [max(rows_on, key=rows_on.get)], "allow_other_workers": True}

    def _average(self, outcomes, state, n_steps):
        """Set the network to the replicas' average, weighted by what each trained on."""
        network = self.network
        weights = np.array([o.weight for o in outcomes], dtype=np.float64)
        if not weights.sum() > 0:  # every weight was zero: average by rows instead
            weights = np.array([o.seen for o in outcomes], dtype=np.float64)
        if not weights.sum() > 0:
            return
        share = weights / weights.sum()
        network.set_flat_params(
            sum(s * o.params.astype(np.float64) for s, o in zip(share, outcomes))
        )
        if state is not None:
            averaged = {
                key: sum(
                    s * o.state[key].astype(np.float64) for s, o in zip(share, outcomes)
                ).astype(network.dtype)
                for key in outcomes[0].state
                if key != "iterations"
            }
            averaged["iterations"] = state["iterations"] + n_steps
            network.optimizer.set_state(averaged)

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
        # the whole description first: nothing of the network changes on a refusal
        theirs, ours = saving.model_fingerprint(loaded), saving.model_fingerprint(network)
        for key, value in ours.items():
            if theirs.get(key) != value:
                raise ValueError(
                    f"the checkpoint {self.checkpoint} holds a network with {key} "
                    f"{theirs.get(key)!r}, but the network to train has {value!r}; "
                    f"resume into a network built exactly as the checkpointed one "
                    f"(or pass resume=False to start over)"
                )
        groups = record.get("groups")
        if not isinstance(groups, list) or sorted(i for g in groups for i in g) != list(
            range(len(self.partitions.sizes))
        ):
            raise ValueError(
                f"the checkpoint {self.checkpoint} has a damaged record of its "
                f"replicas ({groups!r})"
            )
        if not isinstance(record.get("losses"), list):
            raise ValueError(
                f"the checkpoint {self.checkpoint} has a damaged record of its "
                f"losses ({record.get('losses')!r})"
            )
        state = _state_of(loaded.optimizer)
        if state is not None and _state_of(network.optimizer) is not None:
            copy.deepcopy(network.optimizer).set_state(state)  # a refusal comes before any change
        else:
            state = None
        self.groups = [list(g) for g in groups]  # the same replicas as before the fault
        if state is not None:
            network.optimizer.set_state(state)
        network.set_flat_params(loaded.get_flat_params())
        network.rng.bit_generator.state = loaded.rng.bit_generator.state
        network.history = {k: list(v) for k, v in loaded.history.items()}
        self.losses = list(record["losses"])
        self.position = record["position"]
        return record


def fit(
    net,
    x: object,
    y: object,
    batch_size: int,
    epochs: int,
    *,
    client: distributed.Client | None = None,
    sync_every: int = DEFAULT_SYNC_EVERY,
    replicas: int | None = None,
    categorical: bool = False,
    shuffle: bool = True,
    validation_data: object = None,
    validation_split: float = 0.0,
    sample_weight: object = None,
    class_weight: dict | str | None = None,
    shuffle_buffer: int | None = None,
    callbacks: list | None = None,
    verbose: int = 1,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
) -> list[float]:
    """Train ``net`` in place on a Dask cluster by data-parallel parameter averaging.

    Parameters
    ----------
    net : NeuralNetwork
    x : array, memory map, h5py.Dataset, zarr.Array or dask.array.Array, shape (n, n_features)
        What :meth:`NeuralNetwork.fit` takes, but a batch generator (whose
        batches cannot be split among workers).  A chunked store's row chunks
        become the partitions; an array or memory map is cut into
        ``replicas`` row ranges.  Workers read their rows where they lie (see
        the module's notes: files must be visible to every worker).  Any real
        dtype; each batch is converted to ``net.dtype`` and passed through
        ``net.input_transform``, exactly as in ``net.fit`` and ``predict``.
    y : array-like, memory map or chunked store
        Targets shaped like the output, or ``(n,)`` labels with
        ``categorical=True``.
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
    categorical, shuffle, callbacks, verbose, class_weight, shuffle_buffer :
        As for :meth:`NeuralNetwork.fit`.
        ``shuffle`` shuffles within each replica: rows never move between
        workers, so shuffle sorted data once before you start.  A callback's
        ``on_batch_end`` runs once per sync round.
    validation_data : (x_val, y_val), (x_val, y_val, w_val) or a batch generator
        As for :meth:`NeuralNetwork.fit`, scored on the client after every
        epoch by the same code (streamed in chunks for memory maps, stores,
        Dask arrays and generators, so the client's memory stays bounded).
    validation_split : float
        Hold out this fraction of ``(x, y)`` as ``net.fit`` does (whole chunks
        of a chunked store).
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
        afresh (an EarlyStopping's patience counts from the resume).  The
        network must be built as the checkpointed one (layers, dtype,
        activations, loss, optimizer class and settings, initializer, dropout,
        L2, input transform): all of it is compared before anything changes,
        and a refusal leaves the network as it was.  A finished run resumed
        with more ``epochs`` than it was asked for trains the epochs missing.

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
    threads = sum(client.nthreads().values())
    if threads == 0:
        raise ValueError("the Dask cluster has no workers; start some first")
    source, validation = _training_data(
        net, x, y, categorical, sample_weight, class_weight, shuffle_buffer,
        validation_data, validation_split,
    )  # fmt: skip
    slots = [addr for addr, k in sorted(client.nthreads().items()) for _ in range(k)]
    partitions = _Partitions(client, source, min(replicas or threads, source.n_samples), slots)
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
        rounds = _DataParallelRounds(
            net,
            client,
            partitions,
            partitions.group(min(replicas or threads, len(partitions.sizes))),
            batch_size,
            sync_every=sync_every,
            shuffle=shuffle,
            classify=categorical or net.is_classifier(),
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            fingerprint=fingerprint,
        )
        if resume and checkpoint is not None and os.path.exists(checkpoint):
            if not _resume(rounds, net, checkpoint, epochs):
                return rounds.losses
        training.EpochFrame(
            net,
            rounds,
            epochs,
            verbose=verbose,
            validation=validation,
            callbacks=callbacks,
            classify=categorical or net.is_classifier(),
            first_epoch=len(rounds.losses),
            caller_depth=1,
        ).run()
        return rounds.losses
    finally:
        net._fit_lock.release()


def _training_data(
    net, x, y, categorical, sample_weight, class_weight, shuffle_buffer, validation_data, split
):
    """The training source and the validation data, prepared exactly as ``net.fit`` does."""
    if data.source._is_batch_stream(x):
        raise TypeError(
            "nnscratch.distributed.fit splits the rows of x among the workers, so it "
            "cannot take a batch generator (its batches exist only as it yields them): "
            "pass an array, a memory map (np.load(path, mmap_mode='r')), an HDF5 or Zarr "
            "data set or a Dask array, or train the generator with net.fit"
        )
    source = data.data_source(
        net, x, y, categorical, sample_weight, class_weight, shuffle_buffer=shuffle_buffer
    )
    if split:
        return data.split_validation(net, source, split)
    if validation_data is not None:
        return source, data.validation_arrays(net, validation_data)
    return source, None


def _resume(rounds, net, checkpoint, epochs):
    """Continue from ``checkpoint``; False when the run it records is already over."""
    try:
        record = rounds.resume_from(saving.load_model(checkpoint, type(net)))
    except Exception:
        rounds.close()
        raise
    # A finished run asked for more epochs than it had carries on to the new
    # count (its next epoch starts afresh); asked for as many or fewer, it is over.
    planned = record.get("epochs")
    over = len(rounds.losses) >= epochs or (
        record["finished"] and (not isinstance(planned, int) or epochs <= planned)
    )
    if over:
        rounds.close()
        return False
    if record["finished"]:
        rounds.position = None
    return True


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
