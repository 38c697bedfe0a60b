"""Command line: ``nnscratch demo`` (also ``python -m nnscratch demo``)."""

from __future__ import annotations

import argparse
import sys
import time


def _demo(args):
    from . import Adam, NeuralNetwork, __version__
    from .datasets import load_digits
    from .utils import train_test_split

    x, y = load_digits(normalize=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, seed=args.seed)
    print(f"nnscratch {__version__}: the 8x8 digits, {len(x_train)} images to train on, "
          f"{len(x_test)} held out")
    net = NeuralNetwork([64, 128, 10], "relu", "softmax", "categorical_crossentropy",
                        Adam(learning_rate=1e-3), seed=args.seed)
    print(net)
    start = time.perf_counter()
    losses = net.fit(x_train, y_train, batch_size=32, epochs=args.epochs, categorical=True,
                     verbose=args.verbose)
    seconds = time.perf_counter() - start
    train_acc = net.score(x_train, y_train, accuracy=True)
    test_acc = net.score(x_test, y_test, accuracy=True)
    print(f"trained {args.epochs} epochs in {seconds:.2f} s; final training loss {losses[-1]:.4f}")
    print(f"training accuracy {train_acc:.2%}")
    print(f"test accuracy {test_acc:.2%}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="nnscratch", description="A neural network from scratch with NumPy.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="train on the embedded 8x8 digits and report test accuracy",
                          description="Train a 64-128-10 network on the embedded digits, "
                                      "holding out 20%% for testing.")
    demo.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
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
