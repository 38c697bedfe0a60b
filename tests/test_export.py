"""ONNX export: ONNX Runtime must answer exactly like net.predict.

Every built-in hidden x output activation, both dtypes, batch sizes 1 and 1000,
random and real (digits) inputs; preprocessing in the graph; the scikit-learn
estimators; refusals before anything is written; and a fresh process that runs
the file without nnscratch.
"""

import itertools
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO

onnx = pytest.importorskip(
    "onnx", reason="the ONNX export tests need onnx: pip install 'nnscratch[onnx]'"
)
ort = pytest.importorskip(
    "onnxruntime", reason="the ONNX export tests need onnxruntime: pip install 'nnscratch[onnx]'"
)

import nnscratch as nn  # noqa: E402
from nnscratch import export  # noqa: E402
from nnscratch.cli.export import export_command  # noqa: E402
from nnscratch.data import Scale  # noqa: E402
from nnscratch.datasets import load_digits  # noqa: E402
from nnscratch.export import to_onnx  # noqa: E402

HIDDEN = ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "identity"]
OUTPUT = ["softmax", "sigmoid", "identity"]
DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-6}


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run(model, x, dtype=None):
    sess = session(model)
    dtype = dtype or x.dtype
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {"input": np.asarray(x, dtype=dtype)})))


def close(actual, expected, dtype, precision=None):
    """Same dtype and shape, and within the tolerance of ``precision`` (default ``dtype``)."""
    tol = TOLERANCE[np.dtype(precision or dtype).type]
    assert actual.dtype == np.dtype(dtype)
    assert actual.shape == expected.shape
    assert np.max(np.abs(actual - expected)) <= tol, np.max(np.abs(actual - expected))


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits()
    return x, y


def make_net(hidden, output, dtype, layers=(64, 24, 16, 10), seed=0):
    return nn.NeuralNetwork(list(layers), hidden, output, "mse", "sgd", dtype=dtype, seed=seed)


def inputs(rng, digits, dtype):
    """Random normal rows and real digits (scaled to [0, 1]), batch sizes 1 and 1000."""
    random = rng.normal(size=(1000, 64))
    real = digits[0][:1000] / 16.0
    for x in (random, real):
        for n in (1, 1000):
            yield x[:n].astype(dtype)


# ------------------------------------------------------------------ every combination
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("hidden,output", list(itertools.product(HIDDEN, OUTPUT)))
def test_every_builtin_combination_matches_predict(hidden, output, dtype, rng, digits):
    net = make_net(hidden, output, dtype)
    if output == "identity":
        # a regression network has no labels (issue 20, item 8): values only, and asking
        # for labels is refused by predict and by the export alike
        model = to_onnx(net, labels=False)
        onnx.checker.check_model(model, full_check=True)
        assert [o.name for o in model.graph.output] == ["values"]
        sess = session(model)
        for x in inputs(rng, digits, dtype):
            close(sess.run(None, {"input": x})[0], net.predict(x), dtype)
        with pytest.raises(ValueError, match="needs a classifier"):
            to_onnx(net, labels=True)
        with pytest.raises(ValueError, match="needs a classifier"):
            net.predict(x, labels=True)
        return
    model = to_onnx(net, labels=True)
    onnx.checker.check_model(model, full_check=True)
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    sess = session(model)
    for x in inputs(rng, digits, dtype):
        label, values = sess.run(None, {"input": x})
        close(values, net.predict(x), dtype)
        expected = net.predict(x, labels=True)
        assert label.dtype == np.int64
        np.testing.assert_array_equal(label, expected)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layers", [(7, 3), (7, 5, 3), (7, 9, 8, 6, 5, 3), (7, 40, 1)])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_any_depth(layers, hidden, dtype, rng):
    for output in OUTPUT:
        net = make_net(hidden, output, dtype, layers=layers, seed=3)
        x = rng.normal(size=(1000, layers[0])).astype(dtype)
        classifier = output != "identity"  # a regression network has no labels
        got = run(to_onnx(net, labels=classifier), x)
        key = "probabilities" if classifier else "values"
        close(got[key], net.predict(x), dtype)
        if classifier:
            np.testing.assert_array_equal(got["label"], net.predict(x, labels=True))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_extreme_inputs_stay_finite_like_predict(hidden, dtype):
    net = make_net(hidden, "identity", dtype, layers=(1, 1, 1))
    net.weights = [np.ones((1, 1)), np.ones((1, 1))]
    net.biases = [np.zeros((1, 1)), np.zeros((1, 1))]
    big = float(np.finfo(dtype).max) / 2
    x = np.array(
        [-big, -1e4, -800, -100, -30, -1e-8, 0, 1e-8, 30, 100, 800, 1e4, big], dtype=dtype
    )[:, None]
    got = run(to_onnx(net), x)["values"]
    expected = net.predict(x)
    assert np.array_equal(np.isfinite(got), np.isfinite(expected))
    finite = np.isfinite(expected)
    scale = np.maximum(1.0, np.abs(expected[finite]))  # float rounding grows with the value
    assert np.all(np.abs(got[finite] - expected[finite]) / scale <= TOLERANCE[dtype])


def test_trained_network_matches(digits):
    x, y = digits
    x = x / 16.0
    net = nn.NeuralNetwork(
        [64, 32, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        "adam",
        dtype=np.float32,
        seed=0,
    )
    net.fit(x, y, batch_size=64, epochs=5, categorical=True, verbose=0)
    got = run(to_onnx(net), x.astype(np.float32))
    close(got["probabilities"], net.predict(x), np.float32)
    np.testing.assert_array_equal(got["label"], net.predict(x, labels=True))
    assert np.mean(got["label"] == y) > 0.8


# ------------------------------------------------------------------ the graph's interface
def test_input_and_outputs_are_named_and_shaped():
    net = make_net("relu", "softmax", np.float32, layers=(5, 4, 3))
    model = to_onnx(net)
    assert len(model.graph.node) == 5  # Gemm, Relu, Gemm, Softmax, ArgMax -> label
    (inp,) = model.graph.input
    assert inp.name == "input"
    dims = inp.type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 5]
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    shapes = {
        o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
        for o in model.graph.output
    }
    assert shapes == {"label": ["batch"], "probabilities": ["batch", 3]}
    assert model.opset_import[0].version == export.DEFAULT_OPSET
    assert model.producer_name == "nnscratch"
    props = {p.key: p.value for p in model.metadata_props}
    assert props["layers"] == "5,4,3" and props["hidden_activation"] == "relu"


@pytest.mark.parametrize(
    "output,expected", [("softmax", True), ("sigmoid", True), ("identity", False)]
)
def test_labels_by_default_for_classifiers_only(output, expected):
    net = make_net("tanh", output, np.float64, layers=(4, 3, 2))
    names = [o.name for o in to_onnx(net).graph.output]
    assert ("label" in names) is expected
    assert "label" not in [o.name for o in to_onnx(net, labels=False).graph.output]


@pytest.mark.parametrize("output,units", [("sigmoid", 1), ("sigmoid", 4), ("softmax", 1)])
def test_threshold_labels_have_predicts_shape(output, units, rng):
    net = make_net("tanh", output, np.float64, layers=(6, 8, units), seed=5)
    x = rng.normal(size=(1000, 6)) * 3
    got = run(to_onnx(net, labels=True), x)
    expected = net.predict(x, labels=True)
    assert got["label"].shape == expected.shape
    np.testing.assert_array_equal(got["label"], expected)
    assert 0 < expected.mean() < 1 or output == "softmax"  # both sides of 0.5 are exercised


@pytest.mark.parametrize(
    "classes",
    [
        ["cat", "dog", "eel"],
        [10, 20, 30],
        [0.5, 1.5, 2.5],
        np.array(["x", "y", "z"]),
        np.array([7, 8, 9], np.uint8),
    ],
)
def test_labels_as_class_values(classes, rng):
    net = make_net("relu", "softmax", np.float32, layers=(6, 8, 3), seed=1)
    x = rng.normal(size=(1000, 6)).astype(np.float32)
    got = run(to_onnx(net, labels=classes), x)["label"]
    expected = np.asarray(classes)[net.predict(x, labels=True)]
    assert got.tolist() == expected.tolist()


def test_single_unit_labels_take_two_class_values(rng):
    net = make_net("relu", "sigmoid", np.float64, layers=(6, 8, 1), seed=1)
    x = rng.normal(size=(1000, 6))
    got = run(to_onnx(net, labels=["no", "yes"]), x)["label"]
    expected = np.array(["no", "yes"])[net.predict(x, labels=True)]
    assert got.tolist() == expected.tolist()


@pytest.mark.parametrize(
    "layers,labels,match",
    [
        ((6, 3), ["a", "b"], "lists 2 classes, but the network predicts 3"),
        ((6, 1), ["a", "b", "c"], "lists 3 classes, but the network predicts 2"),
        ((6, 4), "abcd", "sequence of class labels"),
        ((6, 3), [[1, 2, 3]], "one value per class"),
        ((6, 3), [None, 1.0, "x"], "integers, numbers, booleans or strings"),
    ],
)
def test_bad_labels_are_refused(layers, labels, match, tmp_path):
    output = "sigmoid" if layers[-1] == 1 else "softmax"
    net = make_net("relu", output, np.float64, layers=layers)
    target = tmp_path / "m.onnx"
    with pytest.raises((ValueError, TypeError), match=match):
        to_onnx(net, target, labels=labels)
    assert not target.exists()


def test_multilabel_network_refuses_class_names():
    net = make_net("relu", "sigmoid", np.float64, layers=(6, 3))
    with pytest.raises(ValueError, match="multi-label"):
        to_onnx(net, labels=["a", "b", "c"])


# ------------------------------------------------------------------ dtype and opset
def test_export_as_another_dtype(rng):
    net = make_net("elu", "softmax", np.float64)
    x = rng.normal(size=(1000, 64))
    got = run(to_onnx(net, dtype="float32"), x.astype(np.float32))
    close(got["probabilities"], net.predict(x).astype(np.float32), np.float32)
    net32 = make_net("softplus", "identity", np.float32)
    got = run(to_onnx(net32, dtype=np.float64), x)
    close(got["values"], net32.predict(x).astype(np.float64), np.float64, np.float32)


@pytest.mark.parametrize("dtype", ["float16", np.int32, "complex128", "banana", object])
def test_unsupported_dtype_refused_before_writing(dtype, tmp_path):
    target = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        to_onnx(make_net("relu", "softmax", np.float32), target, dtype=dtype)
    assert not target.exists()


def test_network_with_unsupported_dtype_refused(tmp_path):
    net = make_net("relu", "softmax", np.float32)
    net.dtype = np.dtype(np.float16)  # as a foreign or future network could have
    with pytest.raises(ValueError, match="the network's dtype must be float32 or float64"):
        to_onnx(net, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("opset", range(export.MIN_OPSET, export.DEFAULT_OPSET + 5))
def test_opsets_run_in_onnx_runtime(opset, rng):
    net = make_net("elu", "softmax", np.float64, layers=(6, 5, 3))
    model = to_onnx(net, opset=opset)
    assert model.opset_import[0].version == opset
    # the file declares the oldest IR version of its opset, so older runtimes read it
    assert model.ir_version == onnx.helper.find_min_ir_version_for(model.opset_import)
    x = rng.normal(size=(100, 6))
    close(run(model, x)["probabilities"], net.predict(x), np.float64)


@pytest.mark.parametrize("opset", [12, 0, -1, 10**6, 17.0, "17", True])
def test_bad_opsets_refused(opset):
    with pytest.raises(ValueError, match="opset must be an integer from 13"):
        to_onnx(make_net("relu", "softmax", np.float64), opset=opset)


# ------------------------------------------------------------------ preprocessing
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(
    "offset,scale",
    [
        (0.0, 1 / 16),
        (8.0, 0.125),
        ("per-feature", "per-feature"),
        (0.0, "per-feature"),
        ("per-feature", 1.0),
    ],
)
def test_a_02_command_line_models_scaling_is_in_the_graph(
    offset, scale, dtype, digits, rng, tmp_path
):
    """A model file of 0.2 kept the command line's scaling in its metadata (issue 19):
    loaded, it becomes the input transform, and the export computes from raw input
    what 0.2's command line computed."""
    from legacy_models import write_v02_model

    x = digits[0][:1000]
    if offset == "per-feature":
        offset = x.mean(axis=0).tolist()
    if scale == "per-feature":
        spread = x.std(axis=0)
        scale = (1.0 / np.where(spread > 0, spread, 1.0)).tolist()
    net = make_net("relu", "softmax", dtype)
    path = write_v02_model(
        tmp_path / "old.npz", net, {"input_offset": offset, "input_scale": scale}
    )
    loaded = nn.load_model(path)
    assert loaded.metadata == {} and loaded.input_transform is not None
    model = to_onnx(loaded)
    for raw in (x[:1], x, rng.uniform(0, 16, size=(1000, 64))):
        prepared = (raw - np.asarray(offset)) * np.asarray(scale)  # as 0.2's command line did
        got = run(model, raw.astype(dtype))
        # the transform runs in the network's dtype where 0.2 scaled in float64 first
        close(got["probabilities"], net.predict(prepared), dtype)
        close(loaded.predict(raw), net.predict(prepared), dtype)


@pytest.mark.parametrize("key", ["input_offset", "input_scale"])
def test_scaling_in_metadata_is_refused_not_ignored(key, tmp_path):
    """The export reads only net.input_transform; the 0.2 metadata keys, set by hand,
    are refused with the way forward rather than silently left out (issue 19)."""
    net = make_net("relu", "softmax", np.float64)
    net.metadata = {key: 2.0}
    with pytest.raises(ValueError, match=f"metadata\\['{key}'\\].*net.input_transform"):
        to_onnx(net, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


class _Spec:
    """An input transform as an object, the way a network piece could store it."""

    def __init__(self, **config):
        self.config = config

    def get_config(self):
        return dict(self.config)


def _transforms():
    from nnscratch.data import Scale, Standardize

    return [
        Scale(1 / 255),
        Scale(0.5, offset=-1.0),
        Standardize(3.0, 2.0),
        Standardize(list(range(64)), [1.0 + i for i in range(64)]),
    ]


@pytest.mark.parametrize("index", range(4))
def test_input_transforms_stored_on_the_network(index, rng):
    """The network's input transform (applied by predict) is part of the graph."""
    net = make_net("tanh", "softmax", np.float64)
    net.input_transform = _transforms()[index]
    x = rng.uniform(0, 255, size=(1000, 64))
    got = run(to_onnx(net), x)
    close(got["probabilities"], net.predict(x), np.float64)


@pytest.mark.parametrize(
    "stored,error,match",
    [
        ({"name": "pca", "components": 3}, ValueError, "'pca': no ONNX exporter is registered"),
        ({"name": "scale"}, ValueError, "needs a 'factor'"),
        ({"name": "standardize", "mean": 0.0}, ValueError, "needs std"),
        ({"name": "scale", "factor": [1.0, 2.0]}, ValueError, r"shape \(2,\).*one per feature"),
        ({"name": "scale", "factor": "big"}, ValueError, "not numeric"),
        ({"factor": 2.0}, TypeError, "dict with a 'name'"),
        ("scale", TypeError, "dict with a 'name'"),
    ],
)
def test_bad_input_transforms_refused_before_writing(stored, error, match, tmp_path):
    net = make_net("relu", "softmax", np.float64)
    net.input_transform = stored
    target = tmp_path / "m.onnx"
    target.write_bytes(b"an older export")
    with pytest.raises(error, match=match):
        to_onnx(net, target)
    assert target.read_bytes() == b"an older export"
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_bad_offset_spec_refused():
    net = make_net("relu", "softmax", np.float64)
    net.input_transform = {"name": "offset_scale", "offset": [1.0, 2.0, 3.0]}
    with pytest.raises(
        ValueError,
        match=r"'offset' of shape \(3,\); expected one number or "
        r"one per feature \(64\)",
    ):
        to_onnx(net)


def test_register_input_transform(rng):
    def clip(graph, x, spec):
        low, high = graph.constant(spec["low"], "low"), graph.constant(spec["high"], "high")
        return graph.node("Clip", [x, low, high])

    export.register_input_transform("clip_for_test", clip)
    try:
        with pytest.raises(ValueError, match="already registered"):
            export.register_input_transform("clip_for_test", clip)
        from nnscratch.data import Transform

        class ClipForTest(Transform):
            name = "clip_for_test"

            def __init__(self, low, high):
                self.low, self.high = low, high

            def __call__(self, x):
                return np.clip(x, self.low, self.high)

            def get_config(self):
                return {"low": self.low, "high": self.high}

        net = make_net("relu", "softmax", np.float32)
        net.input_transform = ClipForTest(-0.5, 0.5)
        x = rng.normal(size=(1000, 64)).astype(np.float32)
        expected = net.predict(x)  # predict applies the transform itself
        net.input_transform = None
        np.testing.assert_array_equal(expected, net.predict(np.clip(x, -0.5, 0.5)))
        net.input_transform = ClipForTest(-0.5, 0.5)
        close(run(to_onnx(net), x)["probabilities"], expected, np.float32)
    finally:
        export.input_transforms.pop("clip_for_test")
    with pytest.raises(TypeError, match="callable"):
        export.register_input_transform("nothing", 42)
    with pytest.raises(TypeError, match="non-empty string"):
        export.register_input_transform("", clip)


# ------------------------------------------------------------------ refusals
def swish(z):
    return z / (1 + np.exp(-z))


def d_swish(z):
    s = 1 / (1 + np.exp(-z))
    return s + z * s * (1 - s)


def silu(z):
    return swish(z)


def d_silu(z):
    return d_swish(z)


def my_softmax(z):
    return nn.softmax(z)


def d_my_softmax(z):
    return nn.d_softmax(z)


@pytest.mark.parametrize(
    "hidden,output,match",
    [
        (
            (silu, d_silu),
            "softmax",
            r"the hidden activation \(silu, d_silu\) is a user's own pair",
        ),
        (
            "relu",
            (my_softmax, d_my_softmax),
            r"the output activation \(my_softmax, d_my_softmax\) "
            r"is a user's own pair",
        ),
        (
            "export_test_swish",
            "softmax",
            r"the hidden activation 'export_test_swish' "
            r"\(swish, d_swish\) is a user's own pair",
        ),
        (
            (lambda z: nn.leaky_relu(z, 0.2), lambda z: nn.d_leaky_relu(z, 0.2)),
            "softmax",
            r"hidden activation \(<lambda>, <lambda>\)",
        ),
    ],
)
def test_users_own_pairs_refused_before_writing(hidden, output, match, tmp_path):
    nn.register_activation("export_test_swish", swish, d_swish, overwrite=True)
    net = nn.NeuralNetwork([4, 5, 3], hidden, output, "mse", "sgd", seed=0)
    target = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match=match):
        to_onnx(net, target)
    assert not target.exists() and os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="only the built-in"):
        to_onnx(net)


def test_builtin_function_with_users_derivative_is_a_users_pair():
    """ "Is this a built-in?" has one answer, the pair's own (issue 19): (relu, my_derivative)
    is a user's pair for the kernels, the model files and the exporter alike."""
    net = nn.NeuralNetwork(
        [4, 5, 3], (nn.relu, lambda z: (z > 0) * 1.0), "softmax", "mse", "sgd", seed=0
    )
    assert net.hidden_activation.name is None and net.hidden_activation.builtin is None
    with pytest.raises(ValueError, match=r"hidden activation \(relu, <lambda>\) is a user's"):
        to_onnx(net)


def test_network_method_is_the_same_export(tmp_path, rng):
    net = make_net("elu", "softmax", np.float32)
    model = net.to_onnx(tmp_path / "m.onnx", opset=15, labels=False)
    assert model == to_onnx(net, opset=15, labels=False)
    assert (tmp_path / "m.onnx").read_bytes() == model.SerializeToString()


@pytest.mark.parametrize("thing", ["model.npz", None, 3, [[1.0]], {"layers": [1, 2]}])
def test_not_a_network(thing):
    with pytest.raises(TypeError, match="exports a NeuralNetwork or a fitted"):
        to_onnx(thing)


def test_missing_onnx_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    with pytest.raises(ImportError, match=r"pip install -e '\.\[onnx\]'"):
        to_onnx(make_net("relu", "softmax", np.float64))


# ------------------------------------------------------------------ files
def test_written_file_equals_returned_model_and_replaces_atomically(tmp_path):
    net = make_net("relu", "softmax", np.float32)
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    model = to_onnx(net, target)
    assert target.read_bytes() == model.SerializeToString()
    assert os.listdir(tmp_path) == ["model.onnx"]  # no temporary file left behind
    assert onnx.load(str(target)) == model


def test_fresh_process_without_nnscratch_runs_the_file(tmp_path, digits):
    x = digits[0][:1000]
    net = make_net("softplus", "softmax", np.float32)
    net.input_transform = Scale(1 / 16)
    to_onnx(net, tmp_path / "digits.onnx")
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import onnxruntime
        sess = onnxruntime.InferenceSession("digits.onnx", providers=["CPUExecutionProvider"])
        label, proba = sess.run(None, {"input": np.load("x.npy")})
        np.save("label.npy", label)
        np.save("proba.npy", proba)
        assert "nnscratch" not in sys.modules, "nnscratch was imported"
        print("ran without nnscratch")
    """)
    # the subprocess runs in tmp_path, with no path to the source tree
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ran without nnscratch" in proc.stdout
    close(np.load(tmp_path / "proba.npy"), net.predict(x), np.float32)
    np.testing.assert_array_equal(np.load(tmp_path / "label.npy"), net.predict(x, labels=True))


def test_export_command_on_a_command_line_model(tmp_path, digits, rng):
    x = digits[0][:1000]
    net = make_net("relu", "softmax", np.float32)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    net.metadata = {"class_names": names}
    net.input_transform = Scale(1 / 16)
    net.save(tmp_path / "model.npz")
    line = export_command(tmp_path / "model.npz", tmp_path / "model.onnx")
    assert "\n" not in line
    assert "model.onnx" in line and f"opset {export.DEFAULT_OPSET}" in line
    assert "float32" in line and "64-24-16-10" in line and "label, probabilities" in line
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    label, proba = sess.run(None, {"input": x.astype(np.float32)})
    close(proba, net.predict(x), np.float32)
    assert label.tolist() == [names[i] for i in net.predict(x, labels=True)]

    line = export_command(tmp_path / "model.npz", tmp_path / "p.onnx", labels=False, opset=15)
    assert "opset 15" in line and "outputs probabilities" in line


def test_export_command_regression_model_has_no_labels(tmp_path):
    net = make_net("tanh", "identity", np.float64, layers=(3, 4, 2))
    net.save(tmp_path / "reg.npz")
    line = export_command(tmp_path / "reg.npz", tmp_path / "reg.onnx")
    assert line.endswith("outputs values")


def test_export_command_missing_model_file(tmp_path):
    with pytest.raises(OSError):
        export_command(tmp_path / "nothing.npz", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


# ------------------------------------------------------------------ scikit-learn estimators
@pytest.fixture(scope="module")
def sk():
    pytest.importorskip("sklearn")  # nnscratch.sklearn re-raises a plain ImportError
    import nnscratch.sklearn

    return nnscratch.sklearn


NAMES = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])


@pytest.mark.parametrize("kind", ["int", "str", "object", "float", "binary", "bool"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_classifier_labels_are_its_classes(kind, dtype, sk, digits):
    x, y = digits
    x = (x / 16).astype(dtype)
    target = {
        "int": y * 10 + 3,
        "str": NAMES[y],
        "object": NAMES[y].astype(object),
        "float": (y % 3).astype(float),
        "binary": np.where(y > 4, "big", "small"),
        "bool": y > 4,
    }[kind]
    est = sk.NNClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(x, target)
    model = to_onnx(est)
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    got = run(model, x)
    assert got["label"].tolist() == est.predict(x).tolist()
    close(got["probabilities"], est.predict_proba(x), dtype)
    assert len(set(got["label"].tolist())) > 1
    assert [o.name for o in to_onnx(est, labels=False).graph.output] == ["probabilities"]


def test_multilabel_classifier(sk, digits):
    x, y = digits
    x = x / 16
    targets = np.stack([y % 2, y > 4, y == 3], axis=1).astype(int)
    est = sk.NNClassifier(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(x, targets)
    got = run(to_onnx(est), x)
    np.testing.assert_array_equal(got["label"], est.predict(x))
    close(got["probabilities"], est.predict_proba(x), np.float64)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("columns", [1, 2])
def test_regressor_values_have_predicts_shape(columns, dtype, sk, digits):
    x, y = digits
    x = (x / 16).astype(dtype)
    target = y.astype(float) if columns == 1 else np.stack([y, -2.0 * y], axis=1)
    est = sk.NNRegressor(hidden_layer_sizes=(16,), max_iter=3, random_state=0).fit(x, target)
    model = to_onnx(est)
    assert [o.name for o in model.graph.output] == ["values"]
    got = run(model, x)["values"]
    expected = est.predict(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_unfitted_estimator_refused(sk, tmp_path):
    for est in (sk.NNClassifier(), sk.NNRegressor()):
        with pytest.raises(ValueError, match="not fitted yet"):
            to_onnx(est, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_regressor_has_no_labels(sk, digits):
    x, y = digits
    est = sk.NNRegressor(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(x, y * 1.0)
    assert [o.name for o in to_onnx(est, labels=None).graph.output] == ["values"]
    with pytest.raises(ValueError, match="NNRegressor predicts values, not labels"):
        to_onnx(est, labels=True)


def test_other_estimators_are_not_networks(sk, digits):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = digits
    pipeline = make_pipeline(
        StandardScaler(), sk.NNClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    )
    # an unfitted pipeline is refused; a fitted one exports through the estimator's hook
    # (scalers become input transforms) and answers as the pipeline does
    with pytest.raises((ValueError, TypeError, AttributeError), match="(?i)fit"):
        to_onnx(pipeline)
    pipeline.fit(x, y)
    got = run(to_onnx(pipeline, dtype=np.float64), x.astype(np.float64))
    close(got["probabilities"], pipeline.predict_proba(x), np.float64)
    other = make_pipeline(StandardScaler(), StandardScaler()).fit(x)
    with pytest.raises(TypeError, match="ending in StandardScaler"):
        to_onnx(other)


def test_estimator_labels_must_be_a_bool(sk, digits):
    x, y = digits
    est = sk.NNClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(
        x[:200], y[:200]
    )
    with pytest.raises(TypeError, match="labels must be True, False or None"):
        to_onnx(est, labels=["a"] * 10)


def test_estimator_with_users_activation_refused(sk, digits):
    x, y = digits
    nn.register_activation("export_test_swish", swish, d_swish, overwrite=True)
    est = sk.NNClassifier(
        hidden_layer_sizes=(4,), activation="export_test_swish", max_iter=1, random_state=0
    ).fit(x[:200], y[:200])
    with pytest.raises(ValueError, match="hidden activation 'export_test_swish'"):
        to_onnx(est)


# ------------------------------------------------------------------ the example
def test_onnx_example_runs(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "onnx_export.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert float(out.split("largest difference in probabilities ")[1].split()[0]) <= 1e-5
    agree, total = out.split("labels agree on ")[1].split(" test images")[0].split(" of ")
    assert int(agree) == int(total) > 300
    assert float(out.split("test accuracy ")[1].split("%")[0]) > 90


# ------------------------------------------------------------------ the command line
def test_cli_export_takes_raw_pixels_and_answers_with_class_names(tmp_path, monkeypatch, digits):
    from nnscratch import cli

    monkeypatch.chdir(tmp_path)
    assert (
        cli.main(
            ["train", "--data", "digits", "--epochs", "3", "--verbose", "0", "--out", "m.npz"]
        )
        == 0
    )
    assert cli.main(["export", "m.npz", "--output", "m.onnx"]) == 0
    net = nn.load_model("m.npz")
    x = digits[0]  # raw pixels 0..16; the model's input transform divides them by 16
    sess = ort.InferenceSession("m.onnx", providers=["CPUExecutionProvider"])
    label, proba = sess.run(None, {"input": x.astype(np.float32)})
    assert net.input_transform == Scale(1 / 16)
    close(proba, net.predict(x), np.float32)
    assert label.tolist() == [net.metadata["class_names"][i] for i in net.predict(x, labels=True)]
    assert cli.main(["export", "m.npz", "--opset", "12"]) == 1
    assert cli.main(["export", "m.npz", "--no-labels"]) == 0
    assert [o.name for o in onnx.load("m.onnx").graph.output] == ["probabilities"]


@pytest.mark.parametrize("make", ["scale", "standardize"])
def test_input_transforms_of_nnscratch_data_are_in_the_graph(make, tmp_path):
    """A network's per-batch input transform (nnscratch.data) exports and survives saving."""
    from nnscratch.data import Scale, Standardize

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (300, 8)).astype(np.float32)
    y = np.arange(300) % 3
    transform = Scale(1 / 255, 0.25) if make == "scale" else Standardize(x.mean(0), x.std(0) + 1)
    net = nn.NeuralNetwork(
        [8, 6, 3], "relu", "softmax", "categorical_crossentropy", "adam", seed=0, dtype=np.float32
    )
    net.input_transform = transform
    net.fit(x, y, 32, 2, categorical=True, verbose=0)
    loaded = nn.load_model(net.save(tmp_path / "m.npz"))
    assert type(loaded.input_transform) is type(transform)
    got = run(to_onnx(loaded), x)
    close(got["probabilities"], net.predict(x), np.float32)
