"""Model files that are data, never code, read with bounded memory.

A model file (written by :meth:`NeuralNetwork.save`) is a zip archive of
``.npy`` members, readable with ``np.load(path, allow_pickle=False)``:

``meta.npy``
    The description, a JSON text: layer sizes, the registry names of the
    activations, loss, optimizer and schedule with their settings, dtype, the
    random generator's state, the training history, your ``metadata``, the
    library version and the format version.
``params.npy``
    The flat parameter vector.
``optimizer.<name>.npy``
    The optimizer's state arrays (Adam's ``m`` and ``v``, ...), once it has
    taken a step.

Integrity.  Every member is covered by the zip format's CRC-32, and since
format 2 the description also holds the SHA-256 of every array member, so a
damaged byte anywhere, or two members swapped, is found at load.  A parameter
file from :meth:`NeuralNetwork.save_params` is a bare ``.npy`` file, which has
no checksum: :func:`read_params_file` catches a damaged header and non-finite
values, but a flipped bit in the data of a ``.npy`` file can change a weight
unnoticed.  Keep models in ``net.save`` files when integrity matters.

Hostile files.  Loading never runs code (no pickle) and reads only the members
it needs.  Every size is checked before anything is read or allocated: the
zip directory's sizes and each ``.npy`` header against what the description
implies, the description itself against :data:`MAX_DESCRIPTION_BYTES` and
:data:`MAX_DEPTH`.  Whatever is wrong with a file ends in a ``ValueError``
that names it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import struct
import zipfile
from typing import TypeVar

import numpy as np
import numpy.typing

from ._atomic import atomic_write

#: The network class :func:`load_model` is handed (this module never imports it).
Network = TypeVar("Network")

FORMAT_NAME = "nnscratch-model"
FORMAT_VERSION = 2
"""Version of the model-file layout this library writes (and the newest it reads).

1: the first layout.  2: adds ``digests``, the SHA-256 of each array member."""

MAX_DESCRIPTION_BYTES = 8 * 2**20
"""Largest description read: 8 MiB as stored (2 million characters)."""

MAX_DEPTH = 64
"""Deepest nesting of lists and objects allowed in a description."""

MAX_CONTAINERS = 200_000
"""Most lists and objects a description may hold (bounds the memory of parsing it)."""

MAX_HEADER_BYTES = 65_536
"""Largest ``.npy`` header read (NumPy's own writers stay far below)."""

MAX_DIRECTORY_BYTES = 256 * 1024
"""Largest zip central directory read (a model file's has a few hundred bytes)."""

_DEFLATE_RATIO = 1100  # deflate cannot expand data more than ~1032 times
_CHUNK = 1 << 20
_NUMERIC = (int, float)
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_MEMBER = re.compile(r"optimizer\.([A-Za-z_][A-Za-z0-9_]*)\.npy")
_HEADER = re.compile(
    r"\{'descr': '([^']{1,64})', 'fortran_order': (True|False), "
    r"'shape': \(([0-9, ]{0,400})\),? ?\} *\n"
)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


class _Damaged(ValueError):
    """A problem with the file; the message gets the file's name in front."""


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------- #
# .npy members and files
# --------------------------------------------------------------------------- #


class _Header:
    """What a ``.npy`` header declares: ``descr``, ``fortran_order``, ``shape``, ``size``."""

    def __init__(self, descr, fortran_order, shape, size):
        self.descr, self.fortran_order, self.shape, self.size = descr, fortran_order, shape, size

    @property
    def count(self):
        return math.prod(self.shape)  # a Python int: no overflow

    def holds_objects(self):
        return "O" in self.descr

    def float_dtype(self):
        """The float32/float64 dtype declared, or None for anything else."""
        if len(self.descr) == 3 and self.descr[0] in "<>=|" and self.descr[1:] in ("f4", "f8"):
            return np.dtype(self.descr)
        return None


def _read_exactly(stream, n, what):
    data = stream.read(n)
    if len(data) != n:
        raise _Damaged(f"{what} ends early (truncated): {n} bytes expected, {len(data)} found")
    return data


def _read_header(stream, what):
    """Parse a ``.npy`` header from ``stream`` (nothing after it is read)."""
    magic = stream.read(8)
    if len(magic) < 8 or magic[:6] != b"\x93NUMPY":
        raise _Damaged(f"{what} is not a .npy array (it does not start with the .npy magic bytes)")
    version = (magic[6], magic[7])
    if version == (1, 0):
        length, size = int.from_bytes(_read_exactly(stream, 2, what), "little"), 10
    elif version in ((2, 0), (3, 0)):
        length, size = int.from_bytes(_read_exactly(stream, 4, what), "little"), 12
    else:
        raise _Damaged(f"{what} has an unknown .npy version {version[0]}.{version[1]}")
    if length > MAX_HEADER_BYTES:
        raise _Damaged(
            f"{what} declares a {length}-byte .npy header, more than the "
            f"{MAX_HEADER_BYTES} bytes allowed"
        )
    raw = _read_exactly(stream, length, what)
    text = raw.decode("utf-8" if version == (3, 0) else "latin-1", errors="replace")
    match = _HEADER.fullmatch(text)
    if match is None:
        raise _Damaged(f"{what} has a damaged .npy header")
    parts = [p.strip() for p in match.group(3).split(",")]
    if parts and parts[-1] == "":
        parts.pop()
    if not all(p.isdigit() for p in parts):
        raise _Damaged(f"{what} has a damaged .npy header (shape {match.group(3)!r})")
    return _Header(
        match.group(1), match.group(2) == "True", tuple(int(p) for p in parts), size + length
    )


def _pickle_refusal(what):
    return _Damaged(
        f"{what} holds Python objects (pickled data), which nnscratch never loads "
        f"because unpickling can run code"
    )


def _read_floats(stream, dtype, count, what):
    """Read exactly ``count`` values of ``dtype``, then make sure nothing follows."""
    array = np.empty(count, dtype)
    view = memoryview(array).cast("B")
    done, total = 0, array.nbytes
    while done < total:
        chunk = stream.read(min(_CHUNK, total - done))
        if not chunk:
            raise _Damaged(
                f"{what} ends early (truncated): {total} data bytes expected, {done} found"
            )
        view[done : done + len(chunk)] = chunk
        done += len(chunk)
    if stream.read(1):
        raise _Damaged(f"{what} holds more data than its .npy header declares")
    if not dtype.isnative:
        array.byteswap(inplace=True)
        array = array.view(dtype.newbyteorder("="))
    if not _all_finite(array):
        raise _Damaged(f"{what} holds non-finite values (NaN or infinity)")
    return array


def _all_finite(array):
    for start in range(0, array.size, _CHUNK):
        if not np.isfinite(array[start : start + _CHUNK]).all():
            return False
    return True


def read_params_file(
    path: str | os.PathLike,
    n_params: int,
    dtype: np.typing.DTypeLike,
    layers: list[int] | None = None,
) -> np.ndarray:
    """The parameter vector of a ``.npy`` file from :meth:`NeuralNetwork.save_params`.

    The header is read and checked first (a flat float array of ``n_params``
    values of ``dtype``, C order, no Python objects) and only then the data,
    so a header declaring a huge array allocates nothing.  Nothing is unpickled.

    ``.npy`` files have no checksum: a damaged header, a truncated file, extra
    bytes or non-finite values are caught, but a flipped bit in the data can
    change a weight unnoticed.  Model files from ``net.save`` are checked with
    CRC-32 and SHA-256 digests; use them when integrity matters.

    Parameters
    ----------
    path : str or path-like
    n_params : int
        The number of parameters the network has.
    dtype : numpy dtype
        The network's dtype; the file must hold the same.
    layers : list of int, optional
        The network's layer sizes, for the messages.

    Returns
    -------
    ndarray of shape (n_params,)

    Raises
    ------
    ValueError
        Naming the file: not a ``.npy`` file, another shape or dtype, Python
        objects, damaged, truncated, or non-finite values.
    """
    path = os.fspath(path)
    dtype = np.dtype(dtype)
    with open(path, "rb") as stream:
        try:
            magic = stream.read(6)
            stream.seek(0)
            if magic.startswith(b"PK\x03\x04"):
                raise _Damaged(
                    "it is an .npz archive, not a .npy parameter file from save_params "
                    "(a model file from net.save loads with nnscratch.load_model)"
                )
            if magic != b"\x93NUMPY":
                raise _Damaged(
                    "it is not a .npy parameter file written by save_params (it does "
                    "not start with the .npy magic bytes)"
                )
            header = _read_header(stream, "the file")
            if header.holds_objects():
                raise _pickle_refusal("the file")
            found = header.float_dtype()
            if found is None:
                raise _Damaged(
                    f"it holds values of type {header.descr!r}, not float32 or float64 parameters"
                )
            if len(header.shape) != 1 or header.count != n_params:
                where = f" for layers {layers}" if layers is not None else ""
                raise _Damaged(
                    f"it holds an array of shape {header.shape}, but this "
                    f"network{where} has {n_params} parameters (a flat vector)"
                )
            if header.fortran_order:
                raise _Damaged(
                    "the file has a damaged .npy header (Fortran order for a flat vector)"
                )
            if found.newbyteorder("=") != dtype:
                raise _Damaged(
                    f"it holds {found.newbyteorder('=')} parameters, but this network "
                    f"uses {dtype}; build it with dtype=np.{found.newbyteorder('=')}"
                )
            size = os.fstat(stream.fileno()).st_size
            if size != header.size + n_params * found.itemsize:
                raise _Damaged(
                    f"it is {size} bytes long, but its header describes "
                    f"{header.size + n_params * found.itemsize}: truncated or damaged"
                )
            return _read_floats(stream, found, n_params, "the file")
        except _Damaged as err:
            raise ValueError(f"{path}: {err}") from None


# --------------------------------------------------------------------------- #
# JSON descriptions: size and depth checked before parsing
# --------------------------------------------------------------------------- #


def _check_nesting(text):
    """Raise _Damaged when ``text`` nests deeper than MAX_DEPTH or holds too many containers.

    Strings are blanked out first, then the brackets are counted chunk by chunk
    (no recursion, so no RecursionError whatever the input).
    """
    skeleton = _STRING.sub("", text).encode("utf-8", "replace")
    depth = containers = 0
    table = np.zeros(256, np.int8)
    table[[ord("["), ord("{")]] = 1
    table[[ord("]"), ord("}")]] = -1
    for start in range(0, len(skeleton), _CHUNK):
        steps = table[
            np.frombuffer(skeleton, np.uint8, min(_CHUNK, len(skeleton) - start), start)
        ].astype(np.int64)
        if steps.size == 0:
            continue
        running = depth + np.cumsum(steps)
        if running.max() > MAX_DEPTH:
            raise _Damaged(f"the model description nests deeper than {MAX_DEPTH} levels")
        containers += int((steps > 0).sum())
        depth = int(running[-1])
    if containers > MAX_CONTAINERS:
        raise _Damaged(
            f"the model description holds {containers} lists and objects, more "
            f"than the {MAX_CONTAINERS} allowed"
        )


def _parse_description(text):
    _check_nesting(text)
    try:
        meta = json.loads(text)
    except ValueError as err:  # JSONDecodeError, or an integer with too many digits
        raise _Damaged(f"the model description is damaged (not valid JSON: {err})") from None
    if not isinstance(meta, dict):
        raise _Damaged("the model description is damaged (not a JSON object)")
    return meta


# --------------------------------------------------------------------------- #
# Checking a description
# --------------------------------------------------------------------------- #


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, _NUMERIC) and not isinstance(value, bool)


def _is_finite(value):
    return _is_number(value) and math.isfinite(value)


def _is_scalar(value):
    return value is None or isinstance(value, (str, bool, int, float))


def _bad(key, expected, value):
    return _Damaged(
        f"the model description is damaged: {key} must be {expected}, found {_short(value)}"
    )


def _required(meta, key):
    if key not in meta:
        raise _Damaged(f"the model description is incomplete: it has no {key!r}")
    return meta[key]


def _check_layers(layers):
    if (
        not isinstance(layers, list)
        or len(layers) < 2
        or not all(_is_int(n) and 1 <= n < 2**31 for n in layers)
    ):
        raise _bad("'layers'", "a list of at least 2 positive integers", layers)
    return layers


def count_params(layers: list[int]) -> int:
    """Weights and biases of a network with these layer sizes (a Python int)."""
    return sum((a + 1) * b for a, b in zip(layers[:-1], layers[1:]))


def _check_optimizer_spec(spec):
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise _bad("'optimizer'", "an object with a 'name'", spec)
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise _bad("'optimizer.config'", "an object", config)
    for key, value in config.items():
        if key == "learning_rate" and isinstance(value, dict):
            schedule = value.get("schedule")
            if (
                set(value) != {"schedule"}
                or not isinstance(schedule, dict)
                or not isinstance(schedule.get("name"), str)
                or not isinstance(schedule.get("config", {}), dict)
                or not all(_is_scalar(v) for v in schedule.get("config", {}).values())
            ):
                raise _bad(
                    "'optimizer.config.learning_rate'",
                    "a number or a schedule {'schedule': {'name', 'config'}}",
                    value,
                )
        elif not _is_scalar(value) or (isinstance(value, float) and not math.isfinite(value)):
            raise _bad(f"'optimizer.config.{key}'", "a finite number, string, bool or null", value)
    state = spec.get("state", {})
    if not isinstance(state, dict):
        raise _bad("'optimizer.state'", "an object", state)
    iterations = state.get("iterations", 0)
    if not _is_int(iterations) or not 0 <= iterations < 2**63:
        raise _bad("'optimizer.state.iterations'", "a non-negative integer", iterations)
    for key, value in state.items():
        if not _is_scalar(value):
            raise _bad(f"'optimizer.state.{key}'", "a number, string, bool or null", value)
    return spec


def _check_names(meta, key, count, what):
    names = meta.get(key)
    if names is None:
        return
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _bad(f"'metadata.{key}'", "a list of strings", names)
    if len(names) not in count:
        raise _Damaged(
            f"the model description is damaged: metadata.{key} lists {len(names)} "
            f"names, but the network has {count[0]} {what}"
        )


def check_metadata(metadata: dict, layers: list[int]) -> None:
    """Check the ``metadata`` keys that nnscratch itself reads (the command line does).

    ``class_names`` (one per output; two for a single sigmoid output),
    ``feature_names`` (one per input), ``task`` (``'classification'`` or
    ``'regression'``), ``target_name`` (a string), and in files written by 0.2
    ``input_offset`` and ``input_scale`` (a finite number, or one per input;
    converted to an input transform when loaded).  Other keys are free.
    """
    if not isinstance(metadata, dict):
        raise _bad("'metadata'", "an object", metadata)
    outputs = layers[-1]
    _check_names(metadata, "class_names", (outputs, 2) if outputs == 1 else (outputs,), "outputs")
    _check_names(metadata, "feature_names", (layers[0],), "inputs")
    for key in ("input_offset", "input_scale"):
        value = metadata.get(key)
        if value is None or _is_finite(value):
            continue
        if (
            not isinstance(value, list)
            or len(value) != layers[0]
            or not all(_is_finite(v) for v in value)
        ):
            raise _bad(f"'metadata.{key}'", f"a finite number or {layers[0]} of them", value)
    task = metadata.get("task")
    if task is not None and task not in ("classification", "regression"):
        raise _bad("'metadata.task'", "'classification' or 'regression'", task)
    target = metadata.get("target_name")
    if target is not None and not isinstance(target, str):
        raise _bad("'metadata.target_name'", "a string", target)


def _check_description(meta):
    """Check every field's type and range; returns the layers. Raises _Damaged."""
    layers = _check_layers(_required(meta, "layers"))
    dtype = _required(meta, "dtype")
    if dtype not in ("float32", "float64"):
        raise _bad("'dtype'", "'float32' or 'float64'", dtype)
    for key in ("hidden_activation", "output_activation", "loss", "initializer"):
        if not isinstance(_required(meta, key), str):
            raise _bad(repr(key), "a name (a string)", meta[key])
    _check_optimizer_spec(_required(meta, "optimizer"))
    dropout = meta.get("dropout", 0.0)
    rates = dropout if isinstance(dropout, list) else [dropout]
    if not all(_is_finite(r) for r in rates):
        raise _bad("'dropout'", "a number or a list of numbers", dropout)
    l2 = meta.get("l2", 0.0)
    if not _is_finite(l2):
        raise _bad("'l2'", "a finite number", l2)
    rng_state = _required(meta, "rng_state")
    if not isinstance(rng_state, dict) or rng_state.get("bit_generator") not in _BIT_GENERATORS:
        raise _bad(
            "'rng_state'", f"a random generator state of one of {_BIT_GENERATORS}", rng_state
        )
    history = meta.get("history", {})
    if not isinstance(history, dict):
        raise _bad("'history'", "an object of lists of numbers", history)
    for key, values in history.items():
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise _bad(f"'history.{key}'", "a list of numbers", values)
    check_metadata(meta.get("metadata", {}), layers)
    return layers


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


def _piece_name(piece, registry, what, register_hint):
    """The registry name under which ``piece`` (an Activation or Loss) can be found again."""
    if piece.builtin is not None:
        return piece.builtin
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
        f"code. Register it first, e.g. {register_hint}('{label}', {label}, {d_label})"
    )


def _optimizer_spec(optimizer):
    from .registry import optimizers
    from .schedules import schedule_to_config

    found = optimizers.find(lambda cls: cls is type(optimizer))
    if found is None:
        name = type(optimizer).__name__
        raise ValueError(
            f"the optimizer {name} has no registered name, and model files store names, "
            f"never code. Register its class first: "
            f"nnscratch.register_optimizer('{name.lower()}', {name})"
        )
    config = (
        dict(optimizer.get_config()) if callable(getattr(optimizer, "get_config", None)) else {}
    )
    rate = config.get("learning_rate")
    if callable(rate):
        config["learning_rate"] = {"schedule": schedule_to_config(rate)}
    state = optimizer.get_state() if callable(getattr(optimizer, "get_state", None)) else {}
    arrays = {k: np.asarray(v) for k, v in state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in state.items() if not isinstance(v, np.ndarray)}
    return {"name": found[0], "config": config, "state": scalars}, arrays


class _HashingWriter:
    """Passes writes on to ``target`` and keeps their SHA-256."""

    def __init__(self, target):
        self.target, self.digest = target, hashlib.sha256()

    def write(self, data):
        self.digest.update(data)
        return self.target.write(data)


def _write_member(archive, name, array):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # same model, same bytes
    info.compress_type = zipfile.ZIP_STORED
    with archive.open(info, "w", force_zip64=array.nbytes > 2**31 - 2**20) as member:
        writer = _HashingWriter(member)
        np.lib.format.write_array(writer, array, allow_pickle=False)
    return writer.digest.hexdigest()


def save_model(network: nnscratch.NeuralNetwork, path: str | os.PathLike) -> str:  # noqa: F821
    """Write the whole model to one ``.npz`` file (see :meth:`NeuralNetwork.save`).

    The description is checked as :func:`load_model` will check it, so a file
    that saves also loads.  Returns the path written (``.npz`` appended when
    missing).
    """
    from ._version import __version__
    from .registry import hidden_activations, losses, output_activations

    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    metadata = network.metadata
    legacy = [k for k in LEGACY_SCALING_KEYS if isinstance(metadata, dict) and k in metadata]
    if legacy:
        raise ValueError(
            f"cannot save to {path}: metadata[{legacy[0]!r}] is the 0.2 command line's input "
            f"scaling, which predict never applied; set net.input_transform instead "
            f"(nnscratch.data.Scale(factor) or Standardize(mean, std)) and remove "
            f"{' and '.join(repr(k) for k in legacy)} from the metadata"
        )
    hidden = _piece_name(
        network.hidden_activation,
        hidden_activations,
        "hidden activation",
        "nnscratch.register_activation",
    )
    output = _piece_name(
        network.output_activation,
        output_activations,
        "output activation",
        "nnscratch.register_activation(kind='output') as",
    )
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
        "input_transform": _transform_config(network),
    }
    arrays = {"params.npy": network.get_flat_params()}
    arrays.update({f"optimizer.{k}.npy": v for k, v in opt_arrays.items()})
    # a round trip through JSON gives exactly what load_model will check
    try:
        text = json.dumps(meta, default=_jsonable)
    except RecursionError:
        raise ValueError(
            f"cannot save to {path}: the metadata nests deeper than {MAX_DEPTH} levels"
        ) from None
    except TypeError as err:
        raise TypeError(f"cannot save to {path}: {err}") from None
    try:
        _check_description(_parse_description(text))
    except _Damaged as err:
        raise ValueError(
            f"cannot save to {path}: {err}".replace("the model description is damaged: ", "")
        ) from None
    if len(text) * 4 > MAX_DESCRIPTION_BYTES:
        raise ValueError(
            f"cannot save to {path}: the description (history and metadata) "
            f"would take {len(text) * 4 / 2**20:.1f} MiB, more than the "
            f"{MAX_DESCRIPTION_BYTES / 2**20:.0f} MiB a model file may hold"
        )
    with atomic_write(path) as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            digests = {
                name: _write_member(archive, name, np.ascontiguousarray(array))
                for name, array in arrays.items()
            }
            meta["digests"] = digests
            _write_member(archive, "meta.npy", np.array(json.dumps(meta, default=_jsonable)))
    return path


def model_fingerprint(network) -> dict:
    """What a model file records about a network besides its numbers.

    The layers, dtype, activation and loss names, the optimizer's registered
    name and settings (not its state), the initializer, dropout, L2 and the
    input transform, as :func:`save_model` writes them (JSON values), so that
    two fingerprints compare equal exactly when the two networks would be
    saved with the same description.  Raises ``ValueError`` for a piece that
    a model file cannot name (as :func:`save_model` does).
    """
    from .registry import hidden_activations, losses, output_activations

    opt_spec, _ = _optimizer_spec(network.optimizer)
    found = {
        "layers": list(network.layers),
        "dtype": network.dtype.name,
        "hidden_activation": _piece_name(
            network.hidden_activation,
            hidden_activations,
            "hidden activation",
            "nnscratch.register_activation",
        ),
        "output_activation": _piece_name(
            network.output_activation,
            output_activations,
            "output activation",
            "nnscratch.register_activation(kind='output') as",
        ),
        "loss": _piece_name(network.loss, losses, "loss", "nnscratch.register_loss"),
        "optimizer": opt_spec["name"],
        "optimizer settings": opt_spec["config"],
        "initializer": network.initializer,
        "dropout": network.dropout,
        "l2": network.l2,
        "input_transform": _transform_config(network),
    }
    return json.loads(json.dumps(found, default=_jsonable))


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in a model file")


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #


def _check_directory_size(handle, size):
    """Refuse a zip whose central directory is larger than a model file's can be."""
    tail_length = min(size, 22 + 65_535)
    handle.seek(size - tail_length)
    tail = handle.read(tail_length)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise _Damaged("not a readable nnscratch model file (no zip directory: truncated?)")
    directory_size = struct.unpack("<L", tail[at + 12 : at + 16])[0]
    if directory_size == 0xFFFFFFFF and at >= 20 and tail[at - 20 : at - 16] == b"PK\x06\x07":
        record_at = struct.unpack("<Q", tail[at - 12 : at - 4])[0]
        if record_at + 56 <= size:
            handle.seek(record_at)
            record = handle.read(56)
            if record[:4] == b"PK\x06\x06":
                directory_size = struct.unpack("<Q", record[40:48])[0]
    if directory_size > MAX_DIRECTORY_BYTES:
        raise _Damaged(
            f"not a readable nnscratch model file (its zip directory declares "
            f"{directory_size} bytes, more than a model file's can have)"
        )
    handle.seek(0)


def _check_member_sizes(info, size, expected=None):
    """Check what the zip directory declares for one member, before reading it."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise _Damaged(f"member {name} is encrypted")
    if info.compress_size > size:
        raise _Damaged(
            f"member {name} declares {info.compress_size} stored bytes, more than the whole file"
        )
    if info.compress_type == zipfile.ZIP_STORED:
        if info.compress_size != info.file_size:
            raise _Damaged(
                f"member {name} declares {info.file_size} bytes but stores {info.compress_size}"
            )
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > info.compress_size * _DEFLATE_RATIO + 65_536:
            raise _Damaged(
                f"member {name} declares {info.file_size} bytes, more than its "
                f"{info.compress_size} compressed bytes can hold"
            )
    else:
        raise _Damaged(
            f"member {name} uses compression method {info.compress_type}, which "
            f"model files never use"
        )
    if expected is not None and info.file_size != expected:
        raise _Damaged(
            f"member {name} declares {info.file_size} bytes in the zip directory, "
            f"but the model needs {expected}"
        )


class _HashingReader:
    """Reads from ``source`` and keeps the SHA-256 of everything read."""

    def __init__(self, source):
        self.source, self.digest = source, hashlib.sha256()

    def read(self, n):
        data = self.source.read(n)
        self.digest.update(data)
        return data


class _Archive:
    """The members of one model file: sizes and headers checked before any data is read."""

    def __init__(self, handle, size):
        self.size = size
        _check_directory_size(handle, size)
        self.zip = zipfile.ZipFile(handle)
        self.members = {}
        for info in self.zip.infolist():
            if info.filename in self.members:
                raise _Damaged(f"it holds two members named {info.filename}")
            self.members[info.filename] = info

    def header(self, name, shape, dtype):
        """Check member ``name``'s zip entry and .npy header against ``shape`` and ``dtype``."""
        info = self.members.get(name)
        if info is None:
            raise _Damaged(f"member {name} is missing")
        _check_member_sizes(info, self.size)
        with self.zip.open(info) as stream:
            header = _read_header(stream, f"member {name}")
        if header.holds_objects():
            raise _pickle_refusal(f"member {name}")
        found = header.float_dtype()
        if (
            found is None
            or found.newbyteorder("=") != dtype
            or header.shape != shape
            or header.fortran_order
        ):
            if name == "params.npy" and found is not None and len(header.shape) == 1:
                raise _Damaged(
                    f"holds {header.count} {found.newbyteorder('=')} parameters, "
                    f"but the description's layers need {shape[0]} {dtype}"
                )
            raise _Damaged(
                f"member {name} holds an array of shape {header.shape} and type "
                f"{header.descr!r}, but the model needs shape {shape} of {dtype}"
            )
        _check_member_sizes(info, self.size, header.size + math.prod(shape) * dtype.itemsize)
        return header

    def read(self, name, shape, dtype, digest=None):
        """The array of member ``name`` (checked with :meth:`header` first)."""
        self.header(name, shape, dtype)
        with self.zip.open(self.members[name]) as member:
            stream = _HashingReader(member)
            header = _read_header(stream, f"member {name}")
            array = _read_floats(
                stream, np.dtype(header.descr), math.prod(shape), f"member {name}"
            )
        if digest is not None and stream.digest.hexdigest() != digest:
            raise _Damaged(
                f"member {name} does not match the SHA-256 digest the description "
                f"records for it (damaged, or members swapped)"
            )
        return array.reshape(shape)

    def description(self):
        info = self.members.get("meta.npy")
        if info is None:
            raise _Damaged(
                "not an nnscratch model file (no model description inside; a file "
                "from save_params loads with net.load_params)"
            )
        _check_member_sizes(info, self.size)
        if info.file_size > MAX_DESCRIPTION_BYTES + MAX_HEADER_BYTES:
            raise _Damaged(
                f"member meta.npy (the model description) declares "
                f"{info.file_size} bytes, more than the {MAX_DESCRIPTION_BYTES} "
                f"allowed"
            )
        with self.zip.open(info) as stream:
            header = _read_header(stream, "member meta.npy")
            if header.holds_objects():
                raise _pickle_refusal("member meta.npy")
            match = re.fullmatch(r"([<>])U(\d+)", header.descr)
            if match is None or header.shape != ():
                raise _Damaged(
                    f"member meta.npy is not a text (found type {header.descr!r} "
                    f"and shape {header.shape})"
                )
            length = int(match.group(2)) * 4
            if length > MAX_DESCRIPTION_BYTES:
                raise _Damaged(
                    f"member meta.npy (the model description) declares {length} "
                    f"bytes, more than the {MAX_DESCRIPTION_BYTES} allowed"
                )
            _check_member_sizes(info, self.size, header.size + length)
            raw = _read_exactly(stream, length, "member meta.npy")
            if stream.read(1):
                raise _Damaged("member meta.npy holds more data than its header declares")
        try:
            text = raw.decode("utf-32-le" if match.group(1) == "<" else "utf-32-be")
        except UnicodeDecodeError as err:
            raise _Damaged(f"the model description is damaged ({err})") from None
        del raw
        return _parse_description(text.rstrip("\x00"))


def load_model(
    path: str | os.PathLike,
    network_class: type[Network],
    custom_objects: dict[str, object] | None = None,
) -> Network:
    """Rebuild a network saved by :meth:`NeuralNetwork.save` (the engine of
    :func:`nnscratch.load_model`, which documents the arguments and passes the
    network class in: this module never imports the network).

    Raises ``ValueError`` naming the file for anything damaged, foreign, newer
    or unregistered, and ``FileNotFoundError`` / ``PermissionError`` as
    ``open()`` does.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a folder, not a model file (a .npz file from net.save)")
    with open(path, "rb") as handle:
        try:
            return _load(handle, network_class, custom_objects or {})
        except MemoryError:
            raise
        except ValueError as err:  # ours, or a constructor's one-sentence complaint
            raise ValueError(f"{path}: {err}") from None
        except Exception as err:  # zlib, zipfile, struct, numpy: all mean a damaged file
            raise ValueError(
                f"{path}: not a readable nnscratch model file ({type(err).__name__}: {err})"
            ) from None


def _piece(custom, kind, registry, name, hint):
    if name in custom:
        return custom[name]
    if name in registry:
        return registry.get(name)
    raise _Damaged(
        f"the model uses the {kind} {name!r}, which is not registered in this session. "
        f"Register it before loading ({hint}('{name}', f, df)) or pass it in: "
        f"load_model(path, custom_objects={{'{name}': (f, df)}})"
    )


def _optimizer_class(custom, name):
    from .registry import optimizers

    if name in custom:
        return custom[name]
    if name in optimizers:
        return optimizers.get(name)
    raise _Damaged(
        f"the model uses the optimizer {name!r}, which is not registered in this session. "
        f"Register its class (nnscratch.register_optimizer('{name}', YourClass)) or pass "
        f"it in: load_model(path, custom_objects={{'{name}': YourClass}})"
    )


def _state_members(meta, archive, opt_class, version):
    """Names of the optimizer state arrays in the file, checked against the optimizer."""
    if version >= 2:
        digests = _required(meta, "digests")
        if (
            not isinstance(digests, dict)
            or "params.npy" not in digests
            or not all(
                isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) for v in digests.values()
            )
        ):
            raise _bad("'digests'", "an object of SHA-256 digests naming params.npy", digests)
        listed = [n for n in digests if n != "params.npy"]
    else:
        digests = {}
        listed = [n for n in archive.members if n.startswith("optimizer.")]
    expected = {"meta.npy", "params.npy", *listed}
    stray = sorted(set(archive.members) - expected)
    if stray:
        raise _Damaged(
            f"member {stray[0]} is not one this model file declares (a file nnscratch did "
            f"not write, or one that was changed); it is refused, not ignored"
        )
    names = {}
    for member in listed:
        match = _MEMBER.fullmatch(member)
        if match is None:
            raise _Damaged(f"member {member} is not one a model file holds")
        names[match.group(1)] = member
    scalars = getattr(opt_class, "_state_scalars", None)
    if scalars is not None:
        stray = sorted(set(meta["optimizer"].get("state", {})) - set(scalars))
        if stray:
            arrays = list(getattr(opt_class, "_state_names", ()))
            raise _Damaged(
                f"the description's optimizer state holds {stray[0]!r}, which "
                f"{opt_class.__name__} does not keep (its state: "
                f"{', '.join(scalars)}{' and the arrays ' + ', '.join(arrays) if arrays else ''})"
            )
    known = getattr(opt_class, "_state_names", None)
    if known is not None:
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise _Damaged(
                f"member {names[unknown[0]]} is not part of the state of "
                f"{opt_class.__name__}, which keeps {list(known)}"
            )
        iterations = meta["optimizer"].get("state", {}).get("iterations", 0)
        if names and set(names) != set(known):
            missing = sorted(set(known) - set(names))
            raise _Damaged(
                f"member optimizer.{missing[0]}.npy is missing (the optimizer state is incomplete)"
            )
        if known and iterations > 0 and not names:
            raise _Damaged(
                f"the optimizer has taken {iterations} steps, but its state "
                f"arrays {list(known)} are missing"
            )
    return names, digests


def _load(handle, network_class, custom):
    from .registry import hidden_activations, losses, output_activations
    from .schedules import schedule_from_config

    size = os.fstat(handle.fileno()).st_size
    magic = handle.read(6)
    if magic == b"\x93NUMPY":
        raise _Damaged(
            "not a readable nnscratch model file (it is a single .npy array, not "
            "a model (.npz) archive; a file from save_params loads with "
            "net.load_params)"
        )
    if not magic.startswith(b"PK\x03\x04"):
        raise _Damaged("not a readable nnscratch model file (it is not an .npz archive)")
    archive = _Archive(handle, size)
    meta = archive.description()

    if meta.get("format") != FORMAT_NAME:
        raise _Damaged(f"not an nnscratch model file (format {_short(meta.get('format'))})")
    version = meta.get("format_version")
    if not _is_int(version) or version < 1:
        raise _bad("'format_version'", "a positive integer", version)
    if version > FORMAT_VERSION:
        from ._version import __version__

        library = meta.get("library_version", "?")
        raise _Damaged(
            f"written by a newer nnscratch ("
            f"{_short(library, 20) if not isinstance(library, str) else library[:20]}, "
            f"model-file format {version}); this nnscratch ({__version__}) reads formats up "
            f"to {FORMAT_VERSION}. Upgrade nnscratch to load it."
        )
    layers = _check_description(meta)
    dtype = np.dtype(meta["dtype"])
    n_params = count_params(layers)
    spec = meta["optimizer"]
    opt_class = _optimizer_class(custom, spec["name"])
    state_names, digests = _state_members(meta, archive, opt_class, version)
    # state arrays that are sums of squares: a negative entry would make the step NaN
    non_negative = getattr(opt_class, "_non_negative_state", ())

    # every size is known now: check all headers before allocating anything
    archive.header("params.npy", (n_params,), dtype)
    for member in state_names.values():
        archive.header(member, (n_params,), dtype)

    hidden = _piece(
        custom,
        "hidden activation",
        hidden_activations,
        meta["hidden_activation"],
        "nnscratch.register_activation",
    )
    output = _piece(
        custom,
        "output activation",
        output_activations,
        meta["output_activation"],
        "nnscratch.register_activation(kind='output') as",
    )
    loss = _piece(custom, "loss", losses, meta["loss"], "nnscratch.register_loss")
    config = dict(spec.get("config", {}))
    try:
        rate = config.get("learning_rate")
        if isinstance(rate, dict):
            schedule = rate["schedule"]
            config["learning_rate"] = schedule_from_config(
                {"name": schedule["name"], "config": schedule.get("config", {})}
            )
        optimizer = opt_class(**config)
    except (TypeError, ValueError) as err:
        raise _Damaged(
            f"the model description is damaged: the optimizer settings "
            f"{_short(spec.get('config'), 120)} do not fit {opt_class.__name__} "
            f"({err})"
        ) from None
    rng_state = meta["rng_state"]
    generator = np.random.Generator(getattr(np.random, rng_state["bit_generator"])(0))
    try:
        generator.bit_generator.state = rng_state
    except (TypeError, ValueError, KeyError, OverflowError, IndexError) as err:
        raise _Damaged(
            f"the model description is damaged: 'rng_state' is not a valid "
            f"{rng_state['bit_generator']} state ({type(err).__name__}: "
            f"{_short(str(err), 80)})"
        ) from None
    try:
        network = network_class(
            layers,
            hidden,
            output,
            loss,
            optimizer,
            dtype=dtype,
            initializer=meta["initializer"],
            dropout=meta.get("dropout", 0.0),
            l2=meta.get("l2", 0.0),
            seed=generator,
        )
    except (TypeError, ValueError) as err:
        raise _Damaged(f"the model description is damaged: {err}") from None
    generator.bit_generator.state = rng_state  # construction drew from it

    network.set_flat_params(
        archive.read("params.npy", (n_params,), dtype, digests.get("params.npy"))
    )
    arrays = {}
    for state_name, member in state_names.items():
        array = archive.read(member, (n_params,), dtype, digests.get(member))
        if state_name in non_negative and (array < 0).any():
            raise _Damaged(
                f"member {member} holds negative values, which the "
                f"{opt_class.__name__} state '{state_name}' (a sum of squares) "
                f"never has"
            )
        arrays[state_name] = array
    state = dict(spec.get("state", {}))
    state.update(arrays)
    if callable(getattr(network.optimizer, "set_state", None)) and (arrays or state):
        network.optimizer.set_state(state)
    network.history = {key: list(values) for key, values in meta.get("history", {}).items()}
    metadata = dict(meta.get("metadata", {}))
    transform = _transform_from(meta.get("input_transform"))
    network.input_transform = _legacy_scaling(metadata, transform)
    network.metadata = metadata
    return network


#: The metadata keys in which the 0.2 command line kept its input scaling,
#: ``(x - input_offset) * input_scale``; a model file holding them is converted
#: to the equivalent ``input_transform`` when loaded.
LEGACY_SCALING_KEYS = ("input_offset", "input_scale")


def _legacy_scaling(metadata, transform):
    """The input transform of a model, with the 0.2 command line's scaling converted.

    The keys of :data:`LEGACY_SCALING_KEYS` are taken out of ``metadata`` (a
    dict, changed in place; its values were checked by :func:`check_metadata`)
    and turned into the transform computing the same values: ``Scale(factor)``
    for a pure rescaling, ``Standardize(offset, 1 / scale)`` otherwise.  An
    identity scaling (offset 0, scale 1, which 0.2 wrote next to a stored
    transform) just goes away.  Raises _Damaged when the file holds both a real
    scaling and a transform, or a scaling no transform expresses.
    """
    from .data import Scale, Standardize

    if not any(key in metadata for key in LEGACY_SCALING_KEYS):
        return transform
    offset = np.asarray(metadata.pop("input_offset", 0.0), dtype=np.float64)
    scale = np.asarray(metadata.pop("input_scale", 1.0), dtype=np.float64)
    if np.all(offset == 0) and np.all(scale == 1):
        return transform
    if transform is not None:
        raise _Damaged(
            "it holds both an input_transform and the 0.2 command line's input scaling "
            "(metadata input_offset / input_scale), which no single transform combines"
        )
    if np.all(offset == 0) and np.all(scale == scale.flat[0]):
        return Scale(float(scale.flat[0]))
    if np.all(scale > 0):
        return Standardize(offset, 1.0 / scale)
    raise _Damaged(
        "its metadata input_scale has a zero or negative entry, which no input transform "
        "of this nnscratch expresses (the 0.2 command line never wrote one)"
    )


def _transform_config(network):
    from .data import transform_to_config

    return transform_to_config(getattr(network, "input_transform", None))


def _transform_from(spec):
    """The stored input transform, or a _Damaged naming what is wrong with its description."""
    from .data import transform_from_config

    if spec is None:
        return None
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("name"), str)
        or not isinstance(spec.get("config", {}), dict)
    ):
        raise _Damaged(
            f"input_transform must be null or {{'name': ..., 'config': {{...}}}}, "
            f"got {_short(spec)}"
        )
    try:
        return transform_from_config(spec)
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise _Damaged(f"input_transform {_short(spec)} cannot be rebuilt: {err}") from None
