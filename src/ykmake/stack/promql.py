"""Find the metric names a PromQL expression selects, without a full PromQL parser.

Good enough for the expressions this project writes (rules and dashboard panels): it removes
strings, label matchers, ranges, grouping clauses and ``offset`` modifiers, then keeps every
identifier that is not a keyword and is not called like a function.
"""

from __future__ import annotations

import re

__all__ = ["metric_names", "number"]

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^{}]*\}")
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_MODIFIER = re.compile(r"\b(?:offset|@)\s*-?[\w.]+|@\s*\S+", re.IGNORECASE)
_TOKEN = re.compile(
    r"(?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)(?P<call>\s*\()?"
)
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "inf",
        "nan",
        "atan2",
    }
)


def metric_names(expr: str) -> frozenset[str]:
    """Return the metric names ``expr`` selects (Grafana ``$variables`` are ignored).

    Examples:
        >>> sorted(metric_names('sum by (le) (rate(x_bucket{job="$job"}[5m])) / y:ratio'))
        ['x_bucket', 'y:ratio']
    """
    text = _STRING.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _BRACKETS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _MODIFIER.sub(" ", text)
    names: set[str] = set()
    for match in _TOKEN.finditer(text):
        ident = match.group("ident")
        if ident is None or match.group("call") is not None:
            continue
        if ident.lower() in _KEYWORDS:
            continue
        names.add(ident)
    return frozenset(names)


def number(value: float) -> str:
    """Write ``value`` exactly as a PromQL literal (``1073741824``, ``0.001``, ``14.4``)."""
    as_float = float(value)
    return str(int(as_float)) if as_float.is_integer() else repr(as_float)
