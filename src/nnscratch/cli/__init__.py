"""Command line: ``nnscratch COMMAND`` (also ``python -m nnscratch COMMAND``).

Commands: ``train``, ``evaluate``, ``predict``, ``info``, ``export`` and ``demo``.  Bad
arguments and bad files (missing, damaged, malformed, of the wrong width) end
with one line on stderr, ``nnscratch: error: ...``, and exit status 1 (2 for
bad arguments), never a traceback.

Layout: one module per command (:mod:`~nnscratch.cli.train`,
:mod:`~nnscratch.cli.evaluate`, :mod:`~nnscratch.cli.predict`,
:mod:`~nnscratch.cli.info`, :mod:`~nnscratch.cli.export`,
:mod:`~nnscratch.cli.demo`), each with an ``add_parser(sub)`` that declares its
arguments and a ``run(args)`` that runs it; ``_tables`` turns the data a command
is given into arrays, ``_common`` holds what they share, and ``_main`` lists the
commands in :data:`COMMANDS` and runs them, so a new command is one module and
one entry.
"""

from ._common import CLIError
from ._main import COMMANDS, build_parser, main

__all__ = ["main", "build_parser", "COMMANDS", "CLIError"]
