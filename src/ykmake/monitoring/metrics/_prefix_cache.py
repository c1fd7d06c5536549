"""Rendered series prefixes (``name{labels} ``), cached between scrapes.

Label sets are stable from one scrape to the next, so escaping and joining them once and
reusing the string is where most of the exposition speed comes from. One `PrefixCache`
exists per output flavour (text or OpenMetrics) and constant-label set.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Hashable, Iterable, Mapping

from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name

__all__ = ["PrefixCache", "escape_label_value", "get_cache"]

# A table grows with the number of series; past this many entries all tables are dropped and
# refill on the next scrape. Clearing wholesale is O(1) per miss amortised and needs no
# bookkeeping on the hot path; label sets only churn when series come and go.
MAX_ENTRIES = 200_000
# Distinct (flavour, const labels) configurations kept; normally one or two per process.
_MAX_CACHES = 16

_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_NOT_LABEL_RUNE_RE = re.compile(r"[^a-zA-Z0-9_]")


def escape_label_value(value: str) -> str:
    """Escape a label value for either format (backslash, newline, double quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _om_sample_name(name: str) -> str:
    """Mirror prometheus_client's OpenMetrics sample-name escaping (label-name runes only)."""
    escaped = _NOT_LABEL_RUNE_RE.sub("_", name)
    if escaped[:1].isdigit():
        escaped = "_" + escaped[1:]
    return escaped


class PrefixCache:
    """Maps a sample's identity to its rendered ``name{labels} `` prefix.

    Tables are plain dicts handed to the render loop, which does the lookup itself (a method
    call per sample would cost more than the lookup); only misses come back here.
    """

    def __init__(self, *, openmetrics: bool, const_labels: Mapping[str, str]) -> None:
        self.openmetrics = openmetrics
        self.const_labels = dict(const_labels)
        self._tables: dict[Hashable, dict[Hashable, str]] = {}
        self._entries = 0

    def table(self, family: Hashable) -> dict[Hashable, str]:
        """The table for one family; `family` must pin down what the sample keys omit."""
        table = self._tables.get(family)
        if table is None:
            table = self._tables[family] = {}
        return table

    def miss(
        self, table: dict[Hashable, str], key: Hashable, name: str, labels: Mapping[str, str]
    ) -> str:
        """Render, store and return the prefix for a sample not seen before."""
        if self._entries >= MAX_ENTRIES:
            self.clear()
        prefix = self.render_prefix(name, labels)
        table[key] = prefix
        self._entries += 1
        return prefix

    def render_prefix(self, name: str, labels: Mapping[str, str]) -> str:
        """Render ``name{labels} `` with the constant labels added; sample labels win."""
        merged = {**self.const_labels, **labels}
        sample_name = _om_sample_name(name) if self.openmetrics else escape_metric_name(name)
        if not merged:
            return sample_name + " "
        body = ",".join(
            f'{escape_label_name(k)}="{escape_label_value(v)}"' for k, v in sorted(merged.items())
        )
        return f"{sample_name}{{{body}}} "

    def clear(self) -> None:
        """Drop every table (they refill on the next scrape)."""
        self._tables = {}
        self._entries = 0

    def __len__(self) -> int:
        return self._entries


_caches: dict[tuple[bool, tuple[tuple[str, str], ...]], PrefixCache] = {}
_caches_lock = threading.Lock()


def _validated(const_labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    items: Iterable[tuple[str, object]] = const_labels.items()  # values are checked below
    for name, value in items:
        if not _LABEL_NAME_RE.match(name) or name.startswith("__"):
            msg = (
                f"constant label name {name!r} is not a valid Prometheus label name; "
                "expected [a-zA-Z_][a-zA-Z0-9_]* not starting with '__'"
            )
            raise ValueError(msg)
        if not isinstance(value, str):
            msg = f"constant label {name!r} has value {value!r}; expected a str"
            raise TypeError(msg)
    return tuple(sorted(const_labels.items()))


def get_cache(*, openmetrics: bool, const_labels: Mapping[str, str]) -> PrefixCache:
    """The process-wide cache for this flavour and constant-label set.

    Raises:
        ValueError: a constant label name is not a valid Prometheus label name.
        TypeError: a constant label value is not a str.
    """
    key = (openmetrics, _validated(const_labels))
    cache = _caches.get(key)
    if cache is None:
        with _caches_lock:
            cache = _caches.get(key)
            if cache is None:
                if len(_caches) >= _MAX_CACHES:
                    _caches.clear()
                cache = _caches[key] = PrefixCache(
                    openmetrics=openmetrics, const_labels=const_labels
                )
    return cache
