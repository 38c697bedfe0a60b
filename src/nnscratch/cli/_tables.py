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


def _file_part(name):
    """The file of ``FILE:MEMBER``: split at the last colon, as
    :func:`nnscratch.data.open_data_file` does, so that folders may hold colons."""
    if os.path.exists(name) or ":" not in name:
        return name
    return name.rsplit(":", 1)[0]


def _is_array_file(name, labels=None):
    """True for data read as arrays (memory-mapped or chunk by chunk), not as a table.

    ``.npy`` files, HDF5 (``FILE.h5:DATASET``) and Zarr stores, and an ``.npz``
    member named after a colon (``FILE.npz:x``) or given with ``--labels``.
    """
    base = _file_part(name).lower()
    if base.endswith(ARRAY_SUFFIXES):
        return True
    return base.endswith(".npz") and (base != name.lower() or labels is not None)


def _open_array(name, what):
    from ..data import open_data_file

    with _reading(_file_part(name)):
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


def _label_array(stored, name):
    """The labels read from an array file, with text as ``str``.

    HDF5 keeps text labels as bytes (variable-length strings come out as Python
    objects): they are decoded as UTF-8.  Objects that are not text are refused.
    """
    with _reading(_file_part(name)):
        y = np.asarray(stored)
    if y.dtype.kind not in "OS":
        return y
    values = y.ravel().tolist()
    try:
        text = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
    except UnicodeDecodeError:
        raise CLIError(f"--labels {name}: holds text that is not UTF-8") from None
    odd = next((v for v in text if not isinstance(v, str)), None)
    if odd is not None:
        raise CLIError(
            f"--labels {name}: holds Python objects such as {type(odd).__name__} "
            f"{str(odd)[:40]!r}; expected numbers or text labels"
        )
    return np.asarray(text, dtype=str).reshape(y.shape)


def _data_kind(source, labels=None):
    """What ``source`` is, for the options that apply to it: 'digits', 'mnist' (and
    Fashion-MNIST), 'array' (a memory-mapped .npy or .npz member), 'store' (HDF5 or
    Zarr, read chunk by chunk), 'npz' (a table of arrays) or 'csv' (and .tsv)."""
    if source == "digits":
        return "digits"
    if source in BUILTIN_DATA:
        return "mnist"
    if _is_array_file(source, labels):
        return "store" if _file_part(source).lower().endswith(STORE_SUFFIXES) else "array"
    return "npz" if source.lower().endswith(".npz") else "csv"


_ARRAYS = "array files (FILE.npy, FILE.npz:KEY, FILE.h5:DATASET, FILE.zarr)"
STORE_SUFFIXES = (".h5", ".hdf5", ".zarr")

#: Every data option, the attribute argparse gives it, the kinds of data it applies
#: to (see :func:`_data_kind`) and how to say so.  An option given for data it does
#: not apply to is refused, naming it, rather than ignored.
DATA_OPTIONS = (
    ("--labels", "labels", {"array", "store"}, _ARRAYS),
    ("--target", "target", {"csv", "npz"}, "CSV and NPZ files"),
    ("--data-home", "data_home", {"mnist"}, "mnist and fashion-mnist"),
    ("--split", "split", {"digits", "mnist"}, "digits, mnist and fashion-mnist"),
    ("--seed", "split_seed", {"digits"}, "the digits (the seed of their split)"),
    (
        "--no-standardize",
        "no_standardize",
        {"csv", "npz", "array", "store"},
        "CSV, NPZ and array files",
    ),
    (
        "--shuffle-buffer",
        "shuffle_buffer",
        {"store"},
        "HDF5 and Zarr data (FILE.h5:DATASET, FILE.zarr)",
    ),
    ("--features", "features", {"csv"}, "CSV files"),
    ("--drop", "drop", {"csv"}, "CSV files"),
    ("--sep", "sep", {"csv"}, "CSV files"),
    ("--header/--no-header", "header", {"csv"}, "CSV files"),
    ("--drop-missing", "drop_missing", {"csv"}, "CSV files"),
)


def _refuse_options(args, source, kind):
    """Refuse every option given that does not apply to ``source`` (of ``kind``)."""
    for option, attribute, kinds, where in DATA_OPTIONS:
        value = getattr(args, attribute, None)
        if value is not None and value is not False and kind not in kinds:
            raise CLIError(f"{option} applies to {where}, not to {source}")


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
    """Read a CSV (with the table options of ``args``) -> (Table, feature columns, target).

    A row counter that pandas wrote as the first column (its default index) is
    left out with a note, unless the columns are chosen with ``--features``.
    """
    from ..datasets._tables import choose_columns, read_csv

    features = getattr(args, "features", None)
    drop = list(getattr(args, "drop", None) or ())
    with _reading(source):
        table = read_csv(source, **_table_options(args))
        counter = _row_counter(table)
        if counter is not None and features is None and counter not in drop:
            if counter == target:
                raise CLIError(
                    f"{source}: the target column {target!r} only counts the rows "
                    f"(a pandas index); name the real target with --target"
                )
            drop.append(counter)
            print(
                f"nnscratch: note: {source}: the unnamed first column counts the rows "
                f"0, 1, 2, ... (an index written by pandas), so it is left out; keep it "
                f"with --features",
                file=sys.stderr,
            )
        columns, target_column = choose_columns(
            table, target, features=features, drop=drop, require_target=require_target
        )
    return table, columns, target_column


def _row_counter(table):
    """The name of the first column when it is an unnamed row counter, else None.

    pandas writes its default index as a first column with an empty header
    (read here as ``col0``), or ``Unnamed: 0`` once a file went through pandas
    twice; its cells are 0, 1, 2, ... (or 1, 2, 3, ...).  Used as a feature, it
    teaches the network the row order (in a class-sorted file, the class).
    """
    if not table.named or len(table.names) < 2 or table.names[0] not in ("col0", "Unnamed: 0"):
        return None
    cells = [row[0].strip() for row in table.rows]
    for start in (0, 1):
        if all(cell == str(i) for i, cell in enumerate(cells, start)):
            return table.names[0]
    return None


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
    _refuse_options(args, source, _data_kind(source, args.labels))
    if source in BUILTIN_DATA:
        data = _builtin(source, "train", args.seed, args.data_home)
        data.update(task="classification", named=False, ignored=[])
        return data
    if _is_array_file(source, args.labels):
        x = _open_array(source, "--data")
        if args.labels is None:
            raise CLIError(
                f"--data {source}: an array file holds no targets; give them with "
                f"--labels FILE.npy (or FILE.npz:y, FILE.h5:labels)"
            )
        y = _label_array(_open_array(args.labels, "--labels"), args.labels)
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


def _model_data(args, net, meta, split=None, need_target=True):
    """Data for a trained model: dict(x (checked width, not yet scaled), y, labels)."""
    source = args.data if need_target else args.input
    target = getattr(args, "target", None) or meta.get("target_name")
    labels_file = getattr(args, "labels", None)
    _refuse_options(args, source, _data_kind(source, labels_file))
    if source in BUILTIN_DATA:
        seed = getattr(args, "split_seed", None)
        seed = meta["seed"] if seed is None else seed
        data = _builtin(source, split or "test", seed, args.data_home)
        _check_width(data["x"].shape[1], net, source)
        labels = np.asarray(data["class_names"], dtype=object)[data["y"]]
        return dict(x=data["x"], y=data["y"], labels=labels)
    if _is_array_file(source, labels_file):
        what = "--data" if need_target else "input"
        x = _open_array(source, what)
        if len(x.shape) != 2:
            raise CLIError(
                f"{what} {source} has shape {tuple(x.shape)}: expected rows of features, "
                f"shape (samples, {net.layers[0]})"
            )
        _check_width(x.shape[1], net, source)
        y = None
        if labels_file is not None:
            y = _label_array(_open_array(labels_file, "--labels"), labels_file)
        elif need_target:
            raise CLIError(
                f"{source}: an array file holds no targets; give them with --labels FILE"
            )
        return dict(x=x, y=y, labels=y)
    if source.lower().endswith(".npz"):
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
