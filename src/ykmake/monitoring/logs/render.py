"""The one log-line renderer: an event dict becomes one JSON line (and a console line).

It is the last processor of the structlog chain, and the access line (:mod:`.access`) hands
its event dict to the same object, so every line in the files has the same encoder, the
same timestamp format and the same treatment of values JSON cannot hold.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final, NamedTuple

import orjson
import structlog
from structlog.typing import EventDict, WrappedLogger

__all__ = ["CHANNEL_KEY", "LEVELS", "Line", "LineRenderer", "add_timestamp", "utc_timestamp"]

LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# A line sent on a channel (exceptions, rejections) also goes to that channel's own file.
CHANNEL_KEY: Final = "_channel"
# Not OPT_NON_STR_KEYS: it costs every line a quarter more; a line with such a key takes
# the slow path below instead.
_OPTIONS: Final = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z
_SLOW_OPTIONS: Final = _OPTIONS | orjson.OPT_NON_STR_KEYS
_THREE_DIGITS: Final = tuple(f"{n:03d}" for n in range(1000))
_second: tuple[int, str] = (-1, "")  # the last unix second, and its text up to the dot


def utc_timestamp() -> str:
    """ISO-8601 UTC with microseconds (``2026-11-27T07:23:36.670318Z``).

    The second is formatted once a second; the microseconds come from a table three digits
    at a time, which costs a third of formatting the number each time."""
    global _second  # one formatted second, shared by every logger
    second, micros = divmod(time.time_ns() // 1000, 1_000_000)
    cached = _second
    if cached[0] != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
        cached = _second = (second, text)
    return f"{cached[1]}{_THREE_DIGITS[micros // 1000]}{_THREE_DIGITS[micros % 1000]}Z"


def add_timestamp(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the ``timestamp`` key, formatted once a second."""
    event_dict["timestamp"] = utc_timestamp()
    return event_dict


class Line(NamedTuple):
    """A rendered line on its way to the writer."""

    level: int
    json: bytes
    console: str | None  # the human line, in development
    channel: str | None


_new_line = tuple.__new__


def _fallback(value: Any) -> Any:
    """What orjson cannot encode natively: its string form."""
    return str(value)


def _safe_text(value: Any) -> str:
    """A string orjson always encodes: lone surrogates become ``\\udcxx`` escapes."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable(value: Any) -> Any:
    """``value`` if orjson encodes it, else its string form (the rare slow path)."""
    try:
        orjson.dumps(value, default=_fallback, option=_SLOW_OPTIONS)
    except orjson.JSONEncodeError:
        return _safe_text(value)
    return value


class LineRenderer:
    """Final processor: renders the event dict, never raises into the caller.

    Args:
        console: also render the colourised human line (development).
    """

    def __init__(self, console: bool) -> None:
        self._console = structlog.dev.ConsoleRenderer(colors=True) if console else None

    def __call__(
        self, logger: WrappedLogger, name: str, event_dict: EventDict
    ) -> tuple[tuple[Line], dict[str, Any]]:
        """As a structlog processor: the positional argument the wrapped logger receives."""
        return (self.render(name, event_dict, logger),), {}

    def render(self, level: str, event_dict: EventDict, logger: WrappedLogger = None) -> Line:
        """The line of ``event_dict`` logged at ``level`` (a level name)."""
        channel = event_dict.pop(CHANNEL_KEY, None)
        try:
            line = orjson.dumps(event_dict, default=_fallback, option=_OPTIONS)
        except orjson.JSONEncodeError:  # an int beyond 64 bits, a lone surrogate, a non-str key
            safe = {_safe_text(k): _encodable(v) for k, v in event_dict.items()}
            line = orjson.dumps(safe, default=_fallback, option=_SLOW_OPTIONS)
        text = None
        if self._console is not None:
            text = str(self._console(logger, level, dict(event_dict)))
        # tuple.__new__, as NamedTuple's own _make: a quarter of the cost of Line(...).
        return _new_line(Line, (LEVELS.get(level, logging.INFO), line, text, channel))
