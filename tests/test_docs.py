"""
The documentation cannot drift from the code: the equations page is what
``docs/render_equations.py`` makes of the package's equation files, the API
reference builder documents every public name, and every link and figure of
the pages exists.
"""

import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


def _load(script):
    spec = importlib.util.spec_from_file_location(
        os.path.splitext(script)[0], os.path.join(DOCS, script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pages():
    return sorted(f for f in os.listdir(DOCS) if f.endswith(".md"))


def test_equations_page_is_up_to_date():
    render = _load("render_equations.py")
    with open(os.path.join(DOCS, "equations.md"), encoding="utf-8") as f:
        assert f.read() == render.render(), \
            "docs/equations.md is stale: run python docs/render_equations.py"
    assert render.main(["--check"]) == 0


def test_equations_page_shows_every_line_of_brian2_code():
    from ipvae_snn import equations
    render = _load("render_equations.py")
    page = render.render()
    for realization in equations.REALIZATIONS:
        for name, code in equations.load(realization).items():
            assert f"**`[{name}]`**" in page
            for line in code.splitlines():
                assert line in page, (realization, name, line)


def test_equations_check_detects_a_stale_page(tmp_path):
    render = _load("render_equations.py")
    stale = tmp_path / "equations.md"
    stale.write_text(render.render().replace("u = u_init", "u = 0"), encoding="utf-8")
    assert render.main(["--check", "--out", str(stale)]) == 1
    assert render.main(["--out", str(stale)]) == 0
    assert render.main(["--check", "--out", str(stale)]) == 0


def test_api_reference_builder_documents_every_public_name(tmp_path):
    import importlib
    build = _load("build_api.py")
    out = tmp_path / "api.md"
    assert build.main(["--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    modules = build.public_modules()
    assert "ipvae_snn.network" in modules and "ipvae_snn.stats" in modules
    assert not any(m.split(".")[-1].startswith("_") for m in modules)
    for mod_name in modules:
        assert f"## `{mod_name}`" in text
        module = importlib.import_module(mod_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if hasattr(obj, "__module__") and mod_name == "ipvae_snn" \
                    and obj.__module__ != mod_name:
                assert f"`ipvae_snn.{name}`: see" in text
            else:
                assert re.search(rf"^#+ (class )?`{re.escape(name)}[(`]", text,
                                 re.MULTILINE), (mod_name, name)
    # Docstrings arrive verbatim (a numpy section of a known function).
    from ipvae_snn.network import SpikingIPVAE
    assert SpikingIPVAE.run.__doc__.split("\n")[1].strip() in text


@pytest.mark.parametrize("page", _pages())
def test_links_and_figures_of_each_page_exist(page):
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        text = f.read()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        assert os.path.exists(os.path.join(DOCS, target)), f"{page}: {target} missing"
    # no paths of the machine the docs were written on
    for folder in ("work", "tmp", "root"):
        assert f"/{folder}/" not in text, f"{page}: machine path /{folder}/"


def test_figures_are_small_and_used():
    figures = os.path.join(DOCS, "figures")
    used = "".join(open(os.path.join(DOCS, p), encoding="utf-8").read()
                   for p in _pages())
    for name in os.listdir(figures):
        path = os.path.join(figures, name)
        assert os.path.getsize(path) <= 250_000, f"{name} is larger than 250 kB"
        assert f"figures/{name}" in used, f"{name} is not shown on any page"


def test_statistics_page_gives_the_reference_ranges():
    from ipvae_snn.stats import load_cortex_reference
    with open(os.path.join(DOCS, "statistics.md"), encoding="utf-8") as f:
        text = f.read()
    ref = load_cortex_reference()
    for m in ref["measures"].values():
        assert m["label"] in text, m["label"]
        if m["range"] is not None:
            low, high = m["range"]
            assert f"{low:g} – {high:g}" in text, (m["label"], m["range"])
        for s in m["sources"]:
            short = ref["references"][s["reference"]]["short"]
            assert short.split(" et al.")[0].split(" &")[0] in text, short


def test_index_shows_the_readme_commands():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    with open(os.path.join(DOCS, "index.md"), encoding="utf-8") as f:
        index = f.read()
    # each command, as a line of a bash block of the index (not only in prose)
    index_blocks = [b.split("```", 1)[0] for b in index.split("```bash\n")[1:]]
    index_lines = {line for b in index_blocks for line in b.splitlines()}
    for command in block.strip().splitlines():
        assert command in index_lines, command
