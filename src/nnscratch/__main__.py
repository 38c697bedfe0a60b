"""``python -m nnscratch``: the command line (:mod:`nnscratch.cli`)."""

import sys

from .cli import main

sys.exit(main())
