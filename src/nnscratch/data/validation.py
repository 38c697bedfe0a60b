"""Validation data: held out of the training data (``validation_split``), or given
(``validation_data``), prepared once for scoring after every epoch."""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..utils import labels_from_targets, split_indices
from .arrays import ArraySource
from .chunked import ChunkedSource
from .dispatch import as_source, input_transform
from .source import _apply, _is_batch_stream, _is_lazy_array
from .targets import check_sample_weight


def split_validation(network, source, fraction):
    """Hold out ``fraction`` of the source's rows for validation; memory stays bounded.

    * Arrays in memory: the held-out rows are drawn from the network's
      generator (stratified by class for classification) as one index array,
      gathered once for scoring; training runs over the remaining rows of the
      same arrays.
    * Memory maps: the same draw, but the held-out rows stay in the file and
      are gathered a chunk at a time whenever they are scored.
    * Chunked stores: whole blocks (storage chunks) are held out, so that
      both parts are still read chunk by chunk: the blocks are taken in an
      order drawn from the network's generator until they hold at least
      ``fraction`` of the rows (at least one block, never all of them).  Not
      stratified.
    * Generators cannot be split: pass ``validation_data`` instead.
    """
    fraction = _checks.check_number("validation_split", fraction, low=0, high=1, high_open=True)
    if source.kind == "generator":
        raise ValueError(
            "validation_split needs data it can index (arrays or chunked "
            "stores); for a batch generator pass validation_data instead"
        )
    if source.kind == "chunked":
        return _split_blocks(network, source, fraction)
    n = source.n_samples
    categorical = source.encoder.categorical
    if categorical:
        labels = source.y
    elif network.is_classifier():
        labels = labels_from_targets(source.y)
    else:
        labels = None
    held = split_indices(n, fraction, network.rng, labels=labels)
    keep = np.ones(n, dtype=bool)
    keep[held] = False
    train_rows = np.flatnonzero(keep)
    train = ArraySource(
        source.x,
        source.y,
        source.encoder,
        source.sample_weight,
        source.dtype,
        rows=train_rows,
        name=source.name,
        transform=source.transform,
    )
    if isinstance(source.x, np.memmap):
        validation = ArraySource(
            source.x,
            source.y,
            source.encoder,
            None,
            source.dtype,
            rows=np.sort(held),
            name=source.name,
            transform=source.transform,
        )
        return train, validation
    validation = source.batch(held)
    return train, (validation.x, validation.y, None)


def _split_blocks(network, source, fraction):
    blocks = source.blocks
    if len(blocks) < 2:
        raise ValueError(
            f"validation_split holds out whole chunks of a chunked store, but "
            f"{source.name} has only {len(blocks)} chunk along its rows; rechunk "
            f"it or pass validation_data"
        )
    want = fraction * source.n_samples
    order = network.rng.permutation(len(blocks))
    held, count = [], 0
    for i in order[:-1]:
        if count >= want and held:
            break
        held.append(int(i))
        count += blocks[i][1] - blocks[i][0]
    held_set = set(held)
    train_blocks = [b for i, b in enumerate(blocks) if i not in held_set]
    val_blocks = [blocks[i] for i in sorted(held)]

    def part(kept, weights):
        return ChunkedSource(
            source.x,
            source.y,
            source.encoder,
            weights,
            source.dtype,
            blocks=kept,
            shuffle_buffer=source.shuffle_buffer,
            name=source.name,
            transform=source.transform,
        )

    return part(train_blocks, source.sample_weight), part(val_blocks, None)


def validation_arrays(network, validation_data):
    """What ``validation_data`` becomes for scoring after each epoch.

    A tuple of in-memory arrays ``(x_val, y_val[, w_val])`` is converted (and
    transformed) once, ``y_val`` as labels or one-hot rows, whichever it is.
    A tuple whose ``x_val`` is a memory map or a chunked store, or a batch
    generator in place of the tuple, becomes a data source streamed in chunks
    at every scoring.
    """
    m = network.layers[-1]
    transform = input_transform(network)
    if _is_batch_stream(validation_data):
        if not callable(validation_data) and hasattr(validation_data, "__next__"):
            raise TypeError(
                "validation_data is a one-shot generator: the first scoring would use it "
                "up and every later epoch would find it empty. Pass a function that "
                "returns a fresh iterator (validation_data=lambda: make_batches()), an "
                "iterable object whose __iter__ starts over (a Keras PyDataset, a list "
                "of batches), or arrays (x_val, y_val)"
            )
        return as_source(
            validation_data,
            None,
            n_features=network.layers[0],
            n_outputs=m,
            dtype=network.dtype,
            categorical=None,
            transform=transform,
            name="validation x",
            y_name="validation y",
        )
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise TypeError(
            "validation_data must be a tuple (x_val, y_val) or "
            "(x_val, y_val, sample_weight_val), or a batch generator, got "
            f"{type(validation_data).__name__}"
            + (
                f" of length {len(validation_data)}"
                if isinstance(validation_data, (tuple, list))
                else ""
            )
        )
    x_raw, y_raw = validation_data[0], validation_data[1]
    w_raw = validation_data[2] if len(validation_data) == 3 else None
    if _is_lazy_array(x_raw):
        y_shape = getattr(y_raw, "shape", None) or np.shape(y_raw)
        source = as_source(
            x_raw,
            y_raw,
            n_features=network.layers[0],
            n_outputs=m,
            dtype=network.dtype,
            categorical=m > 1 and len(y_shape) == 1,
            transform=transform,
            name="validation x",
            y_name="validation y",
        )
        if w_raw is not None:
            source.sample_weight = _validation_weights(network, w_raw, source.n_samples)
        return source
    x_val = _checks.check_x(
        x_raw, dtype=network.dtype, n_features=network.layers[0], name="validation x"
    )
    as_labels = m > 1 and np.ndim(y_raw) == 1
    y_val = _checks.check_targets(
        y_raw,
        n_samples=x_val.shape[0],
        n_outputs=m,
        dtype=network.dtype,
        categorical=as_labels,
        name="validation y",
    )
    w_val = None
    if w_raw is not None:
        w_val = _validation_weights(network, w_raw, x_val.shape[0])
    if transform is not None:
        x_val = _apply(transform, x_val, "validation x")
    return x_val, y_val, w_val


def _validation_weights(network, w_raw, n):
    return check_sample_weight(
        w_raw, n, network.dtype, name="validation sample_weight", rows_of="validation x"
    )
