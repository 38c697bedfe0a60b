"""The ``(function, derivative)`` pair protocol shared by activations and losses.

The article passes every activation and loss as a plain tuple ``(f, df)``.  The
library's :class:`~nnscratch.Activation` and :class:`~nnscratch.Loss` add a
name (for model files and messages) and optional fast paths, but still unpack,
index and call like that tuple, so they fit anywhere the article's tuple does.
"""

from __future__ import annotations


class Pair:
    """A named ``(f, df)`` pair that behaves like the article's tuple.

    Parameters
    ----------
    name : str or None
        The registry name; None for a user's unnamed pair.
    f, df : callable
        The function and its derivative.
    """

    def __init__(self, name, f, df):
        self.name = name
        self.f = f
        self.df = df

    @property
    def builtin(self):
        """The registry name when this pair is one of the library's own, else None.

        The one answer to "is this piece a built-in?": the kernels, the ONNX
        exporter and the model files read it.  A user's pair never has one, even
        when it is registered under a built-in's name or made of a built-in's
        functions wrapped anew; the article's tuple of built-in functions, such
        as ``(softmax, d_softmax)``, resolves to the built-in object itself.
        """
        return self.__dict__.get("_builtin")

    def __iter__(self):
        return iter((self.f, self.df))

    def __getitem__(self, index):
        return (self.f, self.df)[index]

    def __len__(self):
        return 2

    def __call__(self, *args):
        return self.f(*args)

    @property
    def label(self):
        """The name, or the function's own name for an unnamed pair."""
        return self.name or getattr(self.f, "__name__", "custom")

    def __repr__(self):
        return f"{type(self).__name__}({self.label!r})"


def find_pair(registry, f, df):
    """The ``(name, entry)`` of ``registry`` whose functions are exactly ``f`` and ``df``, or None.

    This is how a tuple of built-in functions, such as the article's
    ``(softmax, d_softmax)``, is recognised as the built-in and gets its fast path.
    """
    return registry.find(lambda entry: entry.f is f and entry.df is df)


def register_builtin(registry, pair, **options):
    """Register one of the library's own pairs: marked built-in, remembered apart."""
    pair._builtin = pair.name
    return registry.register(pair.name, pair, builtin=True, **options)
