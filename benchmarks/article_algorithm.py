"""The article's algorithm for the benchmark: the library's reference, with ReLU and softmax.

The algorithm itself lives in one place, :mod:`nnscratch.reference`, which the
test suite checks against ``NeuralNetwork``; this file only fixes the pieces
the benchmark uses (ReLU hidden layers, softmax with cross-entropy).
"""

from nnscratch import (
    categorical_crossentropy as cross_entropy,
)
from nnscratch import (
    d_categorical_crossentropy as d_cross_entropy,
)
from nnscratch import d_relu, d_softmax, relu, softmax
from nnscratch.reference import ArticleNetwork as _Reference
from nnscratch.reference import MomentumSGD

__all__ = [
    "ArticleNetwork",
    "MomentumSGD",
    "cross_entropy",
    "d_cross_entropy",
    "relu",
    "d_relu",
    "softmax",
    "d_softmax",
]


class ArticleNetwork(_Reference):
    """:class:`nnscratch.reference.ArticleNetwork` with ReLU, softmax and cross-entropy."""

    def __init__(self, layers, optimizer, seed=0):
        super().__init__(
            layers,
            (relu, d_relu),
            (softmax, d_softmax),
            (cross_entropy, d_cross_entropy),
            optimizer,
            seed=seed,
        )
