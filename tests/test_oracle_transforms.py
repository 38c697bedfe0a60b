"""Input transforms against their closed forms, and training with a transform against
training on data transformed beforehand.

``Scale(f, o)(x) == x * f + o`` and ``Standardize(m, s)(x) == (x - m) / s``.  Setting
``net.input_transform`` must be exactly the same as handing the network the transformed
floats: in the training batches, on every validation path (``validation_data`` as
arrays, as a memory map and as a chunked store; ``validation_split`` of arrays, of a
memory map and of a chunked store), in ``predict`` and in ``score``, for every source
kind.  Guards the bug where one validation path skipped the transform.
"""

import copy

import numpy as np
import pytest

from nnscratch import SGD, NeuralNetwork
from nnscratch.data import Scale, Standardize

DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factor,offset", [(1 / 255, 0.0), (2.5, -1.25), (-0.5, 3.0)])
def test_scale_is_x_times_factor_plus_offset(factor, offset, dtype):
    x = np.random.default_rng(0).uniform(0, 255, size=(9, 4)).astype(dtype)
    kept = x.copy()
    out = Scale(factor, offset)(x)
    assert out.dtype == dtype
    expected = x.astype(np.float64) * factor + offset
    # float32: the transform rounds factor and offset to float32 (a few ulps)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * 255)
    np.testing.assert_array_equal(x, kept)  # never changes its argument


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "mean,std",
    [
        (0.5, 2.0),
        ([1.0, -2.0, 0.0, 3.0], [0.5, 1.0, 2.0, 4.0]),
        (1.5, [0.5, 1.0, 2.0, 4.0]),
        ([1.0, -2.0, 0.0, 3.0], 3.0),
    ],
)
def test_standardize_is_x_minus_mean_over_std(mean, std, dtype):
    x = np.random.default_rng(1).normal(size=(9, 4)).astype(dtype)
    kept = x.copy()
    out = Standardize(mean, std)(x)
    assert out.dtype == dtype
    expected = (x.astype(np.float64) - np.asarray(mean)) / np.asarray(std)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol * 10)
    np.testing.assert_array_equal(x, kept)


def test_standardize_fit_gives_the_columns_mean_and_population_std():
    rng = np.random.default_rng(2)
    x = rng.normal(loc=[1, -3, 0, 7], scale=[0.5, 2, 1, 3], size=(500, 4))
    x[:, 2] = 4.0  # a constant feature gets std 1, so it is only shifted
    t = Standardize.fit(x, chunk_rows=64)  # several chunks: the sums are accumulated
    np.testing.assert_allclose(t.mean, x.mean(axis=0), rtol=1e-12, atol=1e-12)
    expected_std = x.std(axis=0)
    expected_std[2] = 1.0
    # one-pass variance (E[x^2] - mean^2) against NumPy's two-pass: agree to ~1e-12
    np.testing.assert_allclose(t.std, expected_std, rtol=1e-9)
    out = t(x)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(out.std(axis=0)[[0, 1, 3]], 1, rtol=1e-9)


# ------------------------------------------------------------------ training routes
N, D = 120, 4
TRANSFORMS = {
    "scale": Scale(1 / 255, -0.5),
    "standardize": Standardize([100.0, 120.0, 90.0, 140.0], [60.0, 70.0, 80.0, 50.0]),
}


def raw_data():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(N, D)).astype(np.float64)  # pixel-like values
    y = rng.integers(0, 3, size=N)
    return x, y


def store(kind, x, tmp_path, name):
    """``x`` as a source of ``kind`` (float64, so the stored and the given values agree)."""
    if kind == "array":
        return x
    if kind == "memmap":
        path = tmp_path / f"{name}.npy"
        np.save(path, x)
        return np.load(path, mmap_mode="r")
    if kind == "hdf5":
        h5py = pytest.importorskip("h5py")
        return h5py.File(tmp_path / f"{name}.h5", "w").create_dataset("x", data=x, chunks=(20, D))
    if kind == "zarr":
        zarr = pytest.importorskip("zarr")
        z = zarr.open_array(
            str(tmp_path / f"{name}.zarr"), mode="w", shape=x.shape, chunks=(20, D), dtype=x.dtype
        )
        z[:] = x
        return z
    if kind == "dask":
        da = pytest.importorskip("dask.array")
        return da.from_array(x, chunks=(20, D))
    raise AssertionError(kind)


def pair_of_nets():
    """Two identical networks (same parameters, generator state and optimizer)."""
    net = NeuralNetwork(
        [D, 6, 3], "tanh", "softmax", "categorical_crossentropy", SGD(0.2, 0.5), seed=0
    )
    return net, copy.deepcopy(net)


SOURCES = ["array", "memmap", "hdf5", "zarr", "dask"]
CHUNKED = {"hdf5", "zarr", "dask"}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("kind", SOURCES)
@pytest.mark.parametrize("validation", ["data", "split"])
def test_fit_with_a_transform_equals_fit_on_transformed_data(
    kind, transform, validation, tmp_path
):
    t = TRANSFORMS[transform]
    x, y = raw_data()
    x_val, y_val = x[:30] + 3.0, y[:30]
    with_t, without = pair_of_nets()
    with_t.input_transform = t
    kwargs_raw = dict(batch_size=16, epochs=3, categorical=True, verbose=0)
    kwargs_pre = dict(kwargs_raw)
    if validation == "data":
        kwargs_raw["validation_data"] = (store(kind, x_val, tmp_path, "vr"), y_val)
        kwargs_pre["validation_data"] = (store(kind, t(x_val), tmp_path, "vp"), y_val)
    else:
        kwargs_raw["validation_split"] = kwargs_pre["validation_split"] = 0.25
    with_t.fit(store(kind, x, tmp_path, "raw"), y, **kwargs_raw)
    without.fit(store(kind, t(x), tmp_path, "pre"), y, **kwargs_pre)
    # transforming each batch or the whole array first gives the same floats (elementwise
    # operations), and training then does the same arithmetic on the same shapes
    np.testing.assert_allclose(
        with_t.get_flat_params(), without.get_flat_params(), rtol=1e-12, atol=1e-14
    )
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        np.testing.assert_allclose(with_t.history[key], without.history[key], rtol=1e-12)
    # the untransformed network would see other numbers: the comparison can fail
    plain = copy.deepcopy(with_t)
    plain.input_transform = None
    assert not np.allclose(plain.predict(x[:10]), with_t.predict(x[:10]))


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("kind", SOURCES)
def test_predict_and_score_apply_the_transform(kind, transform, tmp_path):
    t = TRANSFORMS[transform]
    x, y = raw_data()
    net, plain = pair_of_nets()
    net.input_transform = t
    raw, pre = store(kind, x, tmp_path, "raw"), store(kind, t(x), tmp_path, "pre")
    np.testing.assert_allclose(net.predict(raw), plain.predict(pre), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(net.predict(raw, labels=True), plain.predict(pre, labels=True))
    assert net.score(raw, y, accuracy=True) == plain.score(pre, y, accuracy=True)
    one_hot = np.eye(3)[y]
    assert net.score(raw, one_hot) == pytest.approx(plain.score(pre, one_hot), rel=1e-12)
    # one sample, 1-D
    np.testing.assert_allclose(net.predict(x[0]), plain.predict(t(x[:1])[0]), rtol=1e-12)
