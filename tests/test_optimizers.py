"""Optimizer arithmetic against hand computations over several steps."""

import math

import numpy as np
import pytest

import nnscratch as nn

P0 = np.array([1.0, -2.0, 0.5])
GRADS = [np.array([0.1, -0.3, 0.2]), np.array([-0.2, 0.1, 0.4]), np.array([0.05, 0.05, -0.1])]


def run(opt):
    p = P0.copy()
    history = []
    for g in GRADS:
        p = opt.update(p, g)
        history.append(p.copy())
    return history


def test_sgd_plain():
    out = run(nn.SGD(learning_rate=0.1))
    expected = P0 - 0.1 * np.cumsum(GRADS, axis=0)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_sgd_momentum_hand_computed():
    lr, mu = 0.1, 0.9
    v = np.zeros(3)
    p = P0.copy()
    expected = []
    for g in GRADS:
        v = mu * v - lr * g
        p = p + v
        expected.append(p)
    np.testing.assert_allclose(run(nn.SGD(lr, mu)), expected, rtol=1e-12)
    # first coordinate by hand: v1=-0.01, p1=0.99; v2=-0.009+0.02=0.011, p2=1.001
    assert run(nn.SGD(lr, mu))[1][0] == pytest.approx(1.001)


def test_sgd_nesterov_hand_computed():
    lr, mu = 0.1, 0.9
    v = np.zeros(3)
    p = P0.copy()
    expected = []
    for g in GRADS:
        v = mu * v - lr * g
        p = p + mu * v - lr * g
        expected.append(p)
    np.testing.assert_allclose(run(nn.SGD(lr, mu, nesterov=True)), expected, rtol=1e-12)


def test_adam_hand_computed():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    m = v = np.zeros(3)
    p = P0.copy()
    expected = []
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        expected.append(p)
    np.testing.assert_allclose(run(nn.Adam(lr)), expected, rtol=1e-12)
    # Adam's first step moves every coordinate by about lr against the gradient's sign
    np.testing.assert_allclose(run(nn.Adam(lr))[0], P0 - lr * np.sign(GRADS[0]), rtol=1e-6)


def test_rmsprop_hand_computed():
    lr, rho, eps = 0.01, 0.9, 1e-8
    s = np.zeros(3)
    p = P0.copy()
    expected = []
    for g in GRADS:
        s = rho * s + (1 - rho) * g * g
        p = p - lr * g / (np.sqrt(s) + eps)
        expected.append(p)
    np.testing.assert_allclose(run(nn.RMSprop(lr)), expected, rtol=1e-12)
    assert run(nn.RMSprop(lr))[0][0] == pytest.approx(1.0 - 0.01 / math.sqrt(0.1), rel=1e-6)


def test_adagrad_hand_computed():
    lr, eps = 0.1, 1e-8
    s = np.zeros(3)
    p = P0.copy()
    expected = []
    for g in GRADS:
        s = s + g * g
        p = p - lr * g / (np.sqrt(s) + eps)
        expected.append(p)
    np.testing.assert_allclose(run(nn.Adagrad(lr)), expected, rtol=1e-12)


@pytest.mark.parametrize("cls", [nn.SGD, nn.Adam, nn.RMSprop, nn.Adagrad])
def test_update_leaves_its_arguments_alone_and_step_matches(cls):
    kwargs = {"momentum": 0.5} if cls is nn.SGD else {}
    a, b = cls(**kwargs), cls(**kwargs)
    p, g = P0.copy(), GRADS[0].copy()
    new = a.update(p, g)
    np.testing.assert_array_equal(p, P0)
    np.testing.assert_array_equal(g, GRADS[0])
    q = P0.copy()
    assert b.step(q, g) is q
    np.testing.assert_array_equal(new, q)


@pytest.mark.parametrize("cls", [nn.SGD, nn.Adam, nn.RMSprop, nn.Adagrad])
def test_state_hand_out_and_take_back(cls):
    kwargs = {"momentum": 0.9} if cls is nn.SGD else {}
    original = cls(**kwargs)
    p = P0.copy()
    for g in GRADS[:2]:
        p = original.update(p, g)
    state = original.get_state()
    assert state["iterations"] == 2
    clone = cls(**kwargs)
    clone.set_state(state)
    np.testing.assert_array_equal(original.update(p, GRADS[2]), clone.update(p, GRADS[2]))
    # the handed-out state is a copy
    for value in state.values():
        if isinstance(value, np.ndarray):
            value += 100
    np.testing.assert_array_equal(original.update(p, GRADS[0]), clone.update(p, GRADS[0]))


def test_state_for_a_different_size_is_refused():
    opt = nn.Adam()
    opt.update(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="state for 3 parameters"):
        opt.update(np.zeros(4), np.ones(4))


def test_learning_rate_schedule_callable():
    opt = nn.SGD(learning_rate=lambda step: 0.1 / (1 + step))
    p = opt.update(np.zeros(1), np.ones(1))
    p = opt.update(p, np.ones(1))
    assert p[0] == pytest.approx(-0.1 - 0.05)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: nn.SGD(learning_rate=0), "learning_rate"),
        (lambda: nn.SGD(learning_rate=-1), "learning_rate"),
        (lambda: nn.SGD(momentum=1.0), "momentum"),
        (lambda: nn.SGD(momentum=-0.1), "momentum"),
        (lambda: nn.SGD(nesterov=True), "nesterov"),
        (lambda: nn.Adam(beta_1=1.0), "beta_1"),
        (lambda: nn.Adam(epsilon=0), "epsilon"),
        (lambda: nn.RMSprop(rho=2), "rho"),
        (lambda: nn.SGD(learning_rate="fast"), "learning_rate"),
        (lambda: nn.SGD(learning_rate=float("nan")), "learning_rate"),
    ],
)
def test_bad_settings_are_named(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_repr_shows_settings():
    assert repr(nn.SGD(0.5, 0.9)) == "SGD(learning_rate=0.5, momentum=0.9, nesterov=False)"


@pytest.mark.parametrize(
    "clip", [{"clipvalue": 0.3}, {"clipnorm": 0.5}, {"clipvalue": 0.3, "clipnorm": 0.5}]
)
@pytest.mark.parametrize("cls", [nn.SGD, nn.Adam, nn.RMSprop, nn.Adagrad])
def test_clipped_steps_reuse_one_buffer_and_match_the_copying_route(cls, clip):
    """step() clips into a reused buffer; the result equals clip_gradient's copy."""
    from nnscratch.optimizers import clip_gradient

    rng = np.random.default_rng(0)
    stepper, reference = cls(0.01, **clip), cls(0.01)
    p_step, p_ref = np.ones(50), np.ones(50)
    buffers = set()
    for _ in range(5):
        g = rng.standard_normal(50) * 3
        before = g.copy()
        stepper.step(p_step, g)
        buffers.add(id(stepper._clip_buffer))
        reference.step(p_ref, clip_gradient(g, clip.get("clipvalue"), clip.get("clipnorm")))
        np.testing.assert_array_equal(g, before)
    np.testing.assert_array_equal(p_step, p_ref)
    assert len(buffers) == 1


def test_clip_gradient_writes_into_out_only_when_asked():
    from nnscratch.optimizers import clip_gradient

    g = np.array([3.0, -4.0, 0.5])
    out = np.empty(3)
    got = clip_gradient(g, clipvalue=1.0, clipnorm=None, out=out)
    assert got is out
    np.testing.assert_array_equal(out, [1.0, -1.0, 0.5])
    got = clip_gradient(g, clipnorm=2.5, out=out)
    assert got is out
    assert float(np.linalg.norm(out)) == pytest.approx(2.5)
    assert clip_gradient(g, clipnorm=100.0, out=out) is g  # nothing to do: no copy
    np.testing.assert_array_equal(g, [3.0, -4.0, 0.5])
