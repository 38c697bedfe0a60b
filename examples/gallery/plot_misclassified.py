"""
Misclassified digits
====================

The test images a small network gets wrong, drawn as the 8x8 pictures they
are, with the true label, the network's answer and how sure it was.  Many are
hard for people too.
"""

import matplotlib.pyplot as plt
import numpy as np

import nnscratch as nn
from nnscratch.datasets import load_digits

x, y = load_digits(normalize=True)
x_train, x_test, y_train, y_test = nn.train_test_split(x, y, test_size=0.3, seed=2)

net = nn.NeuralNetwork(
    [64, 32, 10], "relu", "softmax", "categorical_crossentropy", nn.Adam(1e-3), seed=2
)
net.fit(x_train, y_train, 32, 20, categorical=True, verbose=0)

probabilities = net.predict(x_test)  # (n, 10), rows sum to 1
predicted = probabilities.argmax(axis=1)
wrong = np.flatnonzero(predicted != y_test)
print(f"{wrong.size} of {y_test.size} test digits misclassified")

# %%
# The most confident mistakes first.
wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:18]
fig, axes = plt.subplots(3, 6, figsize=(9, 6.6), layout="constrained")
for ax in axes.flat:
    ax.axis("off")
for ax, i in zip(axes.flat, wrong):
    ax.imshow(x_test[i].reshape(8, 8), cmap="gray_r", interpolation="nearest")
    sure = probabilities[i, predicted[i]]
    ax.set_title(
        f"true {y_test[i]}, said {predicted[i]}\n({sure:.0%} sure)", fontsize=9
    )
fig.suptitle("Test digits the network got wrong, most confident first")
plt.show()
