"""``/ready`` answers within half a second when the database hangs, and names it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ykmake.app.readiness import ReadinessProbe

LATE = 0.5  # how far past its deadline a loaded machine may answer


def _timed(probe: ReadinessProbe, rounds: int) -> list[tuple[dict[str, str], float]]:
    async def go() -> list[tuple[dict[str, str], float]]:
        answers = []
        try:
            for _ in range(rounds):
                began = time.monotonic()
                checks = await probe.checks()
                answers.append((checks, time.monotonic() - began))
        finally:
            probe.close()
        return answers

    return asyncio.run(go())


def test_a_database_that_hangs_is_not_ready_within_the_deadline() -> None:
    # A server whose kernel accepts connections and nobody answers on them: a hung database.
    before = set(threading.enumerate())
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        probe = ReadinessProbe(f"postgresql://nobody@127.0.0.1:{port}/db", timeout=0.3)
        answers = _timed(probe, rounds=3)
        started = set(threading.enumerate()) - before
        threads = [t for t in started if t.name.startswith("ykmake-ready")]
    for checks, took in answers:
        assert checks == {"database": "failed: no answer within 0.3s"}
        assert took < 0.3 + LATE
    assert len(threads) == 1  # the probes waited for the one check, not one thread each


def test_redis_that_hangs_is_not_ready_within_the_deadline(tmp_path: Path) -> None:
    class HungRedis:
        async def ping(self) -> bool:
            await asyncio.Event().wait()  # never answers
            return True

    probe = ReadinessProbe(f"sqlite:///{tmp_path / 'ready.db'}", HungRedis(), timeout=0.3)
    [(checks, took)] = _timed(probe, rounds=1)
    assert checks == {"database": "ok", "redis": "failed: no answer within 0.3s"}
    assert took < 0.3 + LATE


def test_ready_names_the_database_when_it_does_not_answer(
    app_factory: Callable[..., Any],
) -> None:
    app = app_factory()
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        app.state.readiness = ReadinessProbe(f"postgresql://nobody@127.0.0.1:{port}/db")

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
                    return await c.get("/ready")
            finally:
                app.state.readiness.close()

        began = time.monotonic()
        response = asyncio.run(go())
    assert time.monotonic() - began < 1.0
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "failed": ["database"],
        "checks": {"database": "failed: no answer within 0.5s"},
    }


def test_the_write_check_leaves_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "ready.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version=42")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    # The probe's engine puts the file in WAL mode when it connects: do that first.
    _timed(ReadinessProbe(f"sqlite:///{path}"), rounds=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    answers = _timed(ReadinessProbe(f"sqlite:///{path}"), rounds=5)

    assert [checks for checks, _took in answers] == [{"database": "ok"}] * 5
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (42,)


def test_a_writer_holding_the_lock_is_named_within_the_deadline(tmp_path: Path) -> None:
    path = tmp_path / "ready.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("PRAGMA journal_mode=wal")
        writer.execute("BEGIN IMMEDIATE")
        [(checks, took)] = _timed(ReadinessProbe(f"sqlite:///{path}", timeout=0.3), rounds=1)
    assert checks == {"database": "failed: OperationalError (SQLITE_BUSY)"}
    assert took < 0.3 + LATE
