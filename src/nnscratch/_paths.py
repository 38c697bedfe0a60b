"""Output paths checked before the work that fills them starts.

Training for minutes and then failing to save is the worst way to learn that a
folder is missing; every writer of the library (model files, checkpoints, CSV
logs, plots, predictions) prepares its path first.  Imports nothing of the
package.
"""

from __future__ import annotations

import os
import tempfile


def prepare_output(path, what="output file"):
    """Create ``path``'s parent folders and check that ``path`` can be written.

    Parameters
    ----------
    path : str or path-like
        The file that will be written later (it need not exist yet).
    what : str
        How messages name the file ("checkpoint path", "--out").

    Returns
    -------
    str
        ``path`` as a string.

    Raises
    ------
    OSError
        Naming ``what`` and ``path``: a parent that is a file, a folder that
        cannot be created or written, a path that is a folder, or a file that
        is read-only.
    """
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{what} is empty")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path}: is a folder; give a file name inside it")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise type(err)(
            f"{what} {path}: cannot create the folder {folder} ({err.strerror or err})"
        ) from None
    try:  # what the atomic write will do later: create a file next to the target
        fd, probe = tempfile.mkstemp(prefix=".nnscratch-probe-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise PermissionError(
            f"{what} {path}: cannot write in the folder {folder} ({err.strerror or err})"
        ) from None
    if os.path.exists(path) and not _writable_file(path):
        raise PermissionError(f"{what} {path}: the file is read-only")
    return path


def _writable_file(path):
    """False for a file nobody may write (mode without any w bit), even for root."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True
    return bool(mode & 0o222) and os.access(path, os.W_OK)
