"""The code passes ruff's lint rules and is formatted as ruff formats it (pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

PATHS = ["src", "tests", "benchmarks", "examples", "docs"]


def ruff(*args):
    # the ruff of the environment running the tests (the test extra's), else one on PATH
    beside = Path(sys.executable).parent / "ruff"
    exe = str(beside) if beside.exists() else shutil.which("ruff") or "ruff"
    try:
        return subprocess.run(
            [exe, *args, *[p for p in PATHS if (REPO / p).exists()]],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except FileNotFoundError:
        pytest.skip("ruff is not installed (it comes with the test extra)")


def test_ruff_lint_is_clean():
    proc = ruff("check", "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_format_is_clean():
    proc = ruff("format", "--check", "--no-cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
