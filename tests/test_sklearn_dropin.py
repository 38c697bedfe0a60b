"""NNClassifier / NNRegressor as drop-ins for scikit-learn's MLPClassifier / MLPRegressor.

Parameters and defaults, the objective (loss, alpha, sample weights) checked
against scikit-learn's own code, fitted attributes, the stopping rule, the
learning-rate schedules, warnings, warm starts, sparse input and solvers.
"""

import inspect
import math
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")
import scipy.sparse as sp  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402

from nnscratch import SGD, RMSprop  # noqa: E402
from nnscratch.registry import hidden_activations  # noqa: E402
from nnscratch.sklearn import NNClassifier, NNRegressor  # noqa: E402

PAIRS = [(NNClassifier, MLPClassifier), (NNRegressor, MLPRegressor)]
OURS_ONLY = {"dropout", "class_weight", "dtype", "kernels"}


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


def blobs(n=120, classes=3, features=5, seed=0):
    return make_classification(
        n_samples=n,
        n_features=features,
        n_informative=3,
        n_redundant=0,
        n_classes=classes,
        n_clusters_per_class=1,
        class_sep=2.0,
        random_state=seed,
    )


def regression(n=120, targets=1, seed=0):
    x, y = make_regression(
        n_samples=n, n_features=5, n_targets=targets, noise=0.1, random_state=seed
    )
    return x, y / y.std(axis=0)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=["classifier", "regressor"])
def test_every_scikit_learn_parameter_exists_with_the_same_default(ours, theirs):
    mine = inspect.signature(ours.__init__).parameters
    for name, param in inspect.signature(theirs.__init__).parameters.items():
        if name == "self":
            continue
        assert name in mine, name
        assert mine[name].default == param.default, name
        assert mine[name].kind == param.kind, name  # positional ones stay positional
    extra = set(mine) - set(inspect.signature(theirs.__init__).parameters)
    assert extra == OURS_ONLY - ({"class_weight"} if ours is NNRegressor else set())


@pytest.mark.parametrize("cls", [NNClassifier, NNRegressor])
@pytest.mark.parametrize("old", ["epochs", "optimizer", "patience", "max_iterr"])
def test_unknown_keywords_name_the_public_class(cls, old):
    with pytest.raises(TypeError) as info:
        cls(**{old: 3})
    assert cls.__name__ in str(info.value) and "_NNBase" not in str(info.value)


BAD_PARAMS = {
    "hidden_layer_sizes": [0, (10, 0), "10", 2.5],
    "activation": ["swishy", "softmax"],
    "solver": ["newton", 3],
    "alpha": [-1.0, "big", math.nan],
    "batch_size": [0, "max", 2.5],
    "learning_rate": ["fast", 0.01],
    "learning_rate_init": [0.0, -1e-3],
    "power_t": [-0.5],
    "max_iter": [0, 1.5],
    "shuffle": ["yes"],
    "tol": [-1e-4],
    "warm_start": [1],
    "momentum": [1.5, -0.1],
    "nesterovs_momentum": ["no"],
    "early_stopping": [None],
    "validation_fraction": [1.0, -0.1],
    "beta_1": [1.0],
    "beta_2": [-0.1],
    "epsilon": [0.0],
    "n_iter_no_change": [0, 2.5, -math.inf],
    "max_fun": [0],
    "dropout": [1.0, -0.2],
    "dtype": [np.int32, "float16"],
}


@pytest.mark.parametrize("cls", [NNClassifier, NNRegressor])
def test_bad_parameters_are_refused_naming_the_parameter(cls):
    x, y = blobs(30)
    for name, values in BAD_PARAMS.items():
        for value in values:
            with pytest.raises((ValueError, TypeError)) as info:
                cls(**{name: value}).fit(x, y)
            assert name.split("_")[0] in str(info.value), (name, value, info.value)


def test_learning_rate_as_a_number_points_to_learning_rate_init():
    with pytest.raises(TypeError, match="learning_rate_init"):
        NNClassifier(learning_rate=0.01).fit(*blobs(30))


# --------------------------------------------------------------------------- objective


def _sklearn_twin(ours, theirs_cls, x, y, **params):
    """scikit-learn's estimator fitted for one step, then given our parameters."""
    twin = quiet(theirs_cls(solver="lbfgs", max_iter=1, **params).fit, x, y)
    twin.coefs_ = [np.array(w) for w in ours.coefs_]
    twin.intercepts_ = [np.array(b) for b in ours.intercepts_]
    return twin


def _targets_like_sklearn(twin, y):
    if hasattr(twin, "_label_binarizer"):
        return twin._label_binarizer.transform(y).astype(float)
    return y.reshape(len(y), -1).astype(float)


TASKS = {
    "binary": (NNClassifier, MLPClassifier, lambda: blobs(60, classes=2), {}),
    "multiclass": (NNClassifier, MLPClassifier, lambda: blobs(60, classes=4), {}),
    "multilabel": (
        NNClassifier,
        MLPClassifier,
        lambda: (blobs(60)[0], (np.random.default_rng(0).random((60, 3)) > 0.5).astype(int)),
        {},
    ),
    "regression": (NNRegressor, MLPRegressor, lambda: regression(60), {}),
    "multioutput": (NNRegressor, MLPRegressor, lambda: regression(60, targets=3), {}),
    "poisson": (
        NNRegressor,
        MLPRegressor,
        lambda: (blobs(60)[0], np.random.default_rng(0).poisson(2.0, 60)),
        {"loss": "poisson"},
    ),
}


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_objective_and_gradient_equal_scikit_learns(task, weighted, alpha):
    """Our full-batch objective (loss, alpha term, weights) is scikit-learn's, exactly."""
    ours_cls, theirs_cls, make, extra = TASKS[task]
    x, y = make()
    params = dict(
        hidden_layer_sizes=(7, 4), activation="tanh", alpha=alpha, random_state=0, **extra
    )
    ours = quiet(ours_cls(solver="lbfgs", max_iter=2, **params).fit, x, y)
    twin = _sklearn_twin(ours, theirs_cls, x, y, **params)
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(x)) if weighted else None
    packed = np.concatenate([np.ravel(a) for a in ours.coefs_ + ours.intercepts_])
    y_net = _targets_like_sklearn(twin, y)
    theirs_loss, theirs_grad = twin._loss_grad_lbfgs(
        packed,
        x,
        y_net,
        w,
        [x] + [None] * (twin.n_layers_ - 1),
        [None] * (twin.n_layers_ - 1),
        [np.empty_like(c) for c in twin.coefs_],
        [np.empty_like(b) for b in twin.intercepts_],
    )
    our_loss, our_grad = ours._loss_grad_lbfgs(packed, x, y_net, w)
    assert our_loss == pytest.approx(theirs_loss, rel=1e-10)
    # for several outputs scikit-learn reports half the squared error averaged over
    # them but back-propagates p - y, the gradient of their sum: ours follows it, so
    # that both train the same model
    np.testing.assert_allclose(our_grad, theirs_grad, rtol=1e-8, atol=1e-12)


def _initial_params(est, n_features, n_outputs, label_kind=None):
    """The parameters a fresh estimator with est's settings starts from."""
    fresh = type(est)(**est.get_params())
    hidden = fresh._check_params()
    fresh._label_kind = label_kind
    fresh._initialize(hidden, n_features, n_outputs, np.float64)
    return fresh.network_.get_flat_params()


def test_alpha_reaches_every_batch_the_last_small_one_included():
    """One epoch of plain SGD equals scikit-learn's batch steps replayed by hand."""
    x, y = blobs(23)
    alpha, lr, batch = 0.5, 0.05, 10
    clf = NNClassifier(
        hidden_layer_sizes=(6,),
        solver="sgd",
        momentum=0.0,
        alpha=alpha,
        learning_rate_init=lr,
        batch_size=batch,
        shuffle=False,
        random_state=0,
    )
    params = _initial_params(clf, 5, 3, "multiclass")
    clf.partial_fit(x, y, classes=[0, 1, 2])
    trained = clf.network_.get_flat_params()
    # replay: three batches (10, 10, 3), each decayed with l2 = alpha / its size
    net, targets = clf.network_, np.eye(3)[y]
    for lo in range(0, 23, batch):
        rows = slice(lo, min(lo + batch, 23))
        net.set_flat_params(params)
        net.l2 = alpha / (rows.stop - rows.start)
        _, grad = net.loss_and_gradient(x[rows], targets[rows])
        params = params - lr * grad
    np.testing.assert_allclose(trained, params, rtol=1e-12, atol=1e-14)


def test_reported_loss_is_scikit_learns_for_a_single_batch():
    x, y = regression(50)
    reg = quiet(
        NNRegressor(
            hidden_layer_sizes=(5,),
            alpha=0.2,
            solver="sgd",
            max_iter=1,
            batch_size=50,
            random_state=0,
        ).fit,
        x,
        y,
    )
    # one batch: the epoch loss is the objective at the start of the epoch
    start = NNRegressor(**reg.get_params())
    start._initialize(start._check_params(), 5, 1, np.float64)
    half_mse = 0.5 * np.mean((start.network_.predict(x)[:, 0] - y) ** 2)
    expected = half_mse + 0.2 / (2 * 50) * sum(float(np.sum(c**2)) for c in start.coefs_)
    # the penalty is taken at the weights the batch started from, as scikit-learn does
    assert reg.loss_ == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- attributes


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_fitted_attributes_like_scikit_learns(solver):
    x, y = blobs(80, classes=3)
    ours = quiet(
        NNClassifier(hidden_layer_sizes=(6, 4), solver=solver, max_iter=15, random_state=0).fit,
        x,
        y,
    )
    theirs = quiet(
        MLPClassifier(hidden_layer_sizes=(6, 4), solver=solver, max_iter=15, random_state=0).fit,
        x,
        y,
    )
    for name in ["n_layers_", "n_outputs_", "out_activation_", "n_features_in_"]:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert isinstance(ours.loss_, float) and ours.loss_ > 0
    if solver != "lbfgs":
        assert ours.n_iter_ == theirs.n_iter_ == 15
        assert ours.t_ == theirs.t_ == 15 * 80
        assert len(ours.loss_curve_) == ours.n_iter_ and ours.best_loss_ == min(ours.loss_curve_)
        assert ours.validation_scores_ is None and ours.best_validation_score_ is None


@pytest.mark.parametrize(
    "task, n_classes, act", [("binary", 2, "logistic"), ("multiclass", 3, "softmax")]
)
def test_output_layer_like_scikit_learns(task, n_classes, act):
    x, y = blobs(60, classes=n_classes)
    clf = quiet(NNClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit, x, y)
    assert clf.out_activation_ == act
    assert clf.n_outputs_ == (1 if n_classes == 2 else n_classes)
    assert clf.predict_proba(x).shape == (60, n_classes)


def test_coefs_and_intercepts_write_through_to_the_network():
    x, y = blobs(40)
    clf = quiet(NNClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0).fit, x, y)
    for i, (w, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        assert np.shares_memory(w, clf.network_.weights[i])
        assert np.shares_memory(b, clf.network_.biases[i])
    clf.coefs_[1] = np.zeros_like(clf.coefs_[1])
    clf.intercepts_[1] = np.full(3, 7.0)
    assert not clf.network_.weights[1].any()
    np.testing.assert_array_equal(clf.network_.biases[1], np.full((1, 3), 7.0))
    np.testing.assert_allclose(clf.predict_proba(x), np.full((40, 3), 1 / 3))
    clf.coefs_[0][0, 0] = 5.0
    clf.intercepts_[0][2] = -1.0
    assert clf.network_.weights[0][0, 0] == 5.0 and clf.network_.biases[0][0, 2] == -1.0
    with pytest.raises(ValueError, match="intercepts_"):
        clf.intercepts_[0] = np.zeros(4)
    with pytest.raises(ValueError, match="weights"):
        clf.coefs_ = [np.zeros((2, 2)), np.zeros((5, 3))]


def test_coefs_set_by_hand_before_partial_fit_are_the_starting_point():
    x, y = blobs(20, classes=2)
    clf = NNClassifier(
        hidden_layer_sizes=(2,), solver="sgd", momentum=0.0, learning_rate_init=0.1, alpha=0.0
    )
    start = [np.full((5, 2), 0.1), np.full((2, 1), -0.2)]
    clf.coefs_ = [w.copy() for w in start]
    clf.intercepts_ = [np.zeros(2), np.zeros(1)]
    clf.n_features_in_ = 5
    clf.partial_fit(x, y, classes=[0, 1])
    trained = clf.network_.get_flat_params()
    # one batch of 20: it moved from the given weights by one gradient step
    packed = np.concatenate([np.ravel(w) for w in start] + [np.zeros(3)])
    clf.network_.set_flat_params(packed)
    _, grad = clf.network_.loss_and_gradient(x, y.reshape(-1, 1).astype(float))
    np.testing.assert_allclose(trained, packed - 0.1 * grad, rtol=1e-12, atol=1e-15)


def test_validation_scores_are_scores_and_the_best_weights_are_kept():
    x, y = blobs(200, classes=3)
    clf = NNClassifier(
        hidden_layer_sizes=(8,),
        early_stopping=True,
        max_iter=60,
        learning_rate_init=0.05,
        n_iter_no_change=5,
        random_state=0,
    )
    seen = []
    original = clf._validation_score

    def spy(held):
        score = original(held)
        seen.append(
            (score, clf.network_.get_flat_params(), accuracy_score(held.y, clf.predict(held.x)))
        )
        return score

    clf._validation_score = spy
    quiet(clf.fit, x, y)
    scores = [s for s, _, _ in seen]
    assert clf.validation_scores_ == scores
    assert all(s == acc for s, _, acc in seen)  # accuracy, not a loss
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_loss_ is None
    best = scores.index(max(scores))
    np.testing.assert_array_equal(clf.network_.get_flat_params(), seen[best][1])


def test_regressor_validation_scores_are_r2():
    x, y = regression(150)
    reg = NNRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=20, random_state=0)
    seen = []
    original = reg._validation_score

    def spy(held):
        score = original(held)
        seen.append(score == pytest.approx(r2_score(held.y, reg.predict(held.x))))
        return score

    reg._validation_score = spy
    quiet(reg.fit, x, y)
    assert seen and all(seen)
    assert reg.validation_scores_[0] < reg.best_validation_score_ <= 1


# --------------------------------------------------------------------------- warnings, stopping


@pytest.mark.parametrize("cls, data", [(NNClassifier, blobs), (NNRegressor, regression)])
@pytest.mark.parametrize("solver", ["sgd", "adam", "rmsprop", "adagrad", "lbfgs"])
def test_convergence_warning_when_max_iter_ends_training(cls, data, solver):
    x, y = data(60)
    with pytest.warns(ConvergenceWarning, match="max_iter|Maximum iterations"):
        model = cls(
            hidden_layer_sizes=(5,),
            solver=solver,
            max_iter=3,
            random_state=0,
            n_iter_no_change=np.inf,
        ).fit(x, y)
    assert model.n_iter_ == 3


def test_no_convergence_warning_when_the_stopping_rule_ends_training():
    x, y = blobs(60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = NNClassifier(hidden_layer_sizes=(5,), tol=10.0, max_iter=100, random_state=0).fit(
            x, y
        )
    assert clf.n_iter_ == clf.n_iter_no_change + 2  # first sets the best, then 11 misses
    assert clf._no_improvement_count == clf.n_iter_no_change + 1


def test_stopping_rule_matches_scikit_learns_on_a_recorded_curve():
    """Feed one loss curve to both rules (ours through training, theirs by hand)."""
    x, y = blobs(60)
    for tol, patience in [(1e-4, 3), (0.05, 2), (0.0, 5)]:
        clf = quiet(
            NNClassifier(
                hidden_layer_sizes=(4,),
                solver="sgd",
                tol=tol,
                n_iter_no_change=patience,
                max_iter=80,
                random_state=1,
                learning_rate_init=0.01,
            ).fit,
            x,
            y,
        )
        best, count, stop_at = math.inf, 0, None
        for i, loss in enumerate(clf.loss_curve_):
            count = count + 1 if loss > best - tol else 0
            best = min(best, loss)
            if count > patience:
                stop_at = i + 1
                break
        assert clf.n_iter_ == (stop_at or 80)


def test_invscaling_and_adaptive_learning_rates():
    x, y = blobs(40)
    clf = quiet(
        NNClassifier(
            hidden_layer_sizes=(4,),
            solver="sgd",
            learning_rate="invscaling",
            power_t=0.25,
            max_iter=3,
            random_state=0,
        ).fit,
        x,
        y,
    )
    assert clf._optimizer.learning_rate == 1e-3 / (3 * 40 + 1) ** 0.25
    clf = NNClassifier(
        hidden_layer_sizes=(4,),
        solver="sgd",
        learning_rate="adaptive",
        tol=10.0,
        max_iter=500,
        random_state=0,
    ).fit(x, y)
    # the step is divided by 5 each time the rule fires, until it is below 1e-6
    assert clf._optimizer.learning_rate == pytest.approx(1e-3 / 5**5)
    assert clf.n_iter_ == 12 + 11 * 5  # 12 epochs to the first trigger, then 11 each
    constant = quiet(
        NNClassifier(
            hidden_layer_sizes=(4,),
            solver="adam",
            max_iter=3,
            learning_rate="invscaling",
            random_state=0,
        ).fit,
        x,
        y,
    )
    # schedules are for solver='sgd'; Adam's rate is its bias-corrected step size, as
    # scikit-learn's optimizer reports it
    theirs = quiet(
        MLPClassifier(
            hidden_layer_sizes=(4,),
            solver="adam",
            max_iter=3,
            learning_rate="invscaling",
            random_state=0,
        ).fit,
        x,
        y,
    )
    assert constant._optimizer.learning_rate == pytest.approx(
        theirs._optimizer.learning_rate, rel=1e-15
    )
    assert constant._optimizer.learning_rate == pytest.approx(
        1e-3 * math.sqrt(1 - 0.999**3) / (1 - 0.9**3), rel=1e-15
    )


def test_divergence_raises_without_early_stopping_and_scores_nan_with_it():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(60, 4)) * np.finfo(np.float64).max
    y = rng.normal(size=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            NNRegressor(hidden_layer_sizes=(5,), random_state=0).fit(x, y)
        reg = NNRegressor(
            hidden_layer_sizes=(5,),
            random_state=0,
            early_stopping=True,
            solver="sgd",
            learning_rate_init=1.0,
        ).fit(x, y)
    assert math.isnan(reg.validation_scores_[-1])
    assert len(reg.validation_scores_) == reg.n_iter_ == len(reg.loss_curve_)
    assert np.all(np.isfinite(reg.network_.get_flat_params()))


# --------------------------------------------------------------------------- warm start, solvers


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_warm_start_continues_from_the_previous_weights(solver):
    x, y = blobs(80)
    cold = quiet(
        NNClassifier(hidden_layer_sizes=(6,), solver=solver, max_iter=5, random_state=0).fit, x, y
    )
    warm = quiet(
        NNClassifier(
            hidden_layer_sizes=(6,), solver=solver, max_iter=5, random_state=0, warm_start=True
        ).fit,
        x,
        y,
    )
    np.testing.assert_array_equal(cold.network_.get_flat_params(), warm.network_.get_flat_params())
    network = warm.network_
    quiet(warm.fit, x, y)
    assert warm.network_ is network and warm.n_iter_ == 5
    assert warm.loss_ < cold.loss_
    before = cold.loss_curve_[:] if solver != "lbfgs" else None
    quiet(cold.fit, x, y)  # without warm_start: the same fit again from the start
    if before is not None:
        assert cold.loss_curve_ == before
    if solver != "lbfgs":
        assert len(warm.loss_curve_) == 10 and warm.t_ == 10 * 80


@pytest.mark.parametrize(
    "activation", ["identity", "logistic", "tanh", "relu", *hidden_activations.names()]
)
def test_every_activation_name_trains(activation):
    x, y = blobs(60)
    clf = quiet(
        NNClassifier(
            hidden_layer_sizes=(8,),
            activation=activation,
            max_iter=40,
            learning_rate_init=0.02,
            random_state=0,
        ).fit,
        x,
        y,
    )
    expected = "sigmoid" if activation == "logistic" else activation
    assert clf.network_.hidden_activation.name == expected
    assert clf.score(x, y) > 0.6


@pytest.mark.parametrize("solver", ["rmsprop", "adagrad", SGD(0.05, 0.5), RMSprop(0.01)])
def test_our_solvers_and_optimizer_objects(solver):
    x, y = blobs(80)
    clf = quiet(
        NNClassifier(
            hidden_layer_sizes=(8,),
            solver=solver,
            max_iter=40,
            learning_rate_init=0.02,
            random_state=0,
        ).fit,
        x,
        y,
    )
    assert clf.score(x, y) > 0.7
    if not isinstance(solver, str):
        assert solver.iterations == 0  # the caller's object is never trained


def test_lbfgs_attributes_describe_the_final_parameters():
    x, y = blobs(60)
    clf = quiet(
        NNClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0).fit,
        x,
        y,
    )
    objective, _ = clf._loss_grad_lbfgs(clf.network_.get_flat_params(), x, np.eye(3)[y])
    assert clf.loss_ == pytest.approx(objective, rel=1e-12)
    assert clf.loss_ == pytest.approx(clf.loss_curve_[-1], rel=1e-12)
    assert clf.n_iter_ == len(clf.loss_curve_) and clf.best_loss_ == min(clf.loss_curve_)
    assert all(b <= a for a, b in zip(clf.loss_curve_, clf.loss_curve_[1:]))


# --------------------------------------------------------------------------- input kinds


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("kind", ["csr_matrix", "csc_matrix", "csr_array", "csc_array"])
def test_sparse_input_gives_the_dense_result(solver, kind):
    x, y = blobs(60)
    x[np.abs(x) < 0.8] = 0.0
    sparse = getattr(sp, kind)(x)
    dense = quiet(
        NNClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=10, random_state=0).fit, x, y
    )
    fitted = quiet(
        NNClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=10, random_state=0).fit,
        sparse,
        y,
    )
    np.testing.assert_array_equal(dense.loss_curve_, fitted.loss_curve_)
    np.testing.assert_array_equal(fitted.predict_proba(sparse), dense.predict_proba(x))


@pytest.mark.parametrize(
    "dtype, expected", [(None, np.float32), (np.float64, np.float64), ("float32", np.float32)]
)
def test_dtype_follows_the_input_or_the_parameter(dtype, expected):
    x, y = regression(40)
    reg = quiet(
        NNRegressor(hidden_layer_sizes=(4,), max_iter=2, dtype=dtype, random_state=0).fit,
        x.astype(np.float32),
        y,
    )
    assert reg.network_.dtype == expected
    assert all(c.dtype == expected for c in reg.coefs_ + reg.intercepts_)
    assert reg.predict(x.astype(np.float32)).dtype == expected


def test_one_class_is_learned_and_predicted():
    x, _ = blobs(30)
    y = np.array(["only"] * 30)
    clf = quiet(NNClassifier(hidden_layer_sizes=(3,), max_iter=3, random_state=0).fit, x, y)
    assert list(clf.predict(x)) == ["only"] * 30
    np.testing.assert_array_equal(clf.predict_proba(x), np.ones((30, 1)))


def test_class_weight_by_label_and_balanced():
    x, y = blobs(120, classes=2, seed=3)
    labels = np.array(["no", "yes"])[y]
    plain = quiet(
        NNClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0).fit, x, labels
    )
    heavy = quiet(
        NNClassifier(
            hidden_layer_sizes=(4,), max_iter=30, random_state=0, class_weight={"yes": 20.0}
        ).fit,
        x,
        labels,
    )
    assert heavy.predict_proba(x)[:, 1].mean() > plain.predict_proba(x)[:, 1].mean()
    same = quiet(
        NNClassifier(hidden_layer_sizes=(4,), max_iter=30, random_state=0).fit,
        x,
        labels,
        sample_weight=np.where(labels == "yes", 20.0, 1.0),
    )
    np.testing.assert_allclose(same.predict_proba(x), heavy.predict_proba(x))
    balanced = quiet(
        NNClassifier(
            hidden_layer_sizes=(4,), max_iter=5, random_state=0, class_weight="balanced"
        ).fit,
        x,
        labels,
    )
    assert balanced.n_iter_ == 5
    with pytest.raises(ValueError, match="balanced"):
        NNClassifier(class_weight="balanced").partial_fit(x, labels, classes=["no", "yes"])


def test_dropout_trains_and_is_refused_with_lbfgs():
    x, y = blobs(80)
    clf = quiet(
        NNClassifier(
            hidden_layer_sizes=(16,),
            dropout=0.3,
            max_iter=60,
            learning_rate_init=0.02,
            random_state=0,
        ).fit,
        x,
        y,
    )
    assert clf.network_.dropout == 0.3 and clf.score(x, y) > 0.7
    with pytest.raises(ValueError, match="dropout"):
        NNClassifier(dropout=0.3, solver="lbfgs").fit(x, y)


def test_partial_fit_is_unavailable_for_lbfgs():
    for cls in (NNClassifier, NNRegressor):
        assert not hasattr(cls(solver="lbfgs"), "partial_fit")
        assert hasattr(cls(solver="sgd"), "partial_fit")


def test_verbose_prints_one_line_per_iteration(capsys):
    x, y = blobs(40)
    quiet(
        NNClassifier(hidden_layer_sizes=(3,), max_iter=4, verbose=True, random_state=0).fit, x, y
    )
    out = capsys.readouterr().out
    assert out.count("Iteration") == 4


# --------------------------------------------------------------------------- new pieces


def test_scikit_learns_losses_and_exp_output_have_correct_derivatives():
    from nnscratch import gradcheck
    from nnscratch.activations import d_exp, exp
    from nnscratch.losses import (
        d_half_poisson_deviance,
        d_half_squared_error,
        d_summed_binary_crossentropy,
        half_poisson_deviance,
        half_squared_error,
        summed_binary_crossentropy,
    )

    rng = np.random.default_rng(0)
    for m in (1, 3):
        positive = rng.uniform(0.2, 3.0, (6, m))
        counts = rng.poisson(2.0, (6, m)).astype(float)
        labels = (rng.random((6, m)) > 0.5).astype(float)
        assert (
            gradcheck.check_loss(
                half_squared_error,
                d_half_squared_error,
                y_pred=rng.normal(size=(6, m)),
                y_true=rng.normal(size=(6, m)),
            )
            < 1e-7
        )
        assert (
            gradcheck.check_loss(
                summed_binary_crossentropy,
                d_summed_binary_crossentropy,
                y_pred=rng.uniform(0.1, 0.9, (6, m)),
                y_true=labels,
            )
            < 1e-7
        )
        assert (
            gradcheck.check_loss(
                half_poisson_deviance, d_half_poisson_deviance, y_pred=positive, y_true=counts
            )
            < 1e-7
        )
        assert gradcheck.check_output_activation(exp, d_exp, shape=(5, m)) < 1e-7


@pytest.mark.parametrize(
    "output, loss, make_y",
    [
        ("identity", "half_squared_error", lambda rng: rng.normal(size=(9, 3))),
        (
            "sigmoid",
            "summed_binary_crossentropy",
            lambda rng: (rng.random((9, 3)) > 0.5).astype(float),
        ),
        ("exp", "half_poisson_deviance", lambda rng: rng.poisson(1.5, (9, 3)).astype(float)),
    ],
)
def test_fused_output_gradients_equal_the_jacobian_route(output, loss, make_y):
    from nnscratch import Loss, NeuralNetwork
    from nnscratch.registry import losses

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 4)), make_y(rng)
    fast = NeuralNetwork([4, 5, 3], "tanh", output, loss, "sgd", seed=1)
    piece = losses.get(loss)
    slow = NeuralNetwork([4, 5, 3], "tanh", output, Loss(None, piece.f, piece.df), "sgd", seed=1)
    w = rng.uniform(0.5, 2.0, 9)
    for weights in (None, w):
        a_loss, a_grad = fast.loss_and_gradient(x, y, sample_weight=weights)
        b_loss, b_grad = slow.loss_and_gradient(x, y, sample_weight=weights)
        assert a_loss == pytest.approx(b_loss, rel=1e-12)
        np.testing.assert_allclose(a_grad, b_grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda: (NNRegressor(max_iter=3), regression(40)),
        lambda: (
            NNRegressor(loss="poisson", max_iter=3),
            (blobs(40)[0], np.random.default_rng(0).poisson(2.0, 40)),
        ),
        lambda: (
            NNClassifier(max_iter=3),
            (blobs(40)[0], (np.random.default_rng(0).random((40, 3)) > 0.5).astype(int)),
        ),
    ],
)
def test_the_network_of_every_task_saves_and_loads(make, tmp_path):
    from nnscratch import load_model

    est, (x, y) = make()
    quiet(est.fit, x, y)
    loaded = load_model(est.network_.save(tmp_path / "model.npz"))
    np.testing.assert_array_equal(loaded.predict(x), est.network_.predict(x))


def test_poisson_needs_non_negative_targets():
    x, _ = blobs(30)
    with pytest.raises(ValueError, match="poisson"):
        NNRegressor(loss="poisson").fit(x, -np.ones(30))
