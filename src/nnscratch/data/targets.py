"""Targets and weights: raw ``y`` to rows shaped like the output layer, and one check
for every sample weight and class weight the library takes."""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..utils import labels_from_targets
from .source import _is_lazy_array, _read_rows


class TargetEncoder:
    """Turns a batch of raw targets into rows shaped like the output layer.

    Parameters
    ----------
    n_outputs : int
        Units of the output layer.
    dtype : numpy dtype
    categorical : bool or None
        The raw targets are class labels, one-hot encoded per batch.  None
        (for a generator's batches only) decides per batch: 1-D targets for
        several output units are labels.
    name : str
        How messages name the targets ("y", "validation y").
    """

    def __init__(self, n_outputs, dtype, categorical, name="y"):
        if categorical is True and n_outputs == 1:
            raise ValueError(_checks.single_unit_categorical(name))
        self.n_outputs = n_outputs
        self.dtype = np.dtype(dtype)
        self.categorical = categorical
        self.name = name

    def prepare(self, y, n_samples):
        """Check the whole target array once; labels come back as small integers.

        Labels cost one integer per sample, so they are checked (a million at
        a time) and kept whole, in the smallest integer type that holds them.
        Float targets in memory are checked and converted here; a memory map
        or a chunked store of targets is only checked for its shape, and its
        values are converted and checked per batch.
        """
        if self.categorical:
            return self._prepare_labels(y, n_samples)
        if _is_lazy_array(y):
            if (
                len(y.shape) not in (1, 2)
                or y.shape[0] != n_samples
                or (y.shape[1] if len(y.shape) == 2 else 1) != self.n_outputs
            ):
                raise ValueError(
                    f"{self.name} must have shape ({n_samples}, "
                    f"{self.n_outputs}), got {tuple(y.shape)}"
                )
            if np.dtype(y.dtype).kind not in "biuf":
                text = _checks.TEXT_LABELS_HINT if np.dtype(y.dtype).kind in "USO" else ""
                raise TypeError(f"{self.name} must be numeric, got dtype {y.dtype}{text}")
            return y
        return _checks.check_targets(
            y, n_samples=n_samples, n_outputs=self.n_outputs, dtype=self.dtype, name=self.name
        )

    def _prepare_labels(self, y, n_samples):
        shape = getattr(y, "shape", None)
        if shape is None:
            return self._check_label_count(
                _checks.check_labels(y, n_classes=self.n_outputs, name=self.name), n_samples
            )
        if len(shape) == 0 or shape[0] != n_samples:
            rows = shape[0] if len(shape) else 0
            raise ValueError(f"{self.name} has {rows} rows, but x has {n_samples} samples")
        out = np.empty(n_samples, dtype=np.min_scalar_type(max(self.n_outputs - 1, 1)))
        step = 2**20
        for start in range(0, n_samples, step):
            part = _read_rows(y, start, min(start + step, n_samples))
            out[start : start + part.shape[0]] = _checks.check_labels(
                part, n_classes=self.n_outputs, name=self.name
            )
        return out

    def _check_label_count(self, labels, n_samples):
        if labels.shape[0] != n_samples:
            raise ValueError(
                f"{self.name} has {labels.shape[0]} rows, but x has {n_samples} samples"
            )
        return labels

    def encode(self, y_rows, categorical=None):
        """Targets of one batch, shape (b, n_outputs), in the network's dtype.

        ``categorical`` overrides the encoder's own setting (for a batch
        whose form was decided on its own).
        """
        if self.categorical if categorical is None else categorical:
            out = np.zeros((y_rows.shape[0], self.n_outputs), dtype=self.dtype)
            out[np.arange(y_rows.shape[0]), y_rows] = 1
            return out
        if y_rows.ndim == 1:
            y_rows = y_rows.reshape(-1, 1)
        return np.ascontiguousarray(y_rows, dtype=self.dtype)

    def encode_raw(self, y_raw, n_rows, where):
        """A generator's raw batch targets, checked and encoded; ``where`` names the batch."""
        name = f"{self.name} of {where}"
        categorical = self.categorical
        if categorical is None:  # labels or one-hot rows, whichever each batch holds
            categorical = self.n_outputs > 1 and np.ndim(y_raw) == 1
        if categorical:
            labels = _checks.check_labels(y_raw, n_classes=self.n_outputs, name=name)
            if labels.shape[0] != n_rows:
                raise ValueError(f"{name} has {labels.shape[0]} rows, but its x has {n_rows}")
            return self.encode(labels, categorical=True)
        return _checks.check_targets(
            y_raw, n_samples=n_rows, n_outputs=self.n_outputs, dtype=self.dtype, name=name
        )


def check_sample_weight(weights, n, dtype, *, name="sample_weight", rows_of="x"):
    """One weight per row: 1-D, finite, non-negative, ``n`` of them, in ``dtype``.

    Parameters
    ----------
    weights : array-like of shape (n,)
    n : int
        Rows the weights go with.
    dtype : numpy dtype
        The network's dtype.
    name : str
        How messages name the weights ("sample_weight of batch 3", ...).
    rows_of : str
        How messages name what the rows belong to ("x", "its x").

    Returns
    -------
    ndarray of shape (n,)
    """
    if np.ndim(weights) != 1:
        raise ValueError(
            f"{name} must be 1-D (one weight per sample), got shape {np.shape(weights)}"
        )
    out = _checks.check_x(np.reshape(weights, (-1, 1)), dtype=dtype, name=name)[:, 0]
    if out.shape[0] != n:
        raise ValueError(f"{name} has {out.shape[0]} entries, but {rows_of} has {n} samples")
    if (out < 0).any():
        raise ValueError(f"{name} must not hold negative weights")
    return out


def sample_weights(network, y, sample_weight, class_weight, labels=None):
    """One weight per row (``sample_weight`` times the class weight), or None when all are 1.

    Parameters
    ----------
    network : NeuralNetwork
        Read for ``layers[-1]`` and ``dtype`` only.
    y : ndarray of shape (n, n_outputs) or None
        Targets shaped like the output.
    sample_weight : array-like of shape (n,) or None
    class_weight : dict, 'balanced' or None
    labels : ndarray of int of shape (n,), optional
        The class labels directly, instead of ``y``.
    """
    n = labels.shape[0] if labels is not None else y.shape[0]
    weights = None
    if sample_weight is not None:
        weights = check_sample_weight(sample_weight, n, network.dtype)
    if class_weight is not None:
        if labels is None:
            labels = labels_from_targets(y)
        per_class = class_weights(class_weight, labels, network.layers[-1])
        row_weights = per_class[labels].astype(network.dtype)
        weights = row_weights if weights is None else weights * row_weights
    return weights


def class_weights(class_weight, labels, n_outputs):
    """The weight of each class: from a dict, or 'balanced' (inverse frequency)."""
    n_classes = max(n_outputs, 2)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        present = counts > 0
        weights = np.ones(n_classes)
        weights[present] = labels.shape[0] / (present.sum() * counts[present])
        return weights
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be a dict or 'balanced', got {type(class_weight).__name__}"
        )
    weights = np.ones(n_classes)
    for label, weight in class_weight.items():
        if not isinstance(label, (int, np.integer)) or not 0 <= label < n_classes:
            raise ValueError(
                f"class_weight has the key {label!r}, but classes are 0..{n_classes - 1}"
            )
        weights[label] = _checks.check_number(f"class_weight[{label}]", weight, low=0)
    return weights
