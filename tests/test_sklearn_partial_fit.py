"""partial_fit's ``classes``: sorted and de-duplicated as scikit-learn does (issue 9, point 2).

The encoder and ``classes_`` must agree whatever order (and repetitions) the
caller lists the classes in; otherwise the labels come out permuted without a
word.
"""

import itertools

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import make_classification  # noqa: E402

from nnscratch.sklearn import NNClassifier  # noqa: E402

NAMES = np.array(["cat", "dog", "eel"])


def separable(n=150, seed=0):
    x, y = make_classification(
        n_samples=n,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        class_sep=3.0,
        random_state=seed,
    )
    return x, y


def train(x, labels, classes, calls=25):
    clf = NNClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, random_state=0)
    clf.partial_fit(x[:50], labels[:50], classes=classes)
    for _ in range(calls):
        clf.partial_fit(x, labels)
    return clf


ORDERS = [list(p) for p in itertools.permutations(NAMES)] + [
    ["eel", "cat", "eel", "dog", "cat"],
    ["dog", "dog", "dog", "cat", "eel", "eel"],
    np.array(["eel", "cat", "dog"], dtype=object),
    ("dog", "eel", "cat"),
]


@pytest.mark.parametrize("classes", ORDERS, ids=lambda c: "-".join(map(str, c)))
def test_classes_in_any_order_or_repeated_give_the_same_model(classes):
    x, y = separable()
    labels = NAMES[y]
    clf = train(x, labels, classes)
    assert list(clf.classes_) == ["cat", "dog", "eel"]
    assert clf.score(x, labels) > 0.9  # the permuted bug scored about 5%
    proba = clf.predict_proba(x)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(x))
    reference = train(x, labels, ["cat", "dog", "eel"])
    np.testing.assert_array_equal(
        clf.network_.get_flat_params(), reference.network_.get_flat_params()
    )


@pytest.mark.parametrize("classes", [[2, 0, 1], [1, 2, 0, 2, 1], np.array([2.0, 1.0, 0.0])])
def test_integer_classes_are_sorted_too(classes):
    x, y = separable()
    clf = train(x, y, classes)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.score(x, y) > 0.9


def test_a_class_missing_from_the_first_batch_arrives_later():
    x, y = separable()
    labels = NAMES[y]
    first = labels != "eel"
    clf = NNClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.05, random_state=0)
    clf.partial_fit(x[first], labels[first], classes=["eel", "dog", "cat"])
    for _ in range(25):
        clf.partial_fit(x, labels)
    assert clf.score(x, labels) > 0.9


def test_unknown_labels_later_are_refused_by_name():
    x, y = separable()
    labels = NAMES[y]
    clf = NNClassifier(hidden_layer_sizes=(4,), random_state=0)
    clf.partial_fit(x, labels, classes=["eel", "cat", "dog"])
    bad = labels.astype(object)
    bad[7] = "fox"
    with pytest.raises(ValueError, match="fox"):
        clf.partial_fit(x, bad)
    with pytest.raises(ValueError, match="fox"):
        NNClassifier().partial_fit(x, bad, classes=NAMES)


def test_later_classes_must_be_the_same_set():
    x, y = separable()
    labels = NAMES[y]
    clf = NNClassifier(hidden_layer_sizes=(4,), random_state=0)
    clf.partial_fit(x, labels, classes=["eel", "cat", "dog"])
    for same in (["dog", "cat", "eel"], ["cat", "cat", "dog", "eel"], NAMES):
        clf.partial_fit(x, labels, classes=same)
    for other in (["cat", "dog"], ["cat", "dog", "eel", "fox"], ["cat", "dog", "emu"]):
        with pytest.raises(ValueError, match="differ"):
            clf.partial_fit(x, labels, classes=other)
    assert list(clf.classes_) == ["cat", "dog", "eel"]


def test_classes_must_come_with_the_first_call():
    x, y = separable()
    with pytest.raises(ValueError, match="classes must be passed"):
        NNClassifier().partial_fit(x, y)


@pytest.mark.parametrize("seed", ["int", "RandomState"])
def test_partial_fit_calls_are_scikit_learns_calls(seed):
    """Each partial_fit call takes scikit-learn's step: an int random_state seeds a fresh
    RandomState per call (so the calls are not the epochs of one fit), a RandomState
    carries on."""
    from sklearn.neural_network import MLPClassifier

    x, y = separable(90)

    def settings():
        state = 3 if seed == "int" else np.random.RandomState(3)
        return dict(
            hidden_layer_sizes=(6,),
            solver="sgd",
            learning_rate_init=0.05,
            random_state=state,
            tol=0.0,
            n_iter_no_change=1000,
            batch_size=32,
        )

    ours, theirs = NNClassifier(**settings()), MLPClassifier(**settings())
    for _ in range(8):
        ours.partial_fit(x, y, classes=[0, 1, 2])
        theirs.partial_fit(x, y, classes=[0, 1, 2])
    # the same steps in another order of floating-point operations: rounding apart
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(x), theirs.predict_proba(x), atol=1e-9)
    assert ours.t_ == theirs.t_ == 8 * 90
    assert ours.n_iter_ == theirs.n_iter_ == 1
