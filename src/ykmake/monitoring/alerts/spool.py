"""The on-disk spool: where an alert waits while the database is down.

One JSON file per alert, written to a temporary name and renamed, so a crash never leaves
half a record. Replayed into the database, oldest first, once it answers again. Alerts carry
what went wrong, so the folder is made 0700 and each file 0600: the owner's eyes only.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

__all__ = ["AlertSpool"]


class AlertSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, record: dict[str, Any]) -> Path:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
        tmp = self.directory / f".{name}.tmp"
        with _open_private(tmp) as fh:
            json.dump(record, fh, default=str)
            fh.flush()
            os.fsync(fh.fileno())  # the point of the spool is to survive what comes next
        final = self.directory / name
        os.replace(tmp, final)
        return final

    def update(self, path: Path, **changes: Any) -> None:
        if not path.exists():
            return  # already replayed
        record = json.loads(path.read_text(encoding="utf-8"))
        record.update(changes)
        tmp = path.with_name(f".{path.name}.tmp")
        with _open_private(tmp) as fh:
            json.dump(record, fh, default=str)
        os.replace(tmp, path)

    def pending(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Spooled records, oldest first."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.json")):
            try:
                yield path, json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # being replaced right now, or unreadable: next pass

    def __len__(self) -> int:
        return len(list(self.directory.glob("*.json"))) if self.directory.is_dir() else 0


def _open_private(path: Path) -> TextIO:
    """``path`` truncated for writing, created 0600 (the mode is set at creation, so there is
    no moment when another user could open it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")
