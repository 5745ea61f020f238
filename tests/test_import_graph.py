"""The `socratic` package's import graph, read from source with `ast`: it must have no cycle, and the model
layer must never import the engine.

Edges: every `import`/`from ... import` in a module, top-level or inside a function, absolute (`socratic.x`) or
relative (`.x`, `..x`); `from pkg import name` where `pkg.name` is a submodule imports that submodule, and
importing a package means its `__init__`. Rules:
- a package `__init__` doing `from . import x` imports submodule `x` like any other module does; a submodule is
  not taken to import its parent package unless it names it (`from . import some_function` does).
- `if TYPE_CHECKING:` blocks are skipped: they never run. So are `importlib.import_module("...")` strings,
  which is how lazy tables (node modules, model backends) load code on demand.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "socratic"


def module_files(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Module name -> file, for every module of the package (a package is named by its `__init__.py`)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    """Collects (level, module, names) for every runtime import statement of one file."""

    def __init__(self):
        self.found: list[tuple[int, str, list[str]]] = []

    def visit_If(self, node: ast.If):
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import):
        self.found.extend((0, alias.name, []) for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        self.found.append((node.level, node.module or "", [alias.name for alias in node.names]))


def import_targets(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module `name` (in file `path`) imports."""
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(), filename=str(path)))
    is_package = path.name == "__init__.py"
    targets = set()
    for level, module, names in visitor.found:
        if level:
            base = name.split(".")
            if not is_package:
                base.pop()
            base = base[:len(base) - (level - 1)]
            module = ".".join(base + ([module] if module else []))
        if module not in modules:
            continue  # outside the package (or a name the parser cannot place)
        subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
        targets.update(subs)
        if not names or len(subs) < len(names):  # `import pkg`, or a name defined in pkg itself
            targets.add(module)
    targets.discard(name)
    return targets


def import_graph() -> nx.DiGraph:
    modules = module_files()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        graph.add_edges_from((name, target) for target in import_targets(name, path, modules))
    return graph


def describe_cycles(graph: nx.DiGraph, per_component: int = 10) -> str:
    """Each strongly connected component, with up to `per_component` of its simple cycles."""
    lines = []
    for comp in sorted((sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1), key=len):
        lines.append(f"component of {len(comp)}: {', '.join(comp)}")
        sub = graph.subgraph(comp)
        for i, cycle in enumerate(nx.simple_cycles(sub)):
            if i == per_component:
                lines.append("    ...")
                break
            lines.append("    " + " -> ".join(cycle + cycle[:1]))
    return "\n".join(lines)


def test_graph_reads_every_kind_of_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .sub import b, helper\nimport pkg.c\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
                              "def f():\n    from .sub.b import g\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import some_function\nfrom ..a import x\n")
    modules = module_files(pkg)
    assert set(modules) == {"pkg", "pkg.a", "pkg.c", "pkg.sub", "pkg.sub.b"}
    got = {n: import_targets(n, p, modules) for n, p in modules.items()}
    assert got == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub", "pkg.sub.b", "pkg.c"}, "pkg.c": {"pkg.sub.b"},
                   "pkg.sub": set(), "pkg.sub.b": {"pkg", "pkg.a"}}


def test_no_import_cycles():
    graph = import_graph()
    assert graph.number_of_nodes() > 50 and graph.number_of_edges() > 100  # the whole package was read
    report = describe_cycles(graph)
    if report:
        print(report)
    assert not report, "import cycles in socratic:\n" + report


def _inside(package: str, module: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_models_never_import_the_engine():
    graph = import_graph()
    bad = sorted((a, b) for a, b in graph.edges if _inside("socratic.models", a) and _inside("socratic.engine", b))
    assert not bad, "socratic.models imports socratic.engine: " + "; ".join(f"{a} -> {b}" for a, b in bad)
