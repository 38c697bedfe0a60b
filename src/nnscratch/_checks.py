"""Input checks shared by the whole library.

Each check names the argument, says what was expected and what came, and
returns the cleaned value, so callers write ``x = check_x(x, ...)`` once.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_number(
    name,
    value,
    *,
    low=None,
    high=None,
    low_open=False,
    high_open=False,
    owner=None,
    allow_inf=False,
):
    """A finite real number within the given bounds, returned as a float.

    ``low_open`` / ``high_open`` exclude the bound itself.  ``owner`` prefixes
    the message ("Adam: beta_1 must ...").  ``allow_inf`` lets +-inf through
    (never NaN).  The library's one number check.
    """
    prefix = f"{owner}: " if owner else ""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
        or math.isnan(value)
        or (math.isinf(value) and not allow_inf)
    ):
        raise TypeError(f"{prefix}{name} must be a finite real number, got {value!r}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "" if low is None else f"{low} {'<' if low_open else '<='} "
        hi = "" if high is None else f" {'<' if high_open else '<='} {high}"
        raise ValueError(f"{prefix}{name} must satisfy {lo}{name}{hi}, got {value!r}")
    return value if allow_inf and math.isinf(value) else float(value)


def check_positive_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral,)):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_layers(layers):
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__"):
        raise TypeError(f"layers must be a list of node counts such as [5, 10, 2], got {layers!r}")
    layers = list(layers)
    if len(layers) < 2:
        raise ValueError(
            f"layers needs at least an input and an output size (>= 2 entries), got {layers!r}"
        )
    for i, size in enumerate(layers):
        try:
            check_positive_int(f"layers[{i}]", size)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{err} (layers = {layers!r})") from None
    return [int(s) for s in layers]


def check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {dtype!r}")
    return dt


def as_generator(seed, name="seed"):
    """An int, None or an ``np.random.Generator`` -> a Generator (never the global state)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(
            f"{name} must be None, a non-negative int or a numpy.random.Generator, "
            f"got {type(seed).__name__} {seed!r}"
        )
    return np.random.default_rng(int(seed))


#: What a message about text targets adds: how to encode them.
TEXT_LABELS_HINT = (
    "; text labels must be encoded as class numbers first, e.g. "
    "classes, codes = np.unique(y, return_inverse=True), then fit codes with "
    "categorical=True (or nnscratch.to_categorical(codes)); or use "
    "nnscratch.NNClassifier, which takes text labels as they are"
)


def single_unit_categorical(name="y"):
    """The refusal of ``categorical=True`` for a network with one output unit."""
    return (
        f"categorical=True one-hot encodes {name} into one column per class, but the output "
        f"layer has a single unit (a yes/no output such as one sigmoid), which takes 0/1 "
        f"labels as they are: drop categorical=True (or give the output layer one unit "
        f"per class with softmax)"
    )


def _numeric_array(value, name, targets=False):
    hint = TEXT_LABELS_HINT if targets else ""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got a string{hint}")
    try:
        arr = np.asarray(value)
    except Exception as err:  # ragged lists and the like
        raise ValueError(f"{name} could not be turned into an array: {err}") from None
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            found = _first_non_numeric(arr)
            text = " is str " in found or " is bytes " in found
            raise TypeError(f"{name} must be numeric, but {found}{hint if text else ''}") from None
    if arr.dtype.kind not in "biuf":
        text = hint if arr.dtype.kind in "US" else ""
        raise TypeError(f"{name} must be numeric, got an array of dtype {arr.dtype}{text}")
    return arr


def _first_non_numeric(arr):
    """Where the first entry that is not a number sits, and what it is."""
    for index in np.ndindex(*arr.shape):
        value = arr[index]
        try:
            float(value)
        except (TypeError, ValueError):
            where = ", ".join(str(i) for i in index)
            return f"the entry at [{where}] is {type(value).__name__} {value!r}"[:300]
    return "it holds Python objects that cannot be read as numbers"


def check_x(x, *, dtype, n_features=None, name="x", allow_1d=False):
    """Return ``x`` as a C-contiguous 2-D array of ``dtype`` with finite values.

    A 1-D ``x`` is one sample when ``allow_1d`` (it comes back with shape (1, d)).
    """
    arr = _numeric_array(x, name)
    if arr.ndim == 1 and allow_1d:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        extra = " (or 1-D for one sample)" if allow_1d else ""
        raise ValueError(
            f"{name} must be a 2-D array (samples, features){extra}, "
            f"got {arr.ndim}-D with shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but the network expects {n_features}"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, in our words
        converted = np.ascontiguousarray(arr, dtype=dtype)
    if not all_finite(converted):
        raise ValueError(describe_non_finite(name, converted, None, arr))
    return converted


def check_2d_source(x, *, n_features, name="x"):
    """A 2-D array of real numbers with the right width, NOT converted.

    NumPy arrays and memory maps pass through as they are (any integer or
    float dtype), so that training can convert them batch by batch; other
    array-likes (lists, DataFrames) become arrays first.
    """
    arr = x if isinstance(x, np.ndarray) else _numeric_array(x, name)
    if arr.dtype == object:
        arr = _numeric_array(arr, name)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got an array of dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (samples, features), got {arr.ndim}-D "
            f"with shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has 0 samples")
    if arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but the network expects {n_features}"
        )
    return arr


def check_accuracy_targets(y, *, n_samples, n_outputs, multilabel, name="y"):
    """True labels for an accuracy, checked as strictly as ``fit`` checks them.

    Accepts class labels (1-D, whole numbers in range) or rows shaped like the
    output (one-hot rows, or 0/1 per unit for multi-label outputs).
    """
    arr = _numeric_array(y, name)
    if multilabel and n_outputs > 1:
        arr = check_targets(
            arr, n_samples=n_samples, n_outputs=n_outputs, dtype=np.float64, name=name
        )
        if not np.isin(arr, (0.0, 1.0)).all():
            raise ValueError(f"{name} must hold 0 or 1 per output unit for a multi-label accuracy")
        return arr.astype(np.intp)
    if arr.ndim == 2 and arr.shape[1] == n_outputs and n_outputs > 1:
        arr = check_targets(
            arr, n_samples=n_samples, n_outputs=n_outputs, dtype=np.float64, name=name
        )
        return np.argmax(arr, axis=1)
    labels = check_labels(arr, n_classes=max(n_outputs, 2), name=name)
    if labels.shape[0] != n_samples:
        raise ValueError(f"{name} has {labels.shape[0]} rows, but x has {n_samples} samples")
    return labels


def first_non_finite(arr, chunk_rows=4096):
    """``(row, column)`` of the first NaN or infinity of a 2-D array, or None.

    Searched a block of rows at a time, so the search costs a few blocks of
    memory even for an array that is NaN throughout.
    """
    for start in range(0, arr.shape[0], chunk_rows):
        block = np.isfinite(arr[start : start + chunk_rows])
        if not block.all():
            row, column = np.unravel_index(np.argmin(block), block.shape)
            return start + int(row), int(column)
    return None


def describe_non_finite(name, converted, rows=None, original=None):
    """A message naming the first non-finite entry of ``converted``.

    Parameters
    ----------
    name : str
        How the array is called in the message.
    converted : ndarray, 2-D
        The array in the network's dtype.
    rows : slice or ndarray of int, optional
        Which source rows ``converted`` holds (a batch); rows are named in the
        source's numbering.
    original : ndarray, optional
        The data before conversion (the whole source when ``rows`` is given).
        A value that was finite there overflowed in the conversion, and is
        reported as out of range rather than as NaN.
    """
    where = first_non_finite(converted)
    if where is None:
        return f"{name} holds non-finite values (NaN or inf)"
    row, column = where
    source_row = row
    if isinstance(rows, slice):
        source_row = (rows.start or 0) + row
    elif rows is not None:
        source_row = int(np.asarray(rows)[row])
    if original is not None and original.dtype.kind in "biuf":
        value = original[source_row, column].item()
        if math.isfinite(value):
            return (
                f"{name} holds {value!r} at row {source_row}, column {column}, which is "
                f"out of range for {converted.dtype} (largest "
                f"{np.finfo(converted.dtype).max:.4g}); scale the data or use float64"
            )
    value = converted[row, column].item()
    return (
        f"{name} holds non-finite values (NaN or inf), the first at row {source_row}, "
        f"column {column} ({value!r})"
    )


def all_finite(arr):
    """True when no entry is NaN or infinite, in one fast pass for the usual case.

    The dot product of the data with itself is finite whenever every entry is;
    only when it is not (a NaN, an inf, or merely huge values whose squares
    overflow) is the exact elementwise test needed.
    """
    flat = arr.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.dot(flat, flat)):
            return True
    return bool(np.isfinite(arr).all())


def check_labels(y, *, n_classes, name="y"):
    """Integer class labels in ``[0, n_classes)`` as a 1-D int array.

    With ``n_classes=None`` only whole, non-negative labels are required.
    """
    arr = _numeric_array(y, name, targets=True)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class labels, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            bad = arr[(~np.isfinite(arr)) | (arr != np.round(arr))][0]
            raise ValueError(
                f"{name} must hold whole-number class labels, got values such as {bad.item()!r}"
            )
    if arr.size and arr.min() < 0:
        raise ValueError(
            f"{name} holds the negative label {arr.min().item()}; class labels count from 0"
        )
    if arr.size and n_classes is not None and arr.max() >= n_classes:
        raise ValueError(
            f"{name} holds labels from {arr.min()} to {arr.max()}, but the output "
            f"layer has {n_classes} units, so labels must lie in 0..{n_classes - 1}"
        )
    return arr.astype(np.intp)


def check_targets(y, *, n_samples, n_outputs, dtype, categorical=False, name="y"):
    """Targets as an ``(n_samples, n_outputs)`` array of ``dtype``.

    ``categorical=True`` takes class labels and one-hot encodes them.  A 1-D
    ``y`` is accepted for a single output unit.
    """
    if categorical:
        if n_outputs == 1:
            raise ValueError(single_unit_categorical(name))
        labels = check_labels(y, n_classes=n_outputs, name=name)
        out = np.zeros((labels.shape[0], n_outputs), dtype=dtype)
        out[np.arange(labels.shape[0]), labels] = 1
        arr = out
    else:
        arr = _numeric_array(y, name, targets=True)
        if arr.ndim == 1:
            if n_outputs != 1:
                raise ValueError(
                    f"{name} is 1-D, but the output layer has {n_outputs} units: pass one-hot "
                    f"targets of shape (n, {n_outputs}), or class labels with categorical=True"
                )
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-D (samples, outputs), got shape {arr.shape}")
        if arr.shape[1] != n_outputs:
            raise ValueError(
                f"{name} has {arr.shape[1]} columns, but the output layer has {n_outputs} units"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            converted = np.ascontiguousarray(arr, dtype=dtype)
        if not all_finite(converted):
            raise ValueError(describe_non_finite(name, converted, None, arr))
        arr = converted
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} rows, but x has {n_samples} samples")
    return arr


def check_shape(what, got, expected, hint=""):
    """Raise if a user function returned an array of the wrong shape."""
    got = np.shape(got)
    if got != tuple(expected):
        raise ValueError(f"{what} returned shape {got}; {hint}must return {tuple(expected)}")


#: Built-in output activations whose outputs are values, not class scores.
VALUE_OUTPUTS = ("identity", "exp")
#: Losses whose targets are classes, whatever the output activation.
CLASS_LOSSES = ("categorical_crossentropy", "binary_crossentropy")


def labels_refusal(network, what="labels=True"):
    """Why ``network`` cannot give class labels, or None when it can.

    Labels come from class scores: a softmax or sigmoid output, or any output
    trained with a cross-entropy.  A built-in value output (``identity``,
    ``exp``) trained with another loss is a regression network, whose 0/1 or
    arg-max "labels" would be made up; an output pair of the user's own is
    trusted (the library cannot tell what it computes).
    """
    output = network.output_activation
    name = output.builtin or output.name
    if name not in VALUE_OUTPUTS or network.loss.name in CLASS_LOSSES:
        return None
    m = network.layers[-1]
    threshold = "net.predict(x) > 0.5" if m == 1 else "net.predict(x).argmax(axis=1)"
    return (
        f"{what} needs a classifier, but this network is a regression network: its "
        f"output layer is '{name}' ({m} unit{'s' if m != 1 else ''}) trained with the "
        f"loss '{network.loss.name}', so its outputs are values, not class scores. "
        f"Build a classifier (output 'softmax' or 'sigmoid' with a cross-entropy loss), "
        f"or turn the values into classes yourself ({threshold})"
    )


def check_gives_labels(network, what="labels=True"):
    """Raise ``ValueError`` for a regression network (see :func:`labels_refusal`)."""
    reason = labels_refusal(network, what)
    if reason is not None:
        raise ValueError(reason)
