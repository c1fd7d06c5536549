"""Per kind of error, what the current window has already seen: the budget of an error storm.

The first error of a kind in a window (``ERROR_WINDOW_SECONDS``) is *new*: it gets the whole
treatment — its traceback in ``error.log``, a Sentry event, an alert entry with its stack.
Repeats in the same window are cheap: a counter, a line, an occurrence on the alert. Sentry
still gets up to ``SENTRY_EVENTS_PER_WINDOW`` events per kind and window (the first one
included); the rest are dropped and counted.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["ErrorWindows", "Sighting"]

# Kinds remembered at once; past it the one seen longest ago is forgotten (its next error is
# new again). Kinds are code locations, so a real app stays far below this.
_MAX_KINDS: Final = 10_000


@dataclass(frozen=True, slots=True)
class Sighting:
    """What one error gets: ``new`` (first of its kind in the window), ``to_sentry``."""

    new: bool
    to_sentry: bool


class _Window:
    __slots__ = ("sentry_events", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.sentry_events = 0


class ErrorWindows:
    """Counts errors per fingerprint and window (see the module docstring).

    Args:
        window_seconds: how long a kind of error stays "seen".
        sentry_events: Sentry events per kind and window; 0 for none.
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        window_seconds: float,
        sentry_events: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_seconds = window_seconds
        self.sentry_events = sentry_events
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._lock = threading.Lock()  # errors are captured from threads too

    def see(self, fingerprint: str, *, sentry: bool) -> Sighting:
        """Record one error of ``fingerprint``; ``sentry``: whether Sentry is on at all."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(fingerprint)
            new = window is None or now - window.started >= self.window_seconds
            if new:
                window = self._windows[fingerprint] = _Window(now)
                if len(self._windows) > _MAX_KINDS:
                    self._windows.popitem(last=False)
            assert window is not None
            self._windows.move_to_end(fingerprint)
            to_sentry = sentry and window.sentry_events < self.sentry_events
            if to_sentry:
                window.sentry_events += 1
        return Sighting(new, to_sentry)
