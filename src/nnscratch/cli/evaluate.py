"""``nnscratch evaluate``: the loss, accuracy, per-class accuracy and confusion
matrix of a saved model on data (or its regression errors)."""

from __future__ import annotations

import numpy as np

from ._common import CLIError, _add_data_options, _add_table_options, _load_model, _naming
from ._tables import _check_source, _encode_labels, _model_data


def add_parser(sub):
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
        default=None,
        help="for digits/mnist/fashion-mnist (default test)",
    )
    evaluate.add_argument(
        "--seed",
        dest="split_seed",
        type=int,
        default=None,
        help="digits split seed (default: the one used for training)",
    )
    _add_table_options(evaluate, drop_missing=True)
    evaluate.set_defaults(func=run)


def run(args):
    source = _check_source(args.data, args.labels)
    net, meta = _load_model(args.model)
    data = _model_data(args, net, meta, split=args.split)
    x, y = data["x"], data["y"]
    if y is None:
        raise CLIError(f"{source}: no target column to evaluate against")
    labels = f"--labels {args.labels}" if args.labels else f"the target of {source}"
    with _naming(x=f"--data {source}", y=labels):
        _evaluate(net, meta, x, y, data, source)
    return 0


def _evaluate(net, meta, x, y, data, source):
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
