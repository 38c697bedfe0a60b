"""Data-parallel training (``nnscratch.distributed.fit``) against a simulation written here.

The simulation follows the documented algorithm and nothing of the module's code: each
epoch draws one seed per replica from the network's generator
(``integers(2**63 - 1, size=replicas)``); replica ``r`` holds the ``r``-th slice of the
rows, orders them by ``np.random.default_rng(seed_r).permutation`` and cuts them into
``ceil(n / batch_size)`` batches with ``np.array_split``; in each sync round every replica
starts from the same parameters and optimizer state, takes ``sync_every`` steps (the
update rules written here from the published formulas), and the client averages the
parameters AND the optimizer state, weighted by the rows each replica trained on.

Cases: one replica with ``sync_every=1`` equals ``net.fit`` to rounding (SGD, SGD with
momentum, Adam); one replica's shuffled plan; two replicas with SGD momentum and Adam,
where averaging the state differs measurably from taking one replica's, for NumPy and
Dask inputs.  The cluster is a ``distributed.LocalCluster`` of two single-threaded
in-process workers on localhost, started here and closed at the end of the module.
"""

import copy
import math
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from nnscratch import SGD, Adam, NeuralNetwork  # noqa: E402
from nnscratch import distributed as nd  # noqa: E402
from nnscratch.data import Scale  # noqa: E402

N, D, M = 64, 4, 2


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=False,
                dashboard_address=":0",
            ) as cluster,
            distributed.Client(cluster) as c,
        ):
            yield c


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D))
    # the two halves differ, so the replicas' gradients (and their squares) differ
    x[N // 2 :] = 2.0 * x[N // 2 :] + 1.0
    y = rng.uniform(size=(N, M))
    return x, y


def make_net(optimizer):
    return NeuralNetwork([D, 5, M], "tanh", "sigmoid", "mse", optimizer, seed=4)


OPTIMIZERS = {
    "sgd": lambda: SGD(0.3),
    "sgd-momentum": lambda: SGD(0.3, 0.9),
    "adam": lambda: Adam(0.05),
}


# ---------------------------------------------------------------- the simulation
def new_state(kind, size):
    return (
        {"velocity": np.zeros(size)}
        if kind.startswith("sgd")
        else {
            "m": np.zeros(size),
            "v": np.zeros(size),
        }
    )


def apply_rule(kind, p, g, state, t):
    """One update by the published rule; ``t`` counts the optimizer's steps from 1."""
    if kind == "sgd":
        return p - 0.3 * g
    if kind == "sgd-momentum":
        state["velocity"] = 0.9 * state["velocity"] - 0.3 * g
        return p + state["velocity"]
    b1, b2, lr, eps = 0.9, 0.999, 0.05, 1e-8
    state["m"] = b1 * state["m"] + (1 - b1) * g
    state["v"] = b2 * state["v"] + (1 - b2) * g * g
    m_hat, v_hat = state["m"] / (1 - b1**t), state["v"] / (1 - b2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def simulate(
    kind,
    x,
    y,
    generator,
    *,
    replicas,
    batch_size,
    epochs,
    sync_every,
    shuffle=True,
    average_state=True,
):
    """Parameters after data-parallel training as documented (``average_state=False``
    takes replica 0's optimizer state instead of the average, for contrast)."""
    scratch = make_net("sgd")
    params = make_net("sgd").get_flat_params()
    state, iterations = new_state(kind, params.size), 0
    n = x.shape[0]
    per = math.ceil(n / replicas)
    slices = [np.arange(r * per, min((r + 1) * per, n)) for r in range(replicas)]
    steps = math.ceil(n / batch_size)
    for _ in range(epochs):
        seeds = generator.integers(2**63 - 1, size=replicas)
        plans = []
        for r, rows in enumerate(slices):
            order = (
                np.random.default_rng(int(seeds[r])).permutation(rows.size)
                if shuffle
                else np.arange(rows.size)
            )
            plans.append([rows[part] for part in np.array_split(order, steps)])
        for first in range(0, steps, sync_every):
            n_steps = min(sync_every, steps - first)
            results = []
            for r in range(replicas):
                p, s, t, seen = params.copy(), copy.deepcopy(state), iterations, 0
                for step in range(first, first + n_steps):
                    rows = plans[r][step]
                    if rows.size == 0:
                        continue
                    scratch.set_flat_params(p)
                    g = scratch.loss_and_gradient(x[rows], y[rows])[1]
                    t += 1
                    p = apply_rule(kind, p, g, s, t)
                    seen += rows.size
                results.append((p, s, seen))
            share = np.array([seen for _, _, seen in results], dtype=float)
            share /= share.sum()
            params = sum(w * p for w, (p, _, _) in zip(share, results))
            if average_state:
                state = {
                    key: sum(w * s[key] for w, (_, s, _) in zip(share, results)) for key in state
                }
            else:
                state = results[0][1]
            iterations += n_steps
    return params


# ---------------------------------------------------------------- the tests
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_one_replica_in_step_equals_net_fit(client, kind):
    x, y = data()
    net = make_net(OPTIMIZERS[kind]())
    local = copy.deepcopy(net)
    nd.fit(net, x, y, 16, 3, client=client, replicas=1, sync_every=1, shuffle=False, verbose=0)
    local.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    # the same batches (64 rows in 4 batches of 16) and the same arithmetic: equal to
    # rounding (the averaged state is rebuilt in float64 and cast back)
    np.testing.assert_allclose(net.get_flat_params(), local.get_flat_params(), rtol=1e-12)
    theirs, ours = net.optimizer.get_state(), local.optimizer.get_state()
    assert theirs["iterations"] == ours["iterations"] == 12
    for key in ours:
        np.testing.assert_allclose(theirs[key], ours[key], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_one_replica_shuffles_by_its_documented_plan(client, kind):
    x, y = data(1)
    net = make_net(OPTIMIZERS[kind]())
    generator = copy.deepcopy(net.rng)
    unshuffled_gen = copy.deepcopy(net.rng)
    nd.fit(net, x, y, 16, 3, client=client, replicas=1, sync_every=1, verbose=0)
    expected = simulate(kind, x, y, generator, replicas=1, batch_size=16, epochs=3, sync_every=1)
    np.testing.assert_allclose(net.get_flat_params(), expected, rtol=1e-10, atol=1e-13)
    in_order = simulate(
        kind,
        x,
        y,
        unshuffled_gen,
        replicas=1,
        batch_size=16,
        epochs=3,
        sync_every=1,
        shuffle=False,
    )
    assert np.abs(net.get_flat_params() - in_order).max() > 1e-4  # the order matters here


@pytest.mark.parametrize("source", ["numpy", "dask"])
@pytest.mark.parametrize("sync_every", [1, 3])
@pytest.mark.parametrize("kind", ["sgd-momentum", "adam"])
def test_two_replicas_average_parameters_and_optimizer_state(client, kind, sync_every, source):
    x, y = data(2)
    net = make_net(OPTIMIZERS[kind]())
    gen_avg, gen_one = copy.deepcopy(net.rng), copy.deepcopy(net.rng)
    x_in, y_in = (x, y) if source == "numpy" else (da.from_array(x, 32), da.from_array(y, 32))
    nd.fit(net, x_in, y_in, 16, 2, client=client, replicas=2, sync_every=sync_every, verbose=0)
    common = dict(replicas=2, batch_size=16, epochs=2, sync_every=sync_every)
    averaged = simulate(kind, x, y, gen_avg, **common)
    one_state = simulate(kind, x, y, gen_one, average_state=False, **common)
    # the case discriminates: keeping one replica's state ends measurably elsewhere
    assert np.abs(averaged - one_state).max() > 1e-4
    np.testing.assert_allclose(net.get_flat_params(), averaged, rtol=1e-9, atol=1e-12)


def test_input_transform_applies_to_the_replicas_training_batches(client):
    """Bug (issue 19): distributed.fit trained the replicas on raw rows, ignoring
    net.input_transform, while its validation and net.predict applied it."""
    x, y = data(3)
    x_raw = x * 255.0 + 100.0
    net = make_net(SGD(0.3, 0.9))
    pre = copy.deepcopy(net)
    net.input_transform = Scale(1 / 255, -100 / 255)
    nd.fit(net, x_raw, y, 16, 2, client=client, replicas=2, sync_every=1, verbose=0)
    nd.fit(pre, x, y, 16, 2, client=client, replicas=2, sync_every=1, verbose=0)
    np.testing.assert_allclose(net.get_flat_params(), pre.get_flat_params(), rtol=1e-9)
