"""db_query_duration_seconds from SQLAlchemy engine events, on sync and async engines."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine

from ykmake.monitoring.metrics.db import classify_statement, instrument_engine
from ykmake.monitoring.metrics.families import MonitoringMetrics

STATEMENTS = [
    "CREATE TABLE gadgets (id INTEGER PRIMARY KEY, name TEXT)",
    "INSERT INTO gadgets (name) VALUES ('lamp')",
    "INSERT INTO gadgets (name) VALUES ('desk')",
    "SELECT name FROM gadgets WHERE id = 1",
    "UPDATE gadgets SET name = 'chair' WHERE id = 2",
    "DELETE FROM gadgets WHERE id = 1",
]
EXPECTED = {
    ("OTHER", "none", "true"): 1,  # CREATE TABLE: not one of the four operations
    ("INSERT", "gadgets", "true"): 2,
    ("SELECT", "gadgets", "true"): 1,
    ("UPDATE", "gadgets", "true"): 1,
    ("DELETE", "gadgets", "true"): 1,
    ("SELECT", "missing_table", "false"): 1,
}


def counts(metrics: MonitoringMetrics) -> dict[tuple[str, str, str], float]:
    found = {}
    for family in metrics.registry.collect():
        for s in family.samples:
            if s.name == "db_query_duration_seconds_count":
                labels = (s.labels["operation"], s.labels["table"], s.labels["success"])
                found[labels] = s.value
    return found


def test_sync_engine_statements_are_timed_with_their_labels(tmp_path: Path) -> None:
    metrics = MonitoringMetrics(process_collectors=False)
    engine = create_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    instrument_engine(engine, metrics)
    with engine.begin() as conn:
        for statement in STATEMENTS:
            conn.execute(text(statement))
    with engine.connect() as conn, pytest.raises(OperationalError):
        conn.execute(text("SELECT * FROM missing_table"))
    engine.dispose()
    assert counts(metrics) == EXPECTED
    labels = {"operation": "SELECT", "table": "gadgets", "success": "true"}
    duration = metrics.registry.get_sample_value("db_query_duration_seconds_sum", labels)
    assert duration is not None
    assert 0 < duration < 1
    bucket = metrics.registry.get_sample_value(
        "db_query_duration_seconds_bucket", {**labels, "le": "1.0"}
    )
    assert bucket == 1


def test_async_engine_statements_are_timed_with_their_labels(tmp_path: Path) -> None:
    metrics = MonitoringMetrics(process_collectors=False)

    async def go() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'async.db'}")
        instrument_engine(engine, metrics)
        async with engine.begin() as conn:
            for statement in STATEMENTS:
                await conn.execute(text(statement))
        async with engine.connect() as conn:
            with pytest.raises(OperationalError):
                await conn.execute(text("SELECT * FROM missing_table"))
        await engine.dispose()

    asyncio.run(go())
    assert counts(metrics) == EXPECTED


def test_executemany_is_one_observation(tmp_path: Path) -> None:
    metrics = MonitoringMetrics(process_collectors=False)
    engine = create_engine(f"sqlite:///{tmp_path / 'many.db'}")
    instrument_engine(engine, metrics)
    with engine.begin() as conn:
        conn.execute(text(STATEMENTS[0]))
        conn.execute(text("INSERT INTO gadgets (name) VALUES (:n)"), [{"n": "a"}, {"n": "b"}])
    engine.dispose()
    assert counts(metrics)[("INSERT", "gadgets", "true")] == 1


@pytest.mark.parametrize(
    ("statement", "operation", "table"),
    [
        ("SELECT users.id FROM users WHERE users.token_hash = ?", "SELECT", "users"),
        (
            'SELECT count(*) AS count_1 FROM (SELECT * FROM "products") AS anon',
            "SELECT",
            "products",
        ),
        ("  select * from Products join users on 1=1", "SELECT", "products"),
        ('INSERT INTO "public"."alerts" (a) VALUES (1)', "INSERT", "alerts"),
        ("INSERT INTO products (name) VALUES (?) RETURNING id", "INSERT", "products"),
        ("UPDATE `users` SET name = ?", "UPDATE", "users"),
        ("DELETE FROM [alerts] WHERE id = ?", "DELETE", "alerts"),
        ("WITH recent AS (SELECT * FROM products) SELECT * FROM recent", "SELECT", "products"),
        (
            "WITH doomed AS (SELECT id FROM alerts) DELETE FROM alerts WHERE id IN (1)",
            "DELETE",
            "alerts",
        ),
        (
            "WITH src AS (SELECT 1 AS x) INSERT INTO archive SELECT x FROM src",
            "INSERT",
            "archive",
        ),
        ("/* planner hint */ SELECT 1 FROM users", "SELECT", "users"),
        ("-- comment\nUPDATE users SET name = ?", "UPDATE", "users"),
        ("(SELECT id FROM users) UNION (SELECT id FROM products)", "SELECT", "users"),
        ("PRAGMA journal_mode=WAL", "OTHER", "none"),
        ("BEGIN", "OTHER", "none"),
        ("", "OTHER", "none"),
    ],
)
def test_classify_statement(statement: str, operation: str, table: str) -> None:
    assert classify_statement(statement) == (operation, table)
