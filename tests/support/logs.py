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
