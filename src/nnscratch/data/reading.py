"""Reading any input kind in order, a chunk of rows at a time (for predict, score and
:meth:`Standardize.fit`)."""

from __future__ import annotations

import numpy as np

from .. import _checks
from .chunked import row_blocks
from .source import (
    _apply,
    _convert,
    _is_batch_stream,
    _is_chunked,
    _read_rows,
    _RowsOf,
    check_mapped_file,
)


def _check_store_shape(x, n_features, name):
    if np.dtype(x.dtype).kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got a store of dtype {x.dtype}")
    if len(x.shape) != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {tuple(x.shape)}")
    if any(isinstance(d, float) and d != d for d in x.shape):  # Dask: unknown chunk sizes
        raise ValueError(
            f"{name} is a Dask array whose chunk sizes are unknown (shape "
            f"{tuple(x.shape)}), as after boolean indexing; call "
            f"{name}.compute_chunk_sizes() first, or {name}.persist() then that"
        )
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
    check_mapped_file(arr, name)
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
