"""One home for input scaling (issue 19): ``net.input_transform``.

A model trained by ``nnscratch train`` and loaded with ``nnscratch.load_model``
predicts from the raw columns exactly what ``nnscratch predict`` prints, and ONNX
Runtime on the exported model agrees; a model file of 0.2, which kept the
command line's scaling in ``metadata["input_offset"/"input_scale"]``, predicts
what 0.2's command line printed.  Every kind of training data the command line
scales: CSV (classification and regression), NPZ, ``.npy`` uint8 and float, the
embedded digits.
"""

import contextlib
import csv
import io

import numpy as np
import pytest
from legacy_models import write_v02_model

import nnscratch as nn
from nnscratch.cli import main
from nnscratch.data import Scale, Standardize


def call(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in args])
    assert status == 0, err.getvalue()
    return out.getvalue()


def printed(text):
    """The rows ``nnscratch predict`` wrote: (header, list of rows of strings)."""
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def write_table(path, x, y, names):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows([[*map(repr, row), label] for row, label in zip(x.tolist(), y)])
    return path


def data_kind(kind, folder):
    """Training files of ``kind`` -> (train arguments, predict input, raw x as a user reads it,
    expected transform type)."""
    rng = np.random.default_rng(7)
    if kind in ("csv", "csv-regression"):
        x = rng.normal(40.0, 12.0, (240, 4)).round(3)
        y = (
            np.where(x[:, 0] > x[:, 1], "high", "low")
            if kind == "csv"
            else (0.1 * x[:, 0] - 0.05 * x[:, 2]).round(4)
        )
        path = write_table(folder / "t.csv", x, y, ["a", "b", "c", "d", "target"])
        return ["--data", path], path, x, Standardize
    if kind == "npz":
        x = rng.normal(-5.0, 3.0, (240, 5))
        np.savez(folder / "t.npz", x=x, y=(x[:, 0] > -5).astype(np.int64))
        return ["--data", folder / "t.npz"], folder / "t.npz", x, Standardize
    dtype = np.uint8 if kind == "npy-uint8" else np.float64
    x = rng.integers(0, 256, (240, 6)) if dtype == np.uint8 else rng.normal(3, 7, (240, 6))
    x = x.astype(dtype)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", (x[:, 0] > x[:, 1]).astype(np.int64))
    transform = Scale if dtype == np.uint8 else Standardize
    return (
        ["--data", folder / "x.npy", "--labels", folder / "y.npy"],
        folder / "x.npy",
        x,
        transform,
    )


KINDS = ["csv", "csv-regression", "npz", "npy-uint8", "npy-float64"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_loaded_model_predicts_from_raw_columns_what_the_cli_prints(kind, dtype, tmp_path):
    """The bug of issue 19: a CSV-trained model loaded in Python predicted garbage from the
    raw columns (its standardisation lived in metadata that predict ignored)."""
    train_args, source, x, transform_type = data_kind(kind, tmp_path)
    model = tmp_path / "m.npz"
    call("train", *train_args, "--epochs", "3", "--verbose", "0", "--dtype", dtype, "--out", model)
    net = nn.load_model(model)
    assert type(net.input_transform) is transform_type
    assert not {"input_offset", "input_scale"} & set(net.metadata)
    regression = kind == "csv-regression"
    header, rows = printed(call("predict", model, source, *([] if regression else ["--proba"])))
    expected = net.predict(x)
    digits = ".8g" if regression else ".6g"
    # the same rows through the same predict: the printed text is identical
    assert rows == [[format(v, digits) for v in row] for row in expected.tolist()]
    if not regression:
        labels = call("predict", model, source).splitlines()[1:]
        names = net.metadata["class_names"]
        assert labels == [names[i] for i in net.predict(x, labels=True)]
    # ... and the scaled columns are what training saw: not the raw ones
    untransformed = net.input_transform
    net.input_transform = None
    assert not np.allclose(net.predict(x), expected, atol=1e-3)
    net.input_transform = untransformed


@pytest.mark.parametrize("kind", ["csv", "npy-uint8", "npy-float64"])
def test_onnx_runtime_agrees_with_the_cli_on_raw_columns(kind, tmp_path):
    pytest.importorskip("onnx", reason="needs onnx: pip install 'nnscratch[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="needs onnxruntime")
    train_args, source, x, _ = data_kind(kind, tmp_path)
    model = tmp_path / "m.npz"
    call("train", *train_args, "--epochs", "2", "--verbose", "0", "--out", model)
    call("export", model, "--output", tmp_path / "m.onnx")
    _, rows = printed(call("predict", model, source, "--proba"))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, {"input": x.astype(np.float32)})
    # ONNX Runtime's float32 kernels round differently from NumPy's; printed values have
    # 6 significant digits
    np.testing.assert_allclose(proba, np.asarray(rows, dtype=np.float64), atol=2e-5)
    net = nn.load_model(model)
    assert labels.tolist() == [net.metadata["class_names"][i] for i in proba.argmax(axis=1)]


def test_digits_model_takes_raw_pixels(tmp_path):
    """The embedded digits: the 1/16 scaling is the network's, so raw pixels go in."""
    from nnscratch.datasets import load_digits

    model = tmp_path / "d.npz"
    out = call("train", "--data", "digits", "--epochs", "3", "--verbose", "0", "--out", model)
    net = nn.load_model(model)
    assert net.input_transform == Scale(1 / 16)
    x, y = load_digits()
    accuracy = float(out.split("test accuracy ")[1].split("%")[0]) / 100
    assert accuracy > 0.5  # the printed accuracy was computed on raw test pixels
    assert np.mean(net.predict(x, labels=True) == y) > 0.5


# ------------------------------------------------------------- model files of 0.2
def old_cli_model(tmp_path, dtype, offset_kind):
    """A model file as 0.2's ``nnscratch train`` wrote it for a 4-column CSV, and the
    probabilities 0.2's ``nnscratch predict --proba`` printed for the raw rows."""
    rng = np.random.default_rng(3)
    x = rng.normal(100.0, 20.0, (50, 4)).round(2)
    net = nn.NeuralNetwork(
        [4, 6, 3], "tanh", "softmax", "categorical_crossentropy", "adam", dtype=dtype, seed=2
    )
    if offset_kind == "standardised":
        offset, scale = x.mean(axis=0).tolist(), (1 / x.std(axis=0)).tolist()
    else:  # --no-standardize wrote the identity
        offset, scale = 0.0, 1.0
    meta = {
        "source": "old.csv",
        "task": "classification",
        "feature_names": ["a", "b", "c", "d"],
        "named_features": True,
        "ignored_columns": [],
        "target_name": "kind",
        "seed": 0,
        "input_offset": offset,
        "input_scale": scale,
        "class_names": ["p", "q", "r"],
    }
    path = write_v02_model(tmp_path / "old.npz", net, meta)
    prepared = (x - np.asarray(offset)) * np.asarray(scale)  # 0.2's _prepare, in float64
    old_printed = [[f"{p:.6g}" for p in row] for row in net.predict(prepared).tolist()]
    write_table(tmp_path / "rows.csv", x, ["p"] * len(x), ["a", "b", "c", "d", "kind"])
    return path, x, old_printed


@pytest.mark.parametrize("offset_kind", ["standardised", "identity"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_02_cli_model_predicts_what_the_old_cli_printed(offset_kind, dtype, tmp_path):
    path, x, old_printed = old_cli_model(tmp_path, dtype, offset_kind)
    net = nn.load_model(path)
    expected = Standardize if offset_kind == "standardised" else type(None)
    assert type(net.input_transform) is expected
    assert "input_offset" not in net.metadata and "input_scale" not in net.metadata
    old = np.asarray(old_printed, dtype=np.float64)
    # 0.2 scaled in float64 before the network's dtype; the transform scales in that
    # dtype: equal to rounding (and to the 6 printed digits)
    tolerance = 2e-5 if dtype == np.float32 else 2e-6
    np.testing.assert_allclose(net.predict(x), old, atol=tolerance)
    _, rows = printed(call("predict", path, tmp_path / "rows.csv", "--proba"))
    np.testing.assert_allclose(np.asarray(rows, dtype=np.float64), old, atol=tolerance)
    # saved again, it is a file of this version, with the transform and without the keys
    again = nn.load_model(net.save(tmp_path / "again.npz"))
    assert again.input_transform == net.input_transform
    np.testing.assert_array_equal(again.predict(x), net.predict(x))


def test_a_02_file_with_scaling_and_a_transform_is_refused(tmp_path):
    net = nn.NeuralNetwork([2, 3, 2], "relu", "softmax", "categorical_crossentropy", "sgd")
    path = write_v02_model(tmp_path / "both.npz", net, {"input_offset": 1.0, "input_scale": 2.0})
    # a transform beside the metadata: rewrite the description with one
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    text = str(np.load(io.BytesIO(members["meta.npy"])))
    meta = json.loads(text)
    meta["input_transform"] = {"name": "scale", "config": {"factor": 0.5, "offset": 0.0}}
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(json.dumps(meta)), allow_pickle=False)
    with zipfile.ZipFile(path, "w") as archive:
        for name, raw in members.items():
            archive.writestr(name, buffer.getvalue() if name == "meta.npy" else raw)
    with pytest.raises(ValueError, match="both an input_transform and the 0.2 command line"):
        nn.load_model(path)


def test_a_02_file_with_a_zero_scale_is_refused(tmp_path):
    net = nn.NeuralNetwork([2, 3, 2], "relu", "softmax", "categorical_crossentropy", "sgd")
    path = write_v02_model(
        tmp_path / "zero.npz", net, {"input_offset": [1.0, 0.0], "input_scale": [0.0, 2.0]}
    )
    with pytest.raises(ValueError, match=r"zero\.npz: .*input_scale has a zero or negative"):
        nn.load_model(path)
