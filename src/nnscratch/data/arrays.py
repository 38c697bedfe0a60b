"""Sources over arrays read by row: NumPy arrays in memory and memory maps."""

from __future__ import annotations

import numpy as np

from .. import _checks
from .source import Batch, _apply, check_mapped_file


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
    first_row : int
        The number of ``x``'s first row in the whole data set, when ``x`` is
        a part of it (a worker's partition): messages name rows in the whole
        set's numbering.

    Notes
    -----
    A shuffled epoch draws ``rng.permutation(n_samples)`` (the article's draw)
    and gathers each batch's rows with one ``np.take``.  On a memory map that
    is random access into the file: fast when the file is in the page cache
    (or on an SSD), slow on a spinning disk, where a chunked store read in
    whole chunks is the better choice.
    """

    kind = "array"

    def __init__(
        self,
        x,
        y,
        encoder,
        sample_weight,
        dtype,
        rows=None,
        name="x",
        transform=None,
        first_row=0,
    ):
        self.x = x
        self.y = y
        self.encoder = encoder
        self.sample_weight = sample_weight
        self.dtype = np.dtype(dtype)
        self.rows = rows
        self.name = name
        self.transform = transform
        self.first_row = first_row

    @property
    def n_samples(self):
        return self.x.shape[0] if self.rows is None else self.rows.shape[0]

    def batches(self, batch_size, rng=None, shuffle=True):
        """The batches of one epoch, in a fresh random order when ``shuffle``.

        The order costs one draw of ``rng.permutation(n_samples)``, the same
        draw as the article's loop makes; it is drawn when this is called, so
        the batches may then be prepared in another thread.
        """
        self.check_file()
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

    def check_file(self):
        """A memory map's file must still hold the whole map (see :func:`check_mapped_file`)."""
        check_mapped_file(self.x, self.name)
        check_mapped_file(self.y, self.encoder.name)

    def batch(self, rows):
        """The batch holding ``rows`` (a slice or an index array), checked and converted."""
        x = self._take(rows)
        if not _checks.all_finite(x):
            raise ValueError(self._non_finite(self.name, x, rows, self.x))
        y = self.encoder.encode(self.y[rows])
        if not self.encoder.categorical and not _checks.all_finite(y):
            raise ValueError(self._non_finite(self.encoder.name, y, rows))
        w = None if self.sample_weight is None else self.sample_weight[rows]
        return Batch(_apply(self.transform, x, self.name), y, w, rows)

    def _non_finite(self, name, converted, rows, original=None):
        if not self.first_row:
            return _checks.describe_non_finite(name, converted, rows, original)
        if isinstance(rows, slice):
            start = (rows.start or 0) + self.first_row
            rows = slice(start, start + converted.shape[0])
        else:
            rows = np.asarray(rows) + self.first_row
        shifted = None if original is None else _Shifted(original, self.first_row)
        return _checks.describe_non_finite(name, converted, rows, shifted)

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


class _Shifted:
    """Reads ``arr`` by row numbers counted from ``first_row`` (for messages)."""

    def __init__(self, arr, first_row):
        self.arr = arr
        self.first_row = first_row
        self.dtype = arr.dtype

    def __getitem__(self, key):
        row, column = key
        return self.arr[row - self.first_row, column]
