"""The main job, run as a user would."""

import subprocess
import sys


def test_demo_reaches_96_percent():
    proc = subprocess.run([sys.executable, "-m", "nnscratch", "demo"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.startswith("test accuracy")][0]
    assert float(line.split()[-1].rstrip("%")) >= 96.0
    assert "Epoch 40/40" in proc.stderr  # not a terminal: one line per epoch


def test_no_command_prints_help():
    proc = subprocess.run([sys.executable, "-m", "nnscratch"], capture_output=True, text=True)
    assert proc.returncode == 2 and "demo" in proc.stdout
