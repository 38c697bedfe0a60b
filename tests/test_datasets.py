"""The embedded digits and the IDX reader."""

import gzip

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
