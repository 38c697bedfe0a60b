"""scikit-learn estimators around :class:`~nnscratch.NeuralNetwork`.

Needs scikit-learn (an optional extra: ``pip install 'nnscratch[sklearn]'``).

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from nnscratch.sklearn import NNClassifier
>>> model = make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(64,)))
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
except ImportError as err:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("nnscratch.sklearn needs scikit-learn, an optional extra: "
                      "pip install 'nnscratch[sklearn]' (or pip install scikit-learn)") from err

from .callbacks import EarlyStopping
from .network import NeuralNetwork
from .registry import optimizers

# Checks of scikit-learn's suite that these estimators are expected to fail, with
# the reason.  Pass it to check_estimator(expected_failed_checks=...); the test
# suite does.  It is empty when every check passes.
EXPECTED_FAILED_CHECKS = {}


class _NNBase(BaseEstimator):
    """Parameters and fitting shared by :class:`NNClassifier` and :class:`NNRegressor`.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int
        Nodes of each hidden layer, e.g. ``(128, 64)``.
    activation : str
        Hidden activation by registry name: 'relu', 'tanh', 'sigmoid', ...
    optimizer : str or optimizer object
        A registry name ('adam', 'sgd', 'rmsprop', 'adagrad') built with
        ``learning_rate``, or an optimizer object (copied at every fit).
    learning_rate : float
        Used when ``optimizer`` is a name.
    batch_size : int or 'auto'
        'auto' means ``min(200, n_samples)``.
    epochs : int
        Most passes over the data.
    alpha : float
        L2 weight decay.
    dropout : float
        Dropout rate of the hidden layers while training.
    early_stopping : bool
        Hold out ``validation_fraction`` of the data (stratified for
        classifiers) and stop when its loss has not improved by ``tol`` for
        ``patience`` epochs, keeping the best epoch's weights.  When False,
        training stops when the training loss has not improved by ``tol`` for
        ``patience`` epochs.
    validation_fraction : float
    patience : int
    tol : float
    random_state : int, RandomState instance or None
        Seeds initialisation, shuffling, dropout and the validation split.
    verbose : int
        0 silent, 1 progress, 2 one line per epoch.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", optimizer="adam",
                 learning_rate=1e-3, batch_size="auto", epochs=200, alpha=0.0, dropout=0.0,
                 early_stopping=False, validation_fraction=0.1, patience=10, tol=1e-4,
                 random_state=None, verbose=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.alpha = alpha
        self.dropout = dropout
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose

    # -- pieces the subclasses choose ------------------------------------------------
    def _output(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- building -----------------------------------------------------------------
    def _make_optimizer(self):
        if isinstance(self.optimizer, str):
            return optimizers.get(self.optimizer)(learning_rate=self.learning_rate)
        if not callable(getattr(self.optimizer, "update", None)):
            raise TypeError(f"optimizer must be a name such as 'adam' or an object with "
                            f"update(old_params, gradient), got {self.optimizer!r}")
        return copy.deepcopy(self.optimizer)  # never train the caller's object

    def _seed(self):
        if self.random_state is None:
            return None
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _build(self, n_features, n_outputs, dtype):
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, numbers.Integral) else list(hidden)
        output, loss = self._output()
        self.network_ = NeuralNetwork([n_features, *hidden, n_outputs], self.activation,
                                      output, loss, self._make_optimizer(), dtype=dtype,
                                      seed=self._seed(), dropout=self.dropout, l2=self.alpha)
        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.n_iter_ = 0

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size,
                                                               numbers.Integral) \
                or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer or 'auto', got "
                             f"{self.batch_size!r}")
        return int(self.batch_size)

    def _train(self, x, targets, sample_weight, epochs, stop):
        """Run the network's fit and record the curves."""
        callbacks = []
        kwargs = {}
        if stop and self.early_stopping:
            callbacks.append(EarlyStopping("val_loss", patience=self.patience,
                                           min_delta=self.tol))
            kwargs["validation_split"] = self.validation_fraction
        elif stop:
            callbacks.append(EarlyStopping("loss", patience=self.patience, min_delta=self.tol,
                                           restore_best_weights=False))
        losses = self.network_.fit(x, targets, self._batch_size(x.shape[0]), epochs,
                                   verbose=self.verbose, callbacks=callbacks,
                                   sample_weight=sample_weight, **kwargs)
        self.loss_curve_.extend(losses)
        if self.validation_scores_ is not None and "val_loss" in self.network_.history:
            self.validation_scores_ = list(self.network_.history["val_loss"])
        self.n_iter_ += len(losses)
        return self

    def _dtype_of(self, x):
        return np.float32 if x.dtype == np.float32 else np.float64

    def _check_sample_weight(self, sample_weight, x):
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, x, dtype=x.dtype)

    def _forward(self, x):
        check_is_fitted(self, "network_")
        x = validate_data(self, x, reset=False, dtype=[np.float64, np.float32])
        return self.network_.predict(x.astype(self.network_.dtype, copy=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.non_deterministic = False
        return tags


class NNClassifier(ClassifierMixin, _NNBase):
    """A multi-layer perceptron classifier built on nnscratch.

    Multi-class targets get a softmax output with categorical cross-entropy
    (binary ones too, as two classes); a 2-D 0/1 indicator matrix is treated
    as multi-label, with independent sigmoid outputs and binary cross-entropy.
    Parameters are those of :class:`_NNBase`.

    Attributes
    ----------
    classes_ : ndarray
        The class labels (for multi-label: the column indices).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when fitted on a DataFrame with string column names.
    loss_curve_ : list of float
        Training loss per epoch.
    validation_scores_ : list of float or None
        Validation loss per epoch with ``early_stopping=True``.
    n_iter_ : int
        Epochs trained.
    network_ : NeuralNetwork
    """

    def _output(self):
        if self._multilabel:
            return "sigmoid", "binary_crossentropy"
        return "softmax", "categorical_crossentropy"

    def _encode(self, y, classes=None):
        """Targets as a 0/1 matrix, setting ``classes_`` on the first call."""
        if getattr(y, "ndim", 1) == 2 and y.shape[1] > 1:
            if type_of_target(y) != "multilabel-indicator":
                raise ValueError("a 2-D y must be a multi-label indicator matrix of 0 and 1; "
                                 f"got {type_of_target(y)} targets")
            if classes is not None and not hasattr(self, "classes_"):
                self.classes_ = np.asarray(classes)
            self._multilabel = True
            if not hasattr(self, "classes_"):
                self.classes_ = np.arange(y.shape[1])
            return y.astype(np.float64)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self._multilabel = False
        if not hasattr(self, "classes_"):
            self.classes_ = np.unique(y) if classes is None else np.asarray(classes)
            if self.classes_.shape[0] < 2:
                raise ValueError(f"NNClassifier needs at least 2 classes to learn from, but "
                                 f"y holds one class only: {self.classes_[0]!r}")
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"y holds labels {unseen.tolist()} that are not among the "
                             f"classes {self.classes_.tolist()}")
        binarizer = LabelBinarizer().fit(self.classes_)
        onehot = binarizer.transform(y)
        if onehot.shape[1] == 1:  # two classes: LabelBinarizer gives one column
            onehot = np.hstack([1 - onehot, onehot])
        return onehot.astype(np.float64)

    def fit(self, X, y, sample_weight=None):
        """Train from scratch; returns self."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True)
        for attr in ("classes_", "network_"):
            self.__dict__.pop(attr, None)
        targets = self._encode(y)
        self._build(X.shape[1], targets.shape[1], self._dtype_of(X))
        return self._train(X, targets, self._check_sample_weight(sample_weight, X),
                           self.epochs, stop=True)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on this data; the first call needs ``classes`` (all labels)."""
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             reset=first)
        if first:
            if classes is None and not (getattr(y, "ndim", 1) == 2 and y.shape[1] > 1):
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.__dict__.pop("classes_", None)
            targets = self._encode(y, classes)
            self._build(X.shape[1], targets.shape[1], self._dtype_of(X))
        else:
            if classes is not None and not np.array_equal(np.asarray(classes), self.classes_):
                raise ValueError(f"classes {list(classes)} differ from the classes of the "
                                 f"first call, {self.classes_.tolist()}")
            targets = self._encode(y)
        return self._train(X, targets, self._check_sample_weight(sample_weight, X), 1,
                           stop=False)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes)."""
        return self._forward(X)

    def predict_log_proba(self, X):
        return np.log(np.clip(self.predict_proba(X), np.finfo(np.float64).tiny, None))

    def predict(self, X):
        """The most probable class (multi-label: every label above 0.5)."""
        proba = self.predict_proba(X)
        if self._multilabel:
            return (proba > 0.5).astype(np.int64)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class NNRegressor(RegressorMixin, _NNBase):
    """A multi-layer perceptron regressor built on nnscratch.

    A linear (identity) output layer trained with mean squared error; ``y``
    may have several columns (multi-output regression).  Parameters and
    attributes are those of :class:`NNClassifier`, without ``classes_``.
    """

    def _output(self):
        return "identity", "mse"

    def _targets(self, y):
        self._y_1d = y.ndim == 1
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def fit(self, X, y, sample_weight=None):
        """Train from scratch; returns self."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True)
        targets = self._targets(y)
        self._build(X.shape[1], targets.shape[1], self._dtype_of(X))
        return self._train(X, targets, self._check_sample_weight(sample_weight, X),
                           self.epochs, stop=True)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on this data (the network is built on the first call)."""
        first = not hasattr(self, "network_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True,
                             y_numeric=True, reset=first)
        targets = self._targets(y)
        if first:
            self._build(X.shape[1], targets.shape[1], self._dtype_of(X))
        elif targets.shape[1] != self.network_.layers[-1]:
            raise ValueError(f"y has {targets.shape[1]} outputs, but the first call to "
                             f"partial_fit had {self.network_.layers[-1]}")
        return self._train(X, targets, self._check_sample_weight(sample_weight, X), 1,
                           stop=False)

    def predict(self, X):
        """Predicted values, shape (n_samples,) or (n_samples, n_outputs)."""
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
