"""Issue 20, points 4, 11, 12 and 15 for the estimators: memory that must not grow with the data,
and lbfgs's loss_ after a failed line search.

Peak memory is traced with tracemalloc (memory-mapped file pages are not
Python allocations, so only copies count).  Each test first runs a tiny fit,
so that one-time allocations (imports, compiled kernels) are not counted.
"""

import tracemalloc
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from nnscratch.sklearn import NNClassifier, NNRegressor  # noqa: E402

MB = 2**20


def traced_peak(run):
    NNClassifier(hidden_layer_sizes=(4,), max_iter=1, early_stopping=True).fit(
        np.random.default_rng(0).random((100, 5)), np.arange(100) % 3
    )
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("solver, classes", [("sgd", 2), ("adam", 10)])
def test_early_stopping_on_a_memmap_splits_by_index(tmp_path, solver, classes):
    """Issue 20, point 11: the split copied the whole file (1.95 GB traced for a 1.2 GB
    map); now the training rows are read batch by batch through their indices and the
    held-out rows chunk by chunk when scored."""
    path = tmp_path / "x.npy"
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(20_000, 784))
    x[:] = (np.arange(784) % 251).astype(np.uint8)
    x.flush()
    del x
    x = np.load(path, mmap_mode="r")  # 15 MB of uint8; 120 MB as float64
    labels = np.arange(20_000) % classes
    model = NNClassifier(
        hidden_layer_sizes=(8,), solver=solver, max_iter=1, early_stopping=True, random_state=0
    )
    peak = traced_peak(lambda: model.fit(x, labels))
    assert peak < 0.5 * x.nbytes, f"fit peaked at {peak / MB:.1f} MB"
    assert len(model.validation_scores_) == 1
    # the same split and scores as the in-memory array (a memmap is only read differently)
    twin = NNClassifier(**model.get_params())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        twin.fit(np.asarray(x, dtype=np.float64), labels)
    assert twin.validation_scores_ == model.validation_scores_
    np.testing.assert_allclose(twin.network_.get_flat_params(), model.network_.get_flat_params())


def test_labels_are_not_one_hot_encoded_whole():
    """Issue 20, point 12: the estimators one-hot encoded every target in float64 (here
    20,000 rows x 1,000 classes = 153 MB); the targets stay small integers, one-hot
    encoded one batch at a time, as net.fit does."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 10))
    y = np.arange(20_000) % 1000
    one_hot = 20_000 * 1000 * 8
    for solver in ("adam", "sgd"):
        model = NNClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=1, random_state=0)
        peak = traced_peak(lambda model=model: model.fit(x, y))
        assert peak < one_hot / 4, f"{solver}: fit peaked at {peak / MB:.1f} MB"


def test_many_classes_on_few_rows():
    """Issue 20, point 15: 10,000 classes on 2,000 rows peaked at 840 MB (160 MB of one-hot
    targets); what remains is one batch's arrays of 10,000 columns."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 20))
    y = rng.integers(0, 10_000, 2000)
    model = NNClassifier(hidden_layer_sizes=(8,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "more unique classes than half the rows"
        peak = traced_peak(lambda: model.partial_fit(x, y, classes=np.arange(10_000)))
    assert peak < 120 * MB, f"partial_fit peaked at {peak / MB:.1f} MB"
    assert model.predict_proba(x[:5]).shape == (5, 10_000)


CASES = [  # data on which L-BFGS-B's line search meets a trial point whose loss is NaN
    ("poisson", "identity", 3, 100.0),
    ("squared_error", "relu", 0, 1e150),
    ("squared_error", "relu", 1, 1e150),
]


def test_lbfgs_loss_is_that_of_the_parameters_kept(monkeypatch):
    """Issue 20, point 4: loss_ was NaN when a line-search trial point was NaN although the
    parameters L-BFGS-B kept are fine; it is now their loss."""
    import scipy.optimize

    reported = []
    original = scipy.optimize.minimize

    def spy(*args, **kwargs):
        result = original(*args, **kwargs)
        reported.append(float(result.fun))
        return result

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    for loss, activation, seed, scale in CASES:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(50, 3)) * scale
        y = rng.poisson(3.0, 50).astype(float)
        model = NNRegressor(
            loss=loss,
            activation=activation,
            solver="lbfgs",
            hidden_layer_sizes=(4,),
            max_iter=20,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x, y)
        assert np.isnan(reported[-1])  # what scipy reports: the bug's condition
        assert np.isfinite(model.loss_)
        packed = model.network_.get_flat_params()
        expected, _ = model._loss_grad_lbfgs(packed, x, y.reshape(-1, 1))
        assert model.loss_ == pytest.approx(expected, rel=1e-12)


class SliceOnlyStore:
    """A chunked store that can only be read by row slices; records the rows of each read."""

    def __init__(self, array, chunk_rows):
        self.array, self.shape, self.dtype = array, array.shape, array.dtype
        self.chunks = (chunk_rows, array.shape[1])
        self.ndim = 2
        self.reads = []

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError(f"read by row slices only, got {key!r}")
        start, stop, _ = key.indices(self.shape[0])
        self.reads.append(stop - start)
        return self.array[key]


@pytest.mark.parametrize("cls", [NNClassifier, NNRegressor])
def test_early_stopping_on_a_chunked_store_reads_one_chunk_at_a_time(cls):
    """The early-stopping split of a store (HDF5, Zarr, Dask) is read by row slices, never
    more than one storage chunk at once, for training and for scoring alike."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 8))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    store = SliceOnlyStore(x, 256)
    model = cls(hidden_layer_sizes=(8,), max_iter=4, early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(store, y if cls is NNClassifier else y.astype(float))
    assert max(store.reads) <= 256
    assert len(model.validation_scores_) == model.n_iter_ == 4
    assert np.all(np.isfinite(model.validation_scores_))
