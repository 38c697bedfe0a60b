"""Progress display: bars, lines, verbosity."""

import io

import numpy as np
import pytest

import nnscratch as nn


def blobs(n=120, classes=3, seed=0, p=None):
    rng = np.random.default_rng(seed)
    y = rng.choice(classes, n, p=p)
    centers = rng.normal(scale=3, size=(classes, 4))
    return centers[y] + rng.normal(size=(n, 4)), y


def net_for(**kwargs):
    kwargs.setdefault("seed", 0)
    opt = kwargs.pop("optimizer", nn.SGD(0.05, 0.9))
    return nn.NeuralNetwork(
        [4, 8, 3], "relu", "softmax", "categorical_crossentropy", opt, **kwargs
    )


# ---------------------------------------------------------------------------- progress
def test_lines_per_epoch_with_validation_figures(capsys):
    x, y = blobs()
    net_for().fit(x, y, 16, 3, categorical=True, validation_split=0.2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3
    assert "val_loss:" in lines[-1] and "val_accuracy:" in lines[-1]


def test_verbose_two_is_lines_even_on_a_terminal():
    from nnscratch.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert Progress(2, 1, 10, stream=Terminal()).mode == "line"
    assert Progress(1, 1, 10, stream=Terminal()).mode == "bar"
    assert Progress(1, 1, 10, stream=io.StringIO()).mode == "line"
    with pytest.raises(ValueError, match="verbose"):
        Progress(3, 1, 10)
