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
        self._builtins = {}
        self._hidden = set()

    def register(self, name, entry, *, overwrite=False, builtin=False, public=True):
        """Add ``entry`` under ``name``; refuses to replace one silently.

        ``builtin`` and ``public`` are for the library's own entries: a built-in
        is remembered apart (:meth:`builtin` finds it even after a user's entry
        replaced it), and a non-public one (an estimator's internal loss) works
        by name but is left out of :meth:`names` and of the lists in messages.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        key = name.lower()
        if key in self._entries and not overwrite:
            raise ValueError(
                f"a {self.kind} named {name!r} is already registered; "
                "pass overwrite=True to replace it"
            )
        self._entries[key] = entry
        if builtin:
            self._builtins[key] = entry
        if public:
            self._hidden.discard(key)
        else:
            self._hidden.add(key)
        return entry

    def unregister(self, name):
        """Remove a user entry (built-ins can be removed too, at your own risk)."""
        self._entries.pop(name.lower(), None)

    def get(self, name):
        """Return the entry called ``name`` or raise a ValueError listing the public names."""
        try:
            return self._entries[name.lower()]
        except KeyError:
            pass
        public = self.names()
        close = difflib.get_close_matches(name.lower(), public, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {self.kind} {name!r}; known names: {', '.join(public)}.{hint}")

    def builtin(self, name):
        """The library's own entry called ``name`` (even if a user's entry replaced it)."""
        return self._builtins[name.lower()]

    def builtin_names(self):
        """The names of the library's own entries, in the order they were registered."""
        return tuple(self._builtins)

    def find(self, predicate):
        """Return the first ``(name, entry)`` for which ``predicate(entry)`` holds, else None."""
        for name, entry in self._entries.items():
            if predicate(entry):
                return name, entry
        return None

    def names(self):
        """The public names, sorted (what messages and the command line offer)."""
        return sorted(k for k in self._entries if k not in self._hidden)

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self):
        return iter(self.names())  # public names only

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.kind!r}, names={self.names()})"


hidden_activations = Registry("hidden activation")
output_activations = Registry("output activation")
losses = Registry("loss")
optimizers = Registry("optimizer")
