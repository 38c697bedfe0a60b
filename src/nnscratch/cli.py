"""Command line: ``nnscratch COMMAND`` (also ``python -m nnscratch COMMAND``).

Commands: ``train``, ``evaluate``, ``predict``, ``info``, ``export`` and ``demo``.  Bad
arguments and bad files (missing, damaged, malformed, of the wrong width) end
with one line on stderr, ``nnscratch: error: ...``, and exit status 1 (2 for
bad arguments), never a traceback.

Layout: one ``_add_<command>_parser`` function declares each command's
arguments and one ``_<command>`` function runs it; :data:`COMMANDS` lists
them, so a new command is one pair of functions and one entry.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import difflib
import importlib.util
import io
import os
import sys
import time

import numpy as np

from ._paths import prepare_output

BUILTIN_DATA = ("digits", "mnist", "fashion-mnist")
TABLE_SUFFIXES = (".csv", ".tsv", ".npz")


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line: 'nnscratch: error: ...'."""

    def error(self, message):
        self.exit(2, f"nnscratch: error: {message} (see {self.prog} --help)\n")


class CLIError(Exception):
    """A problem worth one line to the user."""


def _quoted(values, limit=8):
    """``'a', 'b'``: plain strings, never ``np.str_('a')``; shortened after ``limit``."""
    from .datasets._tables import _names

    return _names(values, limit)


# ------------------------------------------------------------------------- files
@contextlib.contextmanager
def _reading(path):
    """Turn any failure while reading ``path`` into one line that names the file."""
    try:
        yield
    except CLIError:
        raise
    except FileNotFoundError:
        raise CLIError(f"{path}: no such file") from None
    except MemoryError:
        raise CLIError(f"{path}: too large to read into memory") from None
    except (ValueError, OSError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
        if path not in message:
            message = f"{path}: {message}"
        raise CLIError(message) from None
    except Exception as err:  # noqa: BLE001 - a damaged file may fail in any way
        message = " ".join(str(err).split())
        raise CLIError(
            f"{path}: cannot be read ({type(err).__name__}{': ' + message if message else ''})"
        ) from None


def _check_output(path, option):
    """Make sure ``path`` can be written, before any work is done.

    Missing parent folders are created (as Keras does).  A path that is a
    folder, a folder that cannot be created or written to, and a read-only
    file are errors naming ``option``.
    """
    if not path:
        raise CLIError(f"{option}: expected a file name, got an empty string")
    try:
        return prepare_output(path, option)
    except OSError as err:
        raise CLIError(str(err)) from None


ARRAY_SUFFIXES = (".npy", ".h5", ".hdf5", ".zarr")


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
    from .data import open_data_file

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


def _similar_file(path):
    """`` (did you mean 'data/iris.csv'?)`` for a file of a close name in the same folder."""
    folder, base = os.path.split(path)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return ""
    close = difflib.get_close_matches(base, names, n=1, cutoff=0.75)
    return f" (did you mean {os.path.join(folder, close[0])!r}?)" if close else ""


# ------------------------------------------------------------------------ models
def _load_model(path):
    """The network in ``path`` and its checked metadata (see :func:`_check_metadata`)."""
    from . import load_model

    if os.path.isdir(path):
        raise CLIError(f"{path}: is a folder, not a model file")
    with _reading(path):
        net = load_model(path)
        meta = _check_metadata(net, path)
    return net, meta


def _is_text_list(value, length=None):
    return (
        isinstance(value, list)
        and all(isinstance(v, str) for v in value)
        and (length is None or len(value) == length)
    )


def _check_metadata(net, path):
    """The model's metadata with every field the CLI uses checked and filled in.

    A field of the wrong type or size is a ValueError naming the file, so a
    damaged or hand-edited model never fails later with a foreign error.
    """
    meta = dict(net.metadata) if isinstance(net.metadata, dict) else {}
    n_in, n_out = net.layers[0], net.layers[-1]
    # models saved from Python may have no metadata: the output layer tells the task
    guess = (
        "classification" if net.output_activation.name in ("softmax", "sigmoid") else "regression"
    )
    task = meta.get("task", guess)
    if task not in ("classification", "regression"):
        raise ValueError(f"{path}: the metadata names an unknown task {task!r}")
    meta["task"] = task
    if meta.get("feature_names") is not None and not _is_text_list(meta["feature_names"], n_in):
        raise ValueError(
            f"{path}: the metadata's feature names do not match the model's {n_in} inputs"
        )
    if task == "classification":
        names = meta.get("class_names")
        if names is None:
            meta["class_names"] = [str(i) for i in range(n_out)]
        elif not _is_text_list(names, n_out) or len(set(names)) != len(names):
            count = len(names) if isinstance(names, list) else "no list of"
            raise ValueError(
                f"{path}: the metadata lists {count} class names for the model's {n_out} outputs"
            )
    for key in ("target_name", "source"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise ValueError(f"{path}: the metadata's {key} is not text")
    if meta.get("ignored_columns") is not None and not _is_text_list(meta["ignored_columns"]):
        raise ValueError(f"{path}: the metadata's ignored_columns is not a list of names")
    seed = meta.get("seed", 0)
    meta["seed"] = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
    meta["named_features"] = _knows_names(meta)
    return meta


def _knows_names(meta):
    """Whether the model's feature names are real names (a CSV header), not positions."""
    names = meta.get("feature_names")
    if not names:
        return False
    if isinstance(meta.get("named_features"), bool):
        return meta["named_features"]
    generated = ([f"{prefix}{i}" for i in range(len(names))] for prefix in ("x", "col", "pixel"))
    return all(names != made for made in generated)


def _check_width(width, net, source, hint=""):
    if width != net.layers[0]:
        raise CLIError(
            f"{source}: the data has {width} features, but the model expects {net.layers[0]}{hint}"
        )


# -------------------------------------------------------------------------- data
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
    from .data import Scale

    return Scale(1 / 16)


def _builtin(source, split, seed, data_home):
    """A built-in data set: dict(x, y (class indices), class_names, feature_names, ...)."""
    from .datasets import FASHION_CLASSES, load_digits, load_fashion_mnist, load_mnist
    from .utils import split_indices

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
    from .datasets._tables import choose_columns, read_csv

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
        from .datasets import load_npz

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
    from .datasets._tables import suggest

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
        from .datasets import load_npz

        key = getattr(args, "target", None) or "y"
        with _reading(source):
            x, y, _, _ = load_npz(source, key, require_target=False)
        _check_width(x.shape[1], net, source)
        if need_target and y is None:
            raise CLIError(
                f"{source}: needs a target array named {key!r} (or give its name with --target)"
            )
        return dict(x=x, y=y, labels=y)
    from .datasets._tables import read_csv

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


# ---------------------------------------------------------------------- commands
def _train(args):
    """``nnscratch train``: build, scale, fit, report."""
    out = _check_train_outputs(args)
    source = _check_source(args.data, args.labels)
    data = _training_data(args)
    net, targets, task = _build(args, data, source)
    net.input_transform = _input_transform(args, data)
    seconds = _fit(args, net, data["x"], targets, task)
    _report(args, net, source, seconds, out)
    return 0


def _check_train_outputs(args):
    """The model file's path (``.npz`` added), with it and ``--plot`` checked before any work."""
    if os.path.isdir(args.out):
        raise CLIError(f"--out {args.out}: is a folder; give a file name inside it")
    out = args.out if args.out.endswith(".npz") else args.out + ".npz"
    _check_output(out, "--out")
    if args.plot:
        _check_output(args.plot, "--plot")
        if importlib.util.find_spec("matplotlib") is None:
            raise CLIError(
                "--plot needs matplotlib, an optional extra: pip install 'nnscratch[plot]'"
            )
    return out


def _build(args, data, source):
    """The network for ``data`` (sizes, output layer and loss from the task), its
    metadata filled in; returns ``(network, targets, task)``."""
    from . import NeuralNetwork
    from .registry import optimizers

    x, y = data["x"], data["y"]
    task = args.task if args.task != "auto" else (data["task"] or _guess_task(y))
    meta = {
        "source": source,
        "task": task,
        "feature_names": list(data["feature_names"]),
        "named_features": data["named"],
        "ignored_columns": data["ignored"],
        "target_name": data["target_name"],
        "seed": args.seed,
    }
    if task == "classification":
        if data["class_names"] is None:
            data["class_names"] = [_label_text(v) for v in np.unique(y).tolist()]
            targets = _encode_labels(y, data["class_names"], source)
        else:
            targets = y
        meta["class_names"] = data["class_names"]
        outputs, output, loss = len(data["class_names"]), "softmax", "categorical_crossentropy"
    else:
        if y.dtype.kind in "US":
            raise CLIError(
                f"{source}: the target column {data['target_name']!r} is not "
                f"numeric, so it cannot be regressed; use --task classification"
            )
        targets = y.reshape(len(y), -1).astype(np.float64)
        outputs, output, loss = targets.shape[1], "identity", "mse"
    net = NeuralNetwork(
        [x.shape[1], *args.layers, outputs],
        args.activation,
        output,
        loss,
        optimizers.get(args.optimizer)(learning_rate=args.learning_rate),
        dtype=np.dtype(args.dtype),
        seed=args.seed,
        dropout=args.dropout,
        l2=args.l2,
    )
    net.metadata = meta
    return net, targets, task


def _input_transform(args, data):
    """The network's input transform, the command line's one scaling rule.

    A built-in data set brings its own (the digits' pixels by 1/16).  Otherwise
    the inputs are standardised (mean 0 and standard deviation 1 per column),
    except uint8 array files, whose pixels are divided by 255; none with
    ``--no-standardize``.  ``predict`` applies it, so a model file loaded in
    Python takes the raw columns.
    """
    from .data import Scale, Standardize

    if "transform" in data:
        return data["transform"]
    if args.no_standardize:
        return None
    x = data["x"]
    if data.get("streamed"):  # never read whole: statistics a chunk at a time
        return Scale(1 / 255) if np.dtype(x.dtype) == np.uint8 else Standardize.fit(x)
    x = np.asarray(x, dtype=np.float64)
    spread = x.std(axis=0)
    return Standardize(x.mean(axis=0), np.where(spread > 0, spread, 1.0))


def _fit(args, net, x, targets, task):
    """Train ``net`` here or on a Dask cluster; returns the seconds it took."""
    from . import EarlyStopping

    callbacks = []
    split = args.validation_split
    if args.early_stopping:
        split = split or 0.1
        callbacks.append(EarlyStopping("val_loss", patience=args.patience))
    fit_args = dict(
        categorical=task == "classification",
        validation_split=split,
        callbacks=callbacks,
        verbose=args.verbose,
    )
    if args.shuffle_buffer is not None:
        fit_args["shuffle_buffer"] = args.shuffle_buffer
    if args.verbose:
        print(f"training {net}", file=sys.stderr)
    start = time.perf_counter()
    if args.scheduler or args.workers:
        if args.scheduler and args.workers:
            raise CLIError("pass --scheduler or --workers, not both")
        from .distributed import fit_with_cluster

        fit_with_cluster(
            net,
            x,
            targets,
            args.batch_size,
            args.epochs,
            scheduler=args.scheduler,
            workers=args.workers,
            sync_every=args.sync_every,
            **fit_args,
        )
    else:
        net.fit(x, targets, args.batch_size, args.epochs, **fit_args)
    return time.perf_counter() - start


def _report(args, net, source, seconds, out):
    """One line on the training, the test accuracy of a built-in set, then save and plot."""
    from . import plot_history

    history = net.history
    epochs = len(history["loss"])
    summary = (
        f"trained {epochs} epoch{'s' if epochs != 1 else ''} in {seconds:.1f} s; "
        f"loss {history['loss'][-1]:.4f}"
    )
    if "val_loss" in history:
        summary += f", validation loss {history['val_loss'][-1]:.4f}"
    if "val_accuracy" in history:
        summary += f", validation accuracy {history['val_accuracy'][-1]:.2%}"
    print(summary)
    if source in BUILTIN_DATA:
        test = _builtin(source, "test", args.seed, args.data_home)
        accuracy = net.score(test["x"], test["y"], accuracy=True)
        print(f"test accuracy {accuracy:.2%} on {len(test['y'])} held-out images")
    path = net.save(out)
    print(f"model saved to {path}")
    if args.plot:
        plot_history(net.history, args.plot, title=f"nnscratch: {source}")
        print(f"training curves saved to {args.plot}")


def _evaluate(args):
    source = _check_source(args.data, args.labels)
    net, meta = _load_model(args.model)
    data = _model_data(args, net, meta, split=args.split)
    x, y = data["x"], data["y"]
    if y is None:
        raise CLIError(f"{source}: no target column to evaluate against")
    n = len(y)
    if meta["task"] == "classification":
        names = meta["class_names"]
        y = _encode_labels(data["labels"], names, source)
        predicted = net.predict(x, labels=True)
        print(f"{n} samples from {source}")
        print(f"loss {net.score(x, y):.4f}")
        print(f"accuracy {np.mean(predicted == y):.2%}")
        _print_class_report(names, y, predicted)
    else:
        if y.dtype.kind in "US":
            raise CLIError(f"{source}: the target is not numeric, but the model does regression")
        y = np.asarray(y, dtype=np.float64).reshape(n, -1)
        if y.shape[1] != net.layers[-1]:
            raise CLIError(
                f"{source}: the data has {y.shape[1]} targets per sample, but the "
                f"model predicts {net.layers[-1]}"
            )
        pred = net.predict(x)
        residual = pred - y
        spread = np.sum((y - y.mean(axis=0)) ** 2)
        r2 = 1 - np.sum(residual**2) / spread if spread > 0 else float("nan")
        print(f"{n} samples from {source}")
        print(f"loss (mse) {np.mean(residual**2):.6g}")
        print(f"mae {np.mean(np.abs(residual)):.6g}")
        print(f"R^2 {r2:.4f}")
    return 0


def _abbreviations(names, width):
    """Column labels of at most ``width`` characters; None if shortening makes two alike."""
    short = [name if len(name) <= width else name[: width - 1] + "." for name in names]
    return short if len(set(short)) == len(short) else None


def _print_class_report(names, y, predicted):
    """Per-class accuracy and the confusion matrix, labelled by class name both ways."""
    k = len(names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, predicted), 1)
    width = min(max(len(name) for name in names), 24)
    rows = [name if len(name) <= width else name[: width - 1] + "." for name in names]
    print("per-class accuracy:")
    for i, name in enumerate(rows):
        total = confusion[i].sum()
        share = f"{confusion[i, i] / total:.2%}" if total else "n/a"
        print(f"  {name:>{width}}  {share:>7}  ({confusion[i, i]}/{total})")
    print("confusion matrix (rows: true class, columns: predicted):")
    cell = max(len(str(confusion.max())), 3)
    # full names when they fit an 80-column terminal, else at least 8 characters
    room = max(8, (80 - width - 3) // k - 1)
    columns = _abbreviations(names, max(cell, min(room, max(len(n) for n in names))))
    if columns is None:  # names too alike to shorten: number the columns instead
        columns = [str(i) for i in range(k)]
        rows = [f"{name} ({i})" for i, name in enumerate(rows)]
        width = max(len(r) for r in rows)
    cell = max(cell, *(len(c) for c in columns))
    print(" " * (width + 2) + " ".join(f"{c:>{cell}}" for c in columns))
    for i, name in enumerate(rows):
        print(f"  {name:>{width}} " + " ".join(f"{v:>{cell}}" for v in confusion[i]))


def _predict(args):
    from ._atomic import atomic_write

    if args.output:
        _check_output(args.output, "--output")
    net, meta = _load_model(args.model)
    array_input = _is_array_file(args.input)
    if not array_input and not os.path.exists(args.input):
        raise CLIError(f"{args.input}: no such file{_similar_file(args.input)}")
    if not array_input and not args.input.lower().endswith(TABLE_SUFFIXES):
        raise CLIError(f"{args.input}: expected a .csv or .npz file (or a .tsv)")
    data = _model_data(args, net, meta, need_target=False)
    x = data["x"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if meta["task"] == "classification":
        classes = meta["class_names"]
        if args.proba:
            writer.writerow(classes)
            writer.writerows([[f"{p:.6g}" for p in row] for row in net.predict(x)])
        else:
            writer.writerow([meta.get("target_name") or "prediction"])
            writer.writerows([[classes[i]] for i in net.predict(x, labels=True)])
    else:
        out = net.predict(x)
        writer.writerow(
            [meta.get("target_name") or "prediction"]
            if out.shape[1] == 1
            else [f"output{i}" for i in range(out.shape[1])]
        )
        writer.writerows([[f"{v:.8g}" for v in row] for row in out])
    if args.output:
        with atomic_write(args.output, "w") as handle:
            handle.write(buffer.getvalue())
        print(f"{len(x)} predictions written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


def _finite_numbers(values):
    """``values`` if it is a non-empty list of finite numbers, else None."""
    if not isinstance(values, list) or not values:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    return values if np.isfinite(values).all() else None


def _info(args):
    net, meta = _load_model(args.model)
    print(f"model file   {args.model}")
    print(f"layers       {' -> '.join(map(str, net.layers))}")
    print(f"parameters   {net.n_params:,} ({net.dtype.name})")
    print(
        f"hidden       {net.hidden_activation.name}; output {net.output_activation.name}; "
        f"loss {net.loss.name}"
    )
    print(f"optimizer    {net.optimizer!r}")
    if net.dropout or net.l2:
        print(f"regularised  dropout {net.dropout}, l2 {net.l2}")
    if net.metadata:
        print(
            f"trained on   {meta.get('source') or '?'} ({meta['task']}, "
            f"{len(meta.get('feature_names') or [])} features)"
        )
        if meta["task"] == "classification":
            print(f"classes      {', '.join(meta['class_names'])}")
    history = net.history if isinstance(net.history, dict) else {}
    losses = _finite_numbers(history.get("loss"))
    if losses:
        line = f"history      {len(losses)} epochs; loss {losses[0]:.4f} -> {losses[-1]:.4f}"
        val_losses = _finite_numbers(history.get("val_loss"))
        if val_losses:
            best = int(np.argmin(val_losses))
            line += f"; best validation loss {val_losses[best]:.4f} (epoch {best + 1})"
        val_accuracy = _finite_numbers(history.get("val_accuracy"))
        if val_accuracy:
            line += f", validation accuracy up to {max(val_accuracy):.2%}"
        print(line)
        seconds = _finite_numbers(history.get("seconds")) or [0.0]
        print(f"time         {sum(seconds):.1f} s of training")
    else:
        print("history      not trained yet")
    return 0


def _export(args):
    from pathlib import Path

    from .export import export_command

    output = args.output or str(Path(args.model).with_suffix(".onnx"))
    _check_output(output, "--output")
    print(export_command(args.model, output, opset=args.opset, labels=not args.no_labels))
    return 0


def _demo(args):
    from . import Adam, EarlyStopping, NeuralNetwork, __version__, plot_history
    from .datasets import load_digits
    from .utils import train_test_split

    if args.plot:
        _check_output(args.plot, "--plot")
    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, seed=args.seed)
    # scale every pixel to mean 0 and spread 1, using the training images only
    mean, spread = x_train.mean(axis=0), x_train.std(axis=0)
    spread[spread == 0] = 1.0
    x_train, x_test = (x_train - mean) / spread, (x_test - mean) / spread
    print(
        f"nnscratch {__version__}: the 8x8 digits, {len(x_train)} images to train on "
        f"(10% of them held out for validation), {len(x_test)} for the final test"
    )
    net = NeuralNetwork(
        [64, 128, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        Adam(learning_rate=1e-3),
        seed=args.seed,
        dropout=0.2,
    )
    print(net)
    stopper = EarlyStopping(monitor="val_loss", patience=8, min_delta=1e-3)
    start = time.perf_counter()
    net.fit(
        x_train,
        y_train,
        batch_size=32,
        epochs=args.epochs,
        categorical=True,
        validation_split=0.1,
        callbacks=[stopper],
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    epochs = len(net.history["loss"])
    best = stopper.best_epoch + 1 if stopper.best_epoch is not None else epochs
    how = (
        f"early stopping after epoch {epochs}"
        if stopper.stopped_epoch is not None
        else f"all {epochs} epochs"
    )
    print(
        f"trained in {seconds:.2f} s ({how}); kept the weights of epoch {best}, "
        f"validation loss {stopper.best:.4f}"
    )
    print(f"training accuracy {net.score(x_train, y_train, accuracy=True):.2%}")
    print(f"test accuracy {net.score(x_test, y_test, accuracy=True):.2%}")
    if args.plot:
        try:
            plot_history(net.history, args.plot, title="nnscratch demo: 8x8 digits")
            print(f"training curves saved to {args.plot}")
        except ImportError as err:
            print(f"no plot: {err}")
    return 0


# ------------------------------------------------------------------- argument types
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction 0 <= f < 1, got {text!r}")
    return value


def _finite_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _layers(text):
    """'256,128' -> [256, 128]; '' or 'none' -> [] (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return []
    parts = [part.strip() for part in text.split(",")]
    if "" in parts:
        raise argparse.ArgumentTypeError(
            f"empty layer size in {text!r}; expected sizes such as 256,128"
        )
    try:
        sizes = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 256,128, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _column_list(text):
    """'a, b,c' -> ['a', 'b', 'c']; an empty name is refused."""
    names = [name.strip() for name in text.split(",")]
    if "" in names:
        raise argparse.ArgumentTypeError(
            f"empty column name in {text!r}; expected names such as height,width"
        )
    return names


def _separator(text):
    """One character; 'tab' or '\\t' for a tab."""
    if text.lower() in ("tab", "\\t"):
        return "\t"
    if len(text) != 1 or text in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"expected one character such as ';' or 'tab', got {text!r}"
        )
    return text


# -------------------------------------------------------------------------- parser
def _add_data_options(p, required=True):
    p.add_argument(
        "--data",
        required=required,
        metavar="SOURCE",
        help="digits, mnist, fashion-mnist, a FILE.csv / FILE.npz, or an array "
        "file read batch by batch: FILE.npy (memory-mapped), FILE.npz:KEY, "
        "FILE.h5:DATASET, FILE.zarr",
    )
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="with an array file as --data: the targets (FILE.npy, FILE.npz:y, FILE.h5:labels)",
    )
    p.add_argument(
        "--target",
        metavar="COLUMN",
        help="target column of a CSV (default: the last; for evaluate, the "
        "model's) or key of an NPZ (default: y)",
    )
    p.add_argument(
        "--data-home",
        metavar="DIR",
        help="folder holding mnist/ and fashion-mnist/ (default: "
        "$NNSCRATCH_DATA or a per-user cache folder)",
    )


def _add_table_options(p, *, features=False, drop_missing=False):
    """CSV reading options; ``features`` and ``drop_missing`` only where they make sense."""
    group = p.add_argument_group("CSV files")
    group.add_argument(
        "--sep",
        type=_separator,
        metavar="CHAR",
        help="field separator (default: detected among , ; tab |)",
    )
    header = group.add_mutually_exclusive_group()
    header.add_argument(
        "--header",
        dest="header",
        action="store_true",
        default=None,
        help="the first row holds column names (default: detected)",
    )
    header.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        help="the first row is data; columns are named col0, col1, ...",
    )
    if features:
        group.add_argument(
            "--features",
            type=_column_list,
            metavar="COL,...",
            help="the feature columns (default: all but the target)",
        )
    group.add_argument(
        "--drop",
        type=_column_list,
        metavar="COL,...",
        help="columns to leave out (names, identifiers, other text)",
    )
    if drop_missing:
        group.add_argument(
            "--drop-missing",
            action="store_true",
            help="leave out rows with a missing value (empty, NA, NaN, ?) instead of stopping",
        )


def _add_train_parser(sub):
    from .registry import hidden_activations, optimizers

    train = sub.add_parser(
        "train",
        help="train a network and save it",
        description="Train a network on a data set and save the model "
        "file. Input and output sizes come from the data.",
    )
    _add_data_options(train)
    train.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="default: guessed from the target column",
    )
    train.add_argument(
        "--layers",
        type=_layers,
        default=[128],
        metavar="SIZES",
        help="hidden layer sizes, comma-separated, or 'none' (default 128)",
    )
    train.add_argument(
        "--activation",
        default="relu",
        choices=hidden_activations.names(),
        help="hidden activation (default relu)",
    )
    train.add_argument(
        "--optimizer", default="adam", choices=optimizers.names(), help="default adam"
    )
    train.add_argument("--learning-rate", type=_finite_float, default=1e-3, help="default 1e-3")
    train.add_argument("--epochs", type=_positive_int, default=20, help="default 20")
    train.add_argument(
        "--shuffle-buffer",
        type=_positive_int,
        metavar="N",
        help="for HDF5 / Zarr data: samples mixed in the shuffle buffer "
        "(default: 16 MB worth of rows)",
    )
    train.add_argument("--batch-size", type=_positive_int, default=128, help="default 128")
    train.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.0,
        help="fraction held out for validation (default 0; 0.1 with --early-stopping)",
    )
    train.add_argument(
        "--early-stopping",
        action="store_true",
        help="stop when the validation loss stalls, keeping the best weights",
    )
    train.add_argument(
        "--patience",
        type=_positive_int,
        default=5,
        help="epochs without improvement before stopping (default 5)",
    )
    train.add_argument("--dropout", type=_fraction, default=0.0, help="hidden dropout rate")
    train.add_argument("--l2", type=_finite_float, default=0.0, help="L2 weight decay")
    train.add_argument(
        "--no-standardize",
        action="store_true",
        help="for CSV/NPZ data: keep the inputs as they are instead of "
        "scaling each column to mean 0 and standard deviation 1",
    )
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument(
        "--dtype", choices=("float32", "float64"), default="float32", help="default float32"
    )
    train.add_argument(
        "--out",
        default="model.npz",
        metavar="FILE",
        help="model file (default model.npz; folders are created)",
    )
    train.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="train on the Dask cluster at ADDRESS (e.g. tcp://host:8786), "
        "data-parallel; needs nnscratch[dask]",
    )
    train.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="train data-parallel on a new local Dask cluster of N "
        "single-threaded worker processes; needs nnscratch[dask]",
    )
    train.add_argument(
        "--sync-every",
        type=_positive_int,
        default=64,
        metavar="STEPS",
        help="with --scheduler or --workers: steps each worker takes between "
        "two averagings of the parameters (default 64)",
    )
    train.add_argument("--plot", metavar="PNG", help="save the training curves here")
    train.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 progress bar (lines when not a terminal), 2 lines",
    )
    _add_table_options(train, features=True, drop_missing=True)
    train.set_defaults(func=_train)


def _add_evaluate_parser(sub):
    evaluate = sub.add_parser(
        "evaluate",
        help="score a saved model on data",
        description="Loss, accuracy, per-class accuracy and the "
        "confusion matrix (or regression errors). CSV "
        "columns are matched to the model's by name.",
    )
    evaluate.add_argument("model", help="model file written by train")
    _add_data_options(evaluate)
    evaluate.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="for digits/mnist/fashion-mnist (default test)",
    )
    evaluate.add_argument(
        "--seed",
        type=int,
        default=None,
        help="digits split seed (default: the one used for training)",
    )
    _add_table_options(evaluate, drop_missing=True)
    evaluate.set_defaults(func=_evaluate)


def _add_predict_parser(sub):
    predict = sub.add_parser(
        "predict",
        help="predict for the rows of a CSV or NPZ file",
        description="Write one prediction per input row. CSV columns "
        "are matched to the model's by name.",
    )
    predict.add_argument("model", help="model file written by train")
    predict.add_argument(
        "input",
        help="FILE.csv or FILE.npz, or an array file (FILE.npy, "
        "FILE.npz:KEY, FILE.h5:DATASET, FILE.zarr)",
    )
    predict.add_argument(
        "--output", metavar="CSV", help="write here instead of stdout (folders are created)"
    )
    predict.add_argument(
        "--proba", action="store_true", help="class probabilities instead of labels"
    )
    _add_table_options(predict)
    predict.set_defaults(func=_predict)


def _add_info_parser(sub):
    info = sub.add_parser(
        "info",
        help="describe a saved model",
        description="Architecture, parameter count and training history.",
    )
    info.add_argument("model", help="model file")
    info.set_defaults(func=_info)


def _add_demo_parser(sub):
    demo = sub.add_parser(
        "demo",
        help="train on the embedded 8x8 digits and report test accuracy",
        description="Train a 64-128-10 network on the embedded digits, "
        "holding out 20% for testing, with a validation "
        "split and early stopping.",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=100,
        help="most epochs to train; early stopping usually ends sooner (default 100)",
    )
    demo.add_argument(
        "--plot",
        default="nnscratch-demo-curves.png",
        metavar="PNG",
        help="where to save the training curves (default nnscratch-demo-curves.png; '' for none)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 progress bar (lines when not a terminal), 2 lines",
    )
    demo.set_defaults(func=_demo)


def _add_export_parser(sub):
    export = sub.add_parser(
        "export",
        help="export a saved model to ONNX",
        description="Write an ONNX file of a saved model, for ONNX Runtime "
        "(C++, C#, Java, JavaScript, mobile) without Python. "
        "The input scaling stored at training time is part of "
        "the graph, so the ONNX model takes raw input. Needs "
        "pip install 'nnscratch[onnx]'.",
    )
    export.add_argument("model", help="model file written by train")
    export.add_argument(
        "--output",
        metavar="ONNX",
        help="the ONNX file to write (default: MODEL with suffix .onnx)",
    )
    export.add_argument(
        "--opset", type=_positive_int, default=None, help="ONNX operator set version (default 17)"
    )
    export.add_argument(
        "--no-labels", action="store_true", help="leave out the 'label' output of a classifier"
    )
    export.set_defaults(func=_export)


#: Each command's parser builder, in the order ``--help`` lists them.
COMMANDS = [
    _add_train_parser,
    _add_evaluate_parser,
    _add_predict_parser,
    _add_info_parser,
    _add_export_parser,
    _add_demo_parser,
]


def build_parser():
    from . import __version__

    parser = _Parser(
        prog="nnscratch",
        description="A neural network from scratch with NumPy: train, evaluate "
        "and use multi-layer perceptrons from the terminal.",
    )
    parser.add_argument("--version", action="version", version=f"nnscratch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0 done, 1 failed, 2 bad arguments).

    Every failure is one line on stderr, ``nnscratch: error: ...``; Ctrl-C is
    left to Python (and to training, which stops cleanly after the batch).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as Unix tools do
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more is written
        return 0
    except (CLIError, ValueError, TypeError, OSError, ImportError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
    except MemoryError:
        message = "out of memory"
    except Exception as err:  # noqa: BLE001 - never a traceback, but say what it was
        message = " ".join(str(err).split())
        message = f"{type(err).__name__}{': ' + message if message else ''}"
    print(f"nnscratch: error: {message}", file=sys.stderr)
    return 1
