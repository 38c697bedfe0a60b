"""The multi-layer perceptron: initialise, forward, backward, fit, predict, score.

The design follows the article: activations and the loss come in as
``(function, derivative)`` pairs, the optimizer as any object with
``update(old_params, gradient)``, and training works on flat parameter vectors.

Two implementation choices make it fast without changing that contract:

* All parameters live in one flat buffer (every weight matrix, then every bias
  row).  ``net.weights`` and ``net.biases`` are lists of views into it, so
  "flatten" and "restore" cost nothing when the arrays are already the
  network's own.  The gradient lives in a second buffer laid out the same way.
* For built-in output activations the backward pass skips the ``(n, m, m)``
  Jacobian: canonical pairs (softmax + categorical cross-entropy, sigmoid +
  binary cross-entropy, identity + MSE) use their exact closed-form gradient,
  other built-ins a vector-Jacobian product.  Users' own pairs take the
  article's route, ``matmul(dL, J)``.  The test suite checks that all routes
  agree.
"""

from __future__ import annotations

import os

import numpy as np

from . import _checks
from .activations import resolve_activation
from .initializers import initializers
from .io import atomic_write
from .losses import resolve_loss
from .optimizers import Optimizer, resolve_optimizer
from .progress import Progress


class _ParamList(list):
    """A list of views into the flat parameter buffer.

    Assigning ``net.weights[i] = new_array`` copies the values into the buffer
    (after checking the shape), so the list always stays a view of the network.
    """

    def __init__(self, views, label):
        super().__init__(views)
        self._label = label

    def __setitem__(self, index, value):
        if not isinstance(index, int):
            raise TypeError(f"{self._label} can only be assigned one array at a time, "
                            f"by integer index")
        target = self[index]
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"{self._label}[{index}] has shape {target.shape}, "
                             f"got an array of shape {value.shape}")
        target[...] = value


class _Buffers:
    """Work arrays for one batch size, reused from batch to batch."""

    def __init__(self, n, layers, dtype):
        sizes = layers[1:]
        self.z = [np.empty((n, k), dtype) for k in sizes]
        self.a = [np.empty((n, k), dtype) for k in sizes]
        self.delta = [np.empty((n, k), dtype) for k in sizes]


class NeuralNetwork:
    """A fully connected feed-forward network.

    Parameters
    ----------
    layers : list of int
        Node counts from input to output, e.g. ``[5, 10, 2]``: 5 inputs, one
        hidden layer of 10 nodes, 2 outputs.
    hidden_activation : (f, df) pair, Activation or str
        Applied elementwise after every hidden layer; ``df(z)`` has the shape
        of ``z``.
    output_activation : (f, df) pair, Activation or str
        Applied to the last layer; ``f`` maps ``(n, m) -> (n, m)`` and ``df``
        returns Jacobians of shape ``(n, m, m)``.
    loss : (L, dL) pair, Loss or str
        ``L(y_pred, y_true) -> (n, 1)``; ``dL -> (n, 1, m)``.
    optimizer : object with ``update(old_params, gradient)`` or str
    dtype : {np.float64, np.float32}, keyword-only
        Type of the parameters and of all arithmetic; inputs are converted once.
    seed : int, numpy.random.Generator or None, keyword-only
        Drives initialisation and shuffling.  The global ``np.random`` state is
        never used.
    initializer : str, keyword-only
        ``'xavier_article'`` (the article's, default), ``'glorot_uniform'`` or
        ``'he_normal'``.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[i]`` has shape ``(layers[i], layers[i + 1])``.
    biases : list of ndarray
        ``biases[i]`` has shape ``(1, layers[i + 1])``.
    """

    def __init__(self, layers, hidden_activation, output_activation, loss, optimizer, *,
                 dtype=np.float64, seed=None, initializer="xavier_article"):
        self.layers = _checks.check_layers(layers)
        self.hidden_activation = resolve_activation(hidden_activation, "hidden",
                                                    "hidden_activation")
        self.output_activation = resolve_activation(output_activation, "output",
                                                    "output_activation")
        self.loss = resolve_loss(loss)
        self.optimizer = resolve_optimizer(optimizer)
        self.dtype = _checks.check_dtype(dtype)
        self.seed = seed
        self.initializer = initializer
        self._rng = _checks.as_generator(seed)
        self._params, self._weights, self._biases = self._allocate("weights", "biases")
        self._grads, self._d_weights, self._d_biases = self._allocate("d_weights", "d_biases")
        self._buffers = {}
        self._initialize(initializers.get(initializer))

    # ------------------------------------------------------------------ setup
    def _allocate(self, w_label, b_label):
        """One flat vector holding all weights then all biases, and views into it."""
        pairs = list(zip(self.layers[:-1], self.layers[1:]))
        total = sum(i * o for i, o in pairs) + sum(o for _, o in pairs)
        flat = np.zeros(total, dtype=self.dtype)
        weights, biases, start = [], [], 0
        for fan_in, fan_out in pairs:
            weights.append(flat[start:start + fan_in * fan_out].reshape(fan_in, fan_out))
            start += fan_in * fan_out
        for _, fan_out in pairs:
            biases.append(flat[start:start + fan_out].reshape(1, fan_out))
            start += fan_out
        return flat, _ParamList(weights, w_label), _ParamList(biases, b_label)

    def _initialize(self, init):
        draws_biases = getattr(init, "draws_biases", False)
        for w, b in zip(self._weights, self._biases):
            fan_in, fan_out = w.shape
            w[...] = init(fan_in, fan_out, w.shape, self._rng, self.dtype)
            if draws_biases:
                b[...] = init(fan_in, fan_out, b.shape, self._rng, self.dtype)

    @property
    def weights(self):
        return self._weights

    @weights.setter
    def weights(self, value):
        self._assign(self._weights, value, "weights")

    @property
    def biases(self):
        return self._biases

    @biases.setter
    def biases(self, value):
        self._assign(self._biases, value, "biases")

    @staticmethod
    def _assign(views, value, label):
        if value is views:
            return
        value = list(value)
        if len(value) != len(views):
            raise ValueError(f"{label} needs {len(views)} arrays, got {len(value)}")
        checked = []
        for i, (view, new) in enumerate(zip(views, value)):
            new = np.asarray(new)
            if new.shape != view.shape:
                raise ValueError(f"{label}[{i}] has shape {view.shape}, got {new.shape}")
            checked.append(new)
        for view, new in zip(views, checked):  # all shapes checked: nothing half-assigned
            view[...] = new

    @property
    def n_params(self):
        """Total number of weights and biases."""
        return self._params.size

    @property
    def n_features(self):
        return self.layers[0]

    @property
    def n_outputs(self):
        return self.layers[-1]

    # ---------------------------------------------- the article's private helpers
    def __flatten_params(self, weights, biases):
        """All weights, then all biases, as one 1-D vector.

        The network's own parameter and gradient lists are views into flat
        buffers, so for them this returns the buffer itself (no copy).
        """
        if weights is self._weights and biases is self._biases:
            return self._params
        if weights is self._d_weights and biases is self._d_biases:
            return self._grads
        return np.concatenate([np.ravel(w) for w in weights] + [np.ravel(b) for b in biases])

    def __restore_params(self, params):
        """Put a flat parameter vector back into the network's weights and biases.

        Returns the ``(weights, biases)`` lists, which view the network's buffer.
        """
        if params is not self._params:
            params = np.asarray(params)
            if params.shape != self._params.shape:
                raise ValueError(
                    f"the optimizer returned parameters of shape {params.shape}, but the "
                    f"network has {self._params.size} parameters (shape {self._params.shape})")
            self._params[...] = params
        return self._weights, self._biases

    def __forward(self, x, buffers=None):
        """Pass ``x`` through the network, recording every layer.

        Returns a list with one entry per layer, ``[input, z, output]``: the
        layer's input, its pre-activation ``z = input @ W + b`` and its output
        ``f(z)``.  The backward pass needs all three.  With ``buffers`` the
        arrays are written into reused work arrays.
        """
        io_arrays = []
        a = x
        last = len(self._weights) - 1
        for i, (w, b) in enumerate(zip(self._weights, self._biases)):
            act = self.hidden_activation if i < last else self.output_activation
            z = np.matmul(a, w, out=None if buffers is None else buffers.z[i])
            z += b
            if buffers is not None and act.forward_into is not None:
                out = act.forward_into(z, buffers.a[i])
            else:
                out = act.f(z)
                if buffers is not None:  # first training batch: check the user's function
                    _checks.check_shape(_name(act.f), out, z.shape,
                                        "an activation function ")
            io_arrays.append([a, z, out])
            a = out
        return io_arrays

    def __backward(self, io_arrays, y_true, buffers=None):
        """Gradient of the batch's mean loss: ``(d_weights, d_biases)``.

        The arrays returned are views into the network's gradient buffer and
        are overwritten by the next call.
        """
        n = y_true.shape[0]
        last = len(self._weights) - 1
        _, z, a = io_arrays[last]
        out = None if buffers is None else buffers.delta[last]
        delta = self._output_delta(z, a, y_true, out)
        if out is None:
            out = np.empty_like(delta)
        np.multiply(delta, 1.0 / n, out=out)  # average over the batch
        delta = out
        for i in range(last, -1, -1):
            np.matmul(io_arrays[i][0].T, delta, out=self._d_weights[i])
            np.add.reduce(delta, axis=0, keepdims=True, out=self._d_biases[i])
            if i == 0:
                break
            prev = np.matmul(delta, self._weights[i].T,
                             out=None if buffers is None else buffers.delta[i - 1])
            _, z_prev, a_prev = io_arrays[i - 1]
            act = self.hidden_activation
            if act.backward_into is not None:
                act.backward_into(z_prev, a_prev, prev)
            else:
                slope = act.df(z_prev)
                _checks.check_shape(_name(act.df), slope, z_prev.shape,
                                    "a hidden activation's derivative ")
                prev *= slope
            delta = prev
        return self._d_weights, self._d_biases

    def _output_delta(self, z, a, y, out):
        """dL/dz for the output layer, shape (n, m), by the cheapest exact route."""
        act, loss = self.output_activation, self.loss
        fused = loss.fused.get(act.name) if act.forward_into is not None else None
        if fused is not None:
            return fused(a, y, out if out is not None else np.empty_like(a))
        n, m = a.shape
        g = loss.df(a, y)
        _checks.check_shape(_name(loss.df), g, (n, 1, m), "a loss derivative ")
        if act.vjp is not None:
            return act.vjp(z, a, g[:, 0, :])
        jac = act.df(z)
        _checks.check_shape(_name(act.df), jac, (n, m, m), "an output activation's derivative ")
        return np.matmul(g, jac)[:, 0, :]

    # --------------------------------------------------------------- training
    def fit(self, x, y, batch_size, epochs, categorical=False, *, verbose=1, shuffle=True):
        """Train with mini-batch gradient descent.

        Parameters
        ----------
        x : array-like, shape (n, layers[0])
        y : array-like, shape (n, layers[-1]), or (n,) labels with ``categorical=True``
        batch_size : int
            Samples per update; the last batch of an epoch may be smaller.
        epochs : int
            Passes over the data; rows are shuffled before each.
        categorical : bool
            One-hot encode ``y`` (integer labels) first.
        verbose : {0, 1, 2}, keyword-only
            0 silent; 1 a progress bar per epoch (one line per epoch when the
            output is not a terminal); 2 one line per epoch.
        shuffle : bool, keyword-only
            Shuffle the rows each epoch (the article always does).

        Returns
        -------
        list of float
            The average training loss of each epoch.
        """
        x = _checks.check_x(x, dtype=self.dtype, n_features=self.layers[0])
        y = _checks.check_targets(y, n_samples=x.shape[0], n_outputs=self.layers[-1],
                                  dtype=self.dtype, categorical=categorical)
        batch_size = _checks.check_positive_int("batch_size", batch_size)
        epochs = _checks.check_positive_int("epochs", epochs)
        n = x.shape[0]
        progress = Progress(verbose, epochs, n)
        epoch_losses = []
        try:
            for epoch in range(epochs):
                progress.epoch_begin(epoch)
                order = self._rng.permutation(n) if shuffle else None
                total = 0.0
                for start in range(0, n, batch_size):
                    stop = min(start + batch_size, n)
                    buffers = self._buffers_for(stop - start)
                    if order is None:
                        xb, yb = x[start:stop], y[start:stop]
                    else:
                        rows = order[start:stop]
                        xb, yb = x[rows], y[rows]
                    total += self._train_batch(xb, yb, buffers)
                    progress.batch_end(stop, total / stop)
                epoch_losses.append(total / n)
                progress.epoch_end(epoch, {"loss": total / n})
        finally:
            progress.close()
        return epoch_losses

    def _train_batch(self, xb, yb, buffers):
        """One forward, backward and update; returns the batch's summed loss."""
        io_arrays = self.__forward(xb, buffers)
        per_sample = self.loss.f(io_arrays[-1][2], yb)
        if per_sample.shape != (xb.shape[0], 1):
            _checks.check_shape(_name(self.loss.f), per_sample, (xb.shape[0], 1),
                                "a loss function ")
        d_weights, d_biases = self.__backward(io_arrays, yb, buffers)
        params = self.__flatten_params(self.weights, self.biases)
        gradient = self.__flatten_params(d_weights, d_biases)
        self._apply_update(params, gradient)
        return float(per_sample.sum())

    def _apply_update(self, params, gradient):
        opt = self.optimizer
        if isinstance(opt, Optimizer) and type(opt).update is Optimizer.update:
            opt.step(params, gradient)  # built-in: same arithmetic as update, in place
            return
        # A user's optimizer gets its own copies, so keeping references to them
        # (e.g. the previous gradient) is safe even though our buffers are reused.
        new_params = opt.update(params.copy(), gradient.copy())
        self.weights, self.biases = self.__restore_params(new_params)

    def _buffers_for(self, n):
        buffers = self._buffers.get(n)
        if buffers is None:
            if len(self._buffers) >= 4:
                self._buffers.clear()
            buffers = self._buffers[n] = _Buffers(n, self.layers, self.dtype)
        return buffers

    def gradients(self, x, y, categorical=False):
        """The gradient of the mean loss over ``(x, y)``, without updating anything.

        Returns
        -------
        (d_weights, d_biases) : lists of new arrays shaped like ``weights`` and ``biases``
        """
        x = _checks.check_x(x, dtype=self.dtype, n_features=self.layers[0])
        y = _checks.check_targets(y, n_samples=x.shape[0], n_outputs=self.layers[-1],
                                  dtype=self.dtype, categorical=categorical)
        d_weights, d_biases = self.__backward(self.__forward(x), y)
        return [d.copy() for d in d_weights], [d.copy() for d in d_biases]

    # -------------------------------------------------------------- inference
    def predict(self, x, labels=False):
        """The output layer's values for ``x``, or the predicted classes.

        Parameters
        ----------
        x : array-like, shape (n, layers[0]) or (layers[0],) for one sample
        labels : bool
            Return class labels instead: the arg-max output, or for a sigmoid
            output layer each unit thresholded at 0.5 (a 1-D array when there
            is a single unit).

        Returns
        -------
        ndarray of shape (n, layers[-1]), or (n,) labels; one sample in gives
        one row (or one label) out.
        """
        single = np.ndim(x) == 1
        x = _checks.check_x(x, dtype=self.dtype, n_features=self.layers[0], allow_1d=True)
        chunk = 8192  # bounds the memory of the recorded activations
        parts = [self.__forward(x[i:i + chunk])[-1][2] for i in range(0, x.shape[0], chunk)]
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if out is x:  # identity network on its own input: never hand back the caller's array
            out = out.copy()
        if labels:
            out = self._labels_from_output(out)
        return out[0] if single else out

    def _labels_from_output(self, out):
        if self.output_activation.name == "sigmoid" or out.shape[1] == 1:
            labels = (out > 0.5).astype(np.intp)
            return labels[:, 0] if labels.shape[1] == 1 else labels
        return np.argmax(out, axis=1)

    def score(self, x, y, accuracy=False):
        """Mean loss over ``(x, y)``, or the accuracy.

        With ``accuracy=False``, ``y`` holds targets shaped like the output
        (one-hot for classification; integer labels are one-hot encoded for
        you).  With ``accuracy=True``, ``y`` holds class labels (one-hot rows are
        accepted too) and the fraction predicted right is returned.
        """
        x = _checks.check_x(x, dtype=self.dtype, n_features=self.layers[0])
        m = self.layers[-1]
        if accuracy:
            predicted = self.predict(x, labels=True)
            y_arr = np.asarray(y)
            if y_arr.ndim == 2 and y_arr.shape[1] > 1 and predicted.ndim == 1:
                y_arr = np.argmax(y_arr, axis=1)
            if y_arr.ndim == 2 and y_arr.shape[1] == 1 and predicted.ndim == 1:
                y_arr = y_arr[:, 0]
            if y_arr.shape != predicted.shape:
                raise ValueError(f"y has shape {y_arr.shape}, but the predicted labels have "
                                 f"shape {predicted.shape}")
            return float(np.mean(predicted == y_arr))
        y_arr = np.asarray(y)
        as_labels = y_arr.ndim == 1 and m > 1
        y_arr = _checks.check_targets(y_arr, n_samples=x.shape[0], n_outputs=m,
                                      dtype=self.dtype, categorical=as_labels)
        return float(np.mean(self.loss.f(self.predict(x), y_arr)))

    # ------------------------------------------------------------- parameters
    def save_params(self, filename):
        """Save the weights and biases (one flat vector) to a ``.npy`` file.

        Like ``np.save``, ``.npy`` is appended when the name lacks it.  The
        write is atomic: an interrupted save leaves the previous file intact.
        Only parameters are stored; rebuild the network with the same code
        before :meth:`load_params`.
        """
        filename = os.fspath(filename)
        if not filename.endswith(".npy"):
            filename += ".npy"
        with atomic_write(filename) as handle:
            np.save(handle, self._params, allow_pickle=False)
        return filename

    def load_params(self, filename):
        """Load what :meth:`save_params` wrote, after checking it fits this network."""
        filename = os.fspath(filename)
        if not os.path.exists(filename) and os.path.exists(filename + ".npy"):
            filename += ".npy"
        try:
            params = np.load(filename, allow_pickle=False)
        except FileNotFoundError:
            raise
        except Exception as err:
            raise ValueError(f"{filename} is not a parameter file written by save_params: "
                             f"{err}") from None
        if not isinstance(params, np.ndarray) or params.ndim != 1:
            raise ValueError(f"{filename} does not hold a flat parameter vector "
                             f"(found shape {getattr(params, 'shape', None)})")
        if params.size != self._params.size:
            raise ValueError(f"{filename} holds {params.size} parameters, but this network "
                             f"(layers {self.layers}) has {self._params.size}")
        if params.dtype != self.dtype:
            raise ValueError(f"{filename} holds {params.dtype} parameters, but this network "
                             f"uses {self.dtype}; build it with dtype=np.{params.dtype}")
        self.__restore_params(params)

    def __repr__(self):
        def label(piece):
            return repr(piece.name) if piece.name else _name(piece.f)
        return (f"NeuralNetwork(layers={self.layers}, "
                f"hidden_activation={label(self.hidden_activation)}, "
                f"output_activation={label(self.output_activation)}, "
                f"loss={label(self.loss)}, optimizer={self.optimizer!r}, "
                f"dtype={self.dtype.name})")


def _name(func):
    return getattr(func, "__name__", type(func).__name__)
