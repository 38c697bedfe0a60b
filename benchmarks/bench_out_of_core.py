"""Out-of-core training: seconds per epoch, peak memory and accuracy per input source.

Run from the repository root (needs the ``ooc`` extra for Zarr, HDF5 and Dask):

    .venv/bin/pip install -e ".[ooc]"
    .venv/bin/python benchmarks/bench_out_of_core.py                 # 500,000 images
    .venv/bin/python benchmarks/bench_out_of_core.py --n 100000 --epochs 2   # quick

The data set: the 60,000 MNIST training images (from ../shared/data, or
$NNSCRATCH_DATA) enlarged to ``--n`` uint8 images, each a copy of an original
shifted by a random offset of up to 2 pixels in each direction (zero fill),
drawn from a seeded generator.  It is written under ``--folder`` (default
``results-local/ooc``, ignored by git; delete it afterwards) as

* ``x_u8.npy`` (uint8) and ``x_f32.npy`` (float32 in [0, 1]), memory-mapped;
* ``x.zarr`` (chunks of 4096 rows, Zarr's default compression);
* ``x.h5`` (chunks of 4096 rows, no compression);
* a Dask array over the uint8 memmap, in blocks of 4096 rows.

Each source trains the same 784-128-10 float32 network (Adam, batch 128) for
``--epochs`` epochs in its own process, uint8 sources through the input
transform ``Scale(1 / 255)``.  Reported per source: median and minimum
seconds per epoch, the ratio of the median to in-memory float32, peak memory
(tracemalloc's peak during fit, and the peak of the process's anonymous
resident memory, RssAnon, sampled every 5 ms, minus its value before fit: file
pages of the memory maps are not counted) and the MNIST test accuracy.  A last
row trains on the 60,000 originals for the same number of epochs.  Sources
that may prefetch are run with the background thread off and on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 4096
MB = 2**20


# ------------------------------------------------------------------------ building
def mnist(split):
    from nnscratch.datasets import load_mnist

    home = os.environ.get("NNSCRATCH_DATA", str(ROOT.parent / "shared" / "data"))
    x, y = load_mnist(split, data_home=home, download=False)
    return np.rint(x * 255).astype(np.uint8), y.astype(np.uint8)


def shifted(images, dx, dy):
    """Images (k, 28, 28) moved by (dx, dy) pixels, zeros coming in."""
    out = np.zeros_like(images)
    src_r = slice(max(0, -dy), 28 - max(0, dy))
    dst_r = slice(max(0, dy), 28 - max(0, -dy))
    src_c = slice(max(0, -dx), 28 - max(0, dx))
    dst_c = slice(max(0, dx), 28 - max(0, -dx))
    out[:, dst_r, dst_c] = images[:, src_r, src_c]
    return out


def build(folder, n, seed):
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / f"done-{n}-{seed}.json"
    if done.exists():
        return
    import h5py
    import zarr

    x0, y0 = mnist("train")
    images = x0.reshape(-1, 28, 28)
    rng = np.random.default_rng(seed)
    u8 = np.lib.format.open_memmap(folder / "x_u8.npy", "w+", np.uint8, (n, 784))
    f32 = np.lib.format.open_memmap(folder / "x_f32.npy", "w+", np.float32, (n, 784))
    labels = np.empty(n, dtype=np.uint8)
    z = zarr.open(
        str(folder / "x.zarr"), mode="w", shape=(n, 784), chunks=(CHUNK, 784), dtype=np.uint8
    )
    with h5py.File(folder / "x.h5", "w") as h5:
        ds = h5.create_dataset("x", shape=(n, 784), dtype=np.uint8, chunks=(CHUNK, 784))
        block = 16 * CHUNK
        for start in range(0, n, block):
            stop = min(start + block, n)
            source = rng.integers(0, x0.shape[0], stop - start)
            shifts = rng.integers(-2, 3, (stop - start, 2))
            part = np.empty((stop - start, 28, 28), dtype=np.uint8)
            for dx in range(-2, 3):
                for dy in range(-2, 3):
                    pick = np.flatnonzero((shifts[:, 0] == dx) & (shifts[:, 1] == dy))
                    part[pick] = shifted(images[source[pick]], dx, dy)
            flat = part.reshape(-1, 784)
            u8[start:stop] = flat
            f32[start:stop] = flat / np.float32(255)
            z[start:stop] = flat
            ds[start:stop] = flat
            labels[start:stop] = y0[source]
    u8.flush()
    f32.flush()
    np.save(folder / "y.npy", labels)
    done.write_text(json.dumps({"n": n, "seed": seed}))


# ------------------------------------------------------------------------ one run
class AnonPeak:
    """Samples RssAnon from /proc/self/status in a thread; keeps the maximum."""

    def __init__(self, every=0.005):
        self.every = every
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def open_source(kind, folder):
    import nnscratch.data as data

    y = np.load(folder / "y.npy")
    if kind == "memory_f32":
        return np.load(folder / "x_f32.npy"), y, None
    if kind == "memmap_f32":
        return np.load(folder / "x_f32.npy", mmap_mode="r"), y, None
    if kind == "memmap_u8":
        return np.load(folder / "x_u8.npy", mmap_mode="r"), y, data.Scale(1 / 255)
    if kind == "zarr":
        return data.open_data_file(folder / "x.zarr"), y, data.Scale(1 / 255)
    if kind == "hdf5":
        return data.open_data_file(f"{folder / 'x.h5'}:x"), y, data.Scale(1 / 255)
    if kind == "dask":
        import dask.array as da

        x = da.from_array(np.load(folder / "x_u8.npy", mmap_mode="r"), chunks=(CHUNK, 784))
        return x, y, data.Scale(1 / 255)
    if kind == "originals":
        x, y = mnist("train")
        return x, y, data.Scale(1 / 255)
    raise ValueError(kind)


def new_net(transform, seed):
    import nnscratch

    net = nnscratch.NeuralNetwork(
        [784, 128, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        nnscratch.Adam(1e-3),
        dtype=np.float32,
        seed=seed,
    )
    net.input_transform = transform
    return net


def run_all(configs, folder, rounds, seed):
    """Every source trains one epoch per round, in turns, so a slow spell hits all alike.

    Round 0 runs under tracemalloc with the RssAnon sampler (memory figures);
    the later rounds are timed.  Returns one result dict per configuration.
    """
    x_test, y_test = mnist("test")
    runs = []
    for kind, prefetch in configs:
        x, y, transform = open_source(kind, folder)
        runs.append(
            {
                "kind": kind,
                "prefetch": prefetch,
                "x": x,
                "y": y,
                "net": new_net(transform, seed),
                "seconds": [],
            }
        )
    for run in runs:  # warm the code paths and the page cache
        x = run["x"]
        new_net(run["net"].input_transform, seed).fit(
            x[:4096] if run["kind"] != "dask" else x[:4096].compute(),
            run["y"][:4096],
            128,
            1,
            categorical=True,
            verbose=0,
        )
    for round_ in range(rounds):
        for run in runs:
            net, x, y = run["net"], run["x"], run["y"]
            if round_ == 0:
                before = AnonPeak.now()
                tracemalloc.start()
                with AnonPeak() as anon:
                    net.fit(x, y, 128, 1, categorical=True, verbose=0, prefetch=run["prefetch"])
                run["traced_peak"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                run["anon_peak"] = anon.peak - before
            else:
                start = time.perf_counter()
                net.fit(x, y, 128, 1, categorical=True, verbose=0, prefetch=run["prefetch"])
                run["seconds"].append(time.perf_counter() - start)
            print(
                f"round {round_} {run['kind']} prefetch={run['prefetch']} "
                f"{run['seconds'][-1] if run['seconds'] else 0:.2f}s",
                flush=True,
            )
    results = []
    for run in runs:
        net = run["net"]
        results.append(
            {
                "kind": run["kind"],
                "prefetch": run["prefetch"],
                "n": int(run["x"].shape[0]),
                "seconds": run["seconds"],
                "traced_peak": run["traced_peak"],
                "anon_peak": run["anon_peak"],
                "model": net.n_params * 4 * 4,
                "accuracy": net.score(x_test, y_test, accuracy=True),
            }
        )
    return results


# ------------------------------------------------------------------------ report
def table(results, epochs, n):
    base = statistics.median(next(r for r in results if r["kind"] == "memory_f32")["seconds"])
    goal = {
        "memory_f32": "",
        "memmap_f32": "<= 1.10",
        "memmap_u8": "<= 1.20",
        "zarr": "<= 1.30",
        "hdf5": "<= 1.30",
        "dask": "<= 1.30",
        "originals": "",
    }
    lines = [
        f"n = {n:,} images, {epochs} epochs, 784-128-10 float32, Adam, batch 128",
        "",
        "| source | prefetch | s/epoch median | min | vs in-memory | goal "
        "| tracemalloc peak MB | RssAnon peak MB | bound MB | test accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        med = statistics.median(r["seconds"])
        bound = (64 * MB + r["model"]) / MB
        lines.append(
            f"| {r['kind']} | {r['prefetch']} | {med:.2f} | {min(r['seconds']):.2f} | "
            f"{med / base:.2f}x | {goal.get(r['kind'], '')} | {r['traced_peak'] / MB:.1f} | "
            f"{r['anon_peak'] / MB:.1f} | {bound:.1f} | {r['accuracy']:.4f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument(
        "--epochs", type=int, default=3, help="rounds: the first measures memory, the others time"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", default=str(ROOT / "results-local" / "ooc"))
    parser.add_argument(
        "--kinds", default="memory_f32,memmap_f32,memmap_u8,zarr,hdf5,dask,originals"
    )
    parser.add_argument(
        "--prefetch-both",
        default="memmap_u8,zarr,hdf5,dask",
        help="sources also run with the background thread on",
    )
    parser.add_argument("--out", default=None, help="write the markdown table here too")
    args = parser.parse_args(argv)
    folder = Path(args.folder) / f"n{args.n}"
    start = time.perf_counter()
    build(folder, args.n, args.seed)
    print(f"data ready in {time.perf_counter() - start:.0f}s under {folder}", flush=True)
    both = set(args.prefetch_both.split(","))
    configs = [
        (kind, p) for kind in args.kinds.split(",") for p in ((0, 1) if kind in both else (0,))
    ]
    results = run_all([c for c in configs if c[0] != "originals"], folder, args.epochs, args.seed)
    if any(c[0] == "originals" for c in configs):
        results += run_all([("originals", 0)], folder, args.epochs, args.seed)
    for result in results:
        print(json.dumps(result), flush=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1))
    text = table(results, args.epochs, args.n)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
