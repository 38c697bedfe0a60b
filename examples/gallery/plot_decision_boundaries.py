"""
Decision boundaries for several activations
===========================================

Two interleaved spirals in the plane: no straight line separates them.  The
same 2-32-32-2 network, with the same seed and the same Adam settings, is
trained with four hidden activations; the colour shows the probability of the
second class at every point of the plane.  ReLU and leaky ReLU draw their
boundary out of straight pieces, ELU curves it.  With tanh this run stalls on
a plateau with a boundary hardly better than a straight line (the article's
algorithm as written, :class:`nnscratch.reference.ArticleNetwork`, stalls at
the same loss from the same start): a reminder that the activation changes
the optimisation, not only the shape of the answer.
"""

import matplotlib.pyplot as plt
import numpy as np

import nnscratch as nn

rng = np.random.default_rng(0)


def spirals(n_per_class, noise, rng):
    """Points on two spirals, half a turn apart; labels 0 and 1."""
    t = np.sqrt(rng.uniform(0.05, 1, n_per_class)) * 3 * np.pi
    arm = np.column_stack([t * np.cos(t), t * np.sin(t)]) / (3 * np.pi)
    x = np.vstack([arm, -arm]) + rng.normal(0, noise, (2 * n_per_class, 2))
    y = np.repeat([0, 1], n_per_class)
    return x, y


x, y = spirals(200, 0.04, rng)
grid_u, grid_v = np.meshgrid(np.linspace(-1.3, 1.3, 150), np.linspace(-1.3, 1.3, 150))
grid = np.column_stack([grid_u.ravel(), grid_v.ravel()])

fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), sharey=True)
for ax, activation in zip(axes, ["relu", "leaky_relu", "elu", "tanh"]):
    net = nn.NeuralNetwork(
        [2, 32, 32, 2],
        activation,
        "softmax",
        "categorical_crossentropy",
        nn.Adam(1e-2),
        seed=0,
    )
    net.fit(x, y, 32, 250, categorical=True, verbose=0)
    accuracy = net.score(x, y, accuracy=True)
    surface = net.predict(grid)[:, 1].reshape(grid_u.shape)
    ax.contourf(
        grid_u, grid_v, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8
    )
    ax.scatter(
        x[:, 0], x[:, 1], c=y, cmap="RdBu_r", s=6, edgecolors="k", linewidths=0.2
    )
    ax.set_title(f"{activation}: training accuracy {accuracy:.0%}")
    ax.set_aspect("equal")
    print(f"{activation:>10}: {accuracy:.3f}")
fig.tight_layout()
plt.show()
