"""scikit-learn estimators: the official check suite, pipelines, grid search, tasks."""

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from nnscratch.sklearn import EXPECTED_FAILED_CHECKS, NNClassifier, NNRegressor  # noqa: E402

# these tests cap max_iter on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize(
    "estimator", [NNClassifier(), NNRegressor()], ids=["NNClassifier", "NNRegressor"]
)
def test_check_estimator(estimator):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(
            estimator, expected_failed_checks=EXPECTED_FAILED_CHECKS, on_fail=None, on_skip=None
        )
    failed = [
        (r["check_name"], repr(r["exception"])[:300]) for r in results if r["status"] == "failed"
    ]
    assert failed == []
    passed = sum(r["status"] == "passed" for r in results)
    assert passed >= 55


def data(n=300, classes=3, seed=0):
    return make_classification(
        n_samples=n, n_features=8, n_informative=5, n_classes=classes, random_state=seed
    )


def test_pipeline_with_a_scaler():
    x, y = data()
    model = make_pipeline(StandardScaler(), NNClassifier(random_state=0))
    model.fit(x[:200], y[:200])
    assert model.score(x[200:], y[200:]) > 0.8  # scikit-learn's MLPClassifier: 0.92


def test_grid_search_in_two_processes():
    x, y = data(200)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NNClassifier(max_iter=30, random_state=0)),
        {
            "nnclassifier__hidden_layer_sizes": [(8,), (32,)],
            "nnclassifier__batch_size": [16, "auto"],
        },
        cv=3,
        n_jobs=2,
    )
    search.fit(x, y)
    assert set(search.best_params_) == {
        "nnclassifier__hidden_layer_sizes",
        "nnclassifier__batch_size",
    }
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_score_ > 0.6


def test_binary_with_string_labels_and_proba():
    x, y = data(classes=2)
    labels = np.array(["cat", "dog"])[y]
    clf = NNClassifier(max_iter=50, random_state=0).fit(x, labels)
    assert list(clf.classes_) == ["cat", "dog"]
    proba = clf.predict_proba(x)
    assert proba.shape == (300, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert set(clf.predict(x)) <= {"cat", "dog"}
    assert clf.score(x, labels) > 0.85


def test_multilabel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = np.column_stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] < -0.5]).astype(int)
    clf = NNClassifier(hidden_layer_sizes=(32,), max_iter=150, random_state=0).fit(x, y)
    assert clf.network_.output_activation.name == "sigmoid"
    assert clf.predict(x).shape == (300, 3)
    assert clf.predict_proba(x).shape == (300, 3)
    assert np.mean(clf.predict(x) == y) > 0.9


def test_multi_output_regression():
    x, y = make_regression(n_samples=300, n_features=6, n_targets=2, noise=1.0, random_state=0)
    y = y / y.std(axis=0)
    reg = make_pipeline(
        StandardScaler(), NNRegressor(hidden_layer_sizes=(64,), max_iter=200, random_state=0)
    )
    reg.fit(x, y)
    assert reg.predict(x).shape == (300, 2)
    assert reg.score(x, y) > 0.9


def test_float32_input_stays_float32():
    x, y = data()
    x32 = x.astype(np.float32)
    clf = NNClassifier(max_iter=5, random_state=0).fit(x32, y)
    assert clf.network_.dtype == np.float32
    assert clf.predict_proba(x32).dtype == np.float32
    reg = NNRegressor(max_iter=5, random_state=0).fit(x32, y.astype(np.float32))
    assert reg.predict(x32).dtype == np.float32
    assert NNClassifier(max_iter=5, random_state=0).fit(x, y).network_.dtype == np.float64


def test_fitted_attributes_and_feature_names():
    pd = pytest.importorskip("pandas")
    x, y = data()
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(8)])
    clf = NNClassifier(max_iter=20, early_stopping=True, random_state=0).fit(frame, y)
    assert clf.n_features_in_ == 8
    assert list(clf.feature_names_in_) == [f"f{i}" for i in range(8)]
    assert len(clf.loss_curve_) == clf.n_iter_ == len(clf.validation_scores_)
    assert clf.network_.layers == [8, 100, 3]


def test_partial_fit_needs_classes_first_and_then_continues():
    x, y = data()
    clf = NNClassifier(random_state=0, max_iter=1)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(x, y)
    clf.partial_fit(x[:100], y[:100], classes=[0, 1, 2])
    first = clf.network_.get_flat_params()
    clf.partial_fit(x[100:], y[100:])
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 2  # n_iter_ counts the last call
    assert not np.array_equal(first, clf.network_.get_flat_params())
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(x[:, :5], y)


def test_sample_weight_changes_the_fit_and_ones_change_nothing():
    x, y = data()
    a = NNClassifier(max_iter=20, random_state=0).fit(x, y)
    b = NNClassifier(max_iter=20, random_state=0).fit(x, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    w = np.where(y == 0, 10.0, 1.0)
    c = NNClassifier(max_iter=20, random_state=0).fit(x, y, sample_weight=w)
    assert np.mean(c.predict(x) == 0) > np.mean(a.predict(x) == 0)


def test_the_callers_optimizer_is_not_trained():
    from nnscratch import SGD

    opt = SGD(0.05, 0.9)
    x, y = data()
    clf = NNClassifier(solver=opt, max_iter=3, random_state=0).fit(x, y)
    assert opt.iterations == 0 and clf.network_.optimizer.iterations > 0


def test_fitted_estimators_pickle():
    x, y = data()
    clf = NNClassifier(max_iter=5, random_state=0).fit(x, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(x), clf.predict_proba(x))
