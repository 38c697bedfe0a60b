"""Imports point one way (issue 19, point 6).

The import graph of every module in ``src/nnscratch`` is built from the source
with ``ast``: module-level and function-level imports, relative and absolute.
It must have no cycle, and no module may import the ``__init__`` of a package it
lives in (``from . import NeuralNetwork`` inside the package, say): the package's
face imports its parts, never the other way round.
"""

import ast

from conftest import REPO

SOURCE = REPO / "src"
PACKAGE = "nnscratch"

#: Edges known to break the rules, kept until the change that removes them is
#: merged.  Each names its issue; the lead removes them after merging.  Empty: none.
KNOWN = set()


def module_name(path):
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules():
    """{module name: (path, is a package)} for every .py file of the package."""
    found = {}
    for path in sorted((SOURCE / PACKAGE).rglob("*.py")):
        found[module_name(path)] = (path, path.name == "__init__.py")
    return found


def imported(name, is_package, tree, known):
    """The package's modules that ``tree`` (module ``name``) imports, as (target, line)."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not (target == PACKAGE or target.startswith(PACKAGE + ".")):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                # ``from . import data`` imports the module; ``from . import x`` a name
                yield (sub if sub in known else target), node.lineno


def graph():
    known = modules()
    edges = {}
    for name, (path, is_package) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, line in imported(name, is_package, tree, known):
            if target != name:
                edges.setdefault((name, target), line)
    return known, edges


def cycles(nodes, edges):
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    succ = {n: sorted({b for a, b in edges if a == n and b in nodes}) for n in nodes}
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if i < len(succ[node]):
                work.append((node, i + 1))
                nxt = succ[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def describe(edges_shown, edges):
    return "\n".join(f"  {a} -> {b} (line {edges[a, b]})" for a, b in sorted(edges_shown))


def test_the_graph_is_built_from_every_kind_of_import():
    """The reader finds relative, absolute and function-level imports (else the other
    tests would pass on an empty graph)."""
    known, edges = graph()
    assert len(known) > 25 and len(edges) > 40
    assert ("nnscratch.network", "nnscratch.saving") in edges  # module level, relative
    assert (f"{PACKAGE}.__main__", f"{PACKAGE}.cli") in edges
    tree = ast.parse("def f():\n    from ..data import Scale\n    import nnscratch.export\n")
    found = {t for t, _ in imported("nnscratch.cli.train", False, tree, known)}
    assert found == {"nnscratch.data", "nnscratch.export"}
    tree = ast.parse("from .. import NeuralNetwork\nfrom . import train\n")
    found = {t for t, _ in imported("nnscratch.cli.demo", False, tree, known)}
    assert "nnscratch" in found


def test_no_module_imports_its_own_packages_init():
    known, edges = graph()
    bad = {
        (a, b)
        for a, b in edges
        if known.get(b, (None, False))[1] and (a.startswith(b + ".")) and (a, b) not in KNOWN
    }
    assert not bad, (
        "these modules import the __init__ of a package they live in (import the "
        "module that defines the name instead):\n" + describe(bad, edges)
    )


def test_no_import_cycle():
    known, edges = graph()
    allowed = {e: line for e, line in edges.items() if e not in KNOWN}
    found = cycles(set(known), allowed)
    message = []
    for component in found:
        inside = {(a, b) for a, b in allowed if a in component and b in component}
        message.append(" <-> ".join(component) + "\n" + describe(inside, allowed))
    assert not found, "import cycles:\n" + "\n".join(message)


def test_known_edges_still_exist():
    """An allow-listed edge that is gone must leave the list too."""
    _, edges = graph()
    gone = sorted(edge for edge in KNOWN if edge not in edges)
    assert not gone, f"these edges no longer exist: remove them from KNOWN: {gone}"


def test_the_cli_is_a_package_of_commands():
    """Point 6: one module per command, one for tables, one for what they share."""
    folder = SOURCE / PACKAGE / "cli"
    names = {p.stem for p in folder.glob("*.py")}
    commands = {"train", "evaluate", "predict", "info", "export", "demo"}
    assert commands | {"_tables", "_common", "__init__", "__main__"} <= names
    assert not (SOURCE / PACKAGE / "cli.py").exists()
