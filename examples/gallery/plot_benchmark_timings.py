"""
Training speed against the alternatives
=======================================

The committed benchmark run (``benchmarks/results.json``, written by
``benchmarks/bench_training.py``) timed one epoch of the same MLP with each
contender: nnscratch with its kernel sets, other libraries where installed,
and the bare matrix products of every step (the floor no implementation can
beat).  This chart draws its median seconds per epoch; nothing is measured
here, so the chart is the same on every machine.
"""

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

# Found from the current folder upwards, so the script runs from anywhere in
# the repository (sphinx-gallery runs it from examples/gallery).
here = Path.cwd().resolve()
repo = next(p for p in [here, *here.parents] if (p / "benchmarks" / "results.json").exists())
results_file = repo / "benchmarks" / "results.json"
results = json.loads(results_file.read_text())["results"]
# The file lists its runs (one per data set and batch size) either as a dict
# keyed by a label or as a plain list; both become one list of runs here.
runs = list(results.values()) if isinstance(results, dict) else results
print(f"read {results_file.name}: {len(runs)} runs")

# %%
# One group of bars per batch size, one bar per contender.  The data sets
# differ a thousandfold in time, so each gets its own panel.
contenders = []
for run in runs:
    contenders += [name for name in run["median_s"] if name not in contenders]
shapes = list(dict.fromkeys(run.get("shape", "MNIST") for run in runs))

fig, axes = plt.subplots(1, len(shapes), figsize=(6.5 * len(shapes), 4.8), squeeze=False)
for ax, shape in zip(axes.flat, shapes):
    group = [run for run in runs if run.get("shape", "MNIST") == shape]
    width = 0.8 / len(contenders)
    for k, name in enumerate(contenders):
        seconds = [run["median_s"].get(name, np.nan) for run in group]
        ax.bar(np.arange(len(group)) + k * width, seconds, width, label=name)
    ax.set_xticks(np.arange(len(group)) + 0.4 - width / 2)
    ax.set_xticklabels([f"batch {run['batch']}" for run in group])
    layers = "-".join(map(str, group[0].get("layers", [])))
    ax.set_title(f"{shape}: MLP {layers}, {group[0]['samples']:,} rows")
    ax.set_ylabel("median seconds per epoch (lower is better)")
axes.flat[0].legend(fontsize="small", ncol=2)
fig.tight_layout()
plt.show()
