"""Input transforms: per-batch changes of the inputs, with ONE registry.

A transform runs on every batch after its conversion to the network's dtype,
in training, validation, ``predict`` and ``score`` alike; set it on the
network (``net.input_transform = Scale(1 / 255)``).  Model files store it by
its registry name and settings (:func:`transform_to_config`), and the ONNX
export asks each transform for its own nodes (:meth:`Transform.to_onnx`), so
a transform registered here is known to every part of the library at once.
"""

from __future__ import annotations

import numpy as np

from .. import _checks
from ..registry import Registry
from .reading import iter_x_chunks

input_transforms = Registry("input transform")


class Transform:
    """A per-batch change of the inputs, applied after conversion to the network's dtype.

    Subclasses set ``name`` (their registry name), implement ``__call__`` (a
    new array, never changing its argument, which may be the caller's data)
    and ``get_config`` (settings JSON can hold, such that
    ``type(t)(**t.get_config())`` rebuilds ``t``).
    """

    name = None

    def __call__(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def to_onnx(self, graph, x, n_features):  # pragma: no cover - abstract
        """Add the ONNX nodes that compute this transform; return the output's name.

        Parameters
        ----------
        graph : graph builder
            Anything with ``constant(array, name) -> str`` (stores an array
            in the graph's dtype) and ``node(op_type, inputs, **attributes)
            -> str`` (adds one operator, returns its output's name), as
            :class:`nnscratch.export.OnnxGraph` has.
        x : str
            The name of the tensor entering the transform, shape
            ``(batch, n_features)``.
        n_features : int
            The width of ``x``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no ONNX form: give it a to_onnx(graph, x, "
            f"n_features) method to export networks that use it"
        )

    def __eq__(self, other):
        return type(other) is type(self) and _same_config(self.get_config(), other.get_config())

    __hash__ = None

    def __repr__(self):
        settings = ", ".join(f"{k}={_short(v)}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"


class Scale(Transform):
    """``x * factor + offset``: e.g. ``Scale(1 / 255)`` maps uint8 pixels onto [0, 1].

    Parameters
    ----------
    factor : float
    offset : float
    """

    name = "scale"

    def __init__(self, factor, offset=0.0):
        self.factor = _checks.check_number("factor", factor, owner="Scale")
        self.offset = _checks.check_number("offset", offset, owner="Scale")

    def __call__(self, x):
        out = np.multiply(x, x.dtype.type(self.factor))
        if self.offset:
            out += x.dtype.type(self.offset)
        return out

    def get_config(self):
        return {"factor": self.factor, "offset": self.offset}

    def to_onnx(self, graph, x, n_features):
        """``Mul`` by the factor, then ``Add`` the offset when there is one."""
        x = graph.node("Mul", [x, graph.constant(np.asarray(self.factor), "scale_factor")])
        if self.offset != 0:
            x = graph.node("Add", [x, graph.constant(np.asarray(self.offset), "scale_offset")])
        return x


class Standardize(Transform):
    """``(x - mean) / std`` with statistics fixed beforehand (one per feature, or one for all).

    Parameters
    ----------
    mean : float or array-like of shape (n_features,)
    std : float or array-like of shape (n_features,)
        Positive; a feature whose spread is 0 in the data should get 1 here.
    """

    name = "standardize"

    def __init__(self, mean, std):
        self.mean = _float_vector("mean", mean)
        self.std = _float_vector("std", std)
        if (self.std <= 0).any():
            raise ValueError(
                "Standardize: std must be positive everywhere (give 1 to "
                "features that do not vary)"
            )
        if self.mean.size > 1 and self.std.size > 1 and self.mean.size != self.std.size:
            raise ValueError(
                f"Standardize: mean has {self.mean.size} entries but std has {self.std.size}"
            )

    @classmethod
    def fit(cls, x, chunk_rows=65536):
        """Statistics of ``x`` (any input kind), computed a chunk of rows at a time.

        Numerically stable whatever the data's offset: every chunk is read in
        float64 and shifted by the first row (so a feature that never varies
        gets a spread of exactly 0, and data centred at 1e9 with spread 1 is
        summed as numbers of size 1); each chunk's mean and sum of squared
        deviations are computed in two passes over the chunk and merged into
        the running ones with Chan's pairwise rule.

        Parameters
        ----------
        x : array, memmap, chunked store or batch generator, shape (n, n_features)
        chunk_rows : int
            Rows read at a time; memory stays a few chunks of float64.

        Returns
        -------
        Standardize
            ``std`` is the population spread (dividing by ``n``); features
            that do not vary get 1.
        """
        shift = mean = m2 = None
        n = 0
        for part in iter_x_chunks(x, chunk_rows, np.float64):
            if part.shape[0] == 0:
                continue
            if shift is None:
                shift = part[0].copy()
                mean = np.zeros_like(shift)
                m2 = np.zeros_like(shift)
            d = part - shift
            n_b = part.shape[0]
            mean_b = d.mean(axis=0)
            d -= mean_b
            m2_b = np.einsum("ij,ij->j", d, d)
            total = n + n_b
            delta = mean_b - mean
            mean = mean + delta * (n_b / total)
            m2 = m2 + m2_b + delta**2 * (n * n_b / total)
            n = total
        if n == 0:
            raise ValueError("Standardize.fit: x is empty: it has 0 samples")
        std = np.sqrt(m2 / n)
        std[std == 0] = 1.0
        return cls(shift + mean, std)

    def __call__(self, x):
        mean = self.mean.astype(x.dtype)
        std = self.std.astype(x.dtype)
        out = np.subtract(x, mean if mean.size > 1 else mean[0])
        out /= std if std.size > 1 else std[0]
        return out

    def get_config(self):
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    def to_onnx(self, graph, x, n_features):
        """``Sub`` the mean, then ``Div`` by the spread (one value, or one per feature)."""
        for name, value in (("mean", self.mean), ("std", self.std)):
            if value.size not in (1, n_features):
                raise ValueError(
                    f"Standardize has {value.size} {name} values, but the network "
                    f"takes {n_features} features"
                )
        x = graph.node("Sub", [x, graph.constant(self.mean, "mean")])
        return graph.node("Div", [x, graph.constant(self.std, "std")])


def _float_vector(name, value):
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all():
        raise ValueError(
            f"Standardize: {name} must be a finite number or a 1-D array of "
            f"them, got shape {np.shape(value)}"
        )
    return arr


def _same_config(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _short(value):
    if isinstance(value, list) and len(value) > 3:
        return f"[{len(value)} values]"
    return repr(value)


input_transforms.register("scale", Scale)
input_transforms.register("standardize", Standardize)


def register_transform(name, cls, *, overwrite=False):
    """Register your own :class:`Transform` subclass so model files can name it."""
    return input_transforms.register(name, cls, overwrite=overwrite)


def transform_to_config(transform):
    """``{"name": ..., "config": {...}}`` for a model file, or None for no transform."""
    if transform is None:
        return None
    name = getattr(transform, "name", None)
    if not name or name not in input_transforms:
        raise ValueError(
            f"the input transform {transform!r} has no registered name; register "
            f"its class with nnscratch.data.register_transform(name, cls) so "
            f"model files can store it"
        )
    return {"name": name, "config": transform.get_config()}


def transform_from_config(spec):
    """The transform a model file describes (the inverse of :func:`transform_to_config`)."""
    if spec is None:
        return None
    return input_transforms.get(spec["name"])(**spec.get("config", {}))


def check_transform(transform):
    """None or a callable taking and returning a 2-D array; refuses anything else."""
    if transform is not None and not callable(transform):
        raise TypeError(
            f"input_transform must be None or a callable such as "
            f"nnscratch.data.Scale(1 / 255), got {type(transform).__name__}"
        )
    return transform
