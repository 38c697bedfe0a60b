import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Property tests: the same examples on every run by default, so CI is reproducible;
# HYPOTHESIS_PROFILE=thorough explores many more, at random.
settings.register_profile("default", max_examples=60, derandomize=True, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ honest skips in CI
# The packages of the ``test`` extra in pyproject.toml, by the name they are imported
# under (None: a command, not a module).  tests/test_honest_skips.py checks that this
# table lists every package of the extra.
TEST_EXTRA = {
    "pytest": "pytest",
    "hypothesis": "hypothesis",
    "ruff": None,
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "scikit-learn": "sklearn",
    "pooch": "pooch",
    "pandas": "pandas",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "dask[array]": "dask",
    "distributed": "distributed",
    "dask-ml": "dask_ml",
    "h5py": "h5py",
    "zarr": "zarr",
    "numba": "numba",
    "skl2onnx": "skl2onnx",
    "sphinx": "sphinx",
    "pydata-sphinx-theme": "pydata_sphinx_theme",
    "numpydoc": "numpydoc",
    "sphinx-gallery": "sphinx_gallery",
}
# modules that come with those packages, and nnscratch's optional modules built on them
EXTRA_MODULES = {m for m in TEST_EXTRA.values() if m} | {"joblib", "nnscratch"}
# what the skips of this suite say when the test environment itself is incomplete
INCOMPLETE = (
    "ruff is not installed",
    "needs scikit-learn",
    "pip install 'nnscratch[",
    "MNIST files not found",
    "shared/data",
)
_IMPORT_SKIP = re.compile(r"could not import '([\w.]+)'")


def missing_requirement(reason):
    """Whether a skip's reason says that part of the test environment is missing.

    True for ``pytest.importorskip`` of a module of the ``test`` extra (dask-ml, h5py,
    zarr, ...), a missing ruff, and missing ``../shared/data``; False for everything
    else, such as an ``importorskip`` of a module outside the extra (``torch`` of the
    ``oracle`` extra, ``fcntl`` off POSIX).
    """
    found = _IMPORT_SKIP.search(reason)
    if found:
        return found.group(1).split(".")[0] in EXTRA_MODULES
    return any(phrase in reason for phrase in INCOMPLETE)


def _in_ci():
    return os.environ.get("CI", "").strip().lower() == "true"


def _skip_reason(longrepr):
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_instead(report):
    reason = _skip_reason(report.longrepr)
    report.outcome = "failed"
    report.longrepr = (
        f"CI=true: this test would have been skipped ({reason}), but CI must have the "
        f'whole test environment: pip install -e ".[test]" and ../shared/data'
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``CI=true``) a skip for a missing test extra, ruff or shared data fails.

    Locally such a skip stays a skip (someone who cloned the project alone may lack the
    data or an extra); in CI it would hide a test that never ran, so the report is
    turned into a failure that says why.  Expected failures (xfail) are left alone.
    """
    outcome = yield
    report = outcome.get_result()
    if (
        _in_ci()
        and report.skipped
        and not hasattr(report, "wasxfail")
        and missing_requirement(_skip_reason(report.longrepr))
    ):
        _fail_instead(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped at import (a module-level ``importorskip``)."""
    outcome = yield
    report = outcome.get_result()
    if _in_ci() and report.skipped and missing_requirement(_skip_reason(report.longrepr)):
        _fail_instead(report)


def shared_data_dir():
    """../shared/data beside the repository (or NNSCRATCH_TEST_DATA)."""
    override = os.environ.get("NNSCRATCH_TEST_DATA")
    return Path(override) if override else REPO.parent / "shared" / "data"


@pytest.fixture
def mnist_dir():
    folder = shared_data_dir() / "mnist"
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(
            f"MNIST files not found in {folder}: this test needs the project's "
            "shared/data folder beside the repository (CI and developers have it)"
        )
    return folder


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# Shared by the tests of the fit loop, callbacks, schedules, progress and plotting.
def blobs(n=120, classes=3, seed=0, p=None):
    """Gaussian blobs in 4-D: ``n`` samples of ``classes`` classes, seeded."""
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, n, p=p)
    centers = rng.normal(scale=3, size=(classes, 4))
    return centers[y] + rng.normal(size=(n, 4)), y


def net_for(**kwargs):
    """A seeded 4-8-3 classifier for :func:`blobs` (SGD with momentum unless told)."""
    import nnscratch as nn

    kwargs.setdefault("seed", 0)
    opt = kwargs.pop("optimizer", nn.SGD(0.05, 0.9))
    return nn.NeuralNetwork(
        [4, 8, 3], "relu", "softmax", "categorical_crossentropy", opt, **kwargs
    )
