"""Out-of-core input end to end: every source through fit, predict, score, validation,
the scikit-learn estimators; NaNs far into a file; memory bounded by a few batches."""

import tracemalloc

import numpy as np
import pytest

from nnscratch import Adam, NeuralNetwork, data

KINDS = ["memmap_f32", "memmap_u8", "hdf5", "zarr", "dask"]


def make_net(n_in=8, n_out=3, dtype=np.float32, seed=0, hidden=16):
    return NeuralNetwork(
        [n_in, hidden, n_out],
        "relu",
        "softmax",
        "categorical_crossentropy",
        Adam(learning_rate=0.02),
        dtype=dtype,
        seed=seed,
    )


def problem(n=1500, d=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, d), dtype=np.uint8)
    y = (x[:, 0] // 86).astype(np.int64)  # three classes read off the first feature
    return x, y


def stored(kind, x, folder, chunk_rows=128):
    """``x`` written to disk (or wrapped) as the given input kind.

    The chunked kinds need their optional library: only the tests of that kind skip
    when it is missing, so the memory-map and generator tests still run.
    """
    if kind == "memmap_f32":
        np.save(folder / "x32.npy", x.astype(np.float32))
        return np.load(folder / "x32.npy", mmap_mode="r")
    if kind == "memmap_u8":
        np.save(folder / "x8.npy", x)
        return np.load(folder / "x8.npy", mmap_mode="r")
    if kind == "hdf5":
        h5py = pytest.importorskip("h5py")
        handle = h5py.File(folder / "x.h5", "w")
        handle.create_dataset("x", data=x, chunks=(chunk_rows, x.shape[1]))
        return handle["x"]
    if kind == "zarr":
        zarr = pytest.importorskip("zarr")
        z = zarr.open(
            str(folder / "x.zarr"),
            mode="w",
            shape=x.shape,
            chunks=(chunk_rows, x.shape[1]),
            dtype=x.dtype,
        )
        z[:] = x
        return z
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        return da.from_array(x, chunks=(chunk_rows, x.shape[1]))
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", KINDS + ["generator"])
def test_every_source_trains_predicts_and_scores(tmp_path, kind):
    x, y = problem()
    if kind == "generator":

        def source():
            for start in range(0, x.shape[0], 100):
                yield x[start : start + 100], y[start : start + 100]

        xs, ys, batch = source, None, None
    else:
        xs, ys, batch = stored(kind, x, tmp_path), y, 32
    net = make_net()
    net.input_transform = data.Scale(1 / 255)
    losses = net.fit(xs, ys, batch, 4, categorical=True, verbose=0)
    assert losses[-1] < losses[0]
    expected = net.predict(x)  # the in-memory answer, all 1500 rows in one product
    predicted = net.predict(xs)
    if kind.startswith("memmap"):
        # a memory map is predicted in chunks of PREDICT_ROWS (2048) rows: here one chunk of
        # the same 1500 rows, the same products on the same shapes, so bit for bit
        assert np.array_equal(predicted, expected)
    else:
        # stores are read along their 128-row chunks, a generator in its 100-row batches:
        # BLAS rounds a product differently by shape (and OPENBLAS_CORETYPE), so compare
        # to float32 rounding here, and bit for bit against the same pieces in memory
        np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)
        step = 100 if kind == "generator" else 128
        pieces = [net.predict(x[i : i + step]) for i in range(0, x.shape[0], step)]
        assert np.array_equal(predicted, np.concatenate(pieces))
    assert_same_labels(net.predict(xs, labels=True), expected)
    # Measured (seed 0, four epochs): 0.961 on the memory maps, 0.969 on the chunked stores,
    # 0.919 from the generator (its 100-row batches come in file order, unshuffled).
    assert net.score(xs, ys, accuracy=True) > (0.9 if kind == "generator" else 0.95)
    # a label may flip only where two outputs tie to rounding (none in this data)
    assert net.score(xs, ys, accuracy=True) == pytest.approx(
        net.score(x, y, accuracy=True), abs=2 / x.shape[0]
    )
    np.testing.assert_allclose(net.score(xs, ys), net.score(x, y), rtol=1e-5)


def assert_same_labels(labels, outputs, tie=1e-5):
    """The arg-max labels of ``outputs``, wherever the best two outputs do not tie to within
    ``tie`` (a product computed on other shapes may round a tie either way)."""
    top = np.sort(outputs, axis=1)
    clear = top[:, -1] - top[:, -2] > tie
    assert np.array_equal(labels[clear], outputs.argmax(axis=1)[clear])
    assert clear.mean() > 0.99


@pytest.mark.parametrize("kind", KINDS)
def test_predict_writes_into_out(tmp_path, kind):
    x, _ = problem(n=5000)
    xs = stored(kind, x, tmp_path)
    net = make_net()
    out = np.lib.format.open_memmap(
        tmp_path / "p.npy", mode="w+", dtype=np.float32, shape=(5000, 3)
    )
    assert net.predict(xs, out=out) is out
    written = np.load(tmp_path / "p.npy")
    # 5000 rows are predicted in pieces (2048-row chunks of a memory map, 128-row chunks of
    # a store), whose products BLAS rounds differently from one 5000-row product: to a
    # tolerance against the whole, bit for bit against the same pieces in memory
    whole = net.predict(x)
    np.testing.assert_allclose(written, whole, rtol=1e-5, atol=1e-6)
    step = data.PREDICT_ROWS if kind.startswith("memmap") else 128
    pieces = np.concatenate([net.predict(x[i : i + step]) for i in range(0, 5000, step)])
    assert np.array_equal(written, pieces)
    labels = np.empty(5000, dtype=np.int64)
    net.predict(xs, labels=True, out=labels)
    assert np.array_equal(labels, pieces.argmax(axis=1))
    assert_same_labels(labels, whole)
    with pytest.raises(ValueError, match=r"out has shape \(4999, 3\)"):
        net.predict(xs, out=np.empty((4999, 3), np.float32))
    with pytest.raises(TypeError, match="float dtype"):
        net.predict(xs, out=np.empty((5000, 3), np.int32))


@pytest.mark.parametrize("kind", KINDS + ["generator"])
def test_validation_data_of_every_kind_is_scored_each_epoch(tmp_path, kind):
    x, y = problem()
    x_val, y_val = problem(n=2500, seed=1)  # more than one predict chunk
    if kind == "generator":

        def val():
            for start in range(0, 2500, 300):
                yield x_val[start : start + 300], y_val[start : start + 300]

        validation = val
    else:
        validation = (stored(kind, x_val, tmp_path), y_val)
    net = make_net()
    net.input_transform = data.Scale(1 / 255)
    net.fit(x, y, 32, 2, categorical=True, verbose=0, validation_data=validation)
    np.testing.assert_allclose(net.history["val_loss"][-1], net.score(x_val, y_val), rtol=1e-5)
    # the streamed validation runs its products on other shapes than score's one product
    # (2,500 rows): an accuracy could differ only by a label whose two best outputs tie
    assert net.history["val_accuracy"][-1] == pytest.approx(
        net.score(x_val, y_val, accuracy=True), abs=2 / 2500
    )


def test_memmap_validation_split_is_drawn_like_the_array_split(tmp_path):
    x, y = problem(n=6000)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    a, b = make_net(), make_net()
    a.fit(x.astype(np.float32), y, 64, 2, categorical=True, verbose=0, validation_split=0.5)
    b.fit(
        np.load(tmp_path / "x.npy", mmap_mode="r"),
        y,
        64,
        2,
        categorical=True,
        verbose=0,
        validation_split=0.5,
    )
    assert np.array_equal(a.get_flat_params(), b.get_flat_params())
    # 3000 held-out rows: scored in two chunks, summed in another order
    np.testing.assert_allclose(a.history["val_loss"], b.history["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(a.history["val_accuracy"], b.history["val_accuracy"], atol=2 / 3000)


# ------------------------------------------------------------- NaN far into the data
def far_nan_inputs(tmp_path, n=3_000_001):
    x = np.zeros((n, 2), dtype=np.float32)
    x[:, 0] = np.tile(np.linspace(-1, 1, 1000, dtype=np.float32), n // 1000 + 1)[:n]
    x[3_000_000, 1] = np.nan
    y = (x[:, 0] > 0).astype(np.int64)
    np.save(tmp_path / "x.npy", x)
    return x, y


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memmap", "zarr", "generator"])
def test_nan_at_row_three_million_is_named_and_the_epoch_undone(tmp_path, kind):
    x, y = far_nan_inputs(tmp_path)
    if kind == "memmap":
        xs, ys, batch, extra = np.load(tmp_path / "x.npy", mmap_mode="r"), y, 8192, {}
    elif kind == "zarr":
        zarr = pytest.importorskip("zarr")
        z = zarr.open(
            str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(2**18, 2), dtype=x.dtype
        )
        z[:] = x
        xs, ys, batch, extra = z, y, 8192, {"shuffle_buffer": 2**16}
    else:

        def batches():
            for start in range(0, x.shape[0], 8192):
                yield x[start : start + 8192], y[start : start + 8192]

        xs, ys, batch, extra = batches, None, None, {}
    net = NeuralNetwork(
        [2, 4, 2], "relu", "softmax", "categorical_crossentropy", "adam", dtype=np.float32, seed=0
    )
    # one clean epoch on the rows before the NaN, so the epoch to undo is not the first
    net.fit(x[:100_000], y[:100_000], 8192, 1, categorical=True, verbose=0)
    start = net.get_flat_params()
    history = {k: list(v) for k, v in net.history.items()}
    with pytest.raises(ValueError, match="row 3000000, column 1") as info:
        net.fit(xs, ys, batch, 1, categorical=True, verbose=0, **extra)
    assert "nan" in str(info.value)
    assert np.array_equal(net.get_flat_params(), start)
    assert net.history == history
    with pytest.raises(ValueError, match="row 3000000, column 1"):
        net.predict(xs)


def test_nan_in_a_chunked_store_or_generator_restores_the_epoch(tmp_path):
    x, y = problem(n=2000)
    xf = x.astype(np.float32)
    xf[1777, 5] = np.inf
    for xs, ys, batch in [
        (stored("zarr", xf, tmp_path), y, 50),
        (
            lambda: iter([(xf[i : i + 100], y[i : i + 100]) for i in range(0, 2000, 100)]),
            None,
            None,
        ),
        (stored("memmap_f32", xf, tmp_path), y, 50),
    ]:
        net = make_net()
        start = net.get_flat_params()
        for prefetch in (0, 1):
            with pytest.raises(ValueError, match="row 1777, column 5"):
                net.fit(xs, ys, batch, 2, categorical=True, verbose=0, prefetch=prefetch)
            assert np.array_equal(net.get_flat_params(), start)


# ----------------------------------------------------------- scikit-learn estimators
@pytest.fixture
def sk():
    """The scikit-learn estimators; only the tests that take this fixture need scikit-learn."""
    pytest.importorskip("sklearn")  # nnscratch.sklearn re-raises a plain ImportError
    import nnscratch.sklearn

    return nnscratch.sklearn


@pytest.mark.parametrize("kind", KINDS)
def test_sklearn_estimators_take_out_of_core_input(tmp_path, kind, sk):
    x, y = problem()
    xs = stored(kind, x, tmp_path)
    classifier = sk.NNClassifier(
        hidden_layer_sizes=(16,),
        max_iter=5,
        random_state=0,
        batch_size=32,
        learning_rate_init=1e-2,
    ).fit(xs, y)
    assert classifier.n_features_in_ == 8
    predicted = classifier.predict(xs)
    # streamed in 128-row chunks against one product in memory: the same labels except
    # where two class probabilities tie to rounding
    assert_same_labels(predicted, classifier.predict_proba(x.astype(np.float64)))
    # Measured (five epochs, random_state=0): 0.794 on the memory maps, 0.784 on the stores.
    assert np.mean(predicted == y) > 0.77
    partial = sk.NNClassifier(hidden_layer_sizes=(16,), random_state=0)
    for _ in range(2):
        partial.partial_fit(xs, y, classes=[0, 1, 2])
    assert partial.t_ == 2 * x.shape[0]  # scikit-learn counts n_iter_ per call, t_ in total
    regressor = sk.NNRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(
        xs, y.astype(np.float64)
    )
    values = regressor.predict(xs)
    assert values.shape == (x.shape[0],)
    # The same network on the same rows in memory, in one product: the stored input is
    # read in 128-row chunks, and BLAS rounds by shape, so equal to the output's rounding.
    in_memory = x.astype(np.float32) if kind == "memmap_f32" else x
    expected = regressor.network_.predict(in_memory).ravel()
    assert values.dtype == expected.dtype
    rtol = 1e-5 if values.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(values, expected, rtol=rtol)


class SliceOnlyStore:
    """A chunked store that can only be read by row slices, and records each read."""

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


def test_sklearn_estimators_read_stores_chunk_by_chunk_in_bounded_memory(tmp_path, sk):
    x, y = problem(n=3000)
    store = SliceOnlyStore(x, 256)
    for model in (
        sk.NNClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
        sk.NNRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0),
    ):
        model.fit(store, y if isinstance(model, sk.NNClassifier) else y.astype(float))
        assert model.predict(store).shape[0] == 3000
        model.partial_fit(store, y if isinstance(model, sk.NNClassifier) else y.astype(float))
    assert max(store.reads) <= 256
    big = np.lib.format.open_memmap(
        tmp_path / "big.npy", mode="w+", dtype=np.uint8, shape=(40_000, 784)
    )  # 31 MB; 250 MB as float64
    big[:] = np.arange(784, dtype=np.uint8)
    labels = np.arange(40_000) % 3
    classifier = sk.NNClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0)
    peak = traced_peak(lambda: classifier.fit(big, labels))
    assert peak < 64 * MB, f"fit peaked at {peak / MB:.1f} MB"


# ------------------------------------------------------------------ memory bounds
MB = 2**20


def traced_peak(run):
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def model_bytes(net):
    return net.n_params * net.dtype.itemsize * 4  # parameters, gradient, two Adam moments


@pytest.mark.slow
def test_memory_stays_bounded_on_a_300_mb_uint8_memmap(tmp_path):
    n, d = 400_000, 784
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, d))
    pattern = np.random.default_rng(0).integers(0, 256, (1000, d), dtype=np.uint8)
    for start in range(0, n, 1000):
        big[start : start + 1000] = pattern
    big.flush()
    del big
    y = (np.arange(n) % 10).astype(np.uint8)
    x = np.load(path, mmap_mode="r")
    net = NeuralNetwork(
        [d, 32, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        "adam",
        dtype=np.float32,
        seed=0,
    )
    net.input_transform = data.Scale(1 / 255)
    bound = 64 * MB + model_bytes(net)
    peak = traced_peak(
        lambda: net.fit(x, y, 256, 1, categorical=True, verbose=0, validation_split=0.1)
    )
    assert peak < bound, f"fit peaked at {peak / MB:.1f} MB"
    out = np.lib.format.open_memmap(tmp_path / "p.npy", mode="w+", dtype=np.float32, shape=(n, 10))
    peak = traced_peak(lambda: net.predict(x, out=out))
    assert peak < bound, f"predict peaked at {peak / MB:.1f} MB"
    peak = traced_peak(lambda: net.score(x, y, accuracy=True))
    assert peak < bound, f"score peaked at {peak / MB:.1f} MB"
    # the unbounded way would have cost the whole array in float32: 1.2 GB
    assert n * d * 4 > 10 * bound


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["hdf5", "zarr", "dask"])
def test_memory_stays_bounded_on_chunked_stores(tmp_path, kind):
    n, d = 100_000, 784  # 78 MB of uint8
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, d), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.uint8)
    xs = stored(kind, x, tmp_path, chunk_rows=4096)
    if kind == "dask":  # a Dask array that is lazy, not one wrapping x in memory
        da = pytest.importorskip("dask.array")
        np.save(tmp_path / "x.npy", x)
        xs = da.from_array(np.load(tmp_path / "x.npy", mmap_mode="r"), chunks=(4096, d))
    del x
    net = NeuralNetwork(
        [d, 32, 10],
        "relu",
        "softmax",
        "categorical_crossentropy",
        "adam",
        dtype=np.float32,
        seed=0,
    )
    net.input_transform = data.Scale(1 / 255)
    bound = 64 * MB + model_bytes(net)
    peak = traced_peak(
        lambda: net.fit(xs, y, 256, 1, categorical=True, verbose=0, validation_split=0.1)
    )
    assert peak < bound, f"fit peaked at {peak / MB:.1f} MB"
    peak = traced_peak(lambda: net.predict(xs, labels=True))
    assert peak < bound, f"predict peaked at {peak / MB:.1f} MB"
