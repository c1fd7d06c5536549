"""``/ready`` says the database is not ready when it can't take writes, though it still
answers reads: a SQLite file made read-only or locked by a stuck writer, a PostgreSQL
database switched to read-only."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.support.server import serve

pytestmark = pytest.mark.integration


def sqlite_file(database_url: str) -> Path:
    return Path(str(make_url(database_url).database))


@contextmanager
def stuck_writer(database_url: str) -> Iterator[None]:
    """Another process's transaction that holds the write lock and never ends: every write
    waits, then fails, while reads go on. Something root can't bypass, unlike a mode."""
    conn = sqlite3.connect(sqlite_file(database_url), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@contextmanager
def read_only_database(database_url: str) -> Iterator[None]:
    """``default_transaction_read_only``: what an operator sets to stop the writes (and what a
    standby is); every new session starts read-only."""
    name = make_url(database_url).database
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')


def unwritable(database_url: str) -> Any:
    return (
        stuck_writer(database_url)
        if database_url.startswith("sqlite")
        else (read_only_database(database_url))
    )


def test_ready_names_the_database_when_it_cannot_take_writes(
    app_factory: Callable[..., Any], database_url: str
) -> None:
    app = app_factory(database_url=database_url)
    with serve(app) as base:
        assert httpx.get(f"{base}/ready").json() == {
            "status": "ready",
            "checks": {"database": "ok"},
        }
        with unwritable(database_url):
            response = httpx.get(f"{base}/ready")
            assert httpx.get(f"{base}/api/products").status_code == 200  # reads still work
        assert httpx.get(f"{base}/ready").status_code == 200  # and back

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failed"]) == ("unavailable", ["database"])
    expected = "OperationalError (SQLITE_BUSY)" if "sqlite" in database_url else "read-only"
    assert body["checks"] == {"database": f"failed: {expected}"}
    assert response.elapsed.total_seconds() < 1.0
