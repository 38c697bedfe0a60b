"""Issue 22, point 4: pipelines ending in our estimators, to ONNX, by two routes.

1. skl2onnx with our registered parser, shape calculator and converter
   (``skl2onnx.to_onnx(make_pipeline(StandardScaler(), NNClassifier()), X[:1])``),
   skl2onnx converting the scaler itself;
2. ``nnscratch.sklearn.pipeline_to_onnx``, where scalers become input transforms.

ONNX Runtime on each exported pipeline must match ``pipeline.predict_proba`` /
``predict`` within 1e-5 (float32 graphs round each product in float32; float64
graphs agree far closer, checked to 1e-9).
"""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler  # noqa: E402

from nnscratch.sklearn import (  # noqa: E402
    NNClassifier,
    NNRegressor,
    pipeline_to_onnx,
    register_skl2onnx,
)


def _digits():
    x, y = load_digits(return_X_y=True)
    return x[:400], y[:400]


def _binary_strings():
    x, y = load_breast_cancer(return_X_y=True)
    return x[:300], np.array(["benign", "malignant"])[y[:300]]


def _multilabel():
    x, y = _digits()
    return x, np.stack([y % 2, y > 4, y % 3 == 0], axis=1).astype(int)


def _regression():
    x, y = load_diabetes(return_X_y=True)
    return x, y / 100.0


def _two_outputs():
    x, _ = load_diabetes(return_X_y=True)
    return x[:, :8], x[:, 8:] * 10.0


def _counts():
    x, y = load_diabetes(return_X_y=True)
    return x, np.round(y / 50.0)


TASKS = {
    "multiclass": (lambda: NNClassifier(hidden_layer_sizes=(12,), max_iter=20), _digits),
    "binary, string labels": (
        lambda: NNClassifier(hidden_layer_sizes=(6,), activation="tanh", max_iter=20),
        _binary_strings,
    ),
    "multilabel": (
        lambda: NNClassifier(hidden_layer_sizes=(10,), activation="logistic", max_iter=20),
        _multilabel,
    ),
    "regression": (lambda: NNRegressor(hidden_layer_sizes=(8,), max_iter=30), _regression),
    "two outputs, lbfgs": (
        lambda: NNRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30),
        _two_outputs,
    ),
    "poisson": (
        lambda: NNRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=30),
        _counts,
    ),
}
SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "maxabs": MaxAbsScaler}


def fitted_pipeline(task, scaler="standard"):
    make, data = TASKS[task]
    x, y = data()
    model = make().set_params(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make_pipeline(SCALERS[scaler](), model).fit(x, y), x


def run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def assert_matches(pipeline, x, outputs, tolerance):
    if hasattr(pipeline[-1], "classes_"):
        label, proba = outputs
        np.testing.assert_allclose(proba, pipeline.predict_proba(x), rtol=0, atol=tolerance)
        np.testing.assert_array_equal(label, pipeline.predict(x))
    else:
        (values,) = outputs
        ours = pipeline.predict(x)
        np.testing.assert_allclose(
            values.reshape(ours.shape), ours, rtol=tolerance, atol=tolerance
        )


# ------------------------------------------------------------------ route 1: skl2onnx
skl2onnx = pytest.importorskip("skl2onnx")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scaler", sorted(SCALERS))
@pytest.mark.parametrize("task", sorted(TASKS))
def test_skl2onnx_converts_the_pipeline(task, scaler, dtype):
    register_skl2onnx()
    pipeline, x = fitted_pipeline(task, scaler)
    classifier = hasattr(pipeline[-1], "classes_")
    options = {id(pipeline[-1]): {"zipmap": False}} if classifier else None
    x_in = x.astype(dtype)
    model = skl2onnx.to_onnx(pipeline, x_in[:1], options=options)
    tolerance = 1e-5 if dtype == np.float32 else 1e-9
    assert_matches(pipeline, x, run(model, x_in), tolerance)


def test_skl2onnx_zipmap_by_default_like_its_own_classifiers():
    register_skl2onnx()
    pipeline, x = fitted_pipeline("multiclass")
    x32 = x.astype(np.float32)
    label, dicts = run(skl2onnx.to_onnx(pipeline, x32[:1]), x32)
    proba = np.array([[row[c] for c in pipeline.classes_] for row in dicts])
    np.testing.assert_allclose(proba, pipeline.predict_proba(x), atol=1e-5)
    np.testing.assert_array_equal(label, pipeline.predict(x))


def test_skl2onnx_refuses_a_one_class_classifier_by_name():
    register_skl2onnx()
    x = np.random.default_rng(0).normal(size=(20, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = NNClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(x, np.zeros(20, int))
    with pytest.raises(ValueError, match="one class"):
        skl2onnx.to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}})


IMPORT_ORDERS = {
    "nnscratch first": "import nnscratch.sklearn as sk\nimport skl2onnx\n",
    "skl2onnx first": "import skl2onnx\nimport nnscratch.sklearn as sk\n",
}


@pytest.mark.parametrize("order", sorted(IMPORT_ORDERS))
def test_skl2onnx_works_without_registering_by_hand(order):
    """Importing nnscratch.sklearn registers the converters whenever skl2onnx is imported."""
    script = IMPORT_ORDERS[order] + (
        "import numpy as np, warnings\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "import onnxruntime as ort\n"
        "warnings.simplefilter('ignore')\n"
        "x = np.random.default_rng(0).normal(size=(60, 4)); y = (x[:, 0] > 0).astype(int)\n"
        "p = make_pipeline(StandardScaler(), sk.NNClassifier(max_iter=5, random_state=0))\n"
        "p.fit(x, y)\n"
        "m = skl2onnx.to_onnx(p, x[:1], options={id(p[-1]): {'zipmap': False}})\n"
        "s = ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])\n"
        "label, proba = s.run(None, {s.get_inputs()[0].name: x})\n"
        "print(float(np.abs(proba - p.predict_proba(x)).max()))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert float(proc.stdout.strip().splitlines()[-1]) < 1e-9


# ------------------------------------------------------------------ route 2: nnscratch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scaler", sorted(SCALERS))
@pytest.mark.parametrize("task", sorted(TASKS))
def test_pipeline_to_onnx_makes_scalers_input_transforms(task, scaler, dtype):
    pipeline, x = fitted_pipeline(task, scaler)
    model = pipeline_to_onnx(pipeline, dtype=dtype)
    tolerance = 1e-5 if dtype == np.float32 else 1e-9
    assert_matches(pipeline, x, run(model, x.astype(dtype)), tolerance)
    # the fitted pipeline is left as it was
    assert getattr(pipeline[-1].network_, "input_transform", None) is None


def test_pipeline_to_onnx_chains_scalers_and_skips_passthrough(tmp_path):
    x, y = _digits()
    pipeline = Pipeline(
        [
            ("minmax", MinMaxScaler()),
            ("nothing", "passthrough"),
            ("standard", StandardScaler()),
            ("net", NNClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(x, y)
    path = tmp_path / "pipeline.onnx"
    pipeline_to_onnx(pipeline, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {"input": x})
    np.testing.assert_allclose(proba, pipeline.predict_proba(x), atol=1e-9)
    np.testing.assert_array_equal(label, pipeline.predict(x))


def test_pipeline_to_onnx_refuses_other_steps_by_name():
    x, y = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline = Pipeline(
            [("reduce", PCA(5)), ("net", NNClassifier(max_iter=2, random_state=0))]
        ).fit(x, y)
        other = make_pipeline(StandardScaler(), LogisticRegression(max_iter=50)).fit(x, y)
    with pytest.raises(TypeError, match=r"'reduce' \(PCA\).*skl2onnx"):
        pipeline_to_onnx(pipeline)
    with pytest.raises(TypeError, match="LogisticRegression"):
        pipeline_to_onnx(other)
    with pytest.raises(TypeError, match="Pipeline"):
        pipeline_to_onnx(NNClassifier())
    with pytest.raises(ValueError, match="not fitted"):
        pipeline_to_onnx(make_pipeline(StandardScaler(), NNClassifier()))
