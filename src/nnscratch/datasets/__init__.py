"""Data sets: the embedded 8x8 digits and a reader for MNIST-style IDX files."""

from ._digits import load_digits
from ._idx import read_idx

__all__ = ["load_digits", "read_idx"]
