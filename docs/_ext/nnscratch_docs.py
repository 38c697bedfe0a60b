"""Sphinx helpers that keep the site honest: what it shows is computed at build time.

Three pieces, each small enough to read in one sitting:

``.. runblock::``
    Runs the Python code of the directive while the page is read and shows
    the code followed by what it printed and the warnings it raised.  All
    runblocks of one page share one namespace and run in order, in a
    temporary working folder, so files a snippet writes never land in the
    repository.  A snippet that raises
    stops the build with the traceback: a page cannot show code that fails.

``.. needs:: EXPRESSION``
    From here to the end of the page, the runblocks need a feature that may
    be missing from this build (an optional package, or a part of nnscratch
    still being written).  EXPRESSION is Python, evaluated with ``nnscratch``,
    ``importlib`` and ``inspect`` at hand; an ImportError counts as false.
    Where it is false, the runblocks that follow are shown but not run, and
    the page says so in a note, naming the directive's content as the reason.
    ``tests/test_docs.py`` reads the same lines and skips those blocks,
    giving the same reason.

``.. command-output:: ARGS``
    Runs ``python -m nnscratch ARGS`` and shows the command and its output.

``.. nnscratch-help::``
    The ``--help`` of the ``nnscratch`` command and of every subcommand its
    parser knows, found from the parser itself, so new commands appear
    without editing the page.

:func:`write_api_pages` writes the API reference sources (``docs/api/generated``)
from ``nnscratch.__all__`` and from the package's public submodules, so the
reference cannot miss a public name.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from nnscratch_pages import needs_met, wrap_command
from sphinx.util.docutils import SphinxDirective

HELP_COLUMNS = "90"  # argparse wraps help text to $COLUMNS: fixed, so pages don't vary


# ------------------------------------------------------------------ runblock
class RunBlock(SphinxDirective):
    """Show Python code, run it in the page's namespace, show its output."""

    has_content = True
    option_spec = {"hide-output": directives.flag}

    def run(self):
        code = "\n".join(self.content)
        state = self.env.temp_data.setdefault("runblock", _PageState())
        if state.missing is not None:
            return [_literal(code, "python")]
        try:
            printed = state.execute(code, f"<{self.env.docname} runblock {self.lineno}>")
        except Exception as err:  # any failure must stop the build, with the trace
            raise self.error(
                f"this runblock raised an exception:\n{traceback.format_exc()}"
            ) from err
        shown = [_literal(code, "python")]
        if printed.strip() and "hide-output" not in self.options:
            block = _literal(printed.rstrip("\n"), "text")
            block["classes"].append("runblock-output")
            shown.append(block)
        return shown


class _PageState:
    """One namespace and one scratch folder per page."""

    def __init__(self):
        self.namespace = {"__name__": "__docs__"}
        self.folder = tempfile.mkdtemp(prefix="nnscratch-docs-")
        self.missing = None  # the reason why the page's remaining runblocks don't run

    def execute(self, code, label):
        """Run ``code``; return what it printed, then the warnings it raised.

        A warning the snippet raises is shown on the page as a reader running the
        page's snippets in one session would see it (``Category: message``): the
        warning filters are Python's and the snippet's own, as in that session,
        so a page cannot hide a warning its code gives.
        """
        out = io.StringIO()
        raised = []

        def show(message, category, *args, **kwargs):
            raised.append(f"{category.__name__}: {message}\n")

        here, saved = os.getcwd(), warnings.showwarning
        os.chdir(self.folder)
        warnings.showwarning = show
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, label, "exec"), self.namespace)  # noqa: S102 - our own pages
        finally:
            warnings.showwarning = saved
            os.chdir(here)
        return out.getvalue() + "".join(raised)


class Needs(SphinxDirective):
    """``.. needs:: EXPRESSION`` with the reason as content; see the module docstring."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True

    def run(self):
        state = self.env.temp_data.setdefault("runblock", _PageState())
        if state.missing is not None or needs_met(self.arguments[0]):
            return []  # met, or the page already says why its blocks don't run
        reason = " ".join(self.content).strip() or self.arguments[0]
        state.missing = reason
        note = nodes.note()
        note += nodes.paragraph(
            text=f"The examples below were not run when this page was built: {reason}"
        )
        return [note]


def _literal(text, language):
    block = nodes.literal_block(text, text)
    block["language"] = language
    return block


def _forget_page_state(app, env, docname):
    state = env.temp_data.pop("runblock", None)
    if state is not None:
        shutil.rmtree(state.folder, ignore_errors=True)


# ------------------------------------------------------------ command output
def run_cli(args, cwd=None):
    """What ``python -m nnscratch ARGS`` prints (stdout, stderr as they come), and its status."""
    env = dict(os.environ, COLUMNS=HELP_COLUMNS, NO_COLOR="1")
    proc = subprocess.run(
        [sys.executable, "-m", "nnscratch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )
    return proc.stdout, proc.returncode


class CommandOutput(SphinxDirective):
    """``.. command-output:: train --help`` shows ``$ nnscratch train --help`` and its output.

    The command runs in the page's scratch folder (the one its runblocks use),
    so files it writes stay out of the repository and later commands and
    runblocks of the page find them.
    """

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"fails": directives.flag}  # the command is expected to fail

    def run(self):
        args = self.arguments[0].split()
        state = self.env.temp_data.setdefault("runblock", _PageState())
        if state.missing is not None:  # the page says why its examples don't run
            return [_literal(wrap_command(args), "console")]
        text, status = run_cli(args, cwd=state.folder)
        if (status != 0) != ("fails" in self.options):
            expected = "to fail" if "fails" in self.options else "to succeed"
            raise self.error(
                f"'nnscratch {' '.join(args)}' was expected {expected} but exited "
                f"with status {status}:\n{text}"
            )
        shown = f"{wrap_command(args)}\n{text.rstrip()}"
        if status != 0:
            shown += f"\n$ echo $?\n{status}"
        block = _literal(shown, "console")
        block["classes"].append("command-output")  # long output lines wrap (CSS)
        return [block]


def subcommands():
    """The names of the ``nnscratch`` subcommands, read from ``nnscratch --help``.

    The help text is the command line's public face, so this works however the
    command line is organised inside (one module or a package): each command is
    listed under "positional arguments" as an indented name and its summary.
    """
    text, status = run_cli(["--help"])
    if status != 0:
        raise RuntimeError(f"'nnscratch --help' exited with status {status}:\n{text}")
    section = text.split("positional arguments:", 1)[1].split("\noptions:", 1)[0]
    names = re.findall(r"^ {4}([a-z][\w-]*) ", section, re.M)
    if not names:
        raise RuntimeError(f"no commands found in 'nnscratch --help':\n{text}")
    return names


class NnscratchHelp(SphinxDirective):
    """Every ``--help`` of the command line, one section-less block each."""

    def run(self):
        shown = []
        scratch = tempfile.mkdtemp(prefix="nnscratch-docs-")
        for args in [["--help"]] + [[name, "--help"] for name in subcommands()]:
            text, status = run_cli(args, cwd=scratch)
            if status != 0:
                raise self.error(
                    f"'nnscratch {' '.join(args)}' exited with status {status}:\n{text}"
                )
            title = nodes.rubric(text=f"nnscratch {' '.join(args[:-1])}".strip())
            title["ids"].append(nodes.make_id(f"cli-{'-'.join(args[:-1]) or 'main'}"))
            shown += [title, _literal(f"$ nnscratch {' '.join(args)}\n{text.rstrip()}", "console")]
        shutil.rmtree(scratch, ignore_errors=True)
        return shown


# ----------------------------------------------------------- benchmark table
# Friendlier row names for the contenders of benchmarks/bench_training.py;
# a contender not listed here is shown under its own key.
CONTENDER_NAMES = {
    "floor f32": "matmul floor, float32",
    "floor f64": "matmul floor, float64",
    "nnscratch f32": "nnscratch, float32",
    "nnscratch f64": "nnscratch, float64",
    "generic f64": "nnscratch, your own pairs (Jacobian route), float64",
    "article f64": "the article's algorithm as written, float64",
    "sklearn f32": "scikit-learn MLPClassifier, float32",
    "torch f32": "PyTorch eager (CPU), float32",
}


def benchmark_runs(results):
    """``(column label, run)`` pairs from a results file's ``results``.

    Two layouts are read: a dict of runs keyed by their label, or a list of
    runs, each labelled by its ``shape`` (when it has one) and ``batch``.
    """
    if isinstance(results, dict):
        return list(results.items())
    return [
        (" ".join(filter(None, [run.get("shape"), f"B={run['batch']}"])), run) for run in results
    ]


class BenchmarkTable(SphinxDirective):
    """``.. benchmark-table:: PATH``: the median seconds per epoch of a benchmark JSON file.

    PATH is relative to the page's source file.  One row per contender, one
    column per run (data set and batch size), from the file's ``results``.
    Each content line ``LABEL: A / B`` adds a row of ratios of two contenders'
    medians, computed from the same file.
    """

    required_arguments = 1
    has_content = True

    def run(self):
        import json

        path = Path(self.env.srcdir, self.env.docname).parent / self.arguments[0]
        self.env.note_dependency(str(path))
        try:
            runs = benchmark_runs(json.loads(path.read_text())["results"])
            medians = {label: run["median_s"] for label, run in runs}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise self.error(f"cannot read the benchmark results {path}: {err!r}") from err
        contenders = []
        for run_medians in medians.values():
            contenders += [c for c in run_medians if c not in contenders]
        table = nodes.table(classes=["benchmark-table"])
        group = nodes.tgroup(cols=len(medians) + 1)
        table += group
        for _ in range(len(medians) + 1):
            group += nodes.colspec(colwidth=1)
        head, body = nodes.thead(), nodes.tbody()
        group += head
        group += body
        head += self._row(["median seconds per epoch"] + list(medians))
        for name in contenders:
            cells = [f"{m[name]:.3f}" if name in m else "" for m in medians.values()]
            body += self._row([CONTENDER_NAMES.get(name, name)] + cells)
        for line in self.content:
            if not line.strip():
                continue
            label, _, pair = line.partition(":")
            top, _, bottom = (part.strip() for part in pair.partition("/"))
            unknown = sorted({top, bottom} - set(contenders))
            if unknown:
                raise self.error(f"{path} has no contender {unknown[0]!r}; it has {contenders}")
            cells = [
                f"{m[top] / m[bottom]:.2f}x" if top in m and bottom in m else ""
                for m in medians.values()
            ]
            body += self._row([label.strip()] + cells)
        return [table]

    @staticmethod
    def _row(texts):
        row = nodes.row()
        for text in texts:
            entry = nodes.entry()
            entry += nodes.paragraph(text=text)
            row += entry
        return row


# ------------------------------------------------------------------ API pages
# The submodules with a page of their own: those nnscratch exports as modules,
# plus these (each appears only when it can be imported: an optional extra this
# machine lacks, or a module not written yet, simply has no page).
DOCUMENTED_MODULES = [
    "callbacks",
    "schedules",
    "gradcheck",
    "datasets",
    "registry",
    "network",
    "training",
    "data",
    "sklearn",
    "distributed",
    "export",
    "reference",
]


def documented_modules():
    """Full names of the submodules that get a page, in the order above."""
    import importlib
    import inspect

    import nnscratch

    names = list(DOCUMENTED_MODULES)
    names += [
        n for n in nnscratch.__all__ if inspect.ismodule(getattr(nnscratch, n)) and n not in names
    ]
    found = []
    for name in names:
        try:
            importlib.import_module(f"nnscratch.{name}")
        except ImportError:
            continue
        found.append(f"nnscratch.{name}")
    return found


def _kind(obj):
    """Which autodoc directive documents ``obj`` (None: not documented on its own)."""
    import inspect

    if inspect.ismodule(obj):
        return None
    if inspect.isclass(obj):
        return "autoexception" if issubclass(obj, BaseException) else "autoclass"
    if callable(obj):
        return "autofunction"
    return "autodata"


def module_members(module):
    """The public names a module offers: its ``__all__``, or what it defines itself."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, obj in vars(module).items()
            if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__
        ]
    return list(names)


def top_level_groups():
    """``nnscratch.__all__`` sorted into kinds: classes, exceptions, functions, data, modules."""
    import nnscratch

    labels = {
        "autoclass": "Classes",
        "autoexception": "Warnings and exceptions",
        "autofunction": "Functions",
        "autodata": "Constants",
        None: "Submodules",
    }
    groups = {label: [] for label in labels.values()}
    for name in nnscratch.__all__:
        groups[labels[_kind(getattr(nnscratch, name))]].append(name)
    return groups


def _heading(text, char):
    return f"{text}\n{char * len(text)}\n"


def _entry(directive, target):
    options = "   :members:\n   :show-inheritance:\n" if directive == "autoclass" else ""
    return f".. {directive}:: {target}\n{options}"


def write_api_pages(folder):
    """Write the reST sources of the API reference into ``folder`` (replacing it).

    ``nnscratch.rst`` documents every name of ``nnscratch.__all__``; each
    documented submodule gets a page with its docstring and the names it offers
    that are not already top-level names (those are listed as links).
    Returns the page names written.
    """
    import importlib

    import nnscratch

    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    lines = [
        _heading("``nnscratch``", "="),
        ".. automodule:: nnscratch\n   :no-members:\n",
        "Every name in ``nnscratch.__all__``, grouped by kind.\n",
    ]
    for group, names in top_level_groups().items():
        if not names:
            continue
        lines.append(_heading(group, "-"))
        if group == "Submodules":
            lines += [f"* :mod:`nnscratch.{name}`" for name in sorted(names)] + [""]
            continue
        for name in names:
            if name == "__version__":
                lines.append(
                    ".. data:: nnscratch.__version__\n\n   The installed version, "
                    "a string such as ``'0.3.0'``.\n"
                )
            else:
                lines.append(_entry(_kind(getattr(nnscratch, name)), f"nnscratch.{name}"))
    (folder / "nnscratch.rst").write_text("\n".join(lines))
    pages = ["nnscratch"]
    for full in documented_modules():
        module = importlib.import_module(full)
        text = [_heading(f"``{full}``", "="), f".. automodule:: {full}\n   :no-members:\n"]
        exported, own = [], []
        for name in module_members(module):
            obj = getattr(module, name)
            if _kind(obj) is None:
                continue
            top = getattr(nnscratch, name, None)
            (exported if top is obj and name in nnscratch.__all__ else own).append(name)
        if exported:
            text.append(
                "Also importable from ``nnscratch`` and documented there: "
                + ", ".join(f":obj:`~nnscratch.{n}`" for n in exported)
                + ".\n"
            )
        text += [_entry(_kind(getattr(module, n)), f"{full}.{n}") for n in own]
        (folder / f"{full}.rst").write_text("\n".join(text))
        pages.append(full)
    return pages


def setup(app):
    app.add_directive("runblock", RunBlock)
    app.add_directive("needs", Needs)
    app.add_directive("benchmark-table", BenchmarkTable)
    app.add_directive("command-output", CommandOutput)
    app.add_directive("nnscratch-help", NnscratchHelp)
    app.connect("doctree-read", lambda app, doctree: _forget_page_state(app, app.env, None))
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
