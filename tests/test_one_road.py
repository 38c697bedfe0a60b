"""One road (issue 19): whatever the input kind and whichever driver runs the loop
(``net.fit``, ``nnscratch.distributed.fit``), training sees the values ``predict`` sees.

The data-parallel tests start their own ``distributed.LocalCluster`` (two workers of
one thread, in this process) and close it at the end.
"""

import warnings

import numpy as np
import pytest

from nnscratch import SGD, NeuralNetwork
from nnscratch.data import Scale

h5py = pytest.importorskip("h5py")
zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")
distributed_pkg = pytest.importorskip("distributed")

from nnscratch import distributed as nd  # noqa: E402

N, FEATURES, CLASSES = 240, 12, 3


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed_pkg.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        )
    with cluster, distributed_pkg.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def pixels():
    rng = np.random.default_rng(7)
    y = rng.integers(0, CLASSES, size=N)
    centres = rng.uniform(40, 215, size=(CLASSES, FEATURES))
    x = np.clip(centres[y] + rng.normal(0, 30, size=(N, FEATURES)), 0, 255).astype(np.uint8)
    return x, y


def make_net(seed=0):
    return NeuralNetwork(
        [FEATURES, 8, CLASSES], "relu", "softmax", "categorical_crossentropy", SGD(0.3), seed=seed
    )


def as_kind(kind, arr, tmp_path, tag):
    """``arr`` as an input of ``kind``: kept in memory, in a .npy memory map, an HDF5 data
    set, a Zarr array or a Dask array (the stores in chunks of 60 rows)."""
    if kind == "array":
        return arr
    if kind == "memmap":
        np.save(tmp_path / f"{tag}.npy", arr)
        return np.load(tmp_path / f"{tag}.npy", mmap_mode="r")
    if kind == "hdf5":
        handle = h5py.File(tmp_path / f"{tag}.h5", "w")
        handle.create_dataset("x", data=arr, chunks=(60, arr.shape[1]))
        handle.close()
        return h5py.File(tmp_path / f"{tag}.h5", "r")["x"]
    if kind == "zarr":
        store = zarr.open(
            str(tmp_path / f"{tag}.zarr"),
            mode="w",
            shape=arr.shape,
            dtype=arr.dtype,
            chunks=(60, arr.shape[1]),
        )
        store[:] = arr
        return zarr.open(str(tmp_path / f"{tag}.zarr"), mode="r")
    if kind == "dask":
        return da.from_array(arr, chunks=(60, arr.shape[1]))
    raise AssertionError(kind)


KINDS = ["array", "memmap", "hdf5", "zarr", "dask"]


def _train(driver, x, y, client, transform=None, epochs=2):
    net = make_net()
    net.input_transform = transform
    if driver == "net.fit":
        losses = net.fit(x, y, 40, epochs, categorical=True, verbose=0)
    else:
        losses = nd.fit(
            net, x, y, 40, epochs, client=client, sync_every=1, categorical=True, verbose=0
        )
    return net, losses


@pytest.mark.parametrize("driver", ["net.fit", "distributed.fit"])
@pytest.mark.parametrize("kind", KINDS)
def test_uint8_with_scale_trains_like_prescaled_floats(driver, kind, pixels, client, tmp_path):
    """Issue 19: distributed.fit never applied net.input_transform (9.9% accuracy on
    uint8 MNIST with --workers 2). Every driver and input kind must train on the values
    predict serves: uint8 + Scale(1/255) equals the same run on floats scaled before."""
    x, y = pixels
    raw = as_kind(kind, x, tmp_path, "raw")
    scaled = as_kind(kind, x.astype(np.float64) * (1 / 255), tmp_path, "scaled")
    with_transform, losses_t = _train(driver, raw, y, client, Scale(1 / 255))
    prescaled, losses_p = _train(driver, scaled, y, client)
    # uint8 * (1/255) in float64 is the very product stored in the float copy; the
    # tolerance covers BLAS orders only (the same shapes run on both sides)
    np.testing.assert_allclose(
        with_transform.get_flat_params(), prescaled.get_flat_params(), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(losses_t, losses_p, rtol=1e-9)
    # and the raw values really are far from what training saw
    untransformed, _ = _train(driver, raw, y, client)
    assert not np.allclose(untransformed.get_flat_params(), prescaled.get_flat_params())


def test_a_generator_with_scale_trains_like_prescaled_floats(pixels):
    x, y = pixels
    net = make_net()
    net.input_transform = Scale(1 / 255)
    net.fit(
        lambda: ((x[i : i + 40], y[i : i + 40]) for i in range(0, N, 40)),
        None,
        None,
        2,
        categorical=True,
        verbose=0,
    )
    floats = x.astype(np.float64) * (1 / 255)
    ref = make_net()
    ref.fit(
        lambda: ((floats[i : i + 40], y[i : i + 40]) for i in range(0, N, 40)),
        None,
        None,
        2,
        categorical=True,
        verbose=0,
    )
    np.testing.assert_allclose(net.get_flat_params(), ref.get_flat_params(), rtol=1e-9, atol=1e-12)


def test_distributed_fit_refuses_a_batch_function_at_the_start(pixels, client):
    """Issue 19: x as a batch function raised AttributeError deep inside distributed.fit."""
    x, y = pixels
    net = make_net()
    before = net.get_flat_params()

    class Batches:  # an iterable object, as a Keras PyDataset is
        def __iter__(self):
            return iter([(x, y)])

    for batches in (lambda: iter([(x, y)]), Batches()):
        with pytest.raises(TypeError, match="cannot take a batch generator.*net.fit"):
            nd.fit(net, batches, None, 40, 1, client=client, categorical=True, verbose=0)
    np.testing.assert_array_equal(net.get_flat_params(), before)


@pytest.mark.parametrize("form", ["memmap", "hdf5", "zarr", "dask", "batch function"])
def test_distributed_validation_data_of_every_kind(form, pixels, client, tmp_path):
    """Issue 19: validation_data=(memmap, y) or a batch function crashed after epoch 1
    ("Value after * must be an iterable, not ArraySource")."""
    x, y = pixels
    xf = x.astype(np.float64) / 255
    x_val, y_val = xf[:100], y[:100]
    if form == "batch function":
        validation = lambda: ((x_val[i : i + 30], y_val[i : i + 30]) for i in range(0, 100, 30))  # noqa: E731
    else:
        validation = (as_kind(form, x_val, tmp_path, "val"), y_val)
    net = make_net()
    nd.fit(
        net, xf, y, 40, 2, client=client, categorical=True, verbose=0, validation_data=validation
    )
    assert len(net.history["val_loss"]) == 2
    assert net.history["val_loss"][-1] == pytest.approx(net.score(x_val, y_val), rel=1e-9)
    assert net.history["val_accuracy"][-1] == pytest.approx(
        net.score(x_val, y_val, accuracy=True), rel=1e-12
    )


def test_a_dask_x_with_an_empty_chunk_trains(pixels, client):
    """Issue 19: a Dask x with an empty chunk was called "empty"."""
    x, y = pixels
    xf = x.astype(np.float64) / 255
    with_empty = da.from_array(xf, chunks=((60, 60, 0, 60, 60), (FEATURES,)))
    assert 0 in with_empty.chunks[0]
    net, ref = make_net(), make_net()
    kwargs = dict(client=client, categorical=True, verbose=0, sync_every=2)
    nd.fit(net, with_empty, y, 40, 2, **kwargs)
    nd.fit(ref, da.from_array(xf, chunks=60), y, 40, 2, **kwargs)
    # the empty chunk holds no rows: the same partitions, the same steps
    np.testing.assert_array_equal(net.get_flat_params(), ref.get_flat_params())


class _EpochStarts:
    def set_network(self, network):
        self.network = network
        self.kept = []

    def on_epoch_begin(self, epoch, logs):
        self.kept.append(self.network.get_flat_params())


@pytest.mark.parametrize("kind", ["memmap", "hdf5", "zarr", "dask"])
@pytest.mark.parametrize("driver", ["net.fit", "distributed.fit"])
def test_a_nan_in_one_partition_is_named_by_its_global_row(kind, driver, pixels, client, tmp_path):
    """Issue 19: a NaN in one partition was reported at its row inside the chunk, and the
    parameters were not put back to the epoch's start (the rule net.fit keeps)."""
    x, y = pixels
    xf = x.astype(np.float64) / 255
    xf[197, 5] = np.nan  # in the second half: another partition than the first rows
    data = as_kind(kind, xf, tmp_path, "nan")
    net, starts = make_net(), _EpochStarts()
    with pytest.raises(ValueError, match=r"row 197, column 5"):
        if driver == "net.fit":
            net.fit(data, y, 40, 2, categorical=True, verbose=0, callbacks=[starts], shuffle=False)
        else:
            nd.fit(
                net,
                data,
                y,
                40,
                2,
                client=client,
                categorical=True,
                verbose=0,
                sync_every=1,
                callbacks=[starts],
            )
    np.testing.assert_array_equal(net.get_flat_params(), starts.kept[-1])
    assert net.history.get("loss", []) == []


def test_partitions_travel_as_their_description(pixels, tmp_path):
    """A memory map's partition pickles as its file, offset and rows, not as its data."""
    import pickle

    from nnscratch import data

    big = np.zeros((20000, 100), dtype=np.uint8)  # 2 MB
    np.save(tmp_path / "big.npy", big)
    mm = np.load(tmp_path / "big.npy", mmap_mode="r")
    net = NeuralNetwork([100, 3], "relu", "softmax", "categorical_crossentropy", SGD(), seed=0)
    source = data.data_source(net, mm, np.zeros(20000, dtype=int), True)
    for start, stop in [(0, 20000), (5000, 12000)]:
        view = mm[start:]  # a view of the map finds its place in the file too
        piece = nd._piece(view, 0, stop - start)
        part = nd._make_partition(
            piece, source.y[start:stop], start, stop, None, None, source.encoder, np.float64, None
        )
        blob = pickle.dumps(part)
        assert len(blob) < 100_000
        again = pickle.loads(blob)
        np.testing.assert_array_equal(again.source.x, mm[start:stop])
        assert isinstance(again.source.x, np.memmap)


def test_a_file_the_workers_cannot_see_is_named(tmp_path):
    piece = nd._MemmapFile(str(tmp_path / "gone.npy"), 128, "|u1", (10, 4))
    with pytest.raises(OSError, match="visible to every worker"):
        nd._make_partition(
            piece, np.zeros(10, dtype=np.uint8), 0, 10, None, None, None, np.float64, None
        )
