"""Learning-rate schedules and the optimizers that follow them."""

import numpy as np
import pytest

import nnscratch as nn
from nnscratch.schedules import Constant, CosineDecay, ExponentialDecay, StepDecay


# ---------------------------------------------------------------------------- schedules
def test_schedules_give_the_expected_rates():
    assert Constant(0.1)(0) == Constant(0.1)(10**6) == 0.1
    step = StepDecay(0.1, factor=0.5, every=10)
    assert [step(s) for s in (0, 9, 10, 25)] == [0.1, 0.1, 0.05, 0.025]
    exp = ExponentialDecay(1.0, rate=0.5, steps=100)
    assert exp(0) == 1.0 and exp(100) == pytest.approx(0.5) and exp(50) == pytest.approx(2**-0.5)
    cos = CosineDecay(1.0, decay_steps=100, alpha=0.1)
    assert cos(0) == 1.0 and cos(50) == pytest.approx(0.55) and cos(100) == pytest.approx(0.1)
    assert cos(500) == pytest.approx(0.1)
    warm = CosineDecay(1.0, decay_steps=100, warmup_steps=10)
    assert warm(0) == 0.0 and warm(5) == pytest.approx(0.5) and warm(10) == 1.0
    assert warm(60) == pytest.approx(0.5)


@pytest.mark.parametrize("cls", [nn.SGD, nn.Adam, nn.RMSprop, nn.Adagrad])
def test_every_optimizer_follows_a_schedule(cls):
    opt = cls(learning_rate=StepDecay(0.1, factor=0.5, every=2))
    p = np.zeros(3)
    rates = []
    for _ in range(5):
        rates.append(opt.current_learning_rate())
        p = opt.update(p, np.ones(3))
    assert rates == [0.1, 0.1, 0.05, 0.05, 0.025]
