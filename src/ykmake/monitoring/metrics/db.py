"""``db_query_duration_seconds`` from SQLAlchemy engine events, for any engine.

``instrument_engine(engine, metrics)`` works on sync engines and on ``AsyncEngine`` (through
its ``sync_engine``). Every statement is timed: operation (SELECT/INSERT/UPDATE/DELETE/OTHER),
the first table it names, and whether it succeeded.
"""

from __future__ import annotations

import re
import time
from typing import Any, Final

from sqlalchemy import Engine, event

from ykmake.monitoring.metrics.families import MonitoringMetrics

__all__ = ["classify_statement", "instrument_engine"]

_OPERATIONS: Final = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
_TABLE: Final = re.compile(
    r"""\b(?:FROM|INTO|UPDATE|JOIN)\s+((?:["`\[]?\w+["`\]]?\.)?["`\[]?(\w+)["`\]]?)""",
    re.IGNORECASE,
)
# The first word after leading comments and opening parentheses ("(SELECT ...) UNION ...").
_FIRST_WORD: Final = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/|\()*(\w*)", re.DOTALL)
_VERB_OR_PAREN: Final = re.compile(r"\b(?:SELECT|INSERT|UPDATE|DELETE)\b|[()]", re.IGNORECASE)
_START_KEY: Final = "ykmake_query_start"
_cache: dict[str, tuple[str, str]] = {}


def _main_verb(statement: str) -> str:
    """The verb of a CTE's main statement: the first one outside every parenthesis."""
    depth = 0
    for match in _VERB_OR_PAREN.finditer(statement):
        word = match.group(0)
        if word == "(":
            depth += 1
        elif word == ")":
            depth -= 1
        elif depth <= 0:
            return word.upper()
    return "OTHER"


def classify_statement(statement: str) -> tuple[str, str]:
    """``(operation, table)`` of a SQL statement; cached, as statements repeat."""
    hit = _cache.get(statement)
    if hit is not None:
        return hit
    head = _FIRST_WORD.match(statement)
    word = head.group(1).upper() if head else ""
    if word == "WITH":
        word = _main_verb(statement)
    operation = word if word in _OPERATIONS else "OTHER"
    match = _TABLE.search(statement)
    table = match.group(2).lower() if match else "none"
    result = (operation, table[:64])
    if len(_cache) < 5000:
        _cache[statement] = result
    return result


def instrument_engine(engine: Any, metrics: MonitoringMetrics) -> None:
    """Time every statement ``engine`` runs into ``db_query_duration_seconds``."""
    # AsyncEngine delegates to a sync Engine; duck-typed so asyncio extras stay optional.
    sync_engine: Engine = getattr(engine, "sync_engine", engine)
    histogram = metrics.db_query_duration_seconds
    children: dict[tuple[str, str, str], Any] = {}

    def observe(statement: str, started: float | None, success: str) -> None:
        if started is None:
            return
        operation, table = classify_statement(statement)
        key = (operation, table, success)
        child = children.get(key)
        if child is None:
            child = children[key] = histogram.labels(operation, table, success)
        child.observe(time.perf_counter() - started)

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _before(
        _conn: Any, _cursor: Any, _stmt: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None:
            context.__dict__[_START_KEY] = time.perf_counter()

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(
        _conn: Any, _cursor: Any, stmt: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None:
            observe(stmt, context.__dict__.pop(_START_KEY, None), "true")

    @event.listens_for(sync_engine, "handle_error")
    def _error(exception_context: Any) -> None:
        context = exception_context.execution_context
        if context is not None and exception_context.statement:
            observe(exception_context.statement, context.__dict__.pop(_START_KEY, None), "false")
