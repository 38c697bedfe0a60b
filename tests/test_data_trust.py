"""Issue 20's data-layer classes, each closed over its class: predict's ``out`` for labels,
the shuffle buffer's cap, generators that run short, one-shot validation generators,
NaNs in streamed validation data, truncated memory maps and Dask arrays of unknown chunk
sizes."""

import os
import warnings

import numpy as np
import pytest

from nnscratch import SGD, NeuralNetwork


def classifier(classes, n_in=4, seed=0):
    return NeuralNetwork(
        [n_in, 8, classes], "relu", "softmax", "categorical_crossentropy", SGD(0.1), seed=seed
    )


# ------------------------------------------------------------- 1. out= for labels
@pytest.mark.parametrize("classes", [2, 3, 200, 300, 1000, 70_000])
@pytest.mark.parametrize(
    "dtype",
    [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.float16, np.float32, np.int64],
)
def test_predict_labels_refuses_an_out_that_cannot_hold_them(classes, dtype, tmp_path):
    """Issue 20, item 1: labels were written into any dtype (997 stored as 229 in uint8,
    2991 as 2992.0 in float16). Every dtype either holds every label or is refused."""
    net = classifier(classes)
    x = np.random.default_rng(0).normal(size=(50, 4))
    largest = classes - 1
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else None
    holds = {
        "b": largest <= 1,
        "f": info is not None and largest <= 2 ** (info.nmant + 1),
    }.get(np.dtype(dtype).kind, np.dtype(dtype).kind in "iu" and np.iinfo(dtype).max >= largest)
    for given in (x, np.lib.format.open_memmap(tmp_path / "x.npy", "w+", np.float64, x.shape)):
        given[:] = x
        out = np.zeros(50, dtype=dtype)
        if holds:
            net.predict(given, labels=True, out=out)
            assert np.array_equal(out.astype(np.int64), net.predict(x, labels=True))
        else:
            with pytest.raises(TypeError, match=f"dtype {np.dtype(dtype)}.*0 to {largest}"):
                net.predict(given, labels=True, out=out)
            assert not out.any()  # nothing half-written


# ------------------------------------------------------------- 14. shuffle_buffer cap
class _Store:
    def __init__(self, arr, rows):
        self.arr, self.shape, self.dtype, self.chunks = arr, arr.shape, arr.dtype, (rows, 4)

    def __getitem__(self, key):
        return self.arr[key]


@pytest.mark.parametrize("asked", [5_000, 5_001, 10**6, 10**9, 10**15])
def test_shuffle_buffer_is_capped_at_the_rows(asked):
    """Issue 20, item 14: shuffle_buffer=10**9 on 5,000 rows asked for 44.7 GiB."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5000, 4)), rng.integers(0, 3, 5000)
    a, b = classifier(3), classifier(3)
    la = a.fit(_Store(x, 500), y, 64, 1, categorical=True, verbose=0, shuffle_buffer=asked)
    lb = b.fit(_Store(x, 500), y, 64, 1, categorical=True, verbose=0, shuffle_buffer=5000)
    assert la == lb  # a buffer of every row is a full shuffle: the same draws
    np.testing.assert_array_equal(a.get_flat_params(), b.get_flat_params())


# ------------------------------------------------------------- 5. steps_per_epoch too large
@pytest.mark.parametrize("make", ["one-shot", "function", "iterable"])
def test_a_generator_shorter_than_steps_per_epoch_warns_and_stops(make):
    """Issue 20, item 5: a one-pass generator of 100 batches with steps_per_epoch=40 gave
    epochs of 40, 40 and 20 batches silently."""
    rng = np.random.default_rng(3)
    batches = [(rng.normal(size=(8, 4)), rng.integers(0, 3, 8)) for _ in range(100)]

    class Batches:
        def __iter__(self):
            return iter(batches)

    given = {"one-shot": iter(batches), "function": lambda: iter(batches), "iterable": Batches()}
    net = classifier(3)
    steps = 40 if make == "one-shot" else 130
    with pytest.warns(
        UserWarning, match=f"ran out of data in epoch .* of steps_per_epoch={steps}"
    ):
        losses = net.fit(given[make], epochs=5, categorical=True, verbose=0, steps_per_epoch=steps)
    # the short epoch is the last one trained
    assert len(losses) == (3 if make == "one-shot" else 1)


def test_a_generator_that_fills_steps_per_epoch_does_not_warn():
    rng = np.random.default_rng(3)
    batches = [(rng.normal(size=(8, 4)), rng.integers(0, 3, 8)) for _ in range(10)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses = classifier(3).fit(
            lambda: iter(batches), epochs=3, categorical=True, verbose=0, steps_per_epoch=10
        )
    assert len(losses) == 3


# ------------------------------------------------------------- 10. one-shot validation
def test_a_one_shot_validation_generator_is_refused_at_the_start():
    """Issue 20, item 10: it was used up by epoch 1 and refused after epoch 2."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(40, 4)), rng.integers(0, 3, 40)
    net = classifier(3)
    before = net.get_flat_params()
    one_shot = ((x[i : i + 10], y[i : i + 10]) for i in range(0, 40, 10))
    with pytest.raises(TypeError, match="one-shot generator.*lambda"):
        net.fit(x, y, 8, 2, categorical=True, verbose=0, validation_data=one_shot)
    np.testing.assert_array_equal(net.get_flat_params(), before)
    assert net.history == {}


# ------------------------------------------------------------- 9. NaN in streamed validation
@pytest.mark.parametrize("kind", ["memmap", "hdf5", "zarr", "store", "generator"])
def test_a_nan_in_streamed_validation_leaves_no_unrecorded_epoch(kind, tmp_path):
    """Issue 20, item 9: a NaN in streamed validation data was found after the epoch
    trained, leaving the network an epoch ahead of its history."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(60, 4)), rng.integers(0, 3, 60)
    xv, yv = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    xv[17, 2] = np.nan
    if kind == "memmap":
        np.save(tmp_path / "v.npy", xv)
        validation = (np.load(tmp_path / "v.npy", mmap_mode="r"), yv)
    elif kind == "hdf5":
        h5py = pytest.importorskip("h5py")
        with h5py.File(tmp_path / "v.h5", "w") as f:
            f["v"] = xv
        validation = (h5py.File(tmp_path / "v.h5", "r")["v"], yv)
    elif kind == "zarr":
        zarr = pytest.importorskip("zarr")
        z = zarr.open(str(tmp_path / "v.zarr"), mode="w", shape=xv.shape, dtype=xv.dtype)
        z[:] = xv
        validation = (z, yv)
    elif kind == "store":
        validation = (_Store(xv, 10), yv)
    else:
        validation = lambda: iter([(xv[:15], yv[:15]), (xv[15:], yv[15:])])  # noqa: E731
    net = classifier(3)
    first = net.get_flat_params()
    with pytest.raises(ValueError, match="validation x holds non-finite .* row 17, column 2"):
        net.fit(x, y, 16, 3, categorical=True, verbose=0, validation_data=validation)
    np.testing.assert_array_equal(net.get_flat_params(), first)
    assert net.history.get("loss", []) == []


# ------------------------------------------------------------- 16. truncated memory map
@pytest.mark.parametrize("call", ["fit", "predict", "score", "validation"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_a_memmap_truncated_after_opening_is_a_clear_error(call, dtype, tmp_path):
    """Issue 20, item 16: it killed the interpreter with SIGBUS in fit and predict."""
    rng = np.random.default_rng(6)
    x = (rng.random((20_000, 4)) * 100).astype(dtype)
    y = rng.integers(0, 3, 20_000)
    path = tmp_path / "x.npy"
    np.save(path, x)
    mapped = np.load(path, mmap_mode="r")
    os.truncate(path, 4096)  # another program shortens the file
    net = classifier(3)
    with pytest.raises(ValueError, match="truncated or rewritten after it was opened"):
        if call == "fit":
            net.fit(mapped, y, 64, 1, categorical=True, verbose=0)
        elif call == "predict":
            net.predict(mapped)
        elif call == "score":
            net.score(mapped, y)
        else:
            net.fit(x, y, 64, 1, categorical=True, verbose=0, validation_data=(mapped, y))


# ------------------------------------------------------------- 17. Dask unknown chunks
@pytest.mark.parametrize("call", ["fit", "predict", "score"])
def test_dask_arrays_of_unknown_chunk_sizes_are_named(call):
    """Issue 20, item 17: fit said "x has nan samples", predict raised a foreign TypeError."""
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.random.default_rng(7).normal(size=(100, 4)), chunks=25)
    x = x[x[:, 0] > -10]  # boolean indexing: the chunk sizes become unknown
    assert np.isnan(x.shape[0])
    y = np.zeros(100, dtype=int)
    net = classifier(3)
    with pytest.raises(ValueError, match=r"chunk sizes are unknown.*compute_chunk_sizes\(\)"):
        if call == "fit":
            net.fit(x, y, 10, 1, categorical=True, verbose=0)
        elif call == "predict":
            net.predict(x)
        else:
            net.score(x, y)
