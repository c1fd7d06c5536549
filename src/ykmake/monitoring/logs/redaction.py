"""Keep secrets out of log lines, Sentry events and Slack messages, at any depth."""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from typing import Any, Final

__all__ = ["REDACTED", "Redactor"]

REDACTED: Final = "[REDACTED]"

_DEFAULT_PATTERN: Final = (
    r"authorization|cookie|passw(or)?d|passphrase|^pass$|secret|token|api[-_]?key"
    r"|credentials?|private[-_]?key|dsn"
)


_SCALARS: Final = frozenset({str, int, float, bool, type(None), bytes})


class Redactor:
    """Replace the values of secret-looking keys with ``[REDACTED]``.

    A key is secret when it matches the pattern (case-insensitive, anywhere in the key).
    Decisions are cached per key, so the hot path pays one dict lookup per key.
    Works on mappings, lists, tuples and ``(name, value)`` header pairs.
    """

    def __init__(self, extra_keys: Iterable[str] = ()) -> None:
        extra = "|".join(re.escape(k) for k in extra_keys)
        self._pattern = re.compile(_DEFAULT_PATTERN + (f"|{extra}" if extra else ""), re.I)
        self._cache: dict[str, bool] = {}

    def is_secret(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            hit = self._pattern.search(key) is not None
            if len(self._cache) < 4096:  # bounded: keys come from code, but be safe
                self._cache[key] = hit
        return hit

    def redact(self, value: Any) -> Any:
        """Return ``value`` with every secret replaced; mappings are changed in place."""
        if isinstance(value, MutableMapping):
            self._redact_mapping(value)
            return value
        if isinstance(value, list | tuple):
            return self._redact_sequence(value)
        return value

    def _redact_mapping(self, mapping: MutableMapping[Any, Any]) -> None:
        cache = self._cache
        for key, val in mapping.items():
            secret = cache.get(key)
            if secret is None:
                secret = isinstance(key, str) and self.is_secret(key)
            if secret:
                if val is not None and val != "":
                    mapping[key] = REDACTED
            elif type(val) not in _SCALARS and isinstance(val, MutableMapping | list | tuple):
                mapping[key] = self.redact(val)

    def _redact_sequence(self, seq: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
        # A (name, value) pair such as an ASGI or requests header.
        if len(seq) == 2 and isinstance(seq[0], str | bytes):
            name = seq[0].decode("latin-1") if isinstance(seq[0], bytes) else seq[0]
            if self.is_secret(name):
                return [seq[0], REDACTED] if isinstance(seq, list) else (seq[0], REDACTED)
        items = [self.redact(v) if isinstance(v, MutableMapping | list | tuple) else v for v in seq]
        return items if isinstance(seq, list) else tuple(items)

    def __call__(self, _logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> Any:
        """structlog processor."""
        self._redact_mapping(event_dict)
        return event_dict
