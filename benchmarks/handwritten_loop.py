"""A hand-written NumPy training loop: the yardstick for nnscratch's NumPy path.

No library, no generality: a ReLU MLP with a softmax output, cross-entropy
and SGD with momentum, written for speed with plain NumPy.

* Every array a step needs is allocated once; batches are gathered with
  ``np.take(..., out=)`` into fixed buffers.
* The learning rate is folded into the output delta (``delta = lr (p - y) / n``),
  so the backward pass produces ``lr * gradient`` directly and the momentum
  update needs three in-place passes: ``v *= mu``, ``v -= lr g``, ``p += v``.
* The parameters live in one flat vector, as in nnscratch, so the update is
  three calls however many layers there are.
"""

from __future__ import annotations

import numpy as np


class HandwrittenMLP:
    def __init__(self, layers, lr, momentum, batch, dtype=np.float32, seed=0):
        rng = np.random.default_rng(seed)
        sizes = list(zip(layers[:-1], layers[1:]))
        total = sum(i * o + o for i, o in sizes)
        self.params = np.zeros(total, dtype)
        self.grads = np.zeros(total, dtype)
        self.velocity = np.zeros(total, dtype)
        self.w, self.b, self.gw, self.gb = [], [], [], []
        start = 0
        for fan_in, fan_out in sizes:
            for store, grad_store, shape in (
                (self.w, self.gw, (fan_in, fan_out)),
                (self.b, self.gb, (1, fan_out)),
            ):
                size = shape[0] * shape[1]
                store.append(self.params[start : start + size].reshape(shape))
                grad_store.append(self.grads[start : start + size].reshape(shape))
                start += size
        for w in self.w:
            w[...] = rng.normal(0, np.sqrt(1 / sum(w.shape)), w.shape)
        self.lr, self.momentum, self.batch = lr, momentum, batch
        self.dtype = dtype
        self.rng = rng
        self._buffers = {}

    def _work(self, n):
        if n not in self._buffers:
            layers = [self.w[0].shape[0]] + [w.shape[1] for w in self.w]
            self._buffers[n] = {
                "x": np.empty((n, layers[0]), self.dtype),
                "y": np.empty((n, layers[-1]), self.dtype),
                "a": [np.empty((n, k), self.dtype) for k in layers[1:]],
                "d": [np.empty((n, k), self.dtype) for k in layers[1:]],
            }
        return self._buffers[n]

    def fit_epoch(self, x, onehot):
        """One epoch over shuffled rows; returns the mean cross-entropy."""
        order = self.rng.permutation(x.shape[0])
        total = 0.0
        last = len(self.w) - 1
        for start in range(0, x.shape[0], self.batch):
            rows = order[start : start + self.batch]
            buf = self._work(rows.shape[0])
            xb, yb, acts, deltas = buf["x"], buf["y"], buf["a"], buf["d"]
            np.take(x, rows, axis=0, out=xb)
            np.take(onehot, rows, axis=0, out=yb)
            # forward
            a = xb
            for i, (w, b) in enumerate(zip(self.w, self.b)):
                z = np.matmul(a, w, out=acts[i])
                z += b
                if i < last:
                    np.maximum(z, 0, out=z)
                a = z
            a -= a.max(axis=1, keepdims=True)  # softmax in place
            np.exp(a, out=a)
            a /= a.sum(axis=1, keepdims=True)
            total -= float(np.log(np.maximum((a * yb).sum(axis=1), 1e-7)).sum())
            # backward, with lr / n folded into the output delta
            d = deltas[last]
            np.subtract(a, yb, out=d)
            d *= self.lr / rows.shape[0]
            for i in range(last, -1, -1):
                np.matmul((acts[i - 1] if i else xb).T, d, out=self.gw[i])
                np.add.reduce(d, axis=0, keepdims=True, out=self.gb[i])
                if i:
                    prev = np.matmul(d, self.w[i].T, out=deltas[i - 1])
                    prev *= acts[i - 1] > 0
                    d = prev
            # momentum: three in-place passes over all parameters
            self.velocity *= self.momentum
            self.velocity -= self.grads
            self.params += self.velocity
        return total / x.shape[0]
