"""The toolkit's layout holds: its packages import each other only along the design's arrows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TOOLKIT = Path(__file__).resolve().parents[3] / "src" / "ykmake" / "monitoring"
# Which of the toolkit's packages each one may import (besides itself and settings).
ARROWS = {
    "http": {"logs", "metrics"},
    "logs": set(),
    "metrics": set(),
    "errors": {"alerts", "logs"},
    "alerts": {"logs"},
}
SHARED = {"settings", "exceptions"}  # the toolkit's own slice of settings and its errors


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "ykmake"}


def modules() -> list[Path]:
    return sorted(TOOLKIT.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(TOOLKIT)))
def test_the_toolkit_imports_nothing_of_the_app(path: Path) -> None:
    outside = {m for m in imported_modules(path) if not m.startswith("ykmake.monitoring")}
    assert outside == set()


@pytest.mark.parametrize("package", sorted(ARROWS))
def test_packages_import_along_the_arrows_only(package: str) -> None:
    allowed = {package} | ARROWS[package] | SHARED
    for path in sorted((TOOLKIT / package).rglob("*.py")):
        for name in imported_modules(path):
            parts = name.split(".")
            target = parts[2] if len(parts) > 2 else ""
            assert target in allowed, f"{path.relative_to(TOOLKIT)} imports {name}"
