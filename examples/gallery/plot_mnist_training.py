"""
MNIST: a 784-512-256-10 network
===============================

The full 60,000 training images (10% held out for early stopping), at most 20
epochs with dropout in float32, evaluated on the 10,000 test images: expect
about 98% test accuracy within a few minutes on two CPU cores.  This example is
shown but **not run** when the site is built (it needs the MNIST files and
minutes of CPU); run it yourself from the repository root with the files in
``../shared/data/mnist``, or pass your data folder as the first argument.
"""

import sys

import matplotlib.pyplot as plt

import nnscratch as nn
from nnscratch.datasets import load_mnist

data_home = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
x_train, y_train = load_mnist("train", data_home=data_home)  # (60000, 784) float32
x_test, y_test = load_mnist("test", data_home=data_home)  # (10000, 784)

net = nn.NeuralNetwork(
    [784, 512, 256, 10],
    "relu",
    "softmax",
    "categorical_crossentropy",
    "adam",
    dtype="float32",
    seed=0,
    dropout=0.2,
)
net.fit(
    x_train,
    y_train,
    128,
    20,
    categorical=True,
    verbose=2,
    validation_split=0.1,
    callbacks=[nn.EarlyStopping("val_loss", patience=4)],
)
print(f"test accuracy {net.score(x_test, y_test, accuracy=True):.4f}")

fig = nn.plot_history(net.history, title="784-512-256-10 on MNIST")
plt.show()
