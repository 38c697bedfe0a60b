"""nnscratch: a multi-layer perceptron written from scratch with NumPy.

The public face is the design of "Implement a Neural Network from Scratch with
NumPy": activations and losses as ``(function, derivative)`` pairs, any
optimizer object with ``update(old_params, gradient)``, and a
``NeuralNetwork(layers, hidden_activation, output_activation, loss, optimizer)``
that trains with ``fit`` and answers with ``predict`` and ``score``.
"""

from . import callbacks, datasets, gradcheck, registry, schedules
from ._version import __version__
from .activations import (
    Activation,
    d_elu,
    d_identity,
    d_leaky_relu,
    d_relu,
    d_sigmoid,
    d_sigmoid_output,
    d_softmax,
    d_softplus,
    d_tanh,
    elu,
    identity,
    leaky_relu,
    register_activation,
    relu,
    sigmoid,
    softmax,
    softplus,
    tanh,
)
from .callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
)
from .exceptions import ConcurrentTrainingError, DivergenceWarning, TrainingInterrupted
from .losses import (
    EPS,
    Loss,
    binary_crossentropy,
    categorical_crossentropy,
    d_binary_crossentropy,
    d_categorical_crossentropy,
    d_huber,
    d_mae,
    d_mse,
    huber,
    mae,
    mse,
    register_loss,
)
from .network import NeuralNetwork, load_model
from .optimizers import SGD, Adagrad, Adam, Optimizer, RMSprop, register_optimizer
from .plotting import plot_history
from .utils import to_categorical, train_test_split

__all__ = [
    "NeuralNetwork",
    "load_model",
    "plot_history",
    "DivergenceWarning",
    "TrainingInterrupted",
    "ConcurrentTrainingError",
    "Callback",
    "EarlyStopping",
    "ModelCheckpoint",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "callbacks",
    "schedules",
    "Activation",
    "Loss",
    "Optimizer",
    "SGD",
    "Adam",
    "RMSprop",
    "Adagrad",
    "relu",
    "d_relu",
    "sigmoid",
    "d_sigmoid",
    "d_sigmoid_output",
    "tanh",
    "d_tanh",
    "leaky_relu",
    "d_leaky_relu",
    "elu",
    "d_elu",
    "softplus",
    "d_softplus",
    "identity",
    "d_identity",
    "softmax",
    "d_softmax",
    "categorical_crossentropy",
    "d_categorical_crossentropy",
    "binary_crossentropy",
    "d_binary_crossentropy",
    "mse",
    "d_mse",
    "mae",
    "d_mae",
    "huber",
    "d_huber",
    "EPS",
    "to_categorical",
    "train_test_split",
    "register_activation",
    "register_loss",
    "register_optimizer",
    "gradcheck",
    "datasets",
    "registry",
    "__version__",
]
