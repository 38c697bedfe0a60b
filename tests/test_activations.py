"""The fast paths of the built-in activations against their public (f, df) pairs.

Guards the bug "ELU's fast backward cancels every digit in saturation" (issue 9,
point 9): the shortcut multiplied by ``a + 1`` with ``a = expm1(z)``, which is
exactly 0 in float32 from z = -17.5 while ``d_elu`` is exact.  Every shortcut is
swept over the whole input range, saturation included (|z| up to 100), in both
float dtypes.
"""

import numpy as np
import pytest

import nnscratch as nn
from nnscratch.registry import hidden_activations, output_activations

# relative tolerance of a shortcut against its pair, per dtype: a few units in the
# last place of the dtype, since both are evaluated in that dtype
RTOL = {np.float32: 4e-6, np.float64: 1e-13}


def sweep(dtype, n_random=400, seed=0):
    """z from -100 to 100: a dense grid, the saturation edges, and random points."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-100, 100, 2001)
    edges = np.concatenate(
        [np.linspace(-40, -5, 141), np.linspace(5, 40, 141), [-1e-30, 0.0, 1e-30, -1e-7, 1e-7]]
    )
    random = rng.uniform(-100, 100, n_random)
    z = np.concatenate([grid, edges, random]).astype(dtype)
    return z.reshape(-1, 7) if z.size % 7 == 0 else np.pad(z, (0, -z.size % 7)).reshape(-1, 7)


def close(actual, expected, dtype):
    """Equal within the dtype's tolerance, judged relative to each entry's own size."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    tiny = np.finfo(dtype).tiny
    with np.errstate(invalid="ignore"):  # inf - inf where both overflowed alike
        err = np.where(actual == expected, 0.0, np.abs(actual - expected))
    bound = RTOL[dtype] * np.abs(expected) + 10 * tiny
    worst = np.argmax(err - bound)
    assert (err <= bound).all(), (
        f"largest violation at {worst}: got {actual.flat[worst]!r}, "
        f"expected {expected.flat[worst]!r}"
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", hidden_activations.names())
def test_hidden_shortcuts_equal_the_pair_over_the_whole_range(name, dtype):
    act = hidden_activations.get(name)
    z = sweep(dtype)
    with np.errstate(over="ignore", under="ignore"):
        a = act.forward_into(z.copy(), np.empty_like(z))
        close(a, act.f(z), dtype)
        delta = np.ones_like(z) * dtype(0.75)
        expected = delta * np.asarray(act.df(z), dtype)
        act.backward_into(z, a, delta)
    assert delta.dtype == dtype
    close(delta, expected, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", output_activations.names())
def test_output_shortcuts_equal_the_jacobian_over_the_whole_range(name, dtype):
    act = output_activations.get(name)
    z = sweep(dtype)
    rng = np.random.default_rng(1)
    g = rng.normal(size=z.shape).astype(dtype)
    with np.errstate(over="ignore", under="ignore"):
        a = act.forward_into(z.copy(), np.empty_like(z))
        close(a, act.f(z), dtype)
        expected = np.matmul(g[:, None, :].astype(np.float64), act.df(z.astype(np.float64)))[
            :, 0, :
        ]
        got = act.vjp(z, a, g)
    # against the float64 Jacobian: a bound relative to the size of each row's terms
    # (|g| times the slope); exp overflows the dtype beyond z ~ 88 in float32, where
    # both sides are infinite and nothing is left to compare
    terms = np.abs(
        np.matmul(np.abs(g[:, None, :]).astype(np.float64), np.abs(act.df(z.astype(np.float64))))
    )[:, 0, :]
    finite = np.isfinite(terms) & (terms < np.finfo(dtype).max / 16)
    scale = np.maximum(np.abs(g).sum(axis=1, keepdims=True), terms)
    err = np.abs(got.astype(np.float64) - expected)
    assert (err[finite] <= 8 * np.finfo(dtype).eps * scale[finite] + 1e-30).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["elu", "tanh", "sigmoid", "softplus"])
def test_saturating_derivatives_keep_their_relative_precision(name, dtype):
    """The slopes themselves are right far into saturation, not just equal to each other."""
    pair = hidden_activations.get(name)
    z = np.concatenate([np.linspace(-60, -3, 300), np.linspace(3, 60, 300)])
    truth = {
        "elu": lambda v: np.where(v > 0, 1.0, np.exp(np.minimum(v, 0))),
        "tanh": lambda v: 1 / np.cosh(v) ** 2,
        "sigmoid": lambda v: np.exp(-np.abs(v)) / (1 + np.exp(-np.abs(v))) ** 2,
        "softplus": lambda v: 1 / (1 + np.exp(-v)),
    }[name](z)
    with np.errstate(over="ignore", under="ignore"):
        slope = np.asarray(pair.df(z.astype(dtype)), np.float64)
    normal = truth > np.finfo(dtype).tiny * 2**24  # far from the subnormal range
    rel = np.abs(slope - truth)[normal] / truth[normal]
    assert rel.max() < 64 * np.finfo(dtype).eps


def test_elu_float32_gradient_is_not_zero_in_saturation():
    """The original report: exactly 0 from z = -17.5 in float32."""
    act = hidden_activations.get("elu")
    z = np.array([[-17.5, -20.0, -40.0, -80.0]], np.float32)
    a = act.forward_into(z, np.empty_like(z))
    delta = np.ones_like(z)
    act.backward_into(z, a, delta)
    np.testing.assert_allclose(delta, np.exp(z.astype(np.float64)), rtol=1e-6)


def test_elu_training_in_float32_follows_float64_closely():
    """Adam amplifies wrong tiny slopes into full steps; with the fix both dtypes agree."""
    x, y = nn.datasets.load_digits()  # raw pixels 0..16: strongly negative pre-activations
    x, y = x[:400], y[:400]
    runs = {}
    for dtype in (np.float32, np.float64):
        net = nn.NeuralNetwork(
            [64, 32, 10], "elu", "softmax", "categorical_crossentropy", "adam", seed=0, dtype=dtype
        )
        runs[dtype] = net.fit(x, y, 32, 3, categorical=True, verbose=0)
    np.testing.assert_allclose(runs[np.float32], runs[np.float64], rtol=2e-4)
