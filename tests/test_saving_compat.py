"""Model files of nnscratch 0.2 keep loading (issue 19's changes to saving.py).

The files are made by ``legacy_models.write_v02_model``, which spells out 0.2's
layout without the library's writer; it was checked byte for byte against 0.2's
own ``net.save`` (same network, same history: identical files), and the first
test keeps it honest against today's writer while the format is still 2.
"""

import numpy as np
import pytest
from legacy_models import write_v02_model

import nnscratch as nn
from nnscratch import saving

OPTIMIZERS = ["sgd", "adam", "rmsprop", "adagrad"]


def trained(optimizer, dtype=np.float64, output="softmax", loss="categorical_crossentropy"):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = rng.integers(0, 2, 60)
    net = nn.NeuralNetwork([3, 5, 2], "tanh", output, loss, optimizer, dtype=dtype, seed=1)
    net.fit(x, y, 10, 2, categorical=True, verbose=0)
    net.history["seconds"] = [1.0, 2.0]  # timings differ from run to run
    return net, x


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_the_helper_writes_what_save_writes(optimizer, tmp_path):
    if saving.FORMAT_VERSION != 2:
        pytest.skip("the writer moved on from format 2; the helper keeps writing 0.2's files")
    net, _ = trained(optimizer)
    net.metadata = {"class_names": ["a", "b"]}
    ours = net.save(tmp_path / "ours.npz")
    theirs = write_v02_model(tmp_path / "theirs.npz", net, library=nn.__version__)
    assert open(ours, "rb").read() == open(theirs, "rb").read()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_02_model_file_loads_and_continues(optimizer, dtype, tmp_path):
    net, x = trained(optimizer, dtype)
    loaded = nn.load_model(write_v02_model(tmp_path / "old.npz", net))
    assert loaded.layers == net.layers and loaded.dtype == net.dtype
    np.testing.assert_array_equal(loaded.get_flat_params(), net.get_flat_params())
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    theirs, ours = net.optimizer.get_state(), loaded.optimizer.get_state()
    assert theirs.keys() == ours.keys()
    for key in theirs:
        np.testing.assert_array_equal(ours[key], theirs[key])
    # both take the same next step
    y = np.arange(len(x)) % 2
    net.fit(x, y, 10, 1, categorical=True, verbose=0, shuffle=False)
    loaded.fit(x, y, 10, 1, categorical=True, verbose=0, shuffle=False)
    np.testing.assert_array_equal(loaded.get_flat_params(), net.get_flat_params())
