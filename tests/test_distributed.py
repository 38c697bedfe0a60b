"""Data-parallel training and model search on a Dask cluster (nnscratch.distributed).

Every test runs on a ``distributed.LocalCluster`` of two single-threaded worker
processes started here (one per module) and closed at the end.
"""

import copy
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed_pkg = pytest.importorskip("distributed")

import dask.array as da  # noqa: E402

from nnscratch import SGD, Adam, EarlyStopping, NeuralNetwork, load_model  # noqa: E402
from nnscratch import distributed as nd  # noqa: E402
from nnscratch.datasets import load_digits  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def cluster():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nd.local_cluster(2) as local:
            yield local


@pytest.fixture(scope="module")
def client(cluster):
    with distributed_pkg.Client(cluster) as c:
        yield c


@pytest.fixture(autouse=True)
def two_workers(request):
    """A test that killed a worker leaves the cluster whole again for the next one."""
    yield
    if "client" in request.fixturenames:
        request.getfixturevalue("client").wait_for_workers(2, timeout=60)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits()
    return x / 16.0, y


def make_net(optimizer=None, hidden=16, seed=0, **kwargs):
    return NeuralNetwork(
        [64, hidden, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        optimizer if optimizer is not None else SGD(0.1),
        seed=seed,
        **kwargs,
    )


def one_hot(labels):
    out = np.zeros((labels.size, 10))
    out[np.arange(labels.size), labels] = 1
    return out


# ------------------------------------------------------------------ the core
def test_importing_nnscratch_never_imports_dask():
    code = (
        "import sys, nnscratch, nnscratch.sklearn, nnscratch.training;"
        "bad = [m for m in ('dask', 'distributed', 'dask_ml') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_sync_every_one_is_sgd_on_the_concatenated_batch(client, digits, shuffle, weighted):
    """Two replicas, one step per round, plain SGD: exactly one big-batch SGD step."""
    x, y = digits
    x, y = x[:301], y[:301]  # 151 + 150 rows: unequal replicas
    w = np.random.default_rng(5).uniform(0.1, 2.0, size=301) if weighted else None
    net = make_net(SGD(0.2), l2=1e-3 if weighted else 0.0)
    reference = copy.deepcopy(net)
    batch_size, epochs = 40, 3
    losses = nd.fit(
        net,
        x,
        y,
        batch_size,
        epochs,
        client=client,
        sync_every=1,
        categorical=True,
        shuffle=shuffle,
        sample_weight=w,
        verbose=0,
    )

    steps = -(-301 // batch_size)
    offsets, sizes = [0, 151], [151, 150]
    expected = []
    for _ in range(epochs):
        seeds = reference.rng.integers(2**63 - 1, size=2)
        # the documented plan, built here without the function under test: each replica's
        # rows in the order of its own seeded permutation, cut into `steps` near-equal batches
        orders = [
            np.random.default_rng(int(s)).permutation(n) if shuffle else np.arange(n)
            for n, s in zip(sizes, seeds)
        ]
        plans = [np.array_split(order, steps) for order in orders]
        total = weight = 0.0
        for step in range(steps):
            rows = np.concatenate([o + plan[step] for o, plan in zip(offsets, plans)])
            result = reference.train_on_batch(
                x[rows], one_hot(y[rows]), None if w is None else w[rows]
            )
            total += result.loss
            weight += result.weight
        expected.append(total / weight + reference.l2_penalty())
    np.testing.assert_allclose(
        net.get_flat_params(), reference.get_flat_params(), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(losses, expected, rtol=1e-10)
    assert net.history["sync_rounds"] == [steps] * epochs


def test_optimizer_state_is_averaged_and_the_step_counter_advances(client, digits):
    x, y = digits
    net = make_net(Adam(1e-3))
    nd.fit(net, x[:400], y[:400], 50, 2, client=client, sync_every=3, categorical=True, verbose=0)
    state = net.optimizer.get_state()
    assert state["iterations"] == 2 * 8
    assert set(state) == {"m", "v", "iterations"}
    assert np.abs(state["m"]).sum() > 0 and (state["v"] >= 0).all()


def test_dask_arrays_in_any_chunks_with_dask_validation(client, digits):
    x, y = digits
    xd = da.from_array(x[:1000], chunks=(130, 32))  # 8 row chunks, 2 column chunks
    yd = da.from_array(y[:1000], chunks=300)  # row chunks unlike x's
    xv, yv = da.from_array(x[1000:], chunks=200), da.from_array(y[1000:], chunks=150)
    net = make_net(Adam(3e-3))
    losses = nd.fit(
        net,
        xd,
        yd,
        64,
        3,
        client=client,
        categorical=True,
        sync_every=4,
        validation_data=(xv, yv),
        verbose=0,
    )
    assert len(losses) == 3 and losses[2] < losses[0]
    # the workers' validation figures are what the client computes for the same model
    assert net.history["val_loss"][-1] == pytest.approx(net.score(x[1000:], y[1000:]), rel=1e-9)
    assert net.history["val_accuracy"][-1] == pytest.approx(
        net.score(x[1000:], y[1000:], accuracy=True), rel=1e-12
    )
    for key in ("compute_seconds", "serialize_seconds", "average_seconds", "overhead_seconds"):
        assert len(net.history[key]) == 3 and min(net.history[key]) >= 0


def test_accuracy_matches_single_process_fit(client, digits):
    x, y = digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = order[:1400], order[1400:]
    single = make_net(Adam(2e-3), hidden=32)
    parallel = copy.deepcopy(single)
    single.fit(x[train], y[train], 32, 12, categorical=True, verbose=0)
    nd.fit(parallel, x[train], y[train], 32, 12, client=client, categorical=True, verbose=0)
    a_single = single.score(x[test], y[test], accuracy=True)
    a_parallel = parallel.score(x[test], y[test], accuracy=True)
    assert a_parallel >= a_single - 0.02, (a_single, a_parallel)
    assert a_parallel > 0.9


def test_callbacks_early_stopping_and_round_hooks(client, digits):
    x, y = digits

    class Recorder:
        def __init__(self):
            self.rounds, self.params = 0, []

        def on_batch_end(self, batch, logs):
            assert np.isfinite(logs["loss"]) and logs["size"] > 0
            self.rounds += 1

        def on_epoch_end(self, epoch, logs):
            self.params.append(self.network.get_flat_params())

        def set_network(self, network):
            self.network = network

    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=1e9)
    recorder = Recorder()
    net = make_net()
    losses = nd.fit(
        net,
        x[:600],
        y[:600],
        32,
        10,
        client=client,
        categorical=True,
        sync_every=5,
        validation_data=(x[600:900], y[600:900]),
        callbacks=[stopper, recorder],
        verbose=0,
    )
    # epoch 0 sets the best; no later epoch improves by 1e9, so epoch 1 stops the run
    assert len(losses) == 2 and stopper.stopped_epoch == 1 and stopper.best_epoch == 0
    assert recorder.rounds == sum(net.history["sync_rounds"]) == 2 * 4
    np.testing.assert_array_equal(net.get_flat_params(), recorder.params[0])


def test_progress_lines(client, digits, capsys):
    x, y = digits
    nd.fit(make_net(), x[:300], y[:300], 50, 2, client=client, categorical=True, verbose=2)
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err and "loss:" in err


def test_divergence_restores_the_epoch_and_warns(client, digits):
    x, y = digits
    from nnscratch import DivergenceWarning

    class Keep:
        def __init__(self):
            self.kept = []

        def on_epoch_begin(self, epoch, logs):
            self.kept.append(self.network.get_flat_params())

        def set_network(self, network):
            self.network = network

    keep = Keep()
    net = NeuralNetwork([64, 16, 1], "relu", "identity", "mse", SGD(10.0), seed=0)
    with pytest.warns(DivergenceWarning, match="diverged"):
        losses = nd.fit(
            net,
            x[:300],
            y[:300].astype(float),
            20,
            50,
            client=client,
            sync_every=3,
            verbose=0,
            callbacks=[keep],
        )
    assert len(losses) < 50
    # the parameters are those at the start of the epoch that diverged
    np.testing.assert_array_equal(net.get_flat_params(), keep.kept[-1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(sync_every=0), "sync_every"),
        (dict(epochs=0), "epochs"),
        (dict(checkpoint_every=0), "checkpoint_every"),
        (dict(replicas=0), "replicas"),
        (dict(replicas=1.5), "replicas"),
        (dict(validation_split=0.1, validation_data=([[0] * 64], [0])), "not both"),
    ],
)
def test_bad_arguments_are_named(client, digits, kwargs, match):
    x, y = digits
    args = dict(batch_size=10, epochs=1)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        nd.fit(
            make_net(),
            x[:50],
            y[:50],
            args.pop("batch_size"),
            args.pop("epochs"),
            client=client,
            categorical=True,
            verbose=0,
            **args,
        )


def test_dask_inputs_take_the_options_net_fit_takes(client, digits):
    """class_weight and validation_split once needed NumPy inputs; the data package serves
    every input kind, so they now work with Dask arrays as they do in net.fit."""
    x, y = digits
    xd, yd = da.from_array(x[:400], chunks=100), da.from_array(y[:400], chunks=100)
    kwargs = dict(client=client, categorical=True, verbose=0, sync_every=2)
    by_class = make_net()
    nd.fit(by_class, xd, yd, 20, 2, class_weight="balanced", **kwargs)
    counts = np.bincount(y[:400], minlength=10)
    weights = (400 / (10 * counts))[y[:400]]
    by_sample = make_net()
    nd.fit(by_sample, xd, yd, 20, 2, sample_weight=weights, **kwargs)
    # the same weights in the same dtype through the same steps
    np.testing.assert_array_equal(by_class.get_flat_params(), by_sample.get_flat_params())
    split = make_net()
    nd.fit(split, xd, yd, 20, 2, validation_split=0.25, **kwargs)
    assert len(split.history["val_loss"]) == 2  # one whole chunk of 100 rows held out
    assert split.history["sync_rounds"] == [8, 8]  # 300 training rows, 15 steps, 2 per round


def test_bad_dask_input_is_reported(client, digits):
    x, y = digits
    with pytest.raises(ValueError, match="features"):
        nd.fit(
            make_net(),
            da.from_array(x[:50, :60]),
            da.from_array(y[:50]),
            10,
            1,
            client=client,
            categorical=True,
            verbose=0,
        )
    with pytest.raises(ValueError, match="labels"):
        nd.fit(
            make_net(),
            da.from_array(x[:50]),
            da.from_array(y[:50] + 20),
            10,
            1,
            client=client,
            categorical=True,
            verbose=0,
        )


def test_no_client_is_a_clear_error(monkeypatch, digits):
    def none_found():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed_pkg, "default_client", none_found)
    x, y = digits
    with pytest.raises(ValueError, match="needs a Dask cluster"):
        nd.fit(make_net(), x[:50], y[:50], 10, 1, categorical=True, verbose=0)


# ------------------------------------------------------------------ faults
def _kill_a_busy_worker(client, pids, report):
    """Kill the first worker seen running one of our training tasks (SIGKILL)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = {
            w: keys
            for w, keys in client.processing().items()
            if any("nnscratch-round" in str(k) for k in keys)
        }
        if busy:
            worker = sorted(busy)[0]
            os.kill(pids[worker], signal.SIGKILL)
            report.append(worker)
            return
        time.sleep(0.002)


@pytest.mark.slow
def test_a_worker_killed_mid_round_loses_nothing(client, digits):
    x, y = digits
    clean = make_net(SGD(0.05, momentum=0.9), hidden=256)
    faulty = copy.deepcopy(clean)
    kwargs = dict(client=client, categorical=True, sync_every=100, verbose=0)
    expected = nd.fit(clean, x, y, 8, 3, **kwargs)

    pids = client.run(os.getpid)
    killed = []

    class KillDuringEpoch:
        def on_epoch_begin(self, epoch, logs):
            if epoch == 1:
                threading.Thread(target=_kill_a_busy_worker, args=(client, pids, killed)).start()

    losses = nd.fit(faulty, x, y, 8, 3, callbacks=[KillDuringEpoch()], **kwargs)
    assert killed, "no worker was caught running a training task"
    assert (
        killed[0] not in client.run(os.getpid)
        or client.run(os.getpid)[killed[0]] != pids[killed[0]]
    )
    # tasks are pure, so the rerun work gives the very same model
    np.testing.assert_array_equal(faulty.get_flat_params(), clean.get_flat_params())
    assert losses == expected
    assert faulty.score(x, y, accuracy=True) > 0.9


RESUMABLE = textwrap.dedent("""
    import sys
    import time
    from distributed import Client
    from nnscratch import NeuralNetwork, SGD
    from nnscratch import distributed as nd
    from nnscratch.datasets import load_digits

    x, y = load_digits()
    net = NeuralNetwork([64, 32, 10], "relu", "softmax", "categorical_crossentropy",
                        SGD(0.05, momentum=0.9), seed=3)
    class Slowly:  # a slow client, so that the test can kill it mid-run
        def on_batch_end(self, batch, logs):
            time.sleep(0.1)

    with Client(sys.argv[1]) as client:
        nd.fit(net, x / 16.0, y, 32, 6, client=client, categorical=True, sync_every=4,
               checkpoint=sys.argv[2], verbose=0, replicas=2, callbacks=[Slowly()])
""")


@pytest.mark.slow
def test_checkpoint_survives_the_loss_of_the_client(client, digits, tmp_path):
    x, y = digits
    path = tmp_path / "run.npz"
    script = tmp_path / "train.py"
    script.write_text(RESUMABLE)
    child = subprocess.Popen(
        [sys.executable, str(script), client.scheduler.address, str(path)], cwd=REPO
    )
    try:
        deadline = time.monotonic() + 240
        record = None
        while time.monotonic() < deadline:
            if path.exists():
                record = load_model(path).metadata["nnscratch.distributed"]
                if (
                    len(record["losses"]) >= 1
                    and record["position"] is not None
                    and record["position"]["next_step"] > 0
                ):
                    break
            assert child.poll() is None, "the training process ended before it was killed"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)  # the client dies in the middle of an epoch
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    record = load_model(path).metadata["nnscratch.distributed"]
    assert not record["finished"] and len(record["losses"]) < 6

    def fresh():
        return NeuralNetwork(
            [64, 32, 10],
            "relu",
            "softmax",
            "categorical_crossentropy",
            SGD(0.05, momentum=0.9),
            seed=3,
        )

    kwargs = dict(client=client, categorical=True, sync_every=4, verbose=0, replicas=2)
    resumed = fresh()
    losses = nd.fit(resumed, x, y, 32, 6, checkpoint=path, resume=True, **kwargs)
    straight = fresh()
    expected = nd.fit(straight, x, y, 32, 6, **kwargs)
    assert len(losses) == 6 and len(resumed.history["loss"]) == 6
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    np.testing.assert_array_equal(resumed.get_flat_params(), straight.get_flat_params())
    # the finished checkpoint is the final model, and resuming it again trains nothing
    final = load_model(path)
    np.testing.assert_array_equal(final.get_flat_params(), straight.get_flat_params())
    again = fresh()
    assert nd.fit(again, x, y, 32, 6, checkpoint=path, resume=True, **kwargs) == losses
    np.testing.assert_array_equal(again.get_flat_params(), straight.get_flat_params())


def test_checkpoint_of_another_run_is_refused(client, digits, tmp_path):
    x, y = digits
    path = tmp_path / "ck.npz"
    nd.fit(
        make_net(),
        x[:200],
        y[:200],
        20,
        1,
        client=client,
        categorical=True,
        checkpoint=path,
        verbose=0,
    )
    record = load_model(path).metadata["nnscratch.distributed"]
    assert record["finished"] and len(record["losses"]) == 1
    with pytest.raises(ValueError, match="batch_size"):
        nd.fit(
            make_net(),
            x[:200],
            y[:200],
            25,
            2,
            client=client,
            categorical=True,
            checkpoint=path,
            resume=True,
            verbose=0,
        )
    with pytest.raises(ValueError, match="n_samples"):
        nd.fit(
            make_net(),
            x[:210],
            y[:210],
            20,
            2,
            client=client,
            categorical=True,
            checkpoint=path,
            resume=True,
            verbose=0,
        )
    # resume=False starts over and overwrites the file
    net = make_net()
    assert (
        len(
            nd.fit(
                net,
                x[:200],
                y[:200],
                20,
                2,
                client=client,
                categorical=True,
                checkpoint=path,
                verbose=0,
            )
        )
        == 2
    )
    assert len(load_model(path).metadata["nnscratch.distributed"]["losses"]) == 2


# ------------------------------------------------------------------ the CLI's entry point
def test_fit_with_cluster_on_a_scheduler_address(client, digits):
    x, y = digits
    net = make_net(Adam(3e-3))
    losses = nd.fit_with_cluster(
        net,
        x[:500],
        y[:500],
        32,
        2,
        scheduler=client.scheduler.address,
        categorical=True,
        validation_split=0.2,
        verbose=0,
    )
    assert len(losses) == 2 and len(net.history["val_loss"]) == 2


@pytest.mark.slow
def test_fit_with_cluster_on_a_local_cluster(digits):
    x, y = digits
    net = make_net(Adam(3e-3))
    losses = nd.fit_with_cluster(
        net, x[:500], y[:500], 32, 2, workers=1, categorical=True, verbose=0
    )
    assert len(losses) == 2 and losses[1] < losses[0]


def test_cluster_client_wants_one_of_scheduler_or_workers():
    for kwargs in ({}, {"scheduler": "tcp://127.0.0.1:1", "workers": 2}):
        with pytest.raises(ValueError, match="exactly one"):
            with nd.cluster_client(**kwargs):
                pass


# ------------------------------------------------------------------ model search
def _classifier(**params):
    pytest.importorskip("sklearn")  # only the tests that build an estimator need it
    from nnscratch.sklearn import NNClassifier

    model = NNClassifier(hidden_layer_sizes=(8,), random_state=0)
    names = model.get_params()
    # the number of epochs is max_iter in scikit-learn's MLP and epochs here before that
    rounds = "max_iter" if "max_iter" in names else "epochs"
    return model.set_params(**{rounds: 20}, batch_size=32, **params)


@pytest.mark.parametrize("search", ["grid", "random", "halving"])
def test_scikit_learn_searches_run_on_the_cluster(client, digits, search):
    pytest.importorskip("sklearn")
    import joblib
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import (
        GridSearchCV,
        HalvingRandomSearchCV,
        RandomizedSearchCV,
    )

    x, y = digits
    x, y = x[:400], y[:400]
    grid = {"hidden_layer_sizes": [(8,), (16,)], "random_state": [0, 1]}
    # candidates x folds, counted from the search's settings: a grid of 2 x 2; three draws;
    # halving from 4 candidates on 100 rows, halved as the rows double to 200 and 400: 4 + 2 + 1
    if search == "grid":
        searcher = GridSearchCV(_classifier(), grid, cv=2)
        expected_fits = 2 * 2 * 2
    elif search == "random":
        searcher = RandomizedSearchCV(_classifier(), grid, n_iter=3, cv=2, random_state=0)
        expected_fits = 3 * 2
    else:
        searcher = HalvingRandomSearchCV(
            _classifier(), grid, n_candidates=4, cv=2, factor=2, random_state=0, min_resources=100
        )
        expected_fits = (4 + 2 + 1) * 2
    with distributed_pkg.get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        searcher.fit(x, y)
    fits = len(searcher.cv_results_["params"]) * 2
    assert len(stream.data) >= 1
    workers = set(client.scheduler_info()["workers"])
    assert {task["worker"] for task in stream.data} <= workers
    assert searcher.best_score_ > 0.5
    assert fits == expected_fits


def test_dask_ml_incremental_trains_with_partial_fit(client, digits):
    dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")
    x, y = digits
    xd, yd = da.from_array(x, chunks=300), da.from_array(y, chunks=300)
    model = dask_ml_wrappers.Incremental(_classifier(hidden_layer_sizes=(32,)), scoring="accuracy")
    for _ in range(3):
        model.partial_fit(xd, yd, classes=np.arange(10))
    assert model.score(xd, yd) > 0.8
    assert model.estimator_.network_.history["loss"]


@pytest.mark.xfail(
    strict=True,
    raises=RuntimeError,
    reason="dask-ml 2025.1's HyperbandSearchCV calls dask.persist inside its "
    "asynchronous fit: 'Attempting to use an asynchronous Client in a "
    "synchronous context' with current Dask (a dask-ml bug, not ours)",
)
def test_dask_ml_hyperband_search(client, digits):
    model_selection = pytest.importorskip("dask_ml.model_selection")
    x, y = digits
    xd, yd = da.from_array(x[:600], chunks=150), da.from_array(y[:600], chunks=150)
    search = model_selection.HyperbandSearchCV(
        _classifier(), {"alpha": [1e-4, 1e-3, 1e-2]}, max_iter=3, random_state=0
    )
    search.fit(xd, yd, classes=np.arange(10))


# ------------------------------------------------------------------ the examples
def _run_example(script, *args, cwd):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
    )


@pytest.mark.slow
def test_dask_train_example_trains_and_resumes(client, tmp_path):
    args = [
        "--scheduler",
        client.scheduler.address,
        "--epochs",
        "3",
        "--checkpoint",
        str(tmp_path / "ck.npz"),
        "--verbose",
        "0",
    ]
    first = _run_example("dask_train.py", *args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    accuracy = float(first.stdout.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 80
    again = _run_example("dask_train.py", *args, cwd=tmp_path)  # resumes a finished run
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"test accuracy {accuracy:.2f}%" in again.stdout


@pytest.mark.slow
def test_dask_search_example(client, tmp_path):
    pytest.importorskip("dask_ml")
    done = _run_example(
        "dask_search.py", "--scheduler", client.scheduler.address, "--quick", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("GridSearchCV", "RandomizedSearchCV", "HalvingRandomSearchCV", "Incremental"):
        assert f"{name}:" in done.stdout


def test_cli_train_on_the_cluster(client, tmp_path, capsys):
    """``nnscratch train --scheduler ADDRESS`` trains through distributed.fit_with_cluster."""
    from nnscratch.cli import main

    out = tmp_path / "model.npz"
    code = main(
        [
            "train",
            "--data",
            "digits",
            "--layers",
            "32",
            "--epochs",
            "3",
            "--scheduler",
            client.scheduler.address,
            "--sync-every",
            "8",
            "--early-stopping",
            "--out",
            str(out),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    net = load_model(out)
    assert net.history["sync_rounds"] and len(net.history["val_loss"]) == 3
    assert "test accuracy" in capsys.readouterr().out
    both = main(
        [
            "train",
            "--data",
            "digits",
            "--scheduler",
            client.scheduler.address,
            "--workers",
            "2",
            "--out",
            str(out),
        ]
    )
    assert both == 1 and "not both" in capsys.readouterr().err


# ------------------------------------------------------------------ data where it lies
def _uint8_map(tmp_path, rows, features=784, seed=0):
    """A uint8 .npy file written a block at a time, opened as a memory map, and labels."""
    path = tmp_path / "pixels.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, features))
    rng = np.random.default_rng(seed)
    for start in range(0, rows, 50_000):
        stop = min(start + 50_000, rows)
        out[start:stop] = rng.integers(0, 256, size=(stop - start, features), dtype=np.uint8)
    out.flush()
    del out
    labels = np.random.default_rng(seed + 1).integers(0, 10, size=rows)
    return np.load(path, mmap_mode="r"), labels


def test_a_memmap_is_read_by_the_workers_with_no_large_graph(client, tmp_path, recwarn):
    """Issue 19: distributed.fit shipped a memory map inside the task graph (Dask's
    "Sending large graph" warning, even at verbose 0). 16 MB of rows must not travel."""
    from nnscratch.data import Scale

    x, y = _uint8_map(tmp_path, 20_000)
    net = NeuralNetwork([784, 8, 10], "relu", "softmax", "categorical_crossentropy", SGD(0.1))
    net.input_transform = Scale(1 / 255)
    nd.fit(net, x, y, 500, 1, client=client, categorical=True, verbose=0, sync_every=20)
    messages = [str(w.message) for w in recwarn]
    assert not [m for m in messages if "large graph" in m.lower()], messages
    assert net.history["sync_rounds"] == [2]


@pytest.mark.slow
def test_distributed_fit_on_a_large_memmap_keeps_the_client_small(client, tmp_path):
    """Issue 19: distributed.fit on a 284 MB uint8 memory map grew the client by 2.3 GB.
    The client holds the model and the labels: its peak (traced) must stay under 150 MB
    for a 300 MB file."""
    import tracemalloc

    from nnscratch.data import Scale

    x, y = _uint8_map(tmp_path, 384_000)  # 301 MB
    net = NeuralNetwork([784, 16, 10], "relu", "softmax", "categorical_crossentropy", SGD(0.1))
    net.input_transform = Scale(1 / 255)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracemalloc.start()
        try:
            nd.fit(net, x, y, 4096, 1, client=client, categorical=True, verbose=0, sync_every=94)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    print(
        f"client peak traced while training on a {x.nbytes / 2**20:.0f} MB map: "
        f"{peak / 2**20:.1f} MB"
    )
    assert peak < 150 * 2**20
    assert not [w for w in caught if "large graph" in str(w.message).lower()]
    assert net.history["sync_rounds"] == [1]


@pytest.mark.slow
def test_a_replica_whose_worker_died_runs_elsewhere(client, digits, tmp_path):
    """Issue 19: when a killed worker held every partition of a replica, the next round
    failed with Dask's "Only use allow_other_workers= if using workers=" instead of
    running elsewhere. Kill one worker between two epochs (each worker holds the whole
    partitions of one replica) and check the run equals a run without the fault."""
    x, y = digits
    np.save(tmp_path / "x.npy", x)
    xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    kwargs = dict(client=client, categorical=True, sync_every=10, verbose=0, replicas=2)
    clean = make_net(SGD(0.05, momentum=0.9))
    faulty = copy.deepcopy(clean)
    expected = nd.fit(clean, xm, y, 32, 3, **kwargs)
    pids = client.run(os.getpid)
    killed = []

    class KillAfterFirstEpoch:
        def on_epoch_end(self, epoch, logs):
            if epoch == 0:
                worker = sorted(pids)[0]
                os.kill(pids[worker], signal.SIGKILL)
                killed.append(worker)
                deadline = time.monotonic() + 30
                while worker in client.scheduler_info()["workers"]:
                    assert time.monotonic() < deadline, "the scheduler never saw the worker go"
                    time.sleep(0.05)

    losses = nd.fit(faulty, xm, y, 32, 3, callbacks=[KillAfterFirstEpoch()], **kwargs)
    assert killed
    assert losses == expected
    np.testing.assert_array_equal(faulty.get_flat_params(), clean.get_flat_params())
