"""Training speed: nnscratch against PyTorch, scikit-learn, the article and the matmul floor.

Run from the repository root:

    .venv/bin/pip install -e ".[bench]" torch==2.13.0     # optional peers
    .venv/bin/python benchmarks/bench_training.py           # full run (several minutes)
    .venv/bin/python benchmarks/bench_training.py --quick   # under a minute

Every contender trains the same MLP with SGD + momentum (learning rate 0.01, momentum 0.9)
for one epoch at a time.  The contenders take turns inside each round, so a slow spell
of the shared machine hits all of them alike; the table reports the median seconds per
epoch over the rounds and ratios computed from those medians.

Contenders
  floor        the bare matrix products of each training step (forward 3, backward 5),
               on preallocated arrays: what no implementation can beat
  nnscratch    NeuralNetwork.fit, built-in pieces (fast path), float32 and float64
  generic      NeuralNetwork.fit with the user's own (f, df) pairs written in the article's
               shapes, i.e. the Jacobian route, float64
  article      the article's algorithm as written (benchmarks/article_algorithm.py), float64
  sklearn      MLPClassifier(solver='sgd').partial_fit, float32 input (if installed)
  torch        PyTorch eager on the CPU, float32 (if torch==2.13.0 is installed)

Shapes: "mnist" is 784-256-128-10 on the 60,000 MNIST training images (read from
../shared/data when present, random pixels otherwise); "digits" is 64-128-10 on the
1,797 embedded digits (at least 15 rounds, 10 with --quick, as its epochs take
milliseconds).  Before each
timed epoch the benchmark rests for --pause seconds, so that worker threads still spinning
after the previous contender (OpenBLAS, OpenMP) do not slow the next one down.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: some machines of this project set them, which slows
OpenBLAS.  --also-unset runs the whole benchmark a second time in a child process with
both removed (that process only) and reports both.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from article_algorithm import (  # noqa: E402
    ArticleNetwork,
    MomentumSGD,
    cross_entropy,
    d_cross_entropy,
    d_relu,
    d_softmax,
    relu,
    softmax,
)

import nnscratch as nn  # noqa: E402
from nnscratch._atomic import atomic_write  # noqa: E402

LR, MOMENTUM = 0.01, 0.9
SHAPES = {"mnist": [784, 256, 128, 10], "digits": [64, 128, 10]}


# ----------------------------------------------------------------------------- data
def load_data(shape, quick):
    if shape == "digits":
        x, y = nn.datasets.load_digits(normalize=True)
        return x, y
    folder = HERE.parent.parent / "shared" / "data" / "mnist"
    images = folder / "train-images-idx3-ubyte.gz"
    n = 12000 if quick else 60000
    if images.exists():
        x = nn.datasets.read_idx(images)[:n].reshape(-1, 784) / 255.0
        y = nn.datasets.read_idx(folder / "train-labels-idx1-ubyte.gz")[:n].astype(np.int64)
    else:
        rng = np.random.default_rng(0)
        x, y = rng.random((n, 784)), rng.integers(0, 10, n)
    return x, y


# ----------------------------------------------------------------------- contenders
def floor(layers, x, y, batch, dtype):
    """Bare matrix products of one training step, on preallocated arrays."""
    rng = np.random.default_rng(0)
    x = x.astype(dtype)
    weights = [rng.normal(0, 0.05, (i, o)).astype(dtype) for i, o in zip(layers[:-1], layers[1:])]
    grads = [np.empty_like(w) for w in weights]

    def work(n):
        z = [np.empty((n, o), dtype) for o in layers[1:]]
        d = [rng.normal(0, 0.01, (n, o)).astype(dtype) for o in layers[1:]]
        return z, d

    full, part = work(batch), work(x.shape[0] % batch or batch)

    def epoch():
        for start in range(0, x.shape[0], batch):
            xb = x[start:start + batch]
            z, d = full if xb.shape[0] == batch else part
            a = xb
            for i, w in enumerate(weights):
                np.matmul(a, w, out=z[i])
                a = z[i]
            for i in range(len(weights) - 1, -1, -1):
                np.matmul((z[i - 1] if i else xb).T, d[i], out=grads[i])
                if i:
                    np.matmul(d[i], weights[i].T, out=d[i - 1])
    return epoch


def nnscratch_fast(layers, x, y, batch, dtype):
    net = nn.NeuralNetwork(layers, "relu", "softmax", "categorical_crossentropy",
                           nn.SGD(LR, MOMENTUM), dtype=dtype, seed=0)
    x = x.astype(dtype)
    return lambda: net.fit(x, y, batch, 1, categorical=True, verbose=0)


def nnscratch_generic(layers, x, y, batch, dtype):
    net = nn.NeuralNetwork(layers, (relu, d_relu), (softmax, d_softmax),
                           (cross_entropy, d_cross_entropy), nn.SGD(LR, MOMENTUM),
                           dtype=dtype, seed=0)
    assert net.output_activation.name is None  # really the user-pair route
    return lambda: net.fit(x, y, batch, 1, categorical=True, verbose=0)


def article(layers, x, y, batch, dtype):
    net = ArticleNetwork(layers, MomentumSGD(LR, MOMENTUM))
    onehot = nn.to_categorical(y, layers[-1])
    return lambda: net.fit(x, onehot, batch, 1)


def sklearn_mlp(layers, x, y, batch, dtype):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    clf = MLPClassifier(hidden_layer_sizes=tuple(layers[1:-1]), solver="sgd",
                        learning_rate_init=LR, momentum=MOMENTUM, nesterovs_momentum=False,
                        alpha=0.0, batch_size=batch, shuffle=True, random_state=0)
    x32 = x.astype(np.float32)
    classes = np.arange(layers[-1])

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.partial_fit(x32, y, classes=classes)
    return epoch


def torch_eager(layers, x, y, batch, dtype):
    import torch
    torch.manual_seed(0)
    mods = []
    for i, (fan_in, fan_out) in enumerate(zip(layers[:-1], layers[1:])):
        mods.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(layers) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    gen = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(xt.shape[0], generator=gen)
        total = 0.0
        for start in range(0, xt.shape[0], batch):
            rows = order[start:start + batch]
            loss = loss_fn(model(xt[rows]), yt[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * rows.shape[0]
        return total / xt.shape[0]
    return epoch


def available_contenders():
    found = {
        "floor f32": (floor, np.float32),
        "floor f64": (floor, np.float64),
        "nnscratch f32": (nnscratch_fast, np.float32),
        "nnscratch f64": (nnscratch_fast, np.float64),
        "generic f64": (nnscratch_generic, np.float64),
        "article f64": (article, np.float64),
    }
    notes = []
    try:
        import sklearn
        found["sklearn f32"] = (sklearn_mlp, np.float32)
        notes.append(f"scikit-learn {sklearn.__version__}")
    except ImportError:
        notes.append("scikit-learn not installed: skipped")
    try:
        import torch
        if torch.__version__.split("+")[0] != "2.13.0":
            notes.append(f"torch {torch.__version__} found, but only 2.13.0 is compared: skipped")
        else:
            torch.set_num_threads(os.cpu_count() or 1)
            found["torch f32"] = (torch_eager, np.float32)
            notes.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        notes.append("torch not installed: skipped")
    return found, notes


# -------------------------------------------------------------------------- running
def measure(shapes, batches, rounds, quick, pause):
    contenders, notes = available_contenders()
    results = {}
    for shape in shapes:
        layers = SHAPES[shape]
        x, y = load_data(shape, quick)
        for batch in batches:
            epochs = {}
            for name, (make, dtype) in contenders.items():
                epochs[name] = make(layers, x, y, batch, dtype)
                epochs[name]()  # warm-up: buffers, first-call costs
            times = {name: [] for name in epochs}
            # an epoch of the small shape takes milliseconds: more rounds cost little and
            # steady the medians against the machine's noise
            for _ in range(rounds if shape == "mnist" else max(rounds, 10 if quick else 15)):
                for name, run in epochs.items():
                    # BLAS and OpenMP worker threads of the previous contender keep
                    # spinning for a moment after their work; let them go idle first
                    time.sleep(pause)
                    start = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - start)
            results[f"{shape} B={batch}"] = {
                "shape": shape, "layers": layers, "batch": batch, "samples": int(x.shape[0]),
                "median_s": {k: statistics.median(v) for k, v in times.items()},
                "all_s": times,
            }
            print(f"  measured {shape} B={batch}", file=sys.stderr, flush=True)
    return results, notes


def environment():
    info = {
        "python": platform.python_version(), "numpy": np.__version__,
        "nnscratch": nn.__version__, "machine": platform.machine(),
        "cpu": _cpu_name(), "cores": os.cpu_count(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", "(unset)"),
    }
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "architecture",
                                                "num_threads")} for p in threadpool_info()]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    return info


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def ratio(a, b):
    return a / b if a and b else float("nan")


def report(results, notes, env, title):
    lines = [f"### {title}", ""]
    lines.append(f"CPU: {env['cpu']} ({env['cores']} cores); numpy {env['numpy']}; "
                 f"python {env['python']}; OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']}, "
                 f"OPENBLAS_L2_SIZE={env['OPENBLAS_L2_SIZE']}")
    lines.append(f"BLAS: {env['blas']}")
    lines.append("Peers: " + "; ".join(notes))
    lines.append("")
    keys = list(results)
    names = []
    for key in keys:
        for name in results[key]["median_s"]:
            if name not in names:
                names.append(name)
    header = "| median s/epoch | " + " | ".join(keys) + " |"
    lines += [header, "|---|" + "---:|" * len(keys)]
    for name in names:
        cells = []
        for key in keys:
            value = results[key]["median_s"].get(name)
            cells.append(f"{value:.3f}" if value is not None else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| ratio | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    rows = [
        ("nnscratch f32 / floor f32 (lower is better)", "nnscratch f32", "floor f32"),
        ("nnscratch f64 / floor f64", "nnscratch f64", "floor f64"),
        ("torch f32 / nnscratch f32 (speed-up over torch)", "torch f32", "nnscratch f32"),
        ("sklearn f32 / nnscratch f32 (speed-up over sklearn)", "sklearn f32", "nnscratch f32"),
        ("article f64 / generic f64 (speed-up of the generic path)", "article f64",
         "generic f64"),
        ("article f64 / nnscratch f64", "article f64", "nnscratch f64"),
    ]
    for label, top, bottom in rows:
        medians = [results[k]["median_s"] for k in keys]
        cells = [f"{ratio(m.get(top), m.get(bottom)):.2f}" for m in medians]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="12,000 MNIST rows, 3 rounds (under a minute)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5, quick 3)")
    parser.add_argument("--batch-sizes", default="32,128,512")
    parser.add_argument("--shapes", default="mnist,digits")
    parser.add_argument("--out", default=None, help="write the markdown report here")
    parser.add_argument("--json", default=None, help="write raw timings here")
    parser.add_argument("--pause", type=float, default=None,
                        help="seconds of rest before each timed epoch (default 0.15; "
                             "0.05 with --quick)")
    parser.add_argument("--also-unset", action="store_true",
                        help="repeat in a child process without OPENBLAS_CORETYPE/L2_SIZE")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 5)
    batches = [int(b) for b in args.batch_sizes.split(",")]
    shapes = args.shapes.split(",")
    env = environment()
    pause = args.pause if args.pause is not None else (0.05 if args.quick else 0.15)
    results, notes = measure(shapes, batches, rounds, args.quick, pause)
    mode = "quick (12,000 MNIST rows)" if args.quick else "full (60,000 MNIST rows)"
    text = report(results, notes, env, f"{mode}, {rounds} rounds, as the environment is")
    raw = {"environment": env, "results": results}
    if args.also_unset:
        child_env = {k: v for k, v in os.environ.items()
                     if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        cmd = [sys.executable, __file__, "--rounds", str(rounds), "--batch-sizes",
               args.batch_sizes, "--shapes", args.shapes, "--json", "-", "--pause",
               str(pause)]
        if args.quick:
            cmd.append("--quick")
        child = subprocess.run(cmd, env=child_env, capture_output=True, text=True, check=True)
        payload = json.loads(child.stdout.split("\n@@JSON@@\n", 1)[1])
        text += "\n" + report(payload["results"], notes, payload["environment"],
                              f"{mode}, {rounds} rounds, OPENBLAS_CORETYPE and "
                              "OPENBLAS_L2_SIZE unset")
        raw["unset"] = payload
    print(text)
    if args.out:
        with atomic_write(args.out, "w") as handle:
            handle.write(text)
    if args.json == "-":
        print("\n@@JSON@@\n" + json.dumps(raw))
    elif args.json:
        with atomic_write(args.json, "w") as handle:
            handle.write(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
