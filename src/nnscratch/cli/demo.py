"""``nnscratch demo``: train on the embedded 8x8 digits and report the test accuracy."""

from __future__ import annotations

import time

from ._common import _check_output, _positive_int


def add_parser(sub):
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
    demo.set_defaults(func=run)


def run(args):
    from .._version import __version__
    from ..callbacks import EarlyStopping
    from ..datasets import load_digits
    from ..network import NeuralNetwork
    from ..optimizers import Adam
    from ..plotting import plot_history
    from ..utils import train_test_split

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
