"""Same model, less time? 5-fold CV of the README's pipeline, ours against scikit-learn's.

The README's pipeline, ``make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(128,),
max_iter=100, early_stopping=True, random_state=0))``, and the same with scikit-learn's
``MLPClassifier``, are cross-validated on digits (1797 x 64) with the same five folds
(``StratifiedKFold(5, shuffle=True, random_state=0)``).  Each library runs in its own
process, one round at a time, the two alternating, so that both see the same machine load;
the time of a side is the least, over the rounds, of its summed fit times.  The last round
of each side also records, per fold, the predicted probabilities on the held-out fold,
``n_iter_``, ``loss_curve_`` and ``validation_scores_``, and the report compares them.

    python benchmarks/sklearn_cv.py              # 3 rounds, writes sklearn_cv.md
    python benchmarks/sklearn_cv.py --rounds 1   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PARAMS = dict(hidden_layer_sizes=(128,), max_iter=100, early_stopping=True, random_state=0)


def worker(side, out):
    """One round of one side: fit the five folds, save times and results to ``out``."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nnscratch.sklearn import NNClassifier

    cls = NNClassifier if side == "ours" else MLPClassifier
    x, y = load_digits(return_X_y=True)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    result = {"fit_time": [], "score": [], "n_iter": [], "loss_curve": [], "validation": []}
    probabilities = []
    for train, test in folds.split(x, y):
        model = make_pipeline(StandardScaler(), cls(**PARAMS))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x[train], y[train])
        result["fit_time"].append(time.perf_counter() - start)
        result["score"].append(float(model.score(x[test], y[test])))
        net = model[-1]
        result["n_iter"].append(int(net.n_iter_))
        result["loss_curve"].append([float(v) for v in net.loss_curve_])
        result["validation"].append([float(v) for v in net.validation_scores_])
        probabilities.append(model.predict_proba(x[test]).tolist())
    result["probabilities"] = probabilities
    Path(out).write_text(json.dumps(result))


def run_side(side, env):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run(
            [sys.executable, __file__, "--worker", side, "--out", str(out)],
            check=True,
            env=env,
        )
        return json.loads(out.read_text())


def compare(ours, theirs):
    """Largest differences between the two sides' last rounds."""
    proba = max(
        float(np.max(np.abs(np.array(a) - np.array(b))))
        for a, b in zip(ours["probabilities"], theirs["probabilities"])
    )
    curves = max(
        float(np.max(np.abs(np.array(a) - np.array(b)) / np.abs(np.array(b))))
        for a, b in zip(ours["loss_curve"], theirs["loss_curve"])
    )
    validation = max(
        float(np.max(np.abs(np.array(a) - np.array(b))))
        for a, b in zip(ours["validation"], theirs["validation"])
    )
    return {
        "n_iter_equal": ours["n_iter"] == theirs["n_iter"],
        "scores_equal": ours["score"] == theirs["score"],
        "max_abs_proba_diff": proba,
        "max_rel_loss_curve_diff": curves,
        "max_abs_validation_diff": validation,
    }


def report(rounds, load_before, load_after, comparison, ours, theirs, times):
    import sklearn

    import nnscratch

    best_ours, best_theirs = min(times["ours"]), min(times["theirs"])
    settings = ", ".join(f"{k}={v!r}" for k, v in PARAMS.items())
    lines = [
        "# The README's pipeline, 5-fold cross-validated: ours against scikit-learn's",
        "",
        f"`make_pipeline(StandardScaler(), NNClassifier({settings}))`",
        "and the same with `MLPClassifier`, on digits (1797 x 64), folds",
        "`StratifiedKFold(5, shuffle=True, random_state=0)`. Produced by `python",
        f"benchmarks/sklearn_cv.py --rounds {rounds}` with nnscratch {nnscratch.__version__},",
        f"scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python",
        f"{platform.python_version()} on {platform.machine()} ({platform.system()}), "
        f"{os.cpu_count()} cores.",
        "",
        "## Same results",
        "",
        "| per fold | ours | scikit-learn |",
        "|---|---|---|",
        f"| n_iter_ | {ours['n_iter']} | {theirs['n_iter']} |",
        f"| test accuracy | {[round(s, 4) for s in ours['score']]} | "
        f"{[round(s, 4) for s in theirs['score']]} |",
        "",
        f"* n_iter_ equal on every fold: {comparison['n_iter_equal']}; test accuracies equal: "
        f"{comparison['scores_equal']}.",
        f"* largest difference of `predict_proba` on the held-out folds: "
        f"{comparison['max_abs_proba_diff']:.1e}.",
        f"* largest relative difference of `loss_curve_`: "
        f"{comparison['max_rel_loss_curve_diff']:.1e}; of `validation_scores_` (absolute): "
        f"{comparison['max_abs_validation_diff']:.1e}.",
        "",
        "## Time",
        "",
        "| side | summed fit time of the 5 folds, each round (s) | least (s) |",
        "|---|---|---|",
        f"| nnscratch NNClassifier | {', '.join(f'{t:.2f}' for t in times['ours'])} | "
        f"{best_ours:.2f} |",
        f"| scikit-learn MLPClassifier | {', '.join(f'{t:.2f}' for t in times['theirs'])} | "
        f"{best_theirs:.2f} |",
        "",
        f"Time ratio, ours / scikit-learn's, by the least round: "
        f"**{best_ours / best_theirs:.2f}** "
        f"(scikit-learn takes {best_theirs / best_ours:.2f} times as long).",
        "",
        f"The machine was shared and loaded while this ran (load average {load_before:.1f} "
        f"before, {load_after:.1f} after, on {os.cpu_count()} cores), so the times are rough; "
        "the rounds alternate the two sides to give both the same conditions, and the least "
        "round is the one least disturbed.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "sklearn_cv.md"))
    parser.add_argument("--worker", choices=["ours", "theirs"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.out)
        return
    env = dict(os.environ)
    load_before = os.getloadavg()[0]
    times = {"ours": [], "theirs": []}
    results = {}
    for r in range(args.rounds):
        for side in ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours"):
            results[side] = run_side(side, env)
            times[side].append(sum(results[side]["fit_time"]))
            print(f"round {r + 1} {side:6s} {times[side][-1]:.2f} s", flush=True)
    comparison = compare(results["ours"], results["theirs"])
    text = report(
        args.rounds,
        load_before,
        os.getloadavg()[0],
        comparison,
        results["ours"],
        results["theirs"],
        times,
    )
    print(text)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
