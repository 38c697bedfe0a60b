"""Sources over batch generators: a function returning an iterator of batches, or an iterable."""

from __future__ import annotations

import numpy as np

from .. import _checks
from .source import Batch, _apply, _convert, _is_chunked, _read_rows, _RowsOf
from .targets import check_sample_weight


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
    ran_out = None

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
        self.ran_out = None  # (epoch, steps) when it ended before steps_per_epoch
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
                if self.steps_per_epoch is not None and step > 0:
                    self.ran_out = (self._epochs, step)
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
            w = check_sample_weight(
                item[2], x.shape[0], self.dtype, name=f"sample_weight of {where}", rows_of="its x"
            )
        return Batch(_apply(self.transform, x, self.name), y, w, rows)

    def __repr__(self):
        return (
            f"GeneratorSource({type(self.data).__name__}, steps_per_epoch={self.steps_per_epoch})"
        )


_END = object()
