"""The estimators and their pipelines in ONNX: two routes.

1. **skl2onnx** (the ecosystem's converter of scikit-learn pipelines):
   :func:`register` gives skl2onnx a parser, a shape calculator and a
   converter for :class:`~nnscratch.sklearn.NNClassifier` and
   :class:`~nnscratch.sklearn.NNRegressor`, so ``skl2onnx.to_onnx(pipeline,
   X[:1])`` converts a pipeline ending in one of them with skl2onnx's own
   converters for the other steps.  The converter builds the network's graph
   with :func:`nnscratch.export.to_onnx` and copies its nodes and constants
   into skl2onnx's graph under fresh names.
2. **nnscratch alone** (no skl2onnx): :func:`pipeline_to_onnx` exports a
   pipeline of scalers followed by our estimator, each scaler becoming one of
   the network's input transforms in the graph; any other step is refused by
   name.

Neither route changes the fitted objects.
"""

from __future__ import annotations

import copy
import sys
import warnings

import numpy as np

from . import export as _export

# scalers nnscratch.export can express as input transforms: class name -> spec maker
_SCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler")


def _scaler_spec(step):
    """The input-transform spec computing ``step.transform`` (the same operations)."""
    kind = type(step).__name__
    if kind == "StandardScaler":  # (x - mean_) / scale_, either part optional
        mean = 0.0 if getattr(step, "mean_", None) is None else step.mean_
        scale = 1.0 if getattr(step, "scale_", None) is None else step.scale_
        return {"name": "standardize", "mean": np.asarray(mean), "std": np.asarray(scale)}
    if kind == "MinMaxScaler":  # x * scale_ + min_
        if getattr(step, "clip", False):
            raise ValueError(
                "cannot export MinMaxScaler(clip=True) as an input transform; "
                "use skl2onnx (nnscratch.sklearn.register_skl2onnx()) for it"
            )
        factor, offset = np.asarray(step.scale_), np.asarray(step.min_)
        return {"name": "scale", "factor": factor, "offset": offset}
    if kind == "MaxAbsScaler":  # x / scale_
        return {"name": "standardize", "mean": np.asarray(0.0), "std": np.asarray(step.scale_)}
    raise AssertionError(kind)  # pragma: no cover - callers check the kind first


def _is_ours(estimator, classes):
    return isinstance(estimator, classes)


def pipeline_to_onnx(pipeline, path=None, *, estimator_classes, **kwargs):
    """An ONNX model of a fitted pipeline of scalers ending in our estimator.

    Each scaler (StandardScaler, MinMaxScaler, MaxAbsScaler; 'passthrough'
    steps are skipped) becomes an input transform of the exported graph, in
    order, before any transform the network already holds; the graph takes
    the pipeline's raw input.  See :func:`nnscratch.export.to_onnx` for
    ``path``, ``opset``, ``dtype`` and ``labels``.

    Raises
    ------
    TypeError
        The last step is not one of ``estimator_classes``, or another step
        is not a scaler this route can express (named, with the way out).
    """
    steps = getattr(pipeline, "steps", None)
    if not isinstance(steps, list) or not steps:
        raise TypeError(f"pipeline_to_onnx needs a scikit-learn Pipeline, got {type(pipeline)}")
    name, final = steps[-1]
    if not _is_ours(final, estimator_classes):
        raise TypeError(
            f"the pipeline's last step {name!r} is a {type(final).__name__}; "
            f"nnscratch exports pipelines ending in an NNClassifier or NNRegressor"
        )
    specs = []
    for step_name, step in steps[:-1]:
        if step is None or step == "passthrough":
            continue
        kind = type(step).__name__
        if kind not in _SCALERS:
            raise TypeError(
                f"cannot export the pipeline step {step_name!r} ({kind}) with nnscratch: "
                f"only {', '.join(_SCALERS)} become input transforms. Convert the "
                f"pipeline with skl2onnx instead (call nnscratch.sklearn.register_skl2onnx(), "
                f"then skl2onnx.to_onnx(pipeline, X[:1]))"
            )
        if not hasattr(step, "scale_") and not hasattr(step, "mean_"):
            raise ValueError(f"the pipeline step {step_name!r} ({kind}) is not fitted yet")
        specs.append(_scaler_spec(step))
    if "network_" not in getattr(final, "__dict__", {}):
        raise ValueError(f"the pipeline's last step {name!r} is not fitted yet")
    held = getattr(final.network_, "input_transform", None)
    if held is not None:
        specs.extend(held if isinstance(held, (list, tuple)) else [held])
    exported = copy.copy(final)  # a shallow copy whose network copy carries the transforms
    exported.network_ = copy.copy(final.network_)
    exported.network_.input_transform = specs or None
    return _export.to_onnx(exported, path, **kwargs)


# --------------------------------------------------------------------------- #
# skl2onnx
# --------------------------------------------------------------------------- #


def _import_skl2onnx():
    try:
        import skl2onnx
    except ImportError as err:
        raise ImportError(
            "converting with skl2onnx needs the skl2onnx package, an optional extra: "
            'pip install -e ".[onnx]" (run from the checkout), or pip install skl2onnx'
        ) from err
    return skl2onnx


def _label_type(data_types, classes):
    """skl2onnx's tensor type of the label output, by the classes' kind."""
    kind = np.asarray(classes).dtype.kind
    if kind in "iu":
        return data_types.Int64TensorType([None])
    if kind == "f":
        return data_types.DoubleTensorType([None])
    if kind == "b":
        return data_types.BooleanTensorType([None])
    return data_types.StringTensorType([None])


def _is_classifier(model):
    return hasattr(model, "classes_")


def _multilabel(model):
    return getattr(model, "_label_kind", None) == "multilabel"


def _parser(scope, model, inputs, custom_parsers=None):
    """Declares the operator and its outputs: label and probabilities, or values."""
    from skl2onnx._parse import _apply_zipmap, _get_sklearn_operator_name
    from skl2onnx.common import data_types

    operator = scope.declare_local_operator(_get_sklearn_operator_name(type(model)), model)
    operator.inputs = inputs
    element = type(inputs[0].type)
    if not _is_classifier(model):
        operator.outputs.append(scope.declare_local_variable("variable", element()))
        return operator.outputs
    if _multilabel(model):
        label = data_types.Int64TensorType([None, len(model.classes_)])
    else:
        label = _label_type(data_types, model.classes_)
    operator.outputs.append(scope.declare_local_variable("label", label))
    operator.outputs.append(scope.declare_local_variable("probabilities", element()))
    options = scope.get_options(model, dict(zipmap=True))
    if options["zipmap"] is False or _multilabel(model):
        return operator.outputs
    return _apply_zipmap(options["zipmap"], scope, model, inputs[0].type, operator.outputs)


def _shape_calculator(operator):
    """The outputs' shapes: (N,) labels and (N, classes) probabilities, or (N, outputs)."""
    model = operator.raw_operator
    element = type(operator.inputs[0].type)
    net = model.network_
    if not _is_classifier(model):
        operator.outputs[0].type = element([None, net.layers[-1]])
        return
    columns = net.layers[-1]
    if not _multilabel(model) and net.layers[-1] == 1:
        columns = 2  # predict_proba's two columns for one logistic unit
    operator.outputs[1].type = element([None, columns])


def _converter(scope, operator, container):
    """The network's graph (built by nnscratch.export) copied into skl2onnx's graph."""
    from onnx import TensorProto, helper, numpy_helper

    model = operator.raw_operator
    if _is_classifier(model) and not _multilabel(model) and len(model.classes_) < 2:
        raise ValueError(
            f"cannot convert a {type(model).__name__} fitted on one class: it has no "
            f"probabilities to compute"
        )
    element = operator.inputs[0].type
    dtype = np.float64 if type(element).__name__ == "DoubleTensorType" else np.float32
    target = container.target_opset or _export.DEFAULT_OPSET
    if target < _export.MIN_OPSET:
        raise ValueError(
            f"nnscratch's estimators need ONNX opset {_export.MIN_OPSET} or later "
            f"(Softmax over the last axis); skl2onnx was asked for {target}"
        )
    classifier = _is_classifier(model)
    graph = _export.to_onnx(
        model if classifier else model.network_,
        opset=min(target, _export.DEFAULT_OPSET),
        dtype=dtype,
        labels=True if classifier else False,
    ).graph
    names = {"input": operator.inputs[0].full_name}
    if classifier:
        names["label"] = operator.outputs[0].full_name
        names["probabilities"] = operator.outputs[1].full_name
    else:
        names["values"] = operator.outputs[0].full_name

    def rename(name):
        if name not in names:
            names[name] = scope.get_unique_variable_name(f"nn_{name}")
        return names[name]

    for tensor in graph.initializer:
        if tensor.data_type == TensorProto.STRING:
            values = numpy_helper.to_array(tensor)
            container.add_initializer(
                rename(tensor.name),
                TensorProto.STRING,
                list(tensor.dims),
                [str(v).encode("utf-8") for v in values.ravel()],
            )
        else:
            container.add_initializer(rename(tensor.name), tensor.data_type, None, tensor)
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(
            node.op_type,
            [rename(i) for i in node.input],
            [rename(o) for o in node.output],
            op_domain=node.domain,
            name=scope.get_unique_operator_name(f"Nn{node.op_type}"),
            **attributes,
        )


def register(classifier_class, regressor_class):
    """Register the two estimator classes with skl2onnx (idempotent)."""
    skl2onnx = _import_skl2onnx()
    for cls in (classifier_class, regressor_class):
        # skl2onnx's ZipMap step reads 'nocl'; keeping the class labels is the only choice
        options = (
            {"zipmap": [True, False, "columns"], "nocl": [False]}
            if cls is classifier_class
            else None
        )
        skl2onnx.update_registered_converter(
            cls,
            f"Nnscratch{cls.__name__}",
            _shape_calculator,
            _converter,
            overwrite=True,
            parser=_parser,
            options=options,
        )


class _RegisterAfterImport:
    """A one-shot import hook: registers the estimators once skl2onnx has been imported.

    Importing skl2onnx costs about a second, so ``nnscratch.sklearn`` does not
    import it; whoever converts with skl2onnx imports it anyway, and this hook
    then registers our converters right after skl2onnx's own module ran.
    """

    def __init__(self, classes):
        self.classes = classes

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "skl2onnx":
            return None
        import importlib.util

        sys.meta_path.remove(self)  # one shot; also keeps find_spec below from recursing
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original, classes = loader.exec_module, self.classes

        def exec_module(module):
            original(module)
            try:
                register(*classes)
            except Exception as err:  # never break the user's import of skl2onnx
                warnings.warn(
                    f"nnscratch could not register its estimators with skl2onnx ({err}); "
                    f"call nnscratch.sklearn.register_skl2onnx() to see why",
                    RuntimeWarning,
                    stacklevel=2,
                )

        loader.exec_module = exec_module
        return spec


def register_when_imported(classifier_class, regressor_class):
    """Register with skl2onnx now if it is imported, else as soon as it is."""
    classes = (classifier_class, regressor_class)
    if "skl2onnx" in sys.modules:
        try:
            register(*classes)
        except Exception:  # a half-imported or broken skl2onnx: register_skl2onnx() tells
            pass
        return
    if not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport(classes))
