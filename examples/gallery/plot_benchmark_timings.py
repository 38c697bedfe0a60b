"""
Training speed against the alternatives
=======================================

The committed benchmark run (``benchmarks/results.json``, written by
``python benchmarks/bench_training.py``) timed one epoch of the same MLP with
each contender: nnscratch with its kernel sets, other libraries where
installed, and the bare matrix products of every step (the floor no
implementation can beat).  This chart draws its median seconds per epoch;
nothing is measured here, so the chart is the same on every machine.  The
:doc:`../guides/speed` page has the same run as tables, and the machine.
"""

import ast
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

# Found from the current folder upwards, so the script runs from anywhere in
# the repository (sphinx-gallery runs it from examples/gallery).
here = Path.cwd().resolve()
repo = next(
    p for p in [here, *here.parents] if (p / "benchmarks" / "results.json").exists()
)
report = json.loads((repo / "benchmarks" / "results.json").read_text())
results = report["results"]
# The file lists its runs (one per batch size) either as a dict keyed by a
# label or as a plain list; both become one list of runs here.
runs = list(results.values()) if isinstance(results, dict) else results
env = report.get("environment", {})
print(
    f"{len(runs)} runs; CPU {env.get('cpu', '?')} with {env.get('cores', '?')} cores, "
    f"numpy {env.get('numpy', '?')}, nnscratch {env.get('nnscratch', '?')}"
)
print("note:", report.get("note", "-"))

# The network the benchmark trains is a constant of the benchmark script.
script = (repo / "benchmarks" / "bench_training.py").read_text()
layers = next(
    ast.literal_eval(node.value)
    for node in ast.parse(script).body
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LAYERS"
)

# %%
# Two panels: the default thread count (the machine's cores) and everything
# held to one thread.  ``numba-parallel`` is left out of the chart and listed
# below it: on two cores its spinning threads fought OpenBLAS's and took up to
# 75 times as long as the others, which would flatten every other bar.
contenders = []
for run in runs:
    contenders += [name for name in run["median_s"] if name not in contenders]
left_out = [name for name in contenders if "numba-parallel" in name]
threads = env.get("cores", "default")
panels = {
    f"{threads} threads (the default)": [
        c for c in contenders if "[1 thread]" not in c and c not in left_out
    ],
    "BLAS and Numba held to one thread": [
        c for c in contenders if "[1 thread]" in c and c not in left_out
    ],
}
# One colour per contender, the same in both panels (the floor is grey).
bases = list(dict.fromkeys(c.replace(" [1 thread]", "") for c in contenders))
palette = ["0.55"] + list(plt.get_cmap("tab10").colors)
colour = {
    b: palette[0] if b == "floor" else palette[1 + k] for k, b in enumerate(bases)
}

fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True, width_ratios=[2, 1.2])
for ax, (title, names) in zip(axes, panels.items()):
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        seconds = [run["median_s"].get(name, np.nan) for run in runs]
        base = name.replace(" [1 thread]", "")
        ax.bar(
            np.arange(len(runs)) + k * width,
            seconds,
            width,
            label=base,
            color=colour[base],
        )
    ax.set_xticks(np.arange(len(runs)) + 0.4 - width / 2)
    ax.set_xticklabels([f"batch {run['batch']}" for run in runs])
    ax.set_title(title)
    ax.legend(fontsize="small")
axes[0].set_ylabel("median seconds per epoch (lower is better)")
rows = runs[0].get("samples", 0)
fig.suptitle(f"MLP {'-'.join(map(str, layers))} on {rows:,} MNIST rows, float32")
fig.tight_layout()
plt.show()

# %%
# Left out of the chart (median seconds per epoch at each batch size):
for name in left_out:
    print(
        name,
        [round(run["median_s"][name], 2) for run in runs if name in run["median_s"]],
    )
