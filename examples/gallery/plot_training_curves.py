"""
Training curves
===============

Train a 64-64-10 network on the embedded digits with a validation split and
early stopping, then draw ``net.history`` with :func:`nnscratch.plot_history`.
The validation loss levels off while the training loss keeps falling; early
stopping ends the run there and puts back the best epoch's weights.
"""

import matplotlib.pyplot as plt

import nnscratch as nn
from nnscratch.datasets import load_digits

x, y = load_digits(normalize=True)
x_train, x_test, y_train, y_test = nn.train_test_split(x, y, test_size=0.2, seed=0)

net = nn.NeuralNetwork(
    [64, 64, 10], "relu", "softmax", "categorical_crossentropy", nn.Adam(3e-3), seed=0
)
net.fit(
    x_train,
    y_train,
    32,
    100,
    categorical=True,
    verbose=0,
    validation_split=0.15,
    callbacks=[nn.EarlyStopping("val_loss", patience=8)],
)

print(
    f"{len(net.history['loss'])} epochs, "
    f"test accuracy {net.score(x_test, y_test, accuracy=True):.3f}"
)

fig = nn.plot_history(net.history, title="64-64-10 on the 8x8 digits")
plt.show()
