"""Atomic writes: read-only targets, symbolic links, temporary files (issue 9, points 6, 14)."""

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nnscratch as nn
from nnscratch import _atomic
from nnscratch._atomic import atomic_write


def small_network():
    return nn.NeuralNetwork(
        [3, 4, 2], "relu", "softmax", "categorical_crossentropy", "adam", seed=0
    )


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# every way the library writes a file
WRITERS = {
    "save": lambda net, path: net.save(path),
    "save_params": lambda net, path: net.save_params(path),
    "atomic text": lambda net, path: _write_text(path),
}


def _write_text(path):
    with atomic_write(path, "w") as handle:
        handle.write("hello\n")
    return str(path)


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("mode", [0o444, 0o400, 0o440, 0o000])
def test_read_only_targets_are_refused_like_open_even_for_root(tmp_path, writer, mode):
    suffix = {"save": ".npz", "save_params": ".npy"}.get(writer, ".txt")
    target = tmp_path / f"locked{suffix}"
    target.write_bytes(b"keep me")
    target.chmod(mode)
    try:
        with pytest.raises(PermissionError) as caught:
            WRITERS[writer](small_network(), target)
        assert caught.value.errno == errno.EACCES
        assert caught.value.filename == str(target)
        assert str(target) in str(caught.value) and ".tmp" not in str(caught.value)
        target.chmod(0o600)
        assert target.read_bytes() == b"keep me"
        assert temporaries(tmp_path) == []
    finally:
        target.chmod(0o600)


def test_root_is_refused_too(tmp_path):
    """The rule holds for root, for whom os.access says every file is writable."""
    target = tmp_path / "ro.npz"
    target.write_bytes(b"x")
    target.chmod(0o444)
    if os.geteuid() == 0:
        assert os.access(target, os.W_OK)  # why the mode bits must be looked at
    with pytest.raises(PermissionError, match="ro.npz"):
        small_network().save(target)
    target.chmod(0o644)


@pytest.mark.parametrize("writer", WRITERS)
def test_writing_through_a_symlink_replaces_its_target(tmp_path, writer):
    suffix = {"save": ".npz", "save_params": ".npy"}.get(writer, ".txt")
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / f"file{suffix}"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / f"link{suffix}"
    link.symlink_to(real)
    chain = tmp_path / f"chain{suffix}"
    chain.symlink_to(link)
    for name in (link, chain):
        WRITERS[writer](small_network(), name)
        assert name.is_symlink() and link.is_symlink()
        assert real.read_bytes() != b"old"
        assert stat.S_IMODE(real.stat().st_mode) == 0o640  # the target keeps its mode
        assert temporaries(tmp_path) == [] and temporaries(real_dir) == []
    if writer == "save":
        nn.load_model(chain)


def test_dangling_symlink_creates_its_target_like_open(tmp_path):
    link = tmp_path / "link.npz"
    link.symlink_to(tmp_path / "new.npz")
    small_network().save(link)
    assert link.is_symlink() and (tmp_path / "new.npz").is_file()


def test_a_folder_as_target(tmp_path):
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(IsADirectoryError, match="dir.npz"):
        small_network().save(tmp_path / "dir.npz")


@pytest.mark.parametrize("step", ["mkstemp", "replace", "fsync", "chmod"])
def test_errors_name_the_target_never_the_temporary_file(tmp_path, monkeypatch, step):
    target = tmp_path / "model.npz"
    real = {
        "mkstemp": _atomic.tempfile.mkstemp,
        "replace": os.replace,
        "fsync": os.fsync,
        "chmod": os.chmod,
    }[step]

    def failing(*args, **kwargs):
        if step == "mkstemp":
            raise PermissionError(
                errno.EACCES,
                "Permission denied",
                os.path.join(str(tmp_path), ".model.npz.1.abcdefgh.tmp"),
            )
        if step == "fsync":  # a descriptor: no file name
            raise OSError(errno.ENOSPC, "No space left on device")
        raise OSError(
            errno.ENOSPC,
            "No space left on device",
            args[0],
            *([str(target)] if step == "replace" else []),
        )

    owner = _atomic.tempfile if step == "mkstemp" else os
    monkeypatch.setattr(owner, step, failing)
    with pytest.raises(OSError) as caught:
        small_network().save(target)
    monkeypatch.setattr(owner, step, real)
    message = str(caught.value)
    assert ".tmp" not in message, message
    if step != "fsync":
        assert str(target) in message, message
    assert temporaries(tmp_path) == []


# ------------------------------------------------------------------ stale temporaries
def fake_temporary(folder, target_name, pid, age=0.0, tag="abcd1234"):
    path = folder / f".{target_name}.{pid}.{tag}.tmp"
    path.write_bytes(b"partial")
    if age:
        past = time.time() - age
        os.utime(path, (past, past))
    return path


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HOLDER = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(60)
""")


def test_orphans_are_removed_and_live_writers_kept(tmp_path):
    pytest.importorskip("fcntl")
    target = tmp_path / "model.npz"
    dead = dead_pid()
    orphan = fake_temporary(tmp_path, "model.npz", dead)  # dead writer
    old_live_pid = fake_temporary(tmp_path, "model.npz", os.getppid(), age=60)  # pid reused
    young_live_pid = fake_temporary(tmp_path, "model.npz", os.getppid(), tag="young_12")
    other_target = fake_temporary(tmp_path, "other.npz", dead)
    lookalike = tmp_path / ".model.npz.backup.tmp"
    lookalike.write_bytes(b"mine")
    held = fake_temporary(tmp_path, "model.npz", 4_000_000 - 1, age=60)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(held)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        small_network().save(target)
        assert not orphan.exists() and not old_live_pid.exists()
        assert young_live_pid.exists() and other_target.exists() and lookalike.exists()
        assert held.exists()  # a live writer holds its lock, whatever its name says
    finally:
        holder.kill()
        holder.wait()
    small_network().save(target)
    assert not held.exists()


WRITER = textwrap.dedent("""
    import sys, numpy as np, nnscratch as nn
    net = nn.NeuralNetwork([50, 400, 10], "relu", "softmax", "categorical_crossentropy",
                           "adam", seed=0)
    print("ready", flush=True)
    i = 0
    while True:
        net.biases[0][0, 0] = i
        net.save(sys.argv[1])
        i += 1
""")


@pytest.mark.slow
def test_killed_writers_leave_nothing_after_the_next_save(tmp_path):
    """SIGKILL a process saving in a loop 20 times: the target always loads, and
    the next successful save removes every temporary file the kills left."""
    target = tmp_path / "model.npz"
    rng = np.random.default_rng(0)
    left_behind = 0
    for _ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left_behind += len(temporaries(tmp_path))
        if target.exists():
            assert nn.load_model(target).layers == [50, 400, 10]
    small_network().save(target)
    assert temporaries(tmp_path) == []
    assert left_behind > 0  # the test did kill writers mid-write
    (tmp_path / "model.npz").chmod(0o644)


def test_two_threads_saving_one_target(tmp_path):
    """Concurrent writers of one target never delete each other's temporary file."""
    import threading

    target = tmp_path / "shared.npz"
    errors = []

    def work(seed):
        net = nn.NeuralNetwork(
            [20, 200, 5], "relu", "softmax", "categorical_crossentropy", "adam", seed=seed
        )
        try:
            for _ in range(15):
                net.save(target)
        except Exception as err:  # pragma: no cover - the failure being guarded
            errors.append(err)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert nn.load_model(target).layers == [20, 200, 5]
    assert temporaries(tmp_path) == []
