"""The main job, run as a user would."""

import subprocess
import sys

import pytest


def test_demo_reaches_96_percent_and_saves_the_curves(tmp_path):
    pytest.importorskip("matplotlib")
    proc = subprocess.run([sys.executable, "-m", "nnscratch", "demo"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.startswith("test accuracy")][0]
    assert float(line.split()[-1].rstrip("%")) >= 96.0
    # not a terminal: one line per epoch, with the validation figures
    epoch_lines = [l for l in proc.stderr.splitlines() if l.startswith("Epoch ")]
    assert epoch_lines and "val_accuracy" in epoch_lines[0]
    assert "early stopping" in proc.stdout or "all 100 epochs" in proc.stdout
    png = tmp_path / "nnscratch-demo-curves.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_no_command_prints_help():
    proc = subprocess.run([sys.executable, "-m", "nnscratch"], capture_output=True, text=True)
    assert proc.returncode == 2 and "demo" in proc.stdout
