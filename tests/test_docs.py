"""
The documentation cannot drift from the code: the equations page and the API
reference are generated when the site is built (``docs/_ext/ipvae_docs.py``,
never committed), the equations page shows every line of the equation files,
and every link and figure of the pages exists. ``tests/test_docs_site.py``
checks the built site in a browser.
"""

import glob
import importlib.util
import json
import os
import re
import subprocess
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


def _load(script):
    spec = importlib.util.spec_from_file_location(
        os.path.splitext(script)[0], os.path.join(DOCS, script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _extension():
    sys.path.insert(0, os.path.join(DOCS, "_ext"))
    try:
        import ipvae_docs
    finally:
        sys.path.remove(os.path.join(DOCS, "_ext"))
    return ipvae_docs


#: Pages the build writes into docs/ (git-ignored), by the function writing them.
GENERATED = {"equations.md": "_write_equations", "api.rst": "_write_api"}


def _pages():
    return sorted(f for f in os.listdir(DOCS)
                  if f.endswith(".md") and f not in GENERATED)


def _tracked(path):
    proc = subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=ROOT,
                          capture_output=True, text=True)
    return proc.returncode == 0


@pytest.mark.skipif(not os.path.isdir(os.path.join(ROOT, ".git")),
                    reason="not a git checkout")
def test_no_generated_page_is_committed():
    for name in [*GENERATED, "api.md", "build_api.py", "generated", "gallery"]:
        assert not _tracked(os.path.join("docs", name)), f"docs/{name} is committed"


def test_build_writes_the_equations_page_and_the_api_page(tmp_path):
    ext = _extension()
    app = types.SimpleNamespace(srcdir=str(tmp_path))
    for name, writer in GENERATED.items():
        getattr(ext, writer)(app)
        assert (tmp_path / name).is_file(), name
    render = _load("render_equations.py")
    assert (tmp_path / "equations.md").read_text(encoding="utf-8") == render.render()
    # the API page lists every public module for autosummary
    api = (tmp_path / "api.rst").read_text(encoding="utf-8")
    listed = re.findall(r"^   generated/(ipvae_snn[\w.]*)$", api, re.MULTILINE)
    assert listed == ext.public_modules()
    # each module's page has an entry for every name of its __all__
    import importlib
    for name in listed:
        page = (tmp_path / "generated" / f"{name}.rst").read_text(encoding="utf-8")
        for member in getattr(importlib.import_module(name), "__all__", []):
            if not member.startswith("__"):
                entry = re.search(rf"^\.\. auto(class|function|data):: "
                                  rf"{re.escape(name)}\.{member}$", page, re.MULTILINE)
                lazy = re.search(rf"^\.\. py:(class|function|data):: {member}$", page,
                                 re.MULTILINE)
                assert entry or lazy, (name, member)


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


def test_api_reference_covers_every_public_module():
    import pkgutil

    import ipvae_snn
    modules = _extension().public_modules()
    assert modules[0] == "ipvae_snn"
    assert "ipvae_snn.network" in modules and "ipvae_snn.stats" in modules
    assert "ipvae_snn.equations" in modules
    assert not any(m.split(".")[-1].startswith("_") for m in modules)
    top = {f"ipvae_snn.{m.name}" for m in pkgutil.iter_modules(ipvae_snn.__path__)
           if not m.name.startswith("_")}
    assert top <= set(modules)


@pytest.mark.parametrize("page", _pages())
def test_links_and_figures_of_each_page_exist(page):
    with open(os.path.join(DOCS, page), encoding="utf-8") as f:
        text = f.read()
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+://", target) or target in GENERATED \
                or target == "gallery/index.rst":     # written by the build
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
    sys.path.insert(0, os.path.join(DOCS, "_ext"))
    try:
        import ipvae_results
    finally:
        sys.path.remove(os.path.join(DOCS, "_ext"))
    ranges = ipvae_results.v1_ranges()       # the page quotes the file, not a copy
    for key, m in ref["measures"].items():
        assert m["label"] in text, m["label"]
        if m["range"] is not None:
            low, high = m["range"]
            assert f"{{{{ v1_{key} }}}}" in text, (m["label"], m["range"])
            assert ranges[f"v1_{key}"].startswith(f"{low:g} – {high:g}"), ranges
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


# ------------------------------------------------------------ code snippets
def _python_blocks(page):
    path = os.path.join(ROOT, page)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [b.split("\n```", 1)[0] for b in text.split("\n```python\n")[1:]]


#: Python blocks of the pages that are fragments (they continue the page's
#: earlier code, or need a cluster, a GPU or the user's files), by page and
#: position; every other block is run by the tests below.
FRAGMENTS = {
    ("docs/brian2-embedding.md", 1): "the user's own `stimuli` and a Brian2 model around it",
    ("docs/gpu.md", 0): "needs brian2cuda and the user's own group and synapses",
    ("docs/spiking-lca.md", 0): "the user's `patches`; a standalone build (bench_lca.py runs it)",
    ("docs/spiking-lca.md", 1): "the cortex experiment: tens of minutes",
    ("docs/hubel-wiesel.md", 0): "continues the page's network `net`",
    ("docs/learning.md", 1): "a 25-minute fit",
    ("docs/learning.md", 2): "needs an official checkpoint folder",
    ("docs/natural-images.md", 0): "continues the page's `params` and `x`",
    ("docs/out-of-distribution.md", 0): "continues the page's `params` and `x`",
    ("docs/own-images.md", 1): "continues the page's `x_train` and the user's model",
    ("docs/scaling.md", 0): "needs a Dask scheduler",
    ("docs/scaling.md", 1): "needs a SLURM cluster",
    ("docs/scaling.md", 2): "needs an NWB file",
    ("docs/scaling.md", 3): "needs an NWB file",
    ("docs/statistics.md", 1): "continues the page's `net` and `x`",
}
#: The blocks the tests run, by page and position, with their tier.
RUN = {
    ("docs/learning.md", 0): "fast",
    ("docs/model.md", 0): "fast",
    ("docs/own-images.md", 0): "fast",
    ("docs/brian2-embedding.md", 0): "slow",
    ("docs/statistics.md", 0): "standalone",
    ("docs/index.md", 0): "standalone",
    ("README.md", 0): "standalone",
}


def _all_blocks():
    pages = ["README.md"] + [f"docs/{p}" for p in _pages()]
    return {(page, i) for page in pages for i in range(len(_python_blocks(page)))}


def test_every_python_block_is_run_or_named_a_fragment():
    blocks = _all_blocks()
    assert set(RUN) | set(FRAGMENTS) == blocks, \
        sorted(blocks ^ (set(RUN) | set(FRAGMENTS)))
    assert not set(RUN) & set(FRAGMENTS)


def _run_block(page, index, folder, monkeypatch):
    """Run one block in a fresh namespace, in ``folder`` (files it writes go there)."""
    import matplotlib
    matplotlib.use("Agg")
    monkeypatch.chdir(folder)
    code = _python_blocks(page)[index]
    namespace = {"__name__": "__main__"}
    exec(compile(code, f"{page}[python block {index}]", "exec"), namespace)
    return namespace


def _photographs(folder):
    """Two photographs, as a user has them: PNG and JPEG files of sample images."""
    from PIL import Image
    from sklearn.datasets import load_sample_images
    china, flower = load_sample_images().images
    Image.fromarray(china).save(folder / "photo.png")
    Image.fromarray(flower).save(folder / "holiday.jpg")


def _params(tier):
    marks = {"fast": [], "slow": [pytest.mark.slow, pytest.mark.runtime],
             "standalone": [pytest.mark.standalone, pytest.mark.slow]}[tier]
    return marks


@pytest.mark.parametrize("page,index", [
    pytest.param(page, index, marks=_params(tier), id=f"{page}[{index}]")
    for (page, index), tier in sorted(RUN.items())])
def test_python_block_runs(page, index, tmp_path, monkeypatch, request):
    if RUN[(page, index)] == "standalone":
        request.getfixturevalue("cxx_compiler")     # skips where no compiler is found
        monkeypatch.setenv("IPVAE_SNN_CACHE", request.getfixturevalue("snn_cache"))
    if page == "docs/own-images.md":
        _photographs(tmp_path)
    namespace = _run_block(page, index, tmp_path, monkeypatch)
    # each block's own outcome, checked against what the page says it gives
    if page == "docs/learning.md":
        import json

        import ipvae_snn
        prov = json.loads(str(namespace["params"].metadata["provenance"]))
        assert prov["command"].startswith("ipvae-snn fit ")
        assert namespace["official"].n_latents == 512
        assert "natural" in ipvae_snn.BUNDLED_MODELS
    elif page == "docs/own-images.md":
        row = namespace["result"].summary()[-1]
        assert row["T"] == 64 and row["r2"] > 0.5
    elif page == "docs/brian2-embedding.md":
        assert namespace["result"].counts.shape[0] == 4
    elif page == "docs/statistics.md":
        assert "Fano" in namespace["stats"].format_cortex_table(namespace["rows"])
    elif page == "docs/model.md":       # normalised, the faint patches are coded better
        r2 = namespace["r2"]
        assert r2["normalised"] > r2["as given"] + 0.05, r2
        assert (namespace["result"].input_gain < 1).all()
    else:   # README.md and the index: the demo from Python, a raster written
        assert namespace["result"].counts.shape[-1] == 512
        assert (tmp_path / "raster.png").stat().st_size > 10_000


# ------------------------------------------------------------ README numbers
@pytest.fixture(scope="module")
def scores(shared_patches, params, official_params):
    """Read-outs of the two bundled models on the 2,000 shared held-out patches."""
    from ipvae_snn.ratedistortion import ipvae_points
    x = shared_patches["shared"]
    return {name: {point["T"]: point
                   for point in ipvae_points(p, x, windows=(16, 64, 1000), seed=0)}
            for name, p in (("natural", params), ("official", official_params))}


def _text(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return " ".join(f.read().split())


@pytest.mark.slow
def test_quoted_scores_match_a_run(scores):
    """
    The scores the README and the learning page quote for the bundled models
    (R², zero fraction, the rate–distortion distance at T = 16, 64, 1000 on the
    2,000 shared held-out patches) are what a run of the reference gives.
    """
    nat, off = scores["natural"], scores["official"]
    readme = _text("README.md")
    quoted = (f"R² {nat[1000]['r2']:.3f} with {100 * nat[1000]['zero_fraction']:.1f} % "
              f"zero counts at T = 1000, a rate–distortion distance of "
              f"{nat[1000]['distance']:.3f}")
    assert quoted in readme, quoted
    assert f"{off[1000]['distance']:.3f} for the official-code model" in readme
    learning = _text("docs/learning.md")
    shipped = (f"| shipped | {nat[16]['r2']:.4f} | {nat[64]['r2']:.4f} | "
               f"{nat[1000]['r2']:.4f} | {nat[16]['zero_fraction']:.4f} | "
               f"{nat[1000]['zero_fraction']:.4f} | {nat[1000]['distance']:.4f} |")
    assert shipped in learning, shipped
    default = (f"| {nat[16]['r2']:.3f} | {nat[64]['r2']:.3f} | **{nat[1000]['r2']:.3f}** | "
               f"{nat[1000]['zero_fraction']:.3f} | **{nat[1000]['distance']:.3f}** |")
    assert "| `natural` (the default) " + default in learning, default
    official = (f"| {off[16]['r2']:.3f} | {off[64]['r2']:.3f} | {off[1000]['r2']:.3f} | "
                f"{off[1000]['zero_fraction']:.3f} | {off[1000]['distance']:.3f} |")
    assert official in learning, official


# ------------------------------------------------------------ no hand-copied numbers
#: Pages whose numbers another command writes; none now (the statistics
#: pages quote the committed runs of docs/figures/runs/).
NUMBERS_EXEMPT = set()

#: The only decimal numbers and percentages a page may write out, as the
#: patterns that match them in context: named constants, not results of a run.
#: Every figure a run gives is a ``{{ name }}`` substitution instead
#: (docs/_ext/ipvae_numbers.py, docs/_ext/ipvae_results.py).
ALLOWED_NUMBERS = {
    r"arXiv:\d{4}\.\d{5}": "the paper's arXiv identifier",
    r"(?:Python|CPython|Pythons|brian2cuda|[Bb]rian2|neo|from|to|and)\s+[≥<]?\s?"
    r"\d+\.\d+(?:\.\d+)?(?:[ab]\d+)?(?:[–/]\d+\.\d+(?:\.\d+)?)*":
        "versions of Python and of the packages the project supports",
    r"(?:×|x)\d+(?:\.\d+)?|\d+(?:\.\d+)?×":
        "contrast factors: settings of an example or a check, not results",
    r"0\.25 cycles/pixel": "the spatial frequency of the Hubel–Wiesel gratings "
                           "(a setting of examples/hubel_wiesel.py)",
    r"80\s+%\s+of\s+the\s+neurons": "the 10th to 90th percentiles the page quotes",
    r"default 9\.0, H100/H200": "the default CUDA compute capability (gpu.py)",
    r"within 0\.01 on the": "the tolerance a test asserts (tests/test_embed.py)",
    r"within 0\.02 of the\s+Lasso": "the tolerance a test asserts (tests/test_lca.py)",
    r"σ soft-clamp 3\.45|exp\(3\.45 tanh\(dec_log_sigma / 3\.45\)\)":
        "a constant of the official code (ipvae_snn.defaults.SIGMA_SOFTCLAMP)",
    r"(?m)^\| the paper \(official results files.*$|the\s+paper's\s+MNIST\s+row:\s+R²"
    r"\s+0\.951\s+at\s+84\.4\s+%\s+zeros":
        "the paper's published scores (PAPER of benchmarks/bench_rate_distortion.py)",
    r"Δ = 0\.1 s by default": "the default window (ipvae_snn.defaults.DEFAULT_WINDOW_S)",
    r"by\s+more\s+than\s+0\.005|R²\s+≥\s+0\.95\s+with\s+≥\s+80\s+%\s+zeros":
        "the acceptance bars benchmarks/bench_rate_distortion.py checks (its constants)",
    r"more than\s+\(0\.5\)": "OFFSET_LIMIT, a constant of ipvae_snn.data",
    r"at least 0\.6 with no runaway": "the acceptance bar tests/test_own_images.py asserts",
    r"interpolating the curve at 0\.1°": "the resolution of "
                                          "ipvae_snn.stats.tuning_half_width",
    r"bins of 0\.25 counts": "bin_width of ipvae_snn.stats.mean_matched_fano",
    r"bins of 0\.25 of r_signal": "the bins of ipvae_snn.stats.correlations",
    r"within\s+10\s+%\s+\(,\s+cpp_standalone,\s+20-ms\s+windows,\s+σ\s+=\s+0\.5\)":
        "the tolerance and setting tests/test_gain_noise.py asserts",
}

#: Numbers a test checks against a run instead (the issue's other way):
#: page -> (the pattern of the text it checks, the test).
CHECKED_NUMBERS = {
    # the README is read on GitHub, without substitutions
    "README.md": (r"R² \d\.\d{3} with\s+\d+\.\d % zero counts at T = 1000, a "
                  r"rate–distortion\s+distance of \d\.\d{3}|\d\.\d{3} for the "
                  r"official-code model", "test_quoted_scores_match_a_run"),
    "docs/learning.md": (r"(?m)^\| (shipped|\s*\(the default\)|\s*\(official code, "
                         r"1,024 iterations\)) \|.*$", "test_quoted_scores_match_a_run"),
    "docs/own-images.md": (r"(?m)^\| (held-out patches x|photo\.png through|raw ).*\|$",
                           "tests/test_own_images.py::test_the_docs_table_is_a_run"),
}


def _prose(text):
    """A page without what may hold digits legitimately: code, maths,
    substitutions, link targets, comments."""
    text = re.sub(r"^(```|~~~).*?^\1\s*$", "", text, flags=re.S | re.M)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", "", text, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}", "", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\$[^$\n]+\$", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


#: A decimal number or a percentage.
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*\.\d+(?:\s?%)?|(?<![\w.])\d[\d,]*\s?%")


def _hand_written_numbers(text, page=None):
    prose = _prose(text)
    if page in CHECKED_NUMBERS:
        prose = re.sub(CHECKED_NUMBERS[page][0], "", prose)
    for pattern in ALLOWED_NUMBERS:
        prose = re.sub(pattern, "", prose)
    return [" ".join(line.split())[:120] for line in prose.splitlines()
            if _NUMBER.search(line)]


@pytest.mark.parametrize("page", ["README.md"] + [
    f"docs/{p}" for p in _pages() if f"docs/{p}" not in NUMBERS_EXEMPT])
def test_no_hand_copied_number(page):
    """
    No decimal number or percentage is written into a page's prose or tables
    by hand: each comes from a run (a substitution) or is a named constant of
    ALLOWED_NUMBERS.
    """
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        found = _hand_written_numbers(f.read(), page)
    assert not found, f"{page}: numbers written by hand: {found}"


def test_number_scan_finds_a_copied_figure_and_spares_the_rest():
    page = ("R² 0.862 at T = 1000, 75 % zeros.\n"
            "Needs Python ≥ 3.10 (arXiv:2410.19315).\n"
            "```\nR² 0.5 in a code block\n```\n"
            "R² {{ default_r2_t1000 }} and `0.5` in code.\n")
    assert _hand_written_numbers(page) == ["R² 0.862 at T = 1000, 75 % zeros."]


def test_no_substitution_inside_code():
    """MyST leaves ``{{ name }}`` inside a code span as it is: a number there
    would show as its name."""
    for p in ["README.md"] + [f"docs/{p}" for p in _pages()]:
        with open(os.path.join(ROOT, p), encoding="utf-8") as f:
            text = re.sub(r"^(```|~~~).*?^\1\s*$", "", f.read(), flags=re.S | re.M)
        for span in re.findall(r"`[^`\n]+`", text):
            names = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", span)) - {"name"}
            assert not names, f"{p}: substitution inside code: {span}"


def test_committed_runs_give_every_substitution_the_pages_use():
    """
    Each ``{{ name }}`` of a page is a number of the build's runs or of a
    committed run's JSON (docs/figures/*.json, docs/figures/runs/*.json,
    benchmarks/results/*.json), and
    each example's JSON is quoted by a page; the build fails on an undefined
    one too, this says which.
    """
    sys.path.insert(0, os.path.join(DOCS, "_ext"))
    try:
        import ipvae_results
    finally:
        sys.path.remove(os.path.join(DOCS, "_ext"))
    used = {}
    for p in ["README.md"] + [f"docs/{p}" for p in _pages()]:
        with open(os.path.join(ROOT, p), encoding="utf-8") as f:
            text = re.sub(r"`[^`\n]*`", "", f.read())      # `{{ name }}` shown as code
            for name in re.findall(r"\{\{\s*(\w+)\s*\}\}", text):
                used.setdefault(name, p)
    committed = {**ipvae_results.example_numbers(), **ipvae_results.benchmark_numbers(),
                 **ipvae_results.run_numbers(), "cortex_v1.json": ipvae_results.v1_ranges()}
    # every committed command output is one `RUNS` formats, and says its command
    runs = glob.glob(os.path.join(ipvae_results.RUNS_DIR, "*.json"))
    assert {os.path.basename(p) for p in runs} == set(ipvae_results.RUNS)
    for path in runs:
        with open(path, encoding="utf-8") as f:
            run = json.load(f)
        assert run["command"] and run["output"], path
    given = {name for numbers in committed.values() for name in numbers}
    # the names the build's own runs give (docs/_ext/ipvae_numbers.py)
    with open(os.path.join(DOCS, "_ext", "ipvae_numbers.py"), encoding="utf-8") as f:
        source = f.read()
    built = set(re.findall(r'numbers\["(\w+)"\]|"(\w+)": ', source))
    built = {a or b for a, b in built}
    patterns = [re.compile(p.replace("{name}", r"(default|official)")
                           .replace("{t}", r"\d+") + "$")
                for p in re.findall(r'numbers\[f"(\w*\{[\w{}]*)"\]', source)]
    missing = {name: page for name, page in used.items()
               if name not in given and name not in built
               and not any(p.match(name) for p in patterns)}
    assert not missing, f"substitutions no run gives: {missing}"
    for path, numbers in committed.items():
        assert set(numbers) & set(used), f"{path} is quoted by no page"
    assert not set(ipvae_results.committed()) & built
