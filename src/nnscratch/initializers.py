"""Weight initialisers: ``init(fan_in, fan_out, shape, rng, dtype) -> array``.

The default is the article's variant of Xavier initialisation: a normal
distribution with mean 0 and standard deviation ``sqrt(1 / (fan_in + fan_out))``,
used for the weights and the biases alike.
"""

from __future__ import annotations

import numpy as np

from .registry import Registry

initializers = Registry("initializer")


def xavier_article(fan_in, fan_out, shape, rng, dtype):
    """Normal(0, sqrt(1 / (fan_in + fan_out))): the article's choice (the default)."""
    return rng.normal(0.0, np.sqrt(1.0 / (fan_in + fan_out)), shape).astype(dtype, copy=False)


def glorot_uniform(fan_in, fan_out, shape, rng, dtype):
    """Uniform(-l, l) with ``l = sqrt(6 / (fan_in + fan_out))`` (Glorot and Bengio, 2010)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(dtype, copy=False)


def he_normal(fan_in, fan_out, shape, rng, dtype):
    """Normal(0, sqrt(2 / fan_in)), suited to ReLU layers (He et al., 2015)."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(dtype, copy=False)


# The article draws the biases from the same distribution as the weights; the
# other schemes start biases at zero, as their papers do.
xavier_article.draws_biases = True

for _f in (xavier_article, glorot_uniform, he_normal):
    initializers.register(_f.__name__, _f)
