"""The contracts of the article's system, written as types for readers and type checkers.

Nothing here is checked at run time (the network probes its pieces when it is
built); these names only say, in one place, what each argument must be.

>>> from nnscratch.protocols import Optimizer
>>> class SignSGD:
...     def update(self, old_params, gradient):
...         return old_params - 0.01 * (gradient > 0) + 0.01 * (gradient < 0)
>>> isinstance(SignSGD(), Optimizer)
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, Union, runtime_checkable

import numpy as np

ArrayFunction = Callable[[np.ndarray], np.ndarray]
"""An activation's ``f`` or ``df``: one array in, one array out."""

LossFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""A loss's ``L`` or ``dL``: ``(y_pred, y_true)`` in, one array out."""

ActivationPair = tuple[ArrayFunction, ArrayFunction]
"""``(f, df)``: hidden ``df`` is elementwise; output ``df`` gives ``(n, m, m)`` Jacobians."""

LossPair = tuple[LossFunction, LossFunction]
"""``(L, dL)``: ``L -> (n, 1)`` per-sample losses, ``dL -> (n, 1, m)`` row vectors."""


@runtime_checkable
class Optimizer(Protocol):
    """Anything with the article's ``update``: flat vectors in, the new flat vector out."""

    def update(self, old_params: np.ndarray, gradient: np.ndarray) -> np.ndarray: ...


ActivationSpec = Union[str, ActivationPair, "nnscratch.Activation"]  # noqa: F821
"""What ``hidden_activation`` / ``output_activation`` accept: a name, a pair or an Activation."""

LossSpec = Union[str, LossPair, "nnscratch.Loss"]  # noqa: F821
"""What ``loss`` accepts: a name, a pair or a Loss."""

OptimizerSpec = str | Optimizer
"""What ``optimizer`` accepts: a registry name or an object with ``update``."""
