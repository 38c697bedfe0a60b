"""The 8x8 handwritten digits bundled with the package.

Source: UCI Machine Learning Repository, "Optical Recognition of Handwritten
Digits" (E. Alpaydin and C. Kaynak, 1998), the 1,797-image test part that
scikit-learn also ships.  Licence: CC BY 4.0.  See ``data/README.md``.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np

# SHA-256 of images.tobytes() + labels.tobytes() (uint8), to catch a damaged install.
_DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"


def load_digits(*, normalize=False):
    """Load the 1,797 8x8 digit images.

    Parameters
    ----------
    normalize : bool, keyword-only
        Scale pixels from 0..16 to 0..1.

    Returns
    -------
    x : ndarray of shape (1797, 64), float64
        Pixel counts 0..16 (or 0..1 with ``normalize=True``), row by row.
    y : ndarray of shape (1797,), int64
        The digit shown, 0..9.
    """
    ref = resources.files(__package__).joinpath("data", "digits.npz")
    with ref.open("rb") as handle, np.load(handle, allow_pickle=False) as data:
        images = data["images"]
        labels = data["labels"]
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    if digest != _DIGITS_SHA256:
        raise RuntimeError(
            "the embedded digits file is damaged (checksum mismatch); reinstall nnscratch"
        )
    x = images.astype(np.float64)
    if normalize:
        x /= 16.0
    return x, labels.astype(np.int64)
