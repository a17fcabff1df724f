"""The layering in docs/design.md: each module imports only lower layers."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "shoal"

LAYERS = {
    "_errors": 0,
    "_forward": 0,
    "_tproxy": 1,
    "proxy": 2,
    "_task": 0,
    "_watch": 0,
    "_workers": 1,
    "_delivery": 1,
    "_hubturns": 1,
    "_scheduler": 2,
    "_deadlines": 2,
    "_handoff": 3,
    "_hub": 3,
    "_timeouts": 4,
    "_introspect": 4,
    "_tasklet": 5,
    "_bridge": 5,
    "_channel": 5,
    "_sync": 5,
    "_io": 5,
    "_buffered": 5,
    "_resolve": 5,
    "_pipe": 6,
    "_lookup": 6,
    "_sockwait": 6,
    "socket": 7,
    "subprocess": 7,
    "_server": 8,
    "_tls": 8,
    "_select": 6,
    "_structure": 6,
    "_stackless_channel": 7,
    "_stackless_tasklet": 8,
    "testing": 7,
    "stackless": 9,
    "__init__": 9,
    "demo": 10,
}


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (type-only imports)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(c for c in ast.iter_child_nodes(node) if not _is_type_checking(c))
    return out


def _shoal_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(alias.name for alias in node.names)
            elif node.module and node.module.split(".")[0] == "shoal":
                parts = node.module.split(".")
                found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "shoal":
                    found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def test_every_module_has_a_layer() -> None:
    """A new module must be placed in the layering first."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules <= set(LAYERS), f"unplaced modules: {modules - set(LAYERS)}"


def test_no_module_imports_a_higher_layer() -> None:
    """Lower layers never import higher ones (nor their peers' layer above)."""
    bad = []
    for path in PACKAGE.glob("*.py"):
        mine = LAYERS[path.stem]
        for imported in _shoal_imports(path):
            if (
                imported in LAYERS
                and LAYERS[imported] >= mine
                and imported != path.stem
            ):
                bad.append(f"{path.stem} (layer {mine}) imports {imported}")
    assert bad == []


def test_only_the_kernel_switches_greenlets() -> None:
    """Only the kernel (_scheduler, _hubturns, _workers, _handoff) imports
    greenlet (the demo too, for its version)."""
    importers = set()
    for path in PACKAGE.glob("*.py"):
        for node in _runtime_nodes(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name.split(".")[0] == "greenlet" for name in names):
                importers.add(path.stem)
    assert importers == {"_scheduler", "_hubturns", "_workers", "_handoff", "demo"}
