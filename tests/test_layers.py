"""The layering in docs/design.md: each module imports only lower layers."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "shoal"

LAYERS = {
    "_errors": 0,
    "_scheduler": 1,
    "_tasklet": 2,
    "_channel": 3,
    "_select": 4,
    "stackless": 5,
    "testing": 5,
    "__init__": 6,
    "demo": 6,
    "__main__": 7,
}


def _shoal_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
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
