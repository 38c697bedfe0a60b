"""The compiled loops behind :class:`nnscratch._kernels.NumbaKernels`.

Importing this module imports Numba; only :mod:`nnscratch._kernels` does so,
and only when the Numba set is asked for.  Each kernel is a plain Python loop
that does in one pass what the NumPy reference (``activations.py``,
``losses.py``, ``optimizers.py``) does in several, element by element in the
same order of operations, so the two agree to rounding.  Loops over rows or
parameters use ``prange``.  Every loop is compiled twice (see ``_kernel``):
with ``parallel=True``, where Numba splits the ``prange`` loops over the cores
(the ``PARALLEL`` table), and for one thread (``SERIAL``).  Each version is
compiled on first use for the dtypes it meets and cached on disk
(``cache=True``), so a later process loads it instead of compiling.

No kernel uses ``fastmath`` except the sum of squares behind ``clipnorm``,
whose only freedom is the order of an addition.

Codes
-----
Activations are passed as small integers (one compiled kernel serves them
all, which keeps the first compilation short); see ``ACTIVATION_CODES`` and
``OUTPUT_CODES``.
"""

from __future__ import annotations

import math
import types

import numba
import numpy as np
from numba import prange

RELU, SIGMOID, TANH, LEAKY_RELU, ELU, SOFTPLUS, IDENTITY, SOFTMAX = range(8)
ACTIVATION_CODES = {
    "relu": RELU,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "softplus": SOFTPLUS,
    "identity": IDENTITY,
    "softmax": SOFTMAX,
}

SOFTMAX_CCE, SIGMOID_BCE, IDENTITY_MSE = range(3)
OUTPUT_CODES = {
    ("softmax", "categorical_crossentropy"): SOFTMAX_CCE,
    ("sigmoid", "binary_crossentropy"): SIGMOID_BCE,
    ("identity", "mse"): IDENTITY_MSE,
}

LEAKY_SLOPE = 0.01  # activations.leaky_relu's default alpha
# elu's alpha is 1, so its formulas below leave it out

_inline = numba.njit(inline="always", error_model="numpy")

#: the kernels compiled with parallel=True (prange loops split over the cores)
PARALLEL = {}
#: the same loops compiled for one thread (prange runs as range)
SERIAL = {}


def _kernel(func=None, **options):
    """Compile ``func`` twice, parallel and serial, each cached on disk under its own name."""
    if func is None:
        return lambda f: _kernel(f, **options)
    serial = types.FunctionType(
        func.__code__,
        func.__globals__,
        func.__name__ + "_serial",
        func.__defaults__,
        func.__closure__,
    )
    serial.__qualname__ = func.__qualname__ + "_serial"  # its own cache file
    serial.__doc__ = func.__doc__
    # error_model="numpy": x / 0 gives inf or nan as in NumPy, with no check (and no
    # branch) in the loop, which lets the compiler vectorise it
    options = dict(cache=True, error_model="numpy", **options)
    PARALLEL[func.__name__] = numba.njit(parallel=True, **options)(func)
    SERIAL[func.__name__] = numba.njit(**options)(serial)
    return func


# ------------------------------------------------------------------ activations
@_inline
def _sigmoid(v):
    # the overflow-free form of activations.sigmoid
    e = np.exp(-abs(v))
    return 1 / (1 + e) if v >= 0 else e / (1 + e)


@_inline
def _activate(code, v):
    """f(v) for the elementwise activations."""
    if code == RELU:
        return v if v > 0 else v * 0
    if code == SIGMOID:
        return _sigmoid(v)
    if code == TANH:
        return np.tanh(v)
    if code == LEAKY_RELU:
        return v if v > 0 else v * LEAKY_SLOPE
    if code == ELU:
        return v if v > 0 else math.expm1(v)
    if code == SOFTPLUS:
        # log(1 + exp(v)) without overflow, as np.logaddexp(0, v) computes it
        return max(v, 0) + math.log1p(math.exp(-abs(v)))
    return v


@_inline
def _slope(code, z, a):
    """f'(z), using a = f(z) where that is exact."""
    if code == RELU:
        return 1 if a > 0 else 0
    if code == SIGMOID:
        # e / (1 + e)^2 with e = exp(-|z|): a * (1 - a) would cancel for large z
        e = np.exp(-abs(z))
        return e / ((1 + e) * (1 + e))
    if code == TANH:
        # 4 e / (1 + e)^2 with e = exp(-2|z|): 1 - a*a is 0 or noise in saturation
        e = np.exp(-2 * abs(z))
        return 4 * e / ((1 + e) * (1 + e))
    if code == LEAKY_RELU:
        return 1 if z > 0 else LEAKY_SLOPE
    if code == ELU:
        # exp(z) itself: a + 1 would lose every digit once exp(z) < eps
        return 1 if z > 0 else np.exp(z)
    if code == SOFTPLUS:
        return _sigmoid(z)
    return 1


@_kernel
def dense_forward(code, z, b, out):
    """z += b (a (1, k) row), out = f(z), row by row."""
    n, k = z.shape
    if code == SOFTMAX:
        for i in prange(n):
            top = z[i, 0] + b[0, 0]  # in the arrays' dtype, as NumPy computes z - max
            for j in range(k):
                v = z[i, j] + b[0, j]
                z[i, j] = v
                top = max(top, v)
            total = 0.0
            for j in range(k):
                e = np.exp(z[i, j] - top)
                out[i, j] = e
                total += e
            for j in range(k):
                out[i, j] /= total
    elif code == RELU:  # its own loop, which the compiler turns into vector instructions
        for i in prange(n):
            for j in range(k):
                v = z[i, j] + b[0, j]
                z[i, j] = v
                out[i, j] = v if v > 0 else v * 0
    else:
        for i in prange(n):
            for j in range(k):
                v = z[i, j] + b[0, j]
                z[i, j] = v
                out[i, j] = _activate(code, v)


@_kernel
def dense_backward(code, z, a, delta):
    """delta *= f'(z), row by row."""
    n, k = delta.shape
    if code == RELU:  # vectorised, as in dense_forward
        for i in prange(n):
            for j in range(k):
                d = delta[i, j]
                delta[i, j] = d if a[i, j] > 0 else d * 0
    else:
        for i in prange(n):
            for j in range(k):
                delta[i, j] *= _slope(code, z[i, j], a[i, j])


# ------------------------------------------------------------------ output layer
@_kernel
def output_delta(code, a, y, out, scale, weights, low, high, inv_m):
    """dL/dz times the row's scale into out; returns (loss sum, weight sum, correct).

    ``scale`` has one entry (for every row) or one per row; ``weights`` is empty
    (every row weighs 1) or has one entry per row.  ``low``/``high`` clip the
    predictions inside the logs, as losses._clip does; ``inv_m`` is 1/m.
    """
    n, m = a.shape
    loss_sum = 0.0
    weight_sum = 0.0
    correct = 0
    for i in prange(n):
        s = scale[0] if scale.shape[0] == 1 else scale[i]
        w = weights[i] if weights.shape[0] > 0 else 1.0
        loss = 0.0
        if code == SOFTMAX_CCE:
            # dL/dz = a * sum(y) - y (a - y for one-hot rows), loss -sum y log p
            ysum = y[i, 0] * 0
            for j in range(m):
                ysum += y[i, j]
            best_a = 0
            best_y = 0
            for j in range(m):
                out[i, j] = (a[i, j] * ysum - y[i, j]) * s
                p = min(max(a[i, j], low), high)
                loss -= y[i, j] * np.log(p)
                if a[i, j] > a[i, best_a]:
                    best_a = j
                if y[i, j] > y[i, best_y]:
                    best_y = j
            if best_a == best_y:
                correct += 1
        elif code == SIGMOID_BCE:
            # dL/dz = (a - y) / m, loss mean of -(y log p + (1 - y) log(1 - p))
            for j in range(m):
                out[i, j] = (a[i, j] - y[i, j]) * inv_m * s
                p = min(max(a[i, j], low), high)
                loss -= y[i, j] * np.log(p) + (1 - y[i, j]) * np.log(1 - p)
                if (a[i, j] > 0.5) == (y[i, j] > 0.5):
                    correct += 1
            loss /= m
        else:
            # identity + mse: dL/dz = 2 (a - y) / m, loss mean of (a - y)^2
            for j in range(m):
                r = a[i, j] - y[i, j]
                out[i, j] = r * (2 * inv_m) * s
                loss += r * r
            loss /= m
        loss_sum += w * loss
        weight_sum += w
    return loss_sum, weight_sum, correct


# ------------------------------------------------------------------- optimizers
@_inline
def _clipped(g, clipvalue, scale):
    """One gradient entry clipped into [-clipvalue, clipvalue] (0: off), times scale."""
    if clipvalue > 0:
        if g > clipvalue:
            g = clipvalue
        elif g < -clipvalue:
            g = -clipvalue
    return g * scale


@_kernel(fastmath={"reassoc"})
def clipped_sum_of_squares(gradient, clipvalue):
    """sum(clip(g)^2) in double precision (the first pass of clipnorm)."""
    total = 0.0
    for i in prange(gradient.shape[0]):
        g = np.float64(_clipped(gradient[i], clipvalue, 1))
        total += g * g
    return total


@_kernel
def sgd_step(params, gradient, velocity, lr, momentum, nesterov, clipvalue, scale):
    """SGD with optional (Nesterov) momentum, as optimizers.SGD._step."""
    for i in prange(params.shape[0]):
        step = _clipped(gradient[i], clipvalue, scale) * lr
        if momentum == 0:
            params[i] -= step
        else:
            v = velocity[i] * momentum - step
            velocity[i] = v
            if nesterov:
                params[i] = (params[i] - step) + v * momentum
            else:
                params[i] += v


@_kernel
def adam_step(
    params,
    gradient,
    m,
    v,
    beta_1,
    one_minus_beta_1,
    beta_2,
    one_minus_beta_2,
    inv_correction_2,
    epsilon,
    lr_t,
    clipvalue,
    scale,
):
    """Adam, as optimizers.Adam._step; lr_t = lr / (1 - beta_1^t)."""
    for i in prange(params.shape[0]):
        g = _clipped(gradient[i], clipvalue, scale)
        mi = m[i] * beta_1 + g * one_minus_beta_1
        vi = v[i] * beta_2 + (g * g) * one_minus_beta_2
        m[i] = mi
        v[i] = vi
        params[i] -= (mi / (np.sqrt(vi * inv_correction_2) + epsilon)) * lr_t


@_kernel
def rmsprop_step(params, gradient, s, rho, one_minus_rho, epsilon, lr, clipvalue, scale):
    """RMSprop, as optimizers.RMSprop._step."""
    for i in prange(params.shape[0]):
        g = _clipped(gradient[i], clipvalue, scale)
        si = s[i] * rho + (g * g) * one_minus_rho
        s[i] = si
        params[i] -= (g / (np.sqrt(si) + epsilon)) * lr


@_kernel
def adagrad_step(params, gradient, s, epsilon, lr, clipvalue, scale):
    """Adagrad, as optimizers.Adagrad._step."""
    for i in prange(params.shape[0]):
        g = _clipped(gradient[i], clipvalue, scale)
        si = s[i] + g * g
        s[i] = si
        params[i] -= (g / (np.sqrt(si) + epsilon)) * lr


@_kernel
def flush_tiny(state, threshold):
    """Set entries smaller in magnitude than threshold to zero (see Optimizer._flush_tiny)."""
    for i in prange(state.shape[0]):
        if abs(state[i]) < threshold:
            state[i] = 0


__all__ = ["ACTIVATION_CODES", "OUTPUT_CODES", "PARALLEL", "SERIAL"]
