"""The kernel sets: every Numba kernel against the NumPy reference, and whole runs.

Tolerances (relative, per dtype) are stated next to each comparison.  The two
sets do the same operations in the same order, but they may round differently
in a few places (libm's exp/tanh against NumPy's, a float64 accumulator in a
row sum), so single operations agree to a few units in the last place and
whole training runs to a tolerance that allows that to grow over many steps.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import nnscratch as nn
from nnscratch import _kernels
from nnscratch._kernels import (
    ACTIVATIONS,
    CANONICAL_PAIRS,
    INSTALL_HINT,
    NUMPY,
    resolve_kernels,
)

DTYPES = (np.float32, np.float64)
# one elementwise operation: a few units in the last place
RTOL = {np.float32: 2e-6, np.float64: 4e-15}
# results near the dtype's underflow are compared absolutely
ATOL = {np.float32: 1e-35, np.float64: 1e-300}
HIDDEN = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "identity")


def numba_sets():
    pytest.importorskip("numba")
    return [_kernels.numba_kernels(parallel=False), _kernels.numba_kernels(parallel=True)]


@pytest.fixture(params=["numba", "numba-parallel"])
def fast(request):
    pytest.importorskip("numba")
    return resolve_kernels(request.param)


def wide_values(rng, shape, dtype, limit=100.0):
    """Values over [-limit, limit] with the tails, zero and tiny ones mixed in."""
    z = rng.uniform(-limit, limit, shape)
    flat = z.reshape(-1)
    specials = np.array(
        [
            0.0,
            -0.0,
            1e-30,
            -1e-30,
            1e-3,
            -1e-3,
            limit,
            -limit,
            20.0,
            -20.0,
            40.0,
            -40.0,
            88.0,
            -88.0,
        ]
    )
    flat[: specials.size] = specials[: flat.size]
    rng.shuffle(flat)
    return z.astype(dtype)


# ------------------------------------------------------------------ layers
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_forward_matches_numpy(fast, act, dtype):
    rng = np.random.default_rng(1)
    for shape in [(1, 1), (7, 3), (64, 33), (130, 10)]:
        z = wide_values(rng, shape, dtype)
        b = wide_values(rng, (1, shape[1]), dtype, limit=5.0)
        z_ref, z_fast = z.copy(), z.copy()
        out_ref, out_fast = np.full_like(z, np.nan), np.full_like(z, np.nan)
        got_ref = NUMPY.dense_forward(act, z_ref, b, out_ref)
        got_fast = fast.dense_forward(act, z_fast, b, out_fast)
        np.testing.assert_array_equal(z_fast, z_ref)  # z keeps z + b, bit for bit
        assert (got_fast is z_fast) == (got_ref is z_ref)  # identity: z itself, no copy
        assert np.all(np.isfinite(got_fast))
        np.testing.assert_allclose(
            got_fast, got_ref, rtol=RTOL[dtype], atol=ATOL[dtype], err_msg=f"{act} {shape}"
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", HIDDEN)
def test_dense_backward_matches_numpy(fast, act, dtype):
    rng = np.random.default_rng(2)
    for shape in [(1, 1), (9, 4), (64, 100)]:
        z = wide_values(rng, shape, dtype)
        a = NUMPY.dense_forward(
            act, z.copy(), np.zeros((1, shape[1]), dtype), np.empty_like(z)
        ).copy()
        delta = rng.standard_normal(shape).astype(dtype)
        ref, got = delta.copy(), delta.copy()
        NUMPY.dense_backward(act, z, a, ref)
        fast.dense_backward(act, z, a, got)
        np.testing.assert_allclose(
            got, ref, rtol=RTOL[dtype], atol=ATOL[dtype], err_msg=f"{act} {shape}"
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_elu_backward_keeps_small_slopes(dtype):
    """Issue 9 point 9: the slope exp(z) for very negative z, not a + 1 (which is 0)."""
    sets = [NUMPY]
    try:
        import numba  # noqa: F401

        sets += numba_sets()
    except ImportError:
        pass
    z = -np.linspace(0.5, 80, 160).astype(dtype).reshape(16, 10)
    a = nn.elu(z).astype(dtype)
    for kernels in sets:
        delta = np.ones_like(z)
        kernels.dense_backward("elu", z, a, delta)
        expected = np.exp(z.astype(np.float64))
        np.testing.assert_allclose(
            delta, expected, rtol=4 * np.finfo(dtype).eps, err_msg=kernels.name
        )
        assert np.all(delta > 0), kernels.name


def targets_for(pair, rng, n, m, dtype):
    if pair[0] == "softmax":
        return np.eye(m, dtype=dtype)[rng.integers(0, m, n)]
    if pair[0] == "sigmoid":
        return rng.integers(0, 2, (n, m)).astype(dtype)
    return rng.normal(0, 3, (n, m)).astype(dtype)


def outputs_for(pair, rng, n, m, dtype):
    z = wide_values(rng, (n, m), dtype, limit=60.0)
    act = "softmax" if pair[0] == "softmax" else pair[0]
    return NUMPY.dense_forward(act, z, np.zeros((1, m), dtype), np.empty_like(z)).copy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pair", CANONICAL_PAIRS)
def test_output_delta_matches_numpy(fast, pair, dtype):
    rng = np.random.default_rng(3)
    for n, m in [(1, 1), (5, 2), (64, 10), (33, 7)]:
        a = outputs_for(pair, rng, n, m, dtype)  # saturated rows included (exact 0 and 1)
        y = targets_for(pair, rng, n, m, dtype)
        weights = rng.uniform(0, 3, n).astype(dtype)
        for scale, sample_weight in [
            (1.0 / n, None),
            (0.5, None),
            (weights / weights.sum(), weights),
            (np.zeros(n, dtype), np.zeros(n, dtype)),
        ]:
            out_ref, out_fast = np.full_like(a, np.nan), np.full_like(a, np.nan)
            ref = NUMPY.output_delta(*pair, a, y, out_ref, scale, sample_weight)
            got = fast.output_delta(*pair, a, y, out_fast, scale, sample_weight)
            label = f"{pair} n={n} m={m} weighted={sample_weight is not None}"
            np.testing.assert_allclose(
                out_fast, out_ref, rtol=RTOL[dtype], atol=ATOL[dtype], err_msg=label
            )
            # a sum over the batch: the Numba kernel adds in double precision
            assert got[0] == pytest.approx(ref[0], rel=100 * RTOL[dtype], abs=1e-30), label
            assert got[1] == pytest.approx(ref[1], rel=RTOL[dtype]), label
            assert got[2] == ref[2], label
            assert isinstance(got[2], int) and isinstance(got[0], float)


def test_output_delta_counts_what_the_network_counts():
    """The reference's correct count is the network's own rule, checked by hand."""
    a = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    y = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=float)
    assert (
        NUMPY.output_delta("softmax", "categorical_crossentropy", a, y, np.empty_like(a), 1 / 3)[2]
        == 2
    )
    assert (
        NUMPY.output_delta("sigmoid", "binary_crossentropy", a, y, np.empty_like(a), 1 / 3)[2] == 7
    )
    assert NUMPY.output_delta("identity", "mse", a, y, np.empty_like(a), 1 / 3)[2] == 0


def test_unknown_names_are_refused():
    for kernels in [NUMPY] + (numba_sets() if _numba_installed() else []):
        z = np.zeros((2, 2))
        with pytest.raises(ValueError, match="no kernel for the activation 'swish'"):
            kernels.dense_forward("swish", z, z[:1], z.copy())
        with pytest.raises(ValueError, match="softmax"):
            kernels.dense_backward("softmax", z, z, z.copy())
        with pytest.raises(ValueError, match="no fused output gradient"):
            kernels.output_delta("softmax", "mse", z, z, z.copy(), 1.0)


def _numba_installed():
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


# -------------------------------------------------------------- optimizers
OPTIMIZERS = [
    ("sgd", lambda **c: nn.SGD(0.05, **c)),
    ("momentum", lambda **c: nn.SGD(0.05, momentum=0.9, **c)),
    ("nesterov", lambda **c: nn.SGD(0.05, momentum=0.9, nesterov=True, **c)),
    ("adam", lambda **c: nn.Adam(0.01, **c)),
    ("rmsprop", lambda **c: nn.RMSprop(0.01, **c)),
    ("adagrad", lambda **c: nn.Adagrad(0.05, initial_accumulator_value=0.1, **c)),
]
CLIPS = [{}, {"clipvalue": 0.5}, {"clipnorm": 3.0}, {"clipvalue": 0.5, "clipnorm": 3.0}]
# the state after 40 steps: rounding differences can add up a little
STEP_RTOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: "+".join(c) or "noclip")
@pytest.mark.parametrize("name,make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_fused_optimizer_step_matches_numpy(fast, name, make, clip, dtype):
    rng = np.random.default_rng(4)
    n = 3001
    start = rng.standard_normal(n).astype(dtype)
    ref_opt, fast_opt = make(**clip), make(**clip)
    p_ref, p_fast = start.copy(), start.copy()
    for _ in range(40):  # 40 > FLUSH_EVERY, so the flush runs too
        g = (rng.standard_normal(n) * rng.choice([0.01, 1.0, 30.0], n)).astype(dtype)
        g[:50] = 0  # state that decays towards the flush threshold
        g_before = g.copy()
        ref_opt.step(p_ref, g)
        fast_opt.step(p_fast, g, kernels=fast)
        np.testing.assert_array_equal(g, g_before)  # the gradient is never modified
    assert fast_opt.iterations == ref_opt.iterations == 40
    scale = np.abs(start - p_ref).max()
    np.testing.assert_allclose(p_fast, p_ref, rtol=STEP_RTOL[dtype], atol=STEP_RTOL[dtype] * scale)
    for key, arr in ref_opt.get_state().items():
        if key != "iterations":
            np.testing.assert_allclose(
                fast_opt.get_state()[key],
                arr,
                rtol=STEP_RTOL[dtype],
                atol=STEP_RTOL[dtype] * np.abs(arr).max(),
                err_msg=key,
            )


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_step_methods_match_each_other(fast, dtype):
    """The kernel sets' own step methods (the interface), called directly."""
    rng = np.random.default_rng(5)
    n = 777
    p0 = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype) * 5
    calls = [
        ("sgd_step", 1, (0.1, 0.9, True)),
        ("sgd_step", 1, (0.1, 0.0, False)),
        ("adam_step", 2, (0.01, 0.9, 0.999, 1e-7, 3)),
        ("rmsprop_step", 1, (0.01, 0.9, 1e-7)),
        ("adagrad_step", 1, (0.1, 1e-7)),
    ]
    for method, n_state, args in calls:
        for clip in CLIPS:
            results = []
            for kernels in (NUMPY, fast):
                p = p0.copy()
                state = [
                    np.abs(rng.standard_normal(n)).astype(dtype) * 0 + 0.5 for _ in range(n_state)
                ]
                getattr(kernels, method)(p, g, *state, *args, **clip)
                results.append((p, state))
            (p_ref, s_ref), (p_got, s_got) = results
            np.testing.assert_allclose(
                p_got, p_ref, rtol=RTOL[dtype] * 4, atol=1e-7, err_msg=f"{method} {clip}"
            )
            for a, b in zip(s_got, s_ref):
                np.testing.assert_allclose(a, b, rtol=RTOL[dtype] * 4, err_msg=method)


@pytest.mark.parametrize("dtype", DTYPES)
def test_flush_tiny(fast, dtype):
    tiny = np.finfo(dtype).tiny
    values = np.array(
        [0, tiny, -tiny, 1e3 * tiny, 2**25 * tiny, -(2**25) * tiny, 1.0, np.nan, np.inf],
        dtype=dtype,
    )
    ref, got = values.copy(), values.copy()
    NUMPY.flush_tiny(ref, tiny * 2**24)
    fast.flush_tiny(got, dtype(tiny * 2**24))
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got[:4], 0)


def test_subclassed_optimizer_keeps_its_own_step():
    """A subclass overriding _step must never be bypassed by a fused kernel."""
    pytest.importorskip("numba")

    class Halved(nn.SGD):
        def _step(self, params, gradient, lr):
            super()._step(params, gradient, lr / 2)

    p = np.ones(10)
    Halved(0.2).step(p, np.ones(10), kernels=resolve_kernels("numba"))
    np.testing.assert_allclose(p, 0.9)


# ------------------------------------------------------------ whole runs
def digits_run(
    kernels,
    dtype,
    optimizer,
    *,
    hidden="relu",
    output="softmax",
    loss="categorical_crossentropy",
    epochs=3,
    **extra,
):
    x, y = nn.datasets.load_digits(normalize=True)
    x, y = x[:600], y[:600]
    targets = nn.to_categorical(y, 10)
    if output == "sigmoid":
        targets = targets[:, :4]
    elif output == "identity":
        targets = targets[:, :3] * 2 - 1
    fit_extra = {k: extra.pop(k) for k in ("sample_weight",) if k in extra}
    net = nn.NeuralNetwork(
        [64, 32, 16, targets.shape[1]],
        hidden,
        output,
        loss,
        optimizer,
        dtype=dtype,
        seed=0,
        kernels=kernels,
        **extra,
    )
    losses = net.fit(x, targets, 32, epochs, verbose=0, **fit_extra)
    return np.array(losses), net


# whole training runs: differences of a few ulp per step may grow over ~60 steps
RUN_RTOL = {np.float32: 2e-4, np.float64: 1e-9}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_training_runs_agree(fast, name, make, dtype):
    ref, net_ref = digits_run("numpy", dtype, make())
    got, net_fast = digits_run(fast, dtype, make())
    assert net_fast._kernels is fast and net_ref._kernels is NUMPY
    np.testing.assert_allclose(got, ref, rtol=RUN_RTOL[dtype])
    assert net_fast.history["accuracy"] == pytest.approx(net_ref.history["accuracy"], abs=3 / 600)
    np.testing.assert_allclose(
        net_fast.get_flat_params(),
        net_ref.get_flat_params(),
        rtol=RUN_RTOL[dtype] * 10,
        atol=RUN_RTOL[dtype],
    )


CONFIGS = [
    dict(hidden="tanh", output="sigmoid", loss="binary_crossentropy"),
    dict(hidden="elu", output="identity", loss="mse"),
    dict(hidden="sigmoid", dropout=0.2, l2=1e-3),
    dict(hidden="leaky_relu", sample_weight=np.linspace(0, 2, 600)),
    dict(hidden="softplus", output="sigmoid", loss="mse"),  # not canonical: generic output
    dict(hidden="identity", output="softmax", loss="huber"),
]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c['hidden']}-{c.get('loss', '')}")
def test_training_runs_agree_across_pieces(fast, config, dtype):
    ref, net_ref = digits_run("numpy", dtype, nn.Adam(0.005, clipnorm=1.0), **dict(config))
    got, net_fast = digits_run(fast, dtype, nn.Adam(0.005, clipnorm=1.0), **dict(config))
    np.testing.assert_allclose(got, ref, rtol=RUN_RTOL[dtype])
    for key in net_ref.history:
        if key != "seconds":
            np.testing.assert_allclose(
                net_fast.history[key],
                net_ref.history[key],
                rtol=RUN_RTOL[dtype],
                atol=2 / 600,
                err_msg=key,
            )


def test_users_pairs_take_the_generic_path(fast, monkeypatch):
    """Users' own (f, df) pairs never reach a kernel, even under a built-in's name."""
    calls = []

    def spy(*args, **kwargs):
        calls.append(args[0])
        raise AssertionError("a kernel was called for a user's pair")

    def my_relu(z):
        return np.maximum(z, 0)

    def my_d_relu(z):
        return (z > 0).astype(z.dtype)

    monkeypatch.setattr(fast, "dense_forward", spy)
    monkeypatch.setattr(fast, "dense_backward", spy)
    monkeypatch.setattr(fast, "output_delta", spy)
    x, y = nn.datasets.load_digits(normalize=True)
    net = nn.NeuralNetwork(
        [64, 16, 10],
        nn.Activation("relu", my_relu, my_d_relu, kind="hidden"),
        (nn.softmax, lambda z: nn.d_softmax(z)),
        "categorical_crossentropy",
        "sgd",
        seed=0,
        kernels=fast,
    )
    net.fit(x[:64], y[:64], 32, 1, categorical=True, verbose=0)
    assert calls == []


# --------------------------------------------------------------- choosing
def test_resolve_kernels_choices():
    assert resolve_kernels("numpy") is NUMPY
    assert resolve_kernels(NUMPY) is NUMPY
    for bad in ["fast", "NUMPY ", 1, True]:
        with pytest.raises(ValueError, match="kernels must be one of"):
            resolve_kernels(bad)


def test_auto_prefers_numba_and_the_environment_can_say_numpy(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.delenv("NNSCRATCH_KERNELS", raising=False)
    assert resolve_kernels("auto").name == "numba"
    assert resolve_kernels(None).name == "numba"
    for value, name in [
        ("numpy", "numpy"),
        ("NumPy", "numpy"),
        ("numba", "numba"),
        ("numba-parallel", "numba-parallel"),
        ("auto", "numba"),
    ]:
        monkeypatch.setenv("NNSCRATCH_KERNELS", value)
        assert resolve_kernels("auto").name == name
        assert resolve_kernels("numba").name == "numba"  # an explicit choice wins
    monkeypatch.setenv("NNSCRATCH_KERNELS", "gpu")
    with pytest.raises(ValueError, match="NNSCRATCH_KERNELS must be one of"):
        resolve_kernels("auto")


@pytest.mark.parametrize("value,expected", [("numpy", "numpy"), ("", "numba")])
def test_environment_variable_in_a_fresh_process(value, expected):
    pytest.importorskip("numba")
    env = dict(os.environ, NNSCRATCH_KERNELS=value)
    code = (
        "import sys, nnscratch as nn\n"
        "assert 'numba' not in sys.modules\n"  # importing the package imports no numba
        "net = nn.NeuralNetwork([4, 3, 2], 'relu', 'softmax', 'categorical_crossentropy',"
        " 'sgd')\n"
        "print(net._kernels.name, net.kernels)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [expected, "auto"]


def test_without_numba(monkeypatch):
    """Simulated absence: 'numba' names the extra to install, 'auto' falls back."""
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` fail
    monkeypatch.delitem(sys.modules, "nnscratch._numba_kernels", raising=False)
    monkeypatch.delattr(nn, "_numba_kernels", raising=False)
    monkeypatch.setattr(_kernels, "_numba_sets", {})
    monkeypatch.delenv("NNSCRATCH_KERNELS", raising=False)
    for spec in ["numba", "numba-parallel"]:
        with pytest.raises(ImportError, match=r"pip install -e '\.\[fast\]'"):
            resolve_kernels(spec)
        with pytest.raises(ImportError, match="Numba"):
            nn.NeuralNetwork(
                [4, 3, 2], "relu", "softmax", "categorical_crossentropy", "sgd", kernels=spec
            )
    assert INSTALL_HINT.startswith("pip install -e '.[fast]'")
    assert resolve_kernels("auto") is NUMPY
    net = nn.NeuralNetwork([4, 3, 2], "relu", "softmax", "categorical_crossentropy", "sgd", seed=0)
    assert net._kernels is NUMPY
    x = np.random.default_rng(0).random((8, 4))
    net.fit(x, np.arange(8) % 2, 4, 2, categorical=True, verbose=0)
    # unpickling a network that used Numba where there is none gives the NumPy set
    assert pickle.loads(pickle.dumps(_kernels.Kernels())) is NUMPY
    assert _kernels._by_name("numba") is NUMPY


def test_networks_pickle_with_their_kernels(fast):
    net = nn.NeuralNetwork(
        [4, 3, 2], "relu", "softmax", "categorical_crossentropy", "adam", seed=0, kernels=fast
    )
    x = np.random.default_rng(0).random((8, 4))
    net.fit(x, np.arange(8) % 2, 4, 1, categorical=True, verbose=0)
    clone = pickle.loads(pickle.dumps(net))
    assert clone._kernels is fast
    clone.fit(x, np.arange(8) % 2, 4, 1, categorical=True, verbose=0)
