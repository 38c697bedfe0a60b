"""The ``nnscratch.data`` package: its one dispatch, the DataSource protocol, transforms
with their ONNX form, and a numerically stable ``Standardize.fit``."""

import numpy as np
import pytest

import nnscratch as nn
from nnscratch import data

# Every name ``nnscratch.data`` offered when it was one module; callers (the CLI, the
# tests, users' scripts) import them from there.
OLD_NAMES = [
    "ArraySource",
    "Batch",
    "ChunkedSource",
    "GeneratorSource",
    "MAX_BLOCK_BYTES",
    "PREDICT_ROWS",
    "SHUFFLE_BUFFER_BYTES",
    "Scale",
    "Standardize",
    "TargetEncoder",
    "Transform",
    "as_source",
    "check_shuffle_buffer",
    "check_transform",
    "input_transforms",
    "is_lazy_array",
    "is_streamed",
    "iter_x_chunks",
    "open_data_file",
    "prefetch",
    "register_transform",
    "row_blocks",
    "transform_from_config",
    "transform_to_config",
]


@pytest.mark.parametrize("name", OLD_NAMES)
def test_every_name_of_the_old_module_is_still_importable(name):
    assert getattr(data, name) is not None


def test_the_data_preparation_of_training_is_the_data_packages():
    """training.py keeps only the loops; its old names point at the data package."""
    from nnscratch import training

    for name in ("sample_weights", "class_weights", "split_validation", "validation_arrays"):
        assert getattr(training, name) is getattr(data, name)


class _Store:
    """A minimal chunked store: shape, dtype, chunks and row slicing."""

    def __init__(self, arr, rows):
        self.arr, self.shape, self.dtype, self.chunks = arr, arr.shape, arr.dtype, (rows, 4)

    def __getitem__(self, key):
        return self.arr[key]


def _inputs(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=60)
    np.save(tmp_path / "x.npy", x)
    memmap = np.load(tmp_path / "x.npy", mmap_mode="r")
    return {
        "array": (x, y),
        "memmap": (memmap, y),
        "chunked": (_Store(x, 16), y),
        "generator": (lambda: ((x[i : i + 20], y[i : i + 20]) for i in range(0, 60, 20)), None),
    }


@pytest.mark.parametrize("kind", ["array", "memmap", "chunked", "generator"])
def test_every_source_keeps_the_data_source_protocol(kind, tmp_path):
    x, y = _inputs(tmp_path)[kind]
    source = data.as_source(
        x, y, n_features=4, n_outputs=3, dtype=np.float64, categorical=True, transform=None
    )
    assert isinstance(source, data.DataSource)
    assert source.kind == {"memmap": "array"}.get(kind, kind)
    batches = list(source.batches(20, np.random.default_rng(1), True))
    assert sum(b.x.shape[0] for b in batches) == 60
    assert all(b.x.dtype == np.float64 and b.y.shape[1] == 3 for b in batches)


# ------------------------------------------------------------------ ONNX forms
class _Evaluator:
    """A graph builder with the duck-typed API of ``export.OnnxGraph`` that computes
    the nodes with NumPy as they are added, in the graph's dtype."""

    ops = {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}

    def __init__(self, x, dtype):
        self.dtype = np.dtype(dtype)
        self.values = {"x": x.astype(self.dtype)}
        self.log = []

    def constant(self, value, name="const", dtype=None):
        key = f"{name}_{len(self.values)}"
        self.values[key] = np.asarray(value).astype(self.dtype if dtype is None else dtype)
        return key

    def node(self, op, inputs, name=None, **attributes):
        key = name or f"{op.lower()}_{len(self.values)}"
        self.values[key] = self.ops[op](*(self.values[i] for i in inputs))
        self.log.append((op, [self.values[i].shape for i in inputs[1:]]))
        return key


TRANSFORMS = [
    data.Scale(1 / 255),
    data.Scale(0.5, offset=-1.0),
    data.Standardize(3.0, 2.0),
    data.Standardize([1.0, 2.0, 3.0, 4.0], [0.5, 1.0, 2.0, 4.0]),
]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_transform_builds_onnx_nodes_computing_itself(transform, dtype):
    x = np.random.default_rng(2).uniform(0, 255, size=(7, 4)).astype(dtype)
    graph = _Evaluator(x, dtype)
    out = transform.to_onnx(graph, "x", 4)
    # the same elementwise operations in the same dtype: equal to rounding of one op
    np.testing.assert_allclose(graph.values[out], transform(x), rtol=4 * np.finfo(dtype).eps)


# the operators and constant shapes export.py's _scale / _standardize emitted before the
# transforms built their own nodes
OLD_NODES = [
    [("Mul", [()])],
    [("Mul", [()]), ("Add", [()])],
    [("Sub", [(1,)]), ("Div", [(1,)])],
    [("Sub", [(4,)]), ("Div", [(4,)])],
]


@pytest.mark.parametrize("transform, nodes", list(zip(TRANSFORMS, OLD_NODES)), ids=repr)
def test_onnx_form_builds_the_nodes_the_exporter_built_before(transform, nodes):
    graph = _Evaluator(np.ones((2, 4)), np.float64)
    transform.to_onnx(graph, "x", 4)
    assert graph.log == nodes


def test_a_transform_without_an_onnx_form_says_so():
    class Clip(data.Transform):
        name = "clip_test"

        def __call__(self, x):
            return np.clip(x, 0, 1)

        def get_config(self):
            return {}

    with pytest.raises(NotImplementedError, match="Clip has no ONNX form"):
        Clip().to_onnx(_Evaluator(np.ones((1, 1)), np.float64), "x", 1)


def test_standardize_onnx_refuses_statistics_of_another_width():
    with pytest.raises(ValueError, match="3 mean values, but the network takes 4"):
        data.Standardize([0.0, 0.0, 0.0], 1.0).to_onnx(
            _Evaluator(np.ones((1, 4)), np.float64), "x", 4
        )


# ------------------------------------------------------- Standardize.fit (issue 20, 2)
@pytest.mark.parametrize("centre", [0.0, 1e3, 1e6, 1e9, -1e9, 1e12])
@pytest.mark.parametrize("chunk_rows", [1, 7, 100, 65536])
def test_standardize_fit_is_stable_far_from_zero(centre, chunk_rows):
    """Issue 20, item 2: E[x^2] - E[x]^2 gave std 69-158 for data at 1e9 with spread 1."""
    rng = np.random.default_rng(4)
    noise = rng.normal(size=(1000, 3))
    noise = (noise - noise.mean(axis=0)) / noise.std(axis=0)  # spread exactly 1 (to rounding)
    x = centre + noise * np.array([1.0, 2.0, 0.5])
    fitted = data.Standardize.fit(x, chunk_rows=chunk_rows)
    expected = np.array([1.0, 2.0, 0.5])
    # x itself holds the noise only to |centre| * eps (1e12 * 2.2e-16 = 2e-4 absolute), so
    # the best any method can do is the spread of the stored values: compare to that
    best = x.std(axis=0, dtype=np.float64) if abs(centre) < 1e10 else expected
    np.testing.assert_allclose(fitted.std, best, rtol=1e-6 if abs(centre) < 1e10 else 1e-3)
    np.testing.assert_allclose(fitted.std, expected, rtol=1e-6 if abs(centre) <= 1e9 else 1e-3)
    np.testing.assert_allclose(fitted.mean, x.mean(axis=0), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("chunk_rows", [1, 3, 64])
def test_standardize_fit_streams_every_input_kind(tmp_path, chunk_rows):
    x = np.random.default_rng(5).normal(5e8, 3.0, size=(50, 4))
    np.save(tmp_path / "x.npy", x)
    for given in (x, np.load(tmp_path / "x.npy", mmap_mode="r"), _Store(x, 8)):
        fitted = data.Standardize.fit(given, chunk_rows=chunk_rows)
        np.testing.assert_allclose(fitted.std, x.std(axis=0), rtol=1e-6)


def test_standardize_fit_gives_constant_features_a_spread_of_one():
    x = np.column_stack([np.full(100, 0.1), np.full(100, 1e9 + 0.3), np.arange(100.0)])
    fitted = data.Standardize.fit(x, chunk_rows=7)
    assert fitted.std[0] == 1.0 and fitted.std[1] == 1.0
    np.testing.assert_allclose(fitted.std[2], np.arange(100.0).std(), rtol=1e-12)


def test_standardize_fit_of_nothing_is_a_clear_error():
    with pytest.raises(ValueError, match="0 samples"):
        data.Standardize.fit(lambda: iter(()))


def test_the_network_api_still_reaches_the_moved_names():
    net = nn.NeuralNetwork([4, 3], "relu", "softmax", "categorical_crossentropy", nn.SGD(), seed=0)
    w = data.sample_weights(net, None, None, "balanced", labels=np.array([0, 0, 1, 2]))
    np.testing.assert_allclose(w, [2 / 3, 2 / 3, 4 / 3, 4 / 3])
