"""The version of nnscratch, in a module of its own so that any part can read it
without importing the package's face (``nnscratch/__init__.py``)."""

__version__ = "0.3.0"
