"""Model files that are data, never code.

A model file is one ``.npz`` archive read with ``allow_pickle=False``: the flat
parameter vector, the optimizer's state arrays, and a JSON description (layer
sizes, the registry names of the activations, loss, optimizer and schedule
with their settings, dtype, the random generator's state, the training history,
the library version and the format version).  Loading it can never run code.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ._atomic import atomic_write

# --------------------------------------------------------------------------- #
# Model files
# --------------------------------------------------------------------------- #

FORMAT_NAME = "nnscratch-model"
FORMAT_VERSION = 1
"""Version of the model-file layout this library writes (and the newest it reads)."""


def _piece_name(piece, registry, what, register_hint):
    """The registry name under which ``piece`` (an Activation or Loss) can be found again."""
    if piece.name is not None and piece.name in registry:
        entry = registry.get(piece.name)
        if entry is piece or (entry.f is piece.f and entry.df is piece.df):
            return piece.name
    found = registry.find(lambda e: e.f is piece.f and e.df is piece.df)
    if found is not None:
        return found[0]
    label = getattr(piece.f, "__name__", "")
    d_label = getattr(piece.df, "__name__", "")
    shown = f"({label or 'f'}, {d_label or 'df'})"
    if not (label.isidentifier() and d_label.isidentifier()):  # lambdas and partials
        label, d_label = "my_" + what.split()[-1], "d_my_" + what.split()[-1]
    raise ValueError(
        f"the {what} {shown} has no registered name, and model files store names, never "
        f"code. Register it first, e.g. {register_hint}('{label}', {label}, {d_label})")


def _optimizer_spec(optimizer):
    from .registry import optimizers
    from .schedules import schedule_to_config
    found = optimizers.find(lambda cls: cls is type(optimizer))
    if found is None:
        name = type(optimizer).__name__
        raise ValueError(
            f"the optimizer {name} has no registered name, and model files store names, "
            f"never code. Register its class first: "
            f"nnscratch.register_optimizer('{name.lower()}', {name})")
    config = dict(optimizer.get_config()) if callable(getattr(optimizer, "get_config", None)) \
        else {}
    rate = config.get("learning_rate")
    if callable(rate):
        config["learning_rate"] = {"schedule": schedule_to_config(rate)}
    state = optimizer.get_state() if callable(getattr(optimizer, "get_state", None)) else {}
    arrays = {k: np.asarray(v) for k, v in state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    return {"name": found[0], "config": config, "state": scalars}, arrays


def save_model(network, path):
    """Write the whole model to one ``.npz`` file (see :meth:`NeuralNetwork.save`)."""
    from . import __version__
    from .registry import hidden_activations, losses, output_activations
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    hidden = _piece_name(network.hidden_activation, hidden_activations, "hidden activation",
                         "nnscratch.register_activation")
    output = _piece_name(network.output_activation, output_activations, "output activation",
                         "nnscratch.register_activation(kind='output') as")
    loss = _piece_name(network.loss, losses, "loss", "nnscratch.register_loss")
    opt_spec, opt_arrays = _optimizer_spec(network.optimizer)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "layers": network.layers,
        "dtype": network.dtype.name,
        "hidden_activation": hidden,
        "output_activation": output,
        "loss": loss,
        "optimizer": opt_spec,
        "initializer": network.initializer,
        "dropout": network.dropout,
        "l2": network.l2,
        "rng_state": network.rng.bit_generator.state,
        "history": network.history,
        "metadata": network.metadata,
    }
    arrays = {"params": network.get_flat_params()}
    arrays.update({f"optimizer.{k}": v for k, v in opt_arrays.items()})
    arrays["meta"] = np.array(json.dumps(meta, default=_jsonable))
    with atomic_write(path) as handle:
        np.savez(handle, **arrays)
    return path


def read_params_file(path, n_params, dtype, layers=None):
    """The flat parameter vector of a ``.npy`` file from ``save_params``, checked.

    Refuses, naming the file: anything but a 1-D ``.npy`` array of ``n_params``
    values of ``dtype``, pickled data, and non-finite values.  ``.npy`` files
    carry no checksum, so a flipped bit inside the values themselves cannot be
    detected; model files from ``net.save`` are the integrity-checked format.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
            if magic != b"\x93NUMPY":
                raise ValueError(f"{path} is not a .npy parameter file written by save_params "
                                 f"(it does not start with the .npy signature)")
            handle.seek(0)
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(handle, max_header_size=10_000)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(handle, max_header_size=10_000)
            else:
                raise ValueError(f"{path}: unsupported .npy format version {version}")
            shape, fortran, file_dtype = header
            if file_dtype.hasobject:
                raise ValueError(f"{path} holds Python objects, which nnscratch never loads "
                                 f"(unpickling can run code)")
            where = f" for layers {layers}" if layers is not None else ""
            if len(shape) != 1 or shape[0] != n_params:
                raise ValueError(f"{path} holds an array of shape {shape}, but this network"
                                 f"{where} has {n_params} parameters (a flat vector)")
            if file_dtype != np.dtype(dtype):
                raise ValueError(f"{path} holds {file_dtype} parameters, but this network uses "
                                 f"{np.dtype(dtype)}; build it with dtype=np.{file_dtype}")
            data = handle.read(n_params * file_dtype.itemsize + 1)
    except FileNotFoundError:
        raise
    except ValueError as err:
        if str(err).startswith(path):
            raise
        raise ValueError(f"{path} is not a readable .npy parameter file ({err})") from None
    except OSError as err:
        raise ValueError(f"{path} cannot be read ({err})") from None
    if len(data) != n_params * file_dtype.itemsize:
        raise ValueError(f"{path} is truncated or has trailing bytes: expected "
                         f"{n_params * file_dtype.itemsize} bytes of values")
    params = np.frombuffer(data, dtype=file_dtype).copy()
    if not np.isfinite(params).all():
        raise ValueError(f"{path} holds non-finite parameters (NaN or inf)")
    return params


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in a model file")


def _read_npz(path):
    """All arrays of an .npz file, read without pickle; ValueError naming the file otherwise."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
        if not magic.startswith(b"PK\x03\x04"):
            what = "a single .npy array" if magic == b"\x93NUMPY" else "not an .npz archive"
            raise ValueError(f"it is {what}, not a model (.npz) archive")
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not a model (.npz) archive")
        with data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except ValueError as err:
        if "allow_pickle" in str(err) or "Object arrays" in str(err):
            raise ValueError(f"{path}: the file holds Python objects (pickled data), which "
                             f"nnscratch never loads because unpickling can run code") from None
        raise ValueError(f"{path}: not a readable nnscratch model file ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise ValueError(f"{path}: not a readable nnscratch model file "
                         f"({type(err).__name__}: {err})") from None


def load_model(path, network_class, custom_objects=None):
    """Rebuild a network saved by :meth:`NeuralNetwork.save`.

    Users call :func:`nnscratch.load_model`, which passes the network class in
    (this module never imports the network: the network imports it).

    Parameters
    ----------
    path : str or path-like
    network_class : type
        The class to build, :class:`~nnscratch.NeuralNetwork`.
    custom_objects : dict, optional
        Your own pieces by the names they were saved under, for names not in
        the registries: ``{"swish": (swish, d_swish), "signsgd": SignSGD}``.

    Returns
    -------
    NeuralNetwork
        Predicts exactly like the saved one, and continues training exactly as
        the saved one would have (same parameters, optimizer state, random
        generator state and history).

    Raises
    ------
    ValueError
        The file is damaged, is not a model file, was written by a newer
        format, or names a piece that is not registered.
    """
    path = os.fspath(path)
    arrays = _read_npz(path)
    if "meta" not in arrays or "params" not in arrays:
        raise ValueError(f"{path}: not an nnscratch model file (no model description inside"
                         f"; a file from save_params loads with net.load_params)")
    try:
        meta = json.loads(str(arrays.pop("meta")))
        if not isinstance(meta, dict):
            raise ValueError("the description is not a JSON object")
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: the model description is damaged ({err})") from None
    if meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not an nnscratch model file (format {meta.get('format')!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path}: written in model-file format {version!r} by nnscratch "
                         f"{meta.get('library_version', '?')}; this nnscratch reads formats up "
                         f"to {FORMAT_VERSION}. Upgrade nnscratch to load it.")
    try:
        network = _build(meta, custom_objects or {}, network_class)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: the model description is incomplete or damaged "
                         f"({type(err).__name__}: {err})") from None
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    params = arrays.pop("params")
    if params.shape != (network.n_params,) or params.dtype != network.dtype:
        raise ValueError(f"{path}: holds {params.size} {params.dtype} parameters, but layers "
                         f"{network.layers} with dtype {network.dtype} need "
                         f"{network.n_params}")
    if not np.isfinite(params).all():
        raise ValueError(f"{path}: the parameters hold non-finite values")
    network.set_flat_params(params)
    state = {k.split(".", 1)[1]: v for k, v in arrays.items() if k.startswith("optimizer.")}
    state.update(meta["optimizer"].get("state", {}))
    if state and callable(getattr(network.optimizer, "set_state", None)):
        try:
            network.optimizer.set_state(state)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}: the optimizer state does not fit ({err})") from None
    return network


def _build(meta, custom, network_class):
    from .registry import hidden_activations, losses, optimizers, output_activations
    from .schedules import schedule_from_config

    def piece(kind, registry, name, hint):
        if name in custom:
            return custom[name]
        if name in registry:
            return registry.get(name)
        raise ValueError(
            f"the model uses the {kind} {name!r}, which is not registered in this session. "
            f"Register it before loading ({hint}('{name}', f, df)) or pass it in: "
            f"load_model(path, custom_objects={{'{name}': (f, df)}})")

    hidden = piece("hidden activation", hidden_activations, meta["hidden_activation"],
                   "nnscratch.register_activation")
    output = piece("output activation", output_activations, meta["output_activation"],
                   "nnscratch.register_activation(kind='output') as")
    loss = piece("loss", losses, meta["loss"], "nnscratch.register_loss")
    spec = meta["optimizer"]
    name = spec["name"]
    if name in custom:
        opt_class = custom[name]
    elif name in optimizers:
        opt_class = optimizers.get(name)
    else:
        raise ValueError(
            f"the model uses the optimizer {name!r}, which is not registered in this session. "
            f"Register its class (nnscratch.register_optimizer('{name}', YourClass)) or pass "
            f"it in: load_model(path, custom_objects={{'{name}': YourClass}})")
    config = dict(spec.get("config", {}))
    rate = config.get("learning_rate")
    if isinstance(rate, dict) and "schedule" in rate:
        config["learning_rate"] = schedule_from_config(rate["schedule"])
    optimizer = opt_class(**config)
    network = network_class(meta["layers"], hidden, output, loss, optimizer,
                            dtype=np.dtype(meta["dtype"]), initializer=meta["initializer"],
                            dropout=meta["dropout"], l2=meta["l2"], seed=0)
    network.rng.bit_generator.state = meta["rng_state"]
    network.history = {k: list(v) for k, v in meta.get("history", {}).items()}
    network.metadata = dict(meta.get("metadata", {}))
    return network
