"""Progress display: bars, lines, verbosity."""

import io

import pytest
from conftest import blobs, net_for


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
