"""Issue 22: for the same parameters and random_state, our estimators fit scikit-learn's model.

Every solver x activation x task (classifier, multi-label classifier,
regressor) x early_stopping, on small slices of the data sets scikit-learn
ships (iris, digits, breast_cancer, diabetes): predictions within 1e-6 of
``MLPClassifier`` / ``MLPRegressor``'s, equal ``n_iter_`` and ``t_``, and
``loss_curve_``, ``best_loss_`` and ``validation_scores_`` equal to 1e-9
relative.  Not bit for bit: both sides take the same steps, but our network
orders some floating-point operations differently (it scales the output
error by 1/n before the matrix products, scikit-learn divides after them),
so the results agree to rounding, which a few iterations do not amplify
beyond 1e-12 here; 1e-9 leaves room for other BLAS builds.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from nnscratch.sklearn import NNClassifier, NNRegressor  # noqa: E402

SOLVERS = ["lbfgs", "sgd", "adam"]
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
TASKS = ["classifier", "multilabel", "regressor"]


def _scaled(x):
    return StandardScaler().fit_transform(x)


def load(name):
    """A small slice of a data set, inputs standardised."""
    if name == "iris":
        x, y = load_iris(return_X_y=True)
        return _scaled(x), y
    if name == "digits":
        x, y = load_digits(return_X_y=True)
        return _scaled(x[:240]), y[:240]
    if name == "breast_cancer":  # two classes: the stratified early-stopping split
        x, y = load_breast_cancer(return_X_y=True)
        return _scaled(x[:200]), y[:200]
    if name == "diabetes":
        x, y = load_diabetes(return_X_y=True)
        return _scaled(x[:200]), y[:200] / 100.0
    if name == "digits_multilabel":  # three yes/no labels per image
        x, y = load_digits(return_X_y=True)
        x, y = x[:240], y[:240]
        labels = np.stack([y % 2 == 0, y > 4, y % 3 == 0], axis=1).astype(int)
        return _scaled(x), labels
    if name == "diabetes_two_outputs":
        x, y = load_diabetes(return_X_y=True)
        return _scaled(x[:200, :8]), x[:200, 8:] * 10.0
    raise KeyError(name)


CLASSIFIER_DATA = ["iris", "digits", "breast_cancer"]


def data_for(task, solver, activation):
    if task == "classifier":  # each solver meets each data set across the activations
        i = SOLVERS.index(solver) + ACTIVATIONS.index(activation)
        return load(CLASSIFIER_DATA[i % 3])
    if task == "multilabel":
        return load("digits_multilabel")
    return load("diabetes" if ACTIVATIONS.index(activation) % 2 else "diabetes_two_outputs")


def fit_both(task, params, x, y, **fit_kwargs):
    ours_cls, theirs_cls = (
        (NNRegressor, MLPRegressor) if task == "regressor" else (NNClassifier, MLPClassifier)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = ours_cls(**params).fit(x, y, **fit_kwargs)
        theirs = theirs_cls(**params).fit(x, y, **fit_kwargs)
    return ours, theirs


def assert_same_model(ours, theirs, x, task):
    if task == "regressor":
        np.testing.assert_allclose(ours.predict(x), theirs.predict(x), rtol=0, atol=1e-6)
    else:
        np.testing.assert_allclose(
            ours.predict_proba(x), theirs.predict_proba(x), rtol=0, atol=1e-6
        )
        np.testing.assert_array_equal(ours.predict(x), theirs.predict(x))
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)
    assert ours.n_outputs_ == theirs.n_outputs_
    assert ours.out_activation_ == theirs.out_activation_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    if not hasattr(theirs, "loss_curve_"):  # lbfgs: scikit-learn keeps no curve
        return
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9, atol=0)
    if theirs.best_loss_ is None:
        assert ours.best_loss_ is None
    else:
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-9)
    if theirs.validation_scores_ is None:
        assert ours.validation_scores_ is None and ours.best_validation_score_ is None
    else:
        np.testing.assert_allclose(
            ours.validation_scores_, theirs.validation_scores_, rtol=1e-9, atol=1e-12
        )
        assert ours.best_validation_score_ == pytest.approx(
            theirs.best_validation_score_, rel=1e-9
        )


GRID = [
    (solver, activation, task, early)
    for solver in SOLVERS
    for activation in ACTIVATIONS
    for task in TASKS
    for early in ([False] if solver == "lbfgs" else [False, True])
]


@pytest.mark.parametrize("solver, activation, task, early_stopping", GRID)
def test_same_model_as_scikit_learn(solver, activation, task, early_stopping):
    x, y = data_for(task, solver, activation)
    params = dict(
        hidden_layer_sizes=(9, 6) if activation == "tanh" else (10,),
        activation=activation,
        solver=solver,
        max_iter=10,
        batch_size=48,
        learning_rate_init=0.01,
        alpha=1e-3,
        early_stopping=early_stopping,
        # the stopping rule ends about half of the stochastic runs before max_iter
        tol=0.03,
        n_iter_no_change=2,
        random_state=7,
    )
    ours, theirs = fit_both(task, params, x, y)
    assert_same_model(ours, theirs, x, task)


OPTIONS = {
    "batch_size auto, defaults": {},
    "no shuffling": {"shuffle": False},
    "sgd plain momentum": {"solver": "sgd", "nesterovs_momentum": False, "momentum": 0.5},
    "sgd no momentum": {"solver": "sgd", "momentum": 0.0},
    "sgd invscaling": {"solver": "sgd", "learning_rate": "invscaling", "power_t": 0.3},
    "sgd adaptive": {
        "solver": "sgd",
        "learning_rate": "adaptive",
        "tol": 0.5,
        "n_iter_no_change": 1,
        "max_iter": 15,
    },
    "adam betas": {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-4},
    "early stop, 30% held out": {"early_stopping": True, "validation_fraction": 0.3},
    "stopping rule fires": {"tol": 10.0, "n_iter_no_change": 2},
    "lbfgs max_fun": {"solver": "lbfgs", "max_fun": 7},
    "RandomState": {"random_state": "RandomState"},
    "three hidden layers": {"hidden_layer_sizes": (8, 7, 5)},
}


@pytest.mark.parametrize("option", sorted(OPTIONS))
@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_same_model_for_other_settings(option, task):
    settings = dict(OPTIONS[option])
    x, y = load("breast_cancer" if task == "classifier" else "diabetes")
    params = dict(hidden_layer_sizes=(8,), max_iter=6, learning_rate_init=0.01, random_state=3)
    params.update(settings)
    if params["random_state"] == "RandomState":
        ours_state, theirs_state = np.random.RandomState(5), np.random.RandomState(5)
        ours_cls, theirs_cls = (
            (NNRegressor, MLPRegressor) if task == "regressor" else (NNClassifier, MLPClassifier)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours = ours_cls(**{**params, "random_state": ours_state}).fit(x, y)
            theirs = theirs_cls(**{**params, "random_state": theirs_state}).fit(x, y)
        # both advanced the caller's RandomState by the same draws
        assert ours_state.randint(2**31) == theirs_state.randint(2**31)
    else:
        ours, theirs = fit_both(task, params, x, y)
    assert_same_model(ours, theirs, x, task)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_same_model_with_sample_weights(solver, task):
    x, y = load("breast_cancer" if task == "classifier" else "diabetes")
    weights = np.random.default_rng(0).uniform(0.2, 3.0, x.shape[0])
    params = dict(
        hidden_layer_sizes=(8,),
        solver=solver,
        max_iter=6,
        batch_size=50,
        learning_rate_init=0.01,
        alpha=0.01,
        random_state=0,
        early_stopping=solver != "lbfgs",
    )
    ours, theirs = fit_both(task, params, x, y, sample_weight=weights)
    assert_same_model(ours, theirs, x, task)


def test_equal_weights_other_than_one_change_the_l2_share_as_in_scikit_learn():
    """Weights all equal to 2 double S in alpha / (2 S): scikit-learn's model changes,
    and so must ours (they are not dropped as 'all equal')."""
    x, y = load("iris")
    params = dict(hidden_layer_sizes=(8,), solver="sgd", max_iter=4, alpha=5.0, random_state=0)
    ours, theirs = fit_both("classifier", params, x, y, sample_weight=np.full(len(y), 2.0))
    assert_same_model(ours, theirs, x, "classifier")
    plain, _ = fit_both("classifier", params, x, y)
    assert not np.allclose(plain.loss_curve_, ours.loss_curve_)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_warm_start_continues_like_scikit_learn(solver):
    x, y = load("iris")
    params = dict(
        hidden_layer_sizes=(8,), solver=solver, max_iter=3, warm_start=True, random_state=2
    )
    ours, theirs = fit_both("classifier", params, x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(x, y)
        theirs.fit(x, y)
    assert_same_model(ours, theirs, x, "classifier")


def test_float32_input_trains_in_float32_like_scikit_learn():
    """Both train in float32 on float32 input: equal to float32 rounding."""
    x, y = load("digits")
    x = x.astype(np.float32)
    params = dict(hidden_layer_sizes=(10,), max_iter=5, random_state=0)
    ours, theirs = fit_both("classifier", params, x, y)
    assert ours.coefs_[0].dtype == theirs.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), atol=1e-4)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-5)
