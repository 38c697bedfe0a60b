"""Data-parallel training on a local Dask cluster: throughput, round costs, accuracy.

Run from the repository root (needs the dask extra and the MNIST files):

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python benchmarks/bench_distributed.py            # about 10 minutes
    .venv/bin/python benchmarks/bench_distributed.py --quick    # fewer epochs

One run measures, on MNIST (784-128-10, ReLU, softmax, Adam 1e-3, float32, batch 128):

* ``net.fit`` in this process, BLAS limited to one thread (threadpoolctl);
* ``nnscratch.distributed.fit`` on a LocalCluster of ONE single-threaded worker process;
* the same on a LocalCluster of TWO single-threaded worker processes, for several
  ``sync_every`` values.

Every run trains the same number of epochs from the same initial network and reports the
samples per second (median epoch), the split of a sync round into compute, serialisation,
averaging and the rest (scheduling and transfers), and the MNIST test accuracy.  The
pixels travel to the workers as uint8 and are scaled to float32 there (a Dask graph).

The results go to benchmarks/distributed_results.json; benchmarks/distributed.md
discusses them and models larger clusters from them.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"


def build_network(seed=0):
    from nnscratch import Adam, NeuralNetwork
    return NeuralNetwork([784, 128, 10], "relu", "softmax", "categorical_crossentropy",
                         Adam(1e-3), dtype=np.float32, seed=seed)


def summary(net, seconds, n, x_test, y_test, label, **extra):
    history = net.history
    per_epoch = statistics.median(seconds)
    row = {"label": label, "epochs": len(seconds), "seconds_per_epoch": per_epoch,
           "samples_per_second": n / per_epoch,
           "test_accuracy": net.score(x_test, y_test, accuracy=True),
           "final_loss": history["loss"][-1]}
    if "sync_rounds" in history:
        rounds = sum(history["sync_rounds"])
        for key in ("compute_seconds", "compute_cpu_seconds", "serialize_seconds",
                    "average_seconds", "overhead_seconds"):
            row[key.replace("_seconds", "_ms_per_round")] = \
                1000 * sum(history[key]) / rounds
        row["round_ms"] = 1000 * sum(history["seconds"]) / rounds
        row["rounds_per_epoch"] = history["sync_rounds"][0]
    row.update(extra)
    print(json.dumps(row), flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs instead of 5")
    parser.add_argument("--data-home", default=str(DATA))
    parser.add_argument("--out", default=str(HERE / "distributed_results.json"))
    args = parser.parse_args()
    epochs = 2 if args.quick else 5

    import dask.array as da
    from distributed import Client
    from threadpoolctl import threadpool_limits

    from nnscratch import distributed as nd
    from nnscratch.datasets import load_mnist

    warnings.simplefilter("ignore")
    x, y = load_mnist("train", data_home=args.data_home)
    x_test, y_test = load_mnist("test", data_home=args.data_home)
    n = x.shape[0]
    pixels = np.rint(x * 255).astype(np.uint8)
    start_net = build_network()
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "numpy": np.__version__,
                           "load_average_at_start": os.getloadavg()},
               "epochs": epochs, "batch_size": 128, "n_params": start_net.n_params,
               "runs": []}

    # 1. one process, one BLAS thread
    net = copy.deepcopy(start_net)
    with threadpool_limits(1):
        net.fit(x, y, 128, epochs, categorical=True, verbose=0)
    results["runs"].append(summary(net, net.history["seconds"], n, x_test, y_test,
                                   "net.fit, 1 thread"))

    def on_cluster(workers, sync_values, run_epochs):
        with nd.local_cluster(workers) as cluster, Client(cluster) as client:
            xd = da.from_array(pixels, chunks=(-(-n // workers), 784))
            xd = (xd.astype(np.float32) / np.float32(255)).persist()
            yd = da.from_array(y, chunks=(-(-n // workers),)).persist()
            client.wait_for_workers(workers)
            for sync in sync_values:
                net = copy.deepcopy(start_net)
                nd.fit(net, xd, yd, 128, run_epochs[sync], client=client, sync_every=sync,
                       categorical=True, verbose=0)
                results["runs"].append(summary(
                    net, net.history["seconds"], n, x_test, y_test,
                    f"distributed.fit, {workers} worker(s), sync_every={sync}",
                    workers=workers, sync_every=sync))

    runs = {1: 1, 16: epochs, 64: epochs, 256: epochs}
    on_cluster(1, [64, 256], runs)
    on_cluster(2, [1, 16, 64, 256], runs)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"results written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
