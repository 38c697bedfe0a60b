"""``python -m nnscratch.cli``, the same as ``python -m nnscratch``."""

import sys

from ._main import main

sys.exit(main())
