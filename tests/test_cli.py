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


def run(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "nnscratch", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def write_csv(path, rows, header):
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, r)) for r in rows)
                    + "\n")


@pytest.fixture
def tables(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 3))
    kind = np.where(x[:, 0] - x[:, 2] > 0, "up", "down")
    write_csv(tmp_path / "cls.csv", [[*r.round(4), k] for r, k in zip(x, kind)],
              ["a", "b", "c", "kind"])
    write_csv(tmp_path / "reg.csv", [[*r.round(4), round(2 * r[0] - r[1], 4)] for r in x],
              ["a", "b", "c", "value"])
    write_csv(tmp_path / "new.csv", [r.round(4) for r in x[:4]], ["a", "b", "c"])
    return tmp_path


def test_train_evaluate_predict_info_on_digits(tmp_path):
    proc = run("train", "--data", "digits", "--layers", "64", "--epochs", "30",
               "--batch-size", "32", "--validation-split", "0.1", "--early-stopping",
               "--out", "digits.npz", "--plot", "curves.png", "--verbose", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Epoch 1/30" in proc.stderr and "test accuracy" in proc.stdout
    assert (tmp_path / "digits.npz").exists() and (tmp_path / "curves.png").exists()
    proc = run("evaluate", "digits.npz", "--data", "digits", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "359 samples from digits"
    accuracy = float([l for l in lines if l.startswith("accuracy")][0].split()[1].rstrip("%"))
    assert accuracy > 90
    assert "per-class accuracy:" in proc.stdout and "confusion matrix" in proc.stdout
    matrix = lines[-10:]
    assert sum(int(v) for row in matrix for v in row.split()[1:]) == 359
    proc = run("info", "digits.npz", cwd=tmp_path)
    assert proc.returncode == 0 and "64 -> 64 -> 10" in proc.stdout
    assert "parameters   4,810" in proc.stdout and "best validation loss" in proc.stdout


def test_csv_classification_end_to_end(tables):
    proc = run("train", "--data", "cls.csv", "--target", "kind", "--layers", "16",
               "--epochs", "40", "--batch-size", "16", "--verbose", "0", "--out", "m.npz",
               cwd=tables)
    assert proc.returncode == 0, proc.stderr
    proc = run("evaluate", "m.npz", "--data", "cls.csv", cwd=tables)
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split("accuracy ")[1].split("%")[0]) > 90
    proc = run("predict", "m.npz", "new.csv", "--output", "out.csv", cwd=tables)
    assert proc.returncode == 0, proc.stderr
    out = (tables / "out.csv").read_text().splitlines()
    assert out[0] == "kind" and len(out) == 5 and set(out[1:]) <= {"up", "down"}
    proc = run("predict", "m.npz", "cls.csv", "--proba", cwd=tables)  # target column dropped
    rows = proc.stdout.splitlines()
    assert rows[0] == "down,up" and len(rows) == 151
    assert abs(sum(map(float, rows[1].split(","))) - 1) < 1e-4


def test_csv_regression_end_to_end(tables):
    proc = run("train", "--data", "reg.csv", "--layers", "32", "--epochs", "80",
               "--batch-size", "16", "--verbose", "0", "--out", "r.npz", cwd=tables)
    assert proc.returncode == 0, proc.stderr
    proc = run("evaluate", "r.npz", "--data", "reg.csv", cwd=tables)
    assert proc.returncode == 0
    assert float(proc.stdout.split("R^2 ")[1]) > 0.9
    proc = run("predict", "r.npz", "new.csv", cwd=tables)
    assert proc.stdout.splitlines()[0] == "value" and len(proc.stdout.splitlines()) == 5


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "missing.csv"], "missing.csv: no such file"),
    (["train", "--data", "cls.csv", "--layers", "0"], "layer sizes must be positive"),
    (["train", "--data", "cls.csv", "--epochs", "-3"], "expected a positive integer"),
    (["train", "--data", "cls.csv", "--optimizer", "adamw"], "invalid choice: 'adamw'"),
    (["train", "--data", "cls.csv", "--target", "nope"], "no column named 'nope'"),
    (["train", "--data", "cls.csv", "--validation-split", "2"], "fraction"),
    (["train", "--data", "reg.csv", "--target", "a", "--task", "regression", "--layers",
      "4", "--epochs", "1", "--verbose", "0", "--out", "x.npz"], None),
    (["evaluate", "absent.npz", "--data", "digits"], "absent.npz"),
    (["evaluate", "cls.csv", "--data", "digits"], "cls.csv"),
    (["predict", "absent.npz", "new.csv"], "absent.npz"),
    (["info"], "the following arguments are required: model"),
    (["fly"], "invalid choice: 'fly'"),
    (["train", "--data", "mnist", "--data-home", "empty-folder", "--verbose", "0"],
     "mnist"),
])
def test_errors_are_one_line(tables, args, message):
    env = dict(__import__("os").environ, NNSCRATCH_DATA=str(tables / "nothing-here"))
    proc = run(*args, cwd=tables, env=env)
    if message is None:  # a valid command among the error cases, to prove the setup works
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode != 0
    err = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(err) == 1 and err[0].startswith("nnscratch: error:"), proc.stderr
    assert message in err[0]
    assert "Traceback" not in proc.stderr


def test_predict_refuses_a_file_of_the_wrong_width(tables):
    run("train", "--data", "cls.csv", "--epochs", "1", "--verbose", "0", "--out", "m.npz",
        cwd=tables)
    write_csv(tables / "narrow.csv", [[1, 2]], ["p", "q"])
    proc = run("predict", "m.npz", "narrow.csv", cwd=tables)
    assert proc.returncode == 1
    assert "narrow.csv has 2 feature columns, but the model expects 3" in proc.stderr


def test_help_for_every_command():
    for command in ("train", "evaluate", "predict", "info", "demo"):
        proc = subprocess.run([sys.executable, "-m", "nnscratch", command, "--help"],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and "usage: nnscratch " + command in proc.stdout


def run_trusting(hashes, *args, cwd):
    """run(), with Fashion-MNIST's published SHA-256 replaced by those of test files
    (the loaders check every file against them)."""
    code = ("import sys, nnscratch.cli as cli, nnscratch.datasets._mnist as m; "
            f"m.DATASETS['fashion-mnist']['files'] = {hashes!r}; sys.exit(cli.main())")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


def test_train_and_evaluate_on_a_fashion_mnist_folder(tmp_path):
    """Built-in sets with class names (not digits) map labels by index."""
    from test_loaders import small_set
    hashes = small_set(tmp_path / "data" / "fashion-mnist", n_train=40, n_test=10)
    proc = run_trusting(hashes, "train", "--data", "fashion-mnist", "--data-home", "data",
                        "--epochs", "2", "--verbose", "0", "--out", "f.npz", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "on 10 held-out images" in proc.stdout
    proc = run_trusting(hashes, "evaluate", "f.npz", "--data", "fashion-mnist", "--data-home",
                        "data", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Ankle boot" in proc.stdout and proc.stdout.startswith("10 samples")


def test_the_console_script_is_installed():
    from pathlib import Path
    script = Path(sys.executable).parent / "nnscratch"
    if not script.exists():
        pytest.skip("nnscratch was not installed as a package in this environment")
    proc = subprocess.run([str(script), "info", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: nnscratch info" in proc.stdout
