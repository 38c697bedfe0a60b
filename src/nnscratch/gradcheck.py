"""Finite-difference checks for derivatives.

Each check compares an analytic derivative with central differences
``(f(v + h) - f(v - h)) / (2 h)`` in float64 and returns the worst relative
error: the largest absolute difference divided by the largest magnitude found
in either array (so entries that are zero are judged against the scale of the
whole derivative rather than against zero).  Around 1e-8 is typical for a
correct derivative; anything above 1e-4 is almost surely a bug.

Check your own pair in one line::

    from nnscratch import gradcheck
    assert gradcheck.check_activation(swish, d_swish) < 1e-6
"""

from __future__ import annotations

import numpy as np

from .activations import resolve_activation
from .losses import resolve_loss


def relative_error(analytic, numeric):
    """``max |a - n| / max(max |a|, max |n|)``; 0 when both are all zeros."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"cannot compare shapes {analytic.shape} and {numeric.shape}")
    scale = max(np.max(np.abs(analytic), initial=0.0), np.max(np.abs(numeric), initial=0.0))
    diff = np.max(np.abs(analytic - numeric), initial=0.0)
    if scale == 0.0:
        return float(diff)
    return float(diff / scale)


def _points(shape, rng):
    # |z| in [0.1, 2]: away from the kinks at 0 that ReLU-like functions have
    return rng.uniform(0.1, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def _pair(f, df, kind):
    if df is None:
        return tuple(resolve_activation(f, kind, "f")) if kind else tuple(resolve_loss(f, "f"))
    return f, df


def numeric_jacobian(f, z, h=1e-6):
    """Central-difference Jacobian of a row-wise ``f``: shape ``(n, m_out, m_in)``."""
    z = np.array(z, dtype=np.float64)
    n, m_in = z.shape
    m_out = np.shape(f(z))[1]
    jac = np.zeros((n, m_out, m_in))
    for j in range(m_in):
        zp, zm = z.copy(), z.copy()
        zp[:, j] += h
        zm[:, j] -= h
        jac[:, :, j] = (np.asarray(f(zp)) - np.asarray(f(zm))) / (2 * h)
    return jac


def check_activation(f, df=None, *, z=None, shape=(6, 5), seed=0, h=1e-6):
    """Check an elementwise (hidden) activation's derivative.

    Parameters
    ----------
    f, df : callable, or one pair / name as ``f`` alone
    z : ndarray, optional
        Points to check at; by default random points with ``0.1 <= |z| <= 2``.

    Returns
    -------
    float : worst relative error

    Raises
    ------
    ValueError if ``f`` is not elementwise or ``df`` has the wrong shape.
    """
    f, df = _pair(f, df, "hidden")
    z = _points(shape, np.random.default_rng(seed)) if z is None else np.array(z, np.float64)
    analytic = np.asarray(df(z), dtype=np.float64)
    if analytic.shape != z.shape:
        raise ValueError(
            f"the derivative returned shape {analytic.shape}; an elementwise "
            f"derivative must return the input's shape {z.shape}"
        )
    numeric = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        change = (np.asarray(f(zp), np.float64) - np.asarray(f(zm), np.float64)) / (2 * h)
        numeric[idx] = change[idx]
        change[idx] = 0.0
        if np.max(np.abs(change)) > 1e-6:
            raise ValueError(
                "the activation is not elementwise: changing one input changed "
                "other outputs; use check_output_activation for such functions"
            )
    return relative_error(analytic, numeric)


def check_output_activation(f, df=None, *, z=None, shape=(4, 5), seed=0, h=1e-6):
    """Check an output activation's full Jacobian stack ``df(z)`` of shape ``(n, m, m)``."""
    f, df = _pair(f, df, "output")
    z = _points(shape, np.random.default_rng(seed)) if z is None else np.array(z, np.float64)
    analytic = np.asarray(df(z), dtype=np.float64)
    n, m = z.shape
    if analytic.shape != (n, m, m):
        raise ValueError(
            f"the derivative returned shape {analytic.shape}; an output "
            f"activation's derivative must return ({n}, {m}, {m})"
        )
    return relative_error(analytic, numeric_jacobian(f, z, h))


def check_loss(loss, d_loss=None, *, y_pred=None, y_true=None, shape=(5, 3), seed=0, h=1e-6):
    """Check a loss derivative ``dL(y_pred, y_true)`` of shape ``(n, 1, m)``.

    By default ``y_pred`` lies in [0.1, 0.9] (valid for the cross-entropies)
    and ``y_true`` is a random one-hot matrix.
    """
    loss, d_loss = _pair(loss, d_loss, None)
    rng = np.random.default_rng(seed)
    if y_pred is None:
        y_pred = rng.uniform(0.1, 0.9, shape)
    y_pred = np.array(y_pred, dtype=np.float64)
    if y_true is None:
        y_true = np.eye(y_pred.shape[1])[rng.integers(0, y_pred.shape[1], y_pred.shape[0])]
    y_true = np.asarray(y_true, dtype=np.float64)
    n, m = y_pred.shape
    analytic = np.asarray(d_loss(y_pred, y_true), dtype=np.float64)
    if analytic.shape != (n, 1, m):
        raise ValueError(
            f"the loss derivative returned shape {analytic.shape}; it must return ({n}, 1, {m})"
        )
    per_sample = np.shape(loss(y_pred, y_true))
    if per_sample != (n, 1):
        raise ValueError(f"the loss returned shape {per_sample}; it must return ({n}, 1)")
    numeric = numeric_jacobian(lambda p: loss(p, y_true), y_pred, h)  # (n, 1, m)
    return relative_error(analytic, numeric)


def check_network(net, x, y, *, categorical=False, h=1e-6):
    """Check a network's backward pass against finite differences of its objective.

    The objective is the mean loss plus the L2 term when ``net.l2 > 0``.

    Every weight and bias is perturbed in turn, so keep the network and ``x``
    small.  Returns the worst relative error over all weight and bias arrays
    (each array judged on its own scale).  The network is left as it was.
    """
    d_weights, d_biases = net.gradients(x, y, categorical=categorical)
    y_eval = y
    if categorical or (np.ndim(y) == 1 and net.layers[-1] > 1):
        from .utils import to_categorical

        y_eval = to_categorical(y, net.layers[-1])
    worst = 0.0
    for arrays, grads in ((net.weights, d_weights), (net.biases, d_biases)):
        for param, grad in zip(arrays, grads):
            numeric = np.zeros(param.shape)
            for idx in np.ndindex(*param.shape):
                original = param[idx]
                param[idx] = original + h
                plus = net.objective(x, y_eval)
                param[idx] = original - h
                minus = net.objective(x, y_eval)
                param[idx] = original
                numeric[idx] = (plus - minus) / (2 * h)
            worst = max(worst, relative_error(grad, numeric))
    return worst
