"""Sources over chunked stores (Dask, HDF5, Zarr), read one whole storage chunk at a time."""

from __future__ import annotations

import numpy as np

from .. import _checks
from .source import (
    MAX_BLOCK_BYTES,
    SHUFFLE_BUFFER_BYTES,
    Batch,
    _apply,
    _convert,
    _read_rows,
    _RowsOf,
)


def _finish(raw_x, raw_y, w, rows, source):
    """Convert, check and transform one batch of a source with ``x`` and ``y`` arrays."""
    x = _convert(raw_x, source.dtype)
    if not _checks.all_finite(x):
        raise ValueError(_checks.describe_non_finite(source.name, x, rows, _RowsOf(raw_x, rows)))
    y = source.encoder.encode(raw_y)
    if not source.encoder.categorical and not _checks.all_finite(y):
        raise ValueError(_checks.describe_non_finite(source.encoder.name, y, rows))
    return Batch(_apply(source.transform, x, source.name), y, w, rows)


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
        source rows hold, and never fewer than one batch nor more than the
        rows trained on.
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
        # never more places than rows: a buffer of n_samples is already a full shuffle
        # (issue 20, item 14: 10**9 asked on 5,000 rows allocated 44.7 GiB)
        self.shuffle_buffer = min(check_shuffle_buffer(shuffle_buffer), max(self.n_samples, 1))

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
        capacity = min(max(self.shuffle_buffer, batch_size), max(self.n_samples, 1))
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
