"""
Training speed against the alternatives
=======================================

The committed benchmark run (``benchmarks/results.json``, written by
``benchmarks/bench_training.py``) timed one epoch of the same MLP with
nnscratch, scikit-learn's ``MLPClassifier``, PyTorch on the CPU, the article's
algorithm as written, and the bare matrix products of every step (the floor
no implementation can beat).  This chart draws its median seconds per epoch;
nothing is measured here, so the chart is the same on every machine.
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
print(f"read {results_file.name}: {', '.join(results)}")

# %%
# One group of bars per data set and batch size, one bar per contender.  The
# two data sets differ a thousandfold in time, so each gets its own panel.
contenders = list(next(iter(results.values()))["median_s"])
shapes = sorted({run["shape"] for run in results.values()}, reverse=True)

fig, axes = plt.subplots(1, len(shapes), figsize=(13, 4.8))
for ax, shape in zip(np.atleast_1d(axes), shapes):
    runs = [(key, run) for key, run in results.items() if run["shape"] == shape]
    width = 0.8 / len(contenders)
    for k, name in enumerate(contenders):
        seconds = [run["median_s"].get(name, np.nan) for _, run in runs]
        ax.bar(np.arange(len(runs)) + k * width, seconds, width, label=name)
    ax.set_xticks(np.arange(len(runs)) + 0.4 - width / 2)
    ax.set_xticklabels([f"batch {run['batch']}" for _, run in runs])
    layers = "-".join(map(str, runs[0][1]["layers"]))
    ax.set_title(f"{shape}: MLP {layers}, {runs[0][1]['samples']:,} rows")
    ax.set_ylabel("median seconds per epoch (lower is better)")
axes.flat[0].legend(fontsize="small", ncol=2)
fig.tight_layout()
plt.show()
