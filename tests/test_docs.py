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

import html
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "docs" / "_ext"))
from nnscratch_pages import (  # noqa: E402
    CODE_COLUMNS,
    Part,
    gallery_pattern,
    mnist_data_home,
    needs_met,
    read_parts,
    runnable_parts,
    wrap_command,
)

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


def gallery_scripts(mnist_home):
    """The gallery scripts a build runs, by conf.py's rule (the same helper)."""
    pattern = gallery_pattern(mnist_home)
    return [p for p in sorted(GALLERY.glob("plot_*.py")) if re.search(pattern, "/" + p.name)]


def executed_gallery_scripts():
    """The gallery scripts a build runs here."""
    return gallery_scripts(mnist_data_home(REPO))


def test_gallery_selection(tmp_path):
    """Every plot_*.py runs at build time; the MNIST ones only where MNIST is at hand.

    Guards the 0.2 gallery, whose MNIST example was never run: its page showed a
    placeholder thumbnail and no output.
    """
    every = {p.name for p in GALLERY.glob("plot_*.py")}
    assert len(every) >= 7 and any(name.startswith("plot_mnist") for name in every)
    assert {p.name for p in gallery_scripts(tmp_path)} == every
    without = {p.name for p in gallery_scripts(None)}
    assert without == {name for name in every if not name.startswith("plot_mnist")}
    conf = (DOCS / "conf.py").read_text()
    assert '"filename_pattern": gallery_pattern(MNIST_HOME)' in conf
    for path in GALLERY.glob("*.py"):
        docstring = path.read_text().split('"""')[1]
        assert re.search(r"\n=+\n", docstring), f"{path.name} needs a titled docstring"


def test_mnist_data_home_looks_where_it_says(tmp_path, monkeypatch):
    monkeypatch.delenv("NNSCRATCH_TEST_DATA", raising=False)
    monkeypatch.delenv("NNSCRATCH_DATA", raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    assert mnist_data_home(repo) is None
    beside = tmp_path / "shared" / "data"
    (beside / "mnist").mkdir(parents=True)
    assert mnist_data_home(repo) is None  # the folder alone is not enough
    (beside / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert mnist_data_home(repo) == beside
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "mnist").mkdir(parents=True)
    (elsewhere / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"")
    monkeypatch.setenv("NNSCRATCH_DATA", str(elsewhere))
    assert mnist_data_home(repo) == elsewhere
    monkeypatch.setenv("NNSCRATCH_TEST_DATA", str(beside))
    assert mnist_data_home(repo) == beside


# Runs a gallery script as sphinx-gallery does (matplotlib's show() draws nothing
# there either), then reports how many figures it left open.
GALLERY_RUNNER = textwrap.dedent("""
    import runpy, sys
    import matplotlib.pyplot as plt
    plt.show = lambda *args, **kwargs: None
    sys.argv = sys.argv[1:]  # the script sees itself as sys.argv[0] and no arguments
    runpy.run_path(sys.argv[0], run_name="__main__")
    print(f"\\n[figures: {len(plt.get_fignums())}]")
""")


@pytest.mark.slow
@pytest.mark.parametrize("script", executed_gallery_scripts(), ids=lambda p: p.stem)
def test_gallery_example_runs_and_shows_something(script):
    """Each executed example prints what it found and draws a figure."""
    pytest.importorskip("matplotlib")
    env = dict(os.environ, MPLBACKEND="Agg")
    home = mnist_data_home(REPO)
    if home is not None:
        env["NNSCRATCH_DATA"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-c", GALLERY_RUNNER, script.name],
        cwd=GALLERY,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    printed, figures = proc.stdout.rsplit("[figures: ", 1)
    assert printed.strip(), "each example prints what it found"
    assert int(figures.split("]")[0]) >= 1, "each example draws a figure"


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


# ------------------------------------------------------------------- page width
# A guide's code blocks hold CODE_COLUMNS characters at a 1280 px window (measured
# in Chromium; see docs/_ext/nnscratch_pages.py).  Issue 25 found the Dask guide's
# first block cut off at the right edge.  Code must fit; what code prints wraps
# instead (docs/_static/nnscratch.css), so outputs are not held to the width.

CODE_DIRECTIVE = re.compile(r"^(\s*)\.\. (?:code-block|code|runblock)::.*$")


def shown_code_lines(source):
    """``(line number, text)`` of the code a page's source shows, commands included.

    Python and other code blocks (``code-block``, ``runblock``) as written, and each
    ``command-output`` command as the page shows it (wrapped by ``wrap_command``).
    """
    lines = source.splitlines()
    shown = []
    for number, line in enumerate(lines, 1):
        match = CODE_DIRECTIVE.match(line)
        if match:
            indent = len(match[1])
            i = number  # the line after the directive
            while i < len(lines) and re.match(r"^\s+:[\w-]+:", lines[i]):
                i += 1
            body = []
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
            ):
                body.append((i + 1, lines[i]))
                i += 1
            text = textwrap.dedent("\n".join(t for _, t in body)).splitlines()
            shown += [(n, t) for (n, _), t in zip(body, text)]
    for part in runnable_parts(source):
        if part.kind == "command":
            shown += [(part.line, t) for t in wrap_command(part.text.split()).splitlines()]
    return shown


def too_wide(lines, limit=CODE_COLUMNS):
    return [(n, len(t), t) for n, t in lines if len(t.rstrip()) > limit]


def test_width_check_finds_wide_code():
    page = textwrap.dedent(f"""\
        .. runblock::

           short = 1
           wide = "{"x" * CODE_COLUMNS}"

        Prose may be as long as it likes {"y" * 200}.

        .. command-output:: train {" ".join(f"--option-{k} {k}" for k in range(20))}

        .. code-block:: bash

           echo {"z" * CODE_COLUMNS}
        """)
    wide = too_wide(shown_code_lines(page))
    assert [n for n, _, _ in wide] == [4, 12]  # the command is wrapped to fit
    assert all(len(t) <= CODE_COLUMNS for t in wrap_command(["--a", "b"] * 40).splitlines())


@pytest.mark.parametrize("path", PAGES, ids=page_id)
def test_code_in_the_sources_fits_the_page(path):
    wide = too_wide(shown_code_lines(path.read_text()))
    assert not wide, f"{page_id(path)}: code lines wider than {CODE_COLUMNS}: {wide}"


@pytest.mark.parametrize("script", sorted(GALLERY.glob("*.py")), ids=lambda p: p.stem)
def test_gallery_code_fits_the_page(script):
    code = script.read_text().split('"""', 2)[2]  # the docstring is the page's prose
    first = script.read_text()[: -len(code)].count("\n") + 1
    wide = too_wide(enumerate(code.splitlines(), first))
    assert not wide, f"{script.name}: code lines wider than {CODE_COLUMNS}: {wide}"


# ----------------------------------------------------------------- the built site
# The built HTML is what a reader sees: these tests build the site once (with -W,
# so a warning fails them too) and read its pages.

HIGHLIGHT = re.compile(
    r'<div class="(?P<classes>[^"]*\bhighlight-[^"]*)"><div class="highlight"><pre>'
    r"(?P<body>.*?)</pre>",
    re.S,
)


def html_code_lines(page_html):
    """The lines of code a built page shows: outputs (which wrap) left out.

    Blocks a runblock printed and a gallery script's output are skipped; of a
    command-output block only the command (its ``$`` line and continuations).
    """
    shown = []
    for block in HIGHLIGHT.finditer(page_html):
        classes = block["classes"].split()
        if "runblock-output" in classes or "sphx-glr-script-out" in classes:
            continue
        text = html.unescape(re.sub(r"<[^>]+>", "", block["body"]))
        lines = text.splitlines()
        if "command-output" in classes:
            kept, going_on = [], False
            for line in lines:
                if line.startswith("$ ") or going_on:
                    kept.append(line)
                going_on = line.endswith("\\") and (line.startswith("$ ") or going_on)
            lines = kept
        shown += lines
    return shown


def gallery_output(page_html):
    """``(figures, printed text)`` of a built gallery page."""
    figures = len(re.findall(r'<img[^>]*class="sphx-glr-(?:single|multi)-img', page_html))
    printed = [
        html.unescape(re.sub(r"<[^>]+>", "", m))
        for m in re.findall(
            r'<div class="sphx-glr-script-out[^"]*"><div class="highlight"><pre>(.*?)</pre>',
            page_html,
            re.S,
        )
    ]
    return figures, "".join(printed).strip()


def test_html_readers_on_a_sample():
    code = "x" * (CODE_COLUMNS + 1)
    page = (
        '<div class="highlight-python notranslate"><div class="highlight"><pre>'
        f"<span>a = 1</span>\n{code}</pre></div></div>"
        '<div class="runblock-output highlight-text notranslate"><div class="highlight">'
        f"<pre>{'o' * 300}</pre></div></div>"
        '<div class="command-output highlight-console notranslate"><div class="highlight">'
        "<pre>$ nnscratch train \\\n    --seed 0\n" + "w" * 300 + "</pre></div></div>"
    )
    assert html_code_lines(page) == ["a = 1", code, "$ nnscratch train \\", "    --seed 0"]
    assert gallery_output(page) == (0, "")
    shown = (
        '<img alt="x" src="a.png" class="sphx-glr-single-img" />'
        '<div class="sphx-glr-script-out highlight-none notranslate"><div class="highlight">'
        "<pre><span></span>test accuracy 0.95\n</pre></div></div>"
    )
    assert gallery_output(shown) == (1, "test accuracy 0.95")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    for module in ("sphinx", "sphinx_gallery", "pydata_sphinx_theme", "numpydoc", "matplotlib"):
        pytest.importorskip(module)
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html"]
        + ["-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True,
        text=True,
        timeout=1500,
        env=dict(os.environ, MPLBACKEND="Agg"),
    )
    assert proc.returncode == 0, f"the docs build failed or warned:\n{proc.stderr[-5000:]}"
    return out / "html"


@pytest.mark.slow
def test_built_code_blocks_fit_the_page(built_site):
    pages = [built_site / "index.html", built_site / "tutorial.html"]
    pages += sorted((built_site / "guides").glob("*.html"))
    pages += sorted((built_site / "auto_examples").glob("plot_*.html"))
    assert len(pages) > 10
    wide = {}
    for page in pages:
        found = too_wide(enumerate(html_code_lines(page.read_text()), 1))
        if found:
            wide[page.relative_to(built_site).as_posix()] = found
    assert not wide, f"code lines wider than {CODE_COLUMNS} columns: {wide}"


@pytest.mark.slow
def test_built_gallery_shows_output_for_every_executed_example(built_site):
    """Guards issue 25's gallery: the MNIST example had no output and a placeholder."""
    executed = executed_gallery_scripts()
    assert executed
    for script in executed:
        page = (built_site / "auto_examples" / f"{script.stem}.html").read_text()
        figures, printed = gallery_output(page)
        assert figures or printed, f"{script.name} shows neither a figure nor printed output"
    index = (built_site / "auto_examples" / "index.html").read_text()
    for script in executed:
        thumbnail = re.search(rf'<img[^>]*src="([^"]*{script.stem}[^"]*)"', index)
        assert thumbnail and "no_image" not in thumbnail[1], script.name


def test_a_runblock_shows_the_warnings_its_code_raises():
    """Guards issue 25: the Dask guide's search printed seven warnings the page hid."""
    pytest.importorskip("sphinx")
    import warnings

    import nnscratch_docs

    state = nnscratch_docs._PageState()
    code = "import warnings\nprint('a')\nfor _ in range(3):\n    warnings.warn('careful')\n"
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # Python's own default: once per place
        assert state.execute(code, "<test>") == "a\nUserWarning: careful\n"
        assert state.execute("print('b')", "<test>") == "b\n"
        # a filter a snippet sets holds for the page's later snippets, as in a session
        state.execute("warnings.simplefilter('ignore', RuntimeWarning)", "<test>")
        assert state.execute("warnings.warn('hush', RuntimeWarning)", "<test>") == ""
