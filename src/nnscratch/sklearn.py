"""scikit-learn estimators around :class:`~nnscratch.NeuralNetwork`.

:class:`NNClassifier` and :class:`NNRegressor` are drop-in replacements for
``sklearn.neural_network.MLPClassifier`` and ``MLPRegressor``: the same
constructor parameters with the same meanings and defaults, the same fitted
attributes, the same stopping rule and warnings, and, on float64 data with
scikit-learn's own parameters, the same model: for the same ``random_state``
they draw the same initial weights, split off the same early-stopping rows,
shuffle and cut the same batches and take the same steps, so predictions,
``loss_curve_``, ``n_iter_``, ``t_``, ``best_loss_`` and
``validation_scores_`` agree with scikit-learn's to rounding.  A few
parameters of our own come on top (``dropout``, ``class_weight``, ``dtype``,
``kernels``, more activations and solvers).  Needs scikit-learn and SciPy (an
optional extra: ``pip install -e ".[sklearn]"`` from the checkout).

>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> from nnscratch.sklearn import NNClassifier
>>> model = make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(64,)))

How scikit-learn's training maps onto the network
-------------------------------------------------
* **Objective.**  The network minimises scikit-learn's objective: softmax with
  cross-entropy (multi-class), one logistic unit with binary cross-entropy
  (two classes), logistic units whose cross-entropies are summed
  (multi-label), half the squared error (regression) or half the Poisson
  deviance with an exponential output (``loss='poisson'``).
* **alpha.**  scikit-learn adds ``alpha / (2 S) * sum(W ** 2)`` to the mean
  loss of a batch whose sample weights sum to ``S`` (``S`` is the batch size
  without weights).  The network adds ``l2 / 2 * sum(W ** 2)``, so the
  estimator sets ``l2 = alpha / S`` before every batch (the last, smaller one
  included) and ``alpha / n_samples`` for ``solver='lbfgs'``.  The reported
  loss of an iteration is, as in scikit-learn, the size-weighted mean of the
  batch losses, each with its L2 term at the weights the batch started from.
* **Multi-output regression.**  scikit-learn reports half the squared error
  averaged over the outputs but steps along the gradient of its sum over the
  outputs; the estimators do the same (the network's gradient is scaled by the
  number of outputs before the step).
* **Randomness.**  A ``numpy.random.RandomState`` made from ``random_state``
  at every ``fit`` / ``partial_fit`` call, as scikit-learn makes it, draws
  the initial weights (uniform in ``+-sqrt(6 / (fan_in + fan_out))``,
  ``sqrt(2 / ...)`` for the logistic activation; each layer's weights then
  its intercepts), then the early-stopping split (stratified for two-class
  problems only, as in scikit-learn), then each epoch's permutation.  The
  network's own ``Generator`` draws only dropout masks.
* **Solvers.**  'sgd' and 'adam' follow scikit-learn's update formulas
  (:mod:`nnscratch._sklearn_solvers`); the batches reach the network through
  ``NeuralNetwork.fit``, whose epoch loop is the library's one loop.  Between
  fits the network holds a built-in :class:`~nnscratch.SGD` /
  :class:`~nnscratch.Adam` with the same settings, so ``network_.save()``
  writes an ordinary model file.  'lbfgs' is
  ``scipy.optimize.minimize(method='L-BFGS-B')`` on the flat parameter vector
  with scikit-learn's options.
* **Sparse input** is accepted and converted to a dense array (the training
  set once per ``fit``, prediction inputs in chunks).

When the model differs from scikit-learn's
------------------------------------------
With our own additions the model is ours, not scikit-learn's: ``dropout``,
``class_weight``, the solvers 'rmsprop' and 'adagrad' or an optimizer
object, activations scikit-learn lacks, ``dtype`` other than the input's,
and input read from chunked stores (Dask, HDF5, Zarr arrays are read chunk
by chunk in the network's own order).  float32 input trains in float32, as
in scikit-learn, so the two agree only to float32 rounding.  The ``kernels``
setting changes only rounding.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from typing import Any

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
        'pip install -e ".[sklearn]" (run from the checkout), or pip install scikit-learn scipy'
    ) from err

from . import _sklearn_onnx
from . import data as data_module
from ._sklearn_params import (
    Boolean,
    Instance,
    InvalidParameterError,
    NoneValue,
    OneOf,
    Satisfies,
    check_parameters,
)
from ._sklearn_params import Interval as _Interval
from ._sklearn_solvers import EpochFeeder, SklearnAdam, SklearnSGD, StreamedBooks
from .network import NeuralNetwork
from .optimizers import SGD, Adagrad, Adam, RMSprop
from .registry import hidden_activations

__all__ = [
    "NNClassifier",
    "NNRegressor",
    "InvalidParameterError",
    "EXPECTED_FAILED_CHECKS",
    "pipeline_to_onnx",
    "register_skl2onnx",
]

# Checks of scikit-learn's suite that these estimators are expected to fail, with
# the reason.  Pass it to check_estimator(expected_failed_checks=...); the test
# suite does.  It is empty when every check passes.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

_SKLEARN_SOLVERS = ("lbfgs", "sgd", "adam")
_SOLVERS = (*_SKLEARN_SOLVERS, "rmsprop", "adagrad")
_STOCHASTIC = ("sgd", "adam", "rmsprop", "adagrad")
_SCHEDULES = ("constant", "invscaling", "adaptive")
_SKLEARN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
_ALIASES = {"logistic": "sigmoid"}  # scikit-learn's name -> ours
_KERNELS = ("auto", "numpy", "numba", "numba-parallel")
_SCORE_CHUNK_BYTES = 4 * 2**20  # held-out rows of a memory map are scored in chunks this size


# --------------------------------------------------------------------------- #
# The parameter table
# --------------------------------------------------------------------------- #


def _hidden_sizes_ok(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return value >= 1
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return False
    return all(
        isinstance(h, numbers.Integral) and not isinstance(h, (bool, np.bool_)) and h >= 1
        for h in value
    )


def _activation_names():
    return list(_SKLEARN_ACTIVATIONS) + [
        n for n in hidden_activations.names() if n not in _SKLEARN_ACTIVATIONS
    ]


def _is_optimizer(value):
    return not isinstance(value, str) and callable(getattr(value, "update", None))


def _is_float_dtype(value):
    try:
        return np.dtype(value) in (np.dtype(np.float32), np.dtype(np.float64))
    except TypeError:
        return False


def _learning_rate_advice(value):
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (
            "learning_rate names the schedule, as in scikit-learn; the step size is "
            f"learning_rate_init (e.g. learning_rate_init={value!r})"
        )
    return ""


_REAL_GE_0 = _Interval(0, None, "left")
_REAL_GT_0 = _Interval(0, None, "neither")
_INT_GE_1 = _Interval(1, None, "left", integer=True)
_UNIT_LEFT = _Interval(0, 1, "left")

# parameter -> its admissible forms; scikit-learn's ranges, plus our own parameters
_PARAMETER_TABLE: dict[str, list] = {
    "hidden_layer_sizes": [
        Satisfies(_hidden_sizes_ok, "an integer >= 1 or a sequence of integers >= 1, e.g. (100,)")
    ],
    "activation": [OneOf(_activation_names)],
    "solver": [
        OneOf(_SOLVERS),
        Satisfies(_is_optimizer, "an optimizer object with update(old_params, gradient)"),
    ],
    "alpha": [_REAL_GE_0],
    "batch_size": [OneOf(["auto"]), _INT_GE_1],
    "learning_rate": [OneOf(_SCHEDULES)],
    "learning_rate_init": [_REAL_GT_0],
    "power_t": [_REAL_GE_0],
    "max_iter": [_INT_GE_1],
    "shuffle": [Boolean()],
    "random_state": [
        NoneValue(),
        _Interval(0, 2**32 - 1, "both", integer=True),
        Instance(np.random.RandomState, np.random.Generator, description="a RandomState"),
    ],
    "tol": [_REAL_GE_0],
    "verbose": [Boolean(), _Interval(0, None, "left", integer=True)],
    "warm_start": [Boolean()],
    "momentum": [_Interval(0, 1, "both")],
    "nesterovs_momentum": [Boolean()],
    "early_stopping": [Boolean()],
    "validation_fraction": [_UNIT_LEFT],
    "beta_1": [_UNIT_LEFT],
    "beta_2": [_UNIT_LEFT],
    "epsilon": [_REAL_GT_0],
    "n_iter_no_change": [_INT_GE_1, OneOf([math.inf])],
    "max_fun": [_INT_GE_1],
    # ours
    "dropout": [_UNIT_LEFT],
    "class_weight": [
        NoneValue(),
        OneOf(["balanced"]),
        Instance(dict, description="a dict {class label: weight}"),
    ],
    "dtype": [NoneValue(), Satisfies(_is_float_dtype, "np.float32 or np.float64")],
    "kernels": [
        NoneValue(),
        OneOf(_KERNELS),
        Satisfies(lambda k: not isinstance(k, str), "a Kernels object"),
    ],
    # NNRegressor
    "loss": [OneOf(["squared_error", "poisson"])],
}
_ADVICE = {"learning_rate": _learning_rate_advice}


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


class _Held:
    """Early-stopping data: rows of ``x`` (or all of an in-memory ``x``), labels, weights."""

    def __init__(self, x, rows, y, sample_weight):
        self.x, self.rows, self.y, self.sample_weight = x, rows, y, sample_weight


class _NNBase(BaseEstimator):
    """Fitting shared by :class:`NNClassifier` and :class:`NNRegressor`."""

    _parameter_table = _PARAMETER_TABLE

    # ------------------------------------------------------------------ params
    def _check_params(self):
        """Check every constructor argument against the table; returns the hidden sizes."""
        owner = type(self).__name__
        check_parameters(owner, self.get_params(deep=False), self._parameter_table, _ADVICE)
        if self.dropout and self.solver == "lbfgs":
            raise InvalidParameterError(
                f"{owner}: dropout needs a stochastic solver ('sgd', 'adam', ...); "
                f"solver='lbfgs' computes full-batch gradients without it"
            )
        hidden = self.hidden_layer_sizes
        if isinstance(hidden, numbers.Integral):
            hidden = [hidden]
        return [int(h) for h in hidden]

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

    def _has_params(self):
        return "network_" in self.__dict__ or "_coefs" in self.__dict__

    # ---------------------------------------------------------------- randomness
    def _random_state_for_call(self):
        """The RandomState of one fit / partial_fit call, made as scikit-learn makes it.

        An int seeds a fresh RandomState at every call; a RandomState is used
        (and advanced) itself; None gets a fresh, unpredictable one (never
        NumPy's global state); a Generator seeds a RandomState from one draw.
        """
        state = self.random_state
        if isinstance(state, np.random.RandomState):
            return state
        if isinstance(state, np.random.Generator):
            return np.random.RandomState(int(state.integers(2**32)))
        if state is None:
            return np.random.RandomState()
        return np.random.RandomState(int(state))

    def _network_seed(self, random_state):
        """The seed of the network's own generator (dropout masks only)."""
        state = self.random_state
        if state is None:
            return None
        if isinstance(state, np.random.Generator):
            return np.random.default_rng(state.integers(2**63))
        if isinstance(state, np.random.RandomState):
            # from the state's key, without drawing: scikit-learn's draws stay untouched
            return np.random.default_rng(random_state.get_state()[1])
        return int(state)

    # ---------------------------------------------------------------- building
    def _hidden_name(self):
        act = self.activation
        return _ALIASES.get(act, act) if isinstance(act, str) else act

    def _output_scale(self, n_outputs):
        """How much scikit-learn's gradient exceeds that of the loss it reports (see the notes)."""
        return 1.0

    def _exact_solver(self):
        """Whether the solver is one of scikit-learn's stochastic ones, stepped as it steps."""
        return isinstance(self.solver, str) and self.solver in ("sgd", "adam")

    def _make_optimizer(self, n_outputs):
        """The optimizer that trains: scikit-learn's formulas for 'sgd' / 'adam', else ours."""
        solver = self.solver
        lr = float(self.learning_rate_init)
        scale = self._output_scale(n_outputs)
        if not isinstance(solver, str):
            return copy.deepcopy(solver)  # never train the caller's object
        if solver == "sgd":
            return SklearnSGD(
                lr,
                self.learning_rate,
                float(self.momentum),
                bool(self.nesterovs_momentum),
                float(self.power_t),
                gradient_scale=scale,
            )
        if solver == "adam":
            return SklearnAdam(
                lr,
                float(self.beta_1),
                float(self.beta_2),
                float(self.epsilon),
                gradient_scale=scale,
            )
        if solver == "rmsprop":
            return RMSprop(lr, epsilon=float(self.epsilon))
        if solver == "adagrad":
            return Adagrad(lr, epsilon=float(self.epsilon))
        return self._resting_optimizer()  # 'lbfgs' never calls it

    def _resting_optimizer(self):
        """The built-in optimizer the network holds between fits (model files name it)."""
        lr = float(getattr(self.__dict__.get("_optimizer"), "learning_rate", None) or 0.0)
        lr = lr if lr > 0 else float(self.learning_rate_init)
        if self.solver == "sgd":
            momentum = float(self.momentum)
            return SGD(
                lr,
                momentum=momentum,
                nesterov=bool(self.nesterovs_momentum) and 0 < momentum < 1,
            )
        return Adam(
            lr, beta_1=float(self.beta_1), beta_2=float(self.beta_2), epsilon=float(self.epsilon)
        )

    def _new_network(self, layers, dtype, random_state):
        output, loss = self._output_and_loss(layers[-1])
        return NeuralNetwork(
            layers,
            self._hidden_name(),
            output,
            loss,
            self._resting_optimizer(),
            dtype=dtype,
            seed=self._network_seed(random_state),
            dropout=float(self.dropout),
            kernels="auto" if self.kernels is None else self.kernels,
        )

    def _initialize(self, hidden, n_features, n_outputs, dtype, random_state=None):
        """Build the network and reset every fitted attribute (a first fit).

        The weights are scikit-learn's: for each layer, its weights then its
        intercepts drawn uniformly in ``+-sqrt(factor / (fan_in + fan_out))``
        (factor 2 for the logistic activation, 6 otherwise) from
        ``random_state``, in float64, then cast to the network's dtype.
        """
        if random_state is None:
            random_state = self._random_state_for_call()
        net = self._new_network([n_features, *hidden, n_outputs], dtype, random_state)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for w, b in zip(net.weights, net.biases):
            fan_in, fan_out = w.shape
            bound = np.sqrt(factor / (fan_in + fan_out))
            w[...] = random_state.uniform(-bound, bound, (fan_in, fan_out))
            b[...] = random_state.uniform(-bound, bound, fan_out)
        self.network_ = net
        self._set_shape_attributes()
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self._best_params = net.get_flat_params()
        self.__dict__.pop("_optimizer", None)
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = np.inf

    def _build_from_assigned(self, n_outputs, dtype, random_state):
        """Build the network from ``coefs_`` / ``intercepts_`` that were set by hand."""
        coefs = [np.asarray(w) for w in self.__dict__.pop("_coefs")]
        intercepts = [np.reshape(b, (1, -1)) for b in self.__dict__.pop("_intercepts", [])]
        layers = [coefs[0].shape[0]] + [w.shape[1] for w in coefs]
        if layers[-1] != n_outputs:
            raise ValueError(
                f"the coefs_ set by hand end in {layers[-1]} outputs, but the "
                f"targets need {n_outputs}"
            )
        net = self._new_network(layers, dtype, random_state)
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
        if data_module.is_lazy_array(X):  # a memory map or a chunked store: read in pieces
            X, y = self._check_lazy(X, reset), np.asarray(y)
            if y.ndim == 0 or y.shape[0] != X.shape[0]:
                raise ValueError(
                    f"Found input variables with inconsistent numbers of samples: "
                    f"X has {X.shape[0]} rows, y has {y.shape[0] if y.ndim else 0}"
                )
            return X, y
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
        """Per-sample weights (sample_weight times class_weight), or None for all ones."""
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
            if np.all(weights == 1.0):
                # all ones change nothing; other equal weights do change the L2 term's
                # share (alpha / (2 S) with S their sum), as in scikit-learn
                return None
        return weights

    # ---------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> _NNBase:
        """Train on ``(X, y)``; returns self.

        Parameters
        ----------
        X : {array-like, sparse matrix, memmap, chunked store} of shape (n_samples, n_features)
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
        targets, categorical, y = self._targets(y, incremental, classes)
        n_outputs = self._n_outputs(targets, categorical)
        weights = self._sample_weights(sample_weight, X, y, incremental)
        dtype = self._dtype_for(X)
        random_state = self._random_state_for_call()
        if first:
            self._initialize(hidden, X.shape[1], n_outputs, dtype, random_state)
        elif "network_" not in self.__dict__:
            self._build_from_assigned(n_outputs, dtype, random_state)
        elif n_outputs != self.network_.layers[-1]:
            raise ValueError(
                f"y needs {n_outputs} outputs, but the network fitted "
                f"before has {self.network_.layers[-1]}"
            )
        if self.solver == "lbfgs":
            if incremental:  # pragma: no cover - partial_fit is unavailable for lbfgs
                raise AttributeError("partial_fit needs a stochastic solver")
            self._fit_lbfgs(X, targets, categorical, weights)
        else:
            self._fit_stochastic(X, targets, categorical, y, weights, incremental, random_state)
        return self

    def _fit_lbfgs(self, X, targets, categorical, weights):
        net = self.network_
        if not data_module.is_lazy_array(X):
            X = X.astype(net.dtype, copy=False)
        else:
            X = np.asarray(X, dtype=net.dtype)  # full-batch: L-BFGS needs every row each step
        alpha = float(self.alpha)
        total = X.shape[0] if weights is None else float(np.sum(weights))

        def objective(packed):
            return self._loss_grad_lbfgs(packed, X, targets, weights, categorical=categorical)

        state = {"iterations": 0}

        def progress(intermediate_result):
            state["iterations"] += 1
            self.loss_curve_.append(float(intermediate_result.fun))
            if self.verbose:
                print(f"Iteration {state['iterations']}, loss = {intermediate_result.fun:.8f}")

        start = net.get_flat_params().astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result = scipy.optimize.minimize(
                objective,
                start,
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
        loss = float(result.fun)
        if not math.isfinite(loss):
            # L-BFGS-B may report the value of a rejected trial point (issue 20, point 4):
            # the loss of the parameters kept is what loss_ promises
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss = float(objective(result.x)[0])
        net.set_flat_params(result.x)
        net.l2 = alpha / total
        self.n_iter_ = int(min(result.nit, self.max_iter))
        self.loss_ = loss
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

    def _loss_grad_lbfgs(self, packed, X, y, sample_weight=None, *unused, categorical=False):
        """scikit-learn's full-batch objective and its gradient at the parameters ``packed``.

        The (weighted) mean loss plus ``alpha / (2 S) * sum(W ** 2)``, ``S`` the
        number of samples (or the sum of their weights); the gradient is
        scikit-learn's (for several regression outputs, that of the loss summed
        over them, see the module notes).  The name and first arguments follow
        scikit-learn's private method; extra positional arguments are ignored.

        Parameters
        ----------
        packed : ndarray of shape (n_params,)
            Weights then intercepts, flat.
        X : ndarray of shape (n_samples, n_features), the network's dtype
        y : ndarray of shape (n_samples, n_outputs), or labels with ``categorical=True``
        sample_weight : ndarray of shape (n_samples,) or None

        Returns
        -------
        (float, ndarray of shape (n_params,), float64)
        """
        net = self.network_
        alpha = float(self.alpha)
        total = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        net.l2 = 0.0  # the L2 term is added below, in scikit-learn's form
        net.set_flat_params(packed)
        loss, grad = net.loss_and_gradient(
            X, y, sample_weight=sample_weight, categorical=categorical
        )
        grad = grad.astype(np.float64, copy=False)
        scale = self._output_scale(net.layers[-1])
        if scale != 1.0:
            grad *= scale
        if alpha:
            n_weights = sum(w.size for w in net.weights)
            coefs = np.asarray(packed[:n_weights], dtype=np.float64)
            loss += 0.5 * alpha * float(np.dot(coefs, coefs)) / total
            grad[:n_weights] += alpha * coefs / total
        return loss, grad

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

    def _split_validation(self, X, targets, y, weights, random_state):
        """scikit-learn's early-stopping split, by row index: (training rows, held-out data).

        The training rows come in the order scikit-learn's ``train_test_split``
        leaves them (its batches are cut from that order); only two-class
        problems are stratified, on the encoded targets, as scikit-learn does.
        """
        n = X.shape[0]
        stratify = self._stratify_on(targets)
        try:
            train, val = train_test_split(
                np.arange(n),
                test_size=self.validation_fraction,
                random_state=random_state,
                stratify=stratify,
            )
        except ValueError as err:
            raise ValueError(
                f"{err} (the early-stopping split of {type(self).__name__}: "
                f"validation_fraction={self.validation_fraction} of {n} samples)"
            ) from None
        if val.shape[0] < 2:
            raise ValueError(
                f"The validation set is too small: validation_fraction="
                f"{self.validation_fraction} of {n} samples holds out "
                f"{val.shape[0]}, and a score needs at least 2. Increase "
                f"validation_fraction or the size of your dataset."
            )
        if data_module.is_lazy_array(X) and not isinstance(X, np.ndarray):
            # a chunked store is read by row slices only: the held-out rows in file order
            val = np.sort(val)
            w_val = None if weights is None else weights[val]
            return train, _Held(_TakeRows(X, val), None, y[val], w_val)
        w_val = None if weights is None else weights[val]
        if isinstance(X, np.memmap):
            held = _Held(X, val, y[val], w_val)  # scored chunk by chunk, never copied whole
        else:
            held = _Held(X[val], None, y[val], w_val)
        return train, held

    def _stratify_on(self, targets):
        return None

    def _fit_stochastic(self, X, targets, categorical, y, weights, incremental, random_state):
        if self.early_stopping and incremental:
            raise ValueError(
                "partial_fit does not support early_stopping=True: it has no "
                "held-out data to score; use fit, or set early_stopping=False"
            )
        net = self.network_
        if not incremental or "_optimizer" not in self.__dict__:
            self._optimizer = self._make_optimizer(net.layers[-1])
        validation, rows = None, None
        if self.early_stopping:
            rows, validation = self._split_validation(X, targets, y, weights, random_state)
            if self.validation_scores_ is None:  # early_stopping switched on for a warm start
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self._best_params = net.get_flat_params()
        n = X.shape[0] if rows is None else rows.shape[0]
        batch_size = self._batch_size(n)
        epochs = 1 if incremental else int(self.max_iter)
        self.n_iter_ = 0  # per call, partial_fit included, as in scikit-learn

        def end_iteration(loss):
            return self._end_iteration(loss, n, validation)

        streamed = data_module.is_lazy_array(X) and not isinstance(X, np.ndarray)
        scale = self._output_scale(net.layers[-1])
        if streamed:  # a chunked store: the network's source reads it chunk by chunk
            books = StreamedBooks(
                n,
                batch_size,
                1.0 if weights is None else float(np.mean(weights)),
                float(self.alpha),
                scale,
                end_iteration,
            )
            x_arg = X if rows is None else _TakeRows(X, np.sort(rows))
            y_arg = targets if rows is None else targets[np.sort(rows)]
            w_arg = weights if rows is None or weights is None else weights[np.sort(rows)]
            fit_args = (x_arg, y_arg, batch_size)
            fit_kwargs = {"shuffle": bool(self.shuffle), "sample_weight": w_arg}
        else:
            books = EpochFeeder(
                X,
                targets,
                rows,
                weights,
                batch_size,
                bool(self.shuffle),
                random_state,
                float(self.alpha),
                scale,
                end_iteration,
            )
            fit_args = (books, None, None)
            fit_kwargs = {"prefetch": 0}
        net.optimizer = self._optimizer
        try:
            net.fit(
                *fit_args,
                epochs,
                categorical=categorical,
                verbose=0,
                callbacks=[books],
                **fit_kwargs,
            )
        finally:
            if self._exact_solver():
                net.optimizer = self._resting_optimizer()
            net.l2 = float(self.alpha) / max(n, 1)
        finished = books.stopped or books.epochs_done == epochs
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
        elif finished and not books.stopped and not incremental:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                f"reached and the optimization hasn't converged yet. Increase "
                f"max_iter, or loosen tol / n_iter_no_change.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if self.early_stopping:
            net.set_flat_params(self._best_params)

    def _end_iteration(self, loss, n_samples, validation):
        """scikit-learn's end-of-iteration rule; returns True to stop training."""
        net = self.network_
        optimizer = self._optimizer
        self.n_iter_ += 1
        self.t_ += n_samples
        self.loss_ = float(loss)
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
        if validation is not None:
            score = self._validation_score(validation)
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
        if hasattr(optimizer, "iteration_ends"):
            optimizer.iteration_ends(self.t_)
        if self._no_improvement_count > self.n_iter_no_change:
            what = "Validation score" if validation is not None else "Training loss"
            message = (
                f"{what} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs."
            )
            trigger = getattr(optimizer, "trigger_stopping", None)
            if trigger is not None and not trigger():
                self._no_improvement_count = 0
                if self.verbose:
                    print(f"{message} Setting learning rate to {optimizer.learning_rate:f}")
                return False
            if self.verbose:
                adaptive = self.solver == "sgd" and self.learning_rate == "adaptive"
                print(message + (" Learning rate too small. Stopping." if adaptive else ""))
            return True
        return False

    def _validation_score(self, held):
        """The score (accuracy or R^2) of the network on the held-out data; NaN if it diverged."""
        net = self.network_
        if held.rows is None:
            out = net.predict(held.x)
        else:
            # held-out rows of a memory map, a few MB of float64 at a time
            width = max(1, int(np.prod(held.x.shape[1:])))
            step = max(1, min(data_module.PREDICT_ROWS, _SCORE_CHUNK_BYTES // (8 * width)))
            parts = [
                net.predict(np.asarray(held.x[held.rows[i : i + step]]))
                for i in range(0, held.rows.shape[0], step)
            ]
            out = np.concatenate(parts)
        if not np.all(np.isfinite(out)):
            return math.nan
        return float(
            self._score_function(held.y, self._decode(out), sample_weight=held.sample_weight)
        )

    # ---------------------------------------------------------------- prediction
    def _forward(self, X):
        check_is_fitted(self, "network_")
        if data_module.is_lazy_array(X):  # streamed through the network in chunks
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

    def _export_pipeline_to_onnx(self, pipeline, path=None, **kwargs):
        """The ONNX export of a fitted pipeline ending in this estimator.

        A hook for :func:`nnscratch.export.to_onnx`, which receives the pipeline
        and so need not import this module: see :func:`pipeline_to_onnx`.
        """
        return pipeline_to_onnx(pipeline, path, **kwargs)

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


class _TakeRows:
    """Rows of a chunked store picked by a sorted index, read one storage chunk at a time.

    Early stopping on a store: the training and the held-out parts are read
    through such views (by row slices, as the chunked source and ``predict``
    read), so nothing is copied whole and no read spans more than one of the
    store's chunks.
    """

    def __init__(self, store, rows):
        self.store = store
        self.rows = rows
        self.shape = (rows.shape[0], *store.shape[1:])
        self.dtype = store.dtype
        self.ndim = len(self.shape)
        block = store.chunks[0]
        if isinstance(block, tuple):  # Dask: the sizes of every chunk along the rows
            block = max(block)
        self.block = max(1, int(block))
        self.chunks = (self.block, *store.shape[1:])

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError(f"rows are read by slices here, got {key!r}")
        picked = self.rows[key]
        parts = []
        blocks = picked // self.block
        for block in np.unique(blocks):
            inside = picked[blocks == block]
            low, high = int(inside[0]), int(inside[-1]) + 1
            part = self.store[low:high]
            if callable(getattr(part, "compute", None)):  # a Dask block
                part = part.compute()
            parts.append(np.asarray(part)[inside - low])
        if not parts:
            return np.empty((0, *self.store.shape[1:]), dtype=self.dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


_PARAMETERS = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Nodes of each hidden layer.
    activation : str, default='relu'
        Hidden activation: scikit-learn's 'identity', 'logistic', 'tanh',
        'relu', or any registered name of ours ('sigmoid' (= 'logistic'
        except for the initial weights' range), 'elu', 'leaky_relu',
        'softplus', your own).
    solver : str or optimizer object, default='adam'
        'adam', 'sgd' or 'lbfgs' as in scikit-learn (stepped with
        scikit-learn's formulas), or ours: 'rmsprop', 'adagrad', or any object
        with ``update(old_params, gradient)`` (copied at every fit;
        ``learning_rate_init`` and the schedule then do not apply).
    alpha : float, default=1e-4
        L2 penalty, scaled as in scikit-learn (see the module notes).
    batch_size : int or 'auto', default='auto'
        Samples per update; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Step-size schedule of solver='sgd': 'invscaling' uses
        ``learning_rate_init / (t_ + 1) ** power_t`` after each iteration;
        'adaptive' divides the step by 5 whenever the stopping rule fires, and
        stops once it is at most 1e-6.
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
        As in scikit-learn: an int seeds a ``RandomState`` afresh at every
        ``fit`` / ``partial_fit`` call, a ``RandomState`` is used and advanced;
        it draws the initial weights, the early-stopping split and each
        epoch's order.  None draws unpredictably (never from NumPy's global
        state).  Ours: a ``Generator`` seeds a ``RandomState`` with one draw.
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
        Momentum of solver='sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for solver='sgd'.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, stop when its
        score has not improved by ``tol`` for ``n_iter_no_change``
        iterations, and keep the weights of the best score.  Stochastic
        solvers only.  As in scikit-learn, the split is stratified for
        two-class problems only (not for more classes, nor multi-label).
    validation_fraction : float, default=0.1
    beta_1, beta_2, epsilon : float, default=0.9, 0.999, 1e-8
        Adam's moment decays and its guard (epsilon also guards RMSprop and
        Adagrad).
    n_iter_no_change : int or np.inf, default=10
    max_fun : int, default=15000
        Most objective evaluations of 'lbfgs'.
    dropout : float, default=0.0
        Ours: inverted-dropout rate of the hidden layers while training
        (stochastic solvers only; the model then differs from scikit-learn's).
    dtype : None, np.float32 or np.float64, default=None
        Ours: the network's float type; None means float32 for float32 input
        and float64 otherwise, as scikit-learn does.
    kernels : {'auto', 'numpy', 'numba', 'numba-parallel'}, Kernels or None, default='auto'
        Ours: the network's kernel set (see :class:`~nnscratch.NeuralNetwork`);
        it changes rounding only.
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
        The loss of every iteration ('lbfgs' too, where scikit-learn keeps none).
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
    units (multi-label).  With scikit-learn's parameters on float64 data the
    fitted model is scikit-learn's for the same ``random_state`` (see the
    module notes for what that covers and which of our parameters change it).
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
        kernels="auto",
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
        self.kernels = kernels

    # ---------------------------------------------------------------- targets
    def _output_and_loss(self, n_outputs):
        if self._label_kind == "multiclass":
            return "softmax", "categorical_crossentropy"
        if n_outputs == 1:
            return "sigmoid", "binary_crossentropy"  # one unit: the same as summed
        return "sigmoid", "summed_binary_crossentropy"

    def _targets(self, y, incremental, classes):
        """Targets for the network, whether they are labels, and ``y`` as given.

        Multi-class targets stay small integers (indices into ``classes_``),
        one-hot encoded batch by batch; two classes become one 0/1 column; a
        multi-label indicator matrix is used as it is.  Sets or checks
        ``classes_``.
        """
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
            return y, False, y
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
        small = index.astype(np.min_scalar_type(max(len(self.classes_) - 1, 1)))
        if len(self.classes_) <= 2:  # one logistic unit: 1 for the second class
            return small.reshape(-1, 1), False, y
        return small, True, y

    def _n_outputs(self, targets, categorical):
        return len(self.classes_) if categorical else targets.shape[1]

    def _stratify_on(self, targets):
        # scikit-learn stratifies only when the network has one output (two
        # classes), on its 0/1 targets as booleans
        if self._label_kind == "multilabel" or len(self.classes_) > 2:
            return None
        return targets.astype(bool)

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
    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> NNClassifier:
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

        Returns
        -------
        self
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

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        out = self._forward(X)
        if self._label_kind == "multilabel":
            return out
        if len(self.classes_) == 1:
            return np.ones((out.shape[0], 1), dtype=out.dtype)
        if out.shape[1] == 1:
            return np.hstack([1 - out, out])
        return out

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``, shape (n_samples, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, shape (n_samples,) (multi-label: every
        label above 0.5, shape (n_samples, n_labels))."""
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class NNRegressor(RegressorMixin, _NNBase):
    """A multi-layer perceptron regressor: a drop-in for scikit-learn's MLPRegressor.

    A linear output layer trained on half the squared error (or an
    exponential output on half the Poisson deviance); ``y`` may have several
    columns.  With scikit-learn's parameters on float64 data the fitted
    model is scikit-learn's for the same ``random_state`` (see the module
    notes).
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
        kernels="auto",
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
        self.kernels = kernels

    def _output_and_loss(self, n_outputs):
        if self.loss == "poisson":
            return "exp", "half_poisson_deviance"
        return "identity", "half_squared_error"

    def _output_scale(self, n_outputs):
        # scikit-learn reports half the squared error averaged over the outputs, but
        # its gradient is that of the sum over the outputs
        return float(n_outputs) if self.loss == "squared_error" else 1.0

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
        return targets, False, y

    def _n_outputs(self, targets, categorical):
        return targets.shape[1]

    _score_function = staticmethod(r2_score)

    def _decode(self, out):
        return out[:, 0] if out.shape[1] == 1 else out

    @available_if(_NNBase._can_partial_fit)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> NNRegressor:
        """One iteration (epoch) over ``(X, y)``; the network is built on the first call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted values, shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        return self._decode(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


NNClassifier.__doc__ = NNClassifier.__doc__.format(parameters=_PARAMETERS, attributes=_ATTRIBUTES)
NNRegressor.__doc__ = NNRegressor.__doc__.format(parameters=_PARAMETERS, attributes=_ATTRIBUTES)


# --------------------------------------------------------------------------- #
# ONNX: pipelines ending in our estimators
# --------------------------------------------------------------------------- #


def register_skl2onnx() -> None:
    """Teach skl2onnx to convert NNClassifier and NNRegressor (and so pipelines ending in them).

    After this, ``skl2onnx.to_onnx(make_pipeline(StandardScaler(),
    NNClassifier()).fit(X, y), X[:1])`` converts the whole pipeline, the
    scaler with skl2onnx's own converter.  Classifiers give a ``label`` and a
    ``probabilities`` output (``options={id(clf): {"zipmap": False}}`` keeps
    the probabilities a plain tensor, as skl2onnx does for its own
    classifiers); regressors give one ``variable`` of shape (N, n_outputs).
    Importing ``nnscratch.sklearn`` already arranges for this call to happen
    as soon as skl2onnx is imported; call it yourself to see an error, if any.

    Raises
    ------
    ImportError
        skl2onnx is not installed (``pip install -e ".[onnx]"``).
    """
    _sklearn_onnx.register(NNClassifier, NNRegressor)


def pipeline_to_onnx(
    pipeline: Any,
    path: Any = None,
    *,
    opset: int | None = None,
    dtype: Any = None,
    labels: Any = None,
) -> Any:
    """An ONNX model of a fitted pipeline of scalers ending in NNClassifier / NNRegressor.

    No skl2onnx needed: each StandardScaler, MinMaxScaler or MaxAbsScaler
    becomes an input transform of the graph, so the model takes the
    pipeline's raw input and computes ``pipeline.predict_proba`` /
    ``predict``.  Other steps are refused by name (convert such pipelines
    with skl2onnx, see :func:`register_skl2onnx`).

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline, fitted
    path, opset, dtype, labels
        As for :func:`nnscratch.export.to_onnx`.

    Returns
    -------
    onnx.ModelProto
    """
    return _sklearn_onnx.pipeline_to_onnx(
        pipeline,
        path,
        estimator_classes=(NNClassifier, NNRegressor),
        opset=opset,
        dtype=dtype,
        labels=labels,
    )


_sklearn_onnx.register_when_imported(NNClassifier, NNRegressor)
