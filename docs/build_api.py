"""
Write the API reference ``docs/api.md`` from the package's docstrings.

Every public module of ``ipvae_snn`` (names without a leading underscore) is
imported and every name in its ``__all__`` documented: its signature, the
first paragraph of its docstring as text and the rest (numpy-style sections:
Parameters, Returns, ...) verbatim; classes also list their public methods and
properties. Run ``python docs/build_api.py [--out FILE]``.
"""

import argparse
import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
import textwrap


def public_modules(package_name="ipvae_snn"):
    """Names of the package and its public submodules, in a stable order."""
    package = importlib.import_module(package_name)
    names = [package_name]
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            names.append(f"{package_name}.{info.name}")
    # Subpackages installed from elsewhere in the source tree (setup.cfg's
    # package_dir, e.g. the equations) are not on the package's __path__.
    for extra in ("equations",):
        full = f"{package_name}.{extra}"
        if full not in names and importlib.util.find_spec(full) is not None:
            names.append(full)
    return [names[0]] + sorted(names[1:])


def _split_doc(obj):
    doc = inspect.getdoc(obj) or ""
    if not doc:
        return "", ""
    parts = doc.split("\n\n", 1)
    return parts[0].replace("\n", " "), (parts[1] if len(parts) > 1 else "")


def _signature(name, obj):
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return name
    return f"{name}{sig}"


def _block(text):
    """Docstring body as a fenced block (numpy sections read well verbatim)."""
    text = text.strip("\n")
    if not text:
        return []
    fence = "````" if "```" in text else "```"
    return [f"{fence}text", text, fence, ""]


def _anchor(text):
    return "".join(c for c in text.lower().replace(" ", "-")
                   if c.isalnum() or c in "-_")


def _document(qualname, obj, level):
    lines = []
    head = "#" * level
    if inspect.isclass(obj):
        lines += [f"{head} class `{_signature(qualname, obj)}`", ""]
        summary, body = _split_doc(obj)
        lines += ([summary, ""] if summary else []) + _block(body)
        members = []
        for attr, value in vars(obj).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, property):
                members.append((attr, value, "property"))
            elif isinstance(value, (classmethod, staticmethod)):
                members.append((attr, value.__func__, "method"))
            elif inspect.isfunction(value):
                members.append((attr, value, "method"))
        for attr, value, kind in members:
            if kind == "property":
                lines += [f"- **`{attr}`** (property): "
                          f"{_split_doc(value)[0] or 'no description'}"]
                continue
            lines += ["", f"{head}# `{qualname}.{_signature(attr, value)}`", ""]
            summary, body = _split_doc(value)
            lines += ([summary, ""] if summary else []) + _block(body)
        lines.append("")
    elif callable(obj):
        lines += [f"{head} `{_signature(qualname, obj)}`", ""]
        summary, body = _split_doc(obj)
        lines += ([summary, ""] if summary else []) + _block(body)
    else:
        value = _stable_repr(obj)
        if len(value) > 200:
            value = value[:197] + "..."
        lines += [f"{head} `{qualname}`", "", f"Value: `{value}`", ""]
    return lines


def _stable_repr(obj):
    """repr without memory addresses or paths (lists of functions or modules name them)."""
    if isinstance(obj, (list, tuple)) and obj and all(
            callable(o) or inspect.ismodule(o) for o in obj):
        inner = ", ".join(getattr(o, "__name__", repr(o)) for o in obj)
        return f"[{inner}]" if isinstance(obj, list) else f"({inner})"
    return repr(obj)


def _constant_doc(module, name):
    """The ``#:`` comment above a module constant, if any."""
    try:
        source = inspect.getsource(module).splitlines()
    except (OSError, TypeError):
        return ""
    for i, line in enumerate(source):
        if line.startswith(f"{name} =") or line.startswith(f"{name}:"):
            comments = []
            j = i - 1
            while j >= 0 and source[j].startswith("#:"):
                comments.insert(0, source[j][2:].strip())
                j -= 1
            return " ".join(comments)
    return ""


def render(modules=None):
    """The Markdown page and the list of documented names (module.name)."""
    modules = public_modules() if modules is None else modules
    toc, body, documented = [], [], []
    for mod_name in modules:
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:        # an optional extra is missing
            body += [f"## `{mod_name}`", "", f"Not importable here: {exc}", ""]
            continue
        names = getattr(module, "__all__", None)
        if names is None:
            names = [n for n, v in vars(module).items() if not n.startswith("_")
                     and getattr(v, "__module__", None) == mod_name]
        toc.append(f"- [`{mod_name}`](#{_anchor(mod_name)})")
        body += [f"## `{mod_name}`", ""]
        summary, rest = _split_doc(module)
        if summary:
            body += [summary, ""]
        if rest:
            body += [textwrap.dedent(rest).strip(), ""]
        for name in names:
            obj = getattr(module, name, None)
            if obj is None:
                continue
            if inspect.ismodule(obj):
                continue
            home = getattr(obj, "__module__", mod_name)
            if mod_name == "ipvae_snn" and home != mod_name and not isinstance(obj, str):
                # Re-exports of the top-level package: point to their module.
                body += [f"- `ipvae_snn.{name}`: see `{home}.{name}`"]
                documented.append(f"{mod_name}.{name}")
                continue
            if body[-1] != "":
                body.append("")
            lines = _document(f"{name}", obj, 3)
            if not (inspect.isclass(obj) or callable(obj)):
                extra = _constant_doc(module, name)
                if extra:
                    lines.insert(2, extra + "\n")
            body += lines
            documented.append(f"{mod_name}.{name}")
    head = [
        "# API reference",
        "",
        "<!-- Generated by docs/build_api.py from the docstrings; do not edit by "
        "hand. -->",
        "",
        "Every public module, class and function of `ipvae_snn`, with the "
        "docstrings as written in the code (numpy style). In Python, "
        "`help(name)` shows the same text.",
        "",
    ]
    return "\n".join(head + toc + [""] + body).rstrip() + "\n", documented


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "api.md"), help="page to write")
    args = parser.parse_args(argv)
    text, documented = render()
    from ipvae_snn.io import atomic_save_text
    atomic_save_text(args.out, text)
    print(f"wrote {args.out}: {len(documented)} names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
