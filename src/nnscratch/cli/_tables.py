"""Turning the data a command is given into arrays: built-in sets, CSV and NPZ
tables, array files (read batch by batch), and the matching of a table's columns
to a trained model's."""

from __future__ import annotations

import difflib
import os
import sys

import numpy as np

from ._common import (
    ARRAY_SUFFIXES,
    BUILTIN_DATA,
    TABLE_SUFFIXES,
    CLIError,
    _check_width,
    _quoted,
    _reading,
    _similar_file,
)


def _is_array_file(name, labels=None):
    """True for data read as arrays (memory-mapped or chunk by chunk), not as a table.

    ``.npy`` files, HDF5 (``FILE.h5:DATASET``) and Zarr stores, and an ``.npz``
    member named after a colon (``FILE.npz:x``) or given with ``--labels``.
    """
    base = name.split(":", 1)[0].lower() if not os.path.exists(name) else name.lower()
    if base.endswith(ARRAY_SUFFIXES):
        return True
    return base.endswith(".npz") and (
        ":" in name and not os.path.exists(name) or labels is not None
    )


def _open_array(name, what):
    from ..data import open_data_file

    with _reading(name.split(":", 1)[0]):
        try:
            return open_data_file(name)
        except FileNotFoundError:
            raise CLIError(f"{what} {name}: no such file") from None


def _check_source(name, labels=None):
    """``--data``: a built-in set or an existing table file; a near miss gets a suggestion."""
    if name in BUILTIN_DATA:
        return name
    if _is_array_file(name, labels):
        return name
    if os.path.isdir(name):
        raise CLIError(
            f"--data {name}: is a folder, not a .csv or .npz file (for MNIST "
            f"files in a folder use --data mnist --data-home {name})"
        )
    if os.path.exists(name):
        if not name.lower().endswith(TABLE_SUFFIXES):
            raise CLIError(f"--data {name}: expected a .csv or .npz file (or a .tsv)")
        return name
    close = difflib.get_close_matches(name.lower(), BUILTIN_DATA, n=1, cutoff=0.6)
    if close:
        raise CLIError(f"unknown data {name!r}; did you mean {close[0]!r}?")
    if name.lower().endswith(TABLE_SUFFIXES):
        raise CLIError(f"{name}: no such file{_similar_file(name)}")
    raise CLIError(
        f"unknown data {name!r}: expected {', '.join(BUILTIN_DATA)}, or a .csv / .npz file"
    )


def _table_options(args):
    return dict(sep=getattr(args, "sep", None), header=getattr(args, "header", None))


def _refuse_table_options(args, source):
    for option, value in (
        ("--features", getattr(args, "features", None)),
        ("--drop", getattr(args, "drop", None)),
        ("--sep", getattr(args, "sep", None)),
        ("--header/--no-header", getattr(args, "header", None)),
        ("--drop-missing", getattr(args, "drop_missing", False) or None),
    ):
        if value is not None:
            raise CLIError(f"{option} applies to CSV files, not to {source}")


def _digits_scaling():
    """The embedded digits' pixels (0 to 16) onto [0, 1]."""
    from ..data import Scale

    return Scale(1 / 16)


def _builtin(source, split, seed, data_home):
    """A built-in data set: dict(x, y (class indices), class_names, feature_names, ...)."""
    from ..datasets import FASHION_CLASSES, load_digits, load_fashion_mnist, load_mnist
    from ..utils import split_indices

    if source == "digits":
        x, y = load_digits()
        held = np.zeros(len(x), dtype=bool)
        held[split_indices(len(x), 0.2, np.random.default_rng(seed), labels=y)] = True
        rows = held if split == "test" else ~held
        return dict(
            x=x[rows],
            y=y[rows],
            class_names=[str(d) for d in range(10)],
            feature_names=[f"pixel{i}" for i in range(64)],
            target_name="digit",
            transform=_digits_scaling(),
        )
    loader = load_mnist if source == "mnist" else load_fashion_mnist
    x, y = loader(split, data_home=data_home)
    names = [str(d) for d in range(10)] if source == "mnist" else list(FASHION_CLASSES)
    return dict(
        x=x,
        y=y,
        class_names=names,
        feature_names=[f"pixel{i}" for i in range(784)],
        target_name="label",
        transform=None,  # the loaders give pixels in [0, 1] already
    )


def _read_table(args, source, target, require_target):
    """Read a CSV (with the table options of ``args``) -> (Table, feature columns, target)."""
    from ..datasets._tables import choose_columns, read_csv

    with _reading(source):
        table = read_csv(source, **_table_options(args))
        columns, target_column = choose_columns(
            table,
            target,
            features=getattr(args, "features", None),
            drop=getattr(args, "drop", None) or (),
            require_target=require_target,
        )
    return table, columns, target_column


def _without_missing(table, columns):
    """Drop the rows with a missing value in ``columns`` and say how many went."""
    mask = table.missing_rows(columns)
    if mask.all():
        raise CLIError(f"{table.path}: every row has a missing value")
    if mask.any():
        print(
            f"left out {int(mask.sum())} of {len(mask)} rows of {table.path} with missing values"
        )
    return table.without_rows(mask)


def _training_data(args):
    """The training data: dict(x, y, class_names (or None), names and scaling)."""
    source = args.data
    if source in BUILTIN_DATA:
        _refuse_table_options(args, source)
        data = _builtin(source, "train", args.seed, args.data_home)
        data.update(task="classification", named=False, ignored=[])
        return data
    if _is_array_file(source, args.labels):
        _refuse_table_options(args, source)
        x = _open_array(source, "--data")
        if args.labels is None:
            raise CLIError(
                f"--data {source}: an array file holds no targets; give them with "
                f"--labels FILE.npy (or FILE.npz:y, FILE.h5:labels)"
            )
        y = np.asarray(_open_array(args.labels, "--labels"))
        if len(x.shape) != 2 or y.shape[0] != x.shape[0]:
            raise CLIError(
                f"--data {source} has shape {tuple(x.shape)} and --labels "
                f"{args.labels} shape {y.shape}: expected (samples, features) and "
                f"one target per sample"
            )
        return dict(
            x=x,
            y=y,
            task=None,
            class_names=None,
            feature_names=[f"x{i}" for i in range(x.shape[1])],
            target_name=None,
            named=False,
            ignored=[],
            streamed=True,
        )
    if source.lower().endswith(".npz"):
        _refuse_table_options(args, source)
        from ..datasets import load_npz

        with _reading(source):
            x, y, names, target = load_npz(source, args.target)
        return dict(
            x=x,
            y=y,
            task=None,
            class_names=None,
            feature_names=names,
            target_name=target,
            named=False,
            ignored=[],
        )
    table, columns, target_column = _read_table(args, source, args.target, True)
    with _reading(source):
        if args.drop_missing:
            table = _without_missing(table, [*columns, target_column])
        x = table.numbers(columns)
        y = table.target(target_column)
    used = {*columns, target_column}
    return dict(
        x=x,
        y=y,
        task=None,
        class_names=None,
        feature_names=[table.names[j] for j in columns],
        target_name=table.names[target_column],
        named=table.named,
        ignored=[n for j, n in enumerate(table.names) if j not in used],
    )


def _match_columns(table, meta, net, target, drop, need_target):
    """Positions of the model's feature columns (and the target) in ``table``.

    A model that knows its feature names (trained on a CSV with a header)
    finds them by name, whatever their order; a missing, unknown or re-cased
    column is an error naming it.  Otherwise columns are taken by position.
    """
    from ..datasets._tables import suggest

    names, n_in = table.names, net.layers[0]
    for name in drop:
        table.index(name)
    if meta["named_features"] and table.named:
        wanted = meta["feature_names"]
        needed = [name for name in drop if name in wanted]
        if needed:
            raise CLIError(
                f"--drop {','.join(needed)}: the model needs "
                f"{'these columns' if len(needed) > 1 else 'this column'}"
            )
        target_column = names.index(target) if target in names else None
        allowed = {*wanted, *(meta.get("ignored_columns") or []), *drop}
        if target is not None:
            allowed.add(target)
        missing = [w for w in wanted if w not in names]
        unknown = [n for n in names if n not in allowed]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(
                    f"lacks the model's column{'s' if len(missing) > 1 else ''} "
                    + ", ".join(f"{m!r}{suggest(m, unknown)}" for m in missing)
                )
            if unknown:
                parts.append(
                    f"has column{'s' if len(unknown) > 1 else ''} the model does not "
                    f"know: " + ", ".join(f"{u!r}{suggest(u, missing)}" for u in unknown)
                )
            raise CLIError(
                f"{table.path}: " + "; ".join(parts) + f". The model reads the "
                f"columns {_quoted(wanted, 20)} by name (leave other columns out "
                f"with --drop)"
            )
        if need_target and target_column is None:
            if target is None:
                raise CLIError(
                    f"{table.path}: the model does not say which column is the "
                    f"target; name it with --target"
                )
            table.index(target)
        return [names.index(w) for w in wanted], target_column
    # by position
    if target is not None and target in names and (table.named or len(names) == n_in + 1):
        target_column = names.index(target)
    elif need_target:
        if table.named and target is not None:
            table.index(target)
        target_column = len(names) - 1
    else:
        target_column = None
    columns = [j for j in range(len(names)) if j != target_column and names[j] not in drop]
    _check_width(
        len(columns),
        net,
        table.path,
        "" if drop else " (leave extra columns out with --drop COLUMN)",
    )
    if not table.named and meta["named_features"]:
        print(
            f"nnscratch: note: {table.path} has no header row; its columns are taken as "
            f"the model's {_quoted(meta['feature_names'], 6)}, in that order",
            file=sys.stderr,
        )
    return columns, target_column


def _model_data(args, net, meta, split="test", need_target=True):
    """Data for a trained model: dict(x (checked width, not yet scaled), y, labels)."""
    source = args.data if need_target else args.input
    target = getattr(args, "target", None) or meta.get("target_name")
    if source in BUILTIN_DATA:
        _refuse_table_options(args, source)
        seed = args.seed if args.seed is not None else meta["seed"]
        data = _builtin(source, split, seed, args.data_home)
        _check_width(data["x"].shape[1], net, source)
        labels = np.asarray(data["class_names"], dtype=object)[data["y"]]
        return dict(x=data["x"], y=data["y"], labels=labels)
    labels_file = getattr(args, "labels", None)
    if _is_array_file(source, labels_file):
        _refuse_table_options(args, source)
        x = _open_array(source, "--data" if need_target else "input")
        _check_width(x.shape[1], net, source)
        y = None
        if labels_file is not None:
            y = np.asarray(_open_array(labels_file, "--labels"))
        elif need_target:
            raise CLIError(
                f"{source}: an array file holds no targets; give them with --labels FILE"
            )
        return dict(x=x, y=y, labels=y)
    if source.lower().endswith(".npz"):
        _refuse_table_options(args, source)
        from ..datasets import load_npz

        key = getattr(args, "target", None) or "y"
        with _reading(source):
            x, y, _, _ = load_npz(source, key, require_target=False)
        _check_width(x.shape[1], net, source)
        if need_target and y is None:
            raise CLIError(
                f"{source}: needs a target array named {key!r} (or give its name with --target)"
            )
        return dict(x=x, y=y, labels=y)
    from ..datasets._tables import read_csv

    with _reading(source):
        table = read_csv(source, **_table_options(args))
        columns, target_column = _match_columns(
            table, meta, net, target, getattr(args, "drop", None) or [], need_target
        )
        if getattr(args, "drop_missing", False):
            used = columns + ([] if target_column is None else [target_column])
            table = _without_missing(table, used)
        x = table.numbers(columns)
        y = table.target(target_column) if need_target else None
    return dict(x=x, y=y, labels=y)


def _guess_task(y):
    if y.dtype.kind in "US":
        return "classification"
    if y.ndim == 1 and np.all(y == np.round(y)) and len(np.unique(y)) <= 50:
        return "classification"
    return "regression"


def _label_text(v):
    """A label as the text it is known by: 3.0 -> '3', 'cat' -> 'cat'."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, (np.generic,)):
        return str(v.item())
    return str(v)


def _encode_labels(y, class_names, source):
    """Map labels (numbers or names) to indices of class_names."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise CLIError(f"{source}: expected one label per sample, got targets of shape {y.shape}")
    keys = [_label_text(v) for v in y.tolist()]
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(keys) - set(index))
    if unknown:
        raise CLIError(
            f"{source}: the data holds labels {_quoted(unknown, 5)} that the model "
            f"does not know (its classes: {_quoted(class_names, 10)})"
        )
    return np.array([index[k] for k in keys], dtype=np.int64)
