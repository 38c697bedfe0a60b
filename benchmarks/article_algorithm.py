"""The article's training algorithm as the article describes it, for comparison only.

This is a plain re-implementation (in this project's words) of the procedure in
"Implement a Neural Network from Scratch with NumPy": float64 everywhere, x and
y concatenated and shuffled together every epoch, parameters flattened with
``np.concatenate`` and restored by slicing and reshaping every batch, SGD with
momentum computed with temporary arrays, and the output gradient formed as
``matmul(dL, J)`` with a full ``(n, m, m)`` Jacobian.  The per-batch progress
print is left out so that the terminal does not enter the timing.
"""

import numpy as np


def relu(z):
    return np.maximum(0, z)


def d_relu(z):
    return (z > 0) * 1.0


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def d_softmax(z):
    s = softmax(z)
    eye = np.stack([np.diag(row) for row in s])
    return eye - np.matmul(np.expand_dims(s, 2), np.expand_dims(s, 1))


def cross_entropy(y_pred, y_true):
    p = np.clip(y_pred, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    return -np.sum(y_true * np.log(p), axis=1, keepdims=True)


def d_cross_entropy(y_pred, y_true):
    p = np.clip(y_pred, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    return np.expand_dims(-y_true / p, 1)


class MomentumSGD:
    def __init__(self, learning_rate=0.01, momentum=0.0):
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.change = None

    def update(self, old_params, gradient):
        if self.change is None:
            self.change = np.zeros_like(old_params)
        self.change = self.momentum * self.change - self.learning_rate * gradient
        return old_params + self.change


class ArticleNetwork:
    def __init__(self, layers, optimizer, seed=0):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.layers = layers
        self.optimizer = optimizer
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(layers[:-1], layers[1:]):
            std = np.sqrt(1 / (fan_in + fan_out))
            self.weights.append(rng.normal(0, std, (fan_in, fan_out)))
            self.biases.append(rng.normal(0, std, (1, fan_out)))

    def flatten(self, weights, biases):
        return np.concatenate([w.flatten() for w in weights] + [b.flatten() for b in biases])

    def restore(self, params):
        weights, biases, start = [], [], 0
        for w in self.weights:
            weights.append(params[start:start + w.size].reshape(w.shape))
            start += w.size
        for b in self.biases:
            biases.append(params[start:start + b.size].reshape(b.shape))
            start += b.size
        return weights, biases

    def forward(self, x):
        records = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = np.matmul(x, w) + b
            records.append([x, z])
            x = relu(z) if i < len(self.weights) - 1 else softmax(z)
        return records

    def backward(self, records, y):
        n = y.shape[0]
        last = len(self.weights) - 1
        out = softmax(records[last][1])
        e = np.squeeze(np.matmul(d_cross_entropy(out, y), d_softmax(records[last][1])), 1)
        d_weights, d_biases = [None] * (last + 1), [None] * (last + 1)
        for i in range(last, -1, -1):
            d_weights[i] = np.matmul(records[i][0].T, e) / n
            d_biases[i] = np.sum(e, axis=0, keepdims=True) / n
            if i > 0:
                e = np.matmul(e, self.weights[i].T) * d_relu(records[i - 1][1])
        return d_weights, d_biases

    def fit(self, x, y, batch_size, epochs):
        losses = []
        width = x.shape[1]
        for _ in range(epochs):
            data = np.concatenate((x, y), axis=1)
            self.rng.shuffle(data)
            xs, ys = data[:, :width], data[:, width:]
            total = 0.0
            for start in range(0, x.shape[0], batch_size):
                xb, yb = xs[start:start + batch_size], ys[start:start + batch_size]
                records = self.forward(xb)
                d_weights, d_biases = self.backward(records, yb)
                params = self.flatten(self.weights, self.biases)
                gradient = self.flatten(d_weights, d_biases)
                self.weights, self.biases = self.restore(self.optimizer.update(params, gradient))
                total += float(np.sum(cross_entropy(softmax(records[-1][1]), yb)))
            losses.append(total / x.shape[0])
        return losses
