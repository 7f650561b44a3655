"""The house rules on the source tree: imports flow one way (no module imports a layer above it, and
the parts of one layer do not import each other), and every module says what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent.parent / "src" / "remessa"

#: top to bottom; a module may import only its own part or the layers below it
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("daemon",),
    ("receipts",),
    ("intake",),
    ("delivery",),
    ("results",),
    ("schedule",),
    ("config",),
    ("channels", "store", "spool", "simulators"),
    ("model", "errors", "backoff"),
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
MODULES = sorted(p for p in SOURCE.rglob("*.py") if "versions" not in p.parts)


def part_of(dotted: str) -> str:
    """The top-level part of remessa a dotted module name belongs to."""
    return dotted.split(".")[1]


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every remessa import in a file, function-level ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("remessa"):
            if node.module == "remessa":
                found += [(node.lineno, f"remessa.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("remessa.")]
    return found


def name_of(path: Path) -> str:
    return ".".join(("remessa", *path.relative_to(SOURCE).with_suffix("").parts))


def test_every_part_has_a_layer() -> None:
    parts = {part_of(name_of(path)) for path in MODULES if path.name != "__init__.py" or path.parent != SOURCE}
    assert parts <= set(RANK), f"parts without a layer: {sorted(parts - set(RANK))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_flow_one_way(path: Path) -> None:
    if path == SOURCE / "__init__.py":
        return
    own = part_of(name_of(path))
    upward = [
        f"line {line}: {module} ({part_of(module)} is not below {own})"
        for line, module in imported(path)
        if part_of(module) != own and RANK[part_of(module)] <= RANK[own]
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_every_module_opens_with_a_docstring(path: Path) -> None:
    assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), f"{path} has no docstring"
