"""Acceptance: scikit-learn's own MLP test suite, run against our estimators.

The suite ships inside the installed scikit-learn
(``sklearn/neural_network/tests/test_mlp.py``).  The test copies it into a
temporary folder, swaps the import of ``MLPClassifier`` / ``MLPRegressor`` for
``NNClassifier`` / ``NNRegressor``, runs it with pytest in a subprocess and
counts what passed.  ``KNOWN_FAILURES`` lists the tests we expect to fail,
each with the reason.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")
pytest.importorskip("scipy")

SUITE = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
REPLACEMENT = (
    "from nnscratch.sklearn import NNClassifier as MLPClassifier, NNRegressor as MLPRegressor"
)

# scikit-learn's conftest parametrises this fixture; its default seed is 42.
CONFTEST = """
def pytest_generate_tests(metafunc):
    if "global_random_seed" in metafunc.fixturenames:
        metafunc.parametrize("global_random_seed", [42])
"""

# Tests of the suite that fail against our estimators, each with the reason why
# scikit-learn's expectation does not hold for us.  Empty: since the estimators
# reproduce scikit-learn's model (issue 22), every test passes, including
# test_lbfgs_regression_maxfun (the same initial weights make L-BFGS-B run into
# max_fun) and test_early_stopping_stratified (the split stratifies on the same
# boolean targets, so the message names the class 'True').
KNOWN_FAILURES: dict[str, str] = {}


def _run_suite(tmp_path):
    source = SUITE.read_text()
    assert IMPORT in source, "the layout of scikit-learn's test file changed"
    (tmp_path / "test_mlp_nnscratch.py").write_text(source.replace(IMPORT, REPLACEMENT))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    report = tmp_path / "report.json"
    plugin = tmp_path / "collect_outcomes.py"
    plugin.write_text(
        "import json\n"
        "OUTCOMES = {}\n"
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call' or report.outcome != 'passed':\n"
        "        OUTCOMES[report.nodeid] = report.outcome\n"
        "def pytest_sessionfinish(session):\n"
        f"    open({str(report)!r}, 'w').write(json.dumps(OUTCOMES))\n"
    )
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [str(tmp_path)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "collect_outcomes",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_mlp_nnscratch.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    outcomes = json.loads(report.read_text())
    return proc, outcomes


def _test_name(nodeid):
    return re.sub(r"\[.*\]$", "", nodeid.split("::")[-1])


@pytest.mark.slow
def test_scikit_learns_mlp_suite_passes_with_our_estimators(tmp_path):
    proc, outcomes = _run_suite(tmp_path)
    passed = sorted(k for k, v in outcomes.items() if v == "passed")
    failed = sorted(k for k, v in outcomes.items() if v != "passed")
    summary = proc.stdout[-3000:]
    assert len(outcomes) >= 55, f"collected too few tests:\n{summary}\n{proc.stderr[-2000:]}"
    unexplained = [k for k in failed if _test_name(k) not in KNOWN_FAILURES]
    assert unexplained == [], f"failures without a recorded reason:\n{summary}"
    assert len(passed) >= 59, summary  # all 59 of scikit-learn 1.9's test_mlp.py
    # the list of reasons stays honest: every test it names still exists in the suite
    names = {_test_name(k) for k in outcomes}
    assert set(KNOWN_FAILURES) <= names
