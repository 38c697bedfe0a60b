"""Using a network on data: ``predict``, ``score`` and the validation figures of ``fit``.

Every input kind goes through the same road as in training: the data package
(:mod:`nnscratch.data`) converts each chunk to the network's dtype, checks it
and applies the network's input transform, so that what is scored or predicted
is what training saw.  In-memory input is used at once; memory maps, chunked
stores and generators are read in chunks of
:func:`~nnscratch.data.predict_rows` rows (a chunk's widest array is at most
:data:`~nnscratch.data.PREDICT_CHUNK_BYTES`); in-memory input is pushed through
the layers in chunks of the same size.

This module receives the network as an argument and never imports the network
module.
"""

from __future__ import annotations

import numpy as np

from . import _checks
from . import data as data_module
from .data import input_transform
from .utils import labels_from_output

__all__ = ["evaluate", "forward_in_chunks", "predict", "score"]


def evaluate(network, validation, y=None, sample_weight=None, *, classify=False, prefix=""):
    """Mean loss (weighted when weights are given) and, when ``classify``, the accuracy.

    ``validation`` is either arrays ``(x, y, w)`` already converted and
    transformed (pass them as ``validation, y, sample_weight``, as before), or
    a data source, streamed in order :func:`~nnscratch.data.predict_rows` rows
    at a time so that nothing is held whole.
    """
    if y is not None or isinstance(validation, np.ndarray):
        return _evaluate_arrays(network, validation, y, sample_weight, classify, prefix)
    total = weight_total = 0.0
    correct = seen = 0
    units = network.layers[-1] if network.multilabel() else 1
    single = None
    for index, batch in enumerate(validation.batches(_rows(network), None, shuffle=False)):
        output = network._forward_fast(batch.x)
        per_sample = network.loss.f(output, batch.y)[:, 0]
        if batch.sample_weight is None:
            total += float(per_sample.sum(dtype=np.float64))
            weight_total += per_sample.shape[0]
        else:
            total += float(batch.sample_weight.astype(np.float64) @ per_sample)
            weight_total += float(batch.sample_weight.sum(dtype=np.float64))
        if classify:
            correct += network._count_correct(output, batch.y)
        seen += batch.x.shape[0]
        # a source of one chunk is scored with exactly the arithmetic of the array path
        single = (output, batch) if index == 0 else None
    if single is not None:
        return _evaluate_arrays(
            network, None, single[1].y, single[1].sample_weight, classify, prefix, output=single[0]
        )
    logs = {prefix + "loss": total / weight_total if weight_total else 0.0}
    if classify:
        logs[prefix + "accuracy"] = correct / (seen * units)
    return logs


def _evaluate_arrays(network, x, y, sample_weight, classify, prefix, output=None):
    if output is None:
        output = forward_in_chunks(network, x)
    per_sample = network.loss.f(output, y)[:, 0]
    if sample_weight is None:
        logs = {prefix + "loss": float(np.mean(per_sample))}
    else:
        total = float(sample_weight.sum())
        logs = {prefix + "loss": float(sample_weight @ per_sample) / total if total else 0.0}
    if classify:
        units = y.shape[1] if network.multilabel() else 1
        logs[prefix + "accuracy"] = network._count_correct(output, y) / (y.shape[0] * units)
    return logs


def _rows(network):
    """Rows per predict chunk for ``network``: the library's one rule."""
    return data_module.predict_rows(network.layers, network.dtype)


def forward_in_chunks(network, x, chunk=None):
    """The network's output for converted (and transformed) ``x``, a chunk at a time.

    ``chunk`` rows (default :func:`~nnscratch.data.predict_rows`), so that the
    activations of a chunk, not of the whole input, are held at once.
    """
    chunk = _rows(network) if chunk is None else chunk
    parts = [network._forward_fast(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def predict(network, x, *, labels=False, out=None):
    """:meth:`NeuralNetwork.predict`: in-memory input at once, other input streamed.

    Memory maps, chunked stores and generators are read
    :func:`~nnscratch.data.predict_rows` rows at a time; the outputs are
    gathered into a new array, or written into ``out`` (e.g. a memory map
    opened for writing) when it is given, which is then returned.
    """
    if labels:
        _checks.check_gives_labels(network)
    transform = input_transform(network)
    if out is None and not data_module.is_streamed(x):
        given = x
        x = _checks.check_x(x, dtype=network.dtype, n_features=network.layers[0], allow_1d=True)
        single = np.ndim(given) == 1  # x is an array now, so this cannot fail
        if transform is None:
            result = forward_in_chunks(network, x)
            if result is x:  # identity network on its own input: never hand back the caller's
                result = result.copy()
        else:
            result = forward_in_chunks(network, data_module._apply(transform, x, "x"))
        if labels:
            result = labels_from_output(result, network.multilabel())
        return result[0] if single else result
    if out is not None and np.ndim(x) == 1 and not data_module._is_batch_stream(x):
        raise ValueError("out= needs 2-D x (samples, features); predict one sample without it")
    chunks = data_module.iter_x_chunks(
        x,
        _rows(network),
        network.dtype,
        n_features=network.layers[0],
        transform=transform,
    )
    if out is not None:
        return _predict_into(network, chunks, labels, out, _n_rows(x))
    parts = []
    for chunk in chunks:
        result = network._forward_fast(chunk)
        parts.append(labels_from_output(result, network.multilabel()) if labels else result)
    if not parts:
        raise ValueError("x is empty: it has 0 samples")
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _holds(dtype, largest):
    """True when ``dtype`` stores every whole number 0..``largest`` exactly."""
    if dtype.kind == "b":
        return largest <= 1
    if dtype.kind in "iu":
        return np.iinfo(dtype).max >= largest
    if dtype.kind == "f":
        return largest <= 2 ** (np.finfo(dtype).nmant + 1)
    return False


def _n_rows(x):
    shape = getattr(x, "shape", None)
    return None if shape is None else shape[0]


def _predict_into(network, chunks, labels, out, n):
    """Write each chunk's outputs (or labels) into ``out``; checks its shape first."""
    m = network.layers[-1]
    if labels:
        expected = (n, m) if network.multilabel() and m > 1 else (n,)
    else:
        expected = (n, m)
    shape = getattr(out, "shape", None)
    if shape is None or not hasattr(out, "__setitem__"):
        raise TypeError(f"out must be an array (a memory map, say), got {type(out).__name__}")
    if (
        len(shape) != len(expected)
        or shape[1:] != expected[1:]
        or (n is not None and shape[0] != n)
    ):
        want = tuple("n" if d is None else d for d in expected)
        raise ValueError(f"out has shape {tuple(shape)}, but the predictions have shape {want}")
    if not labels and np.dtype(out.dtype).kind != "f":
        raise TypeError(f"out must have a float dtype for the outputs, got {out.dtype}")
    if labels:
        largest = 1 if network.multilabel() else m - 1
        if not _holds(np.dtype(out.dtype), largest):
            raise TypeError(
                f"out has dtype {out.dtype}, which cannot hold every label of this network "
                f"(0 to {largest}); labels would be stored wrong. Use an integer dtype "
                f"such as {np.min_scalar_type(largest)} or wider (np.int64 always works)"
            )
    start = 0
    for chunk in chunks:
        result = network._forward_fast(chunk)
        if labels:
            result = labels_from_output(result, network.multilabel())
        stop = start + result.shape[0]
        if stop > shape[0]:
            raise ValueError(f"out has {shape[0]} rows, but x yielded more samples")
        out[start:stop] = result
        start = stop
    if start != shape[0]:
        raise ValueError(f"out has {shape[0]} rows, but x held {start} samples")
    return out


def score(network, x, y, *, accuracy=False):
    """:meth:`NeuralNetwork.score`: in-memory input at once, other input streamed.

    For streamed ``x`` (a memory map, a chunked store, a generator yielding
    ``(x, y)``) the loss or accuracy is summed chunk by chunk; ``y`` may then
    be a memory map or a chunked store too.
    """
    m = network.layers[-1]
    if accuracy:
        _checks.check_gives_labels(network, "accuracy=True")
    transform = input_transform(network)
    if not data_module.is_streamed(x) and not data_module._is_lazy_array(y):
        x = _checks.check_x(x, dtype=network.dtype, n_features=network.layers[0])
        if transform is not None:
            x = data_module._apply(transform, x, "x")
        if accuracy:
            predicted = labels_from_output(forward_in_chunks(network, x), network.multilabel())
            truth = _checks.check_accuracy_targets(
                y, n_samples=x.shape[0], n_outputs=m, multilabel=network.multilabel()
            )
            return float(np.mean(predicted == truth))
        as_labels = np.ndim(y) == 1 and m > 1
        y_arr = _checks.check_targets(
            y, n_samples=x.shape[0], n_outputs=m, dtype=network.dtype, categorical=as_labels
        )
        return float(np.mean(network.loss.f(forward_in_chunks(network, x), y_arr)))
    if y is None:  # a generator: labels or one-hot rows, decided per batch
        categorical = None
    else:
        categorical = len(y.shape if hasattr(y, "shape") else np.shape(y)) == 1 and m > 1
    source = data_module.as_source(
        x,
        y,
        n_features=network.layers[0],
        n_outputs=m,
        dtype=network.dtype,
        categorical=categorical,
        transform=transform,
    )
    logs = evaluate(network, source, classify=accuracy)
    return logs["accuracy"] if accuracy else logs["loss"]
