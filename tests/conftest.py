import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir():
    """../shared/data beside the repository (or NNSCRATCH_TEST_DATA)."""
    override = os.environ.get("NNSCRATCH_TEST_DATA")
    return Path(override) if override else REPO.parent / "shared" / "data"


@pytest.fixture
def mnist_dir():
    folder = shared_data_dir() / "mnist"
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST files not found in {folder}: this test needs the project's "
                    "shared/data folder beside the repository (CI and developers have it)")
    return folder


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
