"""Read the runnable parts of a reST page, without Sphinx: for the tests and the extension.

A page's runnable parts, in order:

* ``.. runblock::`` and ``.. code-block:: python``: Python code (kind ``"python"``);
* ``.. command-output:: ARGS`` (with the ``:fails:`` flag when the command is
  expected to fail): a run of ``python -m nnscratch ARGS`` (kind ``"command"``);
* ``.. needs:: EXPRESSION``: from here on the page needs what EXPRESSION
  checks (kind ``"needs"``; see :func:`needs_met`).

``tests/test_docs.py`` runs them in order, in one namespace and one scratch
folder per page, as the Sphinx build does.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import NamedTuple

DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?P<name>[\w-]+)::\s*(?P<argument>.*)$")


class Part(NamedTuple):
    """One runnable part of a page."""

    kind: str  # "python", "command" or "needs"
    text: str  # the code, the command's arguments, or the needs expression
    line: int  # 1-based line of the directive in the page
    options: dict  # the directive's options (":fails:" -> {"fails": ""})
    content: str  # the directive's content (a needs' reason; the code for python)


def _body(lines, start, indent):
    """Options and indented content of the directive whose line is ``start - 1``."""
    options, i = {}, start
    while i < len(lines) and re.match(r"^\s+:[\w-]+:", lines[i]):
        key, _, value = lines[i].strip()[1:].partition(":")
        options[key] = value.strip()
        i += 1
    body = []
    while i < len(lines) and (
        not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
    ):
        body.append(lines[i])
        i += 1
    return options, textwrap.dedent("\n".join(body)).strip("\n"), i


def runnable_parts(text):
    """The runnable parts of a page's reST source, in order (a list of :class:`Part`)."""
    lines = text.splitlines()
    parts, i = [], 0
    while i < len(lines):
        match = DIRECTIVE.match(lines[i])
        if not match:
            i += 1
            continue
        name, argument = match["name"], match["argument"].strip()
        options, content, end = _body(lines, i + 1, len(match["indent"]))
        if name == "runblock" or (name in ("code-block", "code") and argument == "python"):
            parts.append(Part("python", content, i + 1, options, content))
        elif name == "command-output":
            parts.append(Part("command", argument, i + 1, options, content))
        elif name == "needs":
            parts.append(Part("needs", argument, i + 1, options, " ".join(content.split())))
        i = max(end, i + 1)
    return parts


def read_parts(path):
    return runnable_parts(Path(path).read_text(encoding="utf-8"))


def needs_met(expression):
    """Whether a ``.. needs::`` expression holds in this Python (an ImportError: no).

    The expression sees ``nnscratch``, ``importlib`` and ``inspect``.
    """
    import importlib
    import inspect

    import nnscratch

    try:
        return bool(
            eval(expression, {"nnscratch": nnscratch, "importlib": importlib, "inspect": inspect})
        )
    except (ImportError, AttributeError):
        return False
