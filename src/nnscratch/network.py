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

import math
import numbers
import os
import signal
import threading
import time
import warnings

import numpy as np

from . import _checks
from ._atomic import atomic_write
from ._kernels import kernel_activation, kernel_output_pair, resolve_kernels  # [kernels E1]
from .activations import resolve_activation
from .callbacks import CallbackList
from .initializers import initializers
from .losses import resolve_loss
from .optimizers import Optimizer, resolve_optimizer
from .progress import Progress
from .utils import split_indices


class DivergenceWarning(RuntimeWarning):
    """Training stopped because the loss or the parameters stopped being finite."""


class TrainingInterrupted(UserWarning):
    """Training stopped early on Ctrl-C; the model keeps what it had learned."""


class _InterruptGuard:
    """Turns the first Ctrl-C during ``fit`` into a flag checked after each batch.

    The batch in progress is finished, so parameters and optimizer state stay
    consistent.  A second Ctrl-C interrupts at once, as usual.  Outside the
    main thread (where Python never delivers SIGINT) it does nothing.
    """

    def __init__(self):
        self.interrupted = False
        self._installed = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handle)
                self._installed = True
            except ValueError:  # embedded interpreters without signal support
                pass
        return self

    def _handle(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def __exit__(self, *exc):
        if self._installed:
            # None means the previous handler was set outside Python; Python's own is
            # the closest thing to put back
            previous = self._previous if self._previous is not None \
                else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)
        return False


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
    dropout : float or list of float, keyword-only
        Inverted dropout rate after each hidden layer (one rate for all, or one
        per hidden layer), applied while training only; 0 (default) is off.
    l2 : float, keyword-only
        L2 weight decay: the training objective adds ``l2 / 2 * sum(W ** 2)``
        over all weight matrices (not the biases); 0 (default) is off.
    kernels : {'auto', 'numpy', 'numba', 'numba-parallel'}, keyword-only
        Who does the element-wise work of training for built-in pieces:
        ``'numba'`` fused compiled loops (``pip install 'nnscratch[fast]'``),
        ``'numba-parallel'`` the same split over all cores, ``'numpy'`` the
        NumPy reference; ``'auto'`` (default) takes ``NNSCRATCH_KERNELS``
        when set, else ``'numba'`` when Numba is installed, else NumPy.  All
        compute the same to rounding.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[i]`` has shape ``(layers[i], layers[i + 1])``.
    biases : list of ndarray
        ``biases[i]`` has shape ``(1, layers[i + 1])``.
    history : dict of lists
        Per-epoch figures of every ``fit`` so far: ``loss``, ``val_loss``,
        ``accuracy``, ``val_accuracy`` (where they apply), ``learning_rate``,
        ``seconds``.
    metadata : dict
        Your own notes (class names, preprocessing, ...); anything JSON can
        hold.  Saved in model files.
    """

    def __init__(self, layers, hidden_activation, output_activation, loss, optimizer, *,
                 dtype=np.float64, seed=None, initializer="xavier_article", dropout=0.0,
                 l2=0.0, kernels="auto"):
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
        self.dropout = dropout
        self._dropout_rates = self._check_dropout(dropout)
        self.l2 = _check_fraction("l2", l2, upper=None)
        self.kernels = kernels  # [kernels E2]
        self._kernels = resolve_kernels(kernels)
        self._buffers = {}
        self.history = {}
        self.metadata = {}  # free-form JSON-able notes kept in model files
        self.stop_training = False
        self._initialize(initializers.get(initializer))

    def _check_dropout(self, dropout):
        hidden = len(self.layers) - 2
        rates = list(dropout) if isinstance(dropout, (list, tuple)) else [dropout] * hidden
        if len(rates) != hidden:
            raise ValueError(f"dropout lists {len(rates)} rates, but the network has {hidden} "
                             f"hidden layers")
        return [_check_fraction("dropout", r, upper=1.0) for r in rates]

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

    def __forward(self, x, buffers=None, training=False):
        """Pass ``x`` through the network, recording every layer.

        Returns a list with one entry per layer, ``[input, z, output, mask]``:
        the layer's input, its pre-activation ``z = input @ W + b``, its output
        ``f(z)`` and the dropout mask applied to that output (None when there
        is none).  The backward pass needs all four.  With ``buffers`` the
        arrays are written into reused work arrays.
        """
        io_arrays = []
        a = x
        last = len(self._weights) - 1
        for i, (w, b) in enumerate(zip(self._weights, self._biases)):
            act = self.hidden_activation if i < last else self.output_activation
            z = np.matmul(a, w, out=None if buffers is None else buffers.z[i])
            name = kernel_activation(act, hidden=i < last)  # [kernels E3]
            if buffers is not None and name is not None:  # training a built-in: z += b, f(z)
                out = self._kernels.dense_forward(name, z, b, buffers.a[i])
            else:
                z += b
                if buffers is not None and act.forward_into is not None:
                    out = act.forward_into(z, buffers.a[i])
                else:
                    out = act.f(z)
                    if buffers is not None:  # training: check the user's function
                        _checks.check_shape(_name(act.f), out, z.shape,
                                            "an activation function ")
            mask = None
            if training and i < last and self._dropout_rates[i] > 0:
                mask = self._dropout_mask(out.shape, self._dropout_rates[i])
            io_arrays.append([a, z, out, mask])
            a = out if mask is None else out * mask
        return io_arrays

    def _dropout_mask(self, shape, rate):
        """Inverted dropout: keep each unit with probability 1 - rate, scaled by 1 / (1 - rate)."""
        keep = self._rng.random(shape, dtype=self.dtype) >= rate
        return keep * self.dtype.type(1.0 / (1.0 - rate))

    def __backward(self, io_arrays, y_true, buffers=None, sample_weight=None, delta=None):
        """Gradient of the batch's mean loss: ``(d_weights, d_biases)``.

        With ``sample_weight`` (one weight per row) the batch loss is the
        weighted mean ``sum(w_i L_i) / sum(w_i)``; with ``l2 > 0`` the decay
        term's gradient ``l2 * W`` is included.  The arrays returned are views into the
        network's gradient buffer and are overwritten by the next call.  A given
        ``delta`` is the output layer's gradient already scaled per row (from
        the kernels' output_delta); it is used as is.
        """
        n = y_true.shape[0]
        last = len(self._weights) - 1
        if delta is None:  # [kernels E4] (only this test and the indent below are new)
            _, z, a, _ = io_arrays[last]
            out = None if buffers is None else buffers.delta[last]
            delta = self._output_delta(z, a, y_true, out)
            if out is None:
                out = np.empty_like(delta)
            np.multiply(delta, _row_scale(n, sample_weight), out=out)
            delta = out
        for i in range(last, -1, -1):
            np.matmul(io_arrays[i][0].T, delta, out=self._d_weights[i])
            np.add.reduce(delta, axis=0, keepdims=True, out=self._d_biases[i])
            if self.l2:
                self._d_weights[i] += self.l2 * self._weights[i]
            if i == 0:
                break
            prev = np.matmul(delta, self._weights[i].T,
                             out=None if buffers is None else buffers.delta[i - 1])
            _, z_prev, a_prev, mask = io_arrays[i - 1]
            if mask is not None:
                prev *= mask
            act = self.hidden_activation
            name = kernel_activation(act, hidden=True)  # [kernels E5]
            if name is not None:
                self._kernels.dense_backward(name, z_prev, a_prev, prev)
            elif act.backward_into is not None:
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
    def fit(self, x, y, batch_size, epochs, categorical=False, *, verbose=1, shuffle=True,
            validation_data=None, validation_split=0.0, callbacks=None, sample_weight=None,
            class_weight=None):
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
        validation_data : (x_val, y_val), keyword-only
            Held-out data scored after every epoch (``y_val`` like ``y``).
        validation_split : float, keyword-only
            Hold out this fraction of ``(x, y)`` instead, drawn at random from
            the network's generator (stratified by class for classification).
        callbacks : list, keyword-only
            See :mod:`nnscratch.callbacks`.
        sample_weight : array-like of shape (n,), keyword-only
            Weight of each sample's loss: every batch minimises the weighted mean
            ``sum(w_i L_i) / sum(w_i)``.
        class_weight : dict or 'balanced', keyword-only
            Weight of each class's samples; 'balanced' weighs classes inversely
            to their frequency.  Multiplies ``sample_weight`` when both are given.

        Returns
        -------
        list of float
            The average training loss of each epoch (the weighted mean when
            weights are given, plus the L2 term when ``l2 > 0``).  Per-epoch
            figures, validation included, accumulate in :attr:`history`.

        Notes
        -----
        If the loss or the parameters stop being finite, training stops, the
        parameters from the start of that epoch are restored and a
        :class:`DivergenceWarning` says what to try.  Ctrl-C finishes the
        current batch, stops, warns with :class:`TrainingInterrupted` and
        returns normally, keeping the model and its history.
        """
        x, y = self._check_xy(x, y, categorical)
        batch_size = _checks.check_positive_int("batch_size", batch_size)
        epochs = _checks.check_positive_int("epochs", epochs)
        classify = categorical or self._is_classifier()
        weights = self._sample_weights(y, sample_weight, class_weight, classify)
        x, y, weights, validation = self._split_validation(
            x, y, weights, validation_data, validation_split, categorical, classify)
        cbs = CallbackList(callbacks, self)
        self.stop_training = False
        progress = Progress(verbose, epochs, x.shape[0])
        epoch_losses = []
        with _InterruptGuard() as guard:
            try:
                cbs.call("on_train_begin", {})
                for epoch in range(epochs):
                    logs = self._run_epoch(epoch, x, y, weights, batch_size, shuffle, classify,
                                           validation, cbs, progress, guard)
                    if logs is None:  # diverged or interrupted mid-epoch
                        break
                    epoch_losses.append(logs["loss"])
                    if cbs.call("on_epoch_end", epoch, logs) or guard.interrupted:
                        break
            finally:
                progress.close()
            cbs.call("on_train_end", {})
        if guard.interrupted:
            warnings.warn("training interrupted by Ctrl-C; the model keeps the parameters "
                          "of the last finished batch and its history", TrainingInterrupted,
                          stacklevel=2)
        return epoch_losses

    def _check_xy(self, x, y, categorical):
        """``x`` and ``y`` validated and converted to the network's dtype, once."""
        x = _checks.check_x(x, dtype=self.dtype, n_features=self.layers[0])
        y = _checks.check_targets(y, n_samples=x.shape[0], n_outputs=self.layers[-1],
                                  dtype=self.dtype, categorical=categorical)
        return x, y

    def _is_classifier(self):
        return self.loss.name in ("categorical_crossentropy", "binary_crossentropy")

    def _sample_weights(self, y, sample_weight, class_weight, classify):
        """One weight per row, or None when every weight would be 1."""
        n = y.shape[0]
        weights = None
        if sample_weight is not None:
            if np.ndim(sample_weight) != 1:
                raise ValueError(f"sample_weight must be 1-D (one weight per sample), got "
                                 f"shape {np.shape(sample_weight)}")
            weights = _checks.check_x(np.reshape(sample_weight, (-1, 1)), dtype=self.dtype,
                                      name="sample_weight")[:, 0]
            if weights.shape[0] != n:
                raise ValueError(f"sample_weight has {weights.shape[0]} entries, but x has "
                                 f"{n} samples")
            if (weights < 0).any():
                raise ValueError("sample_weight must not hold negative weights")
        if class_weight is not None:
            labels = _labels_of(y)
            per_class = _class_weights(class_weight, labels, y.shape[1])
            row_weights = per_class[labels].astype(self.dtype)
            weights = row_weights if weights is None else weights * row_weights
        return weights

    def _split_validation(self, x, y, weights, validation_data, validation_split,
                          categorical, classify):
        if validation_data is not None and validation_split:
            raise ValueError("pass validation_data or validation_split, not both")
        if validation_split:
            split = _check_fraction("validation_split", validation_split, upper=1.0)
            labels = _labels_of(y) if classify else None
            held = np.zeros(x.shape[0], dtype=bool)
            held[split_indices(x.shape[0], split, self._rng, labels=labels)] = True
            validation = (x[held], y[held])
            x, y = x[~held], y[~held]
            if weights is not None:
                weights = weights[~held]
            return x, y, weights, validation
        if validation_data is None:
            return x, y, weights, None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (x_val, y_val)")
        x_val = _checks.check_x(validation_data[0], dtype=self.dtype,
                                n_features=self.layers[0], name="validation x")
        y_val = _checks.check_targets(validation_data[1], n_samples=x_val.shape[0],
                                      n_outputs=self.layers[-1], dtype=self.dtype,
                                      categorical=categorical, name="validation y")
        return x, y, weights, (x_val, y_val)

    def _run_epoch(self, epoch, x, y, weights, batch_size, shuffle, classify, validation,
                   cbs, progress, guard):
        """Train one epoch; returns its logs, or None when training must stop now."""
        start_time = time.perf_counter()
        n = x.shape[0]
        snapshot = self._params.copy()  # known-finite parameters to fall back on
        cbs.call("on_epoch_begin", epoch, {})
        progress.epoch_begin(epoch)
        order = self._rng.permutation(n) if shuffle else None
        total = weight_total = 0.0
        correct = 0
        for batch, start in enumerate(range(0, n, batch_size)):
            stop = min(start + batch_size, n)
            buffers = self._buffers_for(stop - start)
            rows = slice(start, stop) if order is None else order[start:stop]
            xb, yb = x[rows], y[rows]
            wb = None if weights is None else weights[rows]
            batch_loss, batch_weight, batch_correct = self._train_batch(xb, yb, buffers, wb,
                                                                        classify)
            if not math.isfinite(batch_loss):
                self._diverged(epoch, snapshot, "the loss became " + str(batch_loss))
                return None
            total += batch_loss
            weight_total += batch_weight
            correct += batch_correct
            progress.batch_end(stop, total / max(weight_total, 1e-300))
            if cbs.has_batch_hooks and cbs.batch_end(
                    batch, {"loss": batch_loss / max(batch_weight, 1e-300),
                            "size": stop - start}):
                self.stop_training = True
            if guard.interrupted or self.stop_training:
                if stop < n:
                    return None
        if not _checks.all_finite(self._params):
            self._diverged(epoch, snapshot, "the parameters stopped being finite")
            return None
        logs = {"loss": total / max(weight_total, 1e-300) + self._l2_penalty()}
        if classify:
            logs["accuracy"] = correct / (n * (y.shape[1] if self._multilabel() else 1))
        if validation is not None:
            logs["val_loss"] = self._mean_loss(*validation)
            if classify:
                logs["val_accuracy"] = self._accuracy(*validation)
        logs["learning_rate"] = _current_rate(self.optimizer)
        logs["seconds"] = time.perf_counter() - start_time
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        progress.epoch_end(epoch, logs)
        return logs

    def _diverged(self, epoch, snapshot, what):
        self._params[...] = snapshot
        self.stop_training = True
        rate = _current_rate(self.optimizer)
        hint = f" (it is {rate:g})" if rate == rate else ""
        warnings.warn(
            f"training diverged in epoch {len(self.history.get('loss', [])) + 1}: {what}. "
            f"The parameters from the start of that epoch were restored and training "
            f"stopped. Try a smaller learning rate{hint}, gradient clipping (clipnorm=1.0 "
            f"on the optimizer) or inputs scaled to about unit size.",
            DivergenceWarning, stacklevel=4)

    def _train_batch(self, xb, yb, buffers, weights=None, classify=False):
        """One forward, backward and update.

        Returns (summed loss, summed weight, correct predictions); without
        weights every row weighs 1.
        """
        io_arrays = self.__forward(xb, buffers, training=True)
        output = io_arrays[-1][2]
        pair = kernel_output_pair(self.output_activation, self.loss)  # [kernels E6]
        if pair is not None:  # one pass: scaled dL/dz, the loss sum and the correct count
            delta = buffers.delta[-1]
            loss, weight, correct = self._kernels.output_delta(
                *pair, output, yb, delta, _row_scale(xb.shape[0], weights), weights)
            d_weights, d_biases = self.__backward(io_arrays, yb, buffers, weights, delta)
            self._apply_update(self.__flatten_params(self.weights, self.biases),
                               self.__flatten_params(d_weights, d_biases))
            if classify and (pair[0] == "identity" or pair[0] == "softmax" and yb.shape[1] == 1):
                correct = self._count_correct(output, yb)  # the kernel's rule differs here
            return loss, weight, (correct if classify else 0)
        per_sample = self.loss.f(output, yb)
        if per_sample.shape != (xb.shape[0], 1):
            _checks.check_shape(_name(self.loss.f), per_sample, (xb.shape[0], 1),
                                "a loss function ")
        d_weights, d_biases = self.__backward(io_arrays, yb, buffers, weights)
        params = self.__flatten_params(self.weights, self.biases)
        gradient = self.__flatten_params(d_weights, d_biases)
        self._apply_update(params, gradient)
        if weights is None:
            loss, weight = float(per_sample.sum()), float(xb.shape[0])
        else:
            loss, weight = float(weights @ per_sample[:, 0]), float(weights.sum())
        return loss, weight, (self._count_correct(output, yb) if classify else 0)

    def _multilabel(self):
        return self.output_activation.name == "sigmoid" or self.layers[-1] == 1

    def _count_correct(self, output, targets):
        if self._multilabel():
            return int(np.count_nonzero((output > 0.5) == (targets > 0.5)))
        return int(np.count_nonzero(output.argmax(axis=1) == targets.argmax(axis=1)))

    def _mean_loss(self, x, y):
        return float(np.mean(self.loss.f(self.predict(x), y)))

    def _accuracy(self, x, y):
        correct = self._count_correct(self.predict(x), y)
        return correct / (y.shape[0] * (y.shape[1] if self._multilabel() else 1))

    def _l2_penalty(self):
        if not self.l2:
            return 0.0
        return 0.5 * self.l2 * float(sum(np.vdot(w, w) for w in self._weights))

    def objective(self, x, y, categorical=False):
        """The quantity training minimises on ``(x, y)``: mean loss plus the L2 term."""
        x, y = self._check_xy(x, y, categorical)
        return self._mean_loss(x, y) + self._l2_penalty()

    def _apply_update(self, params, gradient):
        opt = self.optimizer
        if isinstance(opt, Optimizer) and type(opt).update is Optimizer.update:
            if type(opt).step is Optimizer.step:  # [kernels E7] fused update for built-ins
                opt.step(params, gradient, kernels=self._kernels)
            else:
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
        x, y = self._check_xy(x, y, categorical)
        d_weights, d_biases = self.__backward(self.__forward(x), y)
        return [d.copy() for d in d_weights], [d.copy() for d in d_biases]

    def get_flat_params(self):
        """A copy of all parameters as one flat vector (weights, then biases)."""
        return self._params.copy()

    def set_flat_params(self, params):
        """Overwrite all parameters from a flat vector of the right length."""
        self.__restore_params(np.asarray(params, dtype=self.dtype))

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

    def save(self, path):
        """Save the whole model to one ``.npz`` file; returns the path written.

        The file holds the parameters, the architecture, the registry names
        of the activations, loss and optimizer with their settings, the
        optimizer's state, the random generator's state and the history, and is
        written atomically.  :func:`nnscratch.load_model` rebuilds the network
        without unpickling anything.  ``.npz`` is appended when missing.
        """
        from .saving import save_model
        return save_model(self, path)

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


def _row_scale(n, sample_weight):  # [kernels E8]
    """The factor turning summed per-row gradients into the batch's (weighted) mean:
    ``1/n``, or ``w_i / sum(w)`` per row (all 0 when the weights sum to 0)."""
    if sample_weight is None:
        return 1.0 / n
    total = float(sample_weight.sum())
    return (sample_weight / total if total > 0 else 0 * sample_weight)[:, None]


def _check_fraction(name, value, upper):
    """A number in [0, upper) (or [0, inf) when upper is None)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if value < 0 or (upper is not None and value >= upper):
        bound = f"0 <= {name} < {upper}" if upper is not None else f"{name} >= 0"
        raise ValueError(f"{name} must satisfy {bound}, got {value!r}")
    return float(value)


def _labels_of(y):
    """Class index of each row of a 2-D target array (one-hot, or 0/1 for one unit)."""
    if y.shape[1] == 1:
        return (y[:, 0] > 0.5).astype(np.intp)
    return y.argmax(axis=1)


def _class_weights(class_weight, labels, n_outputs):
    n_classes = max(n_outputs, 2)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict or 'balanced', got {class_weight!r}")
        counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
        present = counts > 0
        weights = np.ones(n_classes)
        weights[present] = labels.shape[0] / (present.sum() * counts[present])
        return weights
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict or 'balanced', got "
                        f"{type(class_weight).__name__}")
    weights = np.ones(n_classes)
    for label, weight in class_weight.items():
        if not isinstance(label, (int, np.integer)) or not 0 <= label < n_classes:
            raise ValueError(f"class_weight has the key {label!r}, but classes are 0.."
                             f"{n_classes - 1}")
        if not isinstance(weight, (int, float, np.floating, np.integer)) or weight < 0:
            raise ValueError(f"class_weight[{label}] must be a non-negative number, "
                             f"got {weight!r}")
        weights[label] = weight
    return weights


def _current_rate(optimizer):
    if isinstance(optimizer, Optimizer):
        return float(optimizer.current_learning_rate())
    rate = getattr(optimizer, "learning_rate", None)
    return float(rate) if isinstance(rate, (int, float, np.floating)) else float("nan")
