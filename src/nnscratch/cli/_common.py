"""What every command shares: the one-line errors, file reading and output checks,
loading a model with its metadata checked, argument types and the option groups."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os

import numpy as np

from .._paths import prepare_output

BUILTIN_DATA = ("digits", "mnist", "fashion-mnist")


TABLE_SUFFIXES = (".csv", ".tsv", ".npz")


ARRAY_SUFFIXES = (".npy", ".h5", ".hdf5", ".zarr")


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line: 'nnscratch: error: ...'."""

    def error(self, message):
        self.exit(2, f"nnscratch: error: {message} (see {self.prog} --help)\n")


class CLIError(Exception):
    """A problem worth one line to the user."""


def _quoted(values, limit=8):
    """``'a', 'b'``: plain strings, never ``np.str_('a')``; shortened after ``limit``."""
    from ..datasets._tables import _names

    return _names(values, limit)


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


def _similar_file(path):
    """`` (did you mean 'data/iris.csv'?)`` for a file of a close name in the same folder."""
    folder, base = os.path.split(path)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return ""
    close = difflib.get_close_matches(base, names, n=1, cutoff=0.75)
    return f" (did you mean {os.path.join(folder, close[0])!r}?)" if close else ""


def _check_width(width, net, source, hint=""):
    if width != net.layers[0]:
        raise CLIError(
            f"{source}: the data has {width} features, but the model expects {net.layers[0]}{hint}"
        )


def _load_model(path):
    """The network in ``path`` and its checked metadata (see :func:`_check_metadata`)."""
    from ..network import load_model

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


@contextlib.contextmanager
def _naming(x=None, y=None):
    """Library errors about ``x`` / ``y`` re-raised naming what the user typed.

    ``net.fit``, ``predict`` and ``score`` name their arguments "x" and "y"; on
    the command line those are files (``--data FILE``, ``--labels FILE``), and
    a message such as "x holds non-finite values" must say which file.
    """
    try:
        yield
    except (ValueError, TypeError) as err:
        message = str(err)
        for argument, shown in (("x", x), ("y", y)):
            if shown is not None and message.startswith(f"{argument} "):
                raise CLIError(shown + message[len(argument) :]) from None
        raise
