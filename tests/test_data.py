"""Data sources (nnscratch.data): arrays, memory maps, chunked stores, generators, transforms."""

import sys
import threading
import zipfile

import numpy as np
import pytest

from nnscratch import NeuralNetwork, data
from nnscratch.data import ChunkedSource, TargetEncoder


def make_net(n_in=6, n_out=3, dtype=np.float64, seed=3):
    return NeuralNetwork(
        [n_in, 8, n_out],
        "relu",
        "softmax",
        "categorical_crossentropy",
        "adam",
        dtype=dtype,
        seed=seed,
    )


def toy(n=700, d=6, classes=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(dtype)
    y = np.abs(x[:, 0] * 3).astype(int) % classes
    return x, y


def zarr_array(array, chunk_rows):
    """``array`` as a real (in-memory) zarr array cut into chunks of ``chunk_rows`` rows."""
    zarr = pytest.importorskip("zarr")
    return zarr.array(array, chunks=(chunk_rows, array.shape[1]))


class CountingStore:
    """A real zarr array behind a thin proxy that records every read.

    The tests that use it assert *which* reads a source makes (whole chunks, by row
    slices), and zarr keeps no record of the reads it serves: the proxy only counts them
    and passes each one on. Shape, dtype, chunks and the data are the zarr array's own.
    """

    def __init__(self, array, chunk_rows):
        self.store = zarr_array(array, chunk_rows)
        self.shape, self.dtype, self.chunks = self.store.shape, self.store.dtype, self.store.chunks
        self.reads = []

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise AssertionError(f"a chunked store must be read by row slices, got {key!r}")
        start, stop, _ = key.indices(self.shape[0])
        self.reads.append((start, stop))
        return self.store[key]


def rows_of_epoch(source, batch_size, rng, shuffle=True):
    return [
        np.arange(b.rows.start, b.rows.stop) if isinstance(b.rows, slice) else np.asarray(b.rows)
        for b in source.batches(batch_size, rng, shuffle)
    ]


def chunked(x, y, chunk_rows, buffer=None, categorical=True, weights=None):
    store = CountingStore(x, chunk_rows)
    encoder = TargetEncoder(int(y.max()) + 1, np.float64, categorical)
    return store, ChunkedSource(
        store, encoder.prepare(y, x.shape[0]), encoder, weights, np.float64, shuffle_buffer=buffer
    )


# ------------------------------------------------------------------ memory maps
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "options", [{}, {"validation_split": 0.2}, {"shuffle": False}, {"class_weight": "balanced"}]
)
def test_float_memmap_trains_bit_identically_to_the_array(tmp_path, dtype, options):
    x, y = toy(dtype=dtype)
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    a, b = make_net(dtype=dtype), make_net(dtype=dtype)
    la = a.fit(x, y, 32, 3, categorical=True, verbose=0, **options)
    lb = b.fit(mapped, y, 32, 3, categorical=True, verbose=0, **options)
    assert la == lb
    assert np.array_equal(a.get_flat_params(), b.get_flat_params())
    if "validation_split" in options:  # held-out rows are scored in another order
        np.testing.assert_allclose(a.history["val_loss"], b.history["val_loss"], rtol=1e-5)
        # rows in another order may round differently in BLAS: a label flips only on a tie
        n_val = len(y) - int(len(y) * 0.8)
        np.testing.assert_allclose(
            a.history["val_accuracy"], b.history["val_accuracy"], atol=2 / n_val
        )


@pytest.mark.parametrize("source_dtype", [np.uint8, np.int16, np.float16, np.float32])
def test_memmap_of_any_dtype_trains_like_the_converted_array(tmp_path, source_dtype):
    rng = np.random.default_rng(1)
    x = (rng.random((300, 6)) * 100).astype(source_dtype)
    y = rng.integers(0, 3, 300)
    np.save(tmp_path / "x.npy", x)
    a, b = make_net(), make_net()
    a.fit(x.astype(np.float64), y, 16, 2, categorical=True, verbose=0)
    b.fit(np.load(tmp_path / "x.npy", mmap_mode="r"), y, 16, 2, categorical=True, verbose=0)
    assert np.array_equal(a.get_flat_params(), b.get_flat_params())


# -------------------------------------------------------------- chunked stores
@pytest.mark.parametrize(
    "n, chunk, batch, buffer",
    [
        (100, 7, 10, 1),
        (100, 7, 10, 13),
        (100, 100, 9, 50),
        (257, 32, 32, 1000),
        (64, 1, 5, 5),
        (50, 20, 64, 3),
    ],
)
def test_chunked_epoch_covers_every_row_once_and_reads_whole_chunks(n, chunk, batch, buffer):
    x, y = toy(n=n)
    store, source = chunked(x, y, chunk, buffer)
    rng = np.random.default_rng(5)
    for _ in range(3):
        store.reads.clear()
        batches = list(source.batches(batch, rng, True))
        rows = np.concatenate([np.asarray(b.rows) for b in batches])
        assert np.array_equal(np.sort(rows), np.arange(n))
        for b in batches:  # each batch holds the values of the rows it names
            assert np.array_equal(b.x, x[np.asarray(b.rows)])
            assert np.array_equal(b.y.argmax(axis=1), y[np.asarray(b.rows)])
        assert all(b.x.shape[0] == min(batch, n) for b in batches[:-1])
        assert sorted(store.reads) == [(s, min(s + chunk, n)) for s in range(0, n, chunk)]


def test_chunked_order_is_reproducible_and_depends_on_the_seed():
    x, y = toy(n=300)
    _, source = chunked(x, y, 25, 40)

    def order(seed):
        return np.concatenate(rows_of_epoch(source, 16, np.random.default_rng(seed)))

    assert np.array_equal(order(0), order(0))
    assert not np.array_equal(order(0), order(1))
    # fit draws from the network's generator: same seed, same training
    a, b = make_net(), make_net()
    sa, sb = chunked(x, y, 25, 40)[1], chunked(x, y, 25, 40)[1]
    assert a.fit(sa.x, y, 16, 2, categorical=True, verbose=0, shuffle_buffer=40) == b.fit(
        sb.x, y, 16, 2, categorical=True, verbose=0, shuffle_buffer=40
    )


def test_chunked_without_shuffle_is_storage_order_and_trains_like_the_array():
    x, y = toy(n=333)
    store, source = chunked(x, y, 50)
    rows = np.concatenate(rows_of_epoch(source, 32, None, shuffle=False))
    assert np.array_equal(rows, np.arange(333))
    a, b = make_net(), make_net()
    la = a.fit(x, y, 32, 2, categorical=True, verbose=0, shuffle=False)
    lb = b.fit(store, y, 32, 2, categorical=True, verbose=0, shuffle=False)
    assert la == lb and np.array_equal(a.get_flat_params(), b.get_flat_params())


def test_shuffle_buffer_size_controls_how_far_a_batch_reaches():
    n, chunk, batch = 1000, 10, 10
    x, y = toy(n=n)
    spread = {}
    for buffer in (batch, n):
        _, source = chunked(x, y, chunk, buffer)
        first = rows_of_epoch(source, batch, np.random.default_rng(0))[0]
        spread[buffer] = len(np.unique(first // chunk))  # chunks the first batch draws on
    assert spread[batch] == 1  # a one-batch buffer holds one chunk: no mixing across chunks
    assert spread[n] >= 8  # a full buffer is a full shuffle: rows from all over


def test_row_blocks_follow_dask_blocks_and_cut_big_chunks(tmp_path):
    da = pytest.importorskip("dask.array")
    blocks = da.from_array(np.zeros((10, 4), np.float32), chunks=((3, 3, 4), (4,)))
    assert data.row_blocks(blocks) == [(0, 3), (3, 6), (6, 10)]  # Dask's block sizes per axis
    store = zarr_array(np.zeros((100, 10)), 100)
    assert data.row_blocks(store, max_bytes=10 * 8 * 30) == [
        (0, 30),
        (30, 60),
        (60, 90),
        (90, 100),
    ]
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "flat.h5", "w") as handle:
        flat = handle.create_dataset("x", data=np.zeros((100, 10)))
        assert flat.chunks is None  # a contiguous HDF5 data set
        assert data.row_blocks(flat, max_bytes=10 * 8 * 40) == [(0, 40), (40, 80), (80, 100)]


def test_chunked_validation_split_holds_out_whole_chunks():
    x, y = toy(n=400)
    store = CountingStore(x, 50)
    net = make_net()
    net.fit(store, y, 20, 1, categorical=True, verbose=0, validation_split=0.25)
    reads = set(store.reads)
    assert reads <= {(s, s + 50) for s in range(0, 400, 50)}
    assert "val_loss" in net.history
    from nnscratch import training

    _, source = chunked(x, y, 50)
    train, val = training.split_validation(make_net(), source, 0.25)
    assert set(train.blocks).isdisjoint(val.blocks)
    assert sorted(train.blocks + val.blocks) == source.blocks
    assert val.n_samples >= 100 and len(val.blocks) == 2
    with pytest.raises(ValueError, match="only 1 chunk"):
        training.split_validation(make_net(), chunked(x, y, 400)[1], 0.2)


# ------------------------------------------------------------------- generators
def batches_of(x, y, size, w=None):
    for start in range(0, x.shape[0], size):
        part = slice(start, start + size)
        yield (x[part], y[part]) if w is None else (x[part], y[part], w[part])


class Dataset:
    """Keras-PyDataset-like: a fresh pass per __iter__."""

    def __init__(self, x, y, size):
        self.x, self.y, self.size, self.passes = x, y, size, 0

    def __iter__(self):
        self.passes += 1
        return batches_of(self.x, self.y, self.size)


@pytest.mark.parametrize("weighted", [False, True])
def test_generator_in_order_trains_like_unshuffled_arrays(weighted):
    x, y = toy()
    w = np.random.default_rng(2).random(x.shape[0]) if weighted else None
    a, b = make_net(), make_net()
    la = a.fit(x, y, 50, 3, categorical=True, verbose=0, shuffle=False, sample_weight=w)
    lb = b.fit(lambda: batches_of(x, y, 50, w), None, None, 3, categorical=True, verbose=0)
    assert la == lb and np.array_equal(a.get_flat_params(), b.get_flat_params())
    if not weighted:  # the positional call with an ignored batch size, an iterable object
        c = make_net()
        dataset = Dataset(x, y, 50)
        assert c.fit(dataset, None, 999, 3, True, verbose=0) == la
        assert dataset.passes == 3


def test_steps_per_epoch_limits_each_epoch_and_reads_on_a_one_shot_iterator():
    x, y = toy(n=600)
    calls = []

    def endless():
        calls.append(1)
        while True:
            yield from batches_of(x, y, 40)

    net = make_net()
    counts = []

    class Count:
        def set_model(self, model):
            pass

        def on_epoch_begin(self, epoch, logs):
            counts.append(0)

        def on_batch_end(self, batch, logs):
            counts[-1] += 1

    net.fit(endless, epochs=3, categorical=True, verbose=0, steps_per_epoch=4, callbacks=[Count()])
    assert counts == [4, 4, 4] and len(calls) == 3
    # one iterator read on across epochs: epoch 2 continues where epoch 1 stopped
    a, b = make_net(), make_net()
    a.fit(endless(), epochs=2, categorical=True, verbose=0, steps_per_epoch=5)
    b.fit(batches_of(x[:400], y[:400], 40), epochs=1, categorical=True, verbose=0)
    assert np.array_equal(a.get_flat_params(), b.get_flat_params())
    with pytest.raises(ValueError, match="used up by the first epoch"):
        make_net().fit(batches_of(x, y, 40), epochs=2, categorical=True, verbose=0)


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda x, y: [(x, y, None, None)], "yield"),
        (lambda x, y: [x], "yield"),
        (lambda x, y: [(x[:, :4], y)], "x of batch 0 has 4 features"),
        (lambda x, y: [(x[:10], y[:10]), (x[:10], y[:9])], "batch 1 has 9 rows"),
        (lambda x, y: [(x[:5], y[:5], -np.ones(5))], "negative"),
        (lambda x, y: [(x[:5], None)], "no targets"),
        (lambda x, y: [], "no batches"),
    ],
)
def test_generator_refuses_bad_batches_naming_the_batch(bad, match):
    x, y = toy()
    with pytest.raises((TypeError, ValueError), match=match):
        make_net().fit(lambda: iter(bad(x, y)), epochs=1, categorical=True, verbose=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y": np.zeros(3)}, "y=None"),
        ({"sample_weight": np.ones(3)}, "sample_weight"),
        ({"shuffle_buffer": 10}, "shuffle_buffer"),
        ({"class_weight": "balanced"}, "class_weight"),
        ({"validation_split": 0.2}, "validation_split needs"),
    ],
)
def test_generator_refuses_array_only_options(kwargs, match):
    x, y = toy()
    with pytest.raises((TypeError, ValueError), match=match):
        make_net().fit(
            lambda: batches_of(x, y, 50), epochs=1, categorical=True, verbose=0, **kwargs
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps_per_epoch": 3}, "steps_per_epoch applies to batch generators"),
        ({"shuffle_buffer": 10}, "shuffle_buffer applies to chunked stores"),
        ({"batch_size": None}, "batch_size is required"),
        ({"y": None}, "y is required"),
        ({"prefetch": "yes"}, "prefetch"),
        ({"prefetch": 3}, "prefetch"),
    ],
)
def test_array_input_refuses_stream_only_options(kwargs, match):
    x, y = toy()
    args = {"y": y, "batch_size": 10, **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        make_net().fit(x, epochs=1, categorical=True, verbose=0, **args)


# ------------------------------------------------------------------- transforms
@pytest.mark.parametrize(
    "transform",
    [
        data.Scale(1 / 255),
        data.Scale(2.0, -1.0),
        data.Standardize(3.0, 2.0),
        data.Standardize(np.arange(6.0), np.arange(1.0, 7.0)),
    ],
)
def test_transforms_rebuild_from_their_config_and_never_touch_their_input(transform):
    spec = data.transform_to_config(transform)
    import json

    rebuilt = data.transform_from_config(json.loads(json.dumps(spec)))
    assert rebuilt == transform and spec["name"] == type(transform).name
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    before = x.copy()
    out = transform(x)
    assert out.dtype == np.float32 and np.array_equal(x, before)
    assert np.array_equal(out, rebuilt(x))
    assert data.transform_to_config(None) is None and data.transform_from_config(None) is None


def test_scale_on_uint8_trains_like_the_prescaled_array(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (400, 6), dtype=np.uint8)
    y = rng.integers(0, 3, 400)
    np.save(tmp_path / "p.npy", pixels)
    a, b = make_net(dtype=np.float32), make_net(dtype=np.float32)
    a.fit(pixels.astype(np.float32) * np.float32(1 / 255), y, 32, 2, categorical=True, verbose=0)
    b.input_transform = data.Scale(1 / 255)
    b.fit(np.load(tmp_path / "p.npy", mmap_mode="r"), y, 32, 2, categorical=True, verbose=0)
    assert np.array_equal(a.get_flat_params(), b.get_flat_params())
    assert np.array_equal(
        a.predict(pixels.astype(np.float32) * np.float32(1 / 255)), b.predict(pixels)
    )
    assert a.score(pixels / 255.0, y, accuracy=True) == b.score(pixels, y, accuracy=True)


def test_standardize_fit_streams_and_matches_numpy():
    x, _ = toy(n=1000)
    x = x * np.arange(1, 7) + 5
    t = data.Standardize.fit(zarr_array(x, 64))
    np.testing.assert_allclose(t.mean, x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(t.std, x.std(axis=0), rtol=1e-8)


def test_transform_errors_are_clear():
    class Unnamed(data.Transform):
        def __call__(self, x):
            return x[:, :2]

        def get_config(self):
            return {}

    with pytest.raises(ValueError, match="no registered name"):
        data.transform_to_config(Unnamed())
    net = make_net()
    net.input_transform = Unnamed()
    with pytest.raises(ValueError, match="must keep both"):
        net.predict(np.zeros((2, 6)))
    net.input_transform = "scale"
    with pytest.raises(TypeError, match="input_transform"):
        net.predict(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="std must be positive"):
        data.Standardize(0.0, 0.0)
    with pytest.raises(ValueError, match="already registered"):
        data.register_transform("scale", data.Scale)


# ------------------------------------------------------------------- prefetch
@pytest.mark.parametrize("kind", ["array", "memmap", "chunked", "generator"])
def test_prefetch_changes_nothing_but_timing(tmp_path, kind):
    x, y = toy(n=500)
    np.save(tmp_path / "x.npy", x)

    def inputs():
        if kind == "array":
            return x, y, 25
        if kind == "memmap":
            return np.load(tmp_path / "x.npy", mmap_mode="r"), y, 25
        if kind == "chunked":
            return zarr_array(x, 60), y, 25
        return (lambda: batches_of(x, y, 25)), None, None

    results = []
    for depth in (0, 1, 2):
        net = make_net()
        xs, ys, batch = inputs()
        losses = net.fit(xs, ys, batch, 2, categorical=True, verbose=0, prefetch=depth)
        results.append((losses, net.get_flat_params()))
    for losses, params in results[1:]:
        assert losses == results[0][0] and np.array_equal(params, results[0][1])


def test_prefetch_hands_errors_to_the_caller_and_stops_its_thread():
    def failing():
        yield 1
        yield 2
        raise KeyError("from the source")

    got = []
    with pytest.raises(KeyError, match="from the source"):
        for item in data.prefetch(failing(), 1):
            got.append(item)
    assert got == [1, 2]
    before = threading.active_count()
    stream = data.prefetch(iter(range(10**6)), 2)
    assert next(stream) == 0
    stream.close()  # leaving the loop early ends the thread
    assert threading.active_count() == before


# -------------------------------------------------------------------- open files
def test_open_data_file_maps_npy_and_npz_members(tmp_path):
    x, y = toy(n=50)
    np.save(tmp_path / "x.npy", x)
    mapped = data.open_data_file(tmp_path / "x.npy")
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, x)
    fortran = np.asfortranarray(x.astype(np.float32))
    np.savez(tmp_path / "d.npz", x=x, y=y, f=fortran)
    for key, want in (("x", x), ("y", y), ("f", fortran)):
        member = data.open_data_file(f"{tmp_path / 'd.npz'}:{key}")
        assert isinstance(member, np.memmap) and np.array_equal(member, want)
        assert member.dtype == want.dtype
        assert np.array_equal(data.open_data_file(tmp_path / "d.npz", key), want)
    np.savez(tmp_path / "one.npz", only=y)
    assert np.array_equal(data.open_data_file(tmp_path / "one.npz"), y)
    with pytest.raises(ValueError, match="holds 3 arrays"):
        data.open_data_file(tmp_path / "d.npz")
    with pytest.raises(ValueError, match="no array 'z'"):
        data.open_data_file(tmp_path / "d.npz", "z")
    np.savez_compressed(tmp_path / "c.npz", x=x)
    with pytest.raises(ValueError, match="compressed"):
        data.open_data_file(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="cannot tell the format"):
        data.open_data_file(tmp_path / "x.csv")
    with zipfile.ZipFile(tmp_path / "d.npz") as archive:  # the members really are stored
        assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())


def test_open_data_file_reads_hdf5_and_zarr(tmp_path):
    h5py = pytest.importorskip("h5py")
    zarr = pytest.importorskip("zarr")
    x, y = toy(n=50)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("images", data=x, chunks=(10, 6))
        f.create_dataset("labels", data=y)
    images = data.open_data_file(f"{tmp_path / 'd.h5'}:images")
    assert isinstance(images, h5py.Dataset) and np.array_equal(images[:], x)
    with pytest.raises(ValueError, match="holds 2 arrays"):
        data.open_data_file(tmp_path / "d.h5")
    z = zarr.open(str(tmp_path / "x.zarr"), mode="w", shape=x.shape, chunks=(10, 6), dtype=x.dtype)
    z[:] = x
    assert np.array_equal(data.open_data_file(tmp_path / "x.zarr")[:], x)
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    group.create_array("x", shape=x.shape, chunks=(10, 6), dtype=x.dtype)[:] = x
    assert np.array_equal(data.open_data_file(f"{tmp_path / 'g.zarr'}:x")[:], x)


@pytest.mark.parametrize("module, suffix", [("h5py", ".h5"), ("zarr", ".zarr")])
def test_missing_optional_package_names_the_extra(tmp_path, monkeypatch, module, suffix):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[ooc\]'"):
        data.open_data_file(tmp_path / f"d{suffix}")


def test_prefetch_auto_is_off_where_it_was_measured_not_to_pay():
    from nnscratch import training

    x, y = toy(n=50)
    net = make_net()

    def depth(xs, ys=y):
        return training.prefetch_depth("auto", training.data_source(net, xs, ys, True))

    # on an idle 2-core machine the thread paid for no source (benchmarks/out_of_core.md)
    assert depth(x) == 0  # already the network's dtype: a batch is a plain copy
    assert depth(x.astype(np.uint8)) == 0  # converted per batch
    assert depth(zarr_array(x, 10)) == 0  # a chunked store
    assert depth(lambda: batches_of(x, y, 10), None) == 0
    assert training.prefetch_depth(True, None) == 1 and training.prefetch_depth(2, None) == 2
    # last, so that only this line needs Dask
    assert depth(pytest.importorskip("dask.array").from_array(x, chunks=(10, x.shape[1]))) == 0
