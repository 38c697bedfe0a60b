"""Issue 20 ("no new foreign exception"): mutated inputs thrown at ``fit``, ``predict``,
``score`` and the command line's array-file reader.  Only the library's own errors may
come out: ValueError or TypeError naming the argument, or the CLI's one-line error,
never an IndexError, KeyError, AttributeError, ZeroDivisionError or a raw NumPy error."""

import io
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nnscratch import NeuralNetwork  # noqa: E402

N_FEATURES, N_OUT = 3, 2
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same examples on every machine and run
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

DTYPES = [np.float64, np.float32, np.float16, np.int8, np.uint8, np.int64, np.bool_,
          np.complex128, "U3", "S3", object, "M8[s]"]  # fmt: skip
SPECIALS = [np.nan, np.inf, -np.inf, 1e300, -1e300, 0.0]


@st.composite
def arrays(draw, rows=None, cols=None):
    """A mutated array: any dtype, any rank, special values, or a non-array."""
    kind = draw(st.sampled_from(["array", "array", "array", "list", "scalar", "none", "ragged"]))
    if kind == "scalar":
        return draw(st.sampled_from([1.0, "a", b"a", None, np.float64(2), True]))
    if kind == "none":
        return None
    if kind == "ragged":
        return [[1.0, 2.0], [3.0]]
    ndim = draw(st.integers(0, 3))
    shape = [
        draw(st.integers(0, 6)) if i else (rows if rows is not None else draw(st.integers(0, 6)))
        for i in range(ndim)
    ]
    if ndim == 2 and cols is not None and draw(st.booleans()):
        shape[1] = cols
    dtype = draw(st.sampled_from(DTYPES))
    base = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    if base.size and draw(st.booleans()):
        base.flat[draw(st.integers(0, base.size - 1))] = draw(st.sampled_from(SPECIALS))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype == "M8[s]":
            arr = base.astype(np.int64, casting="unsafe").astype(dtype)
        elif dtype is object:
            arr = base.astype(object)
            if arr.size and draw(st.booleans()):
                arr.flat[0] = draw(st.sampled_from(["text", None, [1], {"a": 1}]))
        else:
            arr = base.astype(dtype)
    return arr.tolist() if kind == "list" else arr


def _net(units=N_OUT):
    out = "softmax" if units > 1 else "sigmoid"
    return NeuralNetwork([N_FEATURES, 4, units], "relu", out, "categorical_crossentropy"
                         if units > 1 else "binary_crossentropy", "sgd", seed=0)  # fmt: skip


def _only_our_errors(call, names):
    """Run ``call``; any exception must be a ValueError/TypeError naming one of ``names``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            call()
        except (ValueError, TypeError) as err:
            message = str(err)
            assert any(name in message for name in names), (type(err), message)
            assert "numpy" not in type(err).__module__, message
        except Exception as err:  # noqa: BLE001 - the point: nothing foreign
            pytest.fail(f"foreign {type(err).__name__}: {err}")


@SETTINGS
@given(
    x=arrays(cols=N_FEATURES), y=arrays(), categorical=st.booleans(), units=st.sampled_from([1, 2])
)
def test_fit_raises_only_its_own_errors(x, y, categorical, units):
    net = _net(units)
    before = net.get_flat_params().copy()
    failed = []

    def call():
        try:
            net.fit(x, y, 2, 1, categorical=categorical, verbose=0)
        except Exception:
            failed.append(True)
            raise

    _only_our_errors(call, ("x", "y", "categorical", "sample"))
    if failed:  # a refused fit changes nothing
        np.testing.assert_array_equal(net.get_flat_params(), before)
        assert not net.history.get("loss")


@SETTINGS
@given(x=arrays(cols=N_FEATURES), labels=st.booleans())
def test_predict_raises_only_its_own_errors(x, labels):
    net = _net()
    _only_our_errors(lambda: net.predict(x, labels=labels), ("x", "sample"))


@SETTINGS
@given(x=arrays(cols=N_FEATURES), y=arrays(), accuracy=st.booleans())
def test_score_raises_only_its_own_errors(x, y, accuracy):
    net = _net()
    _only_our_errors(lambda: net.score(x, y, accuracy=accuracy), ("x", "y", "sample"))


def _npy_bytes(arr):
    buffer = io.BytesIO()
    np.save(buffer, arr, allow_pickle=arr.dtype == object)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from nnscratch.cli import main

    folder = tmp_path_factory.mktemp("cli")
    x = np.random.default_rng(0).normal(size=(30, N_FEATURES))
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", np.arange(30) % 2)
    args = ["train", "--data", str(folder / "x.npy"), "--labels", str(folder / "y.npy"),
            "--epochs", "1", "--out", str(folder / "m"), "--verbose", "0"]  # fmt: skip
    assert main(args) == 0
    return folder / "m.npz"


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    arr=arrays(cols=N_FEATURES),
    cut=st.integers(0, 400),
    mode=st.sampled_from(["whole", "cut", "garbage"]),
)
def test_cli_array_file_reader_gives_one_line_errors(
    arr, cut, mode, model_path, tmp_path_factory, capsys
):
    """Truncated .npy bytes, object arrays, strings, wrong shapes: the CLI's predict
    answers with its own one-line error (or predicts), never a foreign exception."""
    from nnscratch.cli import main

    if not isinstance(arr, np.ndarray):
        arr = np.asarray(arr, dtype=object) if arr is not None else np.array([])
    raw = _npy_bytes(arr)
    if mode == "cut":
        raw = raw[: min(cut, len(raw) - 1)]
    elif mode == "garbage":
        raw = raw[:cut] + bytes(range(256))[: cut % 97]
    path = tmp_path_factory.mktemp("fuzz") / "in.npy"
    path.write_bytes(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["predict", str(model_path), str(path)])
    err = capsys.readouterr().err
    if code == 0:
        return
    assert code == 1, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("nnscratch: error:"), err
    foreign = (
        "IndexError", "KeyError", "AttributeError", "ZeroDivisionError", "EOFError",
        "UnpicklingError", "OverflowError", "RuntimeError", "struct.error", "SyntaxError",
    )  # fmt: skip
    assert not any(line.startswith(f"nnscratch: error: {name}") for name in foreign), line
    assert "in.npy" in line or "input" in line, line  # the message names the file
