"""
Sphinx configuration of the documentation site.

Build it from the repository root with (docs/development.md)::

    .venv/bin/pip install -e ".[docs]"
    .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

Everything generated is written at build time and never committed: the API
reference (autosummary, from the docstrings), the equations page (from the
equation files, ``docs/render_equations.py``), the gallery (sphinx-gallery runs
every script of ``examples/`` with ``--quick``) and the numbers the pages quote
(``docs/_ext/ipvae_numbers.py``, from runs made during the build).
"""

import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, os.path.join(DOCS, "_ext"))

import ipvae_snn  # noqa: E402

project = "ipvae-snn"
author = "the ipvae-snn authors"
copyright = "the ipvae-snn authors, MIT License"
release = version = ipvae_snn.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "ipvae_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "gallery/*.ipynb", "gallery/*.py", "gallery/*.zip",
                    "gallery/*.md5", "gallery/*.json"]
templates_path = []
html_theme = "alabaster"
html_static_path = []
html_title = f"ipvae-snn {release}"
html_theme_options = {"description": "The iterative Poisson VAE as a spiking "
                                     "network in Brian2",
                      "fixed_sidebar": True}

# Markdown pages (MyST): ``{{ name }}`` is a number made at build time
# (ipvae_docs: myst_substitutions), ```` ```{doctest} ```` blocks run.
myst_enable_extensions = ["substitution", "dollarmath"]
myst_heading_anchors = 3

# API reference: one page per public module, written by ipvae_docs and filled
# by autodoc from the docstrings; autosummary only makes the summary tables.
autosummary_generate = False
# undoc-members: names of __all__ without a docstring of their own (constants
# re-exported by a package) are listed too
autodoc_default_options = {"members": True, "undoc-members": True,
                           "show-inheritance": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# The examples, executed into the gallery (ipvae_docs supplies the scraper of
# the figures each script writes into its --out folder, and --quick).
from ipvae_docs import ExampleFigures, example_argv  # noqa: E402

sphinx_gallery_conf = {
    "examples_dirs": os.path.join(ROOT, "examples"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"[\\/][a-z][a-z_0-9]*\.py$",
    "ignore_pattern": r"^_",
    "reset_argv": example_argv,
    "image_scrapers": (ExampleFigures(),),
    "download_all_examples": False,
    "abort_on_example_error": True,
    "plot_gallery": "True",
    "remove_config_comments": True,
    "min_reported_time": 1e9,
    "show_memory": False,
    "show_signature": False,
    "copyfile_regex": "",
    "write_computation_times": False,
}

# Doctest blocks of the pages (sphinx.ext.doctest, ``-b doctest``) and the
# gallery share the compile cache: $IPVAE_SNN_CACHE when set, else the user's.
doctest_global_setup = "import numpy as np\nimport ipvae_snn"
# sphinx_gallery_conf holds callables: Sphinx cannot pickle it (harmless)
suppress_warnings = ["config.cache"]
nitpicky = False
