"""Where training batches come from.

The training loop (:mod:`nnscratch.training`) never indexes the whole data set
itself: it asks a *data source* for the batches of one epoch and trains on
each as it comes.  A source knows how many samples it holds, and hands out
:class:`Batch` records whose arrays are already validated and converted to
the network's dtype.

:class:`ArraySource` serves NumPy arrays and memory-mapped files: each batch's
rows are gathered and converted on their own, so a uint8 image file is never
converted to floating point as a whole, and the finiteness check runs per
batch.  For float data already of the network's dtype the values, the
shuffling and so the training are bit-identical to converting everything at
once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks


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


class TargetEncoder:
    """Turns a batch of raw targets into rows shaped like the output layer.

    Parameters
    ----------
    n_outputs : int
        Units of the output layer.
    dtype : numpy dtype
    categorical : bool
        The raw targets are class labels, one-hot encoded per batch.
    name : str
        How messages name the targets ("y", "validation y").
    """

    def __init__(self, n_outputs, dtype, categorical, name="y"):
        self.n_outputs = n_outputs
        self.dtype = dtype
        self.categorical = categorical
        self.name = name

    def prepare(self, y, n_samples):
        """Check the whole target array once; labels come back as integers.

        Labels cost one integer per sample, so they are checked and kept
        whole; float targets are checked here for their shape and later per
        batch for their values.
        """
        if self.categorical:
            labels = _checks.check_labels(y, n_classes=self.n_outputs, name=self.name)
            if labels.shape[0] != n_samples:
                raise ValueError(f"{self.name} has {labels.shape[0]} rows, but x has "
                                 f"{n_samples} samples")
            return labels
        return _checks.check_targets(y, n_samples=n_samples, n_outputs=self.n_outputs,
                                     dtype=self.dtype, name=self.name)

    def encode(self, y_rows):
        """Targets of one batch, shape (b, n_outputs), in the network's dtype."""
        if self.categorical:
            out = np.zeros((y_rows.shape[0], self.n_outputs), dtype=self.dtype)
            out[np.arange(y_rows.shape[0]), y_rows] = 1
            return out
        return y_rows


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
    """

    def __init__(self, x, y, encoder, sample_weight, dtype, rows=None, name="x"):
        self.x = x
        self.y = y
        self.encoder = encoder
        self.sample_weight = sample_weight
        self.dtype = np.dtype(dtype)
        self.rows = rows
        self.name = name

    @property
    def n_samples(self):
        return self.x.shape[0] if self.rows is None else self.rows.shape[0]

    def batches(self, batch_size, rng=None, shuffle=True):
        """The batches of one epoch, in a fresh random order when ``shuffle``.

        The order costs one draw of ``rng.permutation(n_samples)``, the same
        draw as the article's loop makes.
        """
        n = self.n_samples
        order = rng.permutation(n) if shuffle else None
        if self.rows is not None:
            order = self.rows if order is None else self.rows[order]
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
        return Batch(x, y, w, rows)

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
