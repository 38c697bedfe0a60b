"""MNIST-family loaders on files the tests write, downloads replaced by local copies."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest

import nnscratch.datasets._mnist as mnist_module
from nnscratch.datasets import (
    data_home,
    load_csv,
    load_fashion_mnist,
    load_mnist,
    load_npz,
    load_table,
)

FILES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def idx_bytes(array):
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def small_set(folder, n_train=12, n_test=5):
    """Write a tiny MNIST-shaped data set; return its files' SHA-256 by name."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    content = {
        FILES[0]: idx_bytes(rng.integers(0, 256, (n_train, 28, 28))),
        FILES[1]: idx_bytes(rng.integers(0, 10, n_train)),
        FILES[2]: idx_bytes(rng.integers(0, 256, (n_test, 28, 28))),
        FILES[3]: idx_bytes(rng.integers(0, 10, n_test)),
    }
    for name, raw in content.items():
        (folder / name).write_bytes(raw)
    return {name: hashlib.sha256(raw).hexdigest() for name, raw in content.items()}


def test_reads_a_data_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(mnist_module.DATASETS["mnist"], "files", small_set(tmp_path / "mnist"))
    x, y = load_mnist("train", data_home=tmp_path)
    assert x.shape == (12, 784) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1 and y.dtype == np.int64
    x_test, y_test = load_mnist("test", data_home=tmp_path, download=False)
    assert x_test.shape == (5, 784) and y_test.shape == (5,)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist("validation", data_home=tmp_path)


def test_environment_variable_and_default_folder(tmp_path, monkeypatch):
    hashes = small_set(tmp_path / "fashion-mnist")
    monkeypatch.setitem(mnist_module.DATASETS["fashion-mnist"], "files", hashes)
    monkeypatch.setenv("NNSCRATCH_DATA", str(tmp_path))
    assert data_home() == tmp_path
    x, _ = load_fashion_mnist("test")
    assert x.shape == (5, 784)
    monkeypatch.delenv("NNSCRATCH_DATA")
    assert "nnscratch" in str(data_home())


def test_missing_without_download_says_where_to_put_the_files(tmp_path):
    with pytest.raises(
        FileNotFoundError,
        match=r"put the files train-images-idx3-ubyte.gz.*" + str(tmp_path / "mnist"),
    ):
        load_mnist(data_home=tmp_path, download=False)


class LocalDownloader:
    """Stands in for HTTP: serves files from a local folder, like a mirror would."""

    def __init__(self, source):
        self.source = source
        self.urls = []

    def __call__(self, url, output_file, pooch_obj, check_only=False):
        self.urls.append(url)
        name = url.rsplit("/", 1)[1]
        with open(self.source / name, "rb") as src:
            if hasattr(output_file, "write"):
                shutil.copyfileobj(src, output_file)
            else:
                with open(output_file, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def test_download_is_verified_and_used(tmp_path, monkeypatch):
    pytest.importorskip("pooch")
    mirror = tmp_path / "mirror"
    hashes = small_set(mirror)
    monkeypatch.setitem(mnist_module.DATASETS["mnist"], "files", hashes)
    downloader = LocalDownloader(mirror)
    monkeypatch.setattr(mnist_module, "DOWNLOADER", downloader)
    x, y = load_mnist("train", data_home=tmp_path / "home")
    assert x.shape == (12, 784)
    assert len(downloader.urls) == 2 and downloader.urls[0].startswith("https://")
    load_mnist("train", data_home=tmp_path / "home")  # cached: no new download
    assert len(downloader.urls) == 2


def test_corrupted_download_is_rejected_and_not_kept(tmp_path, monkeypatch):
    pytest.importorskip("pooch")
    mirror = tmp_path / "mirror"
    hashes = small_set(mirror)
    raw = bytearray((mirror / FILES[0]).read_bytes())
    raw[-10] ^= 0xFF  # one flipped byte
    (mirror / FILES[0]).write_bytes(bytes(raw))
    monkeypatch.setitem(mnist_module.DATASETS["mnist"], "files", hashes)
    monkeypatch.setattr(mnist_module, "DOWNLOADER", LocalDownloader(mirror))
    home = tmp_path / "home"
    with pytest.raises(OSError, match="failed its SHA-256 check"):
        load_mnist("train", data_home=home)
    assert not (home / "mnist" / FILES[0]).exists()
    assert not [p for p in (home / "mnist").iterdir() if "train-images" in p.name]


def test_offline_and_missing(tmp_path, monkeypatch):
    pytest.importorskip("pooch")

    def offline(url, output_file, pooch_obj, check_only=False):
        raise ConnectionError("no network")

    monkeypatch.setattr(mnist_module, "DOWNLOADER", offline)
    with pytest.raises(OSError, match=r"could not download .*If offline, put the files"):
        load_fashion_mnist(data_home=tmp_path)


def test_published_checksums_match_the_shared_files(mnist_dir):
    for name, expected in mnist_module.DATASETS["mnist"]["files"].items():
        assert hashlib.sha256((mnist_dir / name).read_bytes()).hexdigest() == expected
    fashion = mnist_dir.parent / "fashion-mnist"
    for name, expected in mnist_module.DATASETS["fashion-mnist"]["files"].items():
        assert hashlib.sha256((fashion / name).read_bytes()).hexdigest() == expected


def test_shared_data_loads(mnist_dir):
    x, y = load_mnist("train", data_home=mnist_dir.parent, download=False)
    assert x.shape == (60000, 784) and x.dtype == np.float32
    assert abs(float(x.mean()) - 0.1307) < 1e-3
    x, y = load_fashion_mnist("test", data_home=mnist_dir.parent, download=False)
    assert x.shape == (10000, 784) and np.bincount(y).tolist() == [1000] * 10


def test_csv_and_npz_tables(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,kind\n1,2,x\n3,4.5,y\n\n")
    x, y, names, target = load_csv(tmp_path / "t.csv")
    assert x.tolist() == [[1, 2], [3, 4.5]] and y.tolist() == ["x", "y"]
    assert names == ["a", "b"] and target == "kind"
    with pytest.raises(ValueError, match="the feature column 'kind' is not numeric"):
        load_table(tmp_path / "t.csv", target="a")
    np.savez(tmp_path / "t.npz", x=np.ones((3, 2)), y=np.arange(3))
    x, y, names, target = load_npz(tmp_path / "t.npz")
    assert x.shape == (3, 2) and y.tolist() == [0, 1, 2] and names == ["x0", "x1"]
    (tmp_path / "bad.csv").write_text("a,b\n1\n")
    with pytest.raises(ValueError, match="line 2 has 1 fields"):
        load_csv(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="no column named 'z'"):
        load_csv(tmp_path / "t.csv", target="z")
    with pytest.raises(ValueError, match="expected a .csv or .npz"):
        (tmp_path / "t.txt").write_text("")
        load_table(tmp_path / "t.txt")


# --------------------------------------------------- files verified on every load (9.4)
def damaged_versions(raw):
    """Ways a file in the data folder can differ from the published one."""
    yield "flipped first byte", bytes([raw[0] ^ 1]) + raw[1:]
    yield (
        "flipped middle byte",
        raw[: len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 0x80]) + raw[len(raw) // 2 + 1 :],
    )
    yield "flipped last byte", raw[:-1] + bytes([raw[-1] ^ 0xFF])
    yield "truncated", raw[:-1]
    yield "extended", raw + b"\0"
    yield "recompressed", gzip.compress(gzip.decompress(raw), compresslevel=1, mtime=0)
    yield "empty", b""


@pytest.mark.parametrize(
    "loader,name", [(load_mnist, "mnist"), (load_fashion_mnist, "fashion-mnist")]
)
def test_a_modified_file_in_the_data_folder_is_an_error_naming_it(
    tmp_path, monkeypatch, loader, name
):
    folder = tmp_path / name
    hashes = small_set(folder)
    monkeypatch.setitem(mnist_module.DATASETS[name], "files", hashes)
    originals = {f: (folder / f).read_bytes() for f in FILES}
    for filename in FILES:
        split = "train" if filename.startswith("train") else "test"
        for label, content in damaged_versions(originals[filename]):
            (folder / filename).write_bytes(content)
            for download in (True, False):
                with pytest.raises(ValueError) as caught:
                    loader(split, data_home=tmp_path, download=download)
                message = str(caught.value)
                assert str(folder / filename) in message, (label, message)
                assert "does not match the published SHA-256" in message
                assert "Delete it to download it again" in message
        (folder / filename).write_bytes(originals[filename])
        x, y = loader(split, data_home=tmp_path, download=False)
        assert len(x) == len(y)


def test_a_modified_file_is_not_replaced_silently(tmp_path, monkeypatch):
    """Even with a downloader at hand, a present-but-wrong file is an error, not fetched over."""
    pytest.importorskip("pooch")
    mirror = tmp_path / "mirror"
    hashes = small_set(mirror)
    home = tmp_path / "home"
    small_set(home / "mnist", n_train=13)  # same names, other content
    monkeypatch.setitem(mnist_module.DATASETS["mnist"], "files", hashes)
    downloader = LocalDownloader(mirror)
    monkeypatch.setattr(mnist_module, "DOWNLOADER", downloader)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz does not match"):
        load_mnist("train", data_home=home)
    assert downloader.urls == []
    for filename in FILES:  # after deleting, as the message says, the download repairs it
        (home / "mnist" / filename).unlink()
    x, _ = load_mnist("train", data_home=home)
    assert x.shape == (12, 784)
