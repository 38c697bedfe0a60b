"""Data-parallel training on a Dask cluster, with a checkpoint to resume from.

    pip install -e ".[dask]"
    python examples/dask_train.py                      # a local cluster of 2 workers
    python examples/dask_train.py --workers 4
    python examples/dask_train.py --scheduler tcp://scheduler:8786
    python examples/dask_train.py --data mnist --data-home ../shared/data

The images become a Dask array cut into row chunks; each worker keeps its chunks and
trains a replica of the network on them, and every ``--sync-every`` steps the replicas'
parameters and Adam moments are averaged.  Stop the script (Ctrl-C, or kill it) and run
it again with the same arguments: it resumes from ``--checkpoint``.
"""

import argparse

import dask.array as da

from nnscratch import Adam, EarlyStopping, NeuralNetwork
from nnscratch import distributed as nd
from nnscratch.datasets import load_digits, load_mnist
from nnscratch.utils import train_test_split


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--workers", type=int, default=2, help="local cluster size")
    parser.add_argument("--data", choices=("digits", "mnist"), default="digits")
    parser.add_argument("--data-home", help="folder holding mnist/")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--sync-every", type=int, default=nd.DEFAULT_SYNC_EVERY)
    parser.add_argument("--checkpoint", default="dask-train-checkpoint.npz")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()

    if args.data == "digits":
        x, y = load_digits()
        x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.2, seed=0)
    else:
        x_train, y_train = load_mnist("train", data_home=args.data_home)
        x_test, y_test = load_mnist("test", data_home=args.data_home)
    # Dask arrays: four row chunks per worker, living on the workers from now on
    chunk = -(-len(x_train) // (4 * (args.workers or 1)))
    xd = da.from_array(x_train, chunks=(chunk, x_train.shape[1]))
    yd = da.from_array(y_train, chunks=chunk)

    net = NeuralNetwork(
        [x_train.shape[1], 128, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        Adam(1e-3),
        seed=0,
    )
    stopper = EarlyStopping("val_loss", patience=4)
    where = {"scheduler": args.scheduler} if args.scheduler else {"workers": args.workers}
    nd.fit_with_cluster(
        net,
        xd,
        yd,
        64,
        args.epochs,
        **where,
        categorical=True,
        sync_every=args.sync_every,
        validation_data=(x_test, y_test),
        callbacks=[stopper],
        checkpoint=args.checkpoint,
        resume=True,
        verbose=args.verbose,
    )
    history = net.history
    rounds = sum(history["sync_rounds"])
    print(
        f"{len(history['loss'])} epochs, {rounds} sync rounds; per round "
        f"{1000 * sum(history['compute_seconds']) / rounds:.1f} ms computing, "
        f"{1000 * sum(history['overhead_seconds']) / rounds:.1f} ms scheduling and "
        f"transfers"
    )
    print(f"test accuracy {net.score(x_test, y_test, accuracy=True):.2%}")
    print(f"checkpoint {args.checkpoint} (run again to resume; delete it to start over)")


if __name__ == "__main__":
    main()
