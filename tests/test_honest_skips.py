"""The conftest hooks that make CI fail where a local run would skip for a missing extra."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, TEST_EXTRA, missing_requirement

SAMPLE = """
import pytest

def test_extra_missing():
    pytest.skip("could not import 'zarr': No module named 'zarr'")

def test_dask_ml_missing():
    pytest.skip("could not import 'dask_ml.wrappers': No module named 'dask_ml'")

def test_outside_the_extra():
    pytest.importorskip("surely_not_a_module_nnscratch_needs")

def test_shared_data_missing(mnist_dir):
    pass

def test_ruff_missing():
    pytest.skip("ruff is not installed (it comes with the test extra)")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_failure():
    assert False

def test_passes():
    pass
"""

MODULE_SKIP = """
import pytest
pytest.skip("could not import 'h5py': No module named 'h5py'", allow_module_level=True)

def test_never_collected():
    pass
"""


def run_sample(tmp_path, ci):
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = dict(os.environ, NNSCRATCH_TEST_DATA=str(tmp_path / "no-data"))
    env.pop("CI", None)
    if ci:
        env["CI"] = "true"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--continue-on-collection-errors",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    return proc.stdout + proc.stderr


def outcome(text, name):
    found = re.search(rf"^(PASSED|FAILED|SKIPPED|XFAIL|ERROR)\S* .*{name}", text, re.M)
    return found.group(1) if found else None


def test_locally_missing_parts_are_skipped(tmp_path):
    text = run_sample(tmp_path, ci=False)
    # five skips in the sample (shared data included) and one of the whole second module
    assert re.search(r"1 passed, 6 skipped, 1 xfailed", text), text


def test_in_ci_missing_parts_fail_and_say_why(tmp_path):
    text = run_sample(tmp_path, ci=True)
    for name in ("test_extra_missing", "test_dask_ml_missing", "test_ruff_missing"):
        assert outcome(text, name) == "FAILED", (name, text)
    assert outcome(text, "test_shared_data_missing") in ("FAILED", "ERROR"), text
    assert outcome(text, "test_module_skip.py") == "ERROR", text  # the module, at collection
    # not in the extra: still a skip (-rA reports a skip by its place and reason)
    assert re.search(
        r"^SKIPPED \[1\] test_sample.py:\d+: could not import 'surely_not", text, re.M
    )
    assert "1 skipped" in text
    assert outcome(text, "test_expected_failure") == "XFAIL", text
    assert outcome(text, "test_passes") == "PASSED", text
    assert "CI=true: this test would have been skipped" in text


@pytest.mark.parametrize(
    "reason, missing",
    [
        ("could not import 'sklearn': No module named 'sklearn'", True),
        ("could not import 'nnscratch.sklearn': No module named 'sklearn'", True),
        ("could not import 'torch': No module named 'torch'", False),
        ("could not import 'fcntl': No module named 'fcntl'", False),
        ("needs scikit-learn", True),
        ("the ONNX export tests need onnx: pip install 'nnscratch[onnx]'", True),
        ("MNIST files not found in /x/shared/data/mnist: ...", True),
        ("the blocks after line 3 were not run", False),
    ],
)
def test_which_reasons_mean_an_incomplete_environment(reason, missing):
    assert missing_requirement(reason) is missing


def test_the_table_lists_every_package_of_the_test_extra():
    text = (REPO / "pyproject.toml").read_text()
    block = re.search(r"^test = \[(.*?)\]\n(?=[#\w])", text, re.S | re.M).group(1)
    packages = [re.split(r"[<>=!~ ]", p)[0] for p in re.findall(r'"([^"]+)"', block)]
    assert packages and sorted(packages) == sorted(TEST_EXTRA)
