"""Shuffling asserted directly, for every kind of source ``fit`` reads.

What training sees is observed from outside, through public hooks only: the first
feature of every row holds the row's number, an input transform of our own records the
rows of each batch as the network receives them, and a loss pair of our own records the
targets (whose first column holds the row's number too), so we can check that rows and
targets travel together.  The loss is 0, so nothing is learned and nothing diverges.

For every source (in-memory array, memory map, HDF5 via h5py, Zarr, Dask array) each
epoch must be a permutation of all rows (every row exactly once), not the stored order,
different from the previous epoch and under another seed, and the same for the same
seed.  For arrays and memory maps the order is the generator's ``permutation(n)`` each
epoch: the expected plan is drawn here from a copy of the network's generator, never
with the function under test.
"""

import copy

import numpy as np
import pytest

from nnscratch import NeuralNetwork

N, D = 96, 3


class RowRecorder:
    """An input transform that records the row numbers (first feature) of every batch."""

    def __init__(self):
        self.batches = []

    def __call__(self, x):
        self.batches.append(x[:, 0].astype(np.int64))
        return x


def zero_loss(records):
    def loss(y_pred, y_true):
        records.append(np.asarray(y_true)[:, 0].astype(np.int64))
        return np.zeros((y_pred.shape[0], 1))

    def d_loss(y_pred, y_true):
        return np.zeros((y_pred.shape[0], 1, y_pred.shape[1]))

    return loss, d_loss


def data():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.arange(N), rng.normal(size=(N, D - 1))])
    y = np.column_stack([np.arange(N), rng.normal(size=N)])
    return x, y


def make_source(kind, x, tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    if kind == "array":
        return x
    if kind == "memmap":
        path = tmp_path / "x.npy"
        np.save(path, x)
        return np.load(path, mmap_mode="r")
    if kind == "hdf5":
        h5py = pytest.importorskip("h5py")
        handle = h5py.File(tmp_path / "x.h5", "w")
        return handle.create_dataset("x", data=x, chunks=(16, D))
    if kind == "zarr":
        zarr = pytest.importorskip("zarr")
        store = zarr.open_array(
            str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(16, D), dtype=x.dtype
        )
        store[:] = x
        return store
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        return da.from_array(x, chunks=(16, D))
    raise AssertionError(kind)


SOURCES = ["array", "memmap", "hdf5", "zarr", "dask"]


def run(kind, tmp_path, seed, epochs=3, batch_size=10, **fit_kwargs):
    """The rows of each epoch as training saw them, and the network's generator before fit."""
    x, y = data()
    source = make_source(kind, x, tmp_path)
    y_rows = []
    net = NeuralNetwork([D, 4, 2], "tanh", "identity", zero_loss(y_rows), "sgd", seed=seed)
    y_rows.clear()  # the constructor tries the loss once on a probe batch
    recorder = RowRecorder()
    net.input_transform = recorder
    generator = copy.deepcopy(net.rng)
    net.fit(source, y, batch_size=batch_size, epochs=epochs, verbose=0, **fit_kwargs)
    per_batch = recorder.batches
    assert len(per_batch) == len(y_rows)
    for xs, ys in zip(per_batch, y_rows):  # targets travel with their rows
        np.testing.assert_array_equal(xs, ys)
    steps = -(-N // batch_size)
    assert len(per_batch) == epochs * steps
    return [np.concatenate(per_batch[e * steps : (e + 1) * steps]) for e in range(epochs)], (
        generator
    )


@pytest.mark.parametrize("kind", SOURCES)
def test_every_epoch_is_a_fresh_permutation_of_all_rows(kind, tmp_path):
    epochs, _ = run(kind, tmp_path, seed=1)
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(N))  # every row exactly once
        assert not np.array_equal(order, np.arange(N))  # shuffled, not the stored order
    for a, b in zip(epochs, epochs[1:]):
        assert not np.array_equal(a, b)  # a new order each epoch


@pytest.mark.parametrize("kind", SOURCES)
def test_same_seed_same_order_other_seed_other_order(kind, tmp_path):
    first, _ = run(kind, tmp_path / "a", seed=5)
    again, _ = run(kind, tmp_path / "b", seed=5)
    other, _ = run(kind, tmp_path / "c", seed=6)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not any(np.array_equal(a, c) for a, c in zip(first, other))


@pytest.mark.parametrize("kind", ["array", "memmap"])
def test_arrays_follow_the_generators_permutation_each_epoch(kind, tmp_path):
    """The documented plan: one ``rng.permutation(n)`` per epoch from the network's generator."""
    epochs, generator = run(kind, tmp_path, seed=np.random.default_rng(42))
    for order in epochs:
        np.testing.assert_array_equal(order, generator.permutation(N))


@pytest.mark.parametrize("kind", ["hdf5", "zarr", "dask"])
def test_a_small_shuffle_buffer_still_uses_every_row_once_and_mixes_chunks(kind, tmp_path):
    epochs, _ = run(kind, tmp_path, seed=3, shuffle_buffer=8, batch_size=4)
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(N))
        assert not np.array_equal(order, np.arange(N))
    # a buffer of 8 rows holds rows of one or two 16-row chunks at a time, so the first
    # rows of an epoch come from the first chunk visited: not always chunk 0
    first_chunks = {int(order[0]) // 16 for order in epochs}
    assert first_chunks != {0}
    assert not np.array_equal(epochs[0], epochs[1])


@pytest.mark.parametrize("kind", SOURCES)
def test_shuffle_false_keeps_the_stored_order(kind, tmp_path):
    epochs, _ = run(kind, tmp_path, seed=1, epochs=2, shuffle=False)
    for order in epochs:
        np.testing.assert_array_equal(order, np.arange(N))
