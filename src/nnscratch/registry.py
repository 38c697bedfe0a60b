"""Name -> component registries.

Every place that accepts an activation pair, a loss pair or an optimizer also
accepts a name.  The names are looked up here, and users can add their own
entries so that their pieces get a name too (model files store names, never
code)::

    import nnscratch

    def swish(z): ...
    def d_swish(z): ...

    nnscratch.register_activation("swish", swish, d_swish)
    net = nnscratch.NeuralNetwork([4, 8, 3], "swish", "softmax",
                                  "categorical_crossentropy", "adam")
"""

from __future__ import annotations

import difflib


class Registry:
    """A small ordered mapping from names to components.

    Parameters
    ----------
    kind : str
        What the entries are, used in error messages ("hidden activation").
    """

    def __init__(self, kind):
        self.kind = kind
        self._entries = {}

    def register(self, name, entry, *, overwrite=False):
        """Add ``entry`` under ``name``; refuses to replace one silently."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        key = name.lower()
        if key in self._entries and not overwrite:
            raise ValueError(
                f"a {self.kind} named {name!r} is already registered; "
                "pass overwrite=True to replace it"
            )
        self._entries[key] = entry
        return entry

    def unregister(self, name):
        """Remove a user entry (built-ins can be removed too, at your own risk)."""
        self._entries.pop(name.lower(), None)

    def get(self, name):
        """Return the entry called ``name`` or raise a ValueError listing the known names."""
        try:
            return self._entries[name.lower()]
        except KeyError:
            pass
        known = ", ".join(sorted(self._entries))
        close = difflib.get_close_matches(name.lower(), self._entries, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {self.kind} {name!r}; known names: {known}.{hint}")

    def find(self, predicate):
        """Return the first ``(name, entry)`` for which ``predicate(entry)`` holds, else None."""
        for name, entry in self._entries.items():
            if predicate(entry):
                return name, entry
        return None

    def names(self):
        return sorted(self._entries)

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self):
        return iter(self.names())

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.kind!r}, names={self.names()})"


hidden_activations = Registry("hidden activation")
output_activations = Registry("output activation")
losses = Registry("loss")
optimizers = Registry("optimizer")
