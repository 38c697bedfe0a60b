"""The parser and the entry point: each command module adds its parser and runs it."""

from __future__ import annotations

import contextlib
import os
import sys

from . import demo, evaluate, export, info, predict, train
from ._common import CLIError, _Parser

#: Each command's parser builder, in the order ``--help`` lists them.
COMMANDS = [
    train.add_parser,
    evaluate.add_parser,
    predict.add_parser,
    info.add_parser,
    export.add_parser,
    demo.add_parser,
]


def build_parser():
    from .._version import __version__

    parser = _Parser(
        prog="nnscratch",
        description="A neural network from scratch with NumPy: train, evaluate "
        "and use multi-layer perceptrons from the terminal.",
    )
    parser.add_argument("--version", action="version", version=f"nnscratch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0 done, 1 failed, 2 bad arguments).

    Every failure is one line on stderr, ``nnscratch: error: ...``; Ctrl-C is
    left to Python (and to training, which stops cleanly after the batch).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as Unix tools do
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more is written
        return 0
    except (CLIError, ValueError, TypeError, OSError, ImportError) as err:
        message = " ".join(str(err).split()) or type(err).__name__
    except MemoryError:
        message = "out of memory"
    except Exception as err:  # noqa: BLE001 - never a traceback, but say what it was
        message = " ".join(str(err).split())
        message = f"{type(err).__name__}{': ' + message if message else ''}"
    print(f"nnscratch: error: {message}", file=sys.stderr)
    return 1
