"""What a data source is: the :class:`DataSource` protocol, the :class:`Batch` record,
and the questions every source asks of raw input (what kind is it, how to read rows).

Nothing here knows a network; the dispatch (:mod:`.dispatch`) passes the
network's widths and dtype down as plain numbers.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

# Predicting and scoring (streamed input, validation, in-memory forward passes)
# work in chunks of rows sized by one rule, :func:`predict_rows`: the widest array
# a chunk creates (its input rows or a layer's activations, in the network's
# dtype) takes at most PREDICT_CHUNK_BYTES, and a chunk has at most PREDICT_ROWS
# rows (past a few thousand rows a larger product is no faster; narrow data keeps
# the chunks it always had), and at least one.
PREDICT_CHUNK_BYTES = 16 * 2**20
PREDICT_ROWS = 2048


def predict_rows(layers, dtype):
    """Rows per chunk when predicting or scoring with a network of ``layers`` and ``dtype``.

    Parameters
    ----------
    layers : list of int
        Node counts from input to output.
    dtype : numpy dtype
        The network's dtype (what every chunk is converted to).

    Returns
    -------
    int
        ``PREDICT_CHUNK_BYTES // (max(layers) * itemsize)``, within
        ``1..PREDICT_ROWS``: 128x128-pixel images in float32 (64 KiB a row)
        give 256 rows, 16 MiB a chunk, where a fixed 2,048 rows took 128 MiB.
    """
    row_bytes = max(layers) * np.dtype(dtype).itemsize
    return max(1, min(PREDICT_ROWS, PREDICT_CHUNK_BYTES // row_bytes))


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


@runtime_checkable
class DataSource(Protocol):
    """Where the batches of one training run come from.

    A source stands between what the user passed to ``fit`` (an array, a
    memory map, an HDF5 or Zarr data set, a Dask array, a batch generator)
    and the epoch loop, which only ever asks it for the batches of one epoch.
    Every source promises:

    * ``kind``: ``"array"``, ``"chunked"`` or ``"generator"``, for the few
      questions whose answer depends on it (``validation_split`` cannot split
      a generator, say);
    * ``n_samples``: the rows of one epoch, or None when only the data knows
      (a generator), read before each epoch;
    * ``batches(batch_size, rng, shuffle)``: an iterator over the
      :class:`Batch` records of one epoch.  Every random draw the epoch's
      order needs is taken from ``rng`` *when this is called*, so the
      batches may then be prepared in another thread (:func:`prefetch`)
      without changing the order.  Each batch's ``x`` and ``y`` are already
      in the network's dtype, ``x`` checked for finite values (a bad value
      is named by its row in the source) and passed through the network's
      input transform: exactly the values ``predict`` would feed the network
      for those rows.
    * ``transform``: that input transform (or None), ``dtype``: the
      network's dtype, ``name``: how messages name the inputs.

    Memory stays bounded by a few batches, whatever the size of the data:
    a source never converts or copies the data set whole.
    """

    kind: str
    dtype: np.dtype
    name: str
    transform: object

    @property
    def n_samples(self) -> int | None: ...

    def batches(
        self, batch_size: int | None, rng: np.random.Generator | None, shuffle: bool
    ) -> Iterator[Batch]: ...


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


def check_mapped_file(x, name="x"):
    """Refuse a memory map whose file became shorter than the map after it was opened.

    Reading such a map kills the interpreter (SIGBUS) instead of raising, so
    every pass over a memory map (an epoch, a prediction) checks the file's
    size first.  Anything but a memory map passes.
    """
    if not isinstance(x, np.memmap):
        return
    root = x
    while isinstance(root.base, np.memmap):
        root = root.base
    if not isinstance(root.base, mmap.mmap) or not getattr(root, "filename", None):
        return
    needed = root.offset - root.offset % mmap.ALLOCATIONGRANULARITY + len(root.base)
    try:
        size = os.path.getsize(root.filename)
    except OSError as err:
        raise ValueError(
            f"{name} is a memory map of {root.filename}, which cannot be read any more ({err})"
        ) from None
    if size < needed:
        raise ValueError(
            f"{name} is a memory map of {root.filename}, which now holds {size} bytes, but "
            f"the map needs {needed}: the file was truncated or rewritten after it was "
            f"opened; open it again"
        )
