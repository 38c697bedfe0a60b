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

import os
import re
import textwrap
from pathlib import Path
from typing import NamedTuple

# The widest line of code a page may show.  Measured in headless Chromium at a
# 1280 px window with docs/_static/nnscratch.css: a guide's code blocks hold 95
# characters of the monospace face (the tutorial and the front page, without the
# left sidebar, 122).  Three columns are kept in reserve for wider fonts.
# tests/test_docs.py holds every code line of the site to it; outputs wrap instead
# (the CSS sets them to pre-wrap), and command-output wraps its command to it.
CODE_COLUMNS = 92

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


def mnist_data_home(repo):
    """The data folder holding MNIST for the gallery's MNIST example, or None.

    Looked for in ``$NNSCRATCH_TEST_DATA`` (the tests' override), ``$NNSCRATCH_DATA``
    (the loaders' own variable) and ``../shared/data`` beside the repository
    ``repo``, in that order: the first that holds the MNIST training images wins.
    """
    candidates = [
        os.environ.get("NNSCRATCH_TEST_DATA"),
        os.environ.get("NNSCRATCH_DATA"),
        Path(repo).parent / "shared" / "data",
    ]
    for folder in candidates:
        if folder and (Path(folder) / "mnist" / "train-images-idx3-ubyte.gz").is_file():
            return Path(folder)
    return None


def gallery_pattern(mnist_home):
    """sphinx-gallery's ``filename_pattern``: which ``plot_*.py`` scripts run at build time.

    All of them when MNIST is at hand; without it, all but the MNIST ones
    (``plot_mnist*.py``), which are then shown with their code only.
    """
    return r"/plot_" if mnist_home is not None else r"/plot_(?!mnist)"


def wrap_command(words, width=CODE_COLUMNS, prompt="$ nnscratch"):
    """A shell command as lines of at most ``width`` characters, joined by ``\\``.

    ``words`` are the arguments after the prompt; an option and its value
    (``--layers 64``) stay on one line.  A single word longer than the width is
    left whole on its own line.
    """
    groups, i = [], 0
    while i < len(words):
        if words[i].startswith("-") and i + 1 < len(words) and not words[i + 1].startswith("-"):
            groups.append(f"{words[i]} {words[i + 1]}")
            i += 2
        else:
            groups.append(words[i])
            i += 1
    lines, line = [], prompt
    for group in groups:
        if len(line) + 1 + len(group) + 2 > width and line.strip() not in ("", prompt):
            lines.append(line + " \\")
            line = "    " + group
        else:
            line = f"{line} {group}"
    lines.append(line)
    return "\n".join(lines)
