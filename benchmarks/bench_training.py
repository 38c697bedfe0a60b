"""Training speed: nnscratch's kernel sets against the matmul floor and its peers.

Run from the repository root:

    .venv/bin/pip install -e ".[bench]" torch==2.13.0     # optional peers
    .venv/bin/python benchmarks/bench_training.py --quick   # 5 min here at load 3, 12 at load 10
    .venv/bin/python benchmarks/bench_training.py \\
        --out benchmarks/results.md --json benchmarks/results.json   # full run

Every contender trains the 784-256-128-10 ReLU MLP (softmax, cross-entropy) on
the 60,000 MNIST training images (12,000 with --quick) with SGD, learning rate
0.01 and momentum 0.9, in float32, one epoch at a time.

Each contender runs in a process of its own (so no library's threads, caches
or compiled code affect another), started once and warmed up by one epoch.
The driver then asks the contenders for one epoch each in turn, round after
round (the order rotates every round), resting --pause seconds before each so
that worker threads of the previous contender go idle.  The machine has slow
spells of tens of seconds, so every contender reports two figures over the
rounds: the median, and the minimum (the quiet-state figure; slow spells only
ever add time).  Ratios are taken median to median and minimum to minimum.

Contenders
  floor                     the bare matrix products of each step (3 forward, 5 backward) on
                            preallocated arrays: what no implementation can beat
  nnscratch numpy           NeuralNetwork.fit, kernels='numpy' (the NumPy reference)
  nnscratch numba           kernels='numba' (fused compiled loops, one thread)
  nnscratch numba-parallel  kernels='numba-parallel' (the same loops over all cores)
  handwritten numpy         benchmarks/handwritten_loop.py: ~90 lines of NumPy for this one
                            network (lr folded into the output delta, np.take(out=))
  torch eager               PyTorch 2.13.0 on the CPU (when installed)
  sklearn                   MLPClassifier(solver='sgd').partial_fit (when installed)

The split: the floor and our epochs again with BLAS (and Numba) limited to one
thread; "everything else" is our epoch minus the floor at the same thread count.

Compile overhead: a fresh process trains three epochs (B=128) with an empty
NUMBA_CACHE_DIR (cold), then another process with that cache filled (warm); the
overhead is the first epoch minus the fastest later one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

LR, MOMENTUM = 0.01, 0.9
LAYERS = [784, 256, 128, 10]
DATA_HOME = HERE.parent.parent / "shared" / "data"
MAIN = [
    "floor",
    "nnscratch numpy",
    "nnscratch numba",
    "nnscratch numba-parallel",
    "handwritten numpy",
    "torch eager",
    "sklearn",
]
SPLIT = ["floor", "nnscratch numpy", "nnscratch numba", "nnscratch numba-parallel"]


# ----------------------------------------------------------------------------- data
def load_data(rows):
    import nnscratch as nn

    try:
        x, y = nn.datasets.load_mnist(data_home=DATA_HOME, download=False)
    except Exception:  # no MNIST at hand: random pixels of the same shape
        rng = np.random.default_rng(0)
        x, y = rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
    return np.ascontiguousarray(x[:rows], dtype=np.float32), y[:rows].astype(np.int64)


# ----------------------------------------------------------------------- contenders
def make_floor(x, y, batch):
    """Bare matrix products of one training step, on preallocated arrays."""
    rng = np.random.default_rng(0)
    dtype = np.float32
    weights = [rng.normal(0, 0.05, (i, o)).astype(dtype) for i, o in zip(LAYERS[:-1], LAYERS[1:])]
    grads = [np.empty_like(w) for w in weights]

    def work(n):
        z = [np.empty((n, o), dtype) for o in LAYERS[1:]]
        d = [rng.normal(0, 0.01, (n, o)).astype(dtype) for o in LAYERS[1:]]
        return z, d

    full, part = work(batch), work(x.shape[0] % batch or batch)

    def epoch():
        for start in range(0, x.shape[0], batch):
            xb = x[start : start + batch]
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


def make_nnscratch(kernels):
    def make(x, y, batch):
        import nnscratch as nn

        net = nn.NeuralNetwork(
            LAYERS,
            "relu",
            "softmax",
            "categorical_crossentropy",
            nn.SGD(LR, MOMENTUM),
            dtype=np.float32,
            seed=0,
            kernels=kernels,
        )
        assert net._kernels.name == kernels
        return lambda: net.fit(x, y, batch, 1, categorical=True, verbose=0)

    return make


def make_handwritten(x, y, batch):
    from handwritten_loop import HandwrittenMLP

    net = HandwrittenMLP(LAYERS, LR, MOMENTUM, batch)
    onehot = np.eye(10, dtype=np.float32)[y]
    return lambda: net.fit_epoch(x, onehot)


def make_sklearn(x, y, batch):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(LAYERS[1:-1]),
        solver="sgd",
        learning_rate_init=LR,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=batch,
        shuffle=True,
        random_state=0,
    )
    classes = np.arange(LAYERS[-1])

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.partial_fit(x, y, classes=classes)

    return epoch


def make_torch(x, y, batch):
    import torch

    if torch.__version__.split("+")[0] != "2.13.0":
        raise RuntimeError(f"torch {torch.__version__}: only 2.13.0 is compared")
    torch.manual_seed(0)
    mods = []
    for i, (fan_in, fan_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
        mods.append(torch.nn.Linear(fan_in, fan_out))
        if i < len(LAYERS) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(0)

    def epoch():
        order = torch.randperm(xt.shape[0], generator=gen)
        total = 0.0
        for start in range(0, xt.shape[0], batch):
            rows = order[start : start + batch]
            loss = loss_fn(model(xt[rows]), yt[rows])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * rows.shape[0]
        return total / xt.shape[0]

    return epoch


MAKERS = {
    "floor": make_floor,
    "nnscratch numpy": make_nnscratch("numpy"),
    "nnscratch numba": make_nnscratch("numba"),
    "nnscratch numba-parallel": make_nnscratch("numba-parallel"),
    "handwritten numpy": make_handwritten,
    "torch eager": make_torch,
    "sklearn": make_sklearn,
}


# ------------------------------------------------------------------------ a worker
def limit_threads(threads):
    """Limit BLAS, OpenMP, Numba and torch threads in this process (None: leave them)."""
    if threads is None:
        return None
    from threadpoolctl import threadpool_limits

    keep = threadpool_limits(limits=threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    return keep


def worker(name, batch, threads, rows):
    """Build one contender, warm it up, then run one epoch per 'run' line on stdin."""
    x, y = load_data(rows)
    if name.startswith("torch"):
        import torch

        torch.set_num_threads(threads or os.cpu_count() or 1)
    keep = limit_threads(threads)  # noqa: F841 (the limits hold while it lives)
    try:
        epoch = MAKERS[name](x, y, batch)
        epoch()  # warm-up: buffers, first calls, compilation
    except Exception as err:  # a missing peer: say so and stop
        print(f"@@skip {type(err).__name__}: {err}", flush=True)
        return 0
    print("@@ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        start = time.perf_counter()
        epoch()
        print(f"@@time {time.perf_counter() - start!r}", flush=True)
    return 0


class Worker:
    def __init__(self, name, batch, threads, rows):
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--batch",
            str(batch),
            "--rows",
            str(rows),
        ]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.skipped = None

    def _reply(self):
        for line in self.proc.stdout:
            if line.startswith("@@"):
                return line[2:].strip()
        raise RuntimeError(f"worker exited with {self.proc.wait()}")

    def wait_ready(self):
        reply = self._reply()
        if reply.startswith("skip"):
            self.skipped = reply[5:]
        return self.skipped is None

    def run(self):
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return float(self._reply().split()[1])

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=60)


# -------------------------------------------------------------------------- driver
def measure_batch(batch, rows, rounds, pause, skip=()):
    """Interleaved rounds over every (contender, threads) pair for one batch size."""
    keys = [(name, None) for name in MAIN if name not in skip]
    keys += [(name, 1) for name in SPLIT if name not in skip]
    # started one after the other: warming up side by side, they would slow each other
    # down many times over on a machine with few cores
    workers, skipped = {}, {}
    for key in keys:
        w = Worker(key[0], batch, key[1], rows)
        if w.wait_ready():
            workers[key] = w
        else:
            skipped[label(key)] = w.skipped
            w.close()
    times = {label(key): [] for key in workers}
    order = list(workers)
    try:
        for r in range(rounds):
            shift = r % len(order)
            for key in order[shift:] + order[:shift]:
                time.sleep(pause)
                times[label(key)].append(workers[key].run())
            print(f"  B={batch} round {r + 1}/{rounds}", file=sys.stderr, flush=True)
    finally:
        for w in workers.values():
            w.close()
    return {
        "batch": batch,
        "samples": rows,
        "skipped": skipped,
        "times_s": times,
        "median_s": {k: statistics.median(v) for k, v in times.items()},
        "min_s": {k: min(v) for k, v in times.items()},
    }


def label(key):
    name, threads = key
    return name if threads is None else f"{name} [{threads} thread{'s' if threads > 1 else ''}]"


def compile_overhead(rows, batch=128):
    """First-epoch overhead of the Numba sets: cold (empty cache) and warm (filled)."""
    code = (
        "import json, sys, time\n"
        "t0 = time.perf_counter()\n"
        "import numpy as np, nnscratch as nn\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from bench_training import load_data, LAYERS\n"
        f"x, y = load_data({rows})\n"
        "t1 = time.perf_counter()\n"
        "net = nn.NeuralNetwork(LAYERS, 'relu', 'softmax', 'categorical_crossentropy',\n"
        "    nn.SGD(0.01, 0.9), dtype=np.float32, seed=0, kernels=sys.argv[1])\n"
        "t2 = time.perf_counter()\n"
        "epochs = []\n"
        "for _ in range(3):\n"
        "    s = time.perf_counter()\n"
        f"    net.fit(x, y, {batch}, 1, categorical=True, verbose=0)\n"
        "    epochs.append(time.perf_counter() - s)\n"
        "print(json.dumps({'construct_s': t2 - t1, 'epochs_s': epochs}))\n"
    )
    out = {}
    for kernels in ("numba", "numba-parallel"):
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            for state in ("cold", "warm"):
                done = subprocess.run(
                    [sys.executable, "-c", code, kernels],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if done.returncode != 0:
                    out[f"{kernels} {state}"] = {"error": done.stderr[-500:]}
                    continue
                info = json.loads(done.stdout.strip().splitlines()[-1])
                first, later = info["epochs_s"][0], min(info["epochs_s"][1:])
                info["overhead_s"] = first - later
                out[f"{kernels} {state}"] = info
    return out


def environment():
    import nnscratch as nn

    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "nnscratch": nn.__version__,
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for p in threadpool_info()
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    for module in ("numba", "torch", "sklearn"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    try:
        import numba

        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
    except ImportError:
        pass
    return info


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# -------------------------------------------------------------------------- report
def report(results, compile_info, env, title):
    batches = [r["batch"] for r in results]
    lines = [
        f"### {title}",
        "",
        f"CPU: {env['cpu']} ({env['cores']} cores); python {env['python']}; numpy "
        f"{env['numpy']}; numba {env.get('numba')}; torch {env.get('torch')}; "
        f"scikit-learn {env.get('sklearn')}",
        f"BLAS: {env['blas']}",
        f"Load average at start {env['loadavg_start']}, at end {env.get('loadavg_end')}: "
        "other jobs were running on this machine during the run.",
        "",
    ]
    names = [label((n, None)) for n in MAIN]
    head = "| | " + " | ".join(f"B={b}" for b in batches) + " |"
    rule = "|---|" + "---:|" * len(batches)
    lines += ["Seconds per epoch, median / minimum over the rounds:", "", head, rule]
    for name in names:
        cells = []
        for r in results:
            if name in r["median_s"]:
                cells.append(f"{r['median_s'][name]:.3f} / {r['min_s'][name]:.3f}")
            else:
                cells.append("skipped")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Times the matmul floor, median / quiet-state minimum (lower is better):",
        "",
        head,
        rule,
    ]
    for name in names[1:]:
        cells = []
        for r in results:
            if name in r["median_s"]:
                cells.append(
                    f"{r['median_s'][name] / r['median_s']['floor']:.2f} / "
                    f"{r['min_s'][name] / r['min_s']['floor']:.2f}"
                )
            else:
                cells.append("-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "With BLAS (and Numba) limited to one thread, times the one-thread floor, "
        "median / minimum:",
        "",
        head,
        rule,
    ]
    for name in SPLIT[1:]:
        one, floor1 = label((name, 1)), label(("floor", 1))
        cells = []
        for r in results:
            if one in r["median_s"] and floor1 in r["median_s"]:
                cells.append(
                    f"{r['median_s'][one] / r['median_s'][floor1]:.2f} / "
                    f"{r['min_s'][one] / r['min_s'][floor1]:.2f}"
                )
            else:
                cells.append("-")
        lines.append(f"| {one} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Speed-up of nnscratch (best of its sets, by the minimum) over each peer, "
        "minimum / median:",
        "",
        head,
        rule,
    ]
    for peer in ("torch eager", "sklearn", "handwritten numpy"):
        cells = []
        for r in results:
            ours = [k for k in r["min_s"] if k.startswith("nnscratch") and "[" not in k]
            if peer not in r["min_s"] or not ours:
                cells.append("-")
                continue
            best = min(ours, key=lambda k: r["min_s"][k])
            cells.append(
                f"{r['min_s'][peer] / r['min_s'][best]:.2f} / "
                f"{r['median_s'][peer] / r['median_s'][best]:.2f} ({best[10:]})"
            )
        lines.append(f"| over {peer} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Split of our epoch (seconds): matrix products (the floor) and everything "
        "else (our epoch minus the floor), with 1 thread and with all threads; "
        "the last column of each cell is everything-else(all) / everything-else(1) "
        "(by the minimum):",
        "",
        head,
        rule,
    ]
    for name in SPLIT[1:]:
        cells = []
        for r in results:
            one = label((name, 1))
            if one not in r["min_s"] or name not in r["min_s"]:
                cells.append("-")
                continue
            floor1, floor_all = r["min_s"][label(("floor", 1))], r["min_s"]["floor"]
            rest1, rest_all = r["min_s"][one] - floor1, r["min_s"][name] - floor_all
            cells.append(
                f"mm {floor1:.3f}->{floor_all:.3f}, rest {rest1:.3f}->{rest_all:.3f}"
                f", {rest_all / rest1 if rest1 > 0 else float('nan'):.2f}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if compile_info:
        lines += [
            "",
            "First epoch overhead (B=128; first epoch minus the fastest of epochs 2-3; "
            "construction includes importing Numba):",
            "",
            "| | construct s | epochs s | overhead s |",
            "|---|---:|---|---:|",
        ]
        for key, info in compile_info.items():
            if "error" in info:
                lines.append(f"| {key} | error | {info['error'][:80]!r} | |")
                continue
            epochs = ", ".join(f"{e:.3f}" for e in info["epochs_s"])
            lines.append(
                f"| {key} | {info['construct_s']:.3f} | {epochs} | {info['overhead_s']:.3f} |"
            )
    skipped = {b["batch"]: b["skipped"] for b in results if b["skipped"]}
    if skipped:
        lines += ["", f"Skipped: {skipped}"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="12,000 MNIST rows, 3 rounds (a few minutes)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 7, quick 3)")
    parser.add_argument("--batch-sizes", default="32,128,512")
    parser.add_argument(
        "--rows", type=int, default=None, help="MNIST rows (default 60,000; quick 12,000)"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=None,
        help="seconds of rest before each timed epoch (default 0.15; quick 0.05)",
    )
    parser.add_argument("--no-compile", action="store_true", help="skip the compile overhead")
    parser.add_argument(
        "--skip",
        default="",
        help="contenders to leave out, comma-separated (e.g. 'nnscratch "
        "numba-parallel', whose threads spin-wait: on a machine busy with "
        "other work its epochs take minutes)",
    )
    parser.add_argument("--out", default=None, help="write the markdown report here")
    parser.add_argument("--json", default=None, help="write raw timings here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = args.rows or (12000 if args.quick else 60000)
    if args.worker:
        return worker(args.worker, args.batch, args.threads, rows)
    rounds = args.rounds or (3 if args.quick else 7)
    pause = args.pause if args.pause is not None else (0.05 if args.quick else 0.15)
    env = environment()
    title = (
        f"{'quick' if args.quick else 'full'}: {rows:,} MNIST rows, {rounds} interleaved "
        f"rounds, float32, SGD momentum 0.9"
    )
    results, compile_info = [], {}
    for b in args.batch_sizes.split(","):
        results.append(measure_batch(int(b), rows, rounds, pause, args.skip.split(",")))
        save(
            args,
            report(results, compile_info, env, title + " (partial)"),
            env,
            results,
            compile_info,
        )  # what is done so far survives an interruption
    compile_info = {} if args.no_compile else compile_overhead(rows)
    env["loadavg_end"] = os.getloadavg()
    text = report(results, compile_info, env, title)
    print(text)
    save(args, text, env, results, compile_info)
    return 0


def save(args, text, env, results, compile_info):
    from nnscratch._atomic import atomic_write

    if args.out:
        with atomic_write(args.out, "w") as handle:
            handle.write(text)
    if args.json:
        with atomic_write(args.json, "w") as handle:
            handle.write(
                json.dumps(
                    {"environment": env, "results": results, "compile": compile_info}, indent=1
                )
            )


if __name__ == "__main__":
    sys.exit(main())
