"""``nnscratch train``: build a network for the data, give it the input scaling,
fit it, report and save."""

from __future__ import annotations

import importlib.util
import os
import sys
import time

import numpy as np

from ._common import (
    BUILTIN_DATA,
    CLIError,
    _add_data_options,
    _add_table_options,
    _check_output,
    _finite_float,
    _fraction,
    _layers,
    _naming,
    _positive_int,
)
from ._tables import (
    _builtin,
    _check_source,
    _encode_labels,
    _guess_task,
    _label_text,
    _training_data,
)


def add_parser(sub):
    from ..registry import hidden_activations, optimizers

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
        help="for CSV, NPZ and array files: keep the inputs as they are instead of "
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
        "data-parallel; needs the dask extra: pip install -e '.[dask]'",
    )
    train.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="train data-parallel on a new local Dask cluster of N "
        "single-threaded worker processes; needs the dask extra: pip install -e '.[dask]'",
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
    train.set_defaults(func=run)


def run(args):
    """``nnscratch train``: build, scale, fit, report."""
    out = _check_train_outputs(args)
    source = _check_source(args.data, args.labels)
    data = _training_data(args)
    net, targets, task = _build(args, data, source)
    net.input_transform = _input_transform(args, data)
    labels = f"--labels {args.labels}" if args.labels else f"the target of {source}"
    with _naming(x=f"--data {source}", y=labels):
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
                "--plot needs matplotlib, an optional extra: "
                "pip install -e '.[plot]' in the checkout"
            )
    return out


def _build(args, data, source):
    """The network for ``data``, its metadata filled in; returns ``(network, targets, task)``."""
    from ..network import NeuralNetwork
    from ..registry import optimizers

    task = args.task if args.task != "auto" else (data["task"] or _guess_task(data["y"]))
    targets, class_names = _targets(data, task, source)
    if task == "classification":
        outputs, output, loss = len(class_names), "softmax", "categorical_crossentropy"
    else:
        outputs, output, loss = targets.shape[1], "identity", "mse"
    net = NeuralNetwork(
        [data["x"].shape[1], *args.layers, outputs],
        args.activation,
        output,
        loss,
        optimizers.get(args.optimizer)(learning_rate=args.learning_rate),
        dtype=np.dtype(args.dtype),
        seed=args.seed,
        dropout=args.dropout,
        l2=args.l2,
    )
    net.metadata = {
        "source": source,
        "task": task,
        "feature_names": list(data["feature_names"]),
        "named_features": data["named"],
        "ignored_columns": data["ignored"],
        "target_name": data["target_name"],
        "seed": args.seed,
    }
    if class_names is not None:
        net.metadata["class_names"] = class_names
    return net, targets, task


def _targets(data, task, source):
    """``(targets, class names)``: class indices and their names for classification,
    a float64 column per output (and None) for regression."""
    y = data["y"]
    if task == "classification":
        if data["class_names"] is not None:  # a built-in set: indices already
            return y, data["class_names"]
        names = [_label_text(v) for v in np.unique(y).tolist()]
        return _encode_labels(y, names, source), names
    if y.dtype.kind in "US":
        raise CLIError(
            f"{source}: the target column {data['target_name']!r} is not "
            f"numeric, so it cannot be regressed; use --task classification"
        )
    return y.reshape(len(y), -1).astype(np.float64), None


def _input_transform(args, data):
    """The network's input transform, the command line's one scaling rule.

    A built-in data set brings its own (the digits' pixels by 1/16).  Otherwise
    the inputs are standardised (mean 0 and standard deviation 1 per column),
    except uint8 array files, whose pixels are divided by 255; none with
    ``--no-standardize``.  ``predict`` applies it, so a model file loaded in
    Python takes the raw columns.  Values too large for the network's dtype, or
    to standardise, are refused here with one message.
    """
    from ..data import Scale, Standardize

    if "transform" in data:
        return data["transform"]
    x = data["x"]
    if data.get("streamed") and np.dtype(x.dtype) == np.uint8:
        return None if args.no_standardize else Scale(1 / 255)
    if args.no_standardize and not _may_overflow(x, args.dtype):
        return None
    mean, spread, peak = _column_statistics(x, args.data)
    if peak > np.finfo(args.dtype).max:
        raise CLIError(
            f"--data {args.data}: holds values as large as {peak:.3g}, which do not fit "
            f"the network's {args.dtype} (largest {np.finfo(args.dtype).max:.3g}); "
            f"rescale the data{' or pass --dtype float64' if args.dtype == 'float32' else ''}"
        )
    if args.no_standardize:
        return None
    return Standardize(mean, np.where(spread > 0, spread, 1.0))


def _may_overflow(x, dtype):
    """Whether values of ``x``'s dtype can exceed the largest ``dtype`` number."""
    kind = np.dtype(x.dtype)
    return kind.kind == "f" and np.finfo(kind).max > np.finfo(dtype).max


def _column_statistics(x, source, chunk_rows=65536):
    """Mean, standard deviation and largest magnitude of ``x``'s columns (any array
    source), a chunk of rows at a time in float64.

    Each chunk's sum of squared deviations from its own mean is merged with
    Chan's formula, so data centred far from zero keeps its spread (the sum of
    squares minus the squared mean would cancel).  Values whose squares
    overflow float64 are refused with one message, not NumPy's warnings.
    """
    from ..data import iter_x_chunks

    n, mean, m2, peak = 0, 0.0, 0.0, 0.0
    with np.errstate(over="raise", invalid="raise"):
        try:
            for part in iter_x_chunks(x, chunk_rows, np.float64, name=f"--data {source}"):
                k = part.shape[0]
                if k == 0:
                    continue
                part_mean = part.mean(axis=0)
                part_m2 = np.square(part - part_mean).sum(axis=0)
                delta = part_mean - mean
                total = n + k
                mean = mean + delta * (k / total)
                m2 = m2 + part_m2 + np.square(delta) * (n / total * k)
                peak = max(peak, float(np.abs(part).max(initial=0.0)))
                n = total
        except FloatingPointError:
            raise CLIError(
                f"--data {source}: holds values too large to standardise (their squares "
                f"overflow float64 beyond about 1e154); rescale the data"
            ) from None
    if n == 0:
        raise CLIError(f"--data {source}: holds no rows")
    return np.asarray(mean, dtype=np.float64), np.sqrt(m2 / n), peak


def _fit(args, net, x, targets, task):
    """Train ``net`` here or on a Dask cluster; returns the seconds it took."""
    from ..callbacks import EarlyStopping

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
        from ..distributed import fit_with_cluster

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
    from ..plotting import plot_history

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
