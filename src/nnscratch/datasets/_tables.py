"""Users' own tables: a CSV file with a header row, or an NPZ archive."""

from __future__ import annotations

import csv
import os

import numpy as np


def load_csv(path, target=None, *, require_target=True):
    """Read a CSV file with a header row into features and a target column.

    Parameters
    ----------
    path : str or path-like
    target : str, optional
        Name of the target column; default the last column.  With
        ``require_target=False`` and no column of that name, every column is a
        feature and ``y`` is None (for predicting).

    Returns
    -------
    x : ndarray (n, d) float64
    y : ndarray (n,) of float64, or of str when the column is not numeric; or None
    feature_names : list of str
    target_name : str or None
    """
    path = os.fspath(path)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    rows = [r for r in rows if r and any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    width = len(header)
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise ValueError(f"{path}: line {number} has {len(row)} fields, the header {width}")
    if target is None:
        target_index = width - 1 if require_target else None
    elif target in header:
        target_index = header.index(target)
    elif require_target:
        raise ValueError(f"{path}: no column named {target!r}; columns: {', '.join(header)}")
    else:
        target_index = None
    feature_index = [i for i in range(width) if i != target_index]
    if not feature_index:
        raise ValueError(f"{path}: no feature columns besides the target")
    body = np.array(rows[1:], dtype=str)
    try:
        x = body[:, feature_index].astype(np.float64)
    except ValueError:
        bad = next(h for i, h in enumerate(header) if i in feature_index and not _numeric(
            body[:, i]))
        raise ValueError(f"{path}: the feature column {bad!r} is not numeric") from None
    y = None
    if target_index is not None:
        column = np.char.strip(body[:, target_index])
        y = column.astype(np.float64) if _numeric(column) else column
    return (x, y, [header[i] for i in feature_index],
            None if target_index is None else header[target_index])


def _numeric(column):
    try:
        np.asarray(column).astype(np.float64)
        return True
    except ValueError:
        return False


def load_npz(path, target=None, *, require_target=True):
    """Read an NPZ archive holding a feature array ``x`` (or ``X``) and targets ``y``.

    ``target`` names the targets' key instead of ``y``.  Arrays are read
    without pickle.  Returns ``(x, y, feature_names, target_name)`` like
    :func:`load_csv`, with generated feature names.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"{path}: not a readable NPZ archive ({err})") from None
    lower = {k.lower(): k for k in arrays}
    if "x" not in lower:
        raise ValueError(f"{path}: needs an array named 'x' (features); it holds "
                         f"{', '.join(arrays) or 'nothing'}")
    x = arrays[lower["x"]]
    key = target or "y"
    y = arrays.get(key, arrays.get(lower.get(key.lower(), ""), None))
    if y is None and require_target:
        raise ValueError(f"{path}: needs a target array named {key!r}; it holds "
                         f"{', '.join(arrays)}")
    if x.ndim != 2:
        raise ValueError(f"{path}: 'x' must be 2-D (samples, features), got shape {x.shape}")
    names = [f"x{i}" for i in range(x.shape[1])]
    return x, y, names, (key if y is not None else None)


def load_table(path, target=None, *, require_target=True):
    """:func:`load_csv` or :func:`load_npz`, chosen by the file's extension."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if path.lower().endswith(".npz"):
        return load_npz(path, target, require_target=require_target)
    if path.lower().endswith(".csv"):
        return load_csv(path, target, require_target=require_target)
    raise ValueError(f"{path}: expected a .csv or .npz file")
