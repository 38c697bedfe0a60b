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


# --------------------------------------------------------------------------- #
# B. item 8: labels and accuracy on a regression network; exploding losses
# --------------------------------------------------------------------------- #
REGRESSIONS = [
    ("identity", "mse", 1),
    ("identity", "mse", 3),
    ("identity", "mae", 1),
    ("exp", "mse", 2),
]


def _reg(output, loss, units):
    return NeuralNetwork([4, 5, units], "tanh", output, loss, "sgd", seed=0)


def _label_inputs(tmp_path):
    x = np.random.default_rng(0).normal(size=(30, 4))
    path = tmp_path / "x.npy"
    np.save(path, x)
    return {
        "array": lambda: x,
        "one sample": lambda: x[0],
        "memmap": lambda: np.load(path, mmap_mode="r"),
        "generator": lambda: (x[i : i + 10] for i in range(0, 30, 10)),
    }


@pytest.mark.parametrize("output,loss,units", REGRESSIONS)
def test_labels_on_a_regression_network_are_refused(output, loss, units, tmp_path):
    """Issue 20 item 8: predict(x, labels=True) on a regression network (identity output,
    one unit) silently returned 0/1.  Every input kind and ``out=`` are refused, naming
    the reason and the way forward, and nothing is written into ``out``."""
    net = _reg(output, loss, units)
    for kind, make in _label_inputs(tmp_path).items():
        with pytest.raises(ValueError, match="labels=True needs a classifier") as err:
            net.predict(make(), labels=True)
        assert "regression network" in str(err.value) and f"'{output}'" in str(err.value), kind
        assert net.predict(make()).shape[-1] == units  # the values themselves still come
    out = np.full(30, -7, np.int64)
    with pytest.raises(ValueError, match="needs a classifier"):
        net.predict(np.load(tmp_path / "x.npy", mmap_mode="r"), labels=True, out=out)
    assert (out == -7).all()


@pytest.mark.parametrize("output,loss,units", REGRESSIONS)
def test_accuracy_on_a_regression_network_says_it_needs_a_classifier(
    output, loss, units, tmp_path
):
    """Issue 20 (messages): score(x, y, accuracy=True) on a one-unit regression network said
    "the output layer has 2 units"; it now says accuracy needs a classifier, for in-memory
    and streamed input alike."""
    net = _reg(output, loss, units)
    x = np.random.default_rng(1).normal(size=(30, 4))
    y = np.zeros(30, np.int64)
    np.save(tmp_path / "x.npy", x)
    for xs in (x, np.load(tmp_path / "x.npy", mmap_mode="r")):
        with pytest.raises(ValueError, match="accuracy=True needs a classifier"):
            net.score(xs, y, accuracy=True)
    assert np.isfinite(net.score(x, np.zeros((30, units))))  # the loss still scores


@pytest.mark.parametrize(
    "output,loss,units",
    [
        ("softmax", "categorical_crossentropy", 3),
        ("softmax", "mse", 3),
        ("sigmoid", "binary_crossentropy", 1),
        ("sigmoid", "mse", 2),
        ("identity", "binary_crossentropy", 1),
    ],
)
def test_classifiers_still_give_labels(output, loss, units):
    """The refusal is for value outputs only: probability outputs, and any output trained
    with a cross-entropy, keep their labels."""
    net = NeuralNetwork([4, 5, units], "tanh", output, loss, "sgd", seed=0)
    x = np.random.default_rng(2).normal(size=(20, 4))
    labels = net.predict(x, labels=True)
    assert labels.shape[0] == 20
    assert 0 <= net.score(x, labels if labels.ndim == 1 else labels, accuracy=True) <= 1


@pytest.mark.parametrize("output,loss,units", REGRESSIONS[:2])
def test_onnx_export_refuses_labels_of_a_regression_network_like_predict(output, loss, units):
    """Issue 20 item 8, the exporter's half: to_onnx thresholded a one-unit identity output
    at 0.5 for its label output; it now refuses labels=True and class names the way
    predict does, and exports the values alone by default."""
    pytest.importorskip("onnx")
    from nnscratch.export import to_onnx

    net = _reg(output, loss, units)
    classes = ["a", "b"] if units == 1 else [f"c{i}" for i in range(units)]
    for labels in (True, classes):
        with pytest.raises(ValueError, match="needs a classifier") as err:
            to_onnx(net, labels=labels)
        assert "regression network" in str(err.value)
    for labels in (None, False):
        names = [o.name for o in to_onnx(net, labels=labels).graph.output]
        assert names == ["values"]


@pytest.mark.parametrize("kind", ["array", "generator"])
@pytest.mark.parametrize("rate", [1.2, 2.0])
def test_exploding_but_finite_loss_warns(kind, rate):
    """Issue 20 item 8: losses that exploded to 1e30 without becoming non-finite gave no
    hint.  An epoch loss past EXPLOSION_FACTOR times the first one warns (once) with a
    DivergenceWarning, while every loss is still finite."""
    from nnscratch.exceptions import DivergenceWarning
    from nnscratch.training import EXPLOSION_FACTOR

    x, y = np.ones((4, 1)), np.zeros((4, 1))
    net = NeuralNetwork([1, 1], "identity", "identity", "mse", SGD(rate), seed=0)
    data = (x, y) if kind == "array" else (((x, y) for _ in range(1)) for _ in range(40))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "array":
            losses = net.fit(x, y, 4, 25, verbose=0)
        else:
            losses = [net.fit(next(data), None, 4, 1, verbose=0)[0] for _ in range(25)]
    assert all(np.isfinite(losses)) and max(losses) > EXPLOSION_FACTOR * losses[0]
    exploding = [w for w in caught if issubclass(w.category, DivergenceWarning)]
    # once per fit call: one call of 25 epochs, or each one-epoch call past the line
    past = sum(v > EXPLOSION_FACTOR * losses[0] and v > 1 for v in losses)
    assert len(exploding) == (1 if kind == "array" else past), [str(w.message) for w in caught]
    assert "exploding" in str(exploding[0].message)


def test_a_healthy_or_near_perfect_run_does_not_warn_of_explosion():
    """No false alarm: a converging run, and a near-perfect fit whose tiny loss wobbles."""
    from nnscratch.exceptions import DivergenceWarning

    x, y = np.ones((4, 1)), np.zeros((4, 1))
    for rate in (0.1, 0.45):  # 0.45: oscillating, but below the stable limit 0.5
        net = NeuralNetwork([1, 1], "identity", "identity", "mse", SGD(rate), seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", DivergenceWarning)
            net.fit(x, y, 4, 25, verbose=0)
    # a history that starts at a near-perfect 1e-12: later losses of about 1e-5 are a
    # factor 1e7 up, but far below the scale of an explosion
    net = NeuralNetwork([1, 1], "identity", "identity", "mse", SGD(0.1), seed=0)
    net.history = {"loss": [1e-12]}
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        losses = net.fit(x, y + 1e-3 * np.arange(4)[:, None], 4, 5, verbose=0)
    assert max(losses) > 1e6 * 1e-12 and max(losses) < 1.0


# --------------------------------------------------------------------------- #
# C. messages a new user met
# --------------------------------------------------------------------------- #
def _sigmoid_unit():
    return NeuralNetwork([4, 5, 1], "tanh", "sigmoid", "binary_crossentropy", "sgd", seed=0)


def test_single_sigmoid_unit_with_categorical_says_to_drop_it(tmp_path):
    """Issue 20 (messages): one sigmoid unit with categorical=True said "labels must lie in
    0..0" (and labels all 0 were one-hot encoded into all-ones targets).  Every input kind
    and the validation data now say to drop categorical=True, before any training."""
    x = np.random.default_rng(3).normal(size=(20, 4))
    y = np.arange(20) % 2
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    kinds = {
        "arrays": lambda: (x, y),
        "labels all 0": lambda: (x, np.zeros(20, np.int64)),
        "memmaps": lambda: (
            np.load(tmp_path / "x.npy", mmap_mode="r"),
            np.load(tmp_path / "y.npy", mmap_mode="r"),
        ),
        "generator": lambda: (((x[i : i + 5], y[i : i + 5]) for i in range(0, 20, 5)), None),
    }
    for kind, make in kinds.items():
        net = _sigmoid_unit()
        before = net.get_flat_params().copy()
        xs, ys = make()
        with pytest.raises(ValueError, match="drop categorical=True") as err:
            net.fit(xs, ys, 5, 1, categorical=True, verbose=0)
        assert "single unit" in str(err.value), kind
        np.testing.assert_array_equal(net.get_flat_params(), before)
        assert net.history.get("loss", []) == [], kind
    # and without categorical=True the same labels train
    assert len(_sigmoid_unit().fit(x, y, 5, 1, verbose=0)) == 1


TEXT_LABELS = {
    "str": np.array(["cat", "dog"] * 10),
    "bytes": np.array([b"cat", b"dog"] * 10),
    "object str": np.array(["cat", "dog"] * 10, dtype=object),
    "object bytes": np.array([b"cat", b"dog"] * 10, dtype=object),
    "list": ["cat", "dog"] * 10,
}


@pytest.mark.parametrize("kind", sorted(TEXT_LABELS))
@pytest.mark.parametrize("categorical", [True, False])
def test_text_labels_in_fit_say_how_to_encode_them(kind, categorical, tmp_path):
    """Issue 20 (messages): string labels in net.fit said "y must be numeric, got <U5";
    they now say how to encode them (np.unique + categorical / to_categorical) or to use
    NNClassifier, for every kind of text array and both target forms."""
    units = 2 if categorical else 1
    net = NeuralNetwork([4, 5, units], "tanh", "softmax" if categorical else "sigmoid",
                        "categorical_crossentropy" if categorical else "binary_crossentropy",
                        "sgd", seed=0)  # fmt: skip
    x = np.random.default_rng(4).normal(size=(20, 4))
    with pytest.raises(TypeError, match="y must be numeric") as err:
        net.fit(x, TEXT_LABELS[kind], 5, 1, categorical=categorical, verbose=0)
    assert "to_categorical" in str(err.value) and "NNClassifier" in str(err.value)
    if TEXT_LABELS[kind] is not None and np.asarray(TEXT_LABELS[kind]).dtype.kind in "US":
        np.save(tmp_path / "y.npy", np.asarray(TEXT_LABELS[kind]))
        with pytest.raises(TypeError, match="NNClassifier"):
            net.fit(x, np.load(tmp_path / "y.npy", mmap_mode="r"), 5, 1,
                    categorical=categorical, verbose=0)  # fmt: skip
    # numbers that are not labels keep the plain message: the hint is for text only
    with pytest.raises(TypeError) as err:
        net.fit(x, np.array([object()] * 20), 5, 1, categorical=categorical, verbose=0)
    assert "to_categorical" not in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("container", ["npy", "npz"])
def test_cli_names_the_array_file_holding_a_non_finite_value(bad, container, tmp_path, capsys):
    """Issue 20 (messages): a NaN inside an array file read by the CLI was reported as being
    in "x".  predict, evaluate and train (features and labels) now name the file."""
    from nnscratch.cli import main

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(40, 4)), np.arange(40) % 2
    xb = x.copy()
    xb[17, 2] = bad
    yb = y.astype(np.float64)
    yb[9] = bad

    def put(name, array):
        if container == "npy":
            np.save(tmp_path / f"{name}.npy", array)
            return str(tmp_path / f"{name}.npy")
        np.savez(tmp_path / f"{name}.npz", a=array)
        return str(tmp_path / f"{name}.npz") + ":a"

    good_x, good_y, bad_x, bad_y = put("gx", x), put("gy", y), put("bx", xb), put("by", yb)
    model = str(tmp_path / "m.npz")
    assert main(["train", "--data", good_x, "--labels", good_y, "--epochs", "1",
                 "--out", model, "--verbose", "0"]) == 0  # fmt: skip
    capsys.readouterr()
    cases = [
        (["predict", model, bad_x], bad_x),
        (["evaluate", model, "--data", bad_x, "--labels", good_y], bad_x),
        (["train", "--data", bad_x, "--labels", good_y, "--epochs", "1", "--out",
          str(tmp_path / "n"), "--no-standardize", "--verbose", "0"], bad_x),
        (["train", "--data", good_x, "--labels", bad_y, "--epochs", "1", "--out",
          str(tmp_path / "n"), "--task", "regression", "--verbose", "0"], bad_y),
    ]  # fmt: skip
    for argv, named in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert "non-finite" in err and named in err, (argv, err)
        assert "error: x " not in err and "error: y " not in err, err


# --------------------------------------------------------------------------- #
# D. item 13: predict / score chunks sized in bytes
# --------------------------------------------------------------------------- #
def test_predict_rows_is_sized_in_bytes():
    """One rule for every predict chunk: the widest array of a chunk within
    PREDICT_CHUNK_BYTES, at most PREDICT_ROWS rows, at least one."""
    from nnscratch import data

    for layers, dtype in [
        ([128 * 128, 32, 10], np.float32),
        ([128 * 128, 32, 10], np.float64),
        ([64, 10], np.float32),
        ([10, 2**23, 2], np.float64),  # a row wider than the whole budget: still one row
        ([4, 100_000, 3], np.float32),  # a wide hidden layer counts like a wide input
    ]:
        rows = data.predict_rows(layers, dtype)
        width = max(layers) * np.dtype(dtype).itemsize
        assert 1 <= rows <= data.PREDICT_ROWS
        assert rows == 1 or rows * width <= data.PREDICT_CHUNK_BYTES
        assert rows == data.PREDICT_ROWS or (rows + 1) * width > data.PREDICT_CHUNK_BYTES


def test_streamed_predict_and_score_memory_follows_bytes_not_rows(tmp_path):
    """Issue 20 item 13: streamed predict/score read 2,048 rows per chunk whatever their
    width (384 MiB traced for 128x128 images).  Every streamed path (predict, predict
    into out=, score, score with accuracy, a generator's batches excepted: they are the
    user's) now stays within a few chunks of PREDICT_CHUNK_BYTES."""
    import tracemalloc

    from nnscratch import data

    n, width = 2500, 128 * 128
    path = tmp_path / "img.npy"
    m = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, width))
    m[:] = np.arange(width, dtype=np.uint8)
    m.flush()
    del m
    x = np.load(path, mmap_mode="r")
    net = NeuralNetwork([width, 16, 10], "relu", "softmax", "categorical_crossentropy", "sgd",
                        dtype=np.float32, seed=0)  # fmt: skip
    net.input_transform = Scale(1 / 255)
    y = np.arange(n) % 10
    out = np.empty((n, 10), np.float32)
    calls = {
        "predict": lambda: net.predict(x),
        "predict labels": lambda: net.predict(x, labels=True),
        "predict out=": lambda: net.predict(x, out=out),
        "score": lambda: net.score(x, y),
        "score accuracy": lambda: net.score(x, y, accuracy=True),
    }
    # a 2048-row chunk of this width takes 128 MiB in float32: the budget allows the
    # source chunk, its transformed copy and the activations, about 3 chunks of 16 MiB
    budget = 4 * data.PREDICT_CHUNK_BYTES
    for what, call in calls.items():
        tracemalloc.start()
        try:
            call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < budget, (what, peak / 2**20)
    # the chunked answer agrees with one in-memory pass (other shapes: BLAS rounding)
    small = np.asarray(x[:300])
    np.testing.assert_allclose(net.predict(x)[:300], net.predict(small), rtol=1e-5, atol=1e-6)
