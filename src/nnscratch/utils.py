"""Small helpers: one-hot encoding and seeded, stratified splits."""

from __future__ import annotations

import numpy as np

from ._checks import as_generator, check_labels, check_positive_int

MAX_INFERRED_CLASSES = 100_000
"""to_categorical refuses to guess more classes than this (a stray huge label would
otherwise ask for gigabytes)."""


def to_categorical(labels, num_classes=None):
    """One-hot encode integer class labels.

    Parameters
    ----------
    labels : array-like of int, shape (n,)
        Class indices starting at 0.
    num_classes : int, optional
        Width of the result; by default ``max(labels) + 1``.

    Returns
    -------
    ndarray of shape (n, num_classes), float64
    """
    if num_classes is None:
        labels = check_labels(labels, n_classes=None, name="labels")
        if labels.size == 0:
            raise ValueError("labels is empty; pass num_classes to encode an empty array")
        num_classes = int(labels.max()) + 1
        if num_classes > MAX_INFERRED_CLASSES:
            raise ValueError(
                f"labels go up to {num_classes - 1}; pass num_classes explicitly "
                f"if there really are {num_classes} classes"
            )
    else:
        num_classes = check_positive_int("num_classes", num_classes)
        labels = check_labels(labels, n_classes=num_classes, name="labels")
    out = np.zeros((labels.shape[0], num_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def labels_from_output(output, multilabel):
    """Class labels from network outputs of shape (n, m).

    Softmax-like outputs give the arg-max class of each row.  Outputs whose
    units are independent yes/no answers (``multilabel``: a sigmoid layer, or
    a single unit) give each unit thresholded at 0.5, as a 1-D array when
    there is one unit.  The library's one rule for turning outputs into labels.
    """
    if multilabel or output.shape[1] == 1:
        labels = (output > 0.5).astype(np.intp)
        return labels[:, 0] if labels.shape[1] == 1 else labels
    return np.argmax(output, axis=1)


def labels_from_targets(y):
    """Class index of each row of a 2-D target array (one-hot, or 0/1 in one column)."""
    return labels_from_output(y, multilabel=False)


def train_test_split(x, y, test_size=0.2, *, seed=None, stratify=True):
    """Split ``x`` and ``y`` into a training and a held-out part.

    The rows are drawn at random from ``seed`` (an int or a Generator).  With
    ``stratify=True`` and 1-D integer labels, every class keeps its share in both
    parts (each class with at least two samples appears in both).

    Returns
    -------
    x_train, x_test, y_train, y_test
    """
    x = np.asarray(x)
    y = np.asarray(y)
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows, but x has {n}")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction between 0 and 1, got {test_size!r}")
    rng = as_generator(seed)
    test_idx = split_indices(n, test_size, rng, labels=y if stratify else None)
    mask = np.zeros(n, dtype=bool)
    mask[test_idx] = True
    return x[~mask], x[mask], y[~mask], y[mask]


def split_indices(n, fraction, rng, labels=None):
    """Indices of a random ``fraction`` of ``n`` rows, stratified by ``labels`` when given."""
    n_test = max(1, int(round(n * fraction)))
    if n_test >= n:
        raise ValueError(f"a split of {fraction} leaves no training rows out of {n}")
    if labels is None or labels.ndim != 1 or labels.dtype.kind not in "biu":
        if labels is not None and labels.ndim == 2 and labels.shape[1] > 1:
            labels = labels.argmax(axis=1)  # one-hot: stratify on the class
        else:
            return np.sort(rng.permutation(n)[:n_test])
    picked = []
    classes, inverse = np.unique(labels, return_inverse=True)
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        take = int(round(len(members) * fraction))
        if len(members) >= 2:
            take = min(max(take, 1), len(members) - 1)
        picked.append(members[:take])
    return np.sort(np.concatenate(picked))
