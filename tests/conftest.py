import os
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
