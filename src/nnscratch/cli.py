"""Command line: ``nnscratch COMMAND`` (also ``python -m nnscratch COMMAND``).

Commands: ``train``, ``evaluate``, ``predict``, ``info`` and ``demo``.  Bad
arguments and missing files end with one line on stderr and a non-zero exit
status, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time

import numpy as np

BUILTIN_DATA = ("digits", "mnist", "fashion-mnist")


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line: 'nnscratch: error: ...'."""

    def error(self, message):
        self.exit(2, f"nnscratch: error: {message} (see {self.prog} --help)\n")


class CLIError(Exception):
    """A problem worth one line to the user."""


# ----------------------------------------------------------------------------- data
def _prepare(x, meta):
    """Apply the input scaling recorded at training time."""
    offset = np.asarray(meta.get("input_offset", 0.0))
    scale = np.asarray(meta.get("input_scale", 1.0))
    return (np.asarray(x, dtype=np.float64) - offset) * scale


def _load_data(source, split, target, seed, data_home, require_target=True):
    """-> dict(x, y, task, class_names, feature_names, target_name, offset, scale)."""
    from .datasets import FASHION_CLASSES, load_digits, load_fashion_mnist, load_mnist, load_table
    from .utils import split_indices
    if source == "digits":
        x, y = load_digits()
        held = np.zeros(len(x), dtype=bool)
        held[split_indices(len(x), 0.2, np.random.default_rng(seed), labels=y)] = True
        rows = held if split == "test" else ~held
        return dict(x=x[rows], y=y[rows], task="classification", indices=True,
                    class_names=[str(d) for d in range(10)],
                    feature_names=[f"pixel{i}" for i in range(64)], target_name="digit",
                    offset=0.0, scale=1 / 16)
    if source in ("mnist", "fashion-mnist"):
        loader = load_mnist if source == "mnist" else load_fashion_mnist
        x, y = loader(split, data_home=data_home)
        names = [str(d) for d in range(10)] if source == "mnist" else list(FASHION_CLASSES)
        return dict(x=x, y=y, task="classification", indices=True, class_names=names,
                    feature_names=[f"pixel{i}" for i in range(784)], target_name="label",
                    offset=0.0, scale=1.0)
    x, y, features, target_name = load_table(source, target, require_target=require_target)
    return dict(x=x, y=y, task=None, indices=False, class_names=None, feature_names=features,
                target_name=target_name, offset=None, scale=None)


def _guess_task(y):
    if y.dtype.kind in "US":
        return "classification"
    if y.ndim == 1 and np.all(y == np.round(y)) and len(np.unique(y)) <= 50:
        return "classification"
    return "regression"


def _encode_labels(y, class_names):
    """Map labels (numbers or names) to indices of class_names."""
    keys = np.asarray([str(v) if not isinstance(v, (float, np.floating)) or v != int(v)
                       else str(int(v)) for v in y])
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted(set(keys) - set(index))
    if unknown:
        raise CLIError(f"the data holds labels {unknown[:5]} that the model does not know "
                       f"(its classes: {', '.join(class_names[:10])})")
    return np.array([index[k] for k in keys])


# --------------------------------------------------------------------------- commands
def _train(args):
    from . import EarlyStopping, NeuralNetwork, plot_history
    from .registry import optimizers
    data = _load_data(args.data, "train", args.target, args.seed, args.data_home)
    x, y = data["x"], data["y"]
    task = args.task if args.task != "auto" else (data["task"] or _guess_task(y))
    meta = {"source": args.data, "task": task, "feature_names": data["feature_names"],
            "target_name": data["target_name"], "seed": args.seed}
    if data["offset"] is None:  # a user's table: standardise unless told not to
        if args.no_standardize:
            offset, scale = 0.0, 1.0
        else:
            offset = x.mean(axis=0)
            spread = x.std(axis=0)
            scale = 1.0 / np.where(spread > 0, spread, 1.0)
            offset, scale = offset.tolist(), scale.tolist()
    else:
        offset, scale = data["offset"], data["scale"]
    meta.update(input_offset=offset, input_scale=scale)
    x = _prepare(x, meta)
    if task == "classification":
        if data["class_names"] is None:
            values = np.unique(y)
            data["class_names"] = [str(int(v)) if isinstance(v, (float, np.floating))
                                   and v == int(v) else str(v) for v in values]
        meta["class_names"] = data["class_names"]
        targets = y if data["indices"] else _encode_labels(y, data["class_names"])
        outputs, output, loss = len(data["class_names"]), "softmax", "categorical_crossentropy"
    else:
        if y.dtype.kind in "US":
            raise CLIError(f"the target column {data['target_name']!r} is not numeric, so it "
                           f"cannot be regressed; use --task classification")
        targets = y.reshape(len(y), -1).astype(np.float64)
        outputs, output, loss = targets.shape[1], "identity", "mse"
    hidden = [int(v) for v in args.layers.split(",") if v.strip()] if args.layers else []
    optimizer = optimizers.get(args.optimizer)(learning_rate=args.learning_rate)
    net = NeuralNetwork([x.shape[1], *hidden, outputs], args.activation, output, loss,
                        optimizer, dtype=np.dtype(args.dtype), seed=args.seed,
                        dropout=args.dropout, l2=args.l2)
    net.metadata = meta
    print(f"training {net}", file=sys.stderr)
    callbacks = []
    split = args.validation_split
    if args.early_stopping:
        split = split or 0.1
        callbacks.append(EarlyStopping("val_loss", patience=args.patience))
    start = time.perf_counter()
    net.fit(x, targets, args.batch_size, args.epochs, categorical=task == "classification",
            validation_split=split, callbacks=callbacks, verbose=args.verbose)
    seconds = time.perf_counter() - start
    history = net.history
    summary = (f"trained {len(history['loss'])} epochs in {seconds:.1f} s; "
               f"loss {history['loss'][-1]:.4f}")
    if "val_loss" in history:
        summary += f", validation loss {history['val_loss'][-1]:.4f}"
    if "val_accuracy" in history:
        summary += f", validation accuracy {history['val_accuracy'][-1]:.2%}"
    print(summary)
    if args.data in BUILTIN_DATA:
        test = _load_data(args.data, "test", None, args.seed, args.data_home)
        accuracy = net.score(_prepare(test["x"], meta), test["y"], accuracy=True)
        print(f"test accuracy {accuracy:.2%} on {len(test['y'])} held-out images")
    path = net.save(args.out)
    print(f"model saved to {path}")
    if args.plot:
        plot_history(net.history, args.plot, title=f"nnscratch: {args.data}")
        print(f"training curves saved to {args.plot}")
    return 0


def _evaluate(args):
    from . import load_model
    net = load_model(args.model)
    meta = net.metadata
    data = _load_data(args.data, args.split, args.target or meta.get("target_name"),
                      args.seed if args.seed is not None else meta.get("seed", 0), args.data_home)
    x = _prepare(data["x"], meta)
    if data["y"] is None:
        raise CLIError(f"{args.data}: no target column to evaluate against")
    n = len(data["y"])
    if meta.get("task", "classification") == "classification":
        names = meta.get("class_names") or [str(i) for i in range(net.layers[-1])]
        y = data["y"] if data["indices"] else _encode_labels(data["y"], names)
        predicted = net.predict(x, labels=True)
        k = len(names)
        confusion = np.zeros((k, k), dtype=np.int64)
        np.add.at(confusion, (y, predicted), 1)
        print(f"{n} samples from {args.data}")
        print(f"loss {net.score(x, y):.4f}")
        print(f"accuracy {np.mean(predicted == y):.2%}")
        print("per-class accuracy:")
        width = max(len(name) for name in names)
        for i, name in enumerate(names):
            total = confusion[i].sum()
            share = f"{confusion[i, i] / total:.2%}" if total else "n/a"
            print(f"  {name:>{width}}  {share:>7}  ({confusion[i, i]}/{total})")
        print("confusion matrix (rows: true class, columns: predicted):")
        cell = max(len(str(confusion.max())), 3)
        print(" " * (width + 2) + " ".join(f"{str(i):>{cell}}" for i in range(k)))
        for i, name in enumerate(names):
            print(f"  {name:>{width}} " + " ".join(f"{v:>{cell}}" for v in confusion[i]))
    else:
        y = np.asarray(data["y"], dtype=np.float64).reshape(n, -1)
        pred = net.predict(x)
        residual = pred - y
        r2 = 1 - np.sum(residual ** 2) / np.sum((y - y.mean(axis=0)) ** 2)
        print(f"{n} samples from {args.data}")
        print(f"loss (mse) {np.mean(residual ** 2):.6g}")
        print(f"mae {np.mean(np.abs(residual)):.6g}")
        print(f"R^2 {r2:.4f}")
    return 0


def _predict(args):
    from . import load_model
    from ._atomic import atomic_write
    from .datasets import load_table
    net = load_model(args.model)
    meta = net.metadata
    x, _, names, _ = load_table(args.input, meta.get("target_name"), require_target=False)
    wanted = meta.get("feature_names")
    if wanted and set(wanted) <= set(names) and names != wanted:
        x = x[:, [names.index(w) for w in wanted]]
    if x.shape[1] != net.layers[0]:
        raise CLIError(f"{args.input} has {x.shape[1]} feature columns, but the model expects "
                       f"{net.layers[0]}")
    x = _prepare(x, meta)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if meta.get("task", "classification") == "classification":
        classes = meta.get("class_names") or [str(i) for i in range(net.layers[-1])]
        if args.proba:
            writer.writerow(classes)
            writer.writerows([[f"{p:.6g}" for p in row] for row in net.predict(x)])
        else:
            writer.writerow([meta.get("target_name") or "prediction"])
            writer.writerows([[classes[i]] for i in net.predict(x, labels=True)])
    else:
        out = net.predict(x)
        writer.writerow([meta.get("target_name") or "prediction"] if out.shape[1] == 1
                        else [f"output{i}" for i in range(out.shape[1])])
        writer.writerows([[f"{v:.8g}" for v in row] for row in out])
    if args.output:
        with atomic_write(args.output, "w") as handle:
            handle.write(buffer.getvalue())
        print(f"{len(x)} predictions written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(buffer.getvalue())
    return 0


def _info(args):
    from . import load_model
    net = load_model(args.model)
    meta = net.metadata
    print(f"model file   {args.model}")
    print(f"layers       {' -> '.join(map(str, net.layers))}")
    print(f"parameters   {net.n_params:,} ({net.dtype.name})")
    print(f"hidden       {net.hidden_activation.name}; output {net.output_activation.name}; "
          f"loss {net.loss.name}")
    print(f"optimizer    {net.optimizer!r}")
    if net.dropout or net.l2:
        print(f"regularised  dropout {net.dropout}, l2 {net.l2}")
    if meta:
        task = meta.get("task", "?")
        print(f"trained on   {meta.get('source', '?')} ({task}, "
              f"{len(meta.get('feature_names') or [])} features)")
        if meta.get("class_names"):
            print(f"classes      {', '.join(meta['class_names'])}")
    history = net.history
    if history.get("loss"):
        epochs = len(history["loss"])
        line = f"history      {epochs} epochs; loss {history['loss'][0]:.4f} -> " \
               f"{history['loss'][-1]:.4f}"
        if history.get("val_loss"):
            best = int(np.argmin(history["val_loss"]))
            line += f"; best validation loss {history['val_loss'][best]:.4f} (epoch {best + 1})"
        if history.get("val_accuracy"):
            line += f", validation accuracy up to {max(history['val_accuracy']):.2%}"
        print(line)
        print(f"time         {sum(history.get('seconds', [])):.1f} s of training")
    else:
        print("history      not trained yet")
    return 0


def _demo(args):
    from . import Adam, EarlyStopping, NeuralNetwork, __version__, plot_history
    from .datasets import load_digits
    from .utils import train_test_split

    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, seed=args.seed)
    # scale every pixel to mean 0 and spread 1, using the training images only
    mean, spread = x_train.mean(axis=0), x_train.std(axis=0)
    spread[spread == 0] = 1.0
    x_train, x_test = (x_train - mean) / spread, (x_test - mean) / spread
    print(f"nnscratch {__version__}: the 8x8 digits, {len(x_train)} images to train on "
          f"(10% of them held out for validation), {len(x_test)} for the final test")
    net = NeuralNetwork([64, 128, 10], "relu", "softmax", "categorical_crossentropy",
                        Adam(learning_rate=1e-3), seed=args.seed, dropout=0.2)
    print(net)
    stopper = EarlyStopping(monitor="val_loss", patience=8, min_delta=1e-3)
    start = time.perf_counter()
    net.fit(x_train, y_train, batch_size=32, epochs=args.epochs, categorical=True,
            validation_split=0.1, callbacks=[stopper], verbose=args.verbose)
    seconds = time.perf_counter() - start
    epochs = len(net.history["loss"])
    best = stopper.best_epoch + 1 if stopper.best_epoch is not None else epochs
    how = (f"early stopping after epoch {epochs}" if stopper.stopped_epoch is not None
           else f"all {epochs} epochs")
    print(f"trained in {seconds:.2f} s ({how}); kept the weights of epoch {best}, "
          f"validation loss {stopper.best:.4f}")
    print(f"training accuracy {net.score(x_train, y_train, accuracy=True):.2%}")
    print(f"test accuracy {net.score(x_test, y_test, accuracy=True):.2%}")
    if args.plot:
        try:
            plot_history(net.history, args.plot, title="nnscratch demo: 8x8 digits")
            print(f"training curves saved to {args.plot}")
        except ImportError as err:
            print(f"no plot: {err}")
    return 0


# ----------------------------------------------------------------------------- parser
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


def _layers(text):
    try:
        sizes = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 256,128, got {text!r}") \
            from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return text


def build_parser():
    from .registry import hidden_activations, optimizers
    parser = _Parser(prog="nnscratch",
                     description="A neural network from scratch with NumPy: train, evaluate "
                                 "and use multi-layer perceptrons from the terminal.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def data_args(p, required=True):
        p.add_argument("--data", required=required, metavar="SOURCE",
                       help="digits, mnist, fashion-mnist, or a FILE.csv / FILE.npz")
        p.add_argument("--target", metavar="COLUMN",
                       help="target column of a CSV (default: the last) or key of an NPZ "
                            "(default: y)")
        p.add_argument("--data-home", metavar="DIR",
                       help="folder holding mnist/ and fashion-mnist/ (default: "
                            "$NNSCRATCH_DATA or a per-user cache folder)")

    train = sub.add_parser("train", help="train a network and save it",
                           description="Train a network on a data set and save the model "
                                       "file. Input and output sizes come from the data.")
    data_args(train)
    train.add_argument("--task", choices=("auto", "classification", "regression"),
                       default="auto", help="default: guessed from the target column")
    train.add_argument("--layers", type=_layers, default="128",
                       help="hidden layer sizes, comma-separated (default 128)")
    train.add_argument("--activation", default="relu", choices=hidden_activations.names(),
                       help="hidden activation (default relu)")
    train.add_argument("--optimizer", default="adam", choices=optimizers.names(),
                       help="default adam")
    train.add_argument("--learning-rate", type=float, default=1e-3, help="default 1e-3")
    train.add_argument("--epochs", type=_positive_int, default=20, help="default 20")
    train.add_argument("--batch-size", type=_positive_int, default=128, help="default 128")
    train.add_argument("--validation-split", type=_fraction, default=0.0,
                       help="fraction held out for validation (default 0; 0.1 with "
                            "--early-stopping)")
    train.add_argument("--early-stopping", action="store_true",
                       help="stop when the validation loss stalls, keeping the best weights")
    train.add_argument("--patience", type=_positive_int, default=5,
                       help="epochs without improvement before stopping (default 5)")
    train.add_argument("--dropout", type=_fraction, default=0.0, help="hidden dropout rate")
    train.add_argument("--l2", type=float, default=0.0, help="L2 weight decay")
    train.add_argument("--no-standardize", action="store_true",
                       help="for CSV/NPZ data: keep the inputs as they are instead of "
                            "scaling each column to mean 0 and standard deviation 1")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                       help="default float32")
    train.add_argument("--out", default="model.npz", help="model file (default model.npz)")
    train.add_argument("--plot", metavar="PNG", help="save the training curves here")
    train.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                       help="0 silent, 1 progress bar (lines when not a terminal), 2 lines")
    train.set_defaults(func=_train)

    evaluate = sub.add_parser("evaluate", help="score a saved model on data",
                              description="Loss, accuracy, per-class accuracy and the "
                                          "confusion matrix (or regression errors).")
    evaluate.add_argument("model", help="model file written by train")
    data_args(evaluate)
    evaluate.add_argument("--split", choices=("test", "train"), default="test",
                          help="for digits/mnist/fashion-mnist (default test)")
    evaluate.add_argument("--seed", type=int, default=None,
                          help="digits split seed (default: the one used for training)")
    evaluate.set_defaults(func=_evaluate)

    predict = sub.add_parser("predict", help="predict for the rows of a CSV or NPZ file",
                             description="Write one prediction per input row.")
    predict.add_argument("model", help="model file written by train")
    predict.add_argument("input", help="FILE.csv (with a header row) or FILE.npz")
    predict.add_argument("--output", metavar="CSV", help="write here instead of stdout")
    predict.add_argument("--proba", action="store_true",
                         help="class probabilities instead of labels")
    predict.set_defaults(func=_predict)

    info = sub.add_parser("info", help="describe a saved model",
                          description="Architecture, parameter count and training history.")
    info.add_argument("model", help="model file")
    info.set_defaults(func=_info)

    demo = sub.add_parser("demo", help="train on the embedded 8x8 digits and report test accuracy",
                          description="Train a 64-128-10 network on the embedded digits, "
                                      "holding out 20%% for testing, with a validation "
                                      "split and early stopping.")
    demo.add_argument("--epochs", type=_positive_int, default=100,
                      help="most epochs to train; early stopping usually ends sooner "
                           "(default 100)")
    demo.add_argument("--plot", default="nnscratch-demo-curves.png", metavar="PNG",
                      help="where to save the training curves (default "
                           "nnscratch-demo-curves.png; '' for none)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                      help="0 silent, 1 progress bar (lines when not a terminal), 2 lines")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (CLIError, ValueError, TypeError, OSError, ImportError) as err:
        message = " ".join(str(err).split())
        print(f"nnscratch: error: {message}", file=sys.stderr)
        return 1
