"""Atomic file writes: a reader or a crash sees the old file or the new one, never half.

This module imports nothing of the package, so every module that writes files
(model files, checkpoints, logs, plots, predictions) can use it.

How a write goes
----------------
1. The target is resolved: a symbolic link is followed to the file it points
   to (the link stays a link), and a target that exists but has no write
   permission for anyone is refused with the ``PermissionError`` that
   ``open()`` would raise, even for root (who may write anywhere, but asked
   for a read-only file to stay as it is).
2. The data goes to a temporary file in the target's folder, named
   ``.<name>.<pid>.<random>.tmp``, locked (``flock``) while it is written.
3. The temporary file is flushed, synced and renamed over the target.
4. Temporary files of the same target left behind by writers that died (a
   ``SIGKILL`` mid-write, a power cut) are removed.  A temporary file is only
   removed when no process holds its lock and either its process is gone or
   the file has not been touched for :data:`STALE_SECONDS`; so a second live
   writer of the same target never loses its file.

Every error names the target as the caller gave it, never the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time

try:  # POSIX; elsewhere the clean-up relies on process ids and age alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

STALE_SECONDS = 10.0
"""A temporary file untouched this long, whose lock nobody holds, is an orphan."""

_TMP_TAIL = re.compile(r"(\d+)\.[a-z0-9_]{8}\.tmp")


def resolve_target(path):
    """The file a write to ``path`` must replace: symbolic links followed.

    Raises the ``PermissionError`` / ``IsADirectoryError`` that ``open(path, 'w')``
    would, naming ``path``, when the target exists but is read-only for
    everyone or is a folder.
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return target
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    # os.access answers "yes" to root for any file, so look at the mode bits too
    if not os.access(target, os.W_OK) or not info.st_mode & 0o222:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
    return target


def _renamed(err, tmp, path):
    """``err`` with the temporary file's name replaced by the target's."""
    if isinstance(err, OSError) and tmp in (err.filename, err.filename2):
        return type(err)(err.errno, err.strerror, path)
    return err


def _process_alive(pid):
    """Whether process ``pid`` exists (POSIX; signal 0 checks without sending anything)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # it exists (someone else's) or we cannot tell: keep its file
    return True


def _remove_if_orphan(tmp_path, pid, now):
    """Delete one temporary file when nobody is writing it any more."""
    if fcntl is None:  # pragma: no cover - Windows
        # os.kill(pid, 0) would send CTRL_C_EVENT there; but a file a live writer
        # has open cannot be deleted, so trying on old files is safe
        with contextlib.suppress(OSError):
            if now - os.stat(tmp_path).st_mtime >= STALE_SECONDS:
                os.remove(tmp_path)
        return
    try:
        fd = os.open(tmp_path, os.O_RDONLY)
    except OSError:
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            age = now - os.fstat(fd).st_mtime
        except OSError:
            return  # a live writer holds it
        # A dead process's file can go at once; a live process id may be a
        # reused one, or a writer between creating and locking its file, so
        # such files must also be old.
        if _process_alive(pid) and age < STALE_SECONDS:
            return
        with contextlib.suppress(OSError):
            os.remove(tmp_path)
    finally:
        os.close(fd)


def remove_orphans(target):
    """Remove temporary files of ``target`` whose writers are gone (see module notes)."""
    folder, name = os.path.split(target)
    prefix = "." + name + "."
    now = time.time()
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return
    for entry in entries:
        if not entry.startswith(prefix):
            continue
        match = _TMP_TAIL.fullmatch(entry[len(prefix) :])
        if match:
            _remove_if_orphan(os.path.join(folder, entry), int(match.group(1)), now)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file next to ``path``'s target; on success it replaces it.

    Parameters
    ----------
    path : str or path-like
        The file to write.  A symbolic link is written through (its target is
        replaced, the link stays).
    mode : {'wb', 'w'}
        Binary or text.

    The data is flushed and synced to disk before the rename, and the rename is
    atomic, so a reader (or a crash at any moment) sees either the old file or
    the complete new one.  On failure the temporary file is removed and the old
    file is left untouched.  Errors name ``path``, never the temporary file.
    """
    path = os.fspath(path)
    target = resolve_target(path)
    folder, name = os.path.split(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as err:
        raise type(err)(err.errno, err.strerror, path) from None
    handle = os.fdopen(fd, mode)
    try:
        if fcntl is not None:
            with contextlib.suppress(OSError):  # file systems without locks
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # mkstemp makes the file private (0600); give it the mode a plain open()
        # would have, or keep the mode of the file being replaced
        try:
            permissions = os.stat(target).st_mode & 0o777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            permissions = 0o666 & ~umask
        os.chmod(tmp, permissions)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as err:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        renamed = _renamed(err, tmp, path)
        if renamed is err:
            raise
        raise renamed from None
    # make the rename itself durable where the platform allows it
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    remove_orphans(target)
