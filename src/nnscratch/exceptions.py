"""Warnings and errors that several modules raise, in one small module of their own."""

from __future__ import annotations


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss or the parameters stopped being finite."""


class TrainingInterrupted(UserWarning):
    """Training stopped early on Ctrl-C; the model keeps what it had learned."""


class ConcurrentTrainingError(RuntimeError):
    """A second ``fit`` started on a network that is already training.

    Two fits on one network would share its work buffers and its optimizer
    state and give wrong results without a word, so the second one is refused.
    ``predict`` and ``score`` stay safe to call from many threads.
    """
