"""Opening data files lazily: ``.npy`` / ``.npz`` as memory maps, HDF5 and Zarr as stores."""

from __future__ import annotations

import os
import struct
import zipfile

import numpy as np


def open_data_file(path, key=None):
    """Open a data file lazily: ``.npy`` / ``.npz`` as memory maps, HDF5 and Zarr as stores.

    Parameters
    ----------
    path : str or path-like
        ``FILE.npy``; ``FILE.npz`` (members stored uncompressed, as
        ``np.savez`` writes them); ``FILE.h5`` / ``.hdf5`` (needs h5py);
        ``FILE.zarr`` (needs zarr).  ``FILE.npz:x``, ``FILE.h5:images`` or
        ``FILE.zarr:x`` names the member, data set or array inside.
    key : str, optional
        The member instead of the ``:name`` suffix.  A file holding one
        array needs none.

    Returns
    -------
    np.memmap, h5py.Dataset or zarr.Array
        Nothing is read until rows are sliced.

    Raises
    ------
    ImportError
        h5py or zarr is missing (``pip install -e '.[ooc]' in the checkout``).
    ValueError
        An unknown suffix, a missing member, or a compressed ``.npz`` member.
    """
    path = os.fspath(path)
    if key is None and not os.path.exists(path) and ":" in path:
        path, key = path.rsplit(":", 1)
    lower = path.lower().rstrip("/\\")
    if lower.endswith(".npy"):
        if key is not None:
            raise ValueError(f"{path} is a .npy file holding one array; it has no member {key!r}")
        return np.load(path, mmap_mode="r")
    if lower.endswith(".npz"):
        return _npz_member(path, key)
    if lower.endswith((".h5", ".hdf5", ".hdf")):
        h5py = _optional("h5py", "HDF5 files")
        handle = h5py.File(path, "r")
        return _member(
            handle, key, path, lambda g: [k for k in g if isinstance(g[k], h5py.Dataset)]
        )
    if lower.endswith(".zarr"):
        zarr = _optional("zarr", "Zarr stores")
        store = zarr.open(path, mode="r")
        if hasattr(store, "shape") and hasattr(store, "dtype"):
            if key is not None:
                raise ValueError(f"{path} is a single Zarr array; it has no member {key!r}")
            return store
        return _member(store, key, path, lambda g: [k for k, _ in g.arrays()])
    raise ValueError(
        f"cannot tell the format of {path!r}: expected a .npy, .npz, .h5 / .hdf5 or .zarr path"
    )


def _optional(module, what):
    try:
        return __import__(module)
    except ImportError:
        raise ImportError(
            f"reading {what} needs the {module} package: "
            f"pip install -e '.[ooc]' in the checkout (or pip install {module})"
        ) from None


def _member(group, key, path, names_of):
    names = names_of(group)
    if key is None:
        if len(names) != 1:
            raise ValueError(
                f"{path} holds {len(names)} arrays ({', '.join(names)}); name one as {path}:NAME"
            )
        key = names[0]
    if key not in group:
        raise ValueError(f"{path} has no array {key!r}; it holds: {', '.join(names)}")
    return group[key]


def _npz_member(path, key):
    """A member of an ``.npz`` file as a read-only memory map (np.load cannot map them)."""
    with zipfile.ZipFile(path) as archive:
        names = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
        if key is None:
            if len(names) != 1:
                raise ValueError(
                    f"{path} holds {len(names)} arrays ({', '.join(names)}); "
                    f"name one as {path}:NAME"
                )
            key = names[0]
        if key not in names:
            raise ValueError(f"{path} has no array {key!r}; it holds: {', '.join(names)}")
        info = archive.getinfo(key + ".npy")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(
                f"{path}: the member {key!r} is compressed, so it cannot be "
                f"memory-mapped; save with np.savez (not savez_compressed) or "
                f"as .npy files"
            )
    with open(path, "rb") as handle:
        handle.seek(info.header_offset)
        local = handle.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError(f"{path}: the zip entry of {key!r} is damaged")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        handle.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        if dtype.hasobject:
            raise ValueError(
                f"{path}: the member {key!r} holds Python objects; only numeric "
                f"arrays can be mapped"
            )
        offset = handle.tell()
    return np.memmap(
        path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C"
    )
