"""
Confusion matrix on the digits
==============================

Which digits does a small network mistake for which?  Row ``i``, column ``j``
counts the test images of digit ``i`` that the network called ``j``; a
perfect classifier puts every count on the diagonal.
"""

import matplotlib.pyplot as plt
import numpy as np

import nnscratch as nn
from nnscratch.datasets import load_digits

x, y = load_digits(normalize=True)
x_train, x_test, y_train, y_test = nn.train_test_split(x, y, test_size=0.3, seed=1)

net = nn.NeuralNetwork(
    [64, 32, 10],
    "relu",
    "softmax",
    "categorical_crossentropy",
    nn.SGD(0.05, momentum=0.9),
    seed=1,
)
net.fit(x_train, y_train, 32, 15, categorical=True, verbose=0)
predicted = net.predict(x_test, labels=True)

# %%
# Counting pairs (true, predicted) with one call: ``np.add.at`` adds 1 at every
# pair, repeated pairs included.
counts = np.zeros((10, 10), dtype=int)
np.add.at(counts, (y_test, predicted), 1)
print(f"accuracy {np.trace(counts) / counts.sum():.3f}")

fig, ax = plt.subplots(figsize=(6, 5.5))
image = ax.imshow(counts, cmap="Blues")
for (i, j), n in np.ndenumerate(counts):
    if n:
        ax.text(
            j,
            i,
            n,
            ha="center",
            va="center",
            fontsize=8,
            color="white" if n > counts.max() / 2 else "black",
        )
ax.set_xticks(range(10))
ax.set_yticks(range(10))
ax.set_xlabel("predicted digit")
ax.set_ylabel("true digit")
ax.set_title(f"Confusion matrix, {counts.sum()} test digits")
fig.colorbar(image, ax=ax, shrink=0.8)
fig.tight_layout()
plt.show()
