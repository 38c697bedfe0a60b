"""Where training batches come from: arrays, memory maps, chunked stores, generators.

The training loop (:mod:`nnscratch.training`) never indexes the whole data set
itself: it asks a *data source* for the batches of one epoch and trains on
each as it comes.  Every source has

* ``n_samples``: the rows of one epoch, or None when only the data knows
  (a generator);
* ``batches(batch_size, rng, shuffle)``: the :class:`Batch` records of one
  epoch, already checked for finite values and converted to the network's
  dtype.

:func:`as_source` picks the source for what it is given (arrays and memory maps,
chunked stores, generators; the table is in ``nnscratch.data.dispatch``).

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

The package, one module per question:

* :mod:`.source`: the :class:`DataSource` protocol, the :class:`Batch`
  record, what kind of input something is, reading rows;
* :mod:`.dispatch`: :func:`as_source` and :func:`data_source`, the one
  dispatch from input to source;
* :mod:`.arrays`, :mod:`.chunked`, :mod:`.generators`: the sources;
* :mod:`.transforms`: the input transforms and their one registry (each
  transform also builds its own ONNX nodes);
* :mod:`.targets`: targets, sample weights and class weights;
* :mod:`.validation`: ``validation_split`` and ``validation_data``;
* :mod:`.reading`: any input in order, chunk by chunk (predict, score);
* :mod:`.prefetch`, :mod:`.files`.
"""

from __future__ import annotations

from .arrays import ArraySource
from .chunked import ChunkedSource, check_shuffle_buffer, row_blocks
from .dispatch import array_source, as_source, data_source, input_transform
from .files import open_data_file
from .generators import GeneratorSource
from .prefetch import prefetch
from .reading import iter_x_chunks
from .source import (
    MAX_BLOCK_BYTES,
    PREDICT_CHUNK_BYTES,
    PREDICT_ROWS,
    SHUFFLE_BUFFER_BYTES,
    Batch,
    DataSource,
    _apply,  # noqa: F401 - kept for callers of the old module
    _is_batch_stream,  # noqa: F401
    _is_chunked,  # noqa: F401
    _is_lazy_array,  # noqa: F401
    _read_rows,  # noqa: F401
    is_lazy_array,
    is_streamed,
    predict_rows,
)
from .targets import TargetEncoder, check_sample_weight, class_weights, sample_weights
from .transforms import (
    Scale,
    Standardize,
    Transform,
    check_transform,
    input_transforms,
    register_transform,
    transform_from_config,
    transform_to_config,
)
from .validation import split_validation, validation_arrays

__all__ = [
    "ArraySource",
    "array_source",
    "Batch",
    "ChunkedSource",
    "DataSource",
    "GeneratorSource",
    "MAX_BLOCK_BYTES",
    "PREDICT_CHUNK_BYTES",
    "PREDICT_ROWS",
    "predict_rows",
    "SHUFFLE_BUFFER_BYTES",
    "Scale",
    "Standardize",
    "TargetEncoder",
    "Transform",
    "as_source",
    "check_sample_weight",
    "check_shuffle_buffer",
    "check_transform",
    "class_weights",
    "data_source",
    "input_transform",
    "input_transforms",
    "is_lazy_array",
    "is_streamed",
    "iter_x_chunks",
    "open_data_file",
    "prefetch",
    "register_transform",
    "row_blocks",
    "sample_weights",
    "split_validation",
    "transform_from_config",
    "transform_to_config",
    "validation_arrays",
]
