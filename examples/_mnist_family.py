"""Shared by mnist.py and fashion_mnist.py: train an MLP on a 60,000-image set."""

import argparse
import os
import time
from pathlib import Path

import numpy as np

import nnscratch as nn


def main(name, loader, epochs, layers, dropout):
    parser = argparse.ArgumentParser(description=f"Train an MLP on {name}.")
    parser.add_argument(
        "--data-home",
        default=os.environ.get("NNSCRATCH_DATA")
        or str(Path(__file__).resolve().parents[2] / "shared" / "data"),
        help="folder holding mnist/ and fashion-mnist/ (default: $NNSCRATCH_DATA, else "
        "../shared/data beside the repository)",
    )
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="train on the first LIMIT images only (a quick check)",
    )
    parser.add_argument("--out", default=None, help="save the model here")
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args()

    x_train, y_train = loader("train", data_home=args.data_home)
    x_test, y_test = loader("test", data_home=args.data_home)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    net = nn.NeuralNetwork(
        [784, *layers, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        nn.Adam(1e-3),
        dtype=np.float32,
        seed=0,
        dropout=dropout,
    )
    print(net)
    start = time.perf_counter()
    net.fit(
        x_train,
        y_train,
        batch_size=128,
        epochs=args.epochs,
        categorical=True,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    accuracy = net.score(x_test, y_test, accuracy=True)
    print(
        f"{name}: trained on {len(x_train)} images for {args.epochs} epochs in "
        f"{seconds:.0f} s; test accuracy {accuracy:.2%}"
    )
    if args.out:
        print("saved", net.save(args.out))
    return accuracy
