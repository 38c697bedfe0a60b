"""Side by side: 5-fold cross-validation of our estimators and scikit-learn's MLPs.

Every model runs with its default settings inside ``make_pipeline(StandardScaler(),
model)``, on the datasets scikit-learn ships: iris, wine, breast_cancer and
digits (classifiers, accuracy) and diabetes (regressor, R^2).  Both sides use
``random_state=0`` and the same folds; fits run one after another in this
process (``n_jobs=1``), so the times compare like with like.

    python benchmarks/sklearn_cv.py            # prints the table, writes sklearn_cv.md
    python benchmarks/sklearn_cv.py --quick    # 2 folds, fewer datasets (smoke test)
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import nnscratch
from nnscratch.sklearn import NNClassifier, NNRegressor

DATASETS = [
    ("iris", load_iris, "classification"),
    ("wine", load_wine, "classification"),
    ("breast_cancer", load_breast_cancer, "classification"),
    ("digits", load_digits, "classification"),
    ("diabetes", load_diabetes, "regression"),
]


def evaluate(model, x, y, folds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = cross_validate(make_pipeline(StandardScaler(), model), x, y, cv=folds, n_jobs=1)
    return result["test_score"], result["fit_time"]


def run(n_folds, names):
    rows = []
    for name, loader, task in DATASETS:
        if names and name not in names:
            continue
        x, y = loader(return_X_y=True)
        if task == "classification":
            folds = StratifiedKFold(n_folds, shuffle=True, random_state=0)
            pair = [
                ("nnscratch NNClassifier", NNClassifier(random_state=0)),
                ("scikit-learn MLPClassifier", MLPClassifier(random_state=0)),
            ]
        else:
            folds = KFold(n_folds, shuffle=True, random_state=0)
            pair = [
                ("nnscratch NNRegressor", NNRegressor(random_state=0)),
                ("scikit-learn MLPRegressor", MLPRegressor(random_state=0)),
            ]
        for label, model in pair:
            start = time.perf_counter()
            scores, fit_times = evaluate(model, x, y, folds)
            rows.append(
                {
                    "dataset": name,
                    "shape": x.shape,
                    "model": label,
                    "metric": "accuracy" if task == "classification" else "R^2",
                    "score": scores,
                    "fit_time": fit_times,
                    "wall": time.perf_counter() - start,
                }
            )
            print(
                f"{name:14s} {label:28s} {scores.mean():.4f} +- {scores.std():.4f}  "
                f"fit {fit_times.mean():.2f} s",
                flush=True,
            )
    return rows


def table(rows):
    lines = [
        "| dataset (n x d) | model | metric | 5-fold score, mean ± std | fit time per "
        "fold, mean ± std (s) | time ratio (ours / theirs) |",
        "|---|---|---|---|---|---|",
    ]
    theirs = {r["dataset"]: r["fit_time"].mean() for r in rows if "scikit" in r["model"]}
    for r in rows:
        ratio = ""
        if "nnscratch" in r["model"] and r["dataset"] in theirs:
            ratio = f"{r['fit_time'].mean() / theirs[r['dataset']]:.2f}"
        n, d = r["shape"]
        lines.append(
            f"| {r['dataset']} ({n} x {d}) | {r['model']} | {r['metric']} | "
            f"{r['score'].mean():.4f} ± {r['score'].std():.4f} | "
            f"{r['fit_time'].mean():.2f} ± {r['fit_time'].std():.2f} | {ratio} |"
        )
    return "\n".join(lines)


NOTES = """
Notes.  The times are wall-clock seconds on a shared machine and are noisy: the
two models of a dataset ran one after the other, up to minutes apart, under
whatever load there was, so read the ratios as rough.  Both libraries leave
diabetes far from converged with the defaults (the targets, in the hundreds,
are not scaled, and 200 Adam iterations at a step of 1e-3 do not reach them:
both warn with ConvergenceWarning), hence the negative R^2 on both sides;
scale y (TransformedTargetRegressor) for a useful model.
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 folds on iris and diabetes")
    parser.add_argument("--out", default=str(Path(__file__).with_name("sklearn_cv.md")))
    args = parser.parse_args(argv)
    folds = 2 if args.quick else args.folds
    names = {"iris", "diabetes"} if args.quick else None
    rows = run(folds, names)
    text = table(rows)
    print()
    print(text)
    if not args.quick:
        header = (
            f"# 5-fold cross-validation against scikit-learn's MLPs\n\n"
            f"Default settings (random_state=0) in make_pipeline(StandardScaler(), "
            f"model), the same folds for both.  Produced by `python "
            f"benchmarks/sklearn_cv.py` with nnscratch {nnscratch.__version__}, "
            f"scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python "
            f"{platform.python_version()} on {platform.machine()} "
            f"({platform.system()}).\n\n"
        )
        Path(args.out).write_text(header + text + "\n" + NOTES)
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
