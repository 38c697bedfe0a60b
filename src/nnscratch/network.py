"""The multi-layer perceptron: initialise, forward, backward, update, predict, score.

The design follows the article: activations and the loss come in as
``(function, derivative)`` pairs, the optimizer as any object with
``update(old_params, gradient)``, and one training step is

    forward  ->  backward  ->  flatten  ->  optimizer.update  ->  restore

(:meth:`NeuralNetwork.train_on_batch`).  The epochs around it (shuffling,
validation, callbacks, progress, divergence, Ctrl-C) live in
:mod:`nnscratch.training`, which drives the network from outside.

Two implementation choices make it fast without changing that contract:

* All parameters live in one flat buffer (every weight matrix, then every bias
  row).  ``net.weights`` and ``net.biases`` are lists of views into it, so
  "flatten" and "restore" cost nothing when the arrays are already the
  network's own.  The gradient lives in a second buffer laid out the same way.
* For built-in output activations the backward pass skips the ``(n, m, m)``
  Jacobian: canonical pairs (softmax + categorical cross-entropy, sigmoid +
  binary cross-entropy, identity + MSE) use their exact closed-form gradient,
  other built-ins a vector-Jacobian product.  Users' own pairs take the
  article's route, ``matmul(dL, J)``.  ``tests/test_reference.py`` checks that
  every route agrees with the article's algorithm as written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from . import _checks, _probe, data, inference, saving, training
from ._atomic import atomic_write
from ._kernels import kernel_activation, kernel_output_pair, resolve_kernels
from .activations import resolve_activation
from .exceptions import ConcurrentTrainingError
from .initializers import initializers
from .losses import resolve_loss
from .optimizers import Optimizer, resolve_optimizer
from .protocols import ActivationSpec, LossSpec, OptimizerSpec


class LayerRecord(NamedTuple):
    """What the training forward pass remembers of one layer for the backward pass.

    Attributes
    ----------
    input : ndarray of shape (n, fan_in)
        What entered the layer (the previous layer's output after dropout).
    z : ndarray of shape (n, fan_out)
        The pre-activation ``input @ W + b``.
    output : ndarray of shape (n, fan_out)
        The activation ``f(z)``.
    mask : ndarray of shape (n, fan_out) or None
        The inverted-dropout mask applied to ``output`` before the next layer.
    """

    input: np.ndarray
    z: np.ndarray
    output: np.ndarray
    mask: np.ndarray | None


class BatchResult(NamedTuple):
    """What one training step reports: summed loss, summed weight, correct predictions."""

    loss: float
    weight: float
    correct: int


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
            raise TypeError(
                f"{self._label} can only be assigned one array at a time, by integer index"
            )
        target = self[index]
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(
                f"{self._label}[{index}] has shape {target.shape}, "
                f"got an array of shape {value.shape}"
            )
        target[...] = value


class _Workspace:
    """Arrays of one batch size that training steps reuse instead of allocating."""

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
        Type of the parameters and of all arithmetic; inputs are converted
        batch by batch.
    seed : int, numpy.random.Generator or None, keyword-only
        Drives initialisation, shuffling, dropout and validation splits.  The
        global ``np.random`` state is never used.
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
        ``'numba'`` fused compiled loops (``pip install -e '.[fast]' in the checkout``),
        ``'numba-parallel'`` the same split over all cores, ``'numpy'`` the
        NumPy reference; ``'auto'`` (default) takes ``NNSCRATCH_KERNELS``
        when set, else ``'numba'`` when Numba is installed, else NumPy.  All
        compute the same to rounding (``tests/test_kernels.py``).

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
    stop_training : bool
        Set it to True (from a callback, say) to end ``fit`` after the current
        batch or epoch.
    """

    def __init__(
        self,
        layers: Sequence[int],
        hidden_activation: ActivationSpec,
        output_activation: ActivationSpec,
        loss: LossSpec,
        optimizer: OptimizerSpec,
        *,
        dtype: DTypeLike = np.float64,
        seed: int | np.random.Generator | None = None,
        initializer: str = "xavier_article",
        dropout: float | Sequence[float] = 0.0,
        l2: float = 0.0,
        kernels: str = "auto",
    ) -> None:
        self.layers = _checks.check_layers(layers)
        self.hidden_activation = resolve_activation(
            hidden_activation, "hidden", "hidden_activation"
        )
        self.output_activation = resolve_activation(
            output_activation, "output", "output_activation"
        )
        self.loss = resolve_loss(loss)
        self.optimizer = resolve_optimizer(optimizer)
        self.dtype = _checks.check_dtype(dtype)
        self.seed = seed
        self.initializer = initializer
        self._rng = _checks.as_generator(seed)
        self._params, self._weights, self._biases = self._allocate("weights", "biases")
        self._grads, self._d_weights, self._d_biases = self._allocate("d_weights", "d_biases")
        self.dropout = dropout
        self._dropout_rates = _dropout_rates(dropout, len(self.layers) - 2)
        self.l2 = _checks.check_number("l2", l2, low=0)
        self.kernels = kernels
        self._kernels = resolve_kernels(kernels)
        self._workspaces = {}
        self._fit_lock = threading.Lock()
        self.history = {}
        self.metadata = {}  # free-form JSON-able notes kept in model files
        self.input_transform = None  # per-batch input transform (nnscratch.data), saved too
        self.stop_training = False
        self._initialize(initializers.get(initializer))
        _probe.probe_pieces(self)

    # ------------------------------------------------------------------ setup
    def _allocate(self, w_label, b_label):
        """One flat vector holding all weights then all biases, and views into it."""
        pairs = list(zip(self.layers[:-1], self.layers[1:]))
        total = sum(i * o for i, o in pairs) + sum(o for _, o in pairs)
        flat = np.zeros(total, dtype=self.dtype)
        return (flat, *self._views(flat, w_label, b_label))

    def _views(self, flat, w_label, b_label):
        """Weight and bias lists viewing the flat vector ``flat``."""
        pairs = list(zip(self.layers[:-1], self.layers[1:]))
        weights, biases, start = [], [], 0
        for fan_in, fan_out in pairs:
            weights.append(flat[start : start + fan_in * fan_out].reshape(fan_in, fan_out))
            start += fan_in * fan_out
        for _, fan_out in pairs:
            biases.append(flat[start : start + fan_out].reshape(1, fan_out))
            start += fan_out
        return _ParamList(weights, w_label), _ParamList(biases, b_label)

    def _initialize(self, init):
        draws_biases = getattr(init, "draws_biases", False)
        for w, b in zip(self._weights, self._biases):
            fan_in, fan_out = w.shape
            w[...] = init(fan_in, fan_out, w.shape, self._rng, self.dtype)
            if draws_biases:
                b[...] = init(fan_in, fan_out, b.shape, self._rng, self.dtype)

    @property
    def weights(self) -> list[np.ndarray]:
        return self._weights

    @weights.setter
    def weights(self, value: Sequence[ArrayLike]) -> None:
        _assign(self._weights, value, "weights")

    @property
    def biases(self) -> list[np.ndarray]:
        return self._biases

    @biases.setter
    def biases(self, value: Sequence[ArrayLike]) -> None:
        _assign(self._biases, value, "biases")

    @property
    def rng(self) -> np.random.Generator:
        """The network's one random generator (initialisation, shuffling, dropout, splits)."""
        return self._rng

    @property
    def n_params(self) -> int:
        """Total number of weights and biases."""
        return self._params.size

    # Pickling and copying.  ``weights`` and ``biases`` are views into the flat
    # buffers; pickle and deepcopy would turn them into independent arrays, and
    # then training would update one copy while predicting with the other.  So
    # the views are dropped on the way out and rebuilt over the new buffers.
    def __getstate__(self):
        state = self.__dict__.copy()
        for key in ("_weights", "_biases", "_d_weights", "_d_biases", "_fit_lock"):
            state.pop(key, None)
        state["_workspaces"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._weights, self._biases = self._views(self._params, "weights", "biases")
        self._d_weights, self._d_biases = self._views(self._grads, "d_weights", "d_biases")
        self._fit_lock = threading.Lock()

    # ---------------------------------------------- the article's private helpers
    def _flatten_params(self, weights, biases):
        """All weights, then all biases, as one 1-D vector.

        The network's own parameter and gradient lists are views into flat
        buffers, so for them this returns the buffer itself (no copy).
        """
        if weights is self._weights and biases is self._biases:
            return self._params
        if weights is self._d_weights and biases is self._d_biases:
            return self._grads
        return np.concatenate([np.ravel(w) for w in weights] + [np.ravel(b) for b in biases])

    def _restore_params(self, params):
        """Put a flat parameter vector back into the network's weights and biases.

        Returns the ``(weights, biases)`` lists, which view the network's buffer.
        """
        if params is not self._params:
            params = np.asarray(params)
            if params.shape != self._params.shape:
                raise ValueError(
                    f"the optimizer returned parameters of shape {params.shape}, but the "
                    f"network has {self._params.size} parameters (shape {self._params.shape})"
                )
            if not np.can_cast(params.dtype, self.dtype, casting="same_kind"):
                raise TypeError(
                    f"the optimizer returned parameters of dtype {params.dtype}; "
                    f"the network needs real numbers ({self.dtype})"
                )
            self._params[...] = params
        return self._weights, self._biases

    def _forward(self, x, workspace=None, training=False):
        """The training forward pass: every layer's record, for the backward pass.

        Parameters
        ----------
        x : ndarray of shape (n, layers[0])
        workspace : _Workspace, optional
            Reused arrays for ``z`` and the outputs; new arrays otherwise.
        training : bool
            Apply dropout (with fresh masks from the network's generator).

        Returns
        -------
        list of LayerRecord, one per layer
        """
        records = []
        a = x
        last = len(self._weights) - 1
        for i, (w, b) in enumerate(zip(self._weights, self._biases)):
            act = self.hidden_activation if i < last else self.output_activation
            z = np.matmul(a, w, out=None if workspace is None else workspace.z[i])
            name = kernel_activation(act, hidden=i < last)
            if workspace is not None and name is not None:  # fused: z += b and f(z) in one pass
                out = self._kernels.dense_forward(name, z, b, workspace.a[i])
            elif act.forward_into is not None:
                z += b
                out = act.forward_into(
                    z, np.empty_like(z) if workspace is None else workspace.a[i]
                )
            else:
                z += b
                out = act.f(z)
                _checks.check_shape(_name(act.f), out, z.shape, "an activation function ")
            mask = None
            if training and i < last and self._dropout_rates[i] > 0:
                mask = self._dropout_mask(out.shape, self._dropout_rates[i])
            records.append(LayerRecord(a, z, out, mask))
            a = out if mask is None else out * mask
        return records

    def _forward_fast(self, x):
        """The inference forward pass: only the output, no records, no dropout."""
        a = x
        last = len(self._weights) - 1
        for i, (w, b) in enumerate(zip(self._weights, self._biases)):
            act = self.hidden_activation if i < last else self.output_activation
            z = np.matmul(a, w)
            z += b
            a = act.forward_into(z, z) if act.forward_into is not None else act.f(z)
        return a

    def _dropout_mask(self, shape, rate):
        """Inverted dropout: keep each unit with probability 1 - rate, scaled by 1 / (1 - rate)."""
        keep = self._rng.random(shape, dtype=self.dtype) >= rate
        return keep * self.dtype.type(1.0 / (1.0 - rate))

    def _backward(self, records, y_true, workspace=None, sample_weight=None, delta=None):
        """Gradient of the batch's mean loss: ``(d_weights, d_biases)``.

        With ``sample_weight`` (one weight per row) the batch loss is the
        weighted mean ``sum(w_i L_i) / sum(w_i)``; with ``l2 > 0`` the decay
        term's gradient ``l2 * W`` is included.  The arrays returned are views
        into the network's gradient buffer and are overwritten by the next call.
        A given ``delta`` is the output layer's gradient already scaled per row
        (the fused kernels compute it together with the loss); it is used as is.
        """
        n = y_true.shape[0]
        last = len(self._weights) - 1
        if delta is None:
            top = records[last]
            out = None if workspace is None else workspace.delta[last]
            delta = self._output_delta(top.z, top.output, y_true, out)
            if out is None:
                out = delta
            # the batch mean; weighted, and a batch whose weights are all 0 counts nothing
            np.multiply(delta, _row_scale(n, sample_weight), out=out)
            delta = out
        for i in range(last, -1, -1):
            np.matmul(records[i].input.T, delta, out=self._d_weights[i])
            np.add.reduce(delta, axis=0, keepdims=True, out=self._d_biases[i])
            if self.l2:
                self._d_weights[i] += self.l2 * self._weights[i]
            if i == 0:
                break
            below = records[i - 1]
            prev = np.matmul(
                delta,
                self._weights[i].T,
                out=None if workspace is None else workspace.delta[i - 1],
            )
            if below.mask is not None:
                prev *= below.mask
            act = self.hidden_activation
            name = kernel_activation(act, hidden=True)
            if name is not None and workspace is not None:
                self._kernels.dense_backward(name, below.z, below.output, prev)
            elif act.backward_into is not None:
                act.backward_into(below.z, below.output, prev)
            else:
                slope = act.df(below.z)
                _checks.check_shape(
                    _name(act.df), slope, below.z.shape, "a hidden activation's derivative "
                )
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

    def _update(self, params, gradient):
        """Hand the flat vectors to the optimizer; returns the new parameter vector."""
        opt = self.optimizer
        if isinstance(opt, Optimizer) and type(opt).update is Optimizer.update:
            # built-in: update's arithmetic in place, fused by the kernels when they can
            if type(opt).step is Optimizer.step:
                return opt.step(params, gradient, kernels=self._kernels)
            return opt.step(params, gradient)
        # A user's optimizer gets its own copies, so keeping references to them
        # (e.g. the previous gradient) is safe even though our buffers are reused.
        return opt.update(params.copy(), gradient.copy())

    # --------------------------------------------------------------- training
    def train_on_batch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        classify: bool = False,
    ) -> BatchResult:
        """One step of the article's algorithm on a batch already checked and converted.

        forward -> loss -> backward -> flatten -> ``optimizer.update`` -> restore.

        Parameters
        ----------
        x : ndarray of shape (b, layers[0]), the network's dtype
        y : ndarray of shape (b, layers[-1]), the network's dtype
        sample_weight : ndarray of shape (b,), optional
        classify : bool
            Also count the correct predictions.

        Returns
        -------
        BatchResult
            The summed (weighted) loss, the summed weight (``b`` without
            weights) and the number of correct predictions.
        """
        workspace = self._workspace(x.shape[0])
        records = self._forward(x, workspace, training=True)
        output = records[-1].output
        pair = kernel_output_pair(self.output_activation, self.loss)
        if pair is not None:  # one pass: scaled dL/dz, the loss sum and the correct count
            delta = workspace.delta[-1]
            loss, weight, correct = self._kernels.output_delta(
                *pair, output, y, delta, _row_scale(x.shape[0], sample_weight), sample_weight
            )
            d_weights, d_biases = self._backward(records, y, workspace, sample_weight, delta)
            params = self._flatten_params(self.weights, self.biases)
            gradient = self._flatten_params(d_weights, d_biases)
            self._restore_params(self._update(params, gradient))
            if classify and (pair[0] == "identity" or pair[0] == "softmax" and y.shape[1] == 1):
                correct = self._count_correct(output, y)  # the kernel's rule differs here
            return BatchResult(float(loss), float(weight), int(correct) if classify else 0)
        per_sample = self.loss.f(output, y)
        if np.shape(per_sample) != (x.shape[0], 1):
            _checks.check_shape(
                _name(self.loss.f), per_sample, (x.shape[0], 1), "a loss function "
            )
        d_weights, d_biases = self._backward(records, y, workspace, sample_weight)
        params = self._flatten_params(self.weights, self.biases)
        gradient = self._flatten_params(d_weights, d_biases)
        new_params = self._update(params, gradient)
        self._restore_params(new_params)
        if sample_weight is None:
            loss, weight = float(per_sample.sum()), float(x.shape[0])
        else:
            loss = float(sample_weight @ per_sample[:, 0])
            weight = float(sample_weight.sum())
        correct = self._count_correct(output, y) if classify else 0
        return BatchResult(loss, weight, correct)

    def _workspace(self, n):
        workspace = self._workspaces.get(n)
        if workspace is None:
            if len(self._workspaces) >= 4:
                self._workspaces.clear()
            workspace = self._workspaces[n] = _Workspace(n, self.layers, self.dtype)
        return workspace

    def fit(
        self,
        x: ArrayLike,
        y: ArrayLike | None = None,
        batch_size: int | None = None,
        epochs: int = 1,
        categorical: bool = False,
        *,
        verbose: int = 1,
        shuffle: bool = True,
        validation_data: tuple | None = None,
        validation_split: float = 0.0,
        callbacks: list | None = None,
        sample_weight: ArrayLike | None = None,
        class_weight: dict | str | None = None,
        shuffle_buffer: int | None = None,
        steps_per_epoch: int | None = None,
        prefetch: str | int = "auto",
    ) -> list[float]:
        """Train with mini-batch gradient descent.

        Parameters
        ----------
        x : array-like, memmap, chunked store or batch generator, shape (n, layers[0])
            Any real dtype; each batch is converted to the network's dtype on
            its own, so a large uint8 memmap is never converted whole.  A
            ``dask.array.Array``, ``h5py.Dataset`` or ``zarr.Array`` is read
            chunk by chunk.  A function returning an iterator of ``(x, y)`` or
            ``(x, y, sample_weight)`` batches, or an iterable of them (a Keras
            ``PyDataset``, say), trains on those batches: then ``y`` is None and
            ``batch_size`` is not used.  See :mod:`nnscratch.data`.
        y : array-like, shape (n, layers[-1]), or (n,) labels with ``categorical=True``
            May be a memmap or a chunked store too; None for a generator.
        batch_size : int
            Samples per update; the last batch of an epoch may be smaller.
            Required for arrays; None for a generator.
        epochs : int
            Passes over the data; rows are shuffled before each.
        categorical : bool
            One-hot encode ``y`` (integer labels) first.
        verbose : {0, 1, 2}, keyword-only
            0 silent; 1 a progress bar per epoch (one line per epoch when the
            output is not a terminal); 2 one line per epoch.
        shuffle : bool, keyword-only
            Shuffle the rows each epoch (the article always does).
        validation_data : (x_val, y_val) or (x_val, y_val, w_val), keyword-only
            Held-out data scored after every epoch.  ``y_val`` may be labels or
            one-hot rows, whatever the form of ``y``.
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
        shuffle_buffer : int, keyword-only
            For a chunked store: samples held in the buffer that mixes the rows
            of its randomly ordered chunks (default: 16 MB of rows).  See
            :class:`nnscratch.data.ChunkedSource`.
        steps_per_epoch : int, keyword-only
            For a generator: batches per epoch (default: until it ends).
        prefetch : 'auto', bool or int, keyword-only
            Prepare the next batch in a background thread while one trains;
            'auto' does so where it pays (chunked stores).

        Returns
        -------
        list of float
            The average training loss of each epoch (the weighted mean when
            weights are given, plus the L2 term when ``l2 > 0``).  Per-epoch
            figures, validation included, accumulate in :attr:`history`.

        Raises
        ------
        ConcurrentTrainingError
            When this network is already training in another thread.

        Notes
        -----
        If the loss or the parameters stop being finite, training stops, the
        parameters from the start of that epoch are restored and a
        :class:`~nnscratch.DivergenceWarning` says what to try.  Ctrl-C
        finishes the current batch, stops, warns with
        :class:`~nnscratch.TrainingInterrupted` and returns normally, keeping
        the model and its history.
        """
        if not self._fit_lock.acquire(blocking=False):
            raise ConcurrentTrainingError(
                "this network is already training (fit or partial_fit running in another "
                "thread); two fits on one network would mix their updates. Train a copy "
                "(copy.deepcopy(net)) instead"
            )
        try:
            return training.fit(
                self,
                x,
                y,
                batch_size,
                epochs,
                categorical=categorical,
                verbose=verbose,
                shuffle=shuffle,
                validation_data=validation_data,
                validation_split=validation_split,
                callbacks=callbacks,
                sample_weight=sample_weight,
                class_weight=class_weight,
                shuffle_buffer=shuffle_buffer,
                steps_per_epoch=steps_per_epoch,
                prefetch=prefetch,
            )
        finally:
            self._fit_lock.release()

    def is_classifier(self) -> bool:
        """True when the loss is a cross-entropy (the outputs are class probabilities)."""
        return self.loss.name in ("categorical_crossentropy", "binary_crossentropy")

    def multilabel(self) -> bool:
        """True when each output unit is its own yes/no label (sigmoid or a single unit)."""
        return self.output_activation.name == "sigmoid" or self.layers[-1] == 1

    def _count_correct(self, output, targets):
        if self.multilabel():
            return int(np.count_nonzero((output > 0.5) == (targets > 0.5)))
        return int(np.count_nonzero(output.argmax(axis=1) == targets.argmax(axis=1)))

    def l2_penalty(self) -> float:
        """The L2 term of the objective, ``l2 / 2 * sum(W ** 2)`` (0 without L2)."""
        if not self.l2:
            return 0.0
        return 0.5 * self.l2 * float(sum(np.vdot(w, w) for w in self._weights))

    def _check_xy(self, x, y, categorical):
        """``x`` and ``y`` validated and converted to the network's dtype."""
        x = _checks.check_x(x, dtype=self.dtype, n_features=self.layers[0])
        y = _checks.check_targets(
            y,
            n_samples=x.shape[0],
            n_outputs=self.layers[-1],
            dtype=self.dtype,
            categorical=categorical,
        )
        return x, y

    def objective(self, x: ArrayLike, y: ArrayLike, categorical: bool = False) -> float:
        """The quantity training minimises on ``(x, y)``: mean loss plus the L2 term."""
        x, y = self._check_xy(x, y, categorical)
        return float(np.mean(self.loss.f(self._forward_fast(x), y))) + self.l2_penalty()

    def gradients(
        self, x: ArrayLike, y: ArrayLike, categorical: bool = False
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The gradient of the objective over ``(x, y)``, without updating anything.

        Returns
        -------
        (d_weights, d_biases) : lists of new arrays shaped like ``weights`` and ``biases``
        """
        x, y = self._check_xy(x, y, categorical)
        d_weights, d_biases = self._backward(self._forward(x), y)
        return [d.copy() for d in d_weights], [d.copy() for d in d_biases]

    def loss_and_gradient(
        self,
        x: ArrayLike,
        y: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        categorical: bool = False,
    ) -> tuple[float, np.ndarray]:
        """The training objective on ``(x, y)`` and its gradient, without updating anything.

        This is what a full-batch optimizer (``scipy.optimize.minimize`` with
        L-BFGS, say) needs; combine it with :meth:`get_flat_params` and
        :meth:`set_flat_params`.

        Parameters
        ----------
        x : array-like, shape (n, layers[0])
        y : array-like, shape (n, layers[-1]), or (n,) labels with ``categorical=True``
        sample_weight : array-like of shape (n,), optional
            The objective becomes the weighted mean ``sum(w_i L_i) / sum(w_i)``.

        Returns
        -------
        objective : float
            Mean (or weighted mean) loss plus the L2 term.
        gradient : ndarray of shape (n_params,)
            A new flat vector laid out like :meth:`get_flat_params`.
        """
        x, y = self._check_xy(x, y, categorical)
        weights = data.sample_weights(self, y, sample_weight, None)
        records = self._forward(x)
        per_sample = self.loss.f(records[-1].output, y)
        _checks.check_shape(_name(self.loss.f), per_sample, (x.shape[0], 1), "a loss function ")
        if weights is None:
            loss = float(np.mean(per_sample))
        else:
            total = float(weights.sum())
            loss = float(weights @ per_sample[:, 0]) / total if total > 0 else 0.0
        self._backward(records, y, None, weights)
        return loss + self.l2_penalty(), self._grads.copy()

    def get_flat_params(self) -> np.ndarray:
        """A copy of all parameters as one flat vector (weights, then biases)."""
        return self._params.copy()

    def set_flat_params(self, params: ArrayLike) -> None:
        """Overwrite all parameters from a flat vector of the right length."""
        self._restore_params(np.asarray(params, dtype=self.dtype))

    # -------------------------------------------------------------- inference
    def predict(
        self, x: ArrayLike, labels: bool = False, *, out: np.ndarray | None = None
    ) -> np.ndarray:
        """The output layer's values for ``x``, or the predicted classes.

        Parameters
        ----------
        x : array-like, shape (n, layers[0]) or (layers[0],) for one sample
            Memory maps, chunked stores and batch generators are streamed in
            chunks (see :mod:`nnscratch.data`).
        labels : bool
            Return class labels instead: the arg-max output, or for a sigmoid
            output layer each unit thresholded at 0.5 (a 1-D array when there
            is a single unit).  Needs a classifier: a regression network
            (an ``identity`` or ``exp`` output not trained with a
            cross-entropy) raises ``ValueError`` rather than make labels up.
        out : array, keyword-only
            Write the result here (a memory map opened for writing, say, when
            the predictions themselves are large) and return it.

        Returns
        -------
        ndarray of shape (n, layers[-1]), or (n,) labels; one sample in gives
        one row (or one label) out.  The network's ``input_transform`` (if
        any) is applied to ``x`` first.
        """
        return inference.predict(self, x, labels=labels, out=out)

    def score(self, x: ArrayLike, y: ArrayLike, accuracy: bool = False) -> float:
        """Mean loss over ``(x, y)``, or the accuracy.

        With ``accuracy=False``, ``y`` holds targets shaped like the output
        (one-hot for classification; integer labels are one-hot encoded for
        you).  With ``accuracy=True``, ``y`` holds class labels (one-hot rows are
        accepted too), checked as ``fit`` checks them, and the fraction
        predicted right is returned (a classifier only, as for
        ``predict(labels=True)``).  Memory maps, chunked stores and
        generators of ``(x, y)`` batches (then ``y`` is None) are streamed.
        """
        return inference.score(self, x, y, accuracy=accuracy)

    # ------------------------------------------------------------- parameters
    def save_params(self, filename: str | os.PathLike) -> str:
        """Save the weights and biases (one flat vector) to a ``.npy`` file.

        Like ``np.save``, ``.npy`` is appended when the name lacks it.  The
        write is atomic: an interrupted save leaves the previous file intact.
        Only parameters are stored; rebuild the network with the same code
        before :meth:`load_params`.  A ``.npy`` file carries no checksum:
        :meth:`save` writes the integrity-checked model format.
        """
        filename = os.fspath(filename)
        if not filename.endswith(".npy"):
            filename += ".npy"
        with atomic_write(filename) as handle:
            np.save(handle, self._params, allow_pickle=False)
        return filename

    def load_params(self, filename: str | os.PathLike) -> None:
        """Load what :meth:`save_params` wrote, after checking it fits this network."""
        filename = os.fspath(filename)
        if not os.path.exists(filename) and os.path.exists(filename + ".npy"):
            filename += ".npy"
        params = saving.read_params_file(filename, self.n_params, self.dtype, layers=self.layers)
        self._restore_params(params)

    def save(self, path: str | os.PathLike) -> str:
        """Save the whole model to one ``.npz`` file; returns the path written.

        The file holds the parameters, the architecture, the registry names
        of the activations, loss and optimizer with their settings, the
        optimizer's state, the random generator's state and the history, and is
        written atomically.  :func:`nnscratch.load_model` rebuilds the network
        without unpickling anything.  ``.npz`` is appended when missing.
        """
        return saving.save_model(self, path)

    def to_onnx(self, path: str | os.PathLike | None = None, **kwargs) -> object:
        """Export to ONNX: see :func:`nnscratch.export.to_onnx` (needs the onnx extra)."""
        from .export import to_onnx

        return to_onnx(self, path, **kwargs)

    def __repr__(self):
        def label(piece):
            return repr(piece.name) if piece.name else _name(piece.f)

        return (
            f"NeuralNetwork(layers={self.layers}, "
            f"hidden_activation={label(self.hidden_activation)}, "
            f"output_activation={label(self.output_activation)}, "
            f"loss={label(self.loss)}, optimizer={self.optimizer!r}, "
            f"dtype={self.dtype.name})"
        )


def load_model(path: str | os.PathLike, custom_objects: dict | None = None) -> NeuralNetwork:
    """Rebuild a network saved by :meth:`NeuralNetwork.save`.

    Parameters
    ----------
    path : str or path-like
    custom_objects : dict, optional
        Your own pieces by the names they were saved under, for names not in
        the registries: ``{"swish": (swish, d_swish), "signsgd": SignSGD}``.

    Returns
    -------
    NeuralNetwork
        Predicts exactly like the saved one, and continues training exactly as
        the saved one would have (same parameters, optimizer state, random
        generator state and history).

    Raises
    ------
    ValueError
        Naming the file: it is damaged, is not a model file, was written by a
        newer format, or names a piece that is not registered.
    FileNotFoundError, PermissionError
        As ``open()`` raises them.
    """
    return saving.load_model(path, NeuralNetwork, custom_objects)


def _assign(views, value, label):
    """Copy a whole list of arrays into ``views``, after checking every shape first."""
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


def _row_scale(n, sample_weight):
    """What each row's output gradient is multiplied by: 1 / n, or w_i / sum(w)."""
    if sample_weight is None:
        return 1.0 / n
    total = float(sample_weight.sum())
    return (sample_weight / total if total > 0 else 0 * sample_weight)[:, None]


def _dropout_rates(dropout, hidden):
    """One rate per hidden layer, each in [0, 1)."""
    rates = list(dropout) if isinstance(dropout, (list, tuple)) else [dropout] * hidden
    if len(rates) != hidden:
        raise ValueError(
            f"dropout lists {len(rates)} rates, but the network has {hidden} hidden layers"
        )
    return [_checks.check_number("dropout", r, low=0, high=1, high_open=True) for r in rates]


def _name(func):
    return getattr(func, "__name__", type(func).__name__)
