"""scikit-learn estimators around :class:`~nnscratch.NeuralNetwork`.

:class:`NNClassifier` and :class:`NNRegressor` are drop-in replacements for
``sklearn.neural_network.MLPClassifier`` and ``MLPRegressor``: the same
constructor parameters with the same meanings and defaults, the same fitted
attributes, the same stopping rule and warnings.  A few parameters of our own
come on top (``dropout``, ``class_weight``, ``dtype``, more activations and
solvers).  Needs scikit-learn and SciPy (an optional extra:
``pip install 'nnscratch[sklearn]'``).

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from nnscratch.sklearn import NNClassifier
>>> model = make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(64,)))

How scikit-learn's training maps onto the network
-------------------------------------------------
* **Objective.**  The network minimises exactly scikit-learn's objective:
  softmax with cross-entropy (multi-class), one logistic unit with binary
  cross-entropy (two classes), logistic units whose cross-entropies are summed
  (multi-label), half the squared error (regression) or half the Poisson
  deviance with an exponential output (``loss='poisson'``).
* **alpha.**  scikit-learn adds ``alpha / (2 S) * sum(W ** 2)`` to the mean loss
  of a batch whose sample weights sum to ``S`` (``S`` is the batch size without
  weights).  The network adds ``l2 / 2 * sum(W ** 2)``, so ``l2 = alpha / S``:
  set for every batch (the last, smaller batch of an epoch included) by the
  solver, and ``alpha / n_samples`` for ``solver='lbfgs'``.  With sample
  weights, ``S`` is taken as the batch size times the mean weight.
* **Initialisation.**  Weights and biases are drawn as scikit-learn draws them,
  uniformly in ``+-sqrt(6 / (fan_in + fan_out))`` (``sqrt(2 / ...)`` for the
  logistic activation), from the network's own random generator.
* **Solvers.**  'sgd' and 'adam' use :class:`~nnscratch.SGD` and
  :class:`~nnscratch.Adam` through the network's ``fit``; ``learning_rate``
  ('constant', 'invscaling', 'adaptive') acts on 'sgd' as in scikit-learn.
  Our Adam adds ``epsilon`` to the bias-corrected ``sqrt(v)``, scikit-learn to
  the uncorrected one; the two differ only while ``v`` is tiny.  'lbfgs' is
  ``scipy.optimize.minimize(method='L-BFGS-B')`` on the flat parameter vector.
* **Sparse input** is accepted and converted to a dense array (the training
  set once per ``fit``, prediction inputs in chunks).
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings

import numpy as np

try:
    import scipy.optimize
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils.class_weight import compute_sample_weight
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import (
        _check_sample_weight,
        check_is_fitted,
        column_or_1d,
        validate_data,
    )
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "nnscratch.sklearn needs scikit-learn and SciPy, an optional extra: "
        "pip install 'nnscratch[sklearn]' (or pip install scikit-learn scipy)"
    ) from err

from . import _checks
from .callbacks import Callback
from .data import is_lazy_array
from .network import NeuralNetwork
from .optimizers import SGD, Adagrad, Adam, RMSprop
from .registry import hidden_activations

# Checks of scikit-learn's suite that these estimators are expected to fail, with
# the reason.  Pass it to check_estimator(expected_failed_checks=...); the test
# suite does.  It is empty when every check passes.
EXPECTED_FAILED_CHECKS = {}


# --------------------------------------------------------------------------- #
# Parameter checks
# --------------------------------------------------------------------------- #

_SOLVERS = ("lbfgs", "sgd", "adam", "rmsprop", "adagrad")
_STOCHASTIC = ("sgd", "adam", "rmsprop", "adagrad")
_SCHEDULES = ("constant", "invscaling", "adaptive")
_ALIASES = {"logistic": "sigmoid"}  # scikit-learn's name -> ours


def _check_real(
    owner, name, value, low=None, high=None, low_open=False, high_open=False, allow_inf=False
):
    return _checks.check_number(
        name,
        value,
        low=low,
        high=high,
        low_open=low_open,
        high_open=high_open,
        owner=owner,
        allow_inf=allow_inf,
    )


def _check_int(owner, name, value, low=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_bool(owner, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def _check_choice(owner, name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {list(choices)}, got {value!r}")
    return value


class _SolverCallback(Callback):
    """Runs scikit-learn's per-batch decay and per-iteration bookkeeping inside ``fit``.

    Before each batch it sets the network's ``l2`` to ``alpha / S`` for that
    batch; after each epoch it hands the epoch's loss to the estimator, which
    applies the stopping rule and the learning-rate schedule and answers
    whether to stop.
    """

    def __init__(self, estimator, n_samples, batch_size, mean_weight, validation, incremental):
        self.estimator = estimator
        self.alpha = float(estimator.alpha)
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.n_batches = -(-n_samples // batch_size)
        self.last_size = n_samples - batch_size * (self.n_batches - 1)
        self.mean_weight = mean_weight
        self.validation = validation
        self.incremental = incremental
        self.epochs_done = 0
        self.stopped = False

    def _set_decay(self, batch):
        size = self.last_size if batch == self.n_batches - 1 else self.batch_size
        self.network.l2 = self.alpha / (size * self.mean_weight)

    def on_epoch_begin(self, epoch, logs):
        self._set_decay(0)

    def on_batch_end(self, batch, logs):
        self._set_decay((batch + 1) % self.n_batches)

    def on_epoch_end(self, epoch, logs):
        self.epochs_done += 1
        net = self.network
        squares = float(sum(np.vdot(w, w) for w in net.weights))
        # the network's epoch loss carries its current l2 term; scikit-learn's
        # carries alpha / (2 S) ||W||^2 once per batch, averaged over the samples
        data_loss = logs["loss"] - 0.5 * net.l2 * squares
        loss = data_loss + 0.5 * self.alpha * squares * self.n_batches / (
            self.n_samples * self.mean_weight
        )
        stop = self.estimator._end_iteration(
            loss, self.n_samples, self.validation, self.incremental
        )
        if stop:
            self.stopped = True
            net.stop_training = True


class _LayerViews(list):
    """``intercepts_``: 1-D views of the network's bias rows; assigning copies in."""

    def __setitem__(self, index, value):
        if not isinstance(index, numbers.Integral):
            raise TypeError("intercepts_ can only be assigned one array at a time, by index")
        target = self[index]
        value = np.asarray(value)
        if value.size != target.size:
            raise ValueError(
                f"intercepts_[{index}] has {target.size} entries, got an array "
                f"of shape {value.shape}"
            )
        target[...] = value.reshape(target.shape)


class _NNBase(BaseEstimator):
    """Fitting shared by :class:`NNClassifier` and :class:`NNRegressor`."""

    # ------------------------------------------------------------------ params
    def _check_params(self):
        owner = type(self).__name__
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, (bool, np.bool_)):
            hidden = [hidden]
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(
                f"{owner}: hidden_layer_sizes must be an int or a sequence of "
                f"ints such as (100,), got {self.hidden_layer_sizes!r}"
            )
        hidden = [_check_int(owner, "each of hidden_layer_sizes", h) for h in hidden]
        act = self.activation
        if isinstance(act, str):
            name = _ALIASES.get(act, act)
            if name not in hidden_activations:
                raise ValueError(
                    f"{owner}: activation must be one of 'identity', 'logistic', "
                    f"'tanh', 'relu' or a registered name "
                    f"{hidden_activations.names()}, got {act!r}"
                )
        solver = self.solver
        if isinstance(solver, str):
            _check_choice(owner, "solver", solver, _SOLVERS)
        elif not callable(getattr(solver, "update", None)):
            raise TypeError(
                f"{owner}: solver must be one of {list(_SOLVERS)} or an optimizer "
                f"object with update(old_params, gradient), got {solver!r}"
            )
        _check_real(owner, "alpha", self.alpha, low=0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _check_int(owner, "batch_size", self.batch_size)
        if isinstance(self.learning_rate, numbers.Real) and not isinstance(
            self.learning_rate, bool
        ):
            raise TypeError(
                f"{owner}: learning_rate names the schedule ('constant', "
                f"'invscaling', 'adaptive') as in scikit-learn; the step size is "
                f"learning_rate_init (got learning_rate={self.learning_rate!r})"
            )
        _check_choice(owner, "learning_rate", self.learning_rate, _SCHEDULES)
        _check_real(owner, "learning_rate_init", self.learning_rate_init, low=0, low_open=True)
        _check_real(owner, "power_t", self.power_t, low=0)
        _check_int(owner, "max_iter", self.max_iter)
        _check_bool(owner, "shuffle", self.shuffle)
        _check_real(owner, "tol", self.tol, low=0)
        _check_bool(owner, "warm_start", self.warm_start)
        _check_real(owner, "momentum", self.momentum, low=0, high=1, high_open=True)
        _check_bool(owner, "nesterovs_momentum", self.nesterovs_momentum)
        _check_bool(owner, "early_stopping", self.early_stopping)
        _check_real(
            owner,
            "validation_fraction",
            self.validation_fraction,
            low=0,
            high=1,
            low_open=self.early_stopping,
            high_open=True,
        )
        _check_real(owner, "beta_1", self.beta_1, low=0, high=1, high_open=True)
        _check_real(owner, "beta_2", self.beta_2, low=0, high=1, high_open=True)
        _check_real(owner, "epsilon", self.epsilon, low=0, low_open=True)
        if not (
            isinstance(self.n_iter_no_change, numbers.Real)
            and math.isinf(self.n_iter_no_change)
            and self.n_iter_no_change > 0
        ):
            _check_int(owner, "n_iter_no_change", self.n_iter_no_change)
        _check_int(owner, "max_fun", self.max_fun)
        _check_real(owner, "dropout", self.dropout, low=0, high=1, high_open=True)
        if self.dropout and self.solver == "lbfgs":
            raise ValueError(
                f"{owner}: dropout needs a stochastic solver ('sgd', 'adam', ...); "
                f"solver='lbfgs' computes full-batch gradients without it"
            )
        if self.dtype is not None:
            try:
                dt = np.dtype(self.dtype)
            except TypeError:
                dt = None
            if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
                raise ValueError(
                    f"{owner}: dtype must be None, np.float32 or np.float64, got {self.dtype!r}"
                )
        return hidden

    # ---------------------------------------------------------------- fitted views
    @property
    def coefs_(self):
        """Weight matrices, ``coefs_[i]`` of shape (layer i, layer i + 1): views into
        the network's parameters (assigning ``coefs_[i] = array`` copies in)."""
        net = self.__dict__.get("network_")
        if net is not None:
            return net.weights
        if "_coefs" in self.__dict__:
            return self._coefs
        raise AttributeError(f"{type(self).__name__} has no coefs_ before it is fitted")

    @coefs_.setter
    def coefs_(self, value):
        net = self.__dict__.get("network_")
        if net is not None:
            net.weights = value
        else:  # set by hand before training: partial_fit starts from these
            self._coefs = value if isinstance(value, list) else list(value)

    @property
    def intercepts_(self):
        """Bias vectors, ``intercepts_[i]`` of shape (layer i + 1,): views into the
        network's parameters (assigning ``intercepts_[i] = array`` copies in)."""
        net = self.__dict__.get("network_")
        if net is not None:
            return _LayerViews(b.reshape(-1) for b in net.biases)
        if "_intercepts" in self.__dict__:
            return self._intercepts
        raise AttributeError(f"{type(self).__name__} has no intercepts_ before it is fitted")

    @intercepts_.setter
    def intercepts_(self, value):
        net = self.__dict__.get("network_")
        if net is not None:
            net.biases = [np.reshape(b, (1, -1)) for b in value]
        else:
            self._intercepts = value if isinstance(value, list) else list(value)

    @property
    def _optimizer(self):
        # scikit-learn's estimators keep their solver under this name, and code
        # written for them (its own test suite included) reads
        # ``_optimizer.learning_rate``; here it is the network's optimizer.
        return self.network_.optimizer

    def _has_params(self):
        return "network_" in self.__dict__ or "_coefs" in self.__dict__

    # ---------------------------------------------------------------- building
    def _seed(self):
        state = self.random_state
        if state is None:
            return None
        if isinstance(state, numbers.Integral) and not isinstance(state, bool):
            return int(state)
        if isinstance(state, np.random.Generator):
            return np.random.default_rng(state.integers(2**63))
        if isinstance(state, np.random.RandomState):
            return int(state.randint(np.iinfo(np.int32).max))
        raise TypeError(
            f"{type(self).__name__}: random_state must be None, an int, a "
            f"numpy RandomState or Generator, got {state!r}"
        )

    def _make_optimizer(self):
        solver = self.solver
        lr = float(self.learning_rate_init)
        if not isinstance(solver, str):
            return copy.deepcopy(solver)  # never train the caller's object
        if solver == "sgd":
            return SGD(
                lr,
                momentum=float(self.momentum),
                nesterov=bool(self.nesterovs_momentum) and self.momentum > 0,
            )
        if solver == "rmsprop":
            return RMSprop(lr, epsilon=float(self.epsilon))
        if solver == "adagrad":
            return Adagrad(lr, epsilon=float(self.epsilon))
        # 'adam', and a placeholder for 'lbfgs' (which never calls the optimizer)
        return Adam(
            lr, beta_1=float(self.beta_1), beta_2=float(self.beta_2), epsilon=float(self.epsilon)
        )

    def _hidden_name(self):
        act = self.activation
        return _ALIASES.get(act, act) if isinstance(act, str) else act

    def _new_network(self, layers, dtype):
        output, loss = self._output_and_loss(layers[-1])
        return NeuralNetwork(
            layers,
            self._hidden_name(),
            output,
            loss,
            self._make_optimizer(),
            dtype=dtype,
            seed=self._seed(),
            dropout=float(self.dropout),
        )

    def _initialize(self, hidden, n_features, n_outputs, dtype):
        """Build the network and reset every fitted attribute (a first fit)."""
        net = self._new_network([n_features, *hidden, n_outputs], dtype)
        # scikit-learn's initialisation: uniform in +-sqrt(factor / (fan_in + fan_out)),
        # weights then biases layer by layer, drawn in float64 and then cast
        factor = 2.0 if self._hidden_name() == "sigmoid" else 6.0
        for w, b in zip(net.weights, net.biases):
            bound = math.sqrt(factor / (w.shape[0] + w.shape[1]))
            w[...] = net.rng.uniform(-bound, bound, w.shape)
            b[...] = net.rng.uniform(-bound, bound, b.shape)
        self.network_ = net
        self._set_shape_attributes()
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._best_params = net.get_flat_params()
        self._stochastic_ready = False
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _build_from_assigned(self, n_outputs, dtype):
        """Build the network from ``coefs_`` / ``intercepts_`` that were set by hand."""
        coefs = [np.asarray(w) for w in self.__dict__.pop("_coefs")]
        intercepts = [np.reshape(b, (1, -1)) for b in self.__dict__.pop("_intercepts", [])]
        layers = [coefs[0].shape[0]] + [w.shape[1] for w in coefs]
        if layers[-1] != n_outputs:
            raise ValueError(
                f"the coefs_ set by hand end in {layers[-1]} outputs, but the "
                f"targets need {n_outputs}"
            )
        net = self._new_network(layers, dtype)
        net.weights = coefs
        if intercepts:
            net.biases = intercepts
        self.network_ = net
        self._set_shape_attributes()
        defaults = {
            "n_iter_": 0,
            "t_": 0,
            "loss_curve_": [],
            "_no_improvement_count": 0,
            "best_loss_": np.inf,
            "validation_scores_": None,
            "best_validation_score_": None,
            "_stochastic_ready": False,
        }
        for key, value in defaults.items():
            self.__dict__.setdefault(key, value)
        self._best_params = net.get_flat_params()

    def _set_shape_attributes(self):
        net = self.network_
        self.n_layers_ = len(net.layers)
        self.n_outputs_ = net.layers[-1]
        self.out_activation_ = {"sigmoid": "logistic"}.get(
            net.output_activation.name, net.output_activation.name
        )

    # ---------------------------------------------------------------- data
    def _validate_x(self, X, y, reset):
        if is_lazy_array(X):  # a memory map or a chunked store: read batch by batch later
            return self._check_lazy(X, reset), np.asarray(y)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=[np.float64, np.float32],
            y_numeric=self._y_numeric,
            reset=reset,
        )
        if hasattr(X, "toarray"):
            X = X.toarray()
        return X, y

    def _check_lazy(self, X, reset):
        """The width checks of validate_data for input that must not be read whole."""
        if len(X.shape) != 2:
            raise ValueError(f"X must be 2-D (samples, features), got shape {tuple(X.shape)}")
        if reset:
            self.n_features_in_ = int(X.shape[1])
            self.__dict__.pop("feature_names_in_", None)
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input"
            )
        return X

    def _dtype_for(self, X):
        net = self.__dict__.get("network_")
        if net is not None:
            return net.dtype
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)

    def _sample_weights(self, sample_weight, X, y, incremental):
        """Per-sample weights (sample_weight times class_weight), or None when all equal."""
        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(sample_weight, X, dtype=np.float64)
            if (weights < 0).any():
                raise ValueError("sample_weight must not hold negative weights")
        class_weight = getattr(self, "class_weight", None)
        if class_weight is not None:
            if incremental and isinstance(class_weight, str):
                raise ValueError(
                    "class_weight='balanced' needs all the data at once; use fit, "
                    "or pass a dict of weights for partial_fit"
                )
            if getattr(y, "ndim", 1) == 2:
                raise ValueError(
                    "class_weight is for single-label targets; for multi-label "
                    "targets pass sample_weight"
                )
            per_sample = compute_sample_weight(class_weight, y)
            weights = per_sample if weights is None else weights * per_sample
        if weights is not None:
            if not weights.sum() > 0:
                raise ValueError("the sample weights sum to 0: nothing to learn from")
            if np.all(weights == weights[0]):
                return None  # every objective is a weighted mean: equal weights change nothing
        return weights

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)``; returns self.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        hidden = self._check_params()
        first = not self._has_params() or (not self.warm_start and not incremental)
        if first:
            for key in ("network_", "_coefs", "_intercepts"):
                self.__dict__.pop(key, None)
        X, y = self._validate_x(X, y, reset=first)
        targets, y = self._targets(y, incremental, classes)
        weights = self._sample_weights(sample_weight, X, y, incremental)
        dtype = self._dtype_for(X)
        if first:
            self._initialize(hidden, X.shape[1], targets.shape[1], dtype)
        elif "network_" not in self.__dict__:
            self._build_from_assigned(targets.shape[1], dtype)
        elif targets.shape[1] != self.network_.layers[-1]:
            raise ValueError(
                f"y needs {targets.shape[1]} outputs, but the network fitted "
                f"before has {self.network_.layers[-1]}"
            )
        if not is_lazy_array(X):
            X = X.astype(self.network_.dtype, copy=False)
        if self.solver == "lbfgs":
            if incremental:  # pragma: no cover - partial_fit is unavailable for lbfgs
                raise AttributeError("partial_fit needs a stochastic solver")
            self._fit_lbfgs(X, targets, weights)
        else:
            self._fit_stochastic(X, targets, y, weights, incremental)
        return self

    def _fit_lbfgs(self, X, targets, weights):
        self._stochastic_ready = False
        net = self.network_
        state = {"iterations": 0}

        def progress(intermediate_result):
            state["iterations"] += 1
            self.loss_curve_.append(float(intermediate_result.fun))
            if self.verbose:
                print(f"Iteration {state['iterations']}, loss = {intermediate_result.fun:.8f}")

        result = scipy.optimize.minimize(
            self._loss_grad_lbfgs,
            net.get_flat_params().astype(np.float64),
            args=(X, targets, weights),
            method="L-BFGS-B",
            jac=True,
            callback=progress,
            options={"maxiter": self.max_iter, "maxfun": self.max_fun, "gtol": self.tol},
        )
        if not np.all(np.isfinite(result.x)):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed (e.g. with StandardScaler)."
            )
        net.set_flat_params(result.x)
        self.n_iter_ = int(min(result.nit, self.max_iter))
        self.loss_ = float(result.fun)
        self.best_loss_ = min(self.loss_curve_, default=self.loss_)
        if result.status != 0:
            message = (
                result.message.decode()
                if isinstance(result.message, bytes)
                else str(result.message)
            )
            warnings.warn(
                f"lbfgs stopped before converging, after {self.n_iter_} iterations "
                f"({message}). Increase max_iter or max_fun, or scale the inputs "
                f"(StandardScaler).",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _loss_grad_lbfgs(self, packed, X, y, sample_weight=None, *unused):
        """The objective handed to L-BFGS and its gradient, at the parameters ``packed``.

        scikit-learn's objective: the (weighted) mean loss plus
        ``alpha / (2 S) * sum(W ** 2)`` with ``S`` the number of samples (or the
        sum of their weights).  The signature follows scikit-learn's private
        method of this name; extra arguments are ignored.

        Returns
        -------
        (float, ndarray of shape (n_params,), float64)
        """
        net = self.network_
        total = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        net.l2 = float(self.alpha) / total
        net.set_flat_params(packed)
        loss, grad = net.loss_and_gradient(X, y, sample_weight=sample_weight)
        return loss, grad.astype(np.float64, copy=False)

    def _batch_size(self, n):
        if self.batch_size == "auto":
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(
                f"batch_size={self.batch_size} is larger than the {n} training "
                f"samples; using batches of {n}",
                UserWarning,
                stacklevel=4,
            )
            return n
        return int(self.batch_size)

    def _split_validation(self, X, targets, y, weights):
        """Hold out validation_fraction of the rows (stratified by class when it applies)."""
        n = X.shape[0]
        stratify = y if self._stratify(y) else None
        seed = int(self.network_.rng.integers(np.iinfo(np.int32).max))
        train, val = train_test_split(
            np.arange(n), test_size=self.validation_fraction, random_state=seed, stratify=stratify
        )
        if val.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small: validation_fraction="
                f"{self.validation_fraction} of {n} samples holds out "
                f"{val.shape[0]}, and a score needs at least 2. Increase "
                f"validation_fraction or the size of your dataset."
            )
        train, val = np.sort(train), np.sort(val)
        w_train = None if weights is None else weights[train]
        w_val = None if weights is None else weights[val]
        return (X[train], targets[train], w_train), (X[val], y[val], w_val)

    def _fit_stochastic(self, X, targets, y, weights, incremental):
        if self.early_stopping and incremental:
            raise ValueError(
                "partial_fit does not support early_stopping=True: it has no "
                "held-out data to score; use fit, or set early_stopping=False"
            )
        net = self.network_
        if not incremental or not self.__dict__.get("_stochastic_ready", False):
            net.optimizer = self._make_optimizer()
            self._stochastic_ready = True
        validation = None
        if self.early_stopping:
            (X, targets, weights), validation = self._split_validation(X, targets, y, weights)
            if self.validation_scores_ is None:  # early_stopping switched on for a warm start
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self._best_params = net.get_flat_params()
        n = X.shape[0]
        batch_size = self._batch_size(n)
        mean_weight = 1.0 if weights is None else float(np.mean(weights))
        tracker = _SolverCallback(self, n, batch_size, mean_weight, validation, incremental)
        epochs = 1 if incremental else int(self.max_iter)
        self.n_iter_ = 0  # per call, partial_fit included, as in scikit-learn
        net.fit(
            X,
            targets,
            batch_size,
            epochs,
            verbose=0,
            shuffle=bool(self.shuffle),
            callbacks=[tracker],
            sample_weight=weights,
        )
        finished = tracker.stopped or tracker.epochs_done == epochs
        diverged = not finished and bool(getattr(net, "stop_training", False))
        if diverged:
            if not self.early_stopping:
                raise ValueError(
                    f"Solver produced non-finite parameter weights. The input data may "
                    f"contain large values and need to be preprocessed (training diverged "
                    f"in iteration {self.n_iter_ + 1}; scale the inputs, e.g. with "
                    f"StandardScaler, or lower learning_rate_init)."
                )
            # as scikit-learn: a diverged iteration scores NaN, and the best weights stay
            self.n_iter_ += 1
            self.loss_ = math.nan
            self.loss_curve_.append(math.nan)
            self.validation_scores_.append(math.nan)
        elif finished and not tracker.stopped and not incremental:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                f"reached and the optimization hasn't converged yet. Increase "
                f"max_iter, or loosen tol / n_iter_no_change.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.early_stopping:
            net.set_flat_params(self._best_params)

    def _end_iteration(self, loss, n_samples, validation, incremental):
        """scikit-learn's end-of-iteration rule; returns True to stop training."""
        net = self.network_
        self.n_iter_ += 1
        self.t_ += n_samples
        self.loss_ = float(loss)
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        if validation is not None:
            score = self._validation_score(*validation)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = net.get_flat_params()
        else:
            if self.loss_ > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_ < self.best_loss_:
                self.best_loss_ = self.loss_
        sgd = self.solver == "sgd"
        if sgd and self.learning_rate == "invscaling":
            net.optimizer.learning_rate = self.learning_rate_init / (self.t_ + 1) ** self.power_t
        if self._no_improvement_count > self.n_iter_no_change:
            what = "Validation score" if validation is not None else "Training loss"
            message = (
                f"{what} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs."
            )
            rate = net.optimizer.learning_rate
            if sgd and self.learning_rate == "adaptive" and rate > 1e-6:
                net.optimizer.learning_rate = rate / 5.0
                self._no_improvement_count = 0
                if self.verbose:
                    print(f"{message} Setting learning rate to {rate / 5.0:f}")
                return False
            if self.verbose:
                print(
                    message
                    + (
                        " Learning rate too small. Stopping."
                        if sgd and self.learning_rate == "adaptive"
                        else ""
                    )
                )
            return True
        return False

    def _validation_score(self, X, y, sample_weight):
        out = self.network_.predict(X)
        if not np.all(np.isfinite(out)):
            return math.nan
        return float(self._score_function(y, self._decode(out), sample_weight=sample_weight))

    # ---------------------------------------------------------------- prediction
    def _forward(self, X):
        check_is_fitted(self, "network_")
        if is_lazy_array(X):  # streamed through the network in chunks
            return self.network_.predict(self._check_lazy(X, reset=False))
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], reset=False, dtype=[np.float64, np.float32]
        )
        net = self.network_
        if not hasattr(X, "toarray"):
            return net.predict(X.astype(net.dtype, copy=False))
        chunk = 4096  # bounds the dense copy of a sparse input
        parts = [
            net.predict(X[i : i + chunk].toarray().astype(net.dtype, copy=False))
            for i in range(0, X.shape[0], chunk)
        ]
        return np.concatenate(parts)

    def _can_partial_fit(self):
        if self.solver == "lbfgs":
            raise AttributeError(
                f"partial_fit is only available for stochastic solvers "
                f"({', '.join(_STOCHASTIC)}); solver='lbfgs' is not one"
            )
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.non_deterministic = False
        return tags


_PARAMETERS = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Nodes of each hidden layer.
    activation : str, default='relu'
        Hidden activation: scikit-learn's 'identity', 'logistic', 'tanh',
        'relu', or any registered name of ours ('sigmoid' (= 'logistic'),
        'elu', 'leaky_relu', 'softplus', your own).
    solver : str or optimizer object, default='adam'
        'adam', 'sgd' or 'lbfgs' as in scikit-learn, or ours: 'rmsprop',
        'adagrad', or any object with ``update(old_params, gradient)`` (copied
        at every fit; ``learning_rate_init`` and the schedule then do not apply).
    alpha : float, default=1e-4
        L2 penalty, scaled as in scikit-learn (see the module notes).
    batch_size : int or 'auto', default='auto'
        Samples per update; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Step-size schedule of solver='sgd': 'invscaling' uses
        ``learning_rate_init / (t_ + 1) ** power_t`` after each iteration;
        'adaptive' divides the step by 5 whenever the stopping rule fires, and
        stops once it is below 1e-6.
    learning_rate_init : float, default=1e-3
        Step size of the stochastic solvers.
    power_t : float, default=0.5
        Exponent of 'invscaling'.
    max_iter : int, default=200
        Most iterations: epochs for the stochastic solvers, L-BFGS iterations
        for 'lbfgs'.
    shuffle : bool, default=True
        Shuffle the samples every epoch (stochastic solvers).
    random_state : int, RandomState, Generator or None, default=None
        Seeds the network's generator: initialisation, shuffling, dropout and
        the validation split.
    tol : float, default=1e-4
        Stopping tolerance: training stops when the loss (or the validation
        score with early_stopping) has not improved by ``tol`` for
        ``n_iter_no_change`` iterations; for 'lbfgs' it is the gradient
        tolerance ``gtol``.
    verbose : bool or int, default=False
        Print one line per iteration.
    warm_start : bool, default=False
        Continue from the previous fit's weights.
    momentum : float, default=0.9
        Momentum of solver='sgd', in [0, 1).
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for solver='sgd' (when momentum > 0).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified by
        class for single-label classification), stop when its score has not
        improved by ``tol`` for ``n_iter_no_change`` iterations, and keep the
        weights of the best score.  Stochastic solvers only.
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's moment decays and its guard (epsilon also guards RMSprop and
        Adagrad).
    n_iter_no_change : int or np.inf, default=10
    max_fun : int, default=15000
        Most objective evaluations of 'lbfgs'.
    dropout : float, default=0.0
        Ours: inverted-dropout rate of the hidden layers while training
        (stochastic solvers only).
    dtype : None, np.float32 or np.float64, default=None
        Ours: the network's float type; None means float32 for float32 input
        and float64 otherwise.
"""

_ATTRIBUTES = """
    Attributes
    ----------
    coefs_ : list of ndarray
        ``coefs_[i]`` has shape (layer i, layer i + 1); views writing through
        to ``network_.weights``.
    intercepts_ : list of ndarray
        ``intercepts_[i]`` has shape (layer i + 1,); views of ``network_.biases``.
    loss_ : float
        The loss of the last iteration (mean loss plus the L2 term).
    best_loss_ : float or None
        The lowest loss (None with early_stopping).
    loss_curve_ : list of float
        The loss of every iteration.
    validation_scores_ : list of float or None
        With early_stopping, the score (higher is better) of every iteration
        on the held-out data.
    best_validation_score_ : float or None
    n_iter_ : int
        Iterations of the last call to ``fit`` or ``partial_fit`` (as in
        scikit-learn; ``loss_curve_`` and ``t_`` accumulate).
    t_ : int
        Training samples seen by the stochastic solver.
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when fitted on a DataFrame with string column names.
    network_ : NeuralNetwork
        The network itself.
"""


class NNClassifier(ClassifierMixin, _NNBase):
    """A multi-layer perceptron classifier: a drop-in for scikit-learn's MLPClassifier.

    Multi-class targets get a softmax output with cross-entropy, two classes a
    single logistic unit, a 2-D 0/1 indicator matrix independent logistic
    units (multi-label).
    {parameters}    class_weight : dict, 'balanced' or None, default=None
        Ours: weight of each class's samples (keys are class labels), or
        'balanced' for weights inversely proportional to class frequencies.
        Multiplies sample_weight.
    {attributes}    classes_ : ndarray
        The class labels, sorted (multi-label: the column indices).
    """

    _y_numeric = False

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        class_weight=None,
        dtype=None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.class_weight = class_weight
        self.dtype = dtype

    # ---------------------------------------------------------------- targets
    def _output_and_loss(self, n_outputs):
        if self._label_kind == "multiclass":
            return "softmax", "categorical_crossentropy"
        if n_outputs == 1:
            return "sigmoid", "binary_crossentropy"  # one unit: the same as summed
        return "sigmoid", "summed_binary_crossentropy"

    def _targets(self, y, incremental, classes):
        """Targets for the network, and ``y`` as labels; sets or checks ``classes_``."""
        multilabel = getattr(y, "ndim", 1) == 2 and y.shape[1] > 1
        if multilabel:
            if type_of_target(y) != "multilabel-indicator":
                raise ValueError(
                    f"a 2-D y must be a multi-label indicator matrix of 0 and 1, "
                    f"got {type_of_target(y)} targets"
                )
        else:
            y = column_or_1d(y, warn=True)
            check_classification_targets(y)
        define = not hasattr(self, "classes_") or (not self.warm_start and not incremental)
        if define:
            if multilabel:
                self.classes_ = np.arange(y.shape[1])
            elif classes is not None:
                self.classes_ = np.unique(np.asarray(classes))
            else:
                self.classes_ = np.unique(y)
            self._label_kind = (
                "multilabel"
                if multilabel
                else "multiclass"
                if len(self.classes_) > 2
                else "binary"
            )
        elif multilabel != (self._label_kind == "multilabel"):
            raise ValueError(
                "y switches between multi-label and single-label targets; "
                "fit from scratch (warm_start=False) to change the task"
            )
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y has {y.shape[1]} labels, but the model was fitted with "
                    f"{len(self.classes_)}"
                )
            return np.asarray(y, dtype=np.float64), y
        present = np.unique(y)
        if not define and self.warm_start and not incremental:
            if set(present.tolist()) != set(self.classes_.tolist()):
                raise ValueError(
                    f"warm_start can only be used where `y` has the same classes "
                    f"as in the previous call to fit. Previously got "
                    f"{self.classes_}, `y` has {present}"
                )
        unseen = np.setdiff1d(present, self.classes_)
        if unseen.size:
            raise ValueError(
                f"y holds labels {unseen.tolist()} that are not among the "
                f"classes {self.classes_.tolist()}"
            )
        index = np.searchsorted(self.classes_, y)
        if len(self.classes_) <= 2:  # one logistic unit: 1 for the second class
            return (index == 1).astype(np.float64).reshape(-1, 1), y
        onehot = np.zeros((y.shape[0], len(self.classes_)))
        onehot[np.arange(y.shape[0]), index] = 1.0
        return onehot, y

    def _stratify(self, y):
        return self._label_kind != "multilabel"

    _score_function = staticmethod(accuracy_score)

    def _decode(self, out):
        """Labels from the network's outputs."""
        if self._label_kind == "multilabel":
            return (out > 0.5).astype(np.int64)
        if len(self.classes_) == 1:
            return np.full(out.shape[0], self.classes_[0])
        if out.shape[1] == 1:
            return self.classes_[(out[:, 0] > 0.5).astype(np.intp)]
        return self.classes_[np.argmax(out, axis=1)]

    # ---------------------------------------------------------------- public API
    @available_if(_NNBase._can_partial_fit)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One iteration (epoch) over ``(X, y)``; returns self.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like, optional
            Every class label of the whole data set; needed on the first call
            (not for multi-label targets).  Sorted and de-duplicated, as
            scikit-learn does, so ``classes_`` is ``np.unique(classes)``.
        sample_weight : array-like of shape (n_samples,), optional
        """
        first_classes = not hasattr(self, "classes_")
        multilabel = getattr(y, "ndim", 1) == 2 and np.shape(y)[1] > 1
        if first_classes and classes is None and not multilabel:
            raise ValueError(
                "classes must be passed on the first call to partial_fit "
                "(all the labels of the data set, e.g. np.unique(y_all))"
            )
        if not first_classes and classes is not None and not multilabel:
            unique = np.unique(np.asarray(classes))
            if not np.array_equal(unique, self.classes_):
                raise ValueError(
                    f"classes={list(unique)} differ from the classes of the "
                    f"first call to partial_fit, {self.classes_.tolist()}"
                )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        out = self._forward(X)
        if self._label_kind == "multilabel":
            return out
        if len(self.classes_) == 1:
            return np.ones((out.shape[0], 1), dtype=out.dtype)
        if out.shape[1] == 1:
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each sample (multi-label: every label above 0.5)."""
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class NNRegressor(RegressorMixin, _NNBase):
    """A multi-layer perceptron regressor: a drop-in for scikit-learn's MLPRegressor.

    A linear output layer trained on half the squared error (or an
    exponential output on half the Poisson deviance); ``y`` may have several
    columns.
    {parameters}    loss : {{'squared_error', 'poisson'}}, default='squared_error'
        As in scikit-learn: half the squared error, or half the Poisson
        deviance with an exponential output (targets must be >= 0).
    {attributes}"""

    _y_numeric = True

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        dtype=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype

    def _check_params(self):
        _check_choice(type(self).__name__, "loss", self.loss, ("squared_error", "poisson"))
        return super()._check_params()

    def _output_and_loss(self, n_outputs):
        if self.loss == "poisson":
            return "exp", "half_poisson_deviance"
        return "identity", "half_squared_error"

    def _targets(self, y, incremental, classes):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError(
                "loss='poisson' needs targets >= 0 (counts or rates), but y "
                f"holds negative values (the smallest is {y.min()!r})"
            )
        targets = y.reshape(-1, 1) if y.ndim == 1 else y
        return targets.astype(np.float64, copy=False), y

    def _stratify(self, y):
        return False

    _score_function = staticmethod(r2_score)

    def _decode(self, out):
        return out[:, 0] if out.shape[1] == 1 else out

    @available_if(_NNBase._can_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """One iteration (epoch) over ``(X, y)``; the network is built on the first call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted values, shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


NNClassifier.__doc__ = NNClassifier.__doc__.format(parameters=_PARAMETERS, attributes=_ATTRIBUTES)
NNRegressor.__doc__ = NNRegressor.__doc__.format(parameters=_PARAMETERS, attributes=_ATTRIBUTES)
