"""MNIST and Fashion-MNIST from their canonical gzip IDX files.

Files are looked for in a data folder (``data_home=``, else the
``NNSCRATCH_DATA`` environment variable, else a per-user cache folder), in a
subfolder ``mnist/`` or ``fashion-mnist/`` under their canonical names.  Missing
files are downloaded with pooch (the ``datasets`` extra) from the canonical
mirrors, verified against the published SHA-256 before use; a file that does
not match is an error and is not kept.

Every file is checked against its published SHA-256 on every load too, not
only after a download, so a file damaged or replaced in the data folder is an
error naming it.  Hashing costs about 35 ms for the 9.9 MB training images,
against about 500 ms to parse them, so no cache of verified files is kept.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ._idx import read_idx

DATASETS = {
    "mnist": {
        "mirrors": [
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ],
        "files": {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    },
    "fashion-mnist": {
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
        "files": {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    },
}

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

# The function that fetches one URL into a local file; pooch's default
# (HTTPDownloader, with a tqdm progress bar) unless replaced, e.g. by tests.
DOWNLOADER = None


def data_home(data_home=None):
    """The data folder: ``data_home``, else ``$NNSCRATCH_DATA``, else a per-user cache folder."""
    if data_home is not None:
        return Path(data_home).expanduser()
    env = os.environ.get("NNSCRATCH_DATA")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("nnscratch"))
    except ImportError:
        return Path.home() / ".cache" / "nnscratch"


def _fetch(name, filename, folder, download):
    """Path of one canonical file, downloading and verifying it when missing."""
    path = folder / filename
    if path.exists():
        return path
    where = (
        f"put the files {', '.join(DATASETS[name]['files'])} in {folder} (or point "
        f"data_home= or NNSCRATCH_DATA at a folder holding {name}/)"
    )
    if not download:
        raise FileNotFoundError(f"{path} is missing and download=False: {where}")
    try:
        import pooch
    except ImportError:
        raise FileNotFoundError(
            f"{path} is missing, and downloading it needs the optional extra: pip install "
            f"-e '.[datasets]' in the checkout. Or {where}"
        ) from None
    sha256 = DATASETS[name]["files"][filename]
    downloader = DOWNLOADER or pooch.HTTPDownloader(progressbar=True)
    errors = []
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")  # the progress bar says enough
    try:
        for mirror in DATASETS[name]["mirrors"]:
            try:
                fetched = pooch.retrieve(
                    mirror + filename,
                    known_hash=f"sha256:{sha256}",
                    fname=filename,
                    path=folder,
                    downloader=downloader,
                )
                return Path(fetched)
            except ValueError as err:  # pooch: the hash did not match; it kept nothing
                if "hash" in str(err).lower():
                    errors.append(f"{mirror}{filename} failed its SHA-256 check")
                else:
                    errors.append(f"{mirror}: {err}"[:200])
            except Exception as err:  # offline, HTTP errors, ...
                errors.append(f"{mirror}: {type(err).__name__}")
    finally:
        logger.setLevel(level)
    raise OSError(f"could not download {filename} ({'; '.join(errors)}). If offline, {where}")


def _verify(name, path):
    """Raise ValueError naming ``path`` when it is not the published file."""
    expected = DATASETS[name]["files"][path.name]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ValueError(
            f"{path} does not match the published SHA-256 of {name}'s {path.name} (expected "
            f"{expected[:16]}..., found {digest.hexdigest()[:16]}...): it is damaged or not "
            f"the original. Delete it to download it again."
        )
    return path


def _load(name, split, data_home_, download):
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = data_home(data_home_) / name
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(
        _verify(name, _fetch(name, f"{prefix}-images-idx3-ubyte.gz", folder, download))
    )
    labels = read_idx(
        _verify(name, _fetch(name, f"{prefix}-labels-idx1-ubyte.gz", folder, download))
    )
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{folder}: images of shape {images.shape} and labels of shape "
            f"{labels.shape} do not belong together"
        )
    x = images.reshape(images.shape[0], -1).astype(np.float32)
    x /= 255.0
    return x, labels.astype(np.int64)


def load_mnist(split="train", *, data_home=None, download=True):
    """The MNIST handwritten digits.

    Parameters
    ----------
    split : {'train', 'test'}
        60,000 training or 10,000 test images.
    data_home : str or path, optional
        Folder holding ``mnist/``; default ``$NNSCRATCH_DATA`` or a per-user cache.
    download : bool
        Fetch missing files (needs the ``datasets`` extra).

    Returns
    -------
    x : ndarray of shape (n, 784), float32 in [0, 1]
    y : ndarray of shape (n,), int64 labels 0..9

    Raises
    ------
    ValueError
        A file in the data folder does not match its published SHA-256 (the
        message names it; delete it to download it again), or is damaged.
    FileNotFoundError, OSError
        A file is missing and cannot be downloaded.
    """
    return _load("mnist", split, data_home, download)


def load_fashion_mnist(split="train", *, data_home=None, download=True):
    """Zalando's Fashion-MNIST article images; same shapes as :func:`load_mnist`.

    Class names are in ``nnscratch.datasets.FASHION_CLASSES``.
    """
    return _load("fashion-mnist", split, data_home, download)
