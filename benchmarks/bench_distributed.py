"""Data-parallel training on a local Dask cluster: throughput, round costs, accuracy.

Run from the repository root (needs the dask extra and the MNIST files):

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python benchmarks/bench_distributed.py            # about 10 minutes
    .venv/bin/python benchmarks/bench_distributed.py --quick    # fewer epochs
    .venv/bin/python benchmarks/bench_distributed.py --memory   # client memory, 1 minute

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

    return NeuralNetwork(
        [784, 128, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        Adam(1e-3),
        dtype=np.float32,
        seed=seed,
    )


def summary(net, seconds, n, x_test, y_test, label, **extra):
    history = net.history
    per_epoch = statistics.median(seconds)
    row = {
        "label": label,
        "epochs": len(seconds),
        "seconds_per_epoch": per_epoch,
        "samples_per_second": n / per_epoch,
        "test_accuracy": net.score(x_test, y_test, accuracy=True),
        "final_loss": history["loss"][-1],
    }
    if "sync_rounds" in history:
        rounds = sum(history["sync_rounds"])
        for key in (
            "compute_seconds",
            "compute_cpu_seconds",
            "serialize_seconds",
            "average_seconds",
            "overhead_seconds",
        ):
            row[key.replace("_seconds", "_ms_per_round")] = 1000 * sum(history[key]) / rounds
        row["round_ms"] = 1000 * sum(history["seconds"]) / rounds
        row["rounds_per_epoch"] = history["sync_rounds"][0]
    row.update(extra)
    print(json.dumps(row), flush=True)
    return row


def client_memory(rows=384_000, features=784):
    """The client's memory while distributed.fit trains on a uint8 .npy memory map.

    Writes a 301 MB file of random pixels in a temporary folder, starts a LocalCluster of
    two worker processes and trains one epoch (784-16-10, ``Scale(1 / 255)``), then prints
    the client's peak traced allocations (tracemalloc), its resident-memory growth, and
    whether Dask warned about a large graph.  The workers map the file themselves.
    """
    import tempfile
    import tracemalloc

    import psutil
    from distributed import Client, LocalCluster

    from nnscratch import SGD, NeuralNetwork
    from nnscratch import distributed as nd
    from nnscratch.data import Scale

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pixels.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, features))
        rng = np.random.default_rng(0)
        for start in range(0, rows, 50_000):
            stop = min(start + 50_000, rows)
            out[start:stop] = rng.integers(0, 256, size=(stop - start, features), dtype=np.uint8)
        out.flush()
        del out
        x = np.load(path, mmap_mode="r")
        y = rng.integers(0, 10, size=rows)
        net = NeuralNetwork(
            [features, 16, 10], "relu", "softmax", "categorical_crossentropy", SGD(0.1)
        )
        net.input_transform = Scale(1 / 255)
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster:
            with Client(cluster) as client:
                process = psutil.Process()
                rss_before = process.memory_info().rss
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    tracemalloc.start()
                    nd.fit(
                        net,
                        x,
                        y,
                        4096,
                        1,
                        client=client,
                        categorical=True,
                        verbose=0,
                        sync_every=16,
                    )
                    _, peak = tracemalloc.get_traced_memory()
                    tracemalloc.stop()
                rss_after = process.memory_info().rss
        large = [str(w.message) for w in caught if "large graph" in str(w.message).lower()]
        print(f"memory map: {x.nbytes / 2**20:.0f} MB ({rows} x {features} uint8)")
        print(f"client peak traced allocations during distributed.fit: {peak / 2**20:.1f} MB")
        print(f"client resident memory growth: {(rss_after - rss_before) / 2**20:.1f} MB")
        print(f"'large graph' warnings: {len(large)}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 epochs instead of 5")
    parser.add_argument("--data-home", default=str(DATA))
    parser.add_argument("--out", default=str(HERE / "distributed_results.json"))
    parser.add_argument(
        "--model-only",
        action="store_true",
        help="only recompute the scaling model from the results file",
    )
    parser.add_argument(
        "--memory",
        action="store_true",
        help="only measure the client's memory while training on a 300 MB uint8 memory map",
    )
    args = parser.parse_args()
    if args.memory:
        return client_memory()
    if args.model_only:
        results = json.loads(Path(args.out).read_text())
        results["model"] = scaling_model(results)
        Path(args.out).write_text(json.dumps(results, indent=1))
        return 0
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
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "load_average_at_start": os.getloadavg(),
        },
        "epochs": epochs,
        "batch_size": 128,
        "n_params": start_net.n_params,
        "runs": [],
    }

    # 1. one process, one BLAS thread
    net = copy.deepcopy(start_net)
    with threadpool_limits(1):
        net.fit(x, y, 128, epochs, categorical=True, verbose=0)
    results["runs"].append(
        summary(net, net.history["seconds"], n, x_test, y_test, "net.fit, 1 thread")
    )

    def on_cluster(workers, configs):
        with nd.local_cluster(workers) as cluster, Client(cluster) as client:
            xd = da.from_array(pixels, chunks=(-(-n // workers), 784))
            xd = (xd.astype(np.float32) / np.float32(255)).persist()
            yd = da.from_array(y, chunks=(-(-n // workers),)).persist()
            client.wait_for_workers(workers)
            for sync, batch in configs:
                net = copy.deepcopy(start_net)
                nd.fit(
                    net,
                    xd,
                    yd,
                    batch,
                    1 if sync == 1 else epochs,
                    client=client,
                    sync_every=sync,
                    categorical=True,
                    verbose=0,
                )
                results["runs"].append(
                    summary(
                        net,
                        net.history["seconds"],
                        n,
                        x_test,
                        y_test,
                        f"distributed.fit, {workers} worker(s), batch {batch}, sync_every={sync}",
                        workers=workers,
                        sync_every=sync,
                        batch_size=batch,
                    )
                )

    # the total batch 128 split over the replicas (the same updates as net.fit), and
    # 128 per replica (each worker computes what the single worker computes)
    on_cluster(1, [(64, 128), (256, 128)])
    on_cluster(2, [(1, 128), (16, 128), (64, 128), (256, 128), (64, 256), (256, 256)])
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["model"] = scaling_model(results)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"results written to {args.out}")


def scaling_model(
    results,
    sync_values=(64, 256),
    sizes=(1, 2, 8, 32, 128),
    bandwidth=10e9 / 8,
    batch_per_replica=128,
):
    """Throughput of P workers predicted from the measured round costs.

    A round of ``k`` steps on P replicas costs

        T(P) = k * t_step + F + P * (c_task + 2 * S / bandwidth + c_client)

    * ``t_step``: CPU seconds of one step on ``batch_per_replica`` samples (measured
      on one worker; CPU rather than wall time, as the shared machine's other
      processes stretch the wall time);
    * ``F``: the fixed cost of a round (one worker's serialisation, averaging and
      scheduling, measured);
    * ``c_task``: scheduling cost per extra task (two workers' overhead, at a batch of
      ``2 * batch_per_replica``, minus one's; at least 1 ms);
    * ``S``: parameters plus optimizer state in bytes; every replica's copy crosses
      the scheduler's link twice per round (parameters out, results back), at
      ``bandwidth`` bytes/s (10 Gb/s);
    * ``c_client``: the client's unpickling and averaging per replica (two workers'
      minus one's, at least S / 2 GB/s).

    Replicas keep their batch (weak scaling: the total batch grows with P).  The
    throughput is ``P * k * batch / T(P)``; averaging "stops paying" past
    ``P_half``, where the per-replica terms cost as much as the computing and every
    added worker brings less than half a worker's speed.
    """
    runs = {
        (r.get("workers"), r.get("sync_every"), r.get("batch_size")): r for r in results["runs"]
    }
    state_bytes = 3 * results["n_params"] * 4  # float32 parameters + Adam's m and v
    model = {"state_bytes": state_bytes, "bandwidth_bytes_per_s": bandwidth, "rows": []}
    for k in sync_values:
        one = runs.get((1, k, batch_per_replica))
        two = runs.get((2, k, 2 * batch_per_replica))
        if one is None or two is None:
            continue
        t_step = one["compute_cpu_ms_per_round"] / 1000 / k
        fixed = (
            one["serialize_ms_per_round"]
            + one["average_ms_per_round"]
            + one["overhead_ms_per_round"]
        ) / 1000
        c_task = max((two["overhead_ms_per_round"] - one["overhead_ms_per_round"]) / 1000, 1e-3)
        c_client = max(
            (
                two["serialize_ms_per_round"]
                + two["average_ms_per_round"]
                - one["serialize_ms_per_round"]
                - one["average_ms_per_round"]
            )
            / 1000,
            state_bytes / 2e9,
        )
        per_replica = c_task + 2 * state_bytes / bandwidth + c_client
        for p in sizes:
            seconds = k * t_step + fixed + p * per_replica
            throughput = p * k * batch_per_replica / seconds
            ideal = p * batch_per_replica / t_step
            model["rows"].append(
                {
                    "sync_every": k,
                    "workers": p,
                    "round_seconds": seconds,
                    "samples_per_second": throughput,
                    "efficiency": throughput / ideal,
                }
            )
        model.setdefault("p_half", {})[k] = (k * t_step + fixed) / per_replica
        model.setdefault("terms", {})[k] = {
            "t_step": t_step,
            "fixed": fixed,
            "c_task": c_task,
            "c_client": c_client,
            "transfer": 2 * state_bytes / bandwidth,
        }
    for row in model["rows"]:
        print(json.dumps(row))
    print(json.dumps({"p_half": model.get("p_half"), "terms": model.get("terms")}))
    return model


if __name__ == "__main__":
    sys.exit(main())
