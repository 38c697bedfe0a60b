"""The command line, run as a user would (``python -m nnscratch ...`` in a subprocess).

The long loops over damaged files call ``main()`` in this process instead: the
same code path, a hundred times faster.
"""

import contextlib
import io
import itertools
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nnscratch as nn
from nnscratch.cli import main


def run(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "nnscratch", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


def call(*args):
    """``main(args)`` in this process -> (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def one_error_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nnscratch: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def write_csv(path, rows, header, sep=","):
    lines = [sep.join(header)] if header is not None else []
    lines += [sep.join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_rows(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).round(4)
    kind = np.where(x[:, 0] - x[:, 2] > 0, "up", "down")
    return x, kind


def assert_printed_predictions(printed, model_path, x, classes=None, rtol=5e-8):
    """The rows ``predict`` printed are the loaded model's own answer on the same rows.

    With ``classes``, printed labels are compared exactly with the class of the largest
    output; otherwise the printed numbers are compared to the precision they are printed
    with, half a unit in the last digit: ``rtol=5e-6`` for ``.6g`` probabilities and
    ``5e-8`` for ``.8g`` regression values.
    """
    out = nn.load_model(model_path).predict(np.asarray(x, dtype=float))
    header, *rows = printed.splitlines()
    assert len(rows) == len(out)
    if classes is not None:
        index = np.argmax(out, axis=1) if out.shape[1] > 1 else (out[:, 0] > 0.5).astype(int)
        assert rows == [str(classes[i]) for i in index]
    else:
        numbers = np.array([[float(v) for v in row.split(",")] for row in rows])
        np.testing.assert_allclose(numbers, out, rtol=rtol, atol=0)
    return header


@pytest.fixture
def tables(tmp_path):
    x, kind = make_rows(150)
    write_csv(tmp_path / "cls.csv", [[*r, k] for r, k in zip(x, kind)], ["a", "b", "c", "kind"])
    write_csv(
        tmp_path / "reg.csv",
        [[*r, round(2 * r[0] - r[1], 4)] for r in x],
        ["a", "b", "c", "value"],
    )
    write_csv(tmp_path / "new.csv", x[:4], ["a", "b", "c"])
    return tmp_path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder with cls.csv, a model m.npz trained on it, and fresh rows new.csv."""
    folder = tmp_path_factory.mktemp("trained")
    x, kind = make_rows(150)
    write_csv(folder / "cls.csv", [[*r, k] for r, k in zip(x, kind)], ["a", "b", "c", "kind"])
    fresh, fresh_kind = make_rows(40, seed=1)
    write_csv(folder / "new.csv", fresh, ["a", "b", "c"])
    proc = run(
        "train",
        "--data",
        "cls.csv",
        "--layers",
        "16",
        "--epochs",
        "40",
        "--batch-size",
        "16",
        "--verbose",
        "0",
        "--out",
        "m.npz",
        cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run("predict", "m.npz", "new.csv", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    return folder, fresh, fresh_kind, proc.stdout


# ------------------------------------------------------------------ the main job
def test_demo_reaches_96_percent_and_saves_the_curves(tmp_path):
    pytest.importorskip("matplotlib")
    proc = subprocess.run(
        [sys.executable, "-m", "nnscratch", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    line = [l for l in proc.stdout.splitlines() if l.startswith("test accuracy")][0]
    assert float(line.split()[-1].rstrip("%")) >= 96.0
    # not a terminal: one line per epoch, with the validation figures
    epoch_lines = [l for l in proc.stderr.splitlines() if l.startswith("Epoch ")]
    assert epoch_lines and "val_accuracy" in proc.stderr
    assert "early stopping" in proc.stdout or "all 100 epochs" in proc.stdout
    png = tmp_path / "nnscratch-demo-curves.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_no_command_prints_help():
    proc = subprocess.run([sys.executable, "-m", "nnscratch"], capture_output=True, text=True)
    assert proc.returncode == 2 and "demo" in proc.stdout


def test_version():
    from nnscratch import __version__

    proc = subprocess.run(
        [sys.executable, "-m", "nnscratch", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == f"nnscratch {__version__}"


def test_help_for_every_command_shows_plain_percent_signs():
    for command in ("train", "evaluate", "predict", "info", "demo"):
        proc = subprocess.run(
            [sys.executable, "-m", "nnscratch", command, "--help"], capture_output=True, text=True
        )
        assert proc.returncode == 0 and "usage: nnscratch " + command in proc.stdout
        assert "%%" not in proc.stdout
    assert "20% for testing" in " ".join(proc.stdout.split())  # the demo's


def test_train_evaluate_predict_info_on_digits(tmp_path):
    proc = run(
        "train",
        "--data",
        "digits",
        "--layers",
        "64",
        "--epochs",
        "30",
        "--batch-size",
        "32",
        "--validation-split",
        "0.1",
        "--early-stopping",
        "--out",
        "digits.npz",
        "--plot",
        "curves.png",
        "--verbose",
        "2",
        cwd=tmp_path,
    )
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
    header, matrix = lines[-11], lines[-10:]
    assert header.split() == [str(d) for d in range(10)]
    assert [row.split()[0] for row in matrix] == [str(d) for d in range(10)]
    assert sum(int(v) for row in matrix for v in row.split()[1:]) == 359
    proc = run("info", "digits.npz", cwd=tmp_path)
    assert proc.returncode == 0 and "64 -> 64 -> 10" in proc.stdout
    assert "parameters   4,810" in proc.stdout and "best validation loss" in proc.stdout


def test_csv_classification_end_to_end(tables):
    proc = run(
        "train",
        "--data",
        "cls.csv",
        "--target",
        "kind",
        "--layers",
        "16",
        "--epochs",
        "40",
        "--batch-size",
        "16",
        "--verbose",
        "0",
        "--out",
        "m.npz",
        cwd=tables,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --verbose 0: nothing at all on stderr
    proc = run("evaluate", "m.npz", "--data", "cls.csv", cwd=tables)
    assert proc.returncode == 0, proc.stderr
    # Measured: 95.33% (143 of the 150 rows); allow one row to flip on other machines.
    assert float(proc.stdout.split("accuracy ")[1].split("%")[0]) >= 94.6
    lines = proc.stdout.splitlines()  # the confusion matrix names its columns too
    assert lines[-3].split() == ["down", "up"]
    assert [l.split()[0] for l in lines[-2:]] == ["down", "up"]
    proc = run("predict", "m.npz", "new.csv", "--output", "out.csv", cwd=tables)
    assert proc.returncode == 0, proc.stderr
    x, _ = make_rows(150)
    printed = (tables / "out.csv").read_text()
    assert assert_printed_predictions(printed, tables / "m.npz", x[:4], ["down", "up"]) == "kind"
    proc = run("predict", "m.npz", "cls.csv", "--proba", cwd=tables)  # target column dropped
    assert assert_printed_predictions(proc.stdout, tables / "m.npz", x, rtol=5e-6) == "down,up"


def test_csv_regression_end_to_end(tables):
    proc = run(
        "train",
        "--data",
        "reg.csv",
        "--layers",
        "32",
        "--epochs",
        "80",
        "--batch-size",
        "16",
        "--verbose",
        "0",
        "--out",
        "r.npz",
        cwd=tables,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run("evaluate", "r.npz", "--data", "reg.csv", cwd=tables)
    assert proc.returncode == 0
    # Measured: R^2 0.9960 (the target is the linear 2a - b)
    assert float(proc.stdout.split("R^2 ")[1]) > 0.99
    proc = run("predict", "r.npz", "new.csv", cwd=tables)
    x, _ = make_rows(150)
    assert assert_printed_predictions(proc.stdout, tables / "r.npz", x[:4]) == "value"


def test_verbose_levels_on_stderr(tables):
    proc = run(
        "train",
        "--data",
        "cls.csv",
        "--epochs",
        "2",
        "--verbose",
        "2",
        "--out",
        "m.npz",
        cwd=tables,
    )
    assert proc.returncode == 0 and "training NeuralNetwork" in proc.stderr
    assert "Epoch 2/2" in proc.stderr
    proc = run(
        "train",
        "--data",
        "digits",
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--out",
        "d.npz",
        cwd=tables,
    )
    assert proc.returncode == 0 and proc.stderr == ""


# ------------------------------------------------------------- columns by name
def test_predict_matches_columns_by_name_in_any_order(trained):
    folder, fresh, _, expected = trained
    names = ["a", "b", "c"]
    for order in itertools.permutations(range(3)):
        header = [names[i] for i in order]
        write_csv(folder / "perm.csv", fresh[:, list(order)], header)
        proc = run("predict", "m.npz", "perm.csv", cwd=folder)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == expected, header


def test_the_target_column_may_come_along_anywhere(trained):
    folder, fresh, fresh_kind, expected = trained
    for where in range(4):
        rows = [list(r) for r in fresh]
        for row, label in zip(rows, fresh_kind):
            row.insert(where, label)
        header = ["a", "b", "c"]
        header.insert(where, "kind")
        write_csv(folder / "with_target.csv", rows, header)
        proc = run("predict", "m.npz", "with_target.csv", cwd=folder)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == expected
    # and evaluate reads the same file by name too
    proc = run("evaluate", "m.npz", "--data", "with_target.csv", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("40 samples from with_target.csv")


@pytest.mark.parametrize(
    "header, extra, message",
    [
        (
            ["c", "B", "a"],
            [],
            r"lacks the model's column 'b' \(did you mean 'B'\?\); has column "
            r"the model does not know: 'B' \(did you mean 'b'\?\)",
        ),
        (["a", "b"], [], r"lacks the model's column 'c'"),
        (["a", "b", "c", "d"], [], r"has column the model does not know: 'd'"),
        (["alpha", "b", "c"], [], r"lacks the model's column 'a'"),
        (["a", "bb", "c"], [], r"'b' \(did you mean 'bb'\?\)"),
        (["a", "b", "c", "d"], ["--drop", "d"], None),
        (["a", "b", "c", "d"], ["--drop", "e"], r"no column named 'e'"),
    ],
)
def test_predict_refuses_columns_it_cannot_match(trained, header, extra, message):
    folder, fresh, _, expected = trained
    rows = np.column_stack([fresh, np.ones(len(fresh))])[:, : len(header)]
    write_csv(folder / "odd.csv", rows, header)
    proc = run("predict", "m.npz", "odd.csv", *extra, cwd=folder)
    if message is None:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == expected
        return
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert line.startswith("nnscratch: error: odd.csv: ")
    assert re.search(message, line), line
    assert "The model reads the columns 'a', 'b', 'c' by name" in line or "no column named" in line


def test_evaluate_matches_by_name_too(trained):
    folder, fresh, fresh_kind, _ = trained
    write_csv(
        folder / "recased.csv",
        [[k, *r] for r, k in zip(fresh, fresh_kind)],
        ["kind", "A", "b", "c"],
    )
    proc = run("evaluate", "m.npz", "--data", "recased.csv", cwd=folder)
    line = one_error_line(proc.stderr)
    assert "lacks the model's column 'a' (did you mean 'A'?)" in line
    write_csv(folder / "no_target.csv", fresh, ["c", "b", "a"])
    proc = run("evaluate", "m.npz", "--data", "no_target.csv", cwd=folder)
    assert "no column named 'kind'" in one_error_line(proc.stderr)


def test_columns_left_out_at_training_may_stay_in_the_file(tables):
    x, kind = make_rows(60)
    rows = [[f"id{i}", *r, "note", k] for i, (r, k) in enumerate(zip(x, kind))]
    write_csv(tables / "ids.csv", rows, ["id", "a", "b", "c", "comment", "kind"])
    proc = run("train", "--data", "ids.csv", "--epochs", "1", "--verbose", "0", cwd=tables)
    line = one_error_line(proc.stderr)
    assert "the feature column 'id' is not numeric (line 2, column 'id' holds 'id0')" in line
    assert "--drop id" in line
    proc = run(
        "train",
        "--data",
        "ids.csv",
        "--drop",
        "id,comment",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--out",
        "ids.npz",
        cwd=tables,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run("predict", "ids.npz", "ids.csv", cwd=tables)
    assert proc.returncode == 0, proc.stderr
    assert assert_printed_predictions(proc.stdout, tables / "ids.npz", x, ["down", "up"]) == "kind"
    proc = run(
        "train",
        "--data",
        "ids.csv",
        "--features",
        "c,a",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--out",
        "ca.npz",
        cwd=tables,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run("info", "ca.npz", cwd=tables)
    assert "2 features" in proc.stdout
    proc = run("predict", "ca.npz", "ids.csv", cwd=tables)  # b was left out at training
    assert proc.returncode == 0, proc.stderr


def test_nameless_models_go_by_position_and_width(tables):
    x, kind = make_rows(50)
    np.savez(tables / "t.npz", x=x, y=(kind == "up").astype(int))
    proc = run(
        "train", "--data", "t.npz", "--epochs", "1", "--verbose", "0", "--out", "n.npz", cwd=tables
    )
    assert proc.returncode == 0, proc.stderr
    write_csv(tables / "any_names.csv", x[:5], ["p", "q", "r"])
    proc = run("predict", "n.npz", "any_names.csv", cwd=tables)
    assert proc.returncode == 0, proc.stderr
    assert assert_printed_predictions(proc.stdout, tables / "n.npz", x[:5], ["0", "1"])


# --------------------------------------------------------------- data widths
@pytest.fixture(scope="module")
def width_files(tmp_path_factory):
    """A 3-feature CSV model, a 3-feature NPZ model, and data 64, 5 and 4 wide."""
    tables = tmp_path_factory.mktemp("widths")
    x, kind = make_rows(50)
    write_csv(tables / "cls.csv", [[*r, k] for r, k in zip(x, kind)], ["a", "b", "c", "kind"])
    np.savez(tables / "t3.npz", x=x, y=(kind == "up").astype(int))
    np.savez(tables / "t5.npz", x=np.ones((4, 5)), y=np.zeros(4, dtype=int))
    write_csv(tables / "wide.csv", np.ones((4, 5)), ["a", "b", "c", "d", "y"])
    write_csv(tables / "wide_nohead.csv", np.ones((4, 5)), None)
    for data, out in (("cls.csv", "csv3.npz"), ("t3.npz", "npz3.npz")):
        proc = run(
            "train", "--data", data, "--epochs", "1", "--verbose", "0", "--out", out, cwd=tables
        )
        assert proc.returncode == 0, proc.stderr
    return tables


@pytest.mark.parametrize(
    "args, data_width",
    [
        (["evaluate", "csv3.npz", "--data", "digits"], 64),
        (["evaluate", "npz3.npz", "--data", "digits"], 64),
        (["evaluate", "npz3.npz", "--data", "t5.npz"], 5),
        (["evaluate", "npz3.npz", "--data", "wide.csv"], 4),
        (["evaluate", "csv3.npz", "--data", "wide_nohead.csv"], 4),
        (["predict", "npz3.npz", "t5.npz"], 5),
        (["predict", "npz3.npz", "wide.csv"], 4),  # its column y is the model's target
        (["predict", "csv3.npz", "wide_nohead.csv"], 5),
        (["evaluate", "csv3.npz", "--data", "t5.npz"], 5),
    ],
)
def test_the_data_width_is_checked_before_anything_else(width_files, args, data_width):
    proc = run(*args, cwd=width_files)
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert f"the data has {data_width} features, but the model expects 3" in line
    assert "broadcast" not in line


# --------------------------------------------------------------- output paths
def test_outputs_into_new_folders(tables):
    pytest.importorskip("matplotlib")
    proc = run(
        "train",
        "--data",
        "cls.csv",
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--out",
        "nodir/deeper/x.npz",
        "--plot",
        "plots/c.png",
        cwd=tables,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tables / "nodir/deeper/x.npz").is_file() and (tables / "plots/c.png").is_file()
    proc = run("predict", "nodir/deeper/x.npz", "new.csv", "--output", "preds/p.csv", cwd=tables)
    assert proc.returncode == 0, proc.stderr
    assert (tables / "preds/p.csv").read_text().startswith("kind\n")


@pytest.mark.parametrize("option", ["--out", "--plot", "--output"])
@pytest.mark.parametrize("case", ["folder", "under_a_file", "read_only_folder"])
def test_unwritable_outputs_fail_before_any_work(tables, option, case, monkeypatch):
    if case == "read_only_folder":
        (tables / "locked").mkdir()
        (tables / "locked").chmod(0o555)
        target = "locked/out.x"
        # Root writes into a read-only folder anyway, so the refusal is also simulated: the
        # probe file the command line creates there is refused, as it is for anyone else.
        import nnscratch._paths as paths

        real_mkstemp = paths.tempfile.mkstemp

        def refuse_in_locked(*args, **kwargs):
            if os.path.realpath(kwargs.get("dir", "")) == os.path.realpath(tables / "locked"):
                raise PermissionError(13, "Permission denied")
            return real_mkstemp(*args, **kwargs)

        monkeypatch.setattr(paths.tempfile, "mkstemp", refuse_in_locked)
    elif case == "folder":
        (tables / "already").mkdir()
        target = "already"
    else:
        (tables / "plain.txt").write_text("")
        target = "plain.txt/out.x"
    if option == "--output":
        run(
            "train",
            "--data",
            "cls.csv",
            "--epochs",
            "1",
            "--verbose",
            "0",
            "--out",
            "m.npz",
            cwd=tables,
        )
        args = ["predict", "m.npz", "new.csv", "--output", target]
    else:
        args = [
            "train",
            "--data",
            "cls.csv",
            "--epochs",
            "1000",
            "--verbose",
            "2",
            option,
            target,
            *(["--out", "fine.npz"] if option == "--plot" else []),
        ]
    if case == "read_only_folder":  # in this process, where the simulation applies
        monkeypatch.chdir(tables)
        status, _, err = call(*args)
    else:
        proc = run(*args, cwd=tables)
        status, err = proc.returncode, proc.stderr
    assert status == 1
    line = one_error_line(err)  # no "Epoch ..." line: nothing was trained
    assert line.startswith(f"nnscratch: error: {option} {target}")
    assert not (tables / "fine.npz").exists()


# ---------------------------------------------------------- CSV files from life
def test_missing_values_and_the_way_out(tables):
    x, kind = make_rows(30)
    rows = [[*r, k] for r, k in zip(x, kind)]
    rows[4][1], rows[9][2], rows[12][0] = "", "NA", "?"
    write_csv(tables / "holes.csv", rows, ["a", "b", "c", "kind"])
    proc = run("train", "--data", "holes.csv", "--epochs", "1", "--verbose", "0", cwd=tables)
    line = one_error_line(proc.stderr)
    assert (
        "holes.csv: missing values (3 rows; the first at line 6, column 'b', which is "
        "empty)" in line
    )
    assert "--drop-missing" in line
    proc = run(
        "train",
        "--data",
        "holes.csv",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--drop-missing",
        "--out",
        "h.npz",
        cwd=tables,
    )
    assert proc.returncode == 0, proc.stderr
    assert "left out 3 of 30 rows of holes.csv with missing values" in proc.stdout
    proc = run("evaluate", "h.npz", "--data", "holes.csv", "--drop-missing", cwd=tables)
    assert proc.returncode == 0 and "27 samples" in proc.stdout
    proc = run("predict", "h.npz", "holes.csv", cwd=tables)
    assert "missing values" in one_error_line(proc.stderr)


def test_a_file_without_header_keeps_its_first_row(tables):
    x, kind = make_rows(25)
    write_csv(tables / "bare.csv", [[*r, int(k == "up")] for r, k in zip(x, kind)], None)
    proc = run(
        "train",
        "--data",
        "bare.csv",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--out",
        "b.npz",
        cwd=tables,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run("evaluate", "b.npz", "--data", "bare.csv", cwd=tables)
    assert proc.returncode == 0 and proc.stdout.startswith("25 samples"), proc.stderr
    proc = run("predict", "b.npz", "bare.csv", cwd=tables)  # the target column goes
    assert proc.returncode == 0, proc.stderr
    assert assert_printed_predictions(proc.stdout, tables / "b.npz", x, ["0", "1"])
    # forced either way
    proc = run(
        "evaluate", "b.npz", "--data", "bare.csv", "--header", "--target", "col3", cwd=tables
    )
    assert proc.returncode == 1  # the first row's numbers are now names
    proc = run("evaluate", "b.npz", "--data", "cls.csv", "--no-header", cwd=tables)
    assert "line 1, column 'col0' holds 'a'" in one_error_line(proc.stderr)


@pytest.mark.parametrize(
    "sep, given", [(";", None), ("\t", None), ("|", None), (";", ";"), ("\t", "tab")]
)
def test_separators(tables, sep, given):
    x, kind = make_rows(40)
    write_csv(
        tables / "s.csv", [[*r, k] for r, k in zip(x, kind)], ["a", "b", "c", "kind"], sep=sep
    )
    extra = ["--sep", given] if given else []
    proc = run(
        "train",
        "--data",
        "s.csv",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--out",
        "s.npz",
        *extra,
        cwd=tables,
    )
    assert proc.returncode == 0, proc.stderr
    proc = run("info", "s.npz", cwd=tables)
    assert "3 features" in proc.stdout and "classes      down, up" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--data", "missing.csv"], "missing.csv: no such file"),
        (["train", "--data", "clss.csv"], "clss.csv: no such file (did you mean 'cls.csv'?)"),
        (["train", "--data", "mnsit"], "unknown data 'mnsit'; did you mean 'mnist'?"),
        (["evaluate", "m.npz", "--data", "digit"], "did you mean 'digits'?"),
        (["train", "--data", "weather"], "unknown data 'weather': expected digits"),
        (["train", "--data", "cls.csv", "--layers", "0"], "layer sizes must be positive"),
        (["train", "--data", "cls.csv", "--layers", "16,,8"], "empty layer size in '16,,8'"),
        (["train", "--data", "cls.csv", "--layers", "16,"], "empty layer size"),
        (["train", "--data", "cls.csv", "--epochs", "-3"], "expected a positive integer"),
        (["train", "--data", "cls.csv", "--optimizer", "adamw"], "invalid choice: 'adamw'"),
        (["train", "--data", "cls.csv", "--target", "nope"], "no column named 'nope'"),
        (["train", "--data", "cls.csv", "--target", "Kind"], "(did you mean 'kind'?)"),
        (["train", "--data", "cls.csv", "--validation-split", "2"], "fraction"),
        (["train", "--data", "cls.csv", "--learning-rate", "nan"], "finite"),
        (["train", "--data", "cls.csv", "--features", "a,,b"], "empty column name"),
        (["train", "--data", "cls.csv", "--sep", "ab"], "expected one character"),
        (["train", "--data", "digits", "--drop", "a"], "--drop applies to CSV files"),
        (
            [
                "train",
                "--data",
                "reg.csv",
                "--target",
                "a",
                "--task",
                "regression",
                "--layers",
                "4",
                "--epochs",
                "1",
                "--verbose",
                "0",
                "--out",
                "x.npz",
            ],
            None,
        ),
        (["evaluate", "absent.npz", "--data", "digits"], "absent.npz"),
        (["evaluate", "cls.csv", "--data", "digits"], "cls.csv"),
        (["predict", "absent.npz", "new.csv"], "absent.npz"),
        (["info", "."], ".: is a folder"),
        (["info"], "the following arguments are required: model"),
        (["fly"], "invalid choice: 'fly'"),
        (["train", "--data", "mnist", "--data-home", "empty-folder", "--verbose", "0"], "mnist"),
    ],
)
def test_errors_are_one_line(tables, args, message):
    env = dict(os.environ, NNSCRATCH_DATA=str(tables / "nothing-here"))
    proc = run(*args, cwd=tables, env=env)
    if message is None:  # a valid command among the error cases, to prove the setup works
        assert proc.returncode == 0, proc.stderr
        return
    assert proc.returncode != 0
    assert message in one_error_line(proc.stderr)


def test_messages_show_labels_as_plain_text(trained):
    folder, fresh, fresh_kind, _ = trained
    labels = np.where(fresh_kind == "up", "apple", "pear")
    write_csv(
        folder / "fruit.csv", [[*r, k] for r, k in zip(fresh, labels)], ["a", "b", "c", "kind"]
    )
    proc = run("evaluate", "m.npz", "--data", "fruit.csv", cwd=folder)
    line = one_error_line(proc.stderr)
    assert (
        "labels 'apple', 'pear' that the model does not know (its classes: 'down', 'up')" in line
    )
    assert "np.str_" not in line


def run_trusting(hashes, *args, cwd):
    """run(), with Fashion-MNIST's published SHA-256 replaced by those of test files
    (the loaders check every file against them)."""
    code = (
        "import sys, nnscratch.cli as cli, nnscratch.datasets._mnist as m; "
        f"m.DATASETS['fashion-mnist']['files'] = {hashes!r}; sys.exit(cli.main())"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_train_and_evaluate_on_a_fashion_mnist_folder(tmp_path):
    """Built-in sets with class names (not digits) map labels by index."""
    from test_loaders import small_set

    hashes = small_set(tmp_path / "data" / "fashion-mnist", n_train=40, n_test=10)
    proc = run_trusting(
        hashes,
        "train",
        "--data",
        "fashion-mnist",
        "--data-home",
        "data",
        "--epochs",
        "2",
        "--verbose",
        "0",
        "--out",
        "f.npz",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout and "on 10 held-out images" in proc.stdout
    proc = run_trusting(
        hashes, "evaluate", "f.npz", "--data", "fashion-mnist", "--data-home", "data", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "Ankle boot" in proc.stdout and proc.stdout.startswith("10 samples")
    header = proc.stdout.splitlines()[-11]  # columns named, shortened to 8 characters
    for short in ("T-shirt.", "Trouser", "Pullover", "Ankle b."):
        assert f" {short}" in header


def test_the_console_script_is_installed():
    from pathlib import Path

    script = Path(sys.executable).parent / "nnscratch"
    if not script.exists():
        pytest.skip("nnscratch was not installed as a package in this environment")
    proc = subprocess.run([str(script), "info", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: nnscratch info" in proc.stdout


# ------------------------------------------------------------- damaged files
def test_damaged_metadata_is_one_line_for_every_field(trained, tmp_path, monkeypatch):
    import nnscratch.saving as saving
    from nnscratch import load_model

    folder = trained[0]
    damage = {
        "class_names": ["up"],  # shorter than the outputs: was an IndexError
        "feature_names": ["a", "b"],
        "task": "clustering",
        "input_offset": [0.0, 1.0],
        "input_scale": "big",
        "target_name": 7,
        "ignored_columns": "x",
    }
    for key, value in damage.items():
        net = load_model(folder / "m.npz")
        net.metadata[key] = value
        # saving refuses such metadata; write the damaged file past that check
        monkeypatch.setattr(saving, "check_metadata", lambda *args: None)
        monkeypatch.setattr(saving, "LEGACY_SCALING_KEYS", ())  # 0.2's keys: refused too
        path = net.save(tmp_path / f"bad_{key}.npz")
        monkeypatch.undo()
        for command in (
            ["info", path],
            ["evaluate", path, "--data", folder / "cls.csv"],
            ["predict", path, folder / "new.csv"],
        ):
            status, _, err = call(*command)
            assert status == 1, (key, command)
            line = one_error_line(err)
            assert path in line and key.split("_")[0] in line.replace(" ", "_"), line
    proc = run("predict", tmp_path / "bad_class_names.npz", "new.csv", cwd=folder)
    assert "class_names lists 1 names, but the network has 2 outputs" in one_error_line(
        proc.stderr
    )


def test_csv_trouble_through_the_command_line(trained, tmp_path):
    folder = trained[0]
    long = tmp_path / "long.csv"
    long.write_text("a,b,c,note\n1,2,3," + "z" * 200_000 + "\n")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("a,b,c\n1,2,3\n4,5,6\ncaf\xe9,1,2\n".encode("latin-1"))
    kg = tmp_path / "kg.csv"
    kg.write_text("a,b,c\n1,2,3\n4,3.5kg,6\n")
    for path, message in (
        (long, None),
        (latin, "byte 0xe9 at offset 21, line 4"),
        (kg, "line 3, column 'b' holds '3.5kg'"),
    ):
        proc = (
            run("predict", "m.npz", path, "--drop", "note", cwd=folder)
            if path == long
            else run("predict", "m.npz", path, cwd=folder)
        )
        if message is None:
            assert proc.returncode == 0, proc.stderr
            continue
        line = one_error_line(proc.stderr)
        assert str(path) in line and message in line


def mutants(data, rng, count):
    """Damaged copies of ``data``: byte flips, truncations, insertions and garbage."""
    for _ in range(count):
        kind = rng.integers(4)
        if kind == 0:
            i = int(rng.integers(len(data)))
            yield data[:i] + bytes([data[i] ^ int(rng.integers(1, 256))]) + data[i + 1 :]
        elif kind == 1:
            yield data[: int(rng.integers(len(data)))]
        elif kind == 2:
            i = int(rng.integers(len(data) + 1))
            junk = rng.choice(
                [
                    b"\x00",
                    b"\xff",
                    b'"',
                    b",",
                    b";",
                    b"\n",
                    b"\r",
                    b"nan",
                    b"\xe9",
                    b"\t",
                    b"1e999",
                    b"?",
                ]
            )
            yield data[:i] + junk * int(rng.integers(1, 4)) + data[i:]
        else:
            yield rng.bytes(int(rng.integers(0, 300)))


def check_commands(commands):
    for command in commands:
        status, _, err = call(*command)
        assert status in (0, 1), (command, err)
        assert "Traceback" not in err
        if status == 1:
            one_error_line(err)


def test_garbage_csv_files_never_raise(trained, tmp_path):
    folder = trained[0]
    rng = np.random.default_rng(2024)
    x, kind = make_rows(12)
    good = "a,b,c,kind\n" + "".join(f"{r[0]},{r[1]},{r[2]},{k}\n" for r, k in zip(x, kind))
    for n, data in enumerate(mutants(good.encode(), rng, 150)):
        path = tmp_path / f"m{n}.csv"
        path.write_bytes(data)
        check_commands(
            [
                [
                    "train",
                    "--data",
                    path,
                    "--epochs",
                    "1",
                    "--layers",
                    "2",
                    "--verbose",
                    "0",
                    "--out",
                    tmp_path / "t.npz",
                ],
                ["evaluate", folder / "m.npz", "--data", path],
                ["predict", folder / "m.npz", path],
            ]
        )


def test_damaged_npz_data_files_never_raise(trained, tiny_model, tmp_path):
    x, kind = make_rows(8)
    np.savez(tmp_path / "good.npz", x=x, y=(kind == "up").astype(int))
    data = (tmp_path / "good.npz").read_bytes()
    rng = np.random.default_rng(11)
    path = tmp_path / "damaged.npz"
    for mutant in mutants(data, rng, 100):
        path.write_bytes(mutant)
        check_commands(
            [
                [
                    "train",
                    "--data",
                    path,
                    "--epochs",
                    "1",
                    "--layers",
                    "2",
                    "--verbose",
                    "0",
                    "--out",
                    tmp_path / "t.npz",
                ],
                ["evaluate", tiny_model, "--data", path],
                ["predict", tiny_model, path],
            ]
        )


def model_commands(path, folder):
    return [
        ["info", path],
        ["evaluate", path, "--data", folder / "cls.csv"],
        ["predict", path, folder / "new.csv"],
    ]


@pytest.fixture(scope="module")
def tiny_model(trained):
    """A small model file (about 6 KB) written by ``nnscratch train``."""
    folder = trained[0]
    status, _, err = call(
        "train",
        "--data",
        folder / "cls.csv",
        "--layers",
        "2",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--out",
        folder / "tiny.npz",
    )
    assert status == 0, err
    return folder / "tiny.npz"


def test_damaged_model_files_never_raise(trained, tiny_model, tmp_path):
    folder = trained[0]
    data = tiny_model.read_bytes()
    rng = np.random.default_rng(7)
    path = tmp_path / "damaged.npz"
    for mutant in mutants(data, rng, 120):
        path.write_bytes(mutant)
        check_commands(model_commands(path, folder))
    for cut in range(0, len(data), max(1, len(data) // 40)):
        path.write_bytes(data[:cut])
        check_commands(model_commands(path, folder))


@pytest.mark.slow
def test_every_byte_of_a_model_file_flipped(trained, tiny_model, tmp_path):
    """info at every byte position; evaluate and predict at every fifth (about a minute)."""
    folder = trained[0]
    data = tiny_model.read_bytes()
    path = tmp_path / "flipped.npz"
    for i in range(len(data)):
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
        check_commands(model_commands(path, folder)[: 1 if i % 5 else 3])


def test_models_saved_from_python_work_without_metadata(tmp_path):
    import nnscratch as nn

    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 3))
    np.savez(tmp_path / "reg.npz", x=x, y=x @ [1.0, -2.0, 0.5])
    np.savez(tmp_path / "cls.npz", x=x, y=(x[:, 0] > 0).astype(int))
    reg = nn.NeuralNetwork([3, 4, 1], "relu", "identity", "mse", nn.Adam(), seed=0)
    cls = nn.NeuralNetwork(
        [3, 4, 2], "relu", "softmax", "categorical_crossentropy", nn.Adam(), seed=0
    )
    reg_path, cls_path = reg.save(tmp_path / "r.npz"), cls.save(tmp_path / "c.npz")
    status, out, err = call("evaluate", reg_path, "--data", tmp_path / "reg.npz")
    assert status == 0 and "R^2" in out and "accuracy" not in out, err
    status, out, err = call("evaluate", cls_path, "--data", tmp_path / "cls.npz")
    assert status == 0 and "confusion matrix" in out, err


def test_dropping_a_column_the_model_needs_is_refused(trained):
    folder = trained[0]
    status, _, err = call("predict", folder / "m.npz", folder / "new.csv", "--drop", "b,a")
    assert status == 1
    assert "--drop b,a: the model needs these columns" in one_error_line(err)


def test_an_unwritable_folder_is_found_before_training(tables, monkeypatch):
    """Root writes anywhere, so the refusal of the probe file is simulated here."""
    import nnscratch.cli.train as train

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("nnscratch._paths.tempfile.mkstemp", refuse)
    monkeypatch.setattr(train, "_training_data", lambda args: pytest.fail("data was loaded"))
    status, _, err = call(
        "train", "--data", tables / "cls.csv", "--out", tables / "locked" / "m.npz"
    )
    assert status == 1
    assert "--out" in err and "cannot write in the folder" in one_error_line(err)
    assert "Permission denied" in err


def test_plot_without_matplotlib_is_found_before_training(tables, monkeypatch):
    import nnscratch.cli.train as train

    real = train.importlib.util.find_spec
    monkeypatch.setattr(
        train.importlib.util,
        "find_spec",
        lambda name: None if name == "matplotlib" else real(name),
    )
    monkeypatch.setattr(train, "_training_data", lambda args: pytest.fail("data was loaded"))
    status, _, err = call(
        "train",
        "--data",
        tables / "cls.csv",
        "--plot",
        tables / "c.png",
        "--out",
        tables / "m.npz",
    )
    assert status == 1 and "pip install -e '.[plot]'" in one_error_line(err)


def test_ctrl_c_is_not_swallowed(tables, monkeypatch):
    import nnscratch.cli.info as info

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "_load_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["info", str(tables / "m.npz")])


# ------------------------------------------------- array files read batch by batch (issue 12)
def test_train_evaluate_predict_on_memory_mapped_and_hdf5_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1200, 12)).astype(np.uint8)
    y = (x[:, 0] > 128).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    proc = run(
        "train",
        "--data",
        "x.npy",
        "--labels",
        "y.npy",
        "--epochs",
        "4",
        "--verbose",
        "0",
        "--out",
        "m.npz",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    model = nn.load_model(tmp_path / "m.npz")
    assert type(model.input_transform).__name__ == "Scale"  # uint8 pixels scaled per batch
    proc = run("evaluate", "m.npz", "--data", "x.npy", "--labels", "y.npy", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    accuracy = float(re.search(r"accuracy ([0-9.]+)%", proc.stdout).group(1)) / 100
    assert accuracy == pytest.approx(model.score(x, y, accuracy=True), abs=1e-4)
    proc = run("predict", "m.npz", "x.npy", "--output", "p.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert assert_printed_predictions(
        (tmp_path / "p.csv").read_text(), tmp_path / "m.npz", x, ["0", "1"]
    )
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"] = x.astype(np.float32)
        f["y"] = y
    proc = run(
        "train",
        "--data",
        "d.h5:x",
        "--labels",
        "d.h5:y",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--out",
        "h.npz",
        "--shuffle-buffer",
        "300",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert type(nn.load_model(tmp_path / "h.npz").input_transform).__name__ == "Standardize"
    proc = run("train", "--data", "x.npy", "--epochs", "1", cwd=tmp_path)
    assert proc.returncode == 1 and "--labels" in proc.stderr
