"""Kernel sets: the element-wise work of a training step, done two ways.

A training step is a handful of matrix products plus element-wise passes:
bias add and activation, the activation's slope times the delta, the output
layer's gradient with the batch loss and accuracy, and the optimizer's update
of every parameter.  NumPy makes each of those several passes over memory on
one core; a compiled loop can make one pass, split over all cores.

This module offers both behind one interface, :class:`Kernels`:

* ``NUMPY`` (:class:`Kernels`) is the reference.  It calls the NumPy code in
  :mod:`~nnscratch.activations`, :mod:`~nnscratch.losses` and
  :mod:`~nnscratch.optimizers` and adds nothing of its own.
* :class:`NumbaKernels` runs the fused loops of :mod:`nnscratch._numba_kernels`
  (``pip install -e '.[fast]' in the checkout``), compiled on first use and cached on
  disk.

Both compute the same values to rounding; ``tests/test_kernels.py`` checks
every kernel against the reference.  The network picks a set with
:func:`resolve_kernels`: Numba when it can be imported, unless the
environment variable ``NNSCRATCH_KERNELS`` is ``numpy``.

Only built-in pieces have kernels: activations, losses and optimizers are
named by their registry names, and users' own ``(f, df)`` pairs and
optimizers never come here.
"""

from __future__ import annotations

import math
import os
import types

import numpy as np

from . import activations as _activations  # noqa: F401  (registers the built-ins)
from . import losses as _losses  # noqa: F401
from .optimizers import (
    _BUILTIN_TYPES,
    adagrad_update,
    adam_update,
    clip_gradient,
    rmsprop_update,
    sgd_update,
)
from .registry import hidden_activations, losses, output_activations

ENV_VAR = "NNSCRATCH_KERNELS"
INSTALL_HINT = "pip install -e '.[fast]' in the checkout"

# The library's own objects (a user's piece registered later under a built-in's
# name replaces the registry entry, never these).
_HIDDEN = {
    name: hidden_activations.builtin(name)
    for name in ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "identity")
}
_OUTPUT = {name: output_activations.builtin(name) for name in ("softmax", "sigmoid", "identity")}
_LOSSES = {
    name: losses.builtin(name)
    for name in ("categorical_crossentropy", "binary_crossentropy", "mse")
}

# the clipping guard of losses._clip: [eps, 1 - eps] in each dtype
_GUARDS = {
    np.dtype(t): (t(np.finfo(t).eps), t(1 - np.finfo(t).eps)) for t in (np.float32, np.float64)
}

#: The (output activation, loss) pairs with a fused output gradient.
CANONICAL_PAIRS = (
    ("softmax", "categorical_crossentropy"),
    ("sigmoid", "binary_crossentropy"),
    ("identity", "mse"),
)

#: The names :meth:`Kernels.dense_forward` knows (hidden and output activations).
ACTIVATIONS = tuple(sorted(set(_HIDDEN) | set(_OUTPUT)))


def _activation(name, hidden):
    table = _HIDDEN if hidden else _OUTPUT
    if name not in table:
        known = sorted(table)
        raise ValueError(f"no kernel for the activation {name!r}; expected one of {known}")
    return table[name]


def _forward_activation(name):
    # softmax exists only as an output; the others compute the same f either way
    return _OUTPUT["softmax"] if name == "softmax" else _activation(name, hidden=True)


def kernel_activation(act, hidden):
    """The registry name of ``act`` when it is a built-in with kernels, else None.

    Reads the pair's own answer, :attr:`nnscratch._pair.Pair.builtin` (a
    user's pair, registered under a built-in's name or not, has none).
    """
    name = getattr(act, "builtin", None)
    kind = "hidden" if hidden else "output"
    if name is None or getattr(act, "kind", kind) != kind:
        return None
    return name if name in (_HIDDEN if hidden else _OUTPUT) else None


def kernel_output_pair(act, loss):
    """``(activation name, loss name)`` when the output layer and loss are a built-in
    canonical pair (one fused output gradient), else None."""
    pair = (kernel_activation(act, hidden=False), getattr(loss, "builtin", None))
    return pair if pair in CANONICAL_PAIRS else None


def _check_pair(act_name, loss_name):
    if (act_name, loss_name) not in CANONICAL_PAIRS:
        raise ValueError(
            f"no fused output gradient for ({act_name!r}, {loss_name!r}); "
            f"expected one of {list(CANONICAL_PAIRS)}"
        )


class Kernels:
    """The NumPy kernel set, and the interface every kernel set offers.

    All methods work in place on arrays the caller owns, of one floating
    dtype (float32 or float64).  Shapes: ``z``, ``a``, ``out``, ``delta``,
    ``y`` are ``(n, k)``; ``b`` is a bias row ``(1, k)``; parameter and state
    vectors are flat ``(n_params,)``.
    """

    name = "numpy"
    #: whether Optimizer.step should hand its update to this set
    fuses_optimizers = False

    # -- layers ---------------------------------------------------------------
    def dense_forward(self, act_name, z, b, out):
        """``z += b`` and ``out = f(z)``; returns the output array.

        ``z`` keeps the pre-activation for the backward pass.  For the identity
        the returned array is ``z`` itself (nothing is copied).
        """
        z += b
        return _forward_activation(act_name).forward_into(z, out)

    def dense_backward(self, act_name, z, a, delta):
        """``delta *= f'(z)`` in place for a hidden activation; ``a = f(z)``."""
        _activation(act_name, hidden=True).backward_into(z, a, delta)

    def output_delta(self, act_name, loss_name, a, y, out, scale, sample_weight=None):
        """The output layer's ``dL/dz`` times ``scale`` into ``out``, and batch figures.

        Parameters
        ----------
        act_name, loss_name : str
            A canonical pair (see :data:`CANONICAL_PAIRS`).
        a : ndarray (n, m)
            The output activation's values.
        y : ndarray (n, m)
            Targets.
        out : ndarray (n, m)
            Receives ``dL_i/dz_i * scale_i`` per row.
        scale : float or ndarray (n,)
            One factor for every row (``1/n`` for a batch mean) or one per row
            (``w_i / sum(w)`` for a weighted mean).
        sample_weight : ndarray (n,), optional
            Weights of the rows' losses in the returned sum.

        Returns
        -------
        loss_sum : float
            ``sum_i w_i L_i`` (``w_i = 1`` without weights), with predictions
            clipped into ``[eps, 1 - eps]`` inside the logs as :mod:`losses` does.
        weight_sum : float
            ``sum_i w_i`` (``n`` without weights).
        correct : int
            Rows whose arg-max of ``a`` matches that of ``y`` (softmax), units
            with ``(a > 0.5) == (y > 0.5)`` (sigmoid), or 0 (identity).
        """
        _check_pair(act_name, loss_name)
        loss = _LOSSES[loss_name]
        loss.fused[act_name](a, y, out)
        out *= scale if np.ndim(scale) == 0 else np.reshape(scale, (-1, 1))
        per_sample = loss.f(a, y)[:, 0]
        if sample_weight is None:
            loss_sum, weight_sum = float(per_sample.sum()), float(a.shape[0])
        else:
            loss_sum = float(sample_weight @ per_sample)
            weight_sum = float(sample_weight.sum())
        if act_name == "softmax":
            correct = np.count_nonzero(a.argmax(axis=1) == y.argmax(axis=1))
        elif act_name == "sigmoid":
            correct = np.count_nonzero((a > 0.5) == (y > 0.5))
        else:
            correct = 0
        return loss_sum, weight_sum, int(correct)

    # -- optimizers -------------------------------------------------------------
    # Each updates params and the state vectors in place from the gradient,
    # which is clipped first (clipvalue, then clipnorm) and never modified.
    def sgd_step(
        self, params, gradient, velocity, lr, momentum, nesterov, *, clipvalue=None, clipnorm=None
    ):
        """One step of :class:`~nnscratch.optimizers.SGD`."""
        gradient = clip_gradient(gradient, clipvalue, clipnorm)
        sgd_update(params, gradient, velocity, np.empty_like(params), lr, momentum, nesterov)

    def adam_step(
        self,
        params,
        gradient,
        m,
        v,
        lr,
        beta_1,
        beta_2,
        epsilon,
        t,
        *,
        clipvalue=None,
        clipnorm=None,
    ):
        """Step number ``t`` (1 for the first) of :class:`~nnscratch.optimizers.Adam`."""
        gradient = clip_gradient(gradient, clipvalue, clipnorm)
        adam_update(params, gradient, m, v, np.empty_like(params), lr, beta_1, beta_2, epsilon, t)

    def rmsprop_step(
        self, params, gradient, s, lr, rho, epsilon, *, clipvalue=None, clipnorm=None
    ):
        """One step of :class:`~nnscratch.optimizers.RMSprop`."""
        gradient = clip_gradient(gradient, clipvalue, clipnorm)
        rmsprop_update(params, gradient, s, np.empty_like(params), lr, rho, epsilon)

    def adagrad_step(self, params, gradient, s, lr, epsilon, *, clipvalue=None, clipnorm=None):
        """One step of :class:`~nnscratch.optimizers.Adagrad`."""
        gradient = clip_gradient(gradient, clipvalue, clipnorm)
        adagrad_update(params, gradient, s, np.empty_like(params), lr, epsilon)

    def flush_tiny(self, state, threshold):
        """Set the entries of ``state`` smaller in magnitude than ``threshold`` to 0."""
        state *= np.abs(state) >= threshold

    def supports_optimizer(self, optimizer):
        """Whether ``optimizer`` is a built-in whose step this set runs."""
        return type(optimizer) in _BUILTIN_TYPES

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r}>"

    def __reduce__(self):
        # pickles by name: unpickled, it is the shared set of this process
        return (_by_name, (self.name,))


class NumbaKernels(Kernels):
    """The fused kernel set: one compiled pass per piece of work.

    Building one imports Numba (an ImportError naming the extra to install
    otherwise).  Kernels compile on first use per dtype and are cached on disk.

    Parameters
    ----------
    parallel : bool
        Split every pass over Numba's threads (``'numba-parallel'``), or run
        it on the calling thread (``'numba'``, the default).  The parallel
        set is faster on an idle machine with several cores, but each of its
        passes waits for its slowest thread: on a machine busy with other work
        (more runnable threads than cores) it was measured up to 3-5 times
        slower than NumPy, which is why it is not chosen automatically.
    """

    fuses_optimizers = True

    def __init__(self, parallel=False):
        try:
            from . import _numba_kernels
        except Exception as err:  # missing, or installed but broken
            raise ImportError(
                f"the 'numba' kernels need Numba, which could not be imported "
                f"({err}); install it with: {INSTALL_HINT}"
            ) from err
        self.parallel = bool(parallel)
        self.name = "numba-parallel" if self.parallel else "numba"
        self._codes = _numba_kernels
        self._k = types.SimpleNamespace(
            **(_numba_kernels.PARALLEL if self.parallel else _numba_kernels.SERIAL)
        )
        self._ones = {}  # a one-entry scale array per dtype (reused)
        self._no_weights = {}

    # -- layers ---------------------------------------------------------------
    def dense_forward(self, act_name, z, b, out):
        code = self._code(act_name)
        self._k.dense_forward(code, z, b, out)
        return z if act_name == "identity" else out

    def dense_backward(self, act_name, z, a, delta):
        _activation(act_name, hidden=True)  # refuses output-only names
        if act_name != "identity":
            self._k.dense_backward(self._code(act_name), z, a, delta)

    def output_delta(self, act_name, loss_name, a, y, out, scale, sample_weight=None):
        _check_pair(act_name, loss_name)
        dtype = a.dtype.type
        if np.ndim(scale) == 0:
            factor = self._ones.get(a.dtype)
            if factor is None:
                factor = self._ones[a.dtype] = np.empty(1, a.dtype)
            factor[0] = scale
        else:
            factor = np.asarray(scale, dtype=a.dtype).reshape(-1)
        weights = sample_weight
        if weights is None:
            weights = self._no_weights.get(a.dtype)
            if weights is None:
                weights = self._no_weights[a.dtype] = np.empty(0, a.dtype)
        low, high = _GUARDS[a.dtype]
        loss_sum, weight_sum, correct = self._k.output_delta(
            self._codes.OUTPUT_CODES[act_name, loss_name],
            a,
            y,
            out,
            factor,
            weights,
            low,
            high,
            dtype(1.0 / a.shape[1]),
        )
        return float(loss_sum), float(weight_sum), int(correct)

    # -- optimizers -------------------------------------------------------------
    def _clip_args(self, gradient, clipvalue, clipnorm):
        """(clipvalue, scale) in the gradient's dtype; clipvalue 0 means off."""
        dtype = gradient.dtype.type
        value = dtype(0 if clipvalue is None else clipvalue)
        scale = 1.0
        if clipnorm is not None:
            norm = math.sqrt(self._k.clipped_sum_of_squares(gradient, value))
            if norm > clipnorm:
                scale = clipnorm / norm
        return value, dtype(scale)

    def sgd_step(
        self, params, gradient, velocity, lr, momentum, nesterov, *, clipvalue=None, clipnorm=None
    ):
        dtype = params.dtype.type
        value, scale = self._clip_args(gradient, clipvalue, clipnorm)
        self._k.sgd_step(
            params, gradient, velocity, dtype(lr), dtype(momentum), bool(nesterov), value, scale
        )

    def adam_step(
        self,
        params,
        gradient,
        m,
        v,
        lr,
        beta_1,
        beta_2,
        epsilon,
        t,
        *,
        clipvalue=None,
        clipnorm=None,
    ):
        dtype = params.dtype.type
        value, scale = self._clip_args(gradient, clipvalue, clipnorm)
        # the same scalars adam_update forms, rounded to the dtype as NumPy rounds them
        self._k.adam_step(
            params,
            gradient,
            m,
            v,
            dtype(beta_1),
            dtype(1 - beta_1),
            dtype(beta_2),
            dtype(1 - beta_2),
            dtype(1.0 / (1 - beta_2**t)),
            dtype(epsilon),
            dtype(lr / (1 - beta_1**t)),
            value,
            scale,
        )

    def rmsprop_step(
        self, params, gradient, s, lr, rho, epsilon, *, clipvalue=None, clipnorm=None
    ):
        dtype = params.dtype.type
        value, scale = self._clip_args(gradient, clipvalue, clipnorm)
        self._k.rmsprop_step(
            params,
            gradient,
            s,
            dtype(rho),
            dtype(1 - rho),
            dtype(epsilon),
            dtype(lr),
            value,
            scale,
        )

    def adagrad_step(self, params, gradient, s, lr, epsilon, *, clipvalue=None, clipnorm=None):
        dtype = params.dtype.type
        value, scale = self._clip_args(gradient, clipvalue, clipnorm)
        self._k.adagrad_step(params, gradient, s, dtype(epsilon), dtype(lr), value, scale)

    def flush_tiny(self, state, threshold):
        self._k.flush_tiny(state, state.dtype.type(threshold))

    def _code(self, act_name):
        code = self._codes.ACTIVATION_CODES.get(act_name)
        if code is None:
            raise ValueError(
                f"no kernel for the activation {act_name!r}; expected one of {list(ACTIVATIONS)}"
            )
        return code


#: The NumPy reference set (stateless, shared).
NUMPY = Kernels()
_numba_sets = {}

#: the names resolve_kernels and NNSCRATCH_KERNELS accept
CHOICES = ("auto", "numpy", "numba", "numba-parallel")


def numba_kernels(parallel=False):
    """The shared :class:`NumbaKernels` (built on first call; ImportError without Numba)."""
    kernels = _numba_sets.get(bool(parallel))
    if kernels is None:
        kernels = _numba_sets[bool(parallel)] = NumbaKernels(parallel)
    return kernels


def _by_name(name):
    """Unpickling: the shared set of that name (NumPy when Numba is missing here)."""
    if name in ("numba", "numba-parallel"):
        try:
            return numba_kernels(parallel=name == "numba-parallel")
        except ImportError:
            return NUMPY
    return NUMPY


def resolve_kernels(spec="auto"):
    """The kernel set for a network's ``kernels`` argument.

    Parameters
    ----------
    spec : {'auto', 'numpy', 'numba', 'numba-parallel', None} or Kernels
        ``'auto'`` (or None): the environment variable ``NNSCRATCH_KERNELS``
        when it names a set, else the Numba set when Numba can be imported,
        else NumPy.  ``'numpy'``: the NumPy reference.  ``'numba'``: the fused
        Numba set (one thread), or an ImportError saying what to install;
        ``'numba-parallel'``: the same loops split over all cores.  A Kernels
        object is returned as is.

    Returns
    -------
    Kernels
    """
    if isinstance(spec, Kernels):
        return spec
    if spec is None or spec == "auto":
        choice = os.environ.get(ENV_VAR, "").strip().lower()
        if choice in ("", "auto"):
            try:
                return numba_kernels()
            except ImportError:
                return NUMPY
        if choice not in CHOICES:
            raise ValueError(
                f"the environment variable {ENV_VAR} must be one of "
                f"{list(CHOICES)}, got {os.environ[ENV_VAR]!r}"
            )
        spec = choice
    if spec == "numpy":
        return NUMPY
    if spec in ("numba", "numba-parallel"):
        return numba_kernels(parallel=spec == "numba-parallel")
    raise ValueError(
        f"kernels must be one of {list(CHOICES)}, None or a Kernels object, got {spec!r}"
    )
