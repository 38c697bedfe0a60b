"""``nnscratch export``: a saved model as an ONNX file (the glue; the exporter is
:mod:`nnscratch.export`)."""

from __future__ import annotations

import os

import numpy as np

from ._common import _check_output, _positive_int


def add_parser(sub):
    export = sub.add_parser(
        "export",
        help="export a saved model to ONNX",
        description="Write an ONNX file of a saved model, for ONNX Runtime "
        "(C++, C#, Java, JavaScript, mobile) without Python. "
        "The input scaling stored at training time is part of "
        "the graph, so the ONNX model takes raw input. Needs "
        "pip install -e '.[onnx]' in the checkout.",
    )
    export.add_argument("model", help="model file written by train")
    export.add_argument(
        "--output",
        metavar="ONNX",
        help="the ONNX file to write (default: MODEL with suffix .onnx)",
    )
    export.add_argument(
        "--opset", type=_positive_int, default=None, help="ONNX operator set version (default 17)"
    )
    export.add_argument(
        "--no-labels", action="store_true", help="leave out the 'label' output of a classifier"
    )
    export.set_defaults(func=run)


def run(args):
    from pathlib import Path

    output = args.output or str(Path(args.model).with_suffix(".onnx"))
    _check_output(output, "--output")
    print(export_command(args.model, output, opset=args.opset, labels=not args.no_labels))
    return 0


def export_command(
    model_path: str | os.PathLike, output_path: str | os.PathLike, *, opset=None, labels=True
) -> str:
    """Export a saved model file to ONNX; returns a one-line summary.

    The engine of ``nnscratch export MODEL --output FILE.onnx``.  Class names
    stored by ``nnscratch train`` (``metadata["class_names"]``) become the
    labels, so the ONNX model answers like ``nnscratch predict``; the model's
    input transform (its scaling) is part of the graph, so it takes raw input.

    Parameters
    ----------
    model_path : str or path-like
        A model file written by ``net.save`` or ``nnscratch train``.
    output_path : str or path-like
        The ONNX file to write.
    opset : int, optional
        See :func:`nnscratch.export.to_onnx`.
    labels : bool
        Add the ``"label"`` output for classifiers (softmax or sigmoid output).

    Returns
    -------
    str
    """
    from ..export import CLASSIFIER_OUTPUTS, to_onnx
    from ..network import load_model

    net = load_model(model_path)
    output = getattr(net.output_activation, "name", None)
    choice = False
    if labels and output in CLASSIFIER_OUTPUTS:
        names = (net.metadata or {}).get("class_names")
        choice = True
        if output == "softmax" and names and len(names) == net.layers[-1]:
            choice = [str(n) for n in names]
    model = to_onnx(net, output_path, opset=opset, labels=choice)
    size = os.path.getsize(output_path)
    outputs = ", ".join(o.name for o in model.graph.output)
    return (
        f"wrote {os.fspath(output_path)} ({size:,} bytes): ONNX opset "
        f"{model.opset_import[0].version}, {np.dtype(net.dtype).name}, layers "
        f"{'-'.join(map(str, net.layers))}, input 'input' (batch, {net.layers[0]}), "
        f"outputs {outputs}"
    )
