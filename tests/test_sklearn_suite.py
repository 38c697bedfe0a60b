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

MIN_PASSED = 50

# Tests of the suite that fail against our estimators, and why.
KNOWN_FAILURES = {
    "test_lbfgs_regression_maxfun": (
        "with tol=0 and activation='identity' the network is a linear model; from our "
        "initial weights L-BFGS-B meets its relative-reduction stopping rule (ftol, left at "
        "SciPy's default by scikit-learn too) after 9 iterations and 10 evaluations, so it "
        "converges before max_fun=10 runs out and rightly gives no ConvergenceWarning; "
        "scikit-learn's different initial weights need one more evaluation. The other "
        "three activations warn as the test expects"
    ),
    "test_early_stopping_stratified": (
        "expects the message of scikit-learn's stratified split to name the class as "
        "['True']: scikit-learn stratifies on its boolean-encoded targets; we stratify on "
        "the labels themselves, so the message names the class 1"
    ),
}


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
    assert len(passed) >= MIN_PASSED, summary
    # the list of reasons stays honest: every test it names still exists in the suite
    names = {_test_name(k) for k in outcomes}
    assert set(KNOWN_FAILURES) <= names
