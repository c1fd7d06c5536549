"""Reading the JSON log files the way an operator's tooling would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a log file, parsed; fails loudly on a line that is not JSON."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def access_lines(log_dir: Path) -> list[dict[str, Any]]:
    return [
        line
        for line in read_lines(log_dir / "combined.log")
        if line.get("event") in ("request completed", "connection closed prematurely")
    ]


def rotated_files(log_dir: Path, name: str) -> list[Path]:
    """``name`` and its rotations, oldest first (``name.N`` … ``name.1``, ``name``); fails
    unless they are a gapless sequence: no ``name.3`` missing between ``.2`` and ``.4``."""
    found = sorted(p.name for p in log_dir.glob(f"{name}*"))
    count = len(found) - 1
    expected = sorted([name, *(f"{name}.{i}" for i in range(1, count + 1))])
    if found != expected:
        msg = f"{name} and its rotations are not a gapless sequence: {found}"
        raise AssertionError(msg)
    return [log_dir / f"{name}.{i}" for i in range(count, 0, -1)] + [log_dir / name]


def read_rotated(log_dir: Path, name: str) -> list[dict[str, Any]]:
    """Every line of ``name`` and its rotations, oldest first, parsed."""
    return [line for path in rotated_files(log_dir, name) for line in read_lines(path)]
