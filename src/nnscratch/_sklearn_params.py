"""The estimators' parameter table: what each constructor argument accepts, checked in one place.

:mod:`nnscratch.sklearn` declares, per parameter, a list of admissible forms
(a number in an interval, one of some strings, a boolean, ...).  A value is
accepted when any form admits it; otherwise :func:`check_parameters` raises
:class:`InvalidParameterError` naming the estimator, the parameter, every
admissible form and the value it got, with a "did you mean" for a misspelt
string.  scikit-learn validates its estimators the same way
(``_parameter_constraints``); this is our own, smaller version of the idea.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Iterable

import numpy as np


class InvalidParameterError(ValueError, TypeError):
    """A constructor argument of an estimator outside what it accepts.

    Both a ValueError and a TypeError, as scikit-learn's own
    ``InvalidParameterError`` is, so code that catches either keeps working.
    """


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _is_real(value):
    return isinstance(value, numbers.Real) and not _is_bool(value)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not _is_bool(value)


class Form:
    """One admissible form of a parameter: ``admits(value)`` and a description."""

    description = ""

    def admits(self, value) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def hint(self, value) -> str:
        """Extra advice for a value that no form admitted ('' when none)."""
        return ""


class Interval(Form):
    """A real (or, with ``integer=True``, an integral) number between two bounds.

    ``closed`` is 'both', 'left', 'right' or 'neither'; a bound of None is open-ended.
    NaN is never admitted; infinity only as an open-ended bound allows it.
    """

    def __init__(self, low=None, high=None, closed="both", integer=False):
        self.low, self.high, self.closed, self.integer = low, high, closed, integer
        left = "[" if closed in ("both", "left") else "("
        right = "]" if closed in ("both", "right") else ")"
        kind = "an integer" if integer else "a real number"
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        self.description = f"{kind} in {left}{lo}, {hi}{right}"

    def admits(self, value):
        if not (_is_int(value) if self.integer else _is_real(value)):
            return False
        if math.isnan(value):
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        elif math.isinf(value) and value < 0:
            return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        elif math.isinf(value):
            return False
        return True


class OneOf(Form):
    """One of a fixed set of values (strings, mostly); misspellings get a suggestion.

    ``options`` may be a callable returning the current options (registries
    that grow at run time).
    """

    def __init__(self, options: Iterable | Callable[[], Iterable]):
        self._options = options

    @property
    def options(self):
        options = self._options() if callable(self._options) else self._options
        return list(options)

    @property
    def description(self):
        return "one of " + ", ".join(repr(o) for o in self.options)

    def admits(self, value):
        try:
            return any(value == option and type(value) is type(option) for option in self.options)
        except (TypeError, ValueError):
            return False

    def hint(self, value):
        if not isinstance(value, str):
            return ""
        words = [o for o in self.options if isinstance(o, str)]
        close = difflib.get_close_matches(value, words, n=1, cutoff=0.6)
        return f"Did you mean {close[0]!r}?" if close else ""


class Boolean(Form):
    description = "True or False"

    def admits(self, value):
        return _is_bool(value)


class NoneValue(Form):
    description = "None"

    def admits(self, value):
        return value is None


class Instance(Form):
    """An instance of some classes."""

    def __init__(self, *classes, description):
        self.classes = classes
        self.description = description

    def admits(self, value):
        return isinstance(value, self.classes) and not _is_bool(value)


class Satisfies(Form):
    """Whatever a predicate accepts, described in words."""

    def __init__(self, predicate, description):
        self.predicate = predicate
        self.description = description

    def admits(self, value):
        try:
            return bool(self.predicate(value))
        except Exception:
            return False


def check_parameters(owner: str, values: dict, table: dict, advice: dict | None = None) -> None:
    """Check every parameter in ``values`` against its forms in ``table``.

    Parameters
    ----------
    owner : str
        The estimator's class name, for the message.
    values : dict
        Parameter name -> value (``get_params(deep=False)``).
    table : dict
        Parameter name -> list of :class:`Form`.  Parameters missing from the
        table are not checked.
    advice : dict, optional
        Parameter name -> function of the refused value returning extra
        advice (or '').

    Raises
    ------
    InvalidParameterError
    """
    for name, forms in table.items():
        if name not in values:
            continue
        value = values[name]
        if any(form.admits(value) for form in forms):
            continue
        expected = [form.description for form in forms]
        wanted = expected[0] if len(expected) == 1 else "; or ".join(expected)
        hints = [h for h in (form.hint(value) for form in forms) if h]
        if advice and name in advice:
            extra = advice[name](value)
            if extra:
                hints.append(extra)
        message = f"{owner}: {name} must be {wanted}; got {value!r}"
        if hints:
            message += ". " + " ".join(hints)
        raise InvalidParameterError(message)
