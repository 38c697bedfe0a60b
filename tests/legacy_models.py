"""Model files in the layout nnscratch 0.2 wrote, made without the library's writer.

The helper below spells out format 2 as 0.2's ``net.save`` wrote it (a stored zip
of ``.npy`` members, the JSON description in ``meta.npy`` with the SHA-256 of each
array member), so the tests of backward compatibility do not depend on the
writer they guard: when ``saving.py`` changes, files from the old code must still
load.  ``test_saving_compat.py`` checks once that, for the same network, it gives
the same bytes as today's writer (while the format stays 2).
"""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np


def _member(archive, name, array):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    with archive.open(info, "w") as stream:
        digest = hashlib.sha256()

        class _Tee:
            def write(self, data):
                digest.update(data)
                return stream.write(data)

        np.lib.format.write_array(_Tee(), array, allow_pickle=False)
    return digest.hexdigest()


def write_v02_model(path, net, metadata=None, *, optimizer_name=None, library="0.1.0"):
    """Write ``net`` as nnscratch 0.2 did, with ``metadata`` (default: the net's own).

    ``metadata`` may hold what 0.2's command line stored, such as
    ``input_offset`` and ``input_scale``; the activations, loss and optimizer
    must be built-ins (they are stored by their registry names).
    """
    optimizer = net.optimizer
    state = optimizer.get_state()
    arrays = {"params.npy": net.get_flat_params()}
    arrays.update({f"optimizer.{k}.npy": v for k, v in state.items() if isinstance(v, np.ndarray)})
    config = dict(optimizer.get_config())
    meta = {
        "format": "nnscratch-model",
        "format_version": 2,
        "library_version": library,
        "layers": list(net.layers),
        "dtype": net.dtype.name,
        "hidden_activation": net.hidden_activation.name,
        "output_activation": net.output_activation.name,
        "loss": net.loss.name,
        "optimizer": {
            "name": optimizer_name or type(optimizer).__name__.lower(),
            "config": config,
            "state": {"iterations": state["iterations"]},
        },
        "initializer": net.initializer,
        "dropout": net.dropout,
        "l2": net.l2,
        "rng_state": net.rng.bit_generator.state,
        "history": net.history,
        "metadata": dict(net.metadata if metadata is None else metadata),
        "input_transform": None,
    }
    with open(path, "wb") as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            meta["digests"] = {
                name: _member(archive, name, np.ascontiguousarray(array))
                for name, array in arrays.items()
            }
            _member(archive, "meta.npy", np.array(json.dumps(meta, default=_plain)))
    return path


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__}")
