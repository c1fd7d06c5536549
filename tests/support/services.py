"""Real backing services for tests: PostgreSQL and Redis on loopback.

Locally a missing service skips the test; under CI (CI=true) it fails it, so a broken CI
machine can never turn into a green run that tested nothing.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip locally, fail under CI."""
    if in_ci():
        pytest.fail(f"{what} is required under CI but is not available", pytrace=False)
    pytest.skip(f"{what} is not available")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _pg_admin_url() -> str:
    return os.environ.get("YKMAKE_TEST_PG_URL", PG_ADMIN_URL)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards."""
    import psycopg

    if not port_open("127.0.0.1", 5432):
        missing("PostgreSQL at 127.0.0.1:5432")
    admin = _pg_admin_url()
    name = f"ykmake_test_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL ({exc})")
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url() -> str:
    """Redis on loopback, or skip/fail."""
    if not port_open("127.0.0.1", 6379):
        missing("Redis at 127.0.0.1:6379")
    return os.environ.get("YKMAKE_TEST_REDIS_URL", REDIS_URL)
