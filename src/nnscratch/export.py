"""Export trained networks to ONNX, so that any ONNX runtime can serve them.

One call turns a network (or a fitted :class:`~nnscratch.sklearn.NNClassifier` /
:class:`~nnscratch.sklearn.NNRegressor`) into an ONNX model: a single file that
ONNX Runtime runs from C++, C#, Java, JavaScript, mobile apps or databases,
without Python or nnscratch::

    from nnscratch.export import to_onnx

    to_onnx(net, "model.onnx")

The graph is the network's forward pass written with standard ONNX operators:

.. code-block:: text

    input (batch, n_features)
      -> stored input transforms      (x - offset) * scale, ...
      -> Gemm -> hidden activation     once per hidden layer
      -> Gemm -> output activation
      -> probabilities / values        (batch, n_outputs)
      -> label                         (batch,), classifiers only

Only what ``predict`` computes goes into the graph: dropout is off at
inference, and the loss and the optimizer play no part.  The batch dimension is
dynamic, so one model serves one sample or a million.

Built-in activations map to ONNX operators: relu, sigmoid, tanh, softmax and
identity directly; leaky_relu (slope 0.01), elu (alpha 1) and softplus to their
operators in float32, and in float64 to a few elementary operators computing the
same function, because ONNX Runtime's CPU provider has no float64 kernel for
them.  A user's own ``(f, df)`` pair is Python code that ONNX cannot express, so
such a network is refused with an error naming the piece, before anything is
written.

Input transforms
----------------
The network's input transform (``net.input_transform``, applied by
``predict``) is exported too, so the ONNX model takes raw input; it is the one
home of input scaling (model files of 0.2 that kept the command line's scaling
in ``metadata["input_offset"/"input_scale"]`` are converted when loaded).  A
transform that has a ``to_onnx(graph, x, n_features)`` method builds its own
nodes with :class:`OnnxGraph`; any other is a *spec*, a dict with a ``"name"``
and its settings (or an object whose ``get_config()`` returns one), mapped to
ONNX nodes by the exporter registered under that name (see
:func:`register_input_transform`).

``nnscratch.data``'s transforms (``Scale``, ``Standardize``) carry their ONNX
form themselves.  Specs written by hand as dicts are checked and built by the exporters
registered under their names: ``"offset_scale"`` (``offset``, ``scale``:
``(x - offset) * scale``), ``"scale"`` (``factor``, ``offset``) and
``"standardize"`` (``mean``, ``std``), the last two through the classes' own
ONNX form.  A
transform with neither is refused before anything is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from . import _checks
from .data.transforms import Scale, Standardize, Transform

__all__ = [
    "to_onnx",
    "register_input_transform",
    "input_transforms",
    "DEFAULT_OPSET",
    "MIN_OPSET",
]

#: The opset written when none is asked for: supported by ONNX Runtime 1.12
#: (2022) and later, and by every current ONNX runtime.
DEFAULT_OPSET = 17
#: Softmax works row by row (over the last axis only) from opset 13 on.
MIN_OPSET = 13

_INPUT = "input"
_LABEL = "label"
_PROBABILITIES = "probabilities"
_VALUES = "values"
_BATCH = "batch"
_MAX_BYTES = 2**31 - 1  # protobuf's limit for one serialized message

# The built-in activations the graph can express, by registry name.  Whether a
# network's activation is one of them is the pair's own answer (its ``builtin``
# name), so a user's pair, even one registered under a built-in's name, is
# recognised as a user's pair.
_HIDDEN = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "softplus", "identity")
_OUTPUT = ("softmax", "sigmoid", "identity", "exp")
#: The output activations of classifiers: their networks get a "label" output by default.
CLASSIFIER_OUTPUTS = ("softmax", "sigmoid")


def _import_onnx():
    """The ``onnx`` package, or an ImportError that says how to get it."""
    try:
        import onnx
    except ImportError as err:
        raise ImportError(
            "exporting to ONNX needs the onnx package: "
            "pip install -e '.[onnx]' in the checkout (or pip install onnx)"
        ) from err
    return onnx


# --------------------------------------------------------------------------- #
# A small graph builder
# --------------------------------------------------------------------------- #


class OnnxGraph:
    """Collects the nodes and constants of the graph being built.

    Input-transform exporters receive one of these; they need only
    :meth:`constant` and :meth:`node`.

    Attributes
    ----------
    dtype : numpy.dtype
        float32 or float64: the type of the input, of every constant made with
        :meth:`constant` and of all arithmetic.
    n_features : int
        Width of the input, ``layers[0]``.
    """

    def __init__(self, onnx, dtype, n_features):
        self._onnx = onnx
        self.dtype = np.dtype(dtype)
        self.n_features = n_features
        self.nodes = []
        self.initializers = []
        self._count = 0

    def __repr__(self):
        return (
            f"OnnxGraph(dtype={self.dtype.name}, n_features={self.n_features}, "
            f"{len(self.nodes)} nodes, {len(self.initializers)} constants)"
        )

    def _fresh(self, stem):
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, value, name="const", dtype=None):
        """Store an array in the graph; returns the name to use as a node input.

        Parameters
        ----------
        value : array-like
            Any shape; converted to ``dtype`` (default: the graph's dtype).
            Strings are stored as an ONNX string tensor.
        name : str
            Stem of the name (a number is appended to keep names unique).
        """
        array = np.asarray(value)
        if array.dtype.kind in "USO":
            array = np.asarray([str(v) for v in array.ravel()], dtype=object).reshape(array.shape)
        else:
            array = array.astype(self.dtype if dtype is None else dtype)
        tensor = self._onnx.numpy_helper.from_array(array, self._fresh(name))
        self.initializers.append(tensor)
        return tensor.name

    def node(self, op, inputs, name=None, **attributes):
        """Add one ONNX operator; returns the name of its (single) output.

        Parameters
        ----------
        op : str
            The ONNX operator, e.g. ``"Sub"``, ``"Mul"``, ``"Gemm"``.
        inputs : list of str
            Names of graph tensors (the input, constants, other nodes' outputs).
        name : str, optional
            Name of the output; by default a fresh one made from ``op``.
        **attributes
            The operator's attributes (``alpha=0.01``, ``axis=1``, ...).
        """
        output = name or self._fresh(op.lower())
        self.nodes.append(
            self._onnx.helper.make_node(
                op, list(inputs), [output], name=self._fresh(op), **attributes
            )
        )
        return output


# --------------------------------------------------------------------------- #
# Input transforms: name -> exporter
# --------------------------------------------------------------------------- #

#: Exporters of input transforms, by spec name.  Each one is called as
#: ``exporter(graph, x, spec)`` with the :class:`OnnxGraph`, the name of the
#: tensor entering the transform and the spec dict; it adds its nodes and
#: returns the name of the transformed tensor.
input_transforms = {}


def register_input_transform(
    name: str, exporter: Callable[[OnnxGraph, str, dict], str], *, overwrite: bool = False
) -> Callable[[OnnxGraph, str, dict], str]:
    """Teach the exporter a per-batch input transform.

    Parameters
    ----------
    name : str
        The ``"name"`` of the specs this exporter handles.
    exporter : callable
        ``exporter(graph, x, spec) -> str``: adds ONNX nodes computing the
        transform of tensor ``x`` (shape ``(batch, n_features)``) with the
        settings in ``spec`` and returns the output tensor's name.  It should
        raise ValueError for settings it cannot use; that happens before
        anything is written.
    overwrite : bool
        Replace an exporter already registered under ``name``.

    Examples
    --------
    >>> def clip(graph, x, spec):
    ...     low = graph.constant(spec["low"], "low")
    ...     high = graph.constant(spec["high"], "high")
    ...     return graph.node("Clip", [x, low, high])
    >>> register_input_transform("clip", clip)            # doctest: +SKIP
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"an input transform's name must be a non-empty string, got {name!r}")
    if not callable(exporter):
        raise TypeError(f"exporter must be callable as exporter(graph, x, spec), got {exporter!r}")
    if name in input_transforms and not overwrite:
        raise ValueError(
            f"an input transform named {name!r} is already registered; "
            f"pass overwrite=True to replace it"
        )
    input_transforms[name] = exporter
    return exporter


def _per_feature(graph, spec, key, default):
    """A setting as an array of shape () or (n_features,), checked."""
    value = spec.get(key, default)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"the input transform {spec['name']!r} has a {key!r} that is not numeric: {value!r}"[
                :300
            ]
        ) from None
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] not in (1, graph.n_features)):
        raise ValueError(
            f"the input transform {spec['name']!r} has a {key!r} of shape "
            f"{array.shape}; expected one number or one per feature "
            f"({graph.n_features})"
        )
    return array


def _offset_scale(graph, x, spec):
    """``(x - offset) * scale`` (for specs written by hand)."""
    offset = _per_feature(graph, spec, "offset", 0.0)
    scale = _per_feature(graph, spec, "scale", 1.0)
    if np.any(offset != 0):
        x = graph.node("Sub", [x, graph.constant(offset, "input_offset")])
    if np.any(scale != 1):
        x = graph.node("Mul", [x, graph.constant(scale, "input_scale")])
    return x


def _scale(graph, x, spec):
    """A hand-written ``{"name": "scale", "factor": ..., "offset": ...}`` spec, checked
    here and built by :class:`nnscratch.data.Scale`'s own ONNX form."""
    if "factor" not in spec:
        raise ValueError(f"the input transform 'scale' needs a 'factor'; got {spec!r}"[:300])
    factor = _per_feature(graph, spec, "factor", 1.0)
    offset = _per_feature(graph, spec, "offset", 0.0)
    if factor.ndim == 0 and offset.ndim == 0:
        return Scale(float(factor), float(offset)).to_onnx(graph, x, graph.n_features)
    # one factor and offset per feature (e.g. scikit-learn's MinMaxScaler): the same
    # two nodes as Scale's, with vectors that Scale itself does not take
    x = graph.node("Mul", [x, graph.constant(factor, "scale_factor")])
    if np.any(offset != 0):
        x = graph.node("Add", [x, graph.constant(offset, "scale_offset")])
    return x


def _standardize(graph, x, spec):
    """A hand-written ``{"name": "standardize", "mean": ..., "std": ...}`` spec, checked
    here and built by :class:`nnscratch.data.Standardize`'s own ONNX form."""
    missing = [key for key in ("mean", "std") if key not in spec]
    if missing:
        raise ValueError(
            f"the input transform 'standardize' needs {' and '.join(missing)}; got {spec!r}"[:300]
        )
    mean = _per_feature(graph, spec, "mean", 0.0)
    std = _per_feature(graph, spec, "std", 1.0)
    return Standardize(mean, std).to_onnx(graph, x, graph.n_features)


register_input_transform("offset_scale", _offset_scale)
register_input_transform("scale", _scale)
register_input_transform("standardize", _standardize)


def _as_spec(item):
    """A transform spec as a dict with a 'name'."""
    if hasattr(item, "get_config"):  # nnscratch.data transforms: name + settings
        spec = dict(item.get_config())
        spec.setdefault("name", getattr(item, "name", None))
    else:
        spec = item
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise TypeError(
            f"an input transform must be a dict with a 'name' (or an object whose "
            f"get_config() returns one); got {item!r}"[:300]
        )
    return spec


def _stored_transforms(net):
    """Every input transform stored with ``net`` (``net.input_transform``), in the order
    they apply, each checked to have an ONNX form before any node is built."""
    meta = getattr(net, "metadata", None)
    legacy = [k for k in ("input_offset", "input_scale") if isinstance(meta, dict) and k in meta]
    if legacy:
        raise ValueError(
            f"cannot export: metadata[{legacy[0]!r}] is the 0.2 command line's input "
            f"scaling, which predict never applied; set net.input_transform instead "
            f"(nnscratch.data.Scale(factor) or Standardize(mean, std)) and remove "
            f"{' and '.join(repr(k) for k in legacy)} from the metadata"
        )
    stored = getattr(net, "input_transform", None)
    if stored is None:
        return []
    items = list(stored) if isinstance(stored, (list, tuple)) else [stored]
    for item in items:
        if not _knows_its_onnx_form(item):
            spec = _as_spec(item)
            if spec["name"] not in input_transforms:
                raise ValueError(
                    f"cannot export the input transform {spec['name']!r}: no ONNX "
                    f"exporter is registered for it (known: "
                    f"{', '.join(sorted(input_transforms))}); add one with "
                    f"nnscratch.export.register_input_transform"
                )
    return items


def _knows_its_onnx_form(item):
    """Whether ``item`` builds its own ONNX nodes: it has a ``to_onnx`` method other
    than the base class's, which only says that there is none."""
    method = getattr(type(item), "to_onnx", None)
    return callable(method) and method is not getattr(Transform, "to_onnx", None)


def _transform_nodes(graph, x, item):
    """Nodes computing one input transform of tensor ``x``; returns the output's name.

    A transform that knows its ONNX form (a ``to_onnx(graph, x, n_features)``
    method, as ``nnscratch.data``'s do) builds its own nodes; anything else is
    a spec handled by the exporter registered under its name.
    """
    if _knows_its_onnx_form(item):
        return item.to_onnx(graph, x, graph.n_features)
    spec = _as_spec(item)
    return input_transforms[spec["name"]](graph, x, spec)


# --------------------------------------------------------------------------- #
# Activations
# --------------------------------------------------------------------------- #


def _builtin_name(activation, table, role):
    """The built-in name of ``activation``, or a ValueError naming the piece."""
    builtin = getattr(activation, "builtin", None)
    if builtin in table and getattr(activation, "kind", role) == role:
        return builtin
    name = getattr(activation, "name", None)
    pair = "(" + ", ".join(getattr(p, "__name__", type(p).__name__) for p in activation) + ")"
    what = f"{name!r} {pair}" if name else pair
    raise ValueError(
        f"cannot export to ONNX: the {role} activation {what} is a user's own "
        f"pair, which ONNX cannot express; only the built-in {role} activations "
        f"{', '.join(table)} can be exported"
    )


def _hidden_nodes(graph, x, name):
    """Nodes for a built-in hidden activation applied to tensor ``x``."""
    double = graph.dtype == np.float64
    if name == "identity":
        return x
    if name in ("relu", "sigmoid", "tanh"):
        return graph.node({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}[name], [x])
    if not double:  # ONNX Runtime implements these three for float32 only
        if name == "leaky_relu":
            return graph.node("LeakyRelu", [x], alpha=0.01)
        if name == "elu":
            return graph.node("Elu", [x], alpha=1.0)
        return graph.node("Softplus", [x])
    if name == "leaky_relu":  # max(z, 0.01 z) equals z for z > 0 and 0.01 z otherwise
        return graph.node("Max", [x, graph.node("Mul", [x, graph.constant(0.01, "slope")])])
    if name == "elu":  # z if z > 0 else exp(min(z, 0)) - 1
        negative = graph.node(
            "Sub",
            [
                graph.node("Exp", [graph.node("Min", [x, graph.constant(0.0, "zero")])]),
                graph.constant(1.0, "one"),
            ],
        )
        positive = graph.node("Greater", [x, graph.constant(0.0, "zero")])
        return graph.node("Where", [positive, x, negative])
    # softplus: max(z, 0) + log(1 + exp(-|z|)), never overflows
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [x])])])
    log = graph.node("Log", [graph.node("Add", [tail, graph.constant(1.0, "one")])])
    return graph.node("Add", [graph.node("Relu", [x]), log])


def _output_nodes(graph, x, name, output):
    """Nodes for a built-in output activation, writing tensor ``output``."""
    if name == "softmax":
        return graph.node("Softmax", [x], name=output, axis=1)
    if name == "sigmoid":
        return graph.node("Sigmoid", [x], name=output)
    if name == "exp":  # the Poisson regressor's output
        return graph.node("Exp", [x], name=output)
    return x  # identity: the last Gemm already wrote ``output``


# --------------------------------------------------------------------------- #
# The export
# --------------------------------------------------------------------------- #


def _unwrap(model):
    """-> (network, estimator or None)."""
    if hasattr(model, "network_"):
        return model.network_, model
    if any(cls.__module__ == "nnscratch.sklearn" for cls in type(model).__mro__):
        raise ValueError(
            f"this {type(model).__name__} is not fitted yet; call fit before exporting it to ONNX"
        )
    if all(
        hasattr(model, attr)
        for attr in (
            "layers",
            "weights",
            "biases",
            "dtype",
            "hidden_activation",
            "output_activation",
        )
    ):
        return model, None
    raise TypeError(
        f"to_onnx exports a NeuralNetwork or a fitted NNClassifier / NNRegressor; "
        f"got {type(model).__name__}"
    )


def _check_dtype(dtype, net):
    chosen = net.dtype if dtype is None else dtype
    try:
        chosen = np.dtype(chosen)
    except TypeError:
        raise ValueError(f"dtype must be float32 or float64; got {dtype!r}") from None
    if chosen not in (np.float32, np.float64):
        what = "the network's dtype" if dtype is None else "dtype"
        raise ValueError(f"cannot export to ONNX: {what} must be float32 or float64; got {chosen}")
    return chosen


def _check_opset(opset, onnx):
    if opset is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if (
        isinstance(opset, bool)
        or not isinstance(opset, (int, np.integer))
        or not MIN_OPSET <= opset <= newest
    ):
        raise ValueError(
            f"opset must be an integer from {MIN_OPSET} to {newest} (the newest "
            f"this onnx package knows); got {opset!r}"
        )
    return int(opset)


def _class_values(classes):
    """``classes`` as an array ONNX can hold: int64, float64, bool or strings."""
    values = np.asarray(classes)
    if values.ndim != 1:
        raise ValueError(f"class labels must be one value per class; got shape {values.shape}")
    kind = values.dtype.kind
    if kind in "iu":
        if kind == "u" and values.size and values.max() > np.iinfo(np.int64).max:
            raise ValueError("class labels above 2**63 - 1 do not fit ONNX's int64 labels")
        return values.astype(np.int64)
    if kind in "fb":
        return values.astype(np.float64 if kind == "f" else np.bool_)
    if kind in "US" or (kind == "O" and all(isinstance(v, str) for v in values)):
        return np.asarray([str(v) for v in values], dtype=object)
    raise ValueError(
        f"class labels must be integers, numbers, booleans or strings to be "
        f"exported; got {values.dtype} values {values[:5].tolist()}"
    )


def _label_plan(net, estimator, output_name, labels):
    """What the label output computes: None, or ("threshold"|"argmax", class values)."""
    m = net.layers[-1]
    if estimator is not None:
        if labels is not None and not isinstance(labels, bool):
            raise TypeError(
                "for a scikit-learn estimator, labels must be True, False or None "
                "(the labels are its classes_)"
            )
        if not hasattr(estimator, "classes_"):
            if labels:
                raise ValueError(
                    f"labels=True, but a {type(estimator).__name__} predicts values, not labels"
                )
            return None
        if labels is False:
            return None
        if _binary_estimator(estimator, net):  # one logistic unit: classes_[a > 0.5]
            return ("threshold", _class_values(estimator.classes_))
        if output_name == "sigmoid":  # multi-label: a 0/1 matrix, like estimator.predict
            return ("threshold", None)
        return ("argmax", _class_values(estimator.classes_))
    if labels is None:
        labels = output_name in CLASSIFIER_OUTPUTS
    if labels is False:
        return None
    # a regression network has no labels, exactly as net.predict(labels=True) says
    what = "labels=True" if labels is True else "labels (a list of class names)"
    _checks.check_gives_labels(net, f"to_onnx({what})")
    # the rule of net.predict(labels=True): threshold a sigmoid or a single unit at 0.5
    rule = "threshold" if output_name == "sigmoid" or m == 1 else "argmax"
    if labels is True:
        return (rule, None)
    if isinstance(labels, (str, bytes)):
        raise TypeError(
            f"labels must be None, True, False or a sequence of class labels; "
            f"got the string {labels!r}"
        )
    values = _class_values(labels)
    expected = m if rule == "argmax" else (2 if m == 1 else None)
    if expected is None:
        raise ValueError(
            f"labels: a multi-label network ({m} sigmoid units) predicts a 0/1 "
            f"matrix, so it takes labels=True or False, not class names"
        )
    if values.shape[0] != expected:
        how = "one per output unit" if m > 1 else "below and above 0.5"
        raise ValueError(
            f"labels lists {values.shape[0]} classes, but the network predicts {expected} ({how})"
        )
    return (rule, values)


def _binary_estimator(estimator, net):
    """A two-class estimator whose network has one logistic unit (scikit-learn's layout)."""
    return (
        estimator is not None
        and hasattr(estimator, "classes_")
        and len(estimator.classes_) == 2
        and net.layers[-1] == 1
        and getattr(estimator, "_label_kind", None) != "multilabel"
    )


def _label_nodes(graph, probabilities, plan, m):
    """Append the label output; returns its ONNX element type and shape."""
    rule, values = plan
    tp = graph._onnx.TensorProto
    index_name = _LABEL if values is None else None  # class indices are the label
    if rule == "argmax":
        index = graph.node("ArgMax", [probabilities], name=index_name, axis=1, keepdims=0)
        shape = [_BATCH]
    else:
        above = graph.node("Greater", [probabilities, graph.constant(0.5, "threshold")])
        if m == 1:
            index = graph.node(
                "Reshape",
                [
                    graph.node("Cast", [above], to=tp.INT64),
                    graph.constant([-1], "flat", dtype=np.int64),
                ],
                name=index_name,
            )
            shape = [_BATCH]
        else:
            index = graph.node("Cast", [above], name=index_name, to=tp.INT64)
            shape = [_BATCH, m]
    if values is None:
        return tp.INT64, shape
    classes = graph.constant(values, "classes", dtype=values.dtype)
    graph.node("Gather", [classes, index], name=_LABEL, axis=0)
    element = (
        graph._onnx.helper.np_dtype_to_tensor_dtype(values.dtype)
        if values.dtype != object
        else tp.STRING
    )
    return element, shape


def to_onnx(
    net: nnscratch.NeuralNetwork | nnscratch.sklearn.NNClassifier | nnscratch.sklearn.NNRegressor,  # noqa: E501, F821
    path: str | os.PathLike | None = None,
    *,
    opset: int | None = None,
    dtype: str | np.dtype | type | None = None,
    labels: bool | Sequence | None = None,
) -> onnx.ModelProto:  # noqa: F821 (onnx is imported when called)
    """Build an ONNX model of a trained network; optionally write it to a file.

    Parameters
    ----------
    net : NeuralNetwork, or a fitted NNClassifier / NNRegressor
        Its activations must be built-ins (hidden: relu, sigmoid, tanh,
        leaky_relu, elu, softplus, identity; output: softmax, sigmoid,
        identity).
    path : str or path-like, optional
        Write the model here (atomically: a crash never leaves half a file).
    opset : int, optional
        ONNX operator set version, from :data:`MIN_OPSET` (13) to the newest
        the installed ``onnx`` knows; default :data:`DEFAULT_OPSET` (17).
    dtype : {None, 'float32', 'float64'}
        Element type of the input, the weights and the outputs; default the
        network's own.  Exporting a float64 network as float32 halves the file
        and speeds inference, at float32's precision.
    labels : None, bool or sequence
        Add a ``"label"`` output.  None (default): for classifiers (softmax or
        sigmoid output) only.  True: always, by the rule of
        ``net.predict(labels=True)`` (arg-max; a sigmoid or single-unit output
        thresholded at 0.5), as int64.  A sequence gives each class's label
        instead of its index (one per output unit; two for a single unit:
        below and above 0.5), as an int64, double, bool or string tensor.
        For an estimator the labels are its ``classes_`` (multi-label: the
        0/1 matrix of ``predict``); pass False to leave them out.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker``.  Input ``"input"`` of shape
        ``(batch, n_features)``; outputs ``"label"`` (when asked for) and then
        ``"probabilities"`` (softmax or sigmoid output) or ``"values"``
        (identity output), shape ``(batch, n_outputs)`` (a 1-D regressor's
        values: ``(batch,)``, like its ``predict``).

    Raises
    ------
    ValueError
        A user's own activation pair, an unsupported dtype or opset, an input
        transform without an exporter: always before anything is written.
    ImportError
        The ``onnx`` package is missing (``pip install -e '.[onnx]' in the checkout``).

    Examples
    --------
    >>> model = to_onnx(net, "digits.onnx")                  # doctest: +SKIP
    >>> import onnxruntime                                    # doctest: +SKIP
    >>> session = onnxruntime.InferenceSession("digits.onnx")  # doctest: +SKIP
    >>> label, proba = session.run(None, {"input": x.astype(np.float32)})  # doctest: +SKIP
    """
    onnx = _import_onnx()
    steps = getattr(net, "steps", None)
    if isinstance(steps, list) and steps and isinstance(steps[-1], tuple):
        # a scikit-learn pipeline: its last step, if it is ours, knows how to export it
        # (scalers become input transforms); nothing else here imports the estimators
        hook = getattr(steps[-1][-1], "_export_pipeline_to_onnx", None)
        if hook is None:
            raise TypeError(
                f"to_onnx exports a pipeline only when it ends in NNClassifier or "
                f"NNRegressor, got a Pipeline ending in {type(steps[-1][-1]).__name__}; "
                f"for other pipelines use skl2onnx.to_onnx"
            )
        return hook(net, path, opset=opset, dtype=dtype, labels=labels)
    network, estimator = _unwrap(net)
    hidden = _builtin_name(network.hidden_activation, _HIDDEN, "hidden")
    output = _builtin_name(network.output_activation, _OUTPUT, "output")
    dtype = _check_dtype(dtype, network)
    opset = _check_opset(opset, onnx)
    plan = _label_plan(network, estimator, output, labels)
    layers = [int(k) for k in network.layers]
    # an NNRegressor with one output predicts a 1-D array, as MLPRegressor does
    flat_values = (
        estimator is not None and not hasattr(estimator, "classes_") and network.layers[-1] == 1
    )

    graph = OnnxGraph(onnx, dtype, layers[0])
    x = _INPUT
    for item in _stored_transforms(network):
        x = _transform_nodes(graph, x, item)
    result = _VALUES if output in ("identity", "exp") else _PROBABILITIES
    binary = _binary_estimator(estimator, network)
    # the output layer's tensor
    final = "values_2d" if flat_values else ("positive" if binary else result)
    last = len(layers) - 2
    for i, (w, b) in enumerate(zip(network.weights, network.biases)):
        named = i == last and output == "identity"  # a linear output layer ends with Gemm
        z = graph.node(
            "Gemm",
            [x, graph.constant(w, f"W{i}"), graph.constant(np.reshape(b, -1), f"b{i}")],
            name=final if named else None,
        )
        x = _hidden_nodes(graph, z, hidden) if i < last else z
    x = _output_nodes(graph, x, output, final)
    m = layers[-1]
    result_shape = [_BATCH, m]
    label_source = result
    if binary:  # predict_proba's two columns: 1 - a and a
        one = graph.constant(np.ones((1, 1), dtype=dtype), "one")
        graph.node("Concat", [graph.node("Sub", [one, final]), final], name=result, axis=1)
        result_shape = [_BATCH, 2]
        label_source = final
    if flat_values:  # a regressor fitted on 1-D y predicts a 1-D array
        graph.node("Reshape", [x, graph.constant([-1], "flat", dtype=np.int64)], name=result)
        result_shape = [_BATCH]

    helper = onnx.helper
    element = helper.np_dtype_to_tensor_dtype(dtype)
    outputs = [helper.make_tensor_value_info(result, element, result_shape)]
    if plan is not None:
        label_type, label_shape = _label_nodes(graph, label_source, plan, m)
        outputs.insert(0, helper.make_tensor_value_info(_LABEL, label_type, label_shape))
    source = type(estimator or network).__name__
    onnx_graph = helper.make_graph(
        graph.nodes,
        "nnscratch_mlp",
        [helper.make_tensor_value_info(_INPUT, element, [_BATCH, layers[0]])],
        outputs,
        initializer=graph.initializers,
        doc_string=f"{source} {'-'.join(map(str, layers))}, hidden {hidden}, output {output}",
    )
    from ._version import __version__

    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        onnx_graph, opset_imports=opsets, producer_name="nnscratch", producer_version=__version__
    )
    # the oldest IR version that can hold this opset, so older runtimes load the file
    model.ir_version = helper.find_min_ir_version_for(opsets)
    helper.set_model_props(
        model,
        {
            "layers": ",".join(map(str, layers)),
            "hidden_activation": hidden,
            "output_activation": output,
            "source": source,
        },
    )
    if model.ByteSize() > _MAX_BYTES:
        raise ValueError(
            f"the network has {sum(w.size for w in network.weights):,} weights, "
            f"more than an ONNX file without external data can hold (2 GB)"
        )
    onnx.checker.check_model(model, full_check=True)
    if path is not None:
        from ._atomic import atomic_write

        with atomic_write(path) as handle:
            handle.write(model.SerializeToString())
    return model
