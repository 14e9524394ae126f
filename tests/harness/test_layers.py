"""The harness's import graph: no circle (lazy imports included), and imports only go
down the layers of DESIGN.md, so a change to one layer touches the ones above only."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .conftest import ROOT

PACKAGE = "stackwright"
#: Each part of the harness and its layer; an import may name its own layer or a lower
#: one, except that the sub-packages of SIBLINGS do not import each other.
LAYERS = {
    "support.errors": 0,
    "support.text": 0,
    "support.stamps": 0,
    "support.readiness": 0,
    "support.progress": 0,
    "support.packages": 0,
    "support.config": 1,
    "support.database": 2,
    "support.processes": 3,
    "support.steps": 4,
    "support.browser": 4,
    "support.results": 5,
    "support.controller": 6,
    "support.worker": 6,
    "support.kept": 6,
    "support.up": 7,
    "support.cli": 8,
    "support": 8,  # its __init__: the library's small public face
    "fixtures": 9,
}
SIBLINGS = {"support.steps", "support.browser"}


def _modules() -> dict[str, Path]:
    found = {}
    for folder in ("support", "fixtures"):
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every harness module ``name`` imports, wherever the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            elif base.startswith(f"{PACKAGE}."):
                base = base.removeprefix(f"{PACKAGE}.")
            else:
                continue
            # ``from package import module`` names the module, not the package's face.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            target = target.removeprefix(f"{PACKAGE}.")
            if target in MODULES and target != name:
                yield target


GRAPH = {name: sorted(set(_imports(name, path))) for name, path in MODULES.items()}


def _part(module: str) -> str:
    """The longest LAYERS key that ``module`` is or lies in."""
    candidates = [key for key in LAYERS if module == key or module.startswith(f"{key}.")]
    assert candidates, f"{module} is in no layer: add it to LAYERS (and DESIGN.md's picture)"
    return max(candidates, key=len)


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _part(module)


def test_imports_only_go_down() -> None:
    upward = []
    for module, targets in GRAPH.items():
        mine = _part(module)
        for target in targets:
            theirs = _part(target)
            if mine == theirs:
                continue
            if LAYERS[theirs] > LAYERS[mine] or {mine, theirs} <= SIBLINGS:
                upward.append(f"{module} ({mine}) imports {target} ({theirs})")
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_circle() -> None:
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise AssertionError("import circle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for target in GRAPH[module]:
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)


def test_the_library_never_imports_pytest() -> None:
    for name, path in MODULES.items():
        if name.startswith("support"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                assert not any(n.split(".")[0] in ("pytest", "_pytest") for n in names), name
