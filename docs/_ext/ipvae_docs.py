"""
The Sphinx extension of the documentation site (``docs/conf.py`` loads it).

It makes, at build time, everything the pages show that the code computes:

- ``equations.md``, from the package's equation files
  (``docs/render_equations.py``), and ``api.rst``, the API reference: one
  page per public module (every module of ``ipvae_snn`` without a leading
  underscore in its name; subpackages document the names they export), written by
  autosummary from the docstrings; both written into the source folder
  before the pages are read (and git-ignored);
- the numbers the pages quote, as MyST substitutions (``{{ name }}`` in a
  page): `ipvae_numbers.compute` runs the bundled models on held-out patches
  during the build;
- for the gallery: the arguments every example runs with (``--quick`` and an
  output folder inside the build) and a scraper that shows the figures an
  example wrote into that folder (the examples save their figures to files
  and close them, so matplotlib's own scraper sees none).
"""

import importlib
import importlib.util
import os
import sys
import pkgutil
import shutil

DOCS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["example_argv", "ExampleFigures", "public_modules", "substitutions", "setup"]


def _output_folder(src_file):
    """The ``--out`` folder of one example during the build."""
    name = os.path.splitext(os.path.basename(str(src_file)))[0]
    return os.path.join(DOCS, "_build", "examples_output", name)


def example_argv(gallery_conf, script_vars):
    """The command-line arguments of an example in the gallery (a fresh output folder)."""
    out = _output_folder(script_vars["src_file"])
    shutil.rmtree(out, ignore_errors=True)
    return ["--quick", "--out", out]


class ExampleFigures:
    """
    sphinx-gallery image scraper: the PNG files an example wrote into its
    ``--out`` folder, in the order it wrote them, each shown once.
    """

    def __repr__(self):
        # sphinx-gallery compares configurations by repr between builds
        return "ExampleFigures()"

    def __call__(self, block, block_vars, gallery_conf):
        from sphinx_gallery.scrapers import figure_rst
        out = _output_folder(block_vars["src_file"])
        if not os.path.isdir(out):
            return ""
        shown = block_vars.setdefault("ipvae_shown", set())
        names = sorted((f for f in os.listdir(out)
                        if f.endswith(".png") and f not in shown),
                       key=lambda f: os.path.getmtime(os.path.join(out, f)))
        paths = []
        for name, target in zip(names, block_vars["image_path_iterator"]):
            shutil.copyfile(os.path.join(out, name), target)
            shown.add(name)
            paths.append(target)
        return figure_rst(paths, gallery_conf["src_dir"])


def public_modules(package_name="ipvae_snn"):
    """
    Names of the package and its public submodules, in a stable order.

    Subpackages installed from elsewhere in the source tree (setup.cfg's
    ``package_dir``: the equations) are not on the package's ``__path__``
    and are added by name.
    """
    package = importlib.import_module(package_name)
    names = []
    for info in pkgutil.iter_modules(package.__path__, package_name + "."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    extra = f"{package_name}.equations"
    if extra not in names and importlib.util.find_spec(extra) is not None:
        names.append(extra)
    return [package_name] + sorted(names)


API_PAGE = """API reference
=============

Generated from the docstrings when the site is built: every public module of
the package (names without a leading underscore) with every name in its
``__all__``.

.. autosummary::

{modules}

.. toctree::
   :hidden:

{pages}
"""


def _write_if_changed(path, text):
    # rewrite only on change, so that Sphinx does not re-read it every build
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _home(name, obj, besides):
    """The public module other than ``besides`` whose ``__all__`` has ``obj`` (or None)."""
    for other in public_modules():
        if other != besides:
            module = importlib.import_module(other)
            if name in getattr(module, "__all__", []) and getattr(module, name) is obj:
                return other
    return None


def module_page(mod_name):
    """
    The reST page of one module: its docstring, a summary table and an entry
    for every name of its ``__all__`` (functions, classes with their public
    members, constants; names a package re-exports or imports lazily too).
    """
    module = importlib.import_module(mod_name)
    names = [n for n in getattr(module, "__all__", []) if not n.startswith("__")]
    # names the module imports on first use (its __getattr__: ipvae_snn's
    # SpikingIPVAE) are documented on the page of the public module that has them
    lazy = {n: _home(n, getattr(module, n), mod_name) for n in names
            if n not in vars(module)}
    lazy = {n: home for n, home in lazy.items() if home is not None}
    names = [n for n in names if n not in lazy]
    out = [mod_name, "=" * len(mod_name), "", f".. automodule:: {mod_name}",
           "   :no-members:", ""]
    if names:
        out += [".. autosummary::", ""] + [f"   {n}" for n in names] + [""]
    for name, home in lazy.items():
        kind = "class" if isinstance(getattr(module, name), type) else "function"
        out += [f".. py:{kind}:: {name}", "",
                f"   :py:obj:`{home}.{name}`, imported on first use.", ""]
    for name in names:
        obj = getattr(module, name)
        full = f"{mod_name}.{name}"
        if isinstance(obj, type):
            out += [f".. autoclass:: {full}", "   :members:", "   :show-inheritance:", ""]
        elif callable(obj):
            out += [f".. autofunction:: {full}", ""]
        elif _attr_doc(mod_name, name) is None and _defining_doc(name, obj):
            # a constant a package re-exports: its ``#:`` comment is in the module
            # that defines it, and autodoc would show the docstring of its type
            out += [f".. py:data:: {name}", "",
                    *[f"   {line}" for line in _defining_doc(name, obj)], ""]
        else:
            out += [f".. autodata:: {full}", ""]
    return "\n".join(out)


def _attr_doc(mod_name, name):
    """The ``#:`` comment of ``name`` in ``mod_name``'s source (or None)."""
    from sphinx.pycode import ModuleAnalyzer
    try:
        docs = ModuleAnalyzer.for_module(mod_name).find_attr_docs()
    except Exception:       # no source to read: nothing to find
        return None
    return docs.get(("", name))


def _defining_doc(name, obj):
    """The ``#:`` comment of ``name`` in the package's module that defines ``obj`` (or None)."""
    for other in sorted(m for m in sys.modules if m.split(".")[0] == "ipvae_snn"):
        if getattr(sys.modules[other], name, None) is obj:
            doc = _attr_doc(other, name)
            if doc:
                return list(doc)
    return None


def _write_api(app):
    modules = public_modules()
    folder = os.path.join(app.srcdir, "generated")
    os.makedirs(folder, exist_ok=True)
    for name in modules:
        _write_if_changed(os.path.join(folder, f"{name}.rst"), module_page(name))
    _write_if_changed(os.path.join(app.srcdir, "api.rst"), API_PAGE.format(
        modules="\n".join(f"   {name}" for name in modules),
        pages="\n".join(f"   generated/{name}" for name in modules)))


def _write_equations(app):
    spec = importlib.util.spec_from_file_location(
        "render_equations", os.path.join(DOCS, "render_equations.py"))
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    _write_if_changed(os.path.join(app.srcdir, "equations.md"), render.render())


def substitutions():
    """
    Every ``{{ name }}`` a page may use: the numbers runs make at build time
    (`ipvae_numbers.compute`) and those of the committed runs (the examples'
    and benchmarks' JSON, `ipvae_results.committed`); a name from both is an
    error.
    """
    import ipvae_numbers
    import ipvae_results
    numbers = ipvae_numbers.compute()
    committed = ipvae_results.committed()
    both = sorted(set(numbers) & set(committed))
    if both:
        raise ValueError(f"numbers given twice: {both}")
    return {**numbers, **committed}


def _set_numbers(app, config):
    config.myst_substitutions = {**substitutions(), **(config.myst_substitutions or {})}


def _skip_foreign_member(app, what, name, obj, skip, options):
    # Methods a base class of another package generates on our classes
    # (scikit-learn's set_fit_request, ...) are documented there, not here.
    module = getattr(obj, "__module__", None) or ""
    if what == "class" and module.split(".")[0] not in ("", "ipvae_snn", "builtins"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)
    app.connect("config-inited", _set_numbers)
    # before autosummary's own builder-inited handler (priority 500) reads api.rst
    app.connect("builder-inited", _write_api, priority=400)
    app.connect("builder-inited", _write_equations, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
