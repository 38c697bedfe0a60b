"""Atomic writes: read-only targets, symbolic links, temporary files (issue 9, points 6, 14)."""

import errno
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

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
def test_roots_view_is_simulated_for_everyone(tmp_path, monkeypatch, writer):
    """As root, os.access says every file is writable; simulated here (os.access answers
    yes) so that a run as any user checks that the mode bits still refuse the write."""
    suffix = {"save": ".npz", "save_params": ".npy"}.get(writer, ".txt")
    target = tmp_path / f"ro{suffix}"
    target.write_bytes(b"keep me")
    target.chmod(0o444)
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: True)
    try:
        with pytest.raises(PermissionError) as caught:
            WRITERS[writer](small_network(), target)
        assert caught.value.errno == errno.EACCES and caught.value.filename == str(target)
        assert target.read_bytes() == b"keep me"
        assert temporaries(tmp_path) == []
    finally:
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


# A child that commits version 1 of a file, then starts writing version 2 and kills itself
# with SIGKILL from inside the step named on its command line: in the nth call of the
# temporary file's write (after passing on half of that call's bytes), in fsync, just
# before os.replace, or just after it.  "count" reports how many write calls a save makes.
KILLER = textwrap.dedent("""
    import os, signal, sys
    import nnscratch as nn
    target, how, point, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    net = nn.NeuralNetwork([20, 30, 4], "relu", "softmax", "categorical_crossentropy",
                           "adam", seed=0)
    def save():
        net.save(target) if how == "save" else net.save_params(target)
    net.biases[0][0, 0] = 1.0
    save()  # version 1, committed
    net.biases[0][0, 0] = 2.0
    calls = 0

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class Handle:
        def __init__(self, inner):
            self._inner = inner
        def write(self, data):
            global calls
            calls += 1
            if point == "write" and calls == nth:
                view = memoryview(data).cast("B")
                self._inner.write(view[: len(view) // 2])
                self._inner.flush()
                die()
            return self._inner.write(data)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self._inner.__exit__(*exc)
        def __getattr__(self, name):
            return getattr(self._inner, name)

    real_fdopen, real_fsync, real_replace = os.fdopen, os.fsync, os.replace
    os.fdopen = lambda *a, **k: Handle(real_fdopen(*a, **k))
    if point == "fsync":
        os.fsync = lambda fd: die()
    if point == "before-replace":
        os.replace = lambda *a: die()
    if point == "after-replace":
        os.replace = lambda *a: (real_replace(*a), die())
    save()
    print(calls, flush=True)
""")


def run_killer(target, how, point, nth=0):
    return subprocess.run(
        [sys.executable, "-c", KILLER, str(target), how, point, str(nth)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def marker(target, how):
    """The first bias of the file's network: 1.0 for version 1, 2.0 for version 2."""
    net = (
        nn.load_model(target)
        if how == "save"
        else nn.NeuralNetwork([20, 30, 4], "relu", "softmax", "categorical_crossentropy", "adam")
    )
    if how == "save_params":
        net.load_params(target)
    return float(net.biases[0][0, 0])


@pytest.mark.parametrize("how", ["save", "save_params"])
def test_a_writer_killed_inside_each_step_of_a_save(tmp_path, how):
    """SIGKILL from inside the write, fsync or rename of a save (fault injection, no
    timing): before the rename the old file is intact and the temporary is left behind,
    after it the new file is whole; the next save removes every temporary left."""
    suffix = ".npz" if how == "save" else ".npy"
    counted = run_killer(tmp_path / f"count{suffix}", how, "count")
    assert counted.returncode == 0, counted.stderr
    writes = int(counted.stdout.split()[-1])
    assert writes >= 1
    points = [("write", k) for k in sorted({1, (writes + 1) // 2, writes})]
    points += [("fsync", 0), ("before-replace", 0), ("after-replace", 0)]
    for point, nth in points:
        folder = tmp_path / f"{point}-{nth}"
        folder.mkdir()
        target = folder / f"model{suffix}"
        proc = run_killer(target, how, point, nth)
        assert proc.returncode == -signal.SIGKILL, (point, nth, proc.stderr)
        committed = point == "after-replace"
        assert marker(target, how) == (2.0 if committed else 1.0), (point, nth)
        assert len(temporaries(folder)) == (0 if committed else 1), (point, nth)
        again = small_network()
        again.save(folder / "other.npz")  # another target's save leaves them alone
        assert len(temporaries(folder)) == (0 if committed else 1)
        if how == "save":
            again.save(target)
        else:
            nn.NeuralNetwork(
                [20, 30, 4], "relu", "softmax", "categorical_crossentropy", "adam"
            ).save_params(target)
        assert temporaries(folder) == []  # the dead writer's file is gone


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
