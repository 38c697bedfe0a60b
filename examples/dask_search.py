"""Model search on a Dask cluster with the tools people already use.

    pip install -e ".[dask-ml]"
    python examples/dask_search.py                       # a local cluster of 2 workers
    python examples/dask_search.py --scheduler tcp://scheduler:8786

1. scikit-learn's GridSearchCV, RandomizedSearchCV and HalvingRandomSearchCV over
   NNClassifier, their fits spread over the cluster by joblib's "dask" backend;
2. dask-ml's Incremental, which feeds the chunks of a Dask array to partial_fit.

(dask-ml's HyperbandSearchCV does not run with current Dask releases: it fails with
"Attempting to use an asynchronous Client in a synchronous context", a dask-ml bug.)
"""

import argparse

import dask.array as da
import joblib
import numpy as np
from distributed import Client, LocalCluster
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    GridSearchCV,
    HalvingRandomSearchCV,
    RandomizedSearchCV,
    train_test_split,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nnscratch.datasets import load_digits
from nnscratch.sklearn import NNClassifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scheduler", help="address of a running Dask scheduler")
    parser.add_argument("--workers", type=int, default=2, help="local cluster size")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a fifth of the data and two settings per search (a test)",
    )
    args = parser.parse_args()

    x, y = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        x / 16.0, y, test_size=0.25, random_state=0, stratify=y
    )
    if args.quick:
        x_train, y_train = x_train[:300], y_train[:300]
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        client = Client(
            LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0")
        )
    print(f"cluster: {client}")
    with client:
        model = make_pipeline(StandardScaler(), NNClassifier(batch_size=32, random_state=0))
        grid = {
            "nnclassifier__hidden_layer_sizes": [(32,), (64,), (64, 32)],
            "nnclassifier__alpha": [0.0, 1e-4, 1e-3],
        }
        if args.quick:
            grid = {"nnclassifier__hidden_layer_sizes": [(16,), (32,)]}
        searches = {
            "GridSearchCV": GridSearchCV(model, grid, cv=3),
            "RandomizedSearchCV": RandomizedSearchCV(model, grid, n_iter=2, cv=3, random_state=0),
            "HalvingRandomSearchCV": HalvingRandomSearchCV(
                model, grid, n_candidates=2 if args.quick else 6, factor=2, cv=3, random_state=0
            ),
        }
        for name, search in searches.items():
            with joblib.parallel_backend("dask"):  # every fit runs on a worker
                search.fit(x_train, y_train)
            print(
                f"{name}: best {search.best_params_}, cross-validated accuracy "
                f"{search.best_score_:.2%}, test accuracy "
                f"{search.score(x_test, y_test):.2%}"
            )

        from dask_ml.wrappers import Incremental

        xd = da.from_array(x_train, chunks=200)
        yd = da.from_array(y_train, chunks=200)
        incremental = Incremental(
            NNClassifier(hidden_layer_sizes=(64,), random_state=0), scoring="accuracy"
        )
        for _ in range(3 if args.quick else 10):  # passes: one partial_fit per chunk
            incremental.partial_fit(xd, yd, classes=np.arange(10))
        print(f"Incremental: test accuracy {incremental.score(x_test, y_test):.2%}")


if __name__ == "__main__":
    main()
