"""Inference speed: ONNX Runtime on the exported model against net.predict.

Run from the repository root:

    .venv/bin/pip install -e ".[onnx]"
    .venv/bin/python benchmarks/bench_onnx.py            # about half a minute
    .venv/bin/python benchmarks/bench_onnx.py --rounds 5  # quicker, noisier

The network is MNIST-size, 784-256-128-10 (relu, softmax), float32 by default,
with its initial weights (speed does not depend on the values).  Inputs are MNIST
test images read from ../shared/data when present, random pixels otherwise.

Each round times both contenders at batch size 1 (many calls, reported per call)
and at batch size 1000, taking turns, so a slow spell of the shared machine hits
both alike.  The table shows the median and the minimum over the rounds, and the
speed-up (net.predict time / ONNX Runtime time) from each.  ONNX Runtime keeps its
default threads, NumPy its BLAS's; the machine's core count is printed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnxruntime

from nnscratch import NeuralNetwork, __version__
from nnscratch.export import to_onnx

REPO = Path(__file__).resolve().parents[1]
MNIST_TEST = REPO.parent / "shared" / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"


def load_inputs(n, rng):
    """n MNIST test images as float rows in [0, 1], or random pixels."""
    if MNIST_TEST.exists():
        with gzip.open(MNIST_TEST, "rb") as handle:
            pixels = np.frombuffer(handle.read(), dtype=np.uint8, offset=16)
        return pixels.reshape(-1, 784)[:n] / 255.0, "MNIST test images"
    return rng.integers(0, 256, size=(n, 784)) / 255.0, "random pixels (MNIST not found)"


def per_call(function, x, calls):
    """Seconds per call, over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        function(x)
    return (time.perf_counter() - start) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="default 15")
    parser.add_argument(
        "--calls", type=int, default=300, help="calls per batch-1 measurement (default 300)"
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    dtype = np.dtype(args.dtype)
    net = NeuralNetwork(
        [784, 256, 128, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        "sgd",
        dtype=dtype,
        seed=0,
    )
    model = to_onnx(net)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    x, source = load_inputs(1000, rng)
    x = x.astype(dtype)

    def onnx_run(batch):
        return session.run(["probabilities"], {"input": batch})[0]

    difference = float(np.max(np.abs(onnx_run(x) - net.predict(x))))
    cases = {1: (x[:1], args.calls), 1000: (x, max(1, args.calls // 100))}
    contenders = {"net.predict": net.predict, "ONNX Runtime": onnx_run}
    times = {(name, n): [] for name in contenders for n in cases}
    for fn in contenders.values():  # warm-up: first calls allocate
        for batch, _ in cases.values():
            fn(batch)
    for _ in range(args.rounds):
        for n, (batch, calls) in cases.items():
            for name, fn in contenders.items():
                times[name, n].append(per_call(fn, batch, calls))

    print(
        f"nnscratch {__version__}, onnxruntime {onnxruntime.__version__}, numpy "
        f"{np.__version__}, {os.cpu_count()} CPUs; 784-256-128-10 {dtype.name}, opset "
        f"{model.opset_import[0].version}; inputs: {source}; {args.rounds} interleaved "
        f"rounds"
    )
    print(f"largest difference in probabilities over the 1000 inputs: {difference:.2e}\n")
    print("| batch | contender | median per call | min per call | speed-up (median / min) |")
    print("|---|---|---|---|---|")
    for n in cases:
        base_med = statistics.median(times["net.predict", n])
        base_min = min(times["net.predict", n])
        for name in contenders:
            med, low = statistics.median(times[name, n]), min(times[name, n])
            print(
                f"| {n} | {name} | {med * 1e6:,.1f} us | {low * 1e6:,.1f} us | "
                f"{base_med / med:.2f}x / {base_min / low:.2f}x |"
            )


if __name__ == "__main__":
    main()
