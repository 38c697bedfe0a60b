"""
MNIST on a budget: a 784-256-128-10 network
===========================================

This example runs every time the site is built, so it trains on a budget
that fits a documentation build: the first 15,000 of MNIST's 60,000 training
images (10% of them held out for validation), for 6 epochs, in float32; then
it scores all 10,000 test images.  That takes under 10 seconds of CPU time
(the time it took when this page was built is printed below) and reaches
about 96% test accuracy.  The full training set for 20
epochs, with dropout, reaches 98.3% (the README's command,
``nnscratch train --data mnist --layers 512,256 --dropout 0.2 --epochs 20``).

The MNIST files are read from the folder given as the first argument, else
from ``$NNSCRATCH_DATA`` (the site's build sets it to ``../shared/data``
beside the repository when that folder holds MNIST).  Change ``TRAIN_ROWS``
and ``EPOCHS`` for a longer run.
"""

import sys
import time

import matplotlib.pyplot as plt
import numpy as np

import nnscratch as nn
from nnscratch.datasets import load_mnist

TRAIN_ROWS = 15_000  # of 60,000
EPOCHS = 6

data_home = sys.argv[1] if len(sys.argv) > 1 else None  # None: $NNSCRATCH_DATA
x_train, y_train = load_mnist(
    "train", data_home=data_home
)  # (60000, 784) float32 in [0, 1]
x_test, y_test = load_mnist("test", data_home=data_home)  # (10000, 784)
x_train, y_train = x_train[:TRAIN_ROWS], y_train[:TRAIN_ROWS]
print(f"training on {len(x_train):,} images, testing on {len(x_test):,}")

net = nn.NeuralNetwork(
    [784, 256, 128, 10],
    "relu",
    "softmax",
    "categorical_crossentropy",
    "adam",
    dtype=np.float32,
    seed=0,
)
start = time.perf_counter()
net.fit(
    x_train, y_train, 128, EPOCHS, categorical=True, verbose=0, validation_split=0.1
)
seconds = time.perf_counter() - start
print(f"{EPOCHS} epochs in {seconds:.1f} s")
print(
    f"validation accuracy by epoch: {np.round(net.history['val_accuracy'], 4).tolist()}"
)
print(f"test accuracy {net.score(x_test, y_test, accuracy=True):.4f}")

# %%
# The learning curves: loss and accuracy on the training rows and on the
# held-out tenth, epoch by epoch.
fig = nn.plot_history(
    net.history, title=f"784-256-128-10 on {TRAIN_ROWS:,} MNIST images"
)
plt.show()
