"""The one dispatch: from whatever the user passed to the data source that serves it.

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

``.npy`` paths are opened by the callers (:func:`open_data_file`) before they
get here.  :func:`as_source` takes plain widths and a dtype;
:func:`data_source` reads them (and the input transform) from a network.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from .arrays import ArraySource
from .chunked import ChunkedSource
from .generators import GeneratorSource
from .reading import _check_store_shape
from .source import _is_batch_stream, _is_chunked
from .targets import TargetEncoder, sample_weights
from .transforms import check_transform


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


def input_transform(network):
    """The network's input transform, or None (older pickles have no attribute)."""
    return check_transform(getattr(network, "input_transform", None))


def data_source(
    network,
    x,
    y,
    categorical,
    sample_weight=None,
    class_weight=None,
    *,
    shuffle_buffer=None,
    steps_per_epoch=None,
):
    """The data source for ``x`` as ``network`` trains on it, checked for form.

    Reads the network's input and output widths, its dtype and its input
    transform, so that every batch the source yields holds exactly the values
    ``predict`` would feed the network.  The values of ``x`` are checked
    batch by batch as training reaches them; a plain in-memory float array is
    also checked once here, so a bad value is reported before any training
    happens.  ``sample_weight`` and ``class_weight`` become one weight per
    row (:func:`sample_weights`).
    """
    transform = input_transform(network)
    common = dict(
        n_features=network.layers[0],
        n_outputs=network.layers[-1],
        dtype=network.dtype,
        categorical=categorical,
        shuffle_buffer=shuffle_buffer,
        steps_per_epoch=steps_per_epoch,
        transform=transform,
    )
    if _is_batch_stream(x):
        if class_weight is not None:
            raise TypeError(
                "class_weight cannot be given with a batch generator; yield "
                "(x, y, sample_weight) batches instead"
            )
        return as_source(x, y, sample_weight=sample_weight, **common)
    if not _is_chunked(x):
        x = _checks.check_2d_source(x, n_features=network.layers[0])
        if type(x) is np.ndarray and x.dtype.kind == "f" and not _checks.all_finite(x):
            raise ValueError(_checks.describe_non_finite("x", x, None, x))
    source = as_source(x, y, **common)
    targets = source.y
    source.sample_weight = sample_weights(
        network,
        targets if not categorical else None,
        sample_weight,
        class_weight,
        labels=targets if categorical else None,
    )
    return source


def array_source(network, x, y, categorical, sample_weight=None, class_weight=None):
    """:func:`data_source` for arrays ``(x, y)`` (the name older callers use)."""
    return data_source(network, x, y, categorical, sample_weight, class_weight)
