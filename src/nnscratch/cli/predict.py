"""``nnscratch predict``: one prediction per input row, as CSV."""

from __future__ import annotations

import csv
import io
import os
import sys

from ._common import (
    TABLE_SUFFIXES,
    CLIError,
    _add_table_options,
    _check_output,
    _load_model,
    _naming,
    _similar_file,
)
from ._tables import _is_array_file, _model_data


def add_parser(sub):
    predict = sub.add_parser(
        "predict",
        help="predict for the rows of a CSV or NPZ file",
        description="Write one prediction per input row. CSV columns "
        "are matched to the model's by name.",
    )
    predict.add_argument("model", help="model file written by train")
    predict.add_argument(
        "input",
        help="FILE.csv or FILE.npz, or an array file (FILE.npy, "
        "FILE.npz:KEY, FILE.h5:DATASET, FILE.zarr)",
    )
    predict.add_argument(
        "--output", metavar="CSV", help="write here instead of stdout (folders are created)"
    )
    predict.add_argument(
        "--proba", action="store_true", help="class probabilities instead of labels"
    )
    _add_table_options(predict)
    predict.set_defaults(func=run)


def run(args):

    if args.output:
        _check_output(args.output, "--output")
    net, meta = _load_model(args.model)
    array_input = _is_array_file(args.input)
    if not array_input and not os.path.exists(args.input):
        raise CLIError(f"{args.input}: no such file{_similar_file(args.input)}")
    if not array_input and not args.input.lower().endswith(TABLE_SUFFIXES):
        raise CLIError(f"{args.input}: expected a .csv or .npz file (or a .tsv)")
    data = _model_data(args, net, meta, need_target=False)
    x = data["x"]
    with _naming(x=args.input):
        _write_predictions(args, net, meta, x)
    return 0


def _write_predictions(args, net, meta, x):
    from .._atomic import atomic_write

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if meta["task"] == "classification":
        classes = meta["class_names"]
        if args.proba:
            writer.writerow(classes)
            writer.writerows([[f"{p:.6g}" for p in row] for row in net.predict(x)])
        else:
            writer.writerow([meta.get("target_name") or "prediction"])
            writer.writerows([[classes[i]] for i in net.predict(x, labels=True)])
    else:
        out = net.predict(x)
        writer.writerow(
            [meta.get("target_name") or "prediction"]
            if out.shape[1] == 1
            else [f"output{i}" for i in range(out.shape[1])]
        )
        writer.writerows([[f"{v:.8g}" for v in row] for row in out])
    if args.output:
        with atomic_write(args.output, "w") as handle:
            handle.write(buffer.getvalue())
        print(f"{len(x)} predictions written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(buffer.getvalue())
