"""Trust, round 3 (issue 20): resuming data-parallel checkpoints, labels and accuracy on
regression networks, messages a new user met, predict buffers sized in bytes.
"""

import copy
import warnings

import numpy as np
import pytest

from nnscratch import SGD, Adam, NeuralNetwork, load_model
from nnscratch.data import Scale
from nnscratch.datasets import load_digits


def _digits(n=120):
    x, y = load_digits()
    return x[:n] / 16.0, y[:n]


def _net(**changes):
    spec = dict(
        layers=[64, 8, 10],
        hidden="relu",
        output="softmax",
        loss="categorical_crossentropy",
        optimizer=lambda: SGD(0.1, momentum=0.9),
    )
    extra = {k: changes.pop(k) for k in ("dtype", "dropout", "l2", "initializer") if k in changes}
    spec.update(changes)
    net = NeuralNetwork(
        spec["layers"],
        spec["hidden"],
        spec["output"],
        spec["loss"],
        spec["optimizer"](),
        seed=1,
        **extra,
    )
    if "transform" in changes:
        net.input_transform = changes["transform"]
    return net


# --------------------------------------------------------------------------- #
# A. item 3: resuming a data-parallel checkpoint
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.array")
    distributed_pkg = pytest.importorskip("distributed")
    from nnscratch import distributed as nd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            nd.local_cluster(1, processes=False) as cluster,
            distributed_pkg.Client(cluster) as c,
        ):
            yield c


def _snapshot(net):
    state = net.optimizer.get_state() if hasattr(net.optimizer, "get_state") else {}
    return (
        net.get_flat_params().copy(),
        {k: np.array(v, copy=True) for k, v in state.items()},
        copy.deepcopy(net.history),
        copy.deepcopy(net.rng.bit_generator.state),
    )


def _assert_same(before, after):
    np.testing.assert_array_equal(before[0], after[0])  # same arrays, untouched
    assert before[1].keys() == after[1].keys()
    for key in before[1]:
        np.testing.assert_array_equal(before[1][key], after[1][key])
    assert before[2] == after[2]
    assert before[3] == after[3]


MISMATCHES = {
    "hidden_activation": dict(hidden="tanh"),
    "output_activation": dict(output="sigmoid"),
    "loss": dict(loss="mse"),
    "optimizer": dict(optimizer=lambda: Adam(0.1)),
    "optimizer settings": dict(optimizer=lambda: SGD(0.05, momentum=0.9)),
    "optimizer settings ": dict(optimizer=lambda: SGD(0.1)),  # momentum differs
    "dtype": dict(dtype=np.float32),
    "dropout": dict(dropout=0.2),
    "l2": dict(l2=0.01),
    "initializer": dict(initializer="he_normal"),
    "input_transform": dict(transform=Scale(0.5)),
    "layers": dict(layers=[64, 9, 10]),
}


@pytest.mark.parametrize("what", sorted(MISMATCHES))
def test_resume_checks_the_whole_fingerprint_first_and_changes_nothing(client, tmp_path, what):
    """Issue 20 item 3: a checkpoint resumed into a network with another activation was
    accepted, and into another optimizer it failed only after overwriting the parameters.
    Every part of the description is compared before anything of the network changes."""
    from nnscratch import distributed as nd

    x, y = _digits()
    path = tmp_path / "ck.npz"
    kwargs = dict(client=client, categorical=True, verbose=0, checkpoint=path)
    nd.fit(_net(), x, y, 20, 2, **kwargs)
    target = _net(**dict(MISMATCHES[what]))
    target.history = {"loss": [9.0]}  # a history of its own that must survive the refusal
    before = _snapshot(target)
    with pytest.raises(ValueError, match=what.strip()):
        nd.fit(target, x, y, 20, 3, resume=True, **kwargs)
    _assert_same(before, _snapshot(target))
    # the refused checkpoint is left as it was
    assert len(load_model(path).history["loss"]) == 2


def test_finished_checkpoint_resumed_with_more_epochs_carries_on(client, tmp_path):
    """Issue 20 item 3: a finished checkpoint resumed with a larger epoch count trained
    nothing and returned the old losses; it now trains the remaining epochs."""
    from nnscratch import distributed as nd

    x, y = _digits()
    path = tmp_path / "ck.npz"
    kwargs = dict(client=client, categorical=True, verbose=0, replicas=1)
    first = _net()
    old = nd.fit(first, x, y, 20, 2, checkpoint=path, **kwargs)
    assert len(old) == 2
    resumed = _net()
    losses = nd.fit(resumed, x, y, 20, 4, checkpoint=path, resume=True, **kwargs)
    assert len(losses) == 4 and losses[:2] == old
    assert len(resumed.history["loss"]) == 4
    assert not np.array_equal(resumed.get_flat_params(), first.get_flat_params())
    # the same shapes and operations as one straight run of four epochs: bit for bit
    straight = _net()
    expected = nd.fit(straight, x, y, 20, 4, **kwargs)
    np.testing.assert_array_equal(losses, expected)
    np.testing.assert_array_equal(resumed.get_flat_params(), straight.get_flat_params())
    record = load_model(path).metadata["nnscratch.distributed"]
    assert record["finished"] and record["epochs"] == 4 and len(record["losses"]) == 4
    # asked for as many epochs as it holds (or fewer), a finished run returns at once
    for epochs in (4, 3):
        again = _net()
        assert nd.fit(again, x, y, 20, epochs, checkpoint=path, resume=True, **kwargs) == losses
        np.testing.assert_array_equal(again.get_flat_params(), straight.get_flat_params())
