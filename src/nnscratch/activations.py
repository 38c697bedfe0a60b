"""Activation functions, each written next to its derivative.

Two kinds, following the network's contract (arrays are batch-first):

* hidden activations act elementwise: ``f(z)`` and ``df(z)`` both map an
  ``(n, k)`` array to an ``(n, k)`` array;
* output activations may mix a whole row (softmax does): ``f(z)`` maps
  ``(n, m) -> (n, m)`` and ``df(z)`` returns one Jacobian per sample, shape
  ``(n, m, m)`` with ``J[i, a, b] = d f(z_i)_a / d z_ib``.

The plain ``(f, df)`` functions are the public contract.  The :class:`Activation`
objects registered at the bottom add two optional shortcuts that the network
uses for built-ins only: writing ``f(z)`` into a buffer it already owns, and
multiplying by the derivative without ever building the ``(n, m, m)`` Jacobian
(a vector-Jacobian product).  A test checks the shortcuts against ``df``.
"""

from __future__ import annotations

import functools

import numpy as np

from ._pair import Pair, find_pair, register_builtin
from .registry import hidden_activations, output_activations

# --------------------------------------------------------------------------- #
# Hidden (elementwise) activations
# --------------------------------------------------------------------------- #


def relu(z):
    """Rectified linear unit, ``max(z, 0)``."""
    return np.maximum(z, 0)


def d_relu(z):
    """1 where ``z > 0``, else 0 (the kink at 0 gets slope 0)."""
    return (z > 0).astype(np.result_type(z, np.float32))


def sigmoid(z):
    """Logistic function ``1 / (1 + exp(-z))``, computed without overflow."""
    z = np.asarray(z)
    # exp(-|z|) is at most 1, so neither branch can overflow; the two branches
    # are the same function rearranged for z >= 0 and z < 0.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(e.dtype, copy=False)


def d_sigmoid(z):
    """Elementwise slope of the logistic function, ``s * (1 - s)``.

    Written as ``e / (1 + e)**2`` with ``e = exp(-|z|)``: the same value, but
    without the cancellation in ``1 - s`` when ``s`` is close to 1, so the
    slope keeps its relative precision far into saturation.
    """
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return e / ((1 + e) * (1 + e))


def tanh(z):
    """Hyperbolic tangent."""
    return np.tanh(z)


def d_tanh(z):
    """``1 - tanh(z)**2``, the squared hyperbolic secant.

    Written as ``4 e / (1 + e)**2`` with ``e = exp(-2|z|)``, which equals
    ``1 - tanh(z)**2`` but keeps its relative precision where ``tanh(z)`` is
    within rounding of +-1 (there ``1 - t*t`` would be 0 or pure noise).
    """
    z = np.asarray(z)
    e = np.exp(-2 * np.abs(z))
    return 4 * e / ((1 + e) * (1 + e))


def leaky_relu(z, alpha=0.01):
    """``z`` for positive inputs, ``alpha * z`` otherwise."""
    return np.where(z > 0, z, alpha * z)


def d_leaky_relu(z, alpha=0.01):
    """1 for positive inputs, ``alpha`` otherwise."""
    z = np.asarray(z)
    return np.where(z > 0, 1.0, alpha).astype(np.result_type(z, np.float32))


def elu(z, alpha=1.0):
    """Exponential linear unit: ``z`` if positive else ``alpha * (exp(z) - 1)``."""
    # expm1 only ever sees non-positive numbers, so it cannot overflow.
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))


def d_elu(z, alpha=1.0):
    """1 if ``z`` is positive else ``alpha * exp(z)``."""
    z = np.asarray(z)
    return np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0))).astype(
        np.result_type(z, np.float32), copy=False
    )


def softplus(z):
    """Smooth ReLU, ``log(1 + exp(z))``, evaluated stably with logaddexp."""
    return np.logaddexp(0, z)


def d_softplus(z):
    """The slope of softplus is the logistic function."""
    return sigmoid(z)


def _ones_like(z):
    """Elementwise derivative of the identity, used when it is a hidden activation."""
    return np.ones_like(z)


# --------------------------------------------------------------------------- #
# Output activations (derivatives are Jacobian stacks)
# --------------------------------------------------------------------------- #


def identity(z):
    """Returns its input unchanged (linear output, for regression)."""
    return z


def d_identity(z):
    """A stack of ``n`` identity matrices, shape ``(n, m, m)``."""
    n, m = np.shape(z)
    return np.broadcast_to(np.eye(m, dtype=np.result_type(z, np.float32)), (n, m, m)).copy()


def softmax(z):
    """Row-wise softmax.

    Each row's maximum is subtracted before exponentiating.  That leaves the
    result unchanged (numerator and denominator are both scaled by the same
    ``exp(-max)``) but keeps every exponent <= 0, so nothing overflows.
    """
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def d_softmax(z):
    """Jacobian of softmax per sample: ``diag(s) - s s^T``, shape ``(n, m, m)``."""
    s = softmax(z)
    jac = -s[:, :, None] * s[:, None, :]
    diag = np.arange(s.shape[1])
    jac[:, diag, diag] += s
    return jac


def exp(z):
    """The exponential output activation (the inverse of Poisson regression's log link)."""
    return np.exp(z)


def d_exp(z):
    """Jacobians of the elementwise exponential: ``diag(exp(z))`` per row, (n, m, m)."""
    n, m = np.shape(z)
    jac = np.zeros((n, m, m), dtype=np.result_type(z, np.float32))
    diag = np.arange(m)
    jac[:, diag, diag] = np.exp(z)
    return jac


def d_sigmoid_output(z):
    """Jacobian stack of sigmoid used as an output layer.

    Every output unit depends on its own input only, so each Jacobian is the
    diagonal matrix of ``s * (1 - s)``.
    """
    slope = d_sigmoid(z)
    n, m = slope.shape
    jac = np.zeros((n, m, m), dtype=slope.dtype)
    diag = np.arange(m)
    jac[:, diag, diag] = slope
    return jac


# --------------------------------------------------------------------------- #
# Activation objects: the pair plus optional in-place shortcuts
# --------------------------------------------------------------------------- #


class Activation(Pair):
    """An activation pair with a name and optional fast paths.

    It unpacks like the article's tuple (``f, df = act``), so it can be used
    anywhere a pair is expected.

    Parameters
    ----------
    name : str or None
        Registry name; None for an unnamed user pair.
    f, df : callable
        The function and its derivative (elementwise for hidden activations,
        a Jacobian stack for output activations).
    kind : {'hidden', 'output'}
    forward_into : callable, optional
        ``forward_into(z, out)`` writes ``f(z)`` into ``out`` and returns it.
    backward_into : callable, optional
        Hidden only: ``backward_into(z, a, delta)`` multiplies ``delta`` in
        place by ``df(z)``, where ``a = f(z)`` is available for reuse.
    vjp : callable, optional
        Output only: ``vjp(z, a, g)`` returns ``g @ J(z)`` row by row, shape
        ``(n, m)``, without building the Jacobian.

    The fast paths must be exactly as precise as ``df`` over the whole input
    range; ``tests/test_activations.py`` sweeps them against it.
    """

    def __init__(self, name, f, df, *, kind, forward_into=None, backward_into=None, vjp=None):
        if kind not in ("hidden", "output"):
            raise ValueError(f"kind must be 'hidden' or 'output', got {kind!r}")
        super().__init__(name, f, df)
        self.kind = kind
        self.forward_into = forward_into
        self.backward_into = backward_into
        self.vjp = vjp

    def __repr__(self):
        return f"Activation({self.label!r}, kind={self.kind!r})"


def _copy_into(f, z, out):
    out[...] = f(z)
    return out


def _generic_forward_into(f):
    # a partial of module-level functions (not a closure), so networks pickle
    return functools.partial(_copy_into, f)


def _relu_forward(z, out):
    return np.maximum(z, 0, out=out)


def _relu_backward(z, a, delta):
    # a = max(z, 0) is positive exactly where the slope is 1 (multiplying by a
    # boolean mask is several times faster than np.copyto with where=).
    np.multiply(delta, a > 0, out=delta)


def _tanh_forward(z, out):
    return np.tanh(z, out=out)


def _tanh_backward(z, a, delta):
    delta *= d_tanh(z)  # not 1 - a*a, which cancels to 0 in saturation


def _sigmoid_backward(z, a, delta):
    delta *= d_sigmoid(z)  # not a * (1 - a), which cancels for large z


def _identity_forward(z, out):
    return z  # no copy needed: nothing writes into z afterwards


def _identity_backward(z, a, delta):
    return None  # slope 1 everywhere


def _leaky_backward(z, a, delta):
    np.multiply(delta, 0.01, out=delta, where=z <= 0)


def _elu_backward(z, a, delta):
    # for z <= 0 the slope is exp(z).  It also equals a + 1, but that sum cancels
    # every digit for strongly negative z (a is then within rounding of -1), so
    # it is computed from z itself.
    np.multiply(delta, np.exp(np.minimum(z, 0)), out=delta, where=z <= 0)


def _softplus_backward(z, a, delta):
    delta *= sigmoid(z)


def _softmax_forward(z, out):
    # the same steps as softmax(), written into a reused buffer
    np.subtract(z, np.maximum.reduce(z, axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= np.add.reduce(out, axis=1, keepdims=True)
    return out


def _softmax_vjp(z, a, g):
    # (g @ (diag(s) - s s^T))_b = s_b * (g_b - sum_a g_a s_a)
    return a * (g - np.sum(g * a, axis=1, keepdims=True))


def _sigmoid_vjp(z, a, g):
    return g * d_sigmoid(z)


def _identity_vjp(z, a, g):
    return g


def _exp_forward(z, out):
    return np.exp(z, out=out)


def _exp_vjp(z, a, g):
    return g * a  # the slope of exp is exp itself


for _name, _f, _df, _fwd, _bwd in [
    ("relu", relu, d_relu, _relu_forward, _relu_backward),
    ("sigmoid", sigmoid, d_sigmoid, None, _sigmoid_backward),
    ("tanh", tanh, d_tanh, _tanh_forward, _tanh_backward),
    ("leaky_relu", leaky_relu, d_leaky_relu, None, _leaky_backward),
    ("elu", elu, d_elu, None, _elu_backward),
    ("softplus", softplus, d_softplus, None, _softplus_backward),
    ("identity", identity, _ones_like, _identity_forward, _identity_backward),
]:
    register_builtin(
        hidden_activations,
        Activation(
            _name,
            _f,
            _df,
            kind="hidden",
            forward_into=_fwd or _generic_forward_into(_f),
            backward_into=_bwd,
        ),
    )

for _name, _f, _df, _fwd, _vjp in [
    ("softmax", softmax, d_softmax, _softmax_forward, _softmax_vjp),
    ("sigmoid", sigmoid, d_sigmoid_output, None, _sigmoid_vjp),
    ("identity", identity, d_identity, _identity_forward, _identity_vjp),
    ("exp", exp, d_exp, _exp_forward, _exp_vjp),
]:
    register_builtin(
        output_activations,
        Activation(
            _name, _f, _df, kind="output", forward_into=_fwd or _generic_forward_into(_f), vjp=_vjp
        ),
    )


def register_activation(name, f, df, *, kind="hidden", overwrite=False):
    """Give your own ``(f, df)`` pair a name.

    Registered pairs can be passed by name, and model files can refer to them.
    ``kind='hidden'`` expects elementwise functions; ``kind='output'`` expects
    ``df`` to return an ``(n, m, m)`` Jacobian stack.
    """
    if not callable(f) or not callable(df):
        raise TypeError(f"register_activation needs two callables (f, df); got {f!r} and {df!r}")
    if kind not in ("hidden", "output"):
        raise ValueError(f"kind must be 'hidden' or 'output', got {kind!r}")
    registry = hidden_activations if kind == "hidden" else output_activations
    return registry.register(name, Activation(name, f, df, kind=kind), overwrite=overwrite)


def resolve_activation(spec, kind, argname):
    """Turn a name, an :class:`Activation` or an ``(f, df)`` pair into an Activation.

    A tuple made of a built-in's own functions is recognised as that built-in,
    so the article's ``(softmax, d_softmax)`` gets the same fast path as
    ``'softmax'``.  A built-in hidden pair in the output slot (say
    ``(sigmoid, d_sigmoid)``) resolves to the output version of the same
    function, whose derivative has the output shape.
    """
    registry = hidden_activations if kind == "hidden" else output_activations
    if isinstance(spec, str):
        return registry.get(spec)
    if isinstance(spec, Activation):
        if spec.kind != kind and spec.name in registry:
            return registry.get(spec.name)
        return spec
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and all(callable(p) for p in spec):
        f, df = spec
        for reg in (registry, hidden_activations, output_activations):
            found = find_pair(reg, f, df)
            if found is not None:
                name = found[0]
                if name in registry and registry.get(name).f is f:
                    return registry.get(name)
        return Activation(None, f, df, kind=kind)
    raise TypeError(
        f"{argname} must be a (function, derivative) pair of callables, an Activation "
        f"or one of the names {registry.names()}; got {_describe(spec)}"
    )


def _describe(value):
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of length {len(value)}: {value!r}"[:200]
    return f"{type(value).__name__} {value!r}"[:200]
