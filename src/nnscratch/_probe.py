"""Try each piece of a new network once on a tiny array, to catch mistakes at construction.

A loss pair passed where the output activation belongs, a derivative of the
wrong shape, an activation that returns a list: without a probe these end in a
raw ``TypeError`` or a broadcasting error from deep inside the first epoch.
Probing calls each function once on a 2-row array (a few microseconds) and says
which argument looks wrong and why.  Only the functions are probed: an
optimizer is never called (its ``update`` may keep state).
"""

from __future__ import annotations

import numpy as np


def _name(func):
    return getattr(func, "__name__", type(func).__name__)


def _call(argname, what, func, *args):
    try:
        return np.asarray(func(*args))
    except Exception as err:  # any failure of the user's function is reported, wrapped
        n_args = len(args)
        hint = ""
        if isinstance(err, TypeError) and "argument" in str(err):
            hint = (
                (
                    " It looks like a piece for another slot: activations take one array "
                    "(z), losses take two (y_pred, y_true)."
                )
                if n_args in (1, 2)
                else ""
            )
        raise TypeError(
            f"{argname} looks wrong: its {what} {_name(func)} failed on a test "
            f"array of shape {args[0].shape} with {type(err).__name__}: {err}."
            f"{hint}"
        ) from err


def _expect(argname, what, func, got, expected):
    if got.shape != expected:
        raise ValueError(
            f"{argname} looks wrong: its {what} {_name(func)} returned shape "
            f"{got.shape} on a test batch of 2 rows; it must return {expected}"
        )


def probe_pieces(network):
    """Call every activation and loss function of ``network`` once; raise on a misfit.

    Parameters
    ----------
    network : NeuralNetwork
        Needs ``layers``, ``dtype``, ``hidden_activation``, ``output_activation``
        and ``loss``.

    Raises
    ------
    TypeError, ValueError
        Naming the constructor argument that looks wrong and why.
    """
    dtype = network.dtype
    if len(network.layers) > 2:
        z = np.linspace(-1.5, 1.5, 6, dtype=dtype).reshape(2, 3)
        act = network.hidden_activation
        _expect(
            "hidden_activation",
            "function",
            act.f,
            _call("hidden_activation", "function", act.f, z),
            z.shape,
        )
        _expect(
            "hidden_activation",
            "derivative",
            act.df,
            _call("hidden_activation", "derivative", act.df, z),
            z.shape,
        )
    m = network.layers[-1]
    z = np.linspace(-1.0, 1.0, 2 * m, dtype=dtype).reshape(2, m)
    act = network.output_activation
    a = _call("output_activation", "function", act.f, z)
    _expect("output_activation", "function", act.f, a, z.shape)
    if act.vjp is None and m <= 256:  # built-ins never build the Jacobian; users' pairs do
        jac = _call("output_activation", "derivative", act.df, z)
        _expect("output_activation", "derivative (a Jacobian per sample)", act.df, jac, (2, m, m))
    y = np.zeros((2, m), dtype=dtype)
    y[:, 0] = 1
    p = np.full((2, m), 1.0 / max(m, 2), dtype=dtype)
    loss = network.loss
    _expect(
        "loss",
        "function (one loss per sample)",
        loss.f,
        _call("loss", "function", loss.f, p, y),
        (2, 1),
    )
    _expect(
        "loss",
        "derivative (a row vector per sample)",
        loss.df,
        _call("loss", "derivative", loss.df, p, y),
        (2, 1, m),
    )
