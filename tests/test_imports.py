"""
The package's imports between its own modules form no cycle, and Brian2 is
imported only inside `ipvae_snn.network`.

The graph is read from the source (the AST of every module of ``ipvae_snn/``
and of ``equations/``, which ships as ``ipvae_snn.equations``), not from what
an import happens to load: an import inside a function counts as much as one
at the top of a module, since both say that one module needs the other. An
edge goes to the module named by the import (``from .io import atomic_path``:
``ipvae_snn.io``; ``from . import metrics``: ``ipvae_snn.metrics``); the
parent packages Python loads on the way are not edges of their own. Nothing
inside the package imports the package's facade ``ipvae_snn/__init__.py``
(the version lives in ``ipvae_snn._version``).
"""

import ast
import os


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



def _module_files():
    """Module name -> source file, for the package as a wheel lays it out."""
    out = {}
    for base, package in (("ipvae_snn", "ipvae_snn"), ("equations", "ipvae_snn.equations")):
        for folder, dirs, files in os.walk(os.path.join(ROOT, base)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            rel = os.path.relpath(folder, os.path.join(ROOT, base))
            prefix = package if rel == "." else f"{package}.{rel.replace(os.sep, '.')}"
            for name in files:
                if name.endswith(".py"):
                    stem = name[:-3]
                    out[prefix if stem == "__init__" else f"{prefix}.{stem}"] = \
                        os.path.join(folder, name)
    return out


def _imports(name, path, modules):
    """``(imported module, line)`` for every import of ``name``'s source, own or not."""
    is_package = os.path.basename(path) == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in modules else target), node.lineno


def import_graph():
    """Module -> {imported module of the package: first line}, and every import."""
    modules = _module_files()
    graph, everything = {}, {}
    for name, path in modules.items():
        edges = {}
        for target, line in _imports(name, path, modules):
            everything.setdefault(name, []).append((target, line))
            if target in modules and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph, everything, modules


def strongly_connected(graph):
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []
    counter = [0]

    def visit(v):       # recursion depth: the package's depth of imports (small)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def find_cycles(graph):
    """One cycle through each strongly connected component, e.g. ``['a', 'b', 'a']``."""
    return [_cycle_in(graph, component) for component in strongly_connected(graph)]


def _cycle_in(graph, component):
    """The shortest cycle through the first module of a strongly connected component."""
    inside, start = set(component), component[0]
    parents, frontier = {}, [start]
    while frontier:         # breadth first from start, inside the component
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return path[::-1] + [start]
                if w in inside and w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return component + component[:1]


def _describe(graph, cycle):
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) \
        + f" -> {cycle[-1]}"


def test_cycle_finder_names_a_cycle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b": 1}, "b": {}}) == []


def test_the_graph_sees_function_level_and_relative_imports():
    graph, _, modules = import_graph()
    assert "ipvae_snn.equations" in modules and "ipvae_snn.cli.fit" in modules
    # at module level, relative
    assert "ipvae_snn.validation" in graph["ipvae_snn.io"]
    # inside a function: the command line imports the network only when it runs
    assert "ipvae_snn.network" in graph["ipvae_snn.cli.simulate"]
    # ``from . import x`` is an edge to the submodule x
    assert "ipvae_snn.metrics" in graph["ipvae_snn.results"]


def test_no_import_cycles():
    graph, _, _ = import_graph()
    components = strongly_connected(graph)
    assert not components, "import cycles:\n" + "\n".join(
        f"{_describe(graph, _cycle_in(graph, c))}\n    (all of {c} import one another)"
        for c in components)


#: The layers of docs/architecture.md's module map, bottom up: a module
#: imports only modules of its own layer or of the layers below. A module is
#: in the layer of the longest entry that names it or a package above it.
LAYERS = (
    ("foundations", ("ipvae_snn.defaults", "ipvae_snn.validation", "ipvae_snn.io",
                     "ipvae_snn.datasets", "ipvae_snn._equations", "ipvae_snn.equations",
                     "ipvae_snn._progress", "ipvae_snn._signals", "ipvae_snn._memory",
                     "ipvae_snn._version", "ipvae_snn.cluster")),
    ("model", ("ipvae_snn.contrast", "ipvae_snn.params", "ipvae_snn.official")),
    ("inputs", ("ipvae_snn.data", "ipvae_snn.images", "ipvae_snn.scale",
                "ipvae_snn.stimuli")),
    ("inference", ("ipvae_snn.reference", "ipvae_snn.metrics", "ipvae_snn.executor",
                   "ipvae_snn.results", "ipvae_snn.nwb", "ipvae_snn.sequences",
                   "ipvae_snn.sampling")),
    ("network", ("ipvae_snn.network",)),
    ("learning", ("ipvae_snn.learning", "ipvae_snn.ratedistortion", "ipvae_snn.lca")),
    ("statistics", ("ipvae_snn.stats",)),
    ("figures", ("ipvae_snn.plotting",)),
    ("command line", ("ipvae_snn.cli",)),
    # the facade: re-exports the main names, imported by nothing inside
    ("package", ("ipvae_snn",)),
)


def layer_of(module):
    """``(index, name)`` of ``module``'s layer, or None when no entry names it."""
    best = None
    for index, (name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and \
                    (best is None or len(prefix) > best[0]):
                best = (len(prefix), index, name)
    return None if best is None else best[1:]


def test_every_module_has_a_layer():
    _, _, modules = import_graph()
    # the facade's own entry is for the facade only
    missing = sorted(m for m in modules if m != "ipvae_snn"
                     and layer_of(m)[1] == "package")
    assert not missing, (f"modules in no layer: {missing}; add each to LAYERS here and "
                         f"to the module map of docs/architecture.md")


def test_nothing_imports_a_layer_above_it():
    graph, _, _ = import_graph()
    upward = sorted(f"{a} ({layer_of(a)[1]}, line {line}) imports {b} ({layer_of(b)[1]})"
                    for a, edges in graph.items()
                    for b, line in edges.items() if layer_of(b)[0] > layer_of(a)[0])
    assert not upward, "imports of a layer above:\n" + "\n".join(upward)


def test_nothing_inside_imports_the_package_facade():
    graph, _, _ = import_graph()
    importers = sorted(name for name, edges in graph.items() if "ipvae_snn" in edges)
    assert not importers, f"these modules import ipvae_snn/__init__.py: {importers}"


def test_brian2_is_imported_only_inside_the_network():
    _, everything, _ = import_graph()
    outside = sorted(f"{name} (line {line})" for name, imports in everything.items()
                     if name != "ipvae_snn.network"
                     and not name.startswith("ipvae_snn.network.")
                     for target, line in imports
                     if target == "brian2" or target.startswith("brian2."))
    # nor by the examples in their docstrings
    for name, path in _module_files().items():
        if name.split(".")[:2] == ["ipvae_snn", "network"]:
            continue
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                text = line.strip().removeprefix(">>>").removeprefix("...").strip()
                if line.strip().startswith((">>>", "...")) and \
                        text.startswith(("import brian2", "from brian2")):
                    outside.append(f"{name} (line {lineno}, an example)")
    assert not outside, f"Brian2 imported outside ipvae_snn.network: {outside}"
