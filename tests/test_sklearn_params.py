"""The estimators' parameters: one table checks them, get_params shows them all (issue 19,
point 6; issue 22, point 5), misspelt names get a suggestion (issue 20), and fitted
estimators' model files round-trip."""

import inspect
import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from nnscratch import SGD, Adam, load_model  # noqa: E402
from nnscratch.sklearn import InvalidParameterError, NNClassifier, NNRegressor  # noqa: E402

CLASSES = [NNClassifier, NNRegressor]


def iris():
    x, y = load_iris(return_X_y=True)
    return (x - x.mean(0)) / x.std(0), y


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


@pytest.mark.parametrize("cls", CLASSES)
def test_get_params_shows_every_constructor_argument_kernels_included(cls):
    """Issue 22, point 5: kernels was missing from get_params."""
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    est = cls()
    assert sorted(est.get_params()) == sorted(names)
    assert "kernels" in names
    changed = {name: getattr(est, name) for name in names}
    changed["kernels"] = "numpy"
    assert clone(cls(**changed)).get_params()["kernels"] == "numpy"


@pytest.mark.parametrize("kernels", ["numpy", "auto"])
def test_kernels_reach_the_network_and_change_rounding_only(kernels):
    from sklearn.neural_network import MLPClassifier

    x, y = iris()
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    ours = quiet(NNClassifier(kernels=kernels, **params).fit, x, y)
    theirs = quiet(MLPClassifier(**params).fit, x, y)
    assert ours.network_.kernels == kernels
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


MISSPELT = {
    "activation": ("rleu", "relu"),
    "solver": ("adma", "adam"),
    "learning_rate": ("constnat", "constant"),
    "batch_size": ("atuo", "auto"),
    "kernels": ("nunpy", "numpy"),
}


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("name", sorted(MISSPELT))
def test_a_misspelt_name_gets_did_you_mean(cls, name):
    """Issue 20's message: NNClassifier(activation='rleu') says "did you mean 'relu'"."""
    x, y = iris()
    typo, meant = MISSPELT[name]
    with pytest.raises(InvalidParameterError) as info:
        cls(**{name: typo}).fit(x, y)
    message = str(info.value)
    assert message.startswith(f"{cls.__name__}: {name} must be")
    assert f"Did you mean {meant!r}" in message and repr(typo) in message


def test_misspelt_loss_and_class_weight():
    x, y = iris()
    with pytest.raises(InvalidParameterError, match="Did you mean 'poisson'"):
        NNRegressor(loss="poison").fit(x, y)
    with pytest.raises(InvalidParameterError, match="Did you mean 'balanced'"):
        NNClassifier(class_weight="balance").fit(x, y)


def test_invalid_parameter_error_is_a_value_and_a_type_error():
    """Code catching either (scikit-learn's own error is both) keeps working."""
    x, y = iris()
    for bad in ({"alpha": -1.0}, {"alpha": "big"}, {"max_iter": 2.5}):
        with pytest.raises(ValueError):
            NNClassifier(**bad).fit(x, y)
        with pytest.raises(TypeError):
            NNClassifier(**bad).fit(x, y)


@pytest.mark.parametrize(
    "name, value",
    [
        ("momentum", 1.0),  # scikit-learn's range is [0, 1]
        ("n_iter_no_change", np.inf),
        ("hidden_layer_sizes", 5),
        ("hidden_layer_sizes", [3, 2]),
        ("random_state", np.random.RandomState(0)),
        ("random_state", np.random.default_rng(0)),
        ("verbose", 0),
        ("dtype", np.float32),
        ("kernels", None),
        ("class_weight", {0: 2.0}),
    ],
)
def test_edges_of_the_table_are_accepted(name, value):
    x, y = iris()
    quiet(NNClassifier(max_iter=2, **{name: value}).fit, x, y)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs", "rmsprop"])
@pytest.mark.parametrize("cls", CLASSES)
def test_model_files_and_pickles_of_fitted_estimators_round_trip(cls, solver, tmp_path):
    x, y = iris()
    est = quiet(cls(hidden_layer_sizes=(6,), solver=solver, max_iter=4, random_state=0).fit, x, y)
    # the network's model file: the optimizer it names is an ordinary built-in
    loaded = load_model(est.network_.save(tmp_path / "model.npz"))
    np.testing.assert_array_equal(loaded.predict(x), est.network_.predict(x))
    if solver in ("sgd", "adam"):
        assert isinstance(loaded.optimizer, {"sgd": SGD, "adam": Adam}[solver])
    # the estimator's pickle: the same predictions, and training carries on identically
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict(x), est.predict(x))
    if solver != "lbfgs":
        extra = {"classes": np.unique(y)} if cls is NNClassifier else {}
        est.partial_fit(x, y, **extra)
        copy.partial_fit(x, y, **extra)
        assert copy.loss_curve_ == est.loss_curve_
        np.testing.assert_array_equal(copy.predict(x), est.predict(x))
