"""Training curves with matplotlib."""

import struct
import sys

import pytest
from conftest import blobs, net_for

import nnscratch as nn


# -------------------------------------------------------------------------------- plots
def png_size(path):
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_plot_history_writes_a_png_of_the_asked_size(tmp_path):
    pytest.importorskip("matplotlib")
    x, y = blobs()
    net = net_for()
    net.fit(x, y, 16, 4, categorical=True, verbose=0, validation_split=0.2)
    path = tmp_path / "curves.png"
    nn.plot_history(net.history, path, size=(640, 320))
    assert path.stat().st_size > 1000
    assert png_size(path) == (640, 320)
    nn.plot_history(net, tmp_path / "again.png", size=(300, 200), dpi=50)
    assert png_size(tmp_path / "again.png") == (300, 200)


def test_plot_history_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[plot\]'"):
        nn.plot_history({"loss": [1.0]})


def test_plot_history_needs_a_history():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="loss"):
        nn.plot_history({})


@pytest.mark.parametrize(
    "extension, magic",
    [("svg", b"<?xml"), ("pdf", b"%PDF"), ("png", b"\x89PNG"), ("jpg", b"\xff\xd8")],
)
def test_plot_history_writes_the_format_its_extension_names(tmp_path, extension, magic):
    """Guards "curves.svg held PNG bytes" (issue 10.8); missing folders are created."""
    pytest.importorskip("matplotlib")
    path = tmp_path / "new" / f"curves.{extension}"
    nn.plot_history({"loss": [1.0, 0.5], "val_loss": [1.2, 0.8]}, path, title="t")
    assert path.read_bytes().startswith(magic)


def test_plot_history_refuses_an_unknown_extension_before_drawing(tmp_path):
    pytest.importorskip("matplotlib")
    for name in ("curves.xyz", "curves"):
        with pytest.raises(ValueError, match="cannot tell the image format"):
            nn.plot_history({"loss": [1.0]}, tmp_path / name)
        assert not (tmp_path / name).exists()
