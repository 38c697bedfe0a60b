"""Loss functions, each next to its derivative.

Contract (batch-first): ``L(y_pred, y_true)`` takes two ``(n, m)`` arrays and
returns the loss of every sample, shape ``(n, 1)``.  ``dL(y_pred, y_true)``
returns the gradient of each sample's loss with respect to its prediction as a
row vector, stacked to shape ``(n, 1, m)``, so that ``np.matmul(dL, J)``
chains with an output activation's Jacobian stack ``J`` of shape ``(n, m, m)``.

Logs and divisions are guarded by clipping predictions into ``[eps, 1 - eps]``
where ``eps`` is the machine epsilon of the prediction's dtype (so float32
arithmetic gets a float32-sized guard, and float64 gets :data:`EPS`).
"""

from __future__ import annotations

import numpy as np

from ._pair import Pair, find_pair, register_builtin
from .registry import losses

EPS = np.finfo(np.float64).eps
"""Machine epsilon of float64, the guard the article uses for logs and divisions."""


_GUARDS = {
    np.dtype(t): (np.finfo(t).eps, 1 - np.finfo(t).eps)
    for t in (np.float16, np.float32, np.float64)
}


def _clip(y_pred):
    """A copy of y_pred clipped into [eps, 1 - eps] for its dtype (float64's EPS otherwise)."""
    y_pred = np.asarray(y_pred)
    low, high = _GUARDS.get(y_pred.dtype, (EPS, 1 - EPS))
    out = np.maximum(y_pred, low)
    return np.minimum(out, high, out=out)


def _row(g):
    """(n, m) -> (n, 1, m): one row vector per sample."""
    return np.expand_dims(g, 1)


def categorical_crossentropy(y_pred, y_true):
    """``-sum_j y_j log p_j`` per sample; for one-hot or probability targets."""
    logs = np.log(_clip(y_pred))
    logs *= y_true
    return -np.add.reduce(logs, axis=1, keepdims=True)


def d_categorical_crossentropy(y_pred, y_true):
    """``-y_j / p_j`` as a row vector per sample."""
    return _row(-y_true / _clip(y_pred))


def binary_crossentropy(y_pred, y_true):
    """Mean over the outputs of ``-(y log p + (1 - y) log(1 - p))`` per sample.

    Each output is an independent yes/no probability (binary or multi-label).
    """
    p = _clip(y_pred)
    return -np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p), axis=1, keepdims=True)


def d_binary_crossentropy(y_pred, y_true):
    """``(p - y) / (p (1 - p)) / m`` as a row vector per sample."""
    p = _clip(y_pred)
    return _row((p - y_true) / (p * (1 - p)) / p.shape[1])


def mse(y_pred, y_true):
    """Mean squared error over the outputs of each sample."""
    r = y_pred - y_true
    return np.mean(r * r, axis=1, keepdims=True)


def d_mse(y_pred, y_true):
    """``2 (p - y) / m`` as a row vector per sample."""
    return _row(2 * (y_pred - y_true) / np.shape(y_pred)[1])


def mae(y_pred, y_true):
    """Mean absolute error over the outputs of each sample."""
    return np.mean(np.abs(y_pred - y_true), axis=1, keepdims=True)


def d_mae(y_pred, y_true):
    """``sign(p - y) / m`` (0 where they are equal) as a row vector per sample."""
    return _row(np.sign(y_pred - y_true) / np.shape(y_pred)[1])


def huber(y_pred, y_true, delta=1.0):
    """Huber loss: quadratic for residuals up to ``delta``, linear beyond; mean over outputs."""
    r = np.abs(y_pred - y_true)
    quad = np.minimum(r, delta)
    return np.mean(0.5 * quad * quad + delta * (r - quad), axis=1, keepdims=True)


def d_huber(y_pred, y_true, delta=1.0):
    """The residual clipped to ``[-delta, delta]``, divided by m, as a row vector."""
    return _row(np.clip(y_pred - y_true, -delta, delta) / np.shape(y_pred)[1])


class Loss(Pair):
    """A loss pair with a name; unpacks like the article's ``(L, dL)`` tuple.

    Parameters
    ----------
    name : str or None
    f, df : callable
        The per-sample loss ``(n, m), (n, m) -> (n, 1)`` and its derivative
        ``-> (n, 1, m)``.
    fused : dict, optional
        For built-ins: maps an output activation's name to a function
        ``fused(a, y, out)`` that writes ``dL/dz`` (the gradient with respect to
        the output layer's pre-activation) into ``out``.
    """

    def __init__(self, name, f, df, *, fused=None):
        super().__init__(name, f, df)
        self.fused = dict(fused or {})


# Fused output gradients.  For these canonical pairs the chain rule
# dL/dz = dL/da @ da/dz collapses to a closed form, so the (n, m, m) Jacobian is
# never built.  Each is exact, not an approximation; the test suite compares
# them with the Jacobian route on every built-in combination.


def _softmax_cce(a, y, out):
    # dL/dz_b = sum_j (-y_j / a_j) * a_j (delta_jb - a_b) = a_b * sum_j y_j - y_b,
    # which is a - y when each target row sums to 1 (one-hot or probabilities).
    np.multiply(a, np.add.reduce(y, axis=1, keepdims=True), out=out)
    out -= y
    return out


def _sigmoid_bce(a, y, out):
    # (a - y) / (a (1 - a)) / m times the sigmoid slope a (1 - a) leaves (a - y) / m.
    np.subtract(a, y, out=out)
    out *= 1.0 / a.shape[1]
    return out


def _identity_mse(a, y, out):
    # The identity's Jacobian is I, so dL/dz is dL/da = 2 (a - y) / m.
    np.subtract(a, y, out=out)
    out *= 2.0 / a.shape[1]
    return out


for _name, _f, _df, _fused in [
    (
        "categorical_crossentropy",
        categorical_crossentropy,
        d_categorical_crossentropy,
        {"softmax": _softmax_cce},
    ),
    ("binary_crossentropy", binary_crossentropy, d_binary_crossentropy, {"sigmoid": _sigmoid_bce}),
    ("mse", mse, d_mse, {"identity": _identity_mse}),
    ("mae", mae, d_mae, None),
    ("huber", huber, d_huber, None),
]:
    register_builtin(losses, Loss(_name, _f, _df, fused=_fused))


# scikit-learn's MLP objectives, so that nnscratch.sklearn's estimators minimise
# exactly what MLPClassifier / MLPRegressor minimise (and their model files load
# without importing the scikit-learn module).


def _xlogy(x, y):
    """``x * log(y)``, taken as 0 where ``x == 0`` (also where ``y`` is 0 there)."""
    x, y = np.broadcast_arrays(np.asarray(x), np.asarray(y))
    out = np.zeros(x.shape, dtype=np.result_type(x, y, np.float32))
    mask = x != 0
    out[mask] = x[mask] * np.log(y[mask])
    return out


def half_squared_error(y_pred, y_true):
    """Half the squared error, averaged over the outputs: shape (n, 1)."""
    r = y_pred - y_true
    return 0.5 * np.mean(r * r, axis=1, keepdims=True)


def d_half_squared_error(y_pred, y_true):
    """``(p - y) / m`` as a row vector per sample: shape (n, 1, m)."""
    return _row((y_pred - y_true) / np.shape(y_pred)[1])


def summed_binary_crossentropy(y_pred, y_true):
    """Binary cross-entropy summed (not averaged) over independent logistic outputs: (n, 1)."""
    p = _clip(y_pred)
    return -np.sum(_xlogy(y_true, p) + _xlogy(1 - y_true, 1 - p), axis=1, keepdims=True)


def d_summed_binary_crossentropy(y_pred, y_true):
    """``(p - y) / (p (1 - p))`` as a row vector per sample."""
    p = _clip(y_pred)
    return _row((p - y_true) / (p * (1 - p)))


def half_poisson_deviance(y_pred, y_true):
    """Half the Poisson deviance ``y log(y / p) - y + p``, summed over outputs: (n, 1)."""
    return np.sum(_xlogy(y_true, y_true / y_pred) - y_true + y_pred, axis=1, keepdims=True)


def d_half_poisson_deviance(y_pred, y_true):
    """``1 - y / p`` as a row vector per sample."""
    return _row(1 - y_true / y_pred)


def _half_squared_error_identity(a, y, out):
    # identity's Jacobian is I: dL/dz = dL/da = (a - y) / m
    np.subtract(a, y, out=out)
    out *= 1.0 / a.shape[1]
    return out


def _summed_bce_sigmoid(a, y, out):
    # the logistic slope a (1 - a) cancels the denominator: dL/dz = a - y
    return np.subtract(a, y, out=out)


def _half_poisson_exp(a, y, out):
    # with p = exp(z), dp/dz = p, so dL/dz = p (1 - y / p) = p - y
    return np.subtract(a, y, out=out)


for _name, _f, _df, _fused in [
    (
        "half_squared_error",
        half_squared_error,
        d_half_squared_error,
        {"identity": _half_squared_error_identity},
    ),
    (
        "summed_binary_crossentropy",
        summed_binary_crossentropy,
        d_summed_binary_crossentropy,
        {"sigmoid": _summed_bce_sigmoid},
    ),
    (
        "half_poisson_deviance",
        half_poisson_deviance,
        d_half_poisson_deviance,
        {"exp": _half_poisson_exp},
    ),
]:
    # the estimators' own losses: usable by name, but not offered in lists of names
    register_builtin(losses, Loss(_name, _f, _df, fused=_fused), public=False)


def register_loss(name, f, df, *, overwrite=False):
    """Give your own ``(L, dL)`` pair a name (for passing by name and for model files)."""
    if not callable(f) or not callable(df):
        raise TypeError(f"register_loss needs two callables (L, dL); got {f!r} and {df!r}")
    return losses.register(name, Loss(name, f, df), overwrite=overwrite)


def resolve_loss(spec, argname="loss"):
    """Turn a name, a :class:`Loss` or an ``(L, dL)`` pair into a Loss."""
    if isinstance(spec, str):
        return losses.get(spec)
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and all(callable(p) for p in spec):
        found = find_pair(losses, *spec)
        return found[1] if found else Loss(None, *spec)
    raise TypeError(
        f"{argname} must be a (loss, derivative) pair of callables, a Loss or one of the "
        f"names {losses.names()}; got {type(spec).__name__} {spec!r}"[:300]
    )
