"""The article's way of using the network: tuples of (function, derivative), an optimizer
object, fit / predict / score, and saving the parameters.

    python examples/article_example.py
"""

import numpy as np

from nnscratch import (
    SGD,
    NeuralNetwork,
    categorical_crossentropy,
    d_categorical_crossentropy,
    d_identity,
    d_mse,
    d_relu,
    d_softmax,
    identity,
    mse,
    relu,
    softmax,
    train_test_split,
)
from nnscratch.datasets import load_digits

# --- classification: the 8x8 digits ------------------------------------------------
x, y = load_digits(normalize=True)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, seed=0)

classifier = NeuralNetwork(
    [64, 100, 10],
    (relu, d_relu),
    (softmax, d_softmax),
    (categorical_crossentropy, d_categorical_crossentropy),
    SGD(learning_rate=0.1, momentum=0.9),
    seed=0,
)
losses = classifier.fit(x_train, y_train, batch_size=32, epochs=30, categorical=True, verbose=0)
print(f"classification: loss {losses[0]:.3f} -> {losses[-1]:.4f} over {len(losses)} epochs")
print(f"  test accuracy {classifier.score(x_test, y_test, accuracy=True):.2%}")
print(
    f"  first test image: predicted {classifier.predict(x_test[0], labels=True)}, true {y_test[0]}"
)

classifier.save_params("digits_params")  # writes digits_params.npy
same = NeuralNetwork(
    [64, 100, 10],
    (relu, d_relu),
    (softmax, d_softmax),
    (categorical_crossentropy, d_categorical_crossentropy),
    SGD(),
)
same.load_params("digits_params.npy")
assert np.array_equal(same.predict(x_test), classifier.predict(x_test))
print("  parameters saved and loaded into a network built with the same code")

# --- regression: a smooth curve -----------------------------------------------------
rng = np.random.default_rng(0)
x = rng.uniform(-3, 3, (1000, 1))
y = np.sin(x) + 0.1 * x**2
regressor = NeuralNetwork(
    [1, 32, 32, 1],
    (relu, d_relu),
    (identity, d_identity),
    (mse, d_mse),
    SGD(learning_rate=0.01, momentum=0.9),
    seed=0,
)
regressor.fit(x[:800], y[:800], batch_size=16, epochs=100, verbose=0)
residual = regressor.predict(x[800:]) - y[800:]
r2 = 1 - np.sum(residual**2) / np.sum((y[800:] - y[800:].mean()) ** 2)
print(f"regression: test mean squared error {regressor.score(x[800:], y[800:]):.2e}, R^2 {r2:.3f}")
