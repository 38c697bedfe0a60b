"""Reader for the IDX format of the MNIST family (optionally gzip-compressed).

Layout: two zero bytes, a type code, the number of dimensions ``d``, then ``d``
big-endian uint32 sizes, then the values in C order, big-endian.

The reader trusts nothing: sizes are computed with Python integers (no
overflow), checked against what the file can hold before anything is
allocated, and a gzip file is inflated as a stream only up to the declared
size plus one byte, so a small file that inflates to gigabytes is refused
after reading just past its declared end.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CHUNK = 1 << 20
_DEFLATE_RATIO = 1100  # deflate cannot expand data more than ~1032 times


def _read_exactly(stream, n, path, what):
    data = stream.read(n)
    if len(data) != n:
        raise ValueError(
            f"{path}: truncated IDX file ({what}: {n} bytes expected, {len(data)} found)"
        )
    return data


def _read_idx(stream, path, compressed_size):
    magic = stream.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _TYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {magic.hex()})")
    dtype = np.dtype(_TYPES[magic[2]])
    ndim = magic[3]
    raw_shape = _read_exactly(stream, 4 * ndim, path, "header")
    shape = tuple(int.from_bytes(raw_shape[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    nbytes = math.prod(shape) * dtype.itemsize  # Python integers: never overflows
    header = 4 + 4 * ndim
    if compressed_size is None:
        found = os.fstat(stream.fileno()).st_size
        if found != header + nbytes:
            raise ValueError(
                f"{path}: expected {header + nbytes} bytes for shape {shape}, found {found}"
            )
    elif nbytes > compressed_size * _DEFLATE_RATIO + _CHUNK:
        raise ValueError(
            f"{path}: the header declares shape {shape} ({nbytes} bytes), more "
            f"than a {compressed_size}-byte gzip file can hold"
        )
    data = np.empty(math.prod(shape), dtype)
    view = memoryview(data).cast("B")
    done = 0
    while done < nbytes:
        chunk = stream.read(min(_CHUNK, nbytes - done))
        if not chunk:
            raise ValueError(
                f"{path}: expected {header + nbytes} bytes for shape {shape}, "
                f"found {header + done}"
            )
        view[done : done + len(chunk)] = chunk
        done += len(chunk)
    if stream.read(1):  # one byte past the declared end: never inflate the rest
        raise ValueError(
            f"{path}: holds more data than its header declares for shape "
            f"{shape} ({header + nbytes} bytes)"
        )
    if dtype.itemsize > 1 and not dtype.isnative:
        data.byteswap(inplace=True)
    return data.view(dtype.newbyteorder("=")).reshape(shape)


def read_idx(path):
    """Read an IDX file (``.gz`` or plain) into an array of its stored shape.

    Parameters
    ----------
    path : str or path-like
        A file name ending in ``.gz`` is decompressed.

    Returns
    -------
    ndarray
        Of the shape the header declares, in native byte order.

    Raises
    ------
    ValueError
        Naming the file, when the header, the length or the compression is
        wrong.
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        try:
            if not path.endswith(".gz"):
                return _read_idx(raw, path, None)
            size = os.fstat(raw.fileno()).st_size
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_idx(stream, path, size)
        except (OSError, EOFError, zlib.error) as err:  # gzip's own complaints
            raise ValueError(
                f"{path}: cannot be read as a gzip-compressed IDX file "
                f"({type(err).__name__}: {err})"
            ) from None
