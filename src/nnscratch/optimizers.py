"""Gradient-based optimizers.

The network talks to an optimizer through one method, the article's
``update(old_params, gradient) -> new_params``, where both arguments are flat
1-D vectors (all weights, then all biases).  Any object with that method works.

The built-ins below keep their state (velocities, moment estimates) in arrays
aligned with that flat vector, and can hand the state out and take it back
(:meth:`Optimizer.get_state` / :meth:`Optimizer.set_state`).  They also offer
:meth:`Optimizer.step`, which does the same arithmetic in place; the network
uses it for built-ins so a training step allocates nothing.  ``update`` never
modifies its arguments.

The arithmetic of each built-in is written once, in NumPy, in the functions
``sgd_update``, ``adam_update``, ``rmsprop_update`` and ``adagrad_update``
below (the reference).  ``step(..., kernels=...)`` can instead run a fused
kernel set (:mod:`nnscratch._kernels`, Numba) that makes one pass over the
parameters where NumPy makes four to ten; it computes the same thing to
rounding, and the test suite checks that it does.
"""

from __future__ import annotations

import numpy as np

from . import _checks
from .registry import optimizers

FLUSH_EVERY = 16
FLUSH_BELOW = 2.0**24


def _check_number(owner, name, value, **bounds):
    """The library's one number check (:func:`nnscratch._checks.check_number`), owned."""
    return _checks.check_number(name, value, owner=owner, **bounds)


class Optimizer:
    """Base class: settings, aligned state, ``update`` and in-place ``step``.

    Subclasses list their state arrays in ``_state_names`` and implement
    ``_step(params, gradient, lr)``.  What a class keeps is stated on the class,
    where model files read it: ``_state_names`` (the arrays, each aligned with
    the flat parameter vector), ``_non_negative_state`` (those that are sums of
    squares, never negative) and ``_state_scalars`` (the numbers besides them).

    Parameters
    ----------
    learning_rate : float or callable
        A positive number, or a schedule: a callable taking the step number
        (0 for the first update) and returning the rate (see
        :mod:`nnscratch.schedules`).
    clipnorm : float, optional, keyword-only
        Scale the whole gradient down to this Euclidean norm when it is longer.
    clipvalue : float, optional, keyword-only
        Clip every gradient entry into ``[-clipvalue, clipvalue]``.
    """

    _state_names = ()
    _non_negative_state = ()
    _state_scalars = ("iterations",)

    def __init__(self, learning_rate, *, clipnorm=None, clipvalue=None):
        owner = type(self).__name__
        if callable(learning_rate):
            self.learning_rate = learning_rate
        else:
            self.learning_rate = _check_number(
                owner, "learning_rate", learning_rate, low=0, low_open=True
            )
        self.clipnorm = (
            None
            if clipnorm is None
            else _check_number(owner, "clipnorm", clipnorm, low=0, low_open=True)
        )
        self.clipvalue = (
            None
            if clipvalue is None
            else _check_number(owner, "clipvalue", clipvalue, low=0, low_open=True)
        )
        self.iterations = 0
        self._state = {}
        self._scratch = None
        self._clip_buffer = None

    # -- the article's interface ------------------------------------------------
    def update(self, old_params, gradient):
        """Return the new parameter vector; neither argument is modified."""
        params = np.array(old_params, copy=True)
        self.step(params, np.asarray(gradient))
        return params

    # -- in place ---------------------------------------------------------------
    def step(self, params, gradient, kernels=None):
        """Update ``params`` in place from ``gradient`` (both flat, same length).

        Parameters
        ----------
        params, gradient : ndarray of shape (n_params,)
        kernels : nnscratch._kernels.Kernels, optional
            A kernel set whose fused update to use (clipping included).  Only
            the built-in classes themselves use it; a subclass, or ``None``,
            takes the NumPy reference path.
        """
        if params.shape != gradient.shape or params.ndim != 1:
            raise ValueError(
                f"{type(self).__name__}: params and gradient must be flat vectors of one "
                f"length, got shapes {params.shape} and {gradient.shape}"
            )
        self._ensure_state(params)
        fused = kernels is not None and kernels.fuses_optimizers and type(self) in _BUILTIN_TYPES
        if fused:
            self._fused_step(kernels, params, gradient, self.current_learning_rate())
        else:
            if self.clipnorm is not None or self.clipvalue is not None:
                gradient = self._clip_into_buffer(gradient)
            self._step(params, gradient, self.current_learning_rate())
        self.iterations += 1
        if self.iterations % FLUSH_EVERY == 0:
            self._flush_tiny(kernels if fused else None)
        return params

    def clip_gradient(self, gradient):
        """A clipped copy: each entry into ``[-clipvalue, clipvalue]``, then the whole
        vector scaled down to a Euclidean norm of at most ``clipnorm``."""
        return clip_gradient(gradient, self.clipvalue, self.clipnorm)

    def _clip_into_buffer(self, gradient):
        """What :meth:`clip_gradient` returns, written into a reused buffer."""
        buffer = getattr(self, "_clip_buffer", None)
        if buffer is None or buffer.shape != gradient.shape or buffer.dtype != gradient.dtype:
            buffer = self._clip_buffer = np.empty_like(gradient)
        return clip_gradient(gradient, self.clipvalue, self.clipnorm, out=buffer)

    def _fused_step(self, kernels, params, gradient, lr):  # pragma: no cover - abstract
        raise NotImplementedError

    def current_learning_rate(self):
        """The rate the next step will use."""
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    def _ensure_state(self, params):
        if (
            self._scratch is not None
            and self._scratch.shape == params.shape
            and self._scratch.dtype == params.dtype
        ):
            return
        for name in self._state_names:
            arr = self._state.get(name)
            if arr is None:
                self._state[name] = np.zeros_like(params)
            elif arr.shape != params.shape:
                raise ValueError(
                    f"{type(self).__name__} holds state for {arr.size} parameters but was "
                    f"given {params.size}; use a new optimizer for a different network"
                )
            elif arr.dtype != params.dtype:
                self._state[name] = arr.astype(params.dtype)
        self._scratch = np.empty_like(params)

    def _step(self, params, gradient, lr):  # pragma: no cover - abstract
        raise NotImplementedError

    def _flush_tiny(self, kernels=None):
        """Set state entries below ``FLUSH_BELOW * tiny`` to exactly zero.

        Moving averages of gradients that are zero (a dead ReLU unit, say) decay
        geometrically towards the subnormal range, where every arithmetic
        operation is about a hundred times slower on common CPUs; left alone,
        Adam's first moment can make an epoch several times slower.  Values this
        small (below about 2e-31 in float32) change no update measurably.
        """
        for name in self._state_names:
            arr = self._state[name]
            threshold = np.finfo(arr.dtype).tiny * FLUSH_BELOW
            if kernels is not None:
                kernels.flush_tiny(arr, threshold)
                continue
            keep = np.abs(arr, out=self._scratch) >= threshold
            arr *= keep

    # -- state and settings -----------------------------------------------------
    def get_state(self):
        """Copies of the state arrays plus the step counter, as a dict."""
        state = {name: arr.copy() for name, arr in self._state.items()}
        state["iterations"] = self.iterations
        return state

    def set_state(self, state):
        """Restore what :meth:`get_state` returned (arrays are copied in)."""
        state = dict(state)
        iterations = state.pop("iterations", 0)
        unknown = set(state) - set(self._state_names)
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no state named {sorted(unknown)}; "
                f"it keeps {list(self._state_names)}"
            )
        self._state = {name: np.array(arr, copy=True) for name, arr in state.items()}
        self.iterations = int(iterations)
        self._scratch = None

    def reset(self):
        """Forget all state, as if new."""
        self._state = {}
        self._scratch = None
        self.iterations = 0

    def get_config(self):
        """The constructor's arguments as a dict (a schedule is returned as is)."""
        config = {name: getattr(self, name) for name in self._config_names}
        config.update(clipnorm=self.clipnorm, clipvalue=self.clipvalue)
        return config

    _config_names = ("learning_rate",)

    def __repr__(self):
        args = ", ".join(
            f"{k}={v!r}"
            for k, v in self.get_config().items()
            if not (k.startswith("clip") and v is None)
        )
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    With velocity ``v`` (zero at first)::

        v <- momentum * v - learning_rate * g
        p <- p + v                                   (classic)
        p <- p + momentum * v - learning_rate * g    (nesterov=True)
    """

    _state_names = ("velocity",)
    _config_names = ("learning_rate", "momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **clipping):
        super().__init__(learning_rate, **clipping)
        self.momentum = _check_number("SGD", "momentum", momentum, low=0, high=1, high_open=True)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs a momentum > 0")

    def _step(self, params, gradient, lr):
        sgd_update(
            params,
            gradient,
            self._state["velocity"],
            self._scratch,
            lr,
            self.momentum,
            self.nesterov,
        )

    def _fused_step(self, kernels, params, gradient, lr):
        kernels.sgd_step(
            params,
            gradient,
            self._state["velocity"],
            lr,
            self.momentum,
            self.nesterov,
            clipvalue=self.clipvalue,
            clipnorm=self.clipnorm,
        )


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias-corrected moment estimates::

    m <- b1 m + (1 - b1) g
    v <- b2 v + (1 - b2) g^2
    p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + epsilon)
    """

    _state_names = ("m", "v")
    _non_negative_state = ("v",)  # a moving average of squared gradients
    _config_names = ("learning_rate", "beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **clipping):
        super().__init__(learning_rate, **clipping)
        self.beta_1 = _check_number("Adam", "beta_1", beta_1, low=0, high=1, high_open=True)
        self.beta_2 = _check_number("Adam", "beta_2", beta_2, low=0, high=1, high_open=True)
        self.epsilon = _check_number("Adam", "epsilon", epsilon, low=0, low_open=True)

    def _step(self, params, gradient, lr):
        adam_update(
            params,
            gradient,
            self._state["m"],
            self._state["v"],
            self._scratch,
            lr,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.iterations + 1,
        )

    def _fused_step(self, kernels, params, gradient, lr):
        kernels.adam_step(
            params,
            gradient,
            self._state["m"],
            self._state["v"],
            lr,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.iterations + 1,
            clipvalue=self.clipvalue,
            clipnorm=self.clipnorm,
        )


class RMSprop(Optimizer):
    """RMSprop: divide the step by a running root-mean-square of the gradient::

    s <- rho s + (1 - rho) g^2
    p <- p - lr * g / (sqrt(s) + epsilon)
    """

    _state_names = ("s",)
    _non_negative_state = ("s",)  # a (moving) sum of squared gradients
    _config_names = ("learning_rate", "rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-8, **clipping):
        super().__init__(learning_rate, **clipping)
        self.rho = _check_number("RMSprop", "rho", rho, low=0, high=1, high_open=True)
        self.epsilon = _check_number("RMSprop", "epsilon", epsilon, low=0, low_open=True)

    def _step(self, params, gradient, lr):
        rmsprop_update(
            params, gradient, self._state["s"], self._scratch, lr, self.rho, self.epsilon
        )

    def _fused_step(self, kernels, params, gradient, lr):
        kernels.rmsprop_step(
            params,
            gradient,
            self._state["s"],
            lr,
            self.rho,
            self.epsilon,
            clipvalue=self.clipvalue,
            clipnorm=self.clipnorm,
        )


class Adagrad(Optimizer):
    """Adagrad: per-parameter rates shrinking with the sum of squared gradients::

    s <- s + g^2
    p <- p - lr * g / (sqrt(s) + epsilon)
    """

    _state_names = ("s",)
    _non_negative_state = ("s",)  # a (moving) sum of squared gradients
    _config_names = ("learning_rate", "epsilon", "initial_accumulator_value")

    def __init__(
        self, learning_rate=0.01, epsilon=1e-8, initial_accumulator_value=0.0, **clipping
    ):
        super().__init__(learning_rate, **clipping)
        self.epsilon = _check_number("Adagrad", "epsilon", epsilon, low=0, low_open=True)
        self.initial_accumulator_value = _check_number(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value, low=0
        )

    def _ensure_state(self, params):
        fresh = "s" not in self._state
        super()._ensure_state(params)
        if fresh:
            self._state["s"].fill(self.initial_accumulator_value)

    def _step(self, params, gradient, lr):
        adagrad_update(params, gradient, self._state["s"], self._scratch, lr, self.epsilon)

    def _fused_step(self, kernels, params, gradient, lr):
        kernels.adagrad_step(
            params,
            gradient,
            self._state["s"],
            lr,
            self.epsilon,
            clipvalue=self.clipvalue,
            clipnorm=self.clipnorm,
        )


# --------------------------------------------------------------------------- #
# The NumPy arithmetic of each built-in (the reference for the fused kernels).
# All work in place on flat vectors of one dtype; ``tmp`` is scratch space of the
# same shape.  Scalars are Python floats, so float32 vectors stay float32.
# --------------------------------------------------------------------------- #


def clip_gradient(gradient, clipvalue=None, clipnorm=None, out=None):
    """``gradient`` clipped entrywise into ``[-clipvalue, clipvalue]``, then scaled
    down to a Euclidean norm of at most ``clipnorm``.

    The result is a new array (or ``out``) whenever either clip is set;
    ``gradient`` itself is never modified.
    """
    if clipvalue is not None:
        gradient = np.clip(gradient, -clipvalue, clipvalue, out=out)
    if clipnorm is not None:
        norm = float(np.sqrt(np.dot(gradient, gradient)))
        if norm > clipnorm:
            gradient = np.multiply(gradient, clipnorm / norm, out=out)
    return gradient


def sgd_update(params, gradient, velocity, tmp, lr, momentum, nesterov):
    """SGD: ``v = mu v - lr g``; ``p += v`` (or ``p += mu v - lr g`` for Nesterov)."""
    np.multiply(gradient, lr, out=tmp)  # tmp = lr * g
    if momentum == 0:
        params -= tmp
        return
    velocity *= momentum
    velocity -= tmp  # v = mu v - lr g
    if nesterov:
        params -= tmp
        np.multiply(velocity, momentum, out=tmp)
        params += tmp  # p += mu v - lr g
    else:
        params += velocity


def adam_update(params, gradient, m, v, tmp, lr, beta_1, beta_2, epsilon, t):
    """Adam's step number ``t`` (1 for the first)."""
    m *= beta_1
    np.multiply(gradient, 1 - beta_1, out=tmp)
    m += tmp
    v *= beta_2
    np.multiply(gradient, gradient, out=tmp)
    tmp *= 1 - beta_2
    v += tmp
    np.multiply(v, 1.0 / (1 - beta_2**t), out=tmp)
    np.sqrt(tmp, out=tmp)
    tmp += epsilon
    np.divide(m, tmp, out=tmp)
    tmp *= lr / (1 - beta_1**t)
    params -= tmp


def rmsprop_update(params, gradient, s, tmp, lr, rho, epsilon):
    """RMSprop: ``s = rho s + (1 - rho) g^2``, then the scaled step."""
    s *= rho
    np.multiply(gradient, gradient, out=tmp)
    tmp *= 1 - rho
    s += tmp
    _scaled_step(params, gradient, s, tmp, lr, epsilon)


def adagrad_update(params, gradient, s, tmp, lr, epsilon):
    """Adagrad: ``s += g^2``, then the scaled step."""
    np.multiply(gradient, gradient, out=tmp)
    s += tmp
    _scaled_step(params, gradient, s, tmp, lr, epsilon)


def _scaled_step(params, gradient, s, tmp, lr, epsilon):
    """``params -= lr * gradient / (sqrt(s) + epsilon)`` using ``tmp`` as scratch."""
    np.sqrt(s, out=tmp)
    tmp += epsilon
    np.divide(gradient, tmp, out=tmp)
    tmp *= lr
    params -= tmp


_BUILTIN_TYPES = (SGD, Adam, RMSprop, Adagrad)
for _cls in _BUILTIN_TYPES:
    optimizers.register(_cls.__name__.lower(), _cls)


def register_optimizer(name, cls, *, overwrite=False):
    """Register an optimizer class so that it can be named (``cls()`` must work)."""
    if not callable(cls):
        raise TypeError(f"register_optimizer needs a class or factory, got {cls!r}")
    return optimizers.register(name, cls, overwrite=overwrite)


def resolve_optimizer(spec, argname="optimizer"):
    """A name gives a fresh built-in with default settings; an object with
    ``update`` is used as is."""
    if isinstance(spec, str):
        return optimizers.get(spec)()
    if isinstance(spec, type):
        raise TypeError(
            f"{argname} must be an optimizer object, got the class {spec.__name__}; "
            f"write {spec.__name__}() instead"
        )
    if callable(getattr(spec, "update", None)):
        return spec
    raise TypeError(
        f"{argname} must have an update(old_params, gradient) method or be one of "
        f"the names {optimizers.names()}; got {type(spec).__name__} {spec!r}"[:300]
    )


def current_learning_rate(optimizer):
    """The rate ``optimizer`` will use next, as a float (NaN when it has none to show).

    Built-ins answer through :meth:`Optimizer.current_learning_rate` (a schedule
    is evaluated at the next step); a user's optimizer is read through a numeric
    ``learning_rate`` attribute when it has one.  The library's one reader of
    learning rates (training logs, callbacks).
    """
    if isinstance(optimizer, Optimizer):
        return float(optimizer.current_learning_rate())
    rate = getattr(optimizer, "learning_rate", None)
    if isinstance(rate, (int, float, np.floating)) and not isinstance(rate, bool):
        return float(rate)
    return float("nan")
