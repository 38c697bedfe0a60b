"""The article's algorithm exactly as it describes it: the reference for tests and benchmarks.

:class:`ArticleNetwork` does every step the slow, plain way: float64
throughout, each layer's output derivative through the full ``(n, m, m)``
Jacobian (``matmul(dL, J)``), parameters flattened with ``np.concatenate``
and restored by slicing every batch, and the optimizer called through its
``update(old_params, gradient)``.  It accepts any ``(f, df)`` pairs, the
library's or your own.

:class:`~nnscratch.NeuralNetwork` reaches the same numbers by faster routes
(flat buffers, fused output gradients); ``tests/test_reference.py`` checks
that one batch's gradients and one update agree with this class to rounding
for every built-in pair and for a user's own, and the training benchmark uses
it as the article's contender.  Nothing else in the library imports it.
"""

from __future__ import annotations

import numpy as np


class ArticleNetwork:
    """A multi-layer perceptron trained the article's way.

    Parameters
    ----------
    layers : list of int
        Node counts from input to output.
    hidden_activation, output_activation : (f, df) pairs
        ``df`` of the output activation returns Jacobians ``(n, m, m)``.
    loss : (L, dL) pair
        ``L -> (n, 1)``, ``dL -> (n, 1, m)``.
    optimizer : object with ``update(old_params, gradient)``
    seed : int
        Seeds the article's initialisation (normal, standard deviation
        ``sqrt(1 / (fan_in + fan_out))`` for weights and biases) and shuffling.
    """

    def __init__(self, layers, hidden_activation, output_activation, loss, optimizer, seed=0):
        self.rng = np.random.default_rng(seed)
        self.layers = list(layers)
        self.hidden_activation = tuple(hidden_activation)
        self.output_activation = tuple(output_activation)
        self.loss = tuple(loss)
        self.optimizer = optimizer
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(layers[:-1], layers[1:]):
            std = np.sqrt(1 / (fan_in + fan_out))
            self.weights.append(self.rng.normal(0, std, (fan_in, fan_out)))
            self.biases.append(self.rng.normal(0, std, (1, fan_out)))

    def flatten_params(self, weights, biases):
        """All weights, then all biases, as one new 1-D vector."""
        return np.concatenate([w.flatten() for w in weights] + [b.flatten() for b in biases])

    def restore_params(self, params):
        """Cut a flat vector back into weight and bias arrays shaped like the network's."""
        weights, biases, start = [], [], 0
        for w in self.weights:
            weights.append(params[start : start + w.size].reshape(w.shape))
            start += w.size
        for b in self.biases:
            biases.append(params[start : start + b.size].reshape(b.shape))
            start += b.size
        return weights, biases

    def forward(self, x):
        """``[input, output]`` of every layer."""
        records = []
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            f = self.hidden_activation[0] if i < last else self.output_activation[0]
            z = np.matmul(x, w) + b
            out = f(z)
            records.append([x, out])
            x = out
        return records

    def _z(self, records, i):
        return np.matmul(records[i][0], self.weights[i]) + self.biases[i]

    def backward(self, records, y):
        """``(d_weights, d_biases)`` of the batch's mean loss, through the Jacobians."""
        n = y.shape[0]
        last = len(self.weights) - 1
        z_out = self._z(records, last)
        d_loss = self.loss[1](records[last][1], y)  # (n, 1, m)
        jacobian = self.output_activation[1](z_out)  # (n, m, m)
        error = np.squeeze(np.matmul(d_loss, jacobian), 1)  # (n, m)
        d_weights, d_biases = [None] * (last + 1), [None] * (last + 1)
        for i in range(last, -1, -1):
            d_weights[i] = np.matmul(records[i][0].T, error) / n
            d_biases[i] = np.sum(error, axis=0, keepdims=True) / n
            if i > 0:
                slope = self.hidden_activation[1](self._z(records, i - 1))
                error = np.matmul(error, self.weights[i].T) * slope
        return d_weights, d_biases

    def train_step(self, x, y):
        """forward -> backward -> flatten -> update -> restore; returns the batch's summed loss."""
        records = self.forward(x)
        d_weights, d_biases = self.backward(records, y)
        params = self.flatten_params(self.weights, self.biases)
        gradient = self.flatten_params(d_weights, d_biases)
        self.weights, self.biases = self.restore_params(self.optimizer.update(params, gradient))
        return float(np.sum(self.loss[0](records[-1][1], y)))

    def fit(self, x, y, batch_size, epochs):
        """Shuffle x and y together every epoch and train; returns the mean loss per epoch."""
        losses = []
        width = x.shape[1]
        for _ in range(epochs):
            data = np.concatenate((x, y), axis=1)
            self.rng.shuffle(data)
            xs, ys = data[:, :width], data[:, width:]
            total = 0.0
            for start in range(0, x.shape[0], batch_size):
                total += self.train_step(
                    xs[start : start + batch_size], ys[start : start + batch_size]
                )
            losses.append(total / x.shape[0])
        return losses

    def predict(self, x):
        return self.forward(x)[-1][1]


class MomentumSGD:
    """The article's optimizer: ``change = momentum * change - lr * g``; ``p + change``."""

    def __init__(self, learning_rate=0.01, momentum=0.0):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.change = None

    def update(self, old_params, gradient):
        if self.change is None:
            self.change = np.zeros_like(old_params)
        self.change = self.momentum * self.change - self.learning_rate * gradient
        return old_params + self.change
