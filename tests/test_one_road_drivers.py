"""The one road (issue 19), for the drivers that ``test_one_road.py`` leaves to others:
the command line with ``--workers`` and the scikit-learn estimators.

Bug guarded: ``nnscratch train --data pixels.npy --labels labels.npy --workers 2`` on uint8
images trained the replicas on raw 0..255 values while ``predict`` divided by 255 (9.9% test
accuracy against 87.9% without ``--workers``, and nothing warned).
"""

from __future__ import annotations

import numpy as np
import pytest

import nnscratch
from nnscratch.cli import main as cli_main
from nnscratch.datasets import load_digits


@pytest.fixture(scope="module")
def pixels():
    x, y = load_digits()  # 0..16 as floats
    x = np.round(x * (255 / 16)).astype(np.uint8)[:600]
    return x, y[:600].astype(np.int64)


def _train(tmp_path, name, x_path, y_path, *extra):
    out = tmp_path / f"{name}.npz"
    args = ["train", "--data", str(x_path), "--labels", str(y_path), "--layers", "32"]
    args += ["--epochs", "15", "--optimizer", "adam", "--learning-rate", "0.01"]
    args += ["--seed", "0", "--out", str(out), "--verbose", "0", *extra]
    assert cli_main(args) == 0
    return nnscratch.load_model(out)


@pytest.mark.slow
def test_cli_workers_trains_on_the_values_predict_serves(pixels, tmp_path, capsys):
    """``--workers 2`` must train on the uint8 rule's scaled values, as the local run does:
    both models carry Scale(1/255) and both learn the digits (the bug left the data-parallel
    model near chance, 9.9%). The replicas draw their own batch plans, so the two models
    are not equal; their accuracies are close."""
    pytest.importorskip("distributed")
    x, y = pixels
    x_path, y_path = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x_path, x)
    np.save(y_path, y)
    local = _train(tmp_path, "local", x_path, y_path)
    parallel = _train(tmp_path, "parallel", x_path, y_path, "--workers", "2")
    capsys.readouterr()
    accuracies = []
    for net in (local, parallel):
        assert isinstance(net.input_transform, nnscratch.data.Scale)
        assert net.input_transform.factor == pytest.approx(1 / 255)
        accuracies.append(float(np.mean(net.predict(x, labels=True) == y)))
    # measured on these 600 training images: local 0.992, two workers 0.990
    assert min(accuracies) > 0.96, accuracies
    assert abs(accuracies[0] - accuracies[1]) < 0.03, accuracies


def test_estimator_on_a_uint8_memmap_trains_on_the_values_it_predicts_from(pixels, tmp_path):
    """An estimator fed a uint8 memory map must train on exactly the float values it
    later predicts from: the same model as the one fitted on those values in memory."""
    sk = pytest.importorskip("nnscratch.sklearn")
    x, y = pixels
    path = tmp_path / "x.u8"
    mapped = np.memmap(path, dtype=np.uint8, mode="w+", shape=x.shape)
    mapped[:] = x
    mapped.flush()
    mapped = np.memmap(path, dtype=np.uint8, mode="r", shape=x.shape)
    params = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0, solver="adam")
    with pytest.warns(Warning):  # ConvergenceWarning at max_iter=5, on both
        from_map = sk.NNClassifier(**params).fit(mapped, y)
    with pytest.warns(Warning):
        in_memory = sk.NNClassifier(**params).fit(x.astype(np.float64), y)
    # batches of the same shapes through the same operations: equal to rounding
    np.testing.assert_allclose(
        from_map.predict_proba(x.astype(np.float64)),
        in_memory.predict_proba(x.astype(np.float64)),
        rtol=1e-9,
        atol=1e-12,
    )
    np.testing.assert_allclose(from_map.loss_curve_, in_memory.loss_curve_, rtol=1e-9)
    np.testing.assert_array_equal(from_map.predict(mapped), in_memory.predict(x))
