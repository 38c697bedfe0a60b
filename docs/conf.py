"""Sphinx configuration for the nnscratch site.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` after
``pip install -e ".[docs]"``.  Nothing here needs the network: no intersphinx,
no remote images, the theme's assets ship with it.
"""

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")  # figures of runblocks and gallery, no display

import nnscratch_docs  # noqa: E402
from nnscratch_pages import gallery_pattern, mnist_data_home  # noqa: E402

import nnscratch  # noqa: E402

project = "nnscratch"
author = "the nnscratch authors"
copyright = "the nnscratch authors, MIT licence"
version = release = nnscratch.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "nnscratch_docs",
]

exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
]
templates_path = []
root_doc = "index"
default_role = "code"  # single backticks render as code instead of a warning-prone guess

# ---------------------------------------------------------------- API pages
# The reference is written from nnscratch.__all__ and the public submodules at
# every build (docs/api/generated is ignored by git), so a new public name or
# module gets its page without anyone editing the docs.
API_MODULES = nnscratch_docs.write_api_pages(DOCS / "api" / "generated")

autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc "Parameters" sections say it in words
numpydoc_show_class_members = False  # autodoc's :members: lists them; no autosummary stubs
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# ------------------------------------------------------------------ gallery
# Every plot_*.py runs at build time.  The MNIST ones (plot_mnist*.py) need the
# MNIST files: they are found in ../shared/data beside the repository (or
# $NNSCRATCH_TEST_DATA / $NNSCRATCH_DATA), and the examples read them through
# $NNSCRATCH_DATA.  Without the files those examples are shown with their code only.
MNIST_HOME = mnist_data_home(REPO)
if MNIST_HOME is not None:
    os.environ["NNSCRATCH_DATA"] = str(MNIST_HOME)
else:
    print(
        "nnscratch docs: MNIST not found beside the repository; the gallery's MNIST "
        "examples are shown without running them"
    )
sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples" / "gallery"),
    "gallery_dirs": str(DOCS / "auto_examples"),
    "filename_pattern": gallery_pattern(MNIST_HOME),
    "ignore_pattern": r"__init__\.py|/_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "write_computation_times": False,
    "show_signature": False,
    "abort_on_example_error": True,
}

# ---------------------------------------------------------------- HTML page
html_theme = "pydata_sphinx_theme"
html_title = f"nnscratch {release}"
html_static_path = ["_static"]
html_css_files = ["nnscratch.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "tutorial": []}


# ------------------------------------------------- narrow docstring fixes
# numpydoc takes the first line of a docstring as its summary.  A few
# docstrings (the optimizers') end that line with "::" to introduce a formula
# block, which numpydoc would cut off from its block; end the line with ":" and
# start the block with its own "::" paragraph instead.  The sources stay as
# they are.
# Python's docstring cleaning also removes the block's indentation (it is the
# only indented text), so the block's lines are indented again.
def _formula_after_summary(app, what, name, obj, options, lines):
    if not lines or not lines[0].rstrip().endswith("::"):
        return
    lines[0] = lines[0].rstrip()[:-1]
    lines[1:1] = ["", "::"]
    i = 3
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines) and lines[i].strip():
        lines[i] = "    " + lines[i]
        i += 1


# scikit-learn adds set_*_request methods to every estimator class (metadata
# routing); their docstrings link into scikit-learn's own site.  They belong to
# scikit-learn's documentation, not ours.
def _skip_sklearn_routing(app, what, name, obj, skip, options):
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-process-docstring", _formula_after_summary, priority=100)
    app.connect("autodoc-skip-member", _skip_sklearn_routing)
