"""scikit-learn's stochastic training, step for step, driven through ``NeuralNetwork.fit``.

Two pieces let :mod:`nnscratch.sklearn` train the very model scikit-learn's
``MLPClassifier`` / ``MLPRegressor`` train for the same parameters and
``random_state``:

* :class:`SklearnSGD` and :class:`SklearnAdam`, optimizers (objects with
  ``update(old_params, gradient)``) following scikit-learn's update formulas.
  They differ from :class:`nnscratch.SGD` / :class:`nnscratch.Adam` in small
  ways that matter for equality: scikit-learn's Adam folds both bias
  corrections into the step size, ``lr_t = lr * sqrt(1 - beta_2**t) / (1 -
  beta_1**t)``, and adds ``epsilon`` to the uncorrected ``sqrt(v)``; its SGD
  keeps the update itself as the velocity.  They also carry scikit-learn's
  learning-rate schedules (``iteration_ends``, ``trigger_stopping``).
* :class:`EpochFeeder`, at once the batch generator handed to
  ``NeuralNetwork.fit`` (a function called once per epoch that returns the
  epoch's batches) and a callback of that ``fit``.  It shuffles with the
  estimator's ``RandomState`` exactly as scikit-learn does (each epoch
  permutes the previous epoch's order), cuts the batches as scikit-learn
  does, sets the network's L2 coefficient for each batch just before the
  network trains on it, and keeps scikit-learn's loss books: each batch's loss
  includes ``alpha / (2 S) * sum(W ** 2)`` at the weights it started from, and
  the iteration's loss is the size-weighted mean of the batch losses.  At the
  end of each epoch it hands the loss to the estimator's stopping rule.

The epoch loop itself stays the library's one loop in ``NeuralNetwork.fit``.
"""

from __future__ import annotations

import numpy as np

from .callbacks import Callback


class SklearnSGD:
    """Stochastic gradient descent with momentum, as scikit-learn's MLP performs it.

    With velocity ``u`` (zero at first), each step computes
    ``u = momentum * u - lr * g``; the parameters move by ``u``, or with
    Nesterov's momentum by ``momentum * u - lr * g`` (the new ``u``).

    Parameters
    ----------
    learning_rate_init : float
    schedule : {'constant', 'invscaling', 'adaptive'}
    momentum : float
    nesterov : bool
    power_t : float
        Exponent of 'invscaling': after each iteration the step size becomes
        ``learning_rate_init / (t + 1) ** power_t``, ``t`` the samples seen.
    gradient_scale : float
        The gradient is multiplied by this first (see
        :meth:`nnscratch.sklearn.NNRegressor` for why multi-output regression
        needs it).
    """

    def __init__(
        self,
        learning_rate_init,
        schedule="constant",
        momentum=0.9,
        nesterov=True,
        power_t=0.5,
        gradient_scale=1.0,
    ):
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.schedule = schedule
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = float(power_t)
        self.gradient_scale = float(gradient_scale)
        self.velocity = None

    def update(self, old_params, gradient):
        """One step; ``old_params`` and ``gradient`` are flat vectors (this object's copies)."""
        if self.gradient_scale != 1.0:
            gradient = gradient * self.gradient_scale
        if self.velocity is None:
            self.velocity = np.zeros_like(old_params)
        velocity = self.momentum * self.velocity - self.learning_rate * gradient
        self.velocity = velocity
        if self.nesterov:
            step = self.momentum * velocity - self.learning_rate * gradient
        else:
            step = velocity
        old_params += step
        return old_params

    def iteration_ends(self, samples_seen):
        """The 'invscaling' schedule, after each iteration (epoch)."""
        if self.schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (samples_seen + 1) ** self.power_t

    def trigger_stopping(self):
        """The stopping rule fired: True to stop; 'adaptive' divides the step by 5 instead,
        until it is at most 1e-6."""
        if self.schedule != "adaptive" or self.learning_rate <= 1e-6:
            return True
        self.learning_rate /= 5.0
        return False


class SklearnAdam:
    """Adam as scikit-learn's MLP performs it.

    At step ``t``: ``m = beta_1 m + (1 - beta_1) g``, ``v = beta_2 v + (1 -
    beta_2) g**2``, ``lr_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` and
    the parameters move by ``-lr_t m / (sqrt(v) + epsilon)``.
    ``learning_rate`` holds the last ``lr_t``, as scikit-learn's does.

    Parameters
    ----------
    learning_rate_init, beta_1, beta_2, epsilon : float
    gradient_scale : float
        As for :class:`SklearnSGD`.
    """

    def __init__(
        self, learning_rate_init, beta_1=0.9, beta_2=0.999, epsilon=1e-8, gradient_scale=1.0
    ):
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.gradient_scale = float(gradient_scale)
        self.t = 0
        self.m = None
        self.v = None

    def update(self, old_params, gradient):
        """One step; ``old_params`` and ``gradient`` are flat vectors (this object's copies)."""
        if self.gradient_scale != 1.0:
            gradient = gradient * self.gradient_scale
        if self.m is None:
            self.m = np.zeros_like(old_params)
            self.v = np.zeros_like(old_params)
        self.t += 1
        self.m *= self.beta_1
        self.m += (1 - self.beta_1) * gradient
        self.v *= self.beta_2
        self.v += (1 - self.beta_2) * (gradient * gradient)
        self.learning_rate = (
            self.learning_rate_init * np.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
        )
        step = -self.learning_rate * self.m
        step /= np.sqrt(self.v) + self.epsilon
        old_params += step
        return old_params

    def iteration_ends(self, samples_seen):
        """Adam has no schedule."""

    def trigger_stopping(self):
        """The stopping rule fired: stop."""
        return True


class EpochFeeder(Callback):
    """Batches in scikit-learn's order for ``NeuralNetwork.fit``, and scikit-learn's books.

    Call it to get one epoch's batches (``fit`` does, once per epoch, when it
    is passed as ``x``); pass it in ``callbacks`` too, so that it sees each
    batch's loss and each epoch's end.

    Parameters
    ----------
    x : ndarray or np.memmap of shape (n, n_features)
        Read row by row: a batch is ``x[rows]``, so a memory map is never
        read whole.
    y : ndarray of shape (n,) or (n, n_outputs)
        Targets as ``fit`` takes them (labels with ``categorical=True``).
    rows : ndarray of int or None
        The training rows of ``x`` in scikit-learn's order (after its
        early-stopping split); None for all rows in order.
    sample_weight : ndarray of shape (n,) or None
        Indexed like ``x``.
    batch_size : int
    shuffle : bool
    random_state : np.random.RandomState
        Permutes the order at the start of each epoch.
    alpha : float
    output_scale : float
        The network's L2 coefficient is ``alpha / (S * output_scale)`` for a
        batch of weight ``S``; the optimizer multiplies the gradient by
        ``output_scale`` again.
    end_iteration : callable
        ``end_iteration(loss) -> bool`` after each epoch; True stops training.
    """

    def __init__(
        self,
        x,
        y,
        rows,
        sample_weight,
        batch_size,
        shuffle,
        random_state,
        alpha,
        output_scale,
        end_iteration,
    ):
        self.x = x
        self.y = y
        self.rows = rows
        self.sample_weight = sample_weight
        self.n_samples = x.shape[0] if rows is None else rows.shape[0]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.random_state = random_state
        self.alpha = float(alpha)
        self.output_scale = float(output_scale)
        self.end_iteration = end_iteration
        self.order = np.arange(self.n_samples)
        self.accumulated = 0.0
        self.penalty = 0.0
        self.epochs_done = 0
        self.stopped = False

    # ------------------------------------------------------------ the batch generator
    def __call__(self):
        """The batches ``(x, y, sample_weight)`` of the next epoch."""
        if self.shuffle:
            # scikit-learn permutes the previous order with a fresh permutation
            self.order = self.order[self.random_state.permutation(self.n_samples)]
        self.accumulated = 0.0
        return self._batches()

    def _batches(self):
        n, size = self.n_samples, self.batch_size
        for start in range(0, n, size):
            stop = min(start + size, n)
            if self.shuffle:
                picked = self.order[start:stop]
                rows = picked if self.rows is None else self.rows[picked]
            else:
                rows = slice(start, stop) if self.rows is None else self.rows[start:stop]
            weight = None if self.sample_weight is None else self.sample_weight[rows]
            self._prepare(stop - start if weight is None else float(weight.sum()))
            yield self.x[rows], self.y[rows], weight

    def _prepare(self, total_weight):
        """Set the L2 coefficient and the loss term of the batch about to train."""
        net = self.network
        squares = 0.0
        for w in net.weights:
            flat = w.ravel()
            squares += float(np.dot(flat, flat))
        self.penalty = 0.5 * self.alpha * squares / total_weight if self.alpha else 0.0
        net.l2 = self.alpha / (total_weight * self.output_scale)

    # ------------------------------------------------------------ the callback
    def on_batch_end(self, batch, logs):
        self.accumulated += (logs["loss"] + self.penalty) * logs["size"]

    def on_epoch_end(self, epoch, logs):
        self.epochs_done += 1
        if self.end_iteration(self.accumulated / self.n_samples):
            self.stopped = True
            self.network.stop_training = True


class StreamedBooks(EpochFeeder):
    """scikit-learn's loss books for a source that cuts its own batches (a chunked store).

    The store's source reads whole chunks in its own order, so the batches are
    not scikit-learn's; the books are kept the same way, with each batch's
    weight taken as its size times the mean sample weight.

    Parameters
    ----------
    n_samples, batch_size : int
    mean_weight : float
    alpha, output_scale : float
    end_iteration : callable
    """

    def __init__(self, n_samples, batch_size, mean_weight, alpha, output_scale, end_iteration):
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.mean_weight = float(mean_weight)
        self.alpha = float(alpha)
        self.output_scale = float(output_scale)
        self.end_iteration = end_iteration
        self.accumulated = 0.0
        self.penalty = 0.0
        self.seen = 0
        self.epochs_done = 0
        self.stopped = False

    def _prepare_next(self):
        size = min(self.batch_size, self.n_samples - self.seen) or self.batch_size
        self._prepare(size * self.mean_weight)

    def on_epoch_begin(self, epoch, logs):
        self.accumulated = 0.0
        self.seen = 0
        self._prepare_next()

    def on_batch_end(self, batch, logs):
        super().on_batch_end(batch, logs)
        self.seen += logs["size"]
        self._prepare_next()
