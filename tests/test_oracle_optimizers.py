"""The built-in optimizers checked step by step against the published update rules.

The oracle below is plain NumPy written from the papers' formulas (not from
``nnscratch.optimizers``): SGD with classic and Nesterov momentum, Adam with bias
correction (Kingma and Ba, 2015), RMSprop (Tieleman and Hinton, 2012), Adagrad (Duchi
et al., 2011), gradient clipping by value then by norm, and learning-rate schedules
evaluated at the step number counted from 0.  Each configuration runs several steps
through three routes: ``Optimizer.update`` (the NumPy reference), and training steps of
a network with the ``numpy`` and the fused ``numba`` kernel sets.
``Optimizer.reset`` and the documented initialisers are executed and checked here too.
"""

import math

import numpy as np
import pytest

from nnscratch import SGD, Adagrad, Adam, NeuralNetwork, RMSprop
from nnscratch.schedules import CosineDecay, StepDecay


# --------------------------------------------------------------------------- oracle
class Oracle:
    """One optimizer's update rule, written from the published formulas."""

    def __init__(self, kind, lr, clipvalue=None, clipnorm=None, **settings):
        self.kind, self.lr, self.settings = kind, lr, settings
        self.clipvalue, self.clipnorm = clipvalue, clipnorm
        self.t = 0  # steps taken so far
        self.state = None

    def rate(self):
        return self.lr(self.t) if callable(self.lr) else self.lr

    def clip(self, g):
        if self.clipvalue is not None:
            g = np.minimum(np.maximum(g, -self.clipvalue), self.clipvalue)
        if self.clipnorm is not None:
            norm = math.sqrt(float(np.sum(g * g)))
            if norm > self.clipnorm:
                g = g * (self.clipnorm / norm)
        return g

    def step(self, p, g):
        g = self.clip(np.asarray(g, dtype=np.float64))
        lr, s = self.rate(), self.settings
        if self.state is None:
            start = s.get("initial_accumulator_value", 0.0)
            self.state = [np.zeros_like(p), np.zeros_like(p) + start]
        a, b = self.state
        if self.kind == "sgd":
            mu = s.get("momentum", 0.0)
            a[:] = mu * a - lr * g  # velocity
            p = p + (mu * a - lr * g if s.get("nesterov") else a)
        elif self.kind == "adam":
            b1, b2, eps, t = s["beta_1"], s["beta_2"], s["epsilon"], self.t + 1
            a[:] = b1 * a + (1 - b1) * g
            b[:] = b2 * b + (1 - b2) * g * g
            m_hat, v_hat = a / (1 - b1**t), b / (1 - b2**t)
            p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        elif self.kind == "rmsprop":
            b[:] = s["rho"] * b + (1 - s["rho"]) * g * g
            p = p - lr * g / (np.sqrt(b) + s["epsilon"])
        elif self.kind == "adagrad":
            b[:] = b + g * g
            p = p - lr * g / (np.sqrt(b) + s["epsilon"])
        else:
            raise AssertionError(self.kind)
        self.t += 1
        return p


def schedule_lr(step):
    """A schedule of our own: any callable of the step number is accepted."""
    return 0.05 / (1 + 0.5 * step)


def step_decay_closed_form(step):
    # StepDecay(0.08, factor=0.5, every=3): initial * factor ** (step // every)
    return 0.08 * 0.5 ** (step // 3)


def cosine_closed_form(step):
    # CosineDecay(0.06, decay_steps=8, alpha=0.1, warmup_steps=2, warmup_from=0.01)
    if step < 2:
        return 0.01 + (0.06 - 0.01) * step / 2
    progress = min(step - 2, 8) / 8
    return 0.06 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# (id, factory of the nnscratch optimizer, oracle kind, oracle lr, oracle settings, clips)
CONFIGS = [
    ("sgd", lambda: SGD(0.05), "sgd", 0.05, {}, {}),
    ("sgd-momentum", lambda: SGD(0.05, 0.9), "sgd", 0.05, {"momentum": 0.9}, {}),
    (
        "sgd-nesterov",
        lambda: SGD(0.05, 0.8, nesterov=True),
        "sgd",
        0.05,
        {"momentum": 0.8, "nesterov": True},
        {},
    ),
    (
        "sgd-momentum-schedule",
        lambda: SGD(schedule_lr, 0.7),
        "sgd",
        schedule_lr,
        {"momentum": 0.7},
        {},
    ),
    (
        "sgd-stepdecay-clipnorm",
        lambda: SGD(StepDecay(0.08, factor=0.5, every=3), 0.5, clipnorm=0.05),
        "sgd",
        step_decay_closed_form,
        {"momentum": 0.5},
        {"clipnorm": 0.05},
    ),
    (
        "adam",
        lambda: Adam(0.01),
        "adam",
        0.01,
        {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
        {},
    ),
    (
        "adam-settings-clipvalue",
        lambda: Adam(0.02, beta_1=0.5, beta_2=0.8, epsilon=1e-3, clipvalue=0.01),
        "adam",
        0.02,
        {"beta_1": 0.5, "beta_2": 0.8, "epsilon": 1e-3},
        {"clipvalue": 0.01},
    ),
    (
        "adam-cosine-both-clips",
        lambda: Adam(
            CosineDecay(0.06, decay_steps=8, alpha=0.1, warmup_steps=2, warmup_from=0.01),
            clipvalue=0.02,
            clipnorm=0.03,
        ),
        "adam",
        cosine_closed_form,
        {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
        {"clipvalue": 0.02, "clipnorm": 0.03},
    ),
    ("rmsprop", lambda: RMSprop(0.01), "rmsprop", 0.01, {"rho": 0.9, "epsilon": 1e-8}, {}),
    (
        "rmsprop-settings-schedule-clipnorm",
        lambda: RMSprop(schedule_lr, rho=0.6, epsilon=1e-4, clipnorm=0.04),
        "rmsprop",
        schedule_lr,
        {"rho": 0.6, "epsilon": 1e-4},
        {"clipnorm": 0.04},
    ),
    ("adagrad", lambda: Adagrad(0.05), "adagrad", 0.05, {"epsilon": 1e-8}, {}),
    (
        "adagrad-accumulator-clipvalue",
        lambda: Adagrad(0.05, epsilon=1e-6, initial_accumulator_value=0.3, clipvalue=0.015),
        "adagrad",
        0.05,
        {"epsilon": 1e-6, "initial_accumulator_value": 0.3},
        {"clipvalue": 0.015},
    ),
]
IDS = [c[0] for c in CONFIGS]
STEPS = 20  # past the 16th step, where the optimizers flush tiny state entries


def oracle_for(config):
    _, _, kind, lr, settings, clips = config
    return Oracle(kind, lr, **clips, **settings)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_update_follows_the_published_rule_step_by_step(config):
    rng = np.random.default_rng(7)
    opt, oracle = config[1](), oracle_for(config)
    p_lib = p_ref = rng.normal(size=30)
    clipped_norm = unclipped_norm = 0
    for t in range(STEPS):
        # alternate large and small gradients so that clipnorm acts on some steps only
        g = rng.normal(size=30) * (0.1 if t % 2 else 0.001)
        norm = np.linalg.norm(g)
        clipnorm = config[5].get("clipnorm")
        if clipnorm is not None:
            clipped_norm += norm > clipnorm
            unclipped_norm += norm <= clipnorm
        given = g.copy()
        p_lib = opt.update(p_lib, g)
        p_ref = oracle.step(p_ref, g)
        np.testing.assert_array_equal(g, given)  # update never modifies its arguments
        # same formulas, operations grouped differently: equal to a few ulps
        np.testing.assert_allclose(p_lib, p_ref, rtol=1e-12, atol=1e-15, err_msg=f"step {t}")
    if config[5].get("clipnorm") is not None:
        assert clipped_norm and unclipped_norm  # both branches of clipnorm were exercised
    assert opt.iterations == STEPS


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_training_steps_follow_the_published_rule(config, kernels):
    """A network's steps (fused by the Numba kernels) against the oracle fed the same gradient."""
    if kernels == "numba":
        pytest.importorskip("numba")
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(16, 3)), rng.uniform(size=(16, 2))
    net = NeuralNetwork([3, 4, 2], "tanh", "sigmoid", "mse", config[1](), seed=2, kernels=kernels)
    oracle = oracle_for(config)
    for t in range(STEPS):
        before = net.get_flat_params()
        g = net.loss_and_gradient(x, y)[1]
        net.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        expected = oracle.step(before, g)
        # the step's own gradient comes from the kernels, equal to loss_and_gradient's to
        # rounding, so the parameters agree to rounding and not bit for bit
        np.testing.assert_allclose(
            net.get_flat_params(), expected, rtol=1e-10, atol=1e-13, err_msg=f"step {t}"
        )


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_reset_forgets_the_state_and_restarts_the_schedule(config):
    rng = np.random.default_rng(3)
    opt = config[1]()
    p = rng.normal(size=12)
    for _ in range(5):
        p = opt.update(p, rng.normal(size=12) * 0.05)
    assert opt.iterations == 5
    opt.reset()
    assert opt.get_state() == {"iterations": 0}
    assert opt.current_learning_rate() == pytest.approx(config[1]().current_learning_rate())
    g = rng.normal(size=12) * 0.05
    np.testing.assert_array_equal(opt.update(p, g), config[1]().update(p, g))
    np.testing.assert_allclose(opt.update(p, g), oracle_after_two(config, p, g), rtol=1e-12)


def oracle_after_two(config, p, g):
    """The oracle's second step from p with g twice, the first one ignored (state only)."""
    oracle = oracle_for(config)
    oracle.step(p, g)
    return oracle.step(p, g)


# ------------------------------------------------------------------ initialisers
def _draws(initializer, layers, nets=40):
    """All first-layer weights and biases of ``nets`` networks seeded 0..nets-1."""
    ws, bs = [], []
    for seed in range(nets):
        net = NeuralNetwork(
            layers, "relu", "identity", "mse", "sgd", seed=seed, initializer=initializer
        )
        ws.append(net.weights[0].ravel())
        bs.append(np.concatenate([b.ravel() for b in net.biases]))
    return np.concatenate(ws), np.concatenate(bs)


def test_glorot_uniform_bounds_mean_and_variance():
    fan_in, fan_out = 30, 20
    w, b = _draws("glorot_uniform", [fan_in, fan_out, 5])
    limit = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.98 * limit  # the bound is reached, not a narrower one
    n = w.size
    var = limit**2 / 3  # variance of U(-l, l)
    # 5 standard errors: the sample mean has sd sqrt(var / n); the sample variance of a
    # uniform has sd sqrt((mu4 - var**2) / n) with mu4 = l**4 / 5
    assert abs(w.mean()) < 5 * math.sqrt(var / n)
    assert abs(w.var() - var) < 5 * math.sqrt((limit**4 / 5 - var**2) / n)
    np.testing.assert_array_equal(b, 0.0)  # Glorot's scheme starts biases at zero


def test_he_normal_mean_and_standard_deviation():
    fan_in, fan_out = 25, 40
    w, b = _draws("he_normal", [fan_in, fan_out, 5])
    std = math.sqrt(2 / fan_in)
    n = w.size
    # 5 standard errors: mean sd = std / sqrt(n); sample-variance sd = var * sqrt(2 / n)
    assert abs(w.mean()) < 5 * std / math.sqrt(n)
    assert abs(w.var() - std**2) < 5 * std**2 * math.sqrt(2 / (n - 1))
    # normal, not uniform: the kurtosis of a normal is 3 (a uniform's is 1.8);
    # the sample kurtosis has sd about sqrt(24 / n)
    kurtosis = np.mean((w - w.mean()) ** 4) / w.var() ** 2
    assert abs(kurtosis - 3) < 5 * math.sqrt(24 / n)
    np.testing.assert_array_equal(b, 0.0)


def test_article_default_draws_weights_and_biases_with_its_std():
    fan_in, fan_out = 30, 20
    w, b = _draws("xavier_article", [fan_in, fan_out, 5])
    std = math.sqrt(1 / (fan_in + fan_out))
    n = w.size
    assert abs(w.mean()) < 5 * std / math.sqrt(n)
    assert abs(w.var() - std**2) < 5 * std**2 * math.sqrt(2 / (n - 1))
    assert np.count_nonzero(b) == b.size  # the article draws the biases too


@pytest.mark.parametrize("initializer", ["glorot_uniform", "he_normal", "xavier_article"])
def test_each_layer_uses_its_own_fans(initializer):
    layers = [50, 8, 200]
    stds = []
    for seed in range(20):
        net = NeuralNetwork(
            layers, "relu", "identity", "mse", "sgd", seed=seed, initializer=initializer
        )
        stds.append([w.std() for w in net.weights])
    measured = np.mean(stds, axis=0)
    expected = {
        "glorot_uniform": [math.sqrt(2 / (a + b)) for a, b in zip(layers, layers[1:])],
        "he_normal": [math.sqrt(2 / a) for a in layers[:-1]],
        "xavier_article": [math.sqrt(1 / (a + b)) for a, b in zip(layers, layers[1:])],
    }[initializer]
    # 400 and 1600 draws per network, 20 networks: the std is within a few percent
    np.testing.assert_allclose(measured, expected, rtol=0.05)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("route", ["update", "fit-numpy", "fit-numba"])
def test_state_below_two_to_the_24_tiny_is_flushed_every_16_steps(dtype, route):
    """Documented: every 16th step sets state entries below ``2**24 * tiny`` to exactly 0
    (subnormal arithmetic is slow); larger entries are kept."""
    tiny = np.finfo(dtype).tiny
    threshold = 2.0**24 * tiny
    n = 3 * 4 + 4 * 2 + 4 + 2  # the parameters of a [3, 4, 2] network
    m = np.full(n, 1e6 * threshold, dtype=dtype)  # kept: far above the threshold
    m[:5] = 0.5 * threshold  # flushed: below it after one more decay
    m[5:8] = 4 * tiny  # flushed too (a code flushing only below 2 * tiny keeps these)
    v = np.full(n, 1e-6, dtype=dtype)
    opt = Adam(1e-3)
    if route == "update":
        params = np.zeros(n, dtype=dtype)
        opt.update(params, np.zeros(n, dtype=dtype))  # allocates the state
        opt.set_state({"m": m, "v": v, "iterations": 15})
        opt.update(params, np.zeros(n, dtype=dtype))  # the 16th step
    else:
        kernels = route.split("-")[1]
        if kernels == "numba":
            pytest.importorskip("numba")
        net = NeuralNetwork(
            [3, 4, 2], "tanh", "identity", "mse", opt, seed=0, dtype=dtype, kernels=kernels
        )
        x, y = np.zeros((4, 3)), np.zeros((4, 2))
        net.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        opt.set_state({"m": m, "v": v, "iterations": 15})
        net.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    state = opt.get_state()
    assert state["iterations"] == 16
    np.testing.assert_array_equal(state["m"][:8], 0.0)
    # kept: 0.9 * 1e6 * threshold where the gradient is 0 (x = 0: the first layer), more elsewhere
    assert (np.abs(state["m"][8:]) > threshold).all()


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_state_given_in_another_dtype_is_kept_in_the_parameters_dtype(config):
    """State restored from float64 arrays onto float32 parameters works in float32, as
    an optimizer that only ever saw float32 does."""
    rng = np.random.default_rng(8)
    p = rng.normal(size=10).astype(np.float32)
    grads = [rng.normal(size=10).astype(np.float32) * 0.1 for _ in range(3)]
    fresh, moved = config[1](), config[1]()
    fresh.update(p, grads[0])
    moved.update(p, grads[0])
    state = fresh.get_state()
    moved.set_state(
        {k: v.astype(np.float64) if k != "iterations" else v for k, v in state.items()}
    )
    for g in grads[1:]:
        a, b = fresh.update(p, g), moved.update(p, g)
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)  # the same float32 operations on the same shapes
    for key, value in moved.get_state().items():
        if key != "iterations":
            assert value.dtype == np.float32, key


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_an_optimizer_used_in_float64_then_float32_computes_like_a_fresh_one(config):
    """After ``reset`` an optimizer that ran on float64 vectors gives a float32 run exactly
    what a new one gives (no float64 buffer left over from the first run)."""
    rng = np.random.default_rng(9)
    used, fresh = config[1](), config[1]()
    used.update(rng.normal(size=50), rng.normal(size=50))
    used.reset()
    p = rng.normal(size=50).astype(np.float32)
    for _ in range(3):
        g = (rng.normal(size=50) * 0.3).astype(np.float32)
        a, b = used.update(p, g), fresh.update(p, g)
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
        p = a


@pytest.mark.parametrize("steps_before", [0, 14])
def test_state_is_not_flushed_between_the_16th_steps(steps_before):
    """Only every 16th step flushes: at the 1st or the 15th a tiny entry stays (decayed)."""
    threshold = 2.0**24 * np.finfo(np.float64).tiny
    opt = Adam(1e-3)
    p = np.zeros(4)
    opt.update(p, np.zeros(4))
    m = np.full(4, 0.5 * threshold)
    opt.set_state({"m": m, "v": np.full(4, 1e-6), "iterations": steps_before})
    opt.update(p, np.zeros(4))
    np.testing.assert_array_equal(opt.get_state()["m"], 0.9 * m)


BOUNDARIES = [
    # (factory, argument, refused value, accepted value at the other side of the bound)
    (lambda v: SGD(v), "learning_rate", 0.0, 1e-9),
    (lambda v: SGD(0.1, v), "momentum", 1.0, 0.0),
    (lambda v: SGD(0.1, clipnorm=v), "clipnorm", 0.0, 1e-9),
    (lambda v: SGD(0.1, clipvalue=v), "clipvalue", 0.0, 1e-9),
    (lambda v: Adam(beta_1=v), "beta_1", 1.0, 0.0),
    (lambda v: Adam(beta_1=v), "beta_1", -0.1, 0.999),
    (lambda v: Adam(beta_2=v), "beta_2", 1.0, 0.0),
    (lambda v: Adam(beta_2=v), "beta_2", -0.1, 0.5),
    (lambda v: Adam(epsilon=v), "epsilon", 0.0, 1e-30),
    (lambda v: RMSprop(rho=v), "rho", 1.0, 0.0),
    (lambda v: RMSprop(rho=v), "rho", -0.1, 0.5),
    (lambda v: RMSprop(epsilon=v), "epsilon", 0.0, 1e-30),
    (lambda v: Adagrad(epsilon=v), "epsilon", 0.0, 1e-30),
    (lambda v: Adagrad(initial_accumulator_value=v), "initial_accumulator_value", -0.1, 0.0),
]


@pytest.mark.parametrize(
    "factory, name, refused, accepted", BOUNDARIES, ids=[f"{b[1]}={b[2]}" for b in BOUNDARIES]
)
def test_settings_are_refused_just_outside_their_range(factory, name, refused, accepted):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        factory(refused)
    assert getattr(factory(accepted), name) == accepted
