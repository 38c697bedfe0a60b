"""Command line: ``nnscratch demo`` (also ``python -m nnscratch demo``)."""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args):
    from . import Adam, EarlyStopping, NeuralNetwork, __version__, plot_history
    from .datasets import load_digits
    from .utils import train_test_split

    x, y = load_digits(normalize=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, seed=args.seed)
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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="nnscratch", description="A neural network from scratch with NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train on the embedded 8x8 digits and report test accuracy",
                          description="Train a 64-128-10 network on the embedded digits, "
                                      "holding out 20%% for testing, with a validation "
                                      "split and early stopping.")
    demo.add_argument("--epochs", type=int, default=100,
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
    except (ValueError, TypeError, OSError) as err:
        print(f"nnscratch: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nnscratch: interrupted", file=sys.stderr)
        return 130
