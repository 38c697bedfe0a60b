""" "Is this piece a built-in?" is answered once (issue 19, point 5).

The resolved pair carries its registry name (``pair.builtin``); the kernels, the
ONNX exporter and the model files read it.  Optimizer facts (which state arrays
exist, which are never negative, which numbers go with them) live on the
optimizer classes, and the model files read them there.
"""

import pickle

import numpy as np
import pytest

import nnscratch as nn
from nnscratch import _kernels, registry, saving
from nnscratch.activations import resolve_activation
from nnscratch.losses import resolve_loss

REGISTRIES = {
    "hidden": registry.hidden_activations,
    "output": registry.output_activations,
}


def every_activation(kind):
    """Built-ins by name, the article's tuple of their functions, and user pairs."""
    reg = REGISTRIES[kind]
    for name in reg.builtin_names():
        builtin = reg.builtin(name)
        yield name, name, builtin
        yield f"tuple {name}", name, tuple(builtin)
        yield f"own {name}", None, (lambda z, f=builtin.f: f(z), builtin.df)
        yield f"new df {name}", None, (builtin.f, lambda z, df=builtin.df: df(z))


@pytest.mark.parametrize("kind", ["hidden", "output"])
def test_every_reader_takes_the_pairs_own_answer(kind):
    from nnscratch import export

    table = export._HIDDEN if kind == "hidden" else export._OUTPUT
    kernels = _kernels._HIDDEN if kind == "hidden" else _kernels._OUTPUT
    for label, expected, spec in every_activation(kind):
        act = resolve_activation(spec, kind, "activation")
        assert act.builtin == expected, label
        # the kernels
        assert _kernels.kernel_activation(act, kind == "hidden") == (
            expected if expected in kernels else None
        ), label
        # the exporter
        if expected in table:
            assert export._builtin_name(act, table, kind) == expected, label
        else:
            with pytest.raises(ValueError, match="user's own pair"):
                export._builtin_name(act, table, kind)
        # the model files: a built-in is stored under its own name
        if expected is not None:
            assert saving._piece_name(act, REGISTRIES[kind], kind, "") == expected


def test_losses_answer_the_same_way():
    for name in registry.losses.builtin_names():
        builtin = registry.losses.builtin(name)
        assert resolve_loss(name).builtin == name
        assert resolve_loss(tuple(builtin)).builtin == name
        assert resolve_loss((lambda p, t, f=builtin.f: f(p, t), builtin.df)).builtin is None
    # fused output gradients only for built-in canonical pairs
    softmax = registry.output_activations.builtin("softmax")
    cce = registry.losses.builtin("categorical_crossentropy")
    assert _kernels.kernel_output_pair(softmax, cce) == ("softmax", "categorical_crossentropy")
    assert _kernels.kernel_output_pair(softmax, resolve_loss((cce.f, cce.df))) == (
        "softmax",
        "categorical_crossentropy",
    )
    assert _kernels.kernel_output_pair(softmax, resolve_loss((cce.f, lambda p, t: 0))) is None


def test_a_users_pair_under_a_builtins_name_is_the_users(tmp_path):
    def my_relu(z):
        return np.maximum(z, 0.0)

    def d_my_relu(z):
        return (z > 0) * 1.0

    original = registry.hidden_activations.get("relu")
    nn.register_activation("relu", my_relu, d_my_relu, overwrite=True)
    try:
        net = nn.NeuralNetwork([3, 4, 2], "relu", "softmax", "mse", "sgd", seed=0)
        assert net.hidden_activation.f is my_relu and net.hidden_activation.builtin is None
        assert _kernels.kernel_activation(net.hidden_activation, True) is None
        assert registry.hidden_activations.builtin("relu") is original
    finally:
        registry.hidden_activations.register("relu", original, overwrite=True)
    assert registry.hidden_activations.get("relu") is original


def test_the_answer_survives_pickling_and_model_files(tmp_path):
    net = nn.NeuralNetwork([3, 4, 2], "tanh", "softmax", "categorical_crossentropy", "adam")
    for copy in (pickle.loads(pickle.dumps(net)), nn.load_model(net.save(tmp_path / "m.npz"))):
        assert copy.hidden_activation.builtin == "tanh"
        assert copy.output_activation.builtin == "softmax"
        assert copy.loss.builtin == "categorical_crossentropy"


def test_a_typo_in_a_loss_name_lists_only_public_names():
    """Issue 20: a typo listed the estimators' internal losses (half_poisson_deviance, ...)."""
    with pytest.raises(ValueError) as err:
        nn.NeuralNetwork([3, 4, 2], "relu", "softmax", "mse_", "sgd")
    message = str(err.value)
    assert "Did you mean 'mse'?" in message
    for internal in ("half_squared_error", "summed_binary_crossentropy", "half_poisson_deviance"):
        assert internal in registry.losses  # still usable by name (the estimators' files)
        assert internal not in message and internal not in registry.losses.names()
    for public in ("mse", "mae", "huber", "categorical_crossentropy", "binary_crossentropy"):
        assert public in message


# ------------------------------------------------------------------ optimizer facts
def optimizer_classes():
    return [registry.optimizers.get(name) for name in registry.optimizers.names()]


def test_optimizer_facts_are_on_the_classes():
    for cls in optimizer_classes():
        assert set(cls._non_negative_state) <= set(cls._state_names), cls
        assert cls._state_scalars == ("iterations",), cls
        state = cls().get_state()
        assert set(state) == {"iterations"}  # no step taken: no arrays yet


def trained_file(tmp_path, optimizer):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    net = nn.NeuralNetwork([3, 4, 2], "relu", "softmax", "categorical_crossentropy", optimizer)
    net.fit(x, y, 10, 1, categorical=True, verbose=0)
    return net


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad"])
def test_model_files_read_the_optimizer_facts_from_the_class(name, tmp_path, monkeypatch):
    """A negative entry in a state array the class calls non-negative is refused; the
    same file loads once the class says otherwise (the file reads the class)."""
    from legacy_models import write_v02_model

    net = trained_file(tmp_path, name)
    cls = type(net.optimizer)
    state = net.optimizer.get_state()
    for array_name in cls._state_names:
        broken = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
        broken[array_name][0] = -1.0
        net.optimizer.set_state(broken)
        path = write_v02_model(tmp_path / f"{array_name}.npz", net)
        if array_name in cls._non_negative_state:
            with pytest.raises(ValueError, match=f"{array_name}.npy holds negative values"):
                nn.load_model(path)
            monkeypatch.setattr(cls, "_non_negative_state", ())
        loaded = nn.load_model(path)
        assert loaded.optimizer.get_state()[array_name][0] == -1.0
        monkeypatch.undo()


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad"])
def test_an_unknown_optimizer_state_key_says_what_is_wrong(name, tmp_path):
    """Issue 20 (model files): an unknown key in the optimizer's state named only itself."""
    import io
    import json
    import zipfile

    from legacy_models import write_v02_model

    net = trained_file(tmp_path, name)
    path = write_v02_model(tmp_path / "m.npz", net)
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}

    meta = json.loads(str(np.load(io.BytesIO(members["meta.npy"]))))
    meta["optimizer"]["state"]["momentum_buffer"] = 3
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(json.dumps(meta)), allow_pickle=False)
    with zipfile.ZipFile(path, "w") as archive:
        for n, raw in members.items():
            archive.writestr(n, buffer.getvalue() if n == "meta.npy" else raw)
    cls = type(net.optimizer).__name__
    with pytest.raises(
        ValueError,
        match=f"optimizer state holds 'momentum_buffer', which {cls} does not keep "
        r"\(its state: iterations and the arrays",
    ):
        nn.load_model(path)
