"""The embedded digits and the IDX reader."""

import gzip
import tracemalloc

import numpy as np
import pytest

from nnscratch.datasets import load_digits, read_idx


def test_digits_shape_range_and_classes():
    x, y = load_digits()
    assert x.shape == (1797, 64) and y.shape == (1797,)
    assert x.min() == 0 and x.max() == 16
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    xn, _ = load_digits(normalize=True)
    assert xn.max() == 1.0


def write_idx(path, array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(payload)


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_read_idx_round_trip(tmp_path, name):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, images)
    np.testing.assert_array_equal(read_idx(tmp_path / name), images)


def test_read_idx_float_type(tmp_path):
    values = np.linspace(-1, 1, 6).reshape(3, 2)
    write_idx(tmp_path / "f.idx", values, code=0x0E)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), values)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="bad.idx: not an IDX file"):
        read_idx(tmp_path / "bad.idx")
    write_idx(tmp_path / "short.idx", np.zeros((4, 4), np.uint8))
    data = (tmp_path / "short.idx").read_bytes()
    (tmp_path / "short.idx").write_bytes(data[:-3])
    with pytest.raises(ValueError, match="short.idx: expected 28 bytes"):
        read_idx(tmp_path / "short.idx")


def test_shared_mnist_files(mnist_dir):
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")
    assert labels.shape == (60000,)
    assert np.bincount(labels)[:3].tolist() == [5923, 6742, 5958]


# ---------------------------------------------------------------- hostile IDX (issue 9.12)
def idx_header(shape, code=0x08):
    return bytes([0, 0, code, len(shape)]) + np.array(shape, ">u4").tobytes()


def peak_of(function):
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as caught:
            function()
        return tracemalloc.get_traced_memory()[1], str(caught.value)
    finally:
        tracemalloc.stop()


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    bomb = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(bomb, "wb") as handle:
        handle.write(idx_header((10, 28, 28)))
        zeros = bytes(1 << 22)
        for _ in range(64):  # 256 MiB of zeros in a file of about 250 KB
            handle.write(zeros)
    assert bomb.stat().st_size < 2**20
    peak, message = peak_of(lambda: read_idx(bomb))
    assert "bomb-idx3-ubyte.gz" in message and "more data than its header declares" in message
    assert peak < 4 * 2**20


@pytest.mark.parametrize(
    "shape",
    [
        (2**16,) * 4,
        (2**32 - 1,) * 3,
        (2**32 - 1,) * 255,
        (2**31, 2**31, 4),
        (0, 2**32 - 1),
        (3, 0),
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_declared_sizes_are_computed_without_overflow(tmp_path, shape, gz):
    """(2**16,)*4 values overflow int64 to 0: a header-only file must not pass as empty."""
    path = tmp_path / ("h.idx.gz" if gz else "h.idx")
    payload = idx_header(shape) + bytes(7)
    path.write_bytes(gzip.compress(payload) if gz else payload)
    peak, message = peak_of(lambda: read_idx(path))
    assert str(path) in message
    assert peak < 2**20


def test_every_cut_and_flip_of_a_gzip_idx(tmp_path):
    values = np.random.default_rng(0).integers(0, 256, (6, 5, 4)).astype(np.uint8)
    raw = gzip.compress(idx_header(values.shape) + values.tobytes(), mtime=0)
    path = tmp_path / "v.idx.gz"
    for length in range(len(raw)):
        path.write_bytes(raw[:length])
        with pytest.raises(ValueError, match="v.idx.gz"):
            read_idx(path)
    for position in range(len(raw)):
        for mask in (0x01, 0xFF):
            damaged = bytearray(raw)
            damaged[position] ^= mask
            path.write_bytes(damaged)
            try:
                result = read_idx(path)
            except ValueError as err:
                assert "v.idx.gz" in str(err)
                continue
            np.testing.assert_array_equal(result, values)  # gzip header fields, e.g. flags


def test_every_cut_of_a_plain_idx_and_extra_bytes(tmp_path):
    values = np.arange(24, dtype=">i2").reshape(2, 3, 4)
    raw = idx_header(values.shape, 0x0B) + values.tobytes()
    path = tmp_path / "v.idx"
    for data in [raw[:n] for n in range(len(raw))] + [raw + b"\0", raw + bytes(100)]:
        path.write_bytes(data)
        with pytest.raises(ValueError, match="v.idx"):
            read_idx(path)
    path.write_bytes(raw)
    result = read_idx(path)
    assert result.dtype == np.int16 and result.dtype.isnative
    np.testing.assert_array_equal(result, values)


@pytest.mark.parametrize(
    "code,dtype",
    [(0x08, ">u1"), (0x09, ">i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8")],
)
def test_every_type_code_round_trips_in_both_forms(tmp_path, code, dtype):
    values = (np.arange(-6, 6) * 3).reshape(3, 4).astype(dtype)
    for name in ("t.idx", "t.idx.gz"):
        write_idx(tmp_path / name, values, code=code)
        result = read_idx(tmp_path / name)
        assert result.dtype == np.dtype(dtype).newbyteorder("=")
        np.testing.assert_array_equal(result, values)
