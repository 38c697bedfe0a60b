"""Learning-rate schedules: ``schedule(step) -> learning rate``.

Pass one as any optimizer's ``learning_rate``; ``step`` counts the optimizer's
updates from 0.  Each schedule is a small object with a ``get_config()`` so
that model files can store it by name.

>>> from nnscratch import Adam
>>> from nnscratch.schedules import CosineDecay
>>> opt = Adam(learning_rate=CosineDecay(1e-3, decay_steps=10_000, warmup_steps=500))
"""

from __future__ import annotations

import math

from . import _checks
from .registry import Registry

schedules = Registry("learning-rate schedule")


def _positive(owner, name, value, allow_zero=False):
    """A positive (or, with ``allow_zero``, non-negative) number, via the library's one check."""
    return _checks.check_number(name, value, low=0, low_open=not allow_zero, owner=owner)


class Schedule:
    """Base class: subclasses define ``__call__(step)`` and list their arguments."""

    _config_names = ()

    def get_config(self):
        return {name: getattr(self, name) for name in self._config_names}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(self.get_config().items())))


class Constant(Schedule):
    """The same rate at every step."""

    _config_names = ("learning_rate",)

    def __init__(self, learning_rate):
        self.learning_rate = _positive("Constant", "learning_rate", learning_rate)

    def __call__(self, step):
        return self.learning_rate


class StepDecay(Schedule):
    """``initial * factor ** (step // every)``: drop by ``factor`` every ``every`` steps."""

    _config_names = ("initial", "factor", "every")

    def __init__(self, initial, factor=0.5, every=1000):
        self.initial = _positive("StepDecay", "initial", initial)
        self.factor = _positive("StepDecay", "factor", factor)
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"StepDecay: every must be a positive integer, got {every!r}")
        self.every = every

    def __call__(self, step):
        return self.initial * self.factor ** (step // self.every)


class ExponentialDecay(Schedule):
    """``initial * rate ** (step / steps)``: a smooth decay by ``rate`` per ``steps`` steps."""

    _config_names = ("initial", "rate", "steps")

    def __init__(self, initial, rate=0.96, steps=1000):
        self.initial = _positive("ExponentialDecay", "initial", initial)
        self.rate = _positive("ExponentialDecay", "rate", rate)
        self.steps = _positive("ExponentialDecay", "steps", steps)

    def __call__(self, step):
        return self.initial * self.rate ** (step / self.steps)


class CosineDecay(Schedule):
    """Half a cosine from ``initial`` down to ``initial * alpha`` over ``decay_steps``.

    With ``warmup_steps > 0`` the rate first rises linearly from
    ``warmup_from`` to ``initial``; the cosine then starts.  After the decay it
    stays at ``initial * alpha``.
    """

    _config_names = ("initial", "decay_steps", "alpha", "warmup_steps", "warmup_from")

    def __init__(self, initial, decay_steps, alpha=0.0, warmup_steps=0, warmup_from=0.0):
        self.initial = _positive("CosineDecay", "initial", initial)
        if not isinstance(decay_steps, int) or decay_steps < 1:
            raise ValueError(
                f"CosineDecay: decay_steps must be a positive integer, got {decay_steps!r}"
            )
        self.decay_steps = decay_steps
        self.alpha = _positive("CosineDecay", "alpha", alpha, allow_zero=True)
        if not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(
                f"CosineDecay: warmup_steps must be a non-negative integer, got {warmup_steps!r}"
            )
        self.warmup_steps = warmup_steps
        self.warmup_from = _positive("CosineDecay", "warmup_from", warmup_from, allow_zero=True)

    def __call__(self, step):
        if step < self.warmup_steps:
            return self.warmup_from + (self.initial - self.warmup_from) * step / self.warmup_steps
        progress = min(step - self.warmup_steps, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.initial * (self.alpha + (1 - self.alpha) * cosine)


for _cls in (Constant, StepDecay, ExponentialDecay, CosineDecay):
    schedules.register(_cls.__name__, _cls)


def schedule_to_config(schedule):
    """``{"name": ..., "config": {...}}`` for a registered schedule class, else a TypeError."""
    name = type(schedule).__name__
    if name.lower() in schedules and schedules.get(name) is type(schedule):
        return {"name": name, "config": schedule.get_config()}
    raise TypeError(
        f"the learning-rate schedule {schedule!r} has no registered name; model files store "
        f"names, not code: use one of {schedules.names()} or register your class with "
        f"nnscratch.schedules.schedules.register('name', YourClass)"
    )


def schedule_from_config(spec):
    return schedules.get(spec["name"])(**spec["config"])
