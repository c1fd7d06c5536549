"""Log lines a file could not take (a full disk, a quota, an I/O error): counted, and said on
stderr once when dropping starts and once when every file takes lines again — never per line,
or a full disk would turn each log call into a line on a terminal (or on the same disk).

Used by the writer thread only (and by ``close()`` under the writer's lock).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import IO

__all__ = ["DropCounter", "DroppedLines"]

DropCounter = Callable[[str, int], None]  # (file name, lines dropped): a metric's increment


class DroppedLines:
    """What the writer could not write, per file; ``counter`` hears of every drop."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._counter: DropCounter | None = None
        self.total: Counter[str] = Counter()  # lines dropped per file since start
        self._failing: set[str] = set()
        self._since_failing = 0  # lines dropped since dropping started

    def count_with(self, counter: DropCounter) -> None:
        """Report every drop to ``counter`` from now on, and those before it was set."""
        for name, lines in self.total.items():
            counter(name, lines)
        self._counter = counter

    def dropped(self, name: str, lines: int, reason: str) -> None:
        """``lines`` of file ``name`` are lost because of ``reason``."""
        if not self._failing:
            self._say(f"cannot write {name} ({reason}): dropping log lines until it can")
        self._failing.add(name)
        self.total[name] += lines
        self._since_failing += lines
        if self._counter is not None:
            self._counter(name, lines)

    def written(self, name: str) -> None:
        """File ``name`` took a batch again."""
        if name not in self._failing:
            return
        self._failing.discard(name)
        if not self._failing:
            self._say(f"writing log lines again; {self._since_failing} were dropped")
            self._since_failing = 0

    def _say(self, message: str) -> None:
        stream = self._stream or sys.stderr
        try:
            stream.write(f"ykmake log writer: {message}\n")
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - stderr itself may be on the full disk
            pass
