"""Data sets: the embedded 8x8 digits, MNIST and Fashion-MNIST, IDX files and users' tables."""

from ._digits import load_digits
from ._idx import read_idx
from ._mnist import FASHION_CLASSES, data_home, load_fashion_mnist, load_mnist
from ._tables import load_csv, load_npz, load_table

__all__ = [
    "load_digits",
    "load_mnist",
    "load_fashion_mnist",
    "read_idx",
    "load_csv",
    "load_npz",
    "load_table",
    "data_home",
    "FASHION_CLASSES",
]
