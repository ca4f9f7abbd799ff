"""The package's imports go one way: no cycle among hypr_edge's modules.

Every module is parsed with ast: imports at module level and inside functions, absolute and relative. An edge
goes to the module named: `import a.b` -> a.b; `from a import b` -> a.b when b is a module, else a;
`from a.b import name` -> a.b. A package's __init__ is the package's module; a submodule does not depend on its
parent package implicitly (an __init__ importing its own submodules is the normal layout).
The checkout's top-level host/ folder is the package hypr_edge.host (the wheel installs it there).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_FOLDERS = {"hypr_edge": ROOT / "hypr_edge", "hypr_edge.host": ROOT / "host"}  # package -> folder


def module_files() -> dict[str, Path]:
    mods = {}
    for package, folder in PACKAGE_FOLDERS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            mods[".".join((package, *parts[:-1 if parts[-1] == "__init__" else None]))] = path
    return mods


def imports_of(name: str, path: Path, modules: set[str]) -> set[str]:
    """The hypr_edge modules that module `name` (source at `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            out.update(f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names)
    return {m for m in out if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    mods = module_files()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None: depth-first search, iterative."""
    state = dict.fromkeys(graph, "new")
    for start in sorted(graph):
        if state[start] != "new":
            continue
        state[start] = "open"
        stack = [(start, iter(sorted(graph[start])))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = "done"
                stack.pop()
            elif state[child] == "open":
                path = [n for n, _ in stack]
                return path[path.index(child):] + [child]
            elif state[child] == "new":
                state[child] = "open"
                stack.append((child, iter(sorted(graph[child]))))
    return None


def test_no_import_cycle():
    graph = import_graph()
    assert "hypr_edge.host.protocol" in graph and "hypr_edge.codegen.render" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_host_is_imported_as_a_subpackage():
    """The wheel installs host/ as hypr_edge.host: an import of a top-level `host` works only in a checkout."""
    bad = []
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            bad += [f"{name}: {n}" for n in names if n.split(".")[0] == "host"]
    assert not bad, "import hypr_edge.host instead of host: " + ", ".join(bad)


def test_the_walk_sees_every_kind_of_import(tmp_path):
    pkg = tmp_path / "p"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub import b\n")
    (pkg / "a.py").write_text("def f():\n    from p.sub import b\n")           # function-local, absolute
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .. import a\nimport p.sub.c\n")   # relative to the parent; plain import
    (pkg / "sub" / "c.py").write_text("from ..a import f\n")                  # a name from a module
    mods = {"p": pkg / "__init__.py", "p.a": pkg / "a.py", "p.sub": pkg / "sub" / "__init__.py",
            "p.sub.b": pkg / "sub" / "b.py", "p.sub.c": pkg / "sub" / "c.py"}
    graph = {n: imports_of(n, p, set(mods)) for n, p in mods.items()}
    assert graph == {"p": {"p.sub.b"}, "p.a": {"p.sub.b"}, "p.sub": set(), "p.sub.b": {"p.a", "p.sub.c"},
                     "p.sub.c": {"p.a"}}
    assert find_cycle(graph) == ["p.sub.b", "p.a", "p.sub.b"]
    graph["p.a"] = set()  # a function-local import removed: the cycle is gone
    assert find_cycle(graph) is None
