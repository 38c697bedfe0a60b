"""Where training batches come from: arrays, memory maps, chunked stores, generators.

The training loop (:mod:`nnscratch.training`) never indexes the whole data set
itself: it asks a *data source* for the batches of one epoch and trains on
each as it comes.  Every source has

* ``n_samples``: the rows of one epoch, or None when only the data knows
  (a generator);
* ``batches(batch_size, rng, shuffle)``: the :class:`Batch` records of one
  epoch, already checked for finite values and converted to the network's
  dtype.

:func:`as_source` picks the source for what it is given:

=========================================  ======================================
input                                      source
=========================================  ======================================
NumPy array, ``np.memmap`` (any real       :class:`ArraySource`: random rows per
dtype, uint8 images included)              batch, gathered and converted per batch
``dask.array.Array``, ``h5py.Dataset``,    :class:`ChunkedSource`: whole storage
``zarr.Array`` (anything with ``shape``,   chunks in a random order, mixed by a
``dtype``, ``chunks`` and slicing)         seeded shuffle buffer
a function returning an iterator of        :class:`GeneratorSource`: the batches
batches, or a re-iterable object           as they come
=========================================  ======================================

Memory stays bounded by a few batches (plus the shuffle buffer of a chunked
store, plus one index per row for a shuffled array): the data set as a whole
is never converted or copied.  For float data already of the network's dtype
an :class:`ArraySource` gives the very batches that converting everything at
once would have given, so training is bit-identical to training on the
in-memory array.

An input transform (:class:`Scale`, :class:`Standardize`, or your own
registered in :data:`input_transforms`) runs on each batch after its
conversion; set it on the network (``net.input_transform = Scale(1 / 255)``)
and ``fit``, ``predict`` and ``score`` all apply it, and model files keep it
by name and settings.

:func:`open_data_file` opens ``.npy`` / ``.npz`` files as memory maps and
HDF5 or Zarr data sets lazily, for the command line and for scripts.
"""

from __future__ import annotations

import os
import queue
import struct
import threading
import zipfile
from typing import NamedTuple

import numpy as np

from . import _checks
from .registry import Registry

# Rows per chunk when predicting or scoring streamed data: about 6 MB of
# float32 MNIST rows, so a few chunks in flight stay well inside 64 MB.
PREDICT_ROWS = 2048

# Default size of a chunked store's shuffle buffer, in bytes of source data.
SHUFFLE_BUFFER_BYTES = 16 * 2**20

# A storage chunk larger than this (in bytes) is read in slices of rows.
MAX_BLOCK_BYTES = 32 * 2**20


class Batch(NamedTuple):
    """One batch of training data, converted to the network's dtype.

    Attributes
    ----------
    x : ndarray of shape (b, n_features)
    y : ndarray of shape (b, n_outputs)
        Targets shaped like the output layer (one-hot for classification).
    sample_weight : ndarray of shape (b,) or None
        None when every sample weighs 1.
    rows : ndarray of int, or slice
        The source rows the batch holds, for messages that name a row.
    """

    x: np.ndarray
    y: np.ndarray
    sample_weight: np.ndarray | None
    rows: object


# ------------------------------------------------------------------ input transforms
input_transforms = Registry("input transform")


class Transform:
    """A per-batch change of the inputs, applied after conversion to the network's dtype.

    Subclasses set ``name`` (their registry name), implement ``__call__`` (a
    new array, never changing its argument, which may be the caller's data)
    and ``get_config`` (settings JSON can hold, such that
    ``type(t)(**t.get_config())`` rebuilds ``t``).
    """

    name = None

    def __call__(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def __eq__(self, other):
        return type(other) is type(self) and _same_config(self.get_config(), other.get_config())

    __hash__ = None

    def __repr__(self):
        settings = ", ".join(f"{k}={_short(v)}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"


class Scale(Transform):
    """``x * factor + offset``: e.g. ``Scale(1 / 255)`` maps uint8 pixels onto [0, 1].

    Parameters
    ----------
    factor : float
    offset : float
    """

    name = "scale"

    def __init__(self, factor, offset=0.0):
        self.factor = _checks.check_number("factor", factor, owner="Scale")
        self.offset = _checks.check_number("offset", offset, owner="Scale")

    def __call__(self, x):
        out = np.multiply(x, x.dtype.type(self.factor))
        if self.offset:
            out += x.dtype.type(self.offset)
        return out

    def get_config(self):
        return {"factor": self.factor, "offset": self.offset}


class Standardize(Transform):
    """``(x - mean) / std`` with statistics fixed beforehand (one per feature, or one for all).

    Parameters
    ----------
    mean : float or array-like of shape (n_features,)
    std : float or array-like of shape (n_features,)
        Positive; a feature whose spread is 0 in the data should get 1 here.
    """

    name = "standardize"

    def __init__(self, mean, std):
        self.mean = _float_vector("mean", mean)
        self.std = _float_vector("std", std)
        if (self.std <= 0).any():
            raise ValueError(
                "Standardize: std must be positive everywhere (give 1 to "
                "features that do not vary)"
            )
        if self.mean.size > 1 and self.std.size > 1 and self.mean.size != self.std.size:
            raise ValueError(
                f"Standardize: mean has {self.mean.size} entries but std has {self.std.size}"
            )

    @classmethod
    def fit(cls, x, chunk_rows=65536):
        """Statistics of ``x`` (any source array), computed a chunk of rows at a time."""
        total = total_sq = None
        n = 0
        for part in iter_x_chunks(x, chunk_rows, np.float64):
            total = part.sum(axis=0) if total is None else total + part.sum(axis=0)
            sq = np.einsum("ij,ij->j", part, part)
            total_sq = sq if total_sq is None else total_sq + sq
            n += part.shape[0]
        mean = total / n
        std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
        std[std == 0] = 1.0
        return cls(mean, std)

    def __call__(self, x):
        mean = self.mean.astype(x.dtype)
        std = self.std.astype(x.dtype)
        out = np.subtract(x, mean if mean.size > 1 else mean[0])
        out /= std if std.size > 1 else std[0]
        return out

    def get_config(self):
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def _float_vector(name, value):
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(
            f"Standardize: {name} must be a finite number or a 1-D array of "
            f"them, got shape {np.shape(value)}"
        )
    return arr


def _same_config(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _short(value):
    if isinstance(value, list) and len(value) > 3:
        return f"[{len(value)} values]"
    return repr(value)


input_transforms.register("scale", Scale)
input_transforms.register("standardize", Standardize)


def register_transform(name, cls, *, overwrite=False):
    """Register your own :class:`Transform` subclass so model files can name it."""
    return input_transforms.register(name, cls, overwrite=overwrite)


def transform_to_config(transform):
    """``{"name": ..., "config": {...}}`` for a model file, or None for no transform."""
    if transform is None:
        return None
    name = getattr(transform, "name", None)
    if not name or name not in input_transforms:
        raise ValueError(
            f"the input transform {transform!r} has no registered name; register "
            f"its class with nnscratch.data.register_transform(name, cls) so "
            f"model files can store it"
        )
    return {"name": name, "config": transform.get_config()}


def transform_from_config(spec):
    """The transform a model file describes (the inverse of :func:`transform_to_config`)."""
    if spec is None:
        return None
    return input_transforms.get(spec["name"])(**spec.get("config", {}))


def check_transform(transform):
    """None or a callable taking and returning a 2-D array; refuses anything else."""
    if transform is not None and not callable(transform):
        raise TypeError(
            f"input_transform must be None or a callable such as "
            f"nnscratch.data.Scale(1 / 255), got {type(transform).__name__}"
        )
    return transform


def _apply(transform, x, name):
    if transform is None:
        return x
    out = transform(x)
    if getattr(out, "shape", None) != x.shape or getattr(out, "dtype", None) != x.dtype:
        raise ValueError(
            f"the input transform {transform!r} turned {name} of shape "
            f"{x.shape} and dtype {x.dtype} into {np.shape(out)} "
            f"{getattr(out, 'dtype', type(out).__name__)}; it must keep both"
        )
    return out


# ------------------------------------------------------------------------ targets
class TargetEncoder:
    """Turns a batch of raw targets into rows shaped like the output layer.

    Parameters
    ----------
    n_outputs : int
        Units of the output layer.
    dtype : numpy dtype
    categorical : bool or None
        The raw targets are class labels, one-hot encoded per batch.  None
        (for a generator's batches only) decides per batch: 1-D targets for
        several output units are labels.
    name : str
        How messages name the targets ("y", "validation y").
    """

    def __init__(self, n_outputs, dtype, categorical, name="y"):
        self.n_outputs = n_outputs
        self.dtype = np.dtype(dtype)
        self.categorical = categorical
        self.name = name

    def prepare(self, y, n_samples):
        """Check the whole target array once; labels come back as small integers.

        Labels cost one integer per sample, so they are checked (a million at
        a time) and kept whole, in the smallest integer type that holds them.
        Float targets in memory are checked and converted here; a memory map
        or a chunked store of targets is only checked for its shape, and its
        values are converted and checked per batch.
        """
        if self.categorical:
            return self._prepare_labels(y, n_samples)
        if _is_lazy_array(y):
            if (
                len(y.shape) not in (1, 2)
                or y.shape[0] != n_samples
                or (y.shape[1] if len(y.shape) == 2 else 1) != self.n_outputs
            ):
                raise ValueError(
                    f"{self.name} must have shape ({n_samples}, "
                    f"{self.n_outputs}), got {tuple(y.shape)}"
                )
            if np.dtype(y.dtype).kind not in "biuf":
                raise TypeError(f"{self.name} must be numeric, got dtype {y.dtype}")
            return y
        return _checks.check_targets(
            y, n_samples=n_samples, n_outputs=self.n_outputs, dtype=self.dtype, name=self.name
        )

    def _prepare_labels(self, y, n_samples):
        shape = getattr(y, "shape", None)
        if shape is None:
            return self._check_label_count(
                _checks.check_labels(y, n_classes=self.n_outputs, name=self.name), n_samples
            )
        if len(shape) == 0 or shape[0] != n_samples:
            rows = shape[0] if len(shape) else 0
            raise ValueError(f"{self.name} has {rows} rows, but x has {n_samples} samples")
        out = np.empty(n_samples, dtype=np.min_scalar_type(max(self.n_outputs - 1, 1)))
        step = 2**20
        for start in range(0, n_samples, step):
            part = _read_rows(y, start, min(start + step, n_samples))
            out[start : start + part.shape[0]] = _checks.check_labels(
                part, n_classes=self.n_outputs, name=self.name
            )
        return out

    def _check_label_count(self, labels, n_samples):
        if labels.shape[0] != n_samples:
            raise ValueError(
                f"{self.name} has {labels.shape[0]} rows, but x has {n_samples} samples"
            )
        return labels

    def encode(self, y_rows, categorical=None):
        """Targets of one batch, shape (b, n_outputs), in the network's dtype.

        ``categorical`` overrides the encoder's own setting (for a batch
        whose form was decided on its own).
        """
        if self.categorical if categorical is None else categorical:
            out = np.zeros((y_rows.shape[0], self.n_outputs), dtype=self.dtype)
            out[np.arange(y_rows.shape[0]), y_rows] = 1
            return out
        if y_rows.ndim == 1:
            y_rows = y_rows.reshape(-1, 1)
        return np.ascontiguousarray(y_rows, dtype=self.dtype)

    def encode_raw(self, y_raw, n_rows, where):
        """A generator's raw batch targets, checked and encoded; ``where`` names the batch."""
        name = f"{self.name} of {where}"
        categorical = self.categorical
        if categorical is None:  # labels or one-hot rows, whichever each batch holds
            categorical = self.n_outputs > 1 and np.ndim(y_raw) == 1
        if categorical:
            labels = _checks.check_labels(y_raw, n_classes=self.n_outputs, name=name)
            if labels.shape[0] != n_rows:
                raise ValueError(f"{name} has {labels.shape[0]} rows, but its x has {n_rows}")
            return self.encode(labels, categorical=True)
        return _checks.check_targets(
            y_raw, n_samples=n_rows, n_outputs=self.n_outputs, dtype=self.dtype, name=name
        )


# ------------------------------------------------------------------------- helpers
def _is_lazy_array(obj):
    """True for arrays that are not plain in-memory NumPy arrays (memmaps, chunked stores)."""
    if isinstance(obj, np.memmap):
        return True
    return not isinstance(obj, np.ndarray) and _is_chunked(obj)


def _is_chunked(obj):
    """Anything with ``shape``, ``dtype``, ``chunks`` and slicing: Dask, HDF5, Zarr."""
    return (
        not isinstance(obj, np.ndarray)
        and hasattr(obj, "shape")
        and hasattr(obj, "dtype")
        and hasattr(obj, "chunks")
        and hasattr(obj, "__getitem__")
    )


def _is_batch_stream(obj):
    """A function returning an iterator of batches, or an iterable that is not an array."""
    if isinstance(obj, (np.ndarray, list, tuple, str, bytes, dict)) or hasattr(obj, "shape"):
        return False
    return callable(obj) or hasattr(obj, "__iter__")


def _read_rows(arr, start, stop):
    """Rows ``start:stop`` of any array kind as a NumPy array (Dask computes that block)."""
    part = arr[start:stop]
    compute = getattr(part, "compute", None)
    if callable(compute) and not isinstance(part, np.ndarray):
        part = compute()
    return np.asarray(part)


def is_lazy_array(x):
    """True for a memory map or a chunked store (Dask, HDF5, Zarr): an array read in pieces.

    For code that would otherwise call ``np.asarray`` on its input (the
    scikit-learn estimators' input validation does): such input should be
    handed to ``fit`` / ``predict`` as it is.
    """
    return _is_lazy_array(x)


def is_streamed(x):
    """True when ``x`` is read piece by piece rather than converted whole.

    Memory maps, chunked stores and batch generators are; plain NumPy arrays,
    lists and DataFrames are not.
    """
    return _is_lazy_array(x) or _is_batch_stream(x)


def _convert(raw, dtype):
    return np.ascontiguousarray(raw, dtype=dtype)


class _RowsOf:
    """Lets :func:`_checks.describe_non_finite` read a raw batch value by its source row."""

    def __init__(self, raw, rows):
        self.raw = raw
        self.rows = rows
        self.dtype = raw.dtype

    def __getitem__(self, key):
        source_row, column = key
        if isinstance(self.rows, slice):
            local = source_row - (self.rows.start or 0)
        else:
            local = int(np.flatnonzero(np.asarray(self.rows) == source_row)[0])
        return self.raw[local, column]


def _finish(raw_x, raw_y, w, rows, source):
    """Convert, check and transform one batch of a source with ``x`` and ``y`` arrays."""
    x = _convert(raw_x, source.dtype)
    if not _checks.all_finite(x):
        raise ValueError(_checks.describe_non_finite(source.name, x, rows, _RowsOf(raw_x, rows)))
    y = source.encoder.encode(raw_y)
    if not source.encoder.categorical and not _checks.all_finite(y):
        raise ValueError(_checks.describe_non_finite(source.encoder.name, y, rows))
    return Batch(_apply(source.transform, x, source.name), y, w, rows)


# ------------------------------------------------------------------ array sources
class ArraySource:
    """Batches from arrays held in memory or mapped from a file.

    Parameters
    ----------
    x : ndarray or np.memmap, shape (n, n_features), any real dtype
    y : ndarray, prepared by :meth:`TargetEncoder.prepare`
    encoder : TargetEncoder
    sample_weight : ndarray of shape (n,) or None
    dtype : numpy dtype
        The network's dtype; each batch is converted to it.
    rows : ndarray of int, optional
        Train on these rows only (the rest may be held out for validation);
        by default every row.
    name : str
        How messages name the features ("x").
    transform : callable, optional
        Applied to each converted batch (see :class:`Transform`).

    Notes
    -----
    A shuffled epoch draws ``rng.permutation(n_samples)`` (the article's draw)
    and gathers each batch's rows with one ``np.take``.  On a memory map that
    is random access into the file: fast when the file is in the page cache
    (or on an SSD), slow on a spinning disk, where a chunked store read in
    whole chunks is the better choice.
    """

    kind = "array"

    def __init__(self, x, y, encoder, sample_weight, dtype, rows=None, name="x", transform=None):
        self.x = x
        self.y = y
        self.encoder = encoder
        self.sample_weight = sample_weight
        self.dtype = np.dtype(dtype)
        self.rows = rows
        self.name = name
        self.transform = transform

    @property
    def n_samples(self):
        return self.x.shape[0] if self.rows is None else self.rows.shape[0]

    def batches(self, batch_size, rng=None, shuffle=True):
        """The batches of one epoch, in a fresh random order when ``shuffle``.

        The order costs one draw of ``rng.permutation(n_samples)``, the same
        draw as the article's loop makes; it is drawn when this is called, so
        the batches may then be prepared in another thread.
        """
        n = self.n_samples
        order = rng.permutation(n) if shuffle else None
        if self.rows is not None:
            order = self.rows if order is None else self.rows[order]
        return self._batches(order, n, batch_size)

    def _batches(self, order, n, batch_size):
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            rows = slice(start, stop) if order is None else order[start:stop]
            yield self.batch(rows)

    def batch(self, rows):
        """The batch holding ``rows`` (a slice or an index array), checked and converted."""
        x = self._take(rows)
        if not _checks.all_finite(x):
            raise ValueError(_checks.describe_non_finite(self.name, x, rows, self.x))
        y = self.encoder.encode(self.y[rows])
        if not self.encoder.categorical and not _checks.all_finite(y):
            raise ValueError(_checks.describe_non_finite(self.encoder.name, y, rows))
        w = None if self.sample_weight is None else self.sample_weight[rows]
        return Batch(_apply(self.transform, x, self.name), y, w, rows)

    def _take(self, rows):
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported per batch
            return self._gather(rows)

    def _gather(self, rows):
        if isinstance(rows, slice):
            part = self.x[rows]
            return np.ascontiguousarray(part, dtype=self.dtype)
        if self.x.dtype == self.dtype:
            return np.take(self.x, rows, axis=0)
        # gather in the source's dtype (a uint8 batch is small), then convert once
        return np.take(self.x, rows, axis=0).astype(self.dtype)

    def __repr__(self):
        return (
            f"ArraySource({type(self.x).__name__} of shape {tuple(self.x.shape)} and "
            f"dtype {self.x.dtype}, n_samples={self.n_samples})"
        )


class ChunkedSource:
    """Batches from a chunked array store, read one whole storage chunk at a time.

    Parameters
    ----------
    x : dask.array.Array, h5py.Dataset, zarr.Array or alike, shape (n, n_features)
        Anything with ``shape``, ``dtype``, ``chunks`` and row slicing.
    y : array (in memory, or another chunked store) prepared by :meth:`TargetEncoder.prepare`
    encoder : TargetEncoder
    sample_weight : ndarray of shape (n,) or None
    dtype : numpy dtype
        The network's dtype.
    blocks : list of (start, stop), optional
        The row ranges to train on; by default the store's chunks along the
        rows (chunks larger than 32 MB are read in slices of rows).
    shuffle_buffer : int, optional
        Samples held in the shuffle buffer; by default as many as 16 MB of
        source rows hold, and never fewer than one batch.
    name : str
    transform : callable, optional

    Notes
    -----
    A shuffled epoch visits the blocks in a random order and reads each whole
    (never single rows at random, which chunked stores serve slowly).  Rows
    flow through a buffer of ``shuffle_buffer`` samples; each batch is a
    uniform random draw (without replacement) from what the buffer holds, and
    the rows it frees are refilled from the next blocks.  Every row is used
    exactly once per epoch.  The larger the buffer (relative to a chunk), the
    closer the order comes to a full shuffle; a buffer of ``n_samples`` is one.
    All random draws of an epoch come from one seed taken from the network's
    generator when the epoch starts, so the order is reproducible.
    """

    kind = "chunked"

    def __init__(
        self,
        x,
        y,
        encoder,
        sample_weight,
        dtype,
        blocks=None,
        shuffle_buffer=None,
        name="x",
        transform=None,
    ):
        self.x = x
        self.y = y
        self.encoder = encoder
        self.sample_weight = sample_weight
        self.dtype = np.dtype(dtype)
        self.name = name
        self.transform = transform
        self.blocks = row_blocks(x) if blocks is None else list(blocks)
        row_bytes = max(1, int(np.prod(x.shape[1:])) * np.dtype(x.dtype).itemsize)
        if shuffle_buffer is None:
            shuffle_buffer = max(1, SHUFFLE_BUFFER_BYTES // row_bytes)
        self.shuffle_buffer = check_shuffle_buffer(shuffle_buffer)

    @property
    def n_samples(self):
        return sum(stop - start for start, stop in self.blocks)

    def batches(self, batch_size, rng=None, shuffle=True):
        """The batches of one epoch (see the class notes for the order)."""
        if not shuffle:
            return self._in_order(batch_size)
        order = rng.permutation(len(self.blocks))
        local = np.random.default_rng(int(rng.integers(2**63)))
        return self._shuffled(batch_size, order, local)

    def _read(self, start, stop):
        x = _read_rows(self.x, start, stop)
        y = _read_rows(self.y, start, stop)
        w = None if self.sample_weight is None else self.sample_weight[start:stop]
        return x, y, w

    def _in_order(self, batch_size):
        pieces, held = [], 0
        for start, stop in self.blocks:
            x, y, w = self._read(start, stop)
            pieces.append((start, x, y, w))
            held += stop - start
            while held >= batch_size:
                batch, pieces = _cut(pieces, batch_size)
                held -= batch_size
                yield self._make(*batch)
        if held:
            batch, _ = _cut(pieces, held)
            yield self._make(*batch)

    def _make(self, rows, x, y, w):
        return _finish(x, y, w, rows, self)

    def _shuffled(self, batch_size, order, rng):
        capacity = max(self.shuffle_buffer, batch_size)
        pool = None  # (x, y, w, source row) arrays of ``capacity`` rows
        fill = 0
        pending = []  # blocks read but not yet (wholly) moved into the pool
        blocks = iter([self.blocks[i] for i in order])
        while True:
            # top the buffer up from the blocks, reading a new block when one runs out
            while fill < capacity:
                if not pending:
                    block = next(blocks, None)
                    if block is None:
                        break
                    start, stop = block
                    pending.append([start, *self._read(start, stop), 0])
                start, x, y, w, used = pending[0]
                if pool is None:
                    pool = _Pool(capacity, x, y, w)
                take = min(capacity - fill, x.shape[0] - used)
                pool.put(fill, x, y, w, start, used, take)
                fill += take
                pending[0][4] += take
                if pending[0][4] == x.shape[0]:
                    pending.pop(0)
            if fill == 0:
                return
            k = min(batch_size, fill)
            picked = rng.choice(fill, size=k, replace=False)
            yield self._make(*pool.take(picked))
            pool.close_gaps(picked, fill)
            fill -= k

    def __repr__(self):
        return (
            f"ChunkedSource({type(self.x).__name__} of shape {tuple(self.x.shape)} and "
            f"dtype {self.x.dtype}, {len(self.blocks)} blocks, "
            f"shuffle_buffer={self.shuffle_buffer})"
        )


class _Pool:
    """The shuffle buffer of a :class:`ChunkedSource`: rows in the source's dtypes."""

    def __init__(self, capacity, x, y, w):
        self.x = np.empty((capacity, *x.shape[1:]), dtype=x.dtype)
        self.y = np.empty((capacity, *y.shape[1:]), dtype=y.dtype)
        self.w = None if w is None else np.empty(capacity, dtype=w.dtype)
        self.rows = np.empty(capacity, dtype=np.int64)

    def put(self, at, x, y, w, start, used, count):
        self.x[at : at + count] = x[used : used + count]
        self.y[at : at + count] = y[used : used + count]
        if self.w is not None:
            self.w[at : at + count] = w[used : used + count]
        self.rows[at : at + count] = np.arange(start + used, start + used + count)

    def take(self, picked):
        rows = self.rows[picked]
        w = None if self.w is None else self.w[picked]
        return rows, self.x[picked], self.y[picked], w

    def close_gaps(self, picked, fill):
        """Move the unpicked rows of the last ``len(picked)`` places into the picked places."""
        k = picked.shape[0]
        tail = np.arange(fill - k, fill)
        movers = tail[~np.isin(tail, picked)]
        holes = picked[picked < fill - k]
        for arr in (self.x, self.y, self.w, self.rows):
            if arr is not None:
                arr[holes] = arr[movers]


def _cut(pieces, count):
    """The first ``count`` rows of the queued block pieces, and the pieces left over."""
    parts, left, need = [], [], count
    for start, x, y, w in pieces:
        if need == 0:
            left.append((start, x, y, w))
            continue
        take = min(need, x.shape[0])
        parts.append((start, x[:take], y[:take], None if w is None else w[:take]))
        if take < x.shape[0]:
            left.append((start + take, x[take:], y[take:], None if w is None else w[take:]))
        need -= take
    starts = [p[0] for p in parts]
    contiguous = all(
        starts[i] + parts[i][1].shape[0] == starts[i + 1] for i in range(len(parts) - 1)
    )
    if contiguous:
        rows = slice(starts[0], starts[0] + count)
    else:
        rows = np.concatenate([np.arange(s, s + p[1].shape[0]) for s, p in zip(starts, parts)])
    x = parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts])
    y = parts[0][2] if len(parts) == 1 else np.concatenate([p[2] for p in parts])
    w = None if parts[0][3] is None else np.concatenate([p[3] for p in parts])
    return (rows, x, y, w), left


def row_blocks(x, max_bytes=MAX_BLOCK_BYTES):
    """The ``(start, stop)`` row ranges of a chunked store's chunks along its first axis.

    Dask gives the sizes of its blocks; HDF5 and Zarr give one chunk shape.
    A contiguous HDF5 data set (no chunks), or a chunk over ``max_bytes``, is
    cut into slices of rows of at most ``max_bytes``.
    """
    n = x.shape[0]
    row_bytes = max(1, int(np.prod(x.shape[1:])) * np.dtype(x.dtype).itemsize)
    most = max(1, max_bytes // row_bytes)
    chunks = getattr(x, "chunks", None)
    if chunks and isinstance(chunks[0], tuple):  # dask: block sizes along each axis
        sizes = list(chunks[0])
    elif chunks:  # HDF5 / Zarr: one chunk shape
        sizes = [chunks[0]] * (n // chunks[0]) + ([n % chunks[0]] if n % chunks[0] else [])
    else:
        sizes = [most] * (n // most) + ([n % most] if n % most else [])
    blocks, start = [], 0
    for size in sizes:
        for piece in range(0, size, most):
            stop = start + min(most, size - piece)
            blocks.append((start, stop))
            start = stop
    return blocks


def check_shuffle_buffer(value):
    """A positive whole number of samples."""
    return _checks.check_positive_int("shuffle_buffer", value)


# -------------------------------------------------------------- generator sources
class GeneratorSource:
    """Batches from a function or an iterable yielding ``(x, y)`` or ``(x, y, w)``.

    Parameters
    ----------
    data : callable or iterable
        A function called once per epoch that returns an iterator of
        batches, or an object whose ``__iter__`` starts a fresh pass (a
        Keras ``PyDataset`` / ``Sequence``, a PyTorch ``DataLoader``, a list
        of batches).  A one-shot iterator (a generator object) is read on
        across epochs and so needs ``steps_per_epoch`` for more than one epoch.
    encoder : TargetEncoder
    dtype : numpy dtype
    n_features : int
    steps_per_epoch : int, optional
        Batches per epoch; by default each pass runs until its iterator ends.
    name : str
    transform : callable, optional

    Notes
    -----
    The batches are used as they come: ``fit``'s ``batch_size`` plays no part
    (pass None).  Each one is checked and converted like an array batch;
    messages name the batch (counting from 0 in the epoch) and the row by the
    samples seen so far this epoch.
    """

    kind = "generator"
    n_samples = None

    def __init__(
        self, data, encoder, dtype, n_features, steps_per_epoch=None, name="x", transform=None
    ):
        self.data = data
        self.encoder = encoder
        self.dtype = np.dtype(dtype)
        self.n_features = n_features
        self.steps_per_epoch = (
            None
            if steps_per_epoch is None
            else _checks.check_positive_int("steps_per_epoch", steps_per_epoch)
        )
        self.name = name
        self.transform = transform
        self.one_shot = not callable(data) and hasattr(data, "__next__")
        self._epochs = 0

    def batches(self, batch_size=None, rng=None, shuffle=True):
        """The batches of one epoch; ``batch_size``, ``rng`` and ``shuffle`` are not used."""
        if self.one_shot and self.steps_per_epoch is None and self._epochs > 0:
            raise ValueError(
                "this generator was used up by the first epoch: pass a function that "
                "returns a fresh iterator (fit(lambda: make_batches(), ...)), an iterable "
                "object, or steps_per_epoch"
            )
        self._epochs += 1
        iterator = self.data() if callable(self.data) else iter(self.data)
        if not hasattr(iterator, "__next__"):
            iterator = iter(iterator)
        return self._batches(iterator)

    def _batches(self, iterator):
        seen = 0
        step = 0
        while self.steps_per_epoch is None or step < self.steps_per_epoch:
            item = next(iterator, _END)
            if item is _END:
                break
            batch = self.convert(item, step, seen)
            seen += batch.x.shape[0]
            step += 1
            yield batch
        if step == 0:
            raise ValueError(f"the batch generator yielded no batches in epoch {self._epochs}")

    def convert(self, item, step, seen):
        """One raw ``(x, y[, w])`` item, checked, converted and transformed."""
        where = f"batch {step}"
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError(
                f"the batch generator must yield (x, y) or (x, y, sample_weight) "
                f"tuples; {where} is {type(item).__name__}"
                + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
            )
        raw = item[0]
        if not isinstance(raw, np.ndarray):
            raw = _read_rows(raw, 0, None) if _is_chunked(raw) else raw
        raw = _checks.check_2d_source(
            raw, n_features=self.n_features, name=f"{self.name} of {where}"
        )
        rows = slice(seen, seen + raw.shape[0])
        x = _convert(raw, self.dtype)
        if not _checks.all_finite(x):
            message = _checks.describe_non_finite(self.name, x, rows, _RowsOf(raw, rows))
            raise ValueError(
                f"{message} (rows counted from the start of the epoch; it is in {where})"
            )
        if item[1] is None:
            raise ValueError(f"{where} has no targets (y is None)")
        y = self.encoder.encode_raw(item[1], x.shape[0], where)
        w = None
        if len(item) == 3 and item[2] is not None:
            w = _checks.check_x(
                np.reshape(item[2], (-1, 1)), dtype=self.dtype, name=f"sample_weight of {where}"
            )[:, 0]
            if w.shape[0] != x.shape[0]:
                raise ValueError(
                    f"sample_weight of {where} has {w.shape[0]} entries, but "
                    f"its x has {x.shape[0]} rows"
                )
            if (w < 0).any():
                raise ValueError(f"sample_weight of {where} holds negative weights")
        return Batch(_apply(self.transform, x, self.name), y, w, rows)

    def __repr__(self):
        return (
            f"GeneratorSource({type(self.data).__name__}, steps_per_epoch={self.steps_per_epoch})"
        )


_END = object()


# ------------------------------------------------------------------------ dispatch
def as_source(
    x,
    y,
    *,
    n_features,
    n_outputs,
    dtype,
    categorical=False,
    sample_weight=None,
    shuffle_buffer=None,
    steps_per_epoch=None,
    transform=None,
    name="x",
    y_name="y",
):
    """The data source for ``x`` (and ``y``): see the table in the module's docstring.

    Parameters
    ----------
    x : array, memmap, chunked store, or batch generator
    y : array-like, chunked store, or None (required None for a generator)
    n_features, n_outputs : int
        The network's input and output widths.
    dtype : numpy dtype
        The network's dtype.
    categorical : bool
        ``y`` holds class labels.
    sample_weight : ndarray of shape (n,) or None
        Already checked (arrays and chunked stores only).
    shuffle_buffer : int, optional
        For a chunked store (see :class:`ChunkedSource`).
    steps_per_epoch : int, optional
        For a generator (see :class:`GeneratorSource`).
    transform : callable, optional
    name, y_name : str
        How messages name the inputs and the targets.
    """
    encoder = TargetEncoder(n_outputs, dtype, categorical, name=y_name)
    if _is_batch_stream(x):
        if y is not None:
            raise TypeError(
                f"{name} is a batch generator, which yields its own targets: "
                f"pass y=None, got {type(y).__name__}"
            )
        if sample_weight is not None:
            raise TypeError(
                "sample_weight cannot be given with a batch generator; yield "
                "(x, y, sample_weight) batches instead"
            )
        if shuffle_buffer is not None:
            raise TypeError(
                "shuffle_buffer applies to chunked stores (Dask, HDF5, Zarr), "
                "not to a batch generator"
            )
        return GeneratorSource(
            x, encoder, dtype, n_features, steps_per_epoch, name=name, transform=transform
        )
    if steps_per_epoch is not None:
        raise TypeError(
            f"steps_per_epoch applies to batch generators only; {name} is {type(x).__name__}"
        )
    if y is None:
        raise TypeError(
            f"{y_name} is required when {name} is an array (only a batch "
            f"generator yields its own targets)"
        )
    if _is_chunked(x):
        _check_store_shape(x, n_features, name)
        targets = encoder.prepare(y, x.shape[0])
        return ChunkedSource(
            x,
            targets,
            encoder,
            sample_weight,
            dtype,
            shuffle_buffer=shuffle_buffer,
            name=name,
            transform=transform,
        )
    if shuffle_buffer is not None:
        raise TypeError(
            f"shuffle_buffer applies to chunked stores (Dask, HDF5, Zarr); {name} "
            f"is {type(x).__name__}, whose rows are shuffled individually"
        )
    x = _checks.check_2d_source(x, n_features=n_features, name=name)
    targets = encoder.prepare(y, x.shape[0])
    return ArraySource(x, targets, encoder, sample_weight, dtype, name=name, transform=transform)


def _check_store_shape(x, n_features, name):
    if np.dtype(x.dtype).kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got a store of dtype {x.dtype}")
    if len(x.shape) != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if x.shape[1] != n_features:
        raise ValueError(f"{name} has {x.shape[1]} features, but the network expects {n_features}")


def iter_x_chunks(x, chunk_rows, dtype, *, n_features=None, name="x", transform=None):
    """``x``'s rows in order, ``chunk_rows`` at a time, converted, checked and transformed.

    For predicting: ``x`` may be any input kind (a generator's ``y`` is
    ignored).  Chunked stores are read along their own chunks.
    """
    if _is_batch_stream(x):
        stream = x() if callable(x) else iter(x)
        seen = 0
        for step, item in enumerate(stream):
            raw = item[0] if isinstance(item, (tuple, list)) else item
            raw = _read_rows(raw, 0, None) if _is_chunked(raw) else raw
            part = _checks.check_2d_source(
                raw, n_features=n_features or np.shape(raw)[1], name=f"{name} of batch {step}"
            )
            yield _checked_chunk(part, slice(seen, seen + part.shape[0]), dtype, name, transform)
            seen += part.shape[0]
        return
    if _is_chunked(x):
        if n_features is not None:
            _check_store_shape(x, n_features, name)
        edges = [start for start, _ in row_blocks(x)] + [x.shape[0]]
        # read whole blocks, cut into chunk_rows pieces
        for start, stop in zip(edges[:-1], edges[1:]):
            block = _read_rows(x, start, stop)
            for at in range(0, block.shape[0], chunk_rows):
                part = block[at : at + chunk_rows]
                rows = slice(start + at, start + at + part.shape[0])
                yield _checked_chunk(part, rows, dtype, name, transform)
        return
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if n_features is not None:
        arr = _checks.check_2d_source(arr, n_features=n_features, name=name)
    for start in range(0, arr.shape[0], chunk_rows):
        part = arr[start : start + chunk_rows]
        yield _checked_chunk(part, slice(start, start + part.shape[0]), dtype, name, transform)


def _checked_chunk(raw, rows, dtype, name, transform):
    x = _convert(raw, dtype)
    if not _checks.all_finite(x):
        raise ValueError(_checks.describe_non_finite(name, x, rows, _RowsOf(raw, rows)))
    return _apply(transform, x, name)


# ------------------------------------------------------------------------- prefetch
def prefetch(batches, depth=1):
    """Iterate over ``batches`` while a background thread prepares the next ``depth`` items.

    The thread runs the source's reading, gathering and converting (NumPy,
    HDF5 and Zarr release the GIL for much of it) while the caller trains on
    the current batch.  Random draws must already have been made (every
    source's ``batches`` draws when it is called), so the order is the same
    with or without the thread.  An exception in the thread is raised in the
    caller at the batch where it happened; leaving the loop early stops the
    thread.
    """
    items = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry):
        while not stop.is_set():
            try:
                items.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in batches:
                if not put((True, item)):
                    return
            put((True, _END))
        except BaseException as err:  # handed to the caller, raised there
            put((False, err))

    worker = threading.Thread(target=work, name="nnscratch-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            ok, item = items.get()
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        worker.join()
        close = getattr(batches, "close", None)
        if close is not None:
            close()


# ------------------------------------------------------------------------- files
def open_data_file(path, key=None):
    """Open a data file lazily: ``.npy`` / ``.npz`` as memory maps, HDF5 and Zarr as stores.

    Parameters
    ----------
    path : str or path-like
        ``FILE.npy``; ``FILE.npz`` (members stored uncompressed, as
        ``np.savez`` writes them); ``FILE.h5`` / ``.hdf5`` (needs h5py);
        ``FILE.zarr`` (needs zarr).  ``FILE.npz:x``, ``FILE.h5:images`` or
        ``FILE.zarr:x`` names the member, data set or array inside.
    key : str, optional
        The member instead of the ``:name`` suffix.  A file holding one
        array needs none.

    Returns
    -------
    np.memmap, h5py.Dataset or zarr.Array
        Nothing is read until rows are sliced.

    Raises
    ------
    ImportError
        h5py or zarr is missing (``pip install 'nnscratch[ooc]'``).
    ValueError
        An unknown suffix, a missing member, or a compressed ``.npz`` member.
    """
    path = os.fspath(path)
    if key is None and not os.path.exists(path) and ":" in path:
        path, key = path.rsplit(":", 1)
    lower = path.lower().rstrip("/\\")
    if lower.endswith(".npy"):
        if key is not None:
            raise ValueError(f"{path} is a .npy file holding one array; it has no member {key!r}")
        return np.load(path, mmap_mode="r")
    if lower.endswith(".npz"):
        return _npz_member(path, key)
    if lower.endswith((".h5", ".hdf5", ".hdf")):
        h5py = _optional("h5py", "HDF5 files")
        handle = h5py.File(path, "r")
        return _member(
            handle, key, path, lambda g: [k for k in g if isinstance(g[k], h5py.Dataset)]
        )
    if lower.endswith(".zarr"):
        zarr = _optional("zarr", "Zarr stores")
        store = zarr.open(path, mode="r")
        if hasattr(store, "shape") and hasattr(store, "dtype"):
            if key is not None:
                raise ValueError(f"{path} is a single Zarr array; it has no member {key!r}")
            return store
        return _member(store, key, path, lambda g: [k for k, _ in g.arrays()])
    raise ValueError(
        f"cannot tell the format of {path!r}: expected a .npy, .npz, .h5 / .hdf5 or .zarr path"
    )


def _optional(module, what):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(
            f"reading {what} needs the {module} package: "
            f"pip install 'nnscratch[ooc]' (or pip install {module})"
        ) from None


def _member(group, key, path, names_of):
    names = names_of(group)
    if key is None:
        if len(names) != 1:
            raise ValueError(
                f"{path} holds {len(names)} arrays ({', '.join(names)}); name one as {path}:NAME"
            )
        key = names[0]
    if key not in group:
        raise ValueError(f"{path} has no array {key!r}; it holds: {', '.join(names)}")
    return group[key]


def _npz_member(path, key):
    """A member of an ``.npz`` file as a read-only memory map (np.load cannot map them)."""
    with zipfile.ZipFile(path) as archive:
        names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
        if key is None:
            if len(names) != 1:
                raise ValueError(
                    f"{path} holds {len(names)} arrays ({', '.join(names)}); "
                    f"name one as {path}:NAME"
                )
            key = names[0]
        if key not in names:
            raise ValueError(f"{path} has no array {key!r}; it holds: {', '.join(names)}")
        info = archive.getinfo(key + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(
                f"{path}: the member {key!r} is compressed, so it cannot be "
                f"memory-mapped; save with np.savez (not savez_compressed) or "
                f"as .npy files"
            )
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path}: the zip entry of {key!r} is damaged")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        handle.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        if dtype.hasobject:
            raise ValueError(
                f"{path}: the member {key!r} holds Python objects; only numeric "
                f"arrays can be mapped"
            )
        offset = handle.tell()
    return np.memmap(
        path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
    )
