"""Model files that are data, atomic writes, damaged files, divergence and Ctrl-C."""

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile

import numpy as np
import pytest

import nnscratch as nn
from nnscratch.schedules import CosineDecay


def data(n=80, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.normal(size=(n, 4)) + y[:, None], y


def make(seed=0, **kwargs):
    opt = kwargs.pop("optimizer", nn.Adam(CosineDecay(0.01, decay_steps=100)))
    return nn.NeuralNetwork(
        [4, 8, 3],
        "relu",
        "softmax",
        "categorical_crossentropy",
        opt,
        seed=seed,
        dropout=0.2,
        **kwargs,
    )


# ------------------------------------------------------------------------- model files
def test_save_and_load_model_predicts_identically(tmp_path):
    x, y = data()
    net = make()
    net.fit(x, y, 16, 3, categorical=True, verbose=0, validation_split=0.2)
    path = net.save(tmp_path / "model")
    assert path.endswith("model.npz")
    loaded = nn.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    assert loaded.layers == net.layers and loaded.dtype == net.dtype
    assert loaded.history == net.history
    assert repr(loaded) == repr(net)
    assert isinstance(loaded.optimizer.learning_rate, CosineDecay)


@pytest.mark.parametrize(
    "optimizer",
    [nn.SGD(0.05, 0.9, nesterov=True), nn.Adam(0.01), nn.RMSprop(0.01), nn.Adagrad(0.1)],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resumed_training_is_bit_identical(tmp_path, optimizer, dtype):
    x, y = data()
    straight = make(seed=3, optimizer=optimizer, dtype=dtype)
    straight.fit(x, y, 16, 2, categorical=True, verbose=0)
    path = straight.save(tmp_path / "half.npz")
    resumed = nn.load_model(path)
    a = straight.fit(x, y, 16, 3, categorical=True, verbose=0)
    b = resumed.fit(x, y, 16, 3, categorical=True, verbose=0)
    assert a == b
    np.testing.assert_array_equal(straight.get_flat_params(), resumed.get_flat_params())
    for key in ("loss", "accuracy", "learning_rate"):
        assert resumed.history[key] == straight.history[key]


def swish(z):
    return z * nn.sigmoid(z)


def d_swish(z):
    s = nn.sigmoid(z)
    return s + z * s * (1 - s)


class SignSGD:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def get_config(self):
        return {"learning_rate": self.learning_rate}

    def update(self, old_params, gradient):
        return old_params - self.learning_rate * np.sign(gradient)


def test_users_own_pieces_save_under_registered_names(tmp_path):
    x, y = data()
    net = nn.NeuralNetwork(
        [4, 5, 3], (swish, d_swish), "softmax", "categorical_crossentropy", SignSGD(0.02), seed=0
    )
    net.fit(x, y, 16, 2, categorical=True, verbose=0)
    with pytest.raises(ValueError, match=r"register_activation\('swish', swish, d_swish\)"):
        net.save(tmp_path / "m.npz")
    nn.register_activation("swish_safety", swish, d_swish)
    try:
        with pytest.raises(ValueError, match=r"register_optimizer\('signsgd', SignSGD\)"):
            net.save(tmp_path / "m.npz")
        nn.register_optimizer("signsgd_safety", SignSGD)
        try:
            path = net.save(tmp_path / "m.npz")
            loaded = nn.load_model(path)
            np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
            assert loaded.optimizer.learning_rate == 0.02
        finally:
            nn.registry.optimizers.unregister("signsgd_safety")
        with pytest.raises(
            ValueError, match="optimizer 'signsgd_safety', which is not registered.*custom_objects"
        ):
            nn.load_model(path)
        loaded = nn.load_model(path, custom_objects={"signsgd_safety": SignSGD})
        np.testing.assert_array_equal(loaded.predict(x), net.predict(x))
    finally:
        nn.registry.hidden_activations.unregister("swish_safety")
    with pytest.raises(ValueError, match="hidden activation 'swish_safety'.*register"):
        nn.load_model(path, custom_objects={"signsgd_safety": SignSGD})
    loaded = nn.load_model(
        path, custom_objects={"signsgd_safety": SignSGD, "swish_safety": (swish, d_swish)}
    )
    np.testing.assert_array_equal(loaded.predict(x), net.predict(x))


# ---------------------------------------------------------------------- damaged files
@pytest.fixture
def saved(tmp_path):
    net = make()
    return net.save(tmp_path / "good.npz")


def test_truncated_file(saved, tmp_path):
    raw = open(saved, "rb").read()
    for cut in (10, len(raw) // 2, len(raw) - 5):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.npz: not a readable nnscratch model"):
            nn.load_model(bad)


def test_random_bytes(tmp_path):
    bad = tmp_path / "noise.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(
        ValueError,
        match="noise.npz: not a readable nnscratch model file "
        r"\(it is not an \.npz archive",
    ):
        nn.load_model(bad)


def test_a_different_format(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.ones(3))
    with pytest.raises(ValueError, match="other.npz: not an nnscratch model file"):
        nn.load_model(other)
    params = make().save_params(tmp_path / "params")
    with pytest.raises(ValueError, match=r"params.npy.*a single \.npy array"):
        nn.load_model(params)


def rewrite_meta(path, out, change):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("version", [3, 99, 2**40])
def test_a_newer_format_version(saved, tmp_path, version):
    """Issue 20 (model files): a newer format says it was written by a newer nnscratch."""
    newer = rewrite_meta(
        saved,
        tmp_path / "newer.npz",
        lambda m: m.update(format_version=version, library_version="9.0"),
    )
    with pytest.raises(
        ValueError,
        match=f"newer.npz: written by a newer nnscratch \\(9.0, model-file format {version}\\)"
        f"; this nnscratch \\({nn.__version__}\\) reads formats up to 2.*Upgrade",
    ):
        nn.load_model(newer)


def test_a_damaged_description(saved, tmp_path):
    broken = rewrite_meta(saved, tmp_path / "broken.npz", lambda m: m.pop("layers"))
    with pytest.raises(ValueError, match="broken.npz: the model description is incomplete"):
        nn.load_model(broken)
    wrong = rewrite_meta(saved, tmp_path / "wrong.npz", lambda m: m.update(layers=[4, 9, 3]))
    with pytest.raises(ValueError, match="wrong.npz: holds 67 float64 parameters"):
        nn.load_model(wrong)


class Marker:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_object_arrays_are_refused_and_run_no_code(saved, tmp_path):
    marker = tmp_path / "pwned"
    with np.load(saved, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    evil = np.empty(1, dtype=object)
    evil[0] = Marker(str(marker))
    arrays["params"] = evil
    np.savez(tmp_path / "evil.npz", **arrays)
    assert b"pwned" in open(tmp_path / "evil.npz", "rb").read()  # the payload is in there
    with pytest.raises(ValueError, match="evil.npz: member params.npy holds Python objects"):
        nn.load_model(tmp_path / "evil.npz")
    assert not marker.exists()
    (tmp_path / "evil.npy").write_bytes(b"")
    with open(tmp_path / "evil.npy", "wb") as handle:
        np.save(handle, evil, allow_pickle=True)
    with pytest.raises(ValueError, match="evil.npy"):
        make().load_params(tmp_path / "evil.npy")
    assert not marker.exists()


def test_pickle_inside_the_zip_is_never_touched(saved, tmp_path):
    marker = tmp_path / "pwned2"
    target = tmp_path / "extra.npz"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("payload.pkl", pickle.dumps(Marker(str(marker))))
    # a member the file does not declare is refused by name (issue 20), and never read
    with pytest.raises(ValueError, match="extra.npz: member payload.pkl is not one"):
        nn.load_model(target)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["junk.npy", "optimizer.extra.npy", "params.npy.bak", "a/b.npy"])
def test_a_member_the_file_does_not_declare_is_refused(saved, tmp_path, name):
    """Issue 20 (model files): an extra member (a pickled .npy, say) was accepted."""
    target = tmp_path / "extra.npz"
    with zipfile.ZipFile(saved) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr(name, pickle.dumps(Marker(str(tmp_path / "pwned3"))))
    with pytest.raises(ValueError, match=f"extra.npz: member {name} is not one"):
        nn.load_model(target)
    assert not (tmp_path / "pwned3").exists()


@pytest.mark.parametrize("where", ["folder", "folder.npz"])
def test_a_folder_is_the_librarys_error_naming_it(tmp_path, where):
    """Issue 20 (model files): load_model(a_directory) raised IsADirectoryError."""
    (tmp_path / where).mkdir()
    with pytest.raises(ValueError, match=f"{where}: is a folder, not a model file"):
        nn.load_model(tmp_path / where)


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        nn.load_model(tmp_path / "absent.npz")


# ---------------------------------------------------------------------- atomic writes
WRITER = textwrap.dedent("""
    import sys, numpy as np, nnscratch as nn
    net = nn.NeuralNetwork([50, 400, 10], "relu", "softmax", "categorical_crossentropy",
                           "adam", seed=0)
    print("ready", flush=True)
    i = 0
    while True:
        net.biases[0][0, 0] = i
        net.save(sys.argv[1])
        net.save_params(sys.argv[2])
        i += 1
""")


def test_killed_while_saving_leaves_a_loadable_file(tmp_path):
    model, params = tmp_path / "m.npz", tmp_path / "p.npy"
    rng = np.random.default_rng(0)
    reference = nn.NeuralNetwork(
        [50, 400, 10], "relu", "softmax", "categorical_crossentropy", "adam", seed=0
    )
    for attempt in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(model), str(params)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05 + rng.uniform(0, 0.4))
        proc.send_signal(signal.SIGKILL if attempt % 2 else signal.SIGSTOP)
        if attempt % 2 == 0:  # paused mid-write: the file on disk must still be whole
            loaded = nn.load_model(model) if model.exists() else None
            proc.kill()
        proc.wait()
        if model.exists():
            loaded = nn.load_model(model)
            assert loaded.layers == [50, 400, 10]
        if params.exists():
            reference.load_params(params)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    # a killed writer may leave its temporary file, but never a broken target;
    # a successful save leaves none (checked below)
    for name in leftovers:
        (tmp_path / name).unlink()
    make().save(tmp_path / "clean.npz")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("where", [(np.lib.format, "write_array"), (os, "fsync")])
def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch, where):
    net = make()
    path = net.save(tmp_path / "keep.npz")
    before = open(path, "rb").read()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(*where, explode)
    with pytest.raises(OSError, match="disk full"):
        net.save(path)
    assert open(path, "rb").read() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.npz"]


# -------------------------------------------------------------------------- divergence
def test_divergence_stops_restores_and_says_what_to_try():
    x, y = data()
    kept = []

    class Keep(nn.Callback):
        def on_epoch_end(self, epoch, logs):
            kept.append(self.network.get_flat_params())

    net = nn.NeuralNetwork(
        [4, 8, 3], "relu", "softmax", "categorical_crossentropy", nn.SGD(1e9, 0.9), seed=0
    )
    start = net.get_flat_params()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        losses = net.fit(x, y, 16, 50, categorical=True, verbose=0, callbacks=[Keep()])
    messages = [str(w.message) for w in caught if issubclass(w.category, nn.DivergenceWarning)]
    assert len(messages) == 1
    assert f"diverged in epoch {len(losses) + 1}" in messages[0]
    assert "smaller learning rate (it is 1e+09)" in messages[0]
    assert len(losses) < 50 and len(net.history["loss"]) == len(losses) == len(kept)
    assert np.isfinite(net.get_flat_params()).all()
    # the parameters are those from the start of the epoch that diverged
    np.testing.assert_array_equal(net.get_flat_params(), kept[-1] if kept else start)
    assert all(np.isfinite(losses))


# --------------------------------------------------------------------------- Ctrl-C
INTERRUPTED = textwrap.dedent("""
    import os, signal, sys, warnings, numpy as np, nnscratch as nn
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 20)); y = rng.integers(0, 3, 4000)

    class Signal(nn.Callback):
        def on_batch_end(self, batch, logs):
            if len(self.network.history.get("loss", [])) == 2 and batch == 5:
                os.kill(os.getpid(), signal.SIGINT)

    net = nn.NeuralNetwork([20, 64, 3], "relu", "softmax", "categorical_crossentropy",
                           "adam", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses = net.fit(x, y, 32, 50, categorical=True, verbose=0, callbacks=[Signal()])
    print("returned", len(losses), len(net.history["loss"]))
    print("finite", bool(np.isfinite(net.get_flat_params()).all()))
    print("warned", [w.category.__name__ for w in caught])
    print("predicts", net.predict(x[:3], labels=True).shape)
""")


def test_ctrl_c_keeps_the_model_and_returns_normally():
    proc = subprocess.run(
        [sys.executable, "-c", INTERRUPTED], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "returned 2 2" in out
    assert "finite True" in out
    assert "TrainingInterrupted" in out
    assert "predicts (3,)" in out


def test_sigint_handler_is_restored_after_fit():
    before = signal.getsignal(signal.SIGINT)
    x, y = data()
    make().fit(x, y, 16, 1, categorical=True, verbose=0)
    assert signal.getsignal(signal.SIGINT) is before
