"""Every code block of the documentation runs.

Each page of the tutorial and the guides is run as the Sphinx build runs it:
its Python blocks (``.. runblock::`` and ``.. code-block:: python``) in order,
in one namespace, and its ``.. command-output::`` commands, all in a scratch
folder of the page (``tmp_path``), so nothing is written into the repository.
A ``.. needs::`` line whose condition fails (an optional package absent, a
feature not in this build) skips the rest of the page, giving its reason.
The gallery's executed examples run too, and the API pages are checked to
cover every public name.
"""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "docs" / "_ext"))
from nnscratch_pages import Part, needs_met, read_parts, runnable_parts  # noqa: E402

DOCS = REPO / "docs"
PAGES = sorted([DOCS / "index.rst", DOCS / "tutorial.rst", *(DOCS / "guides").glob("*.rst")])
SLOW_PAGES = {
    "guides/training",
    "guides/sklearn",
    "guides/dask",
    "guides/large_data",
    "guides/custom",
    "guides/saving",
    "guides/onnx",
}
GALLERY = REPO / "examples" / "gallery"

# Runs a page's parts in one process: a block that raises reports the page and
# the line of its directive, so the failure points at the .rst source.
RUNNER = textwrap.dedent("""
    import json, subprocess, sys
    parts = json.load(open(sys.argv[1]))
    namespace = {"__name__": "__docs__"}
    for kind, text, label, fails in parts:
        if kind == "python":
            exec(compile(text, label, "exec"), namespace)
        else:
            proc = subprocess.run([sys.executable, "-m", "nnscratch", *text.split()],
                                  capture_output=True, text=True)
            if (proc.returncode != 0) != fails:
                sys.exit(f"{label}: 'nnscratch {text}' exited with {proc.returncode}, "
                         f"expected {'failure' if fails else 'success'}:\\n"
                         f"{proc.stdout}{proc.stderr}")
            print(proc.stdout, proc.stderr)
""")


def page_id(path):
    return path.relative_to(DOCS).with_suffix("").as_posix()


def page_params():
    return [
        pytest.param(
            path, id=page_id(path), marks=[pytest.mark.slow] if page_id(path) in SLOW_PAGES else []
        )
        for path in PAGES
    ]


def test_the_pages_have_runnable_parts():
    """The tests below must see the blocks: a parsing slip would pass every page empty."""
    for path in PAGES:
        source = path.read_text()
        parts = read_parts(path)
        expected = (
            len(re.findall(r"^\s*\.\. runblock::", source, re.M))
            + len(re.findall(r"^\s*\.\. code-block:: python\s*$", source, re.M))
            + len(re.findall(r"^\s*\.\. command-output::", source, re.M))
            + len(re.findall(r"^\s*\.\. needs::", source, re.M))
        )
        assert len(parts) == expected, path.name
        assert all(p.text.strip() for p in parts), path.name
    tutorial = read_parts(DOCS / "tutorial.rst")
    assert sum(p.kind == "python" for p in tutorial) >= 10


def test_the_parser_reads_every_kind_of_part():
    page = textwrap.dedent("""\
        Title
        =====

        .. runblock::

           a = 1

           print(a)

        Text.

        .. code-block:: python

           b = a + 1

        .. code-block:: bash

           echo not python

        .. command-output:: info model.npz
           :fails:

        .. needs:: importlib.import_module("somewhere")

           a reason
           on two lines
        """)
    parts = runnable_parts(page)
    assert [p.kind for p in parts] == ["python", "python", "command", "needs"]
    assert parts[0].text == "a = 1\n\nprint(a)"
    assert parts[1].text == "b = a + 1"
    assert parts[2] == Part("command", "info model.npz", 20, {"fails": ""}, "")
    assert parts[3].content == "a reason on two lines"
    assert [p.line for p in parts] == [4, 12, 20, 23]


def test_needs_expressions():
    assert needs_met("importlib.import_module('nnscratch.schedules') is not None")
    assert not needs_met("importlib.import_module('nnscratch.no_such_module')")
    assert not needs_met("nnscratch.no_such_attribute")
    assert not needs_met("'nope' in inspect.signature(nnscratch.NeuralNetwork).parameters")
    with pytest.raises(SyntaxError):  # a typo in a page must not read as "missing"
        needs_met("import nnscratch")


@pytest.mark.parametrize("path", page_params())
def test_every_block_of_the_page_runs(path, tmp_path):
    runnable, skipped = [], None
    for part in read_parts(path):
        if part.kind == "needs":
            if not needs_met(part.text):
                skipped = part
                break
            continue
        label = f"{path.relative_to(REPO)}:{part.line}"
        runnable.append((part.kind, part.text, label, "fails" in part.options))
    (tmp_path / "parts.json").write_text(json.dumps(runnable))
    (tmp_path / "runner.py").write_text(RUNNER)
    env = dict(os.environ, MPLBACKEND="Agg", COLUMNS="90")
    proc = subprocess.run(
        [sys.executable, "runner.py", "parts.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    leftovers = {p.name for p in REPO.iterdir()} & {
        "model.npz",
        "digits.npz",
        "best.npz",
        "training.csv",
        "curves.png",
    }
    assert not leftovers, f"a page wrote into the repository: {leftovers}"
    if skipped is not None:
        pytest.skip(
            f"{page_id(path)}: the blocks after line {skipped.line} were not run: "
            f"{skipped.content or skipped.text}"
        )


def executed_gallery_scripts():
    """The gallery scripts the build runs (conf.py's filename_pattern)."""
    conf = (DOCS / "conf.py").read_text()
    pattern = re.search(r'"filename_pattern":\s*r"([^"]+)"', conf)[1]
    return [p for p in sorted(GALLERY.glob("plot_*.py")) if re.search(pattern, "/" + p.name)]


def test_gallery_selection():
    """Every plot_*.py runs at build time except the MNIST-sized ones, which are shown only."""
    executed = {p.name for p in executed_gallery_scripts()}
    every = {p.name for p in GALLERY.glob("plot_*.py")}
    assert executed == {name for name in every if not name.startswith("plot_mnist")}
    assert len(executed) >= 6 and every - executed
    for path in GALLERY.glob("*.py"):
        docstring = path.read_text().split('"""')[1]
        assert re.search(r"\n=+\n", docstring), f"{path.name} needs a titled docstring"


@pytest.mark.slow
@pytest.mark.parametrize("script", executed_gallery_scripts(), ids=lambda p: p.stem)
def test_gallery_example_runs(script):
    pytest.importorskip("matplotlib")
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, script.name],
        cwd=GALLERY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert proc.stdout.strip(), "each example prints what it found"


def test_api_pages_cover_every_public_name(tmp_path):
    pytest.importorskip("sphinx")
    import nnscratch_docs

    import nnscratch

    pages = nnscratch_docs.write_api_pages(tmp_path)
    top = (tmp_path / "nnscratch.rst").read_text()
    for name in nnscratch.__all__:
        obj = getattr(nnscratch, name)
        if isinstance(obj, type(nnscratch)):  # a submodule: listed, with a page of its own
            assert f":mod:`nnscratch.{name}`" in top
            assert f"nnscratch.{name}" in pages
        else:
            assert re.search(rf"^\.\. \w+:: nnscratch\.{re.escape(name)}$", top, re.M), name
    for page in pages[1:]:
        text = (tmp_path / f"{page}.rst").read_text()
        assert f".. automodule:: {page}" in text
    for module in (
        "nnscratch.callbacks",
        "nnscratch.schedules",
        "nnscratch.gradcheck",
        "nnscratch.datasets",
        "nnscratch.registry",
        "nnscratch.reference",
    ):
        assert module in pages


def test_cli_reference_lists_every_subcommand():
    pytest.importorskip("sphinx")
    import nnscratch_docs

    names = nnscratch_docs.subcommands()
    assert {"train", "evaluate", "predict", "info", "demo"} <= set(names)
    for name in names:
        text, status = nnscratch_docs.run_cli([name, "--help"])
        assert status == 0 and text.startswith(f"usage: nnscratch {name}"), text
