"""Secret files of the stack: created 0600 from the start."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_secret"]


def write_secret(path: Path, value: str | None) -> None:
    """Write ``value`` to ``path`` readable by its owner alone; None removes the file."""
    if value is None:
        path.unlink(missing_ok=True)
        return
    # Create with 0600 from the start: the secret is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
