"""The command line under attack (issue 20, items 6, 7 and 18, and a message a new user met).

- Every data option that does not apply to the chosen data is refused, naming it
  (``--labels`` with ``--data digits`` was ignored).
- A CSV written by pandas with its default index: the unnamed first column that
  counts the rows is left out with a note (it became a feature).
- Paths with ``:`` in a folder name; HDF5 text labels; float64 values too large
  for the network's dtype or to standardise: one clear line, no raw warnings.
- "trained 1 epochs".
"""

import argparse
import contextlib
import io
import warnings

import numpy as np
import pytest

import nnscratch as nn
from nnscratch.cli import build_parser, main
from nnscratch.cli._tables import DATA_OPTIONS


def call(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a raw NumPy warning fails the test
            try:
                status = main([str(a) for a in args])
            except SystemExit as exit_:
                status = exit_.code
    return status, out.getvalue(), err.getvalue()


def error_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nnscratch: error: "), err
    return lines[0]


# ------------------------------------------------------------------ item 6: options
VALUES = {
    "--labels": ["y.npy"],
    "--target": ["c"],
    "--data-home": ["home"],
    "--split": ["train"],
    "--seed": ["3"],
    "--no-standardize": [],
    "--shuffle-buffer": ["10"],
    "--features": ["a"],
    "--drop": ["a"],
    "--sep": [","],
    "--header/--no-header": [],
    "--drop-missing": [],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kinds")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    rows = "\n".join(f"{a:.4f},{b:.4f},{c:.4f},{t}" for (a, b, c), t in zip(x, y))
    (folder / "t.csv").write_text("a,b,c,d\n" + rows + "\n")
    np.savez(folder / "t.npz", x=x, y=y)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    h5py = pytest.importorskip("h5py")
    with h5py.File(folder / "d.h5", "w") as handle:
        handle["x"] = x
    (folder / "home").mkdir()
    net = nn.NeuralNetwork([3, 4, 2], "relu", "softmax", "categorical_crossentropy", "adam")
    net.metadata = {"task": "classification", "class_names": ["0", "1"]}
    net.save(folder / "m.npz")
    return folder


KINDS = {
    "csv": "t.csv",
    "npz": "t.npz",
    "array": "x.npy",
    "store": "d.h5:x",
    "digits": "digits",
    "mnist": "mnist",
}


def commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("train", "evaluate", "predict"):
        options = {s for a in sub.choices[name]._actions for s in a.option_strings}
        yield name, options


def cases():
    for command, options in commands():
        for option, attribute, kinds, _ in DATA_OPTIONS:
            if option.split("/")[0] not in options:
                continue
            if command == "train" and attribute == "split_seed":
                continue  # train's --seed is the network's seed: it applies to all data
            for kind in KINDS:
                if command == "predict" and kind in ("digits", "mnist"):
                    continue  # predict reads files only
                if kind == "npz" and option == "--labels":
                    continue  # with --labels an .npz is an array file (FILE.npz:KEY)
                if kind == "mnist" and kind in kinds:
                    continue  # accepted: the run would download MNIST
                yield command, option, kind, kind in kinds


@pytest.mark.parametrize("command,option,kind,applies", list(cases()))
def test_an_option_that_does_not_apply_is_refused_naming_it(files, command, option, kind, applies):
    """Item 6: e.g. --labels with --data digits was silently ignored."""
    source = KINDS[kind] if kind in ("digits", "mnist") else files / KINDS[kind]
    flag = option.split("/")[0]
    extra = [flag, *VALUES[option]]
    if flag == "--labels" or (kind in ("array", "store") and command != "predict"):
        extra = [*extra, "--labels", files / "y.npy"] if flag != "--labels" else extra
    extra = [files / v if v in ("y.npy", "home") else v for v in extra]
    if command == "train":
        args = ["train", "--data", source, "--epochs", "1", "--verbose", "0"]
        args += ["--out", files / "out.npz"]
    elif command == "evaluate":
        args = ["evaluate", files / "m.npz", "--data", source]
    else:
        args = ["predict", files / "m.npz", source]
    if applies:
        _, _, err = call(*args, *extra)
        assert "applies to" not in err
        return
    status, _, err = call(*args, *extra)
    assert status == 1
    line = error_line(err)
    assert f"{flag if flag != '--header' else '--header/--no-header'} applies to" in line, line
    assert str(source) in line


# ------------------------------------------------------------- item 7: pandas index
def pandas_table(path, index_label, start=0, order=None):
    pd = pytest.importorskip("pandas", reason="writes the CSV as pandas does")
    rng = np.random.default_rng(1)
    n = 90
    kind = np.repeat(["a", "b", "c"], n // 3)  # sorted by class, as the wine data
    frame = pd.DataFrame(
        {"f1": rng.normal(size=n).round(3), "f2": rng.normal(size=n).round(3), "kind": kind}
    )
    frame.index = np.arange(start, start + n) if order is None else order
    frame.to_csv(path, index=True, index_label=index_label)
    return path


@pytest.mark.parametrize(
    "label,start", [(None, 0), (None, 1), ("Unnamed: 0", 0), ("", 0)], ids=str
)
def test_a_pandas_row_counter_is_left_out_with_a_note(tmp_path, label, start):
    """Item 7: pandas' default index became a feature (96% accuracy from the row number)."""
    path = pandas_table(tmp_path / "p.csv", label, start)
    status, out, err = call(
        "train", "--data", path, "--epochs", "1", "--verbose", "0", "--out", tmp_path / "m"
    )
    assert status == 0, err
    assert "counts the rows" in err and "left out" in err and "--features" in err
    net = nn.load_model(tmp_path / "m.npz")
    assert net.metadata["feature_names"] == ["f1", "f2"] and net.layers[0] == 2
    # the same file predicts, the counter matched as a column the model ignores
    status, out, err = call("predict", tmp_path / "m.npz", path)
    assert status == 0, err
    assert len(out.splitlines()) == 91


def test_a_named_or_shuffled_first_column_is_kept(tmp_path):
    for name, order, label in [
        ("named", None, "row"),  # named: the user's column
        ("shuffled", np.random.default_rng(2).permutation(90), None),  # not a counter
    ]:
        path = pandas_table(tmp_path / f"{name}.csv", label, order=order)
        status, _, err = call(
            "train", "--data", path, "--epochs", "1", "--verbose", "0", "--out", tmp_path / name
        )
        assert status == 0 and "counts the rows" not in err, err
        assert nn.load_model(tmp_path / f"{name}.npz").layers[0] == 3
    # --features keeps whatever it names
    path = pandas_table(tmp_path / "chosen.csv", None)
    status, _, err = call(
        "train", "--data", path, "--features", "col0,f1", "--epochs", "1", "--verbose", "0",
        "--out", tmp_path / "chosen",
    )  # fmt: skip
    assert status == 0 and "counts the rows" not in err
    assert nn.load_model(tmp_path / "chosen.npz").metadata["feature_names"] == ["col0", "f1"]


# ------------------------------------------------------------------ item 18
def array_files(folder):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    folder.mkdir(parents=True)
    np.save(folder / "x.npy", x)
    np.save(folder / "y.npy", y)
    np.savez(folder / "d.npz", x=x, y=y)
    h5py = pytest.importorskip("h5py")
    with h5py.File(folder / "d.h5", "w") as handle:
        handle["x"], handle["y"] = x, y
    return [
        (folder / "x.npy", folder / "y.npy"),
        (f"{folder / 'd.npz'}:x", f"{folder / 'd.npz'}:y"),
        (f"{folder / 'd.h5'}:x", f"{folder / 'd.h5'}:y"),
    ]


@pytest.mark.parametrize("folder", ["a:b", "x:y:z", "ends:"])
def test_colons_in_folder_names(tmp_path, folder):
    """Item 18: one place split FILE:MEMBER at the first colon, another at the last."""
    for data, labels in array_files(tmp_path / folder):
        model = tmp_path / "m.npz"
        status, _, err = call(
            "train", "--data", data, "--labels", labels, "--epochs", "1", "--verbose", "0",
            "--out", model,
        )  # fmt: skip
        assert status == 0, err
        status, out, err = call("evaluate", model, "--data", data, "--labels", labels)
        assert status == 0 and "60 samples" in out, err
        status, out, err = call("predict", model, data)
        assert status == 0 and len(out.splitlines()) == 61, err


@pytest.mark.parametrize("kind", ["vlen-str", "vlen-bytes", "fixed-bytes", "non-ascii"])
def test_hdf5_text_labels(tmp_path, kind):
    """Item 18: HDF5 variable-length string labels gave a bare NumPy ufunc error."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    names = ["kät", "hund"] if kind == "non-ascii" else ["cat", "dog"]
    words = [names[int(v > 0)] for v in x[:, 0]]
    with h5py.File(tmp_path / "d.h5", "w") as handle:
        handle["x"] = x
        if kind == "fixed-bytes":
            handle["y"] = np.array([w.encode() for w in words], dtype="S8")
        elif kind == "vlen-bytes":
            handle.create_dataset(
                "y", data=[w.encode() for w in words], dtype=h5py.string_dtype("ascii")
            )
        else:
            handle.create_dataset("y", data=words, dtype=h5py.string_dtype())
    data, labels = f"{tmp_path / 'd.h5'}:x", f"{tmp_path / 'd.h5'}:y"
    status, _, err = call(
        "train", "--data", data, "--labels", labels, "--epochs", "1", "--verbose", "0",
        "--out", tmp_path / "m",
    )  # fmt: skip
    assert status == 0, err
    assert nn.load_model(tmp_path / "m.npz").metadata["class_names"] == sorted(names)
    status, out, err = call("evaluate", tmp_path / "m.npz", "--data", data, "--labels", labels)
    assert status == 0 and "accuracy" in out, err


@pytest.mark.parametrize("value", [1e200, -1e200, 3e160])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("where", ["npy", "csv"])
def test_values_too_large_give_one_clear_line(tmp_path, value, dtype, standardize, where):
    """Item 18: a float64 .npy near 1e200 printed four RuntimeWarnings, then a misleading
    message about Standardize."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    x[:, 1] *= value
    y = (x[:, 0] > 0).astype(np.int64)
    if where == "npy":
        np.save(tmp_path / "x.npy", x)
        np.save(tmp_path / "y.npy", y)
        data = ["--data", tmp_path / "x.npy", "--labels", tmp_path / "y.npy"]
    else:
        rows = "\n".join(",".join(repr(v) for v in r) + f",{t}" for r, t in zip(x.tolist(), y))
        (tmp_path / "t.csv").write_text("a,b,c,k\n" + rows + "\n")
        data = ["--data", tmp_path / "t.csv"]
    status, _, err = call(
        "train", *data, "--epochs", "1", "--verbose", "0", "--dtype", dtype,
        *([] if standardize else ["--no-standardize"]), "--out", tmp_path / "m",
    )  # fmt: skip
    if dtype == "float64" and not standardize:
        return  # raw float64 values go in as they are: the network's own checks apply
    assert status == 1
    line = error_line(err)
    assert "rescale the data" in line and "Standardize" not in line
    assert not (tmp_path / "m.npz").exists()


def test_large_but_representable_values_are_standardised(tmp_path):
    """Data centred at 1e9 with spread 1 keeps its spread (the CLI's statistics merge
    deviations from each chunk's mean instead of subtracting E[x]^2 from E[x^2])."""
    from nnscratch.cli.train import _column_statistics

    rng = np.random.default_rng(0)
    x = 1e9 + rng.normal(size=(200_000, 2))
    mean, spread, peak = _column_statistics(x, "x", chunk_rows=4096)
    # float64 two-pass statistics as the reference; chunks sum in another order, so the
    # merge agrees to rounding (a few units of 1e-16 relative on the mean)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-13)
    # (float64 values near 1e9 are 1.2e-7 apart, so each deviation carries that rounding)
    np.testing.assert_allclose(spread, x.std(axis=0), rtol=1e-6)
    # the cancelling formula E[x^2] - E[x]^2 loses the spread entirely here
    naive = np.sqrt(np.maximum((x * x).mean(axis=0) - x.mean(axis=0) ** 2, 0))
    assert np.all(np.abs(naive - 1) > 0.5) and np.all(np.abs(spread - 1) < 0.01)
    assert peak == np.abs(x).max()


def test_one_epoch_is_not_epochs(tmp_path):
    """A message a new user met: "trained 1 epochs"."""
    status, out, _ = call(
        "train", "--data", "digits", "--epochs", "1", "--verbose", "0", "--out", tmp_path / "m"
    )
    assert status == 0 and "trained 1 epoch in" in out
    status, out, _ = call(
        "train", "--data", "digits", "--epochs", "2", "--verbose", "0", "--out", tmp_path / "m"
    )
    assert status == 0 and "trained 2 epochs in" in out
