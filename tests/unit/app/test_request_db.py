"""The request path's database work: bounded waits, a reason for each 503, and work given up
on that changes nothing afterwards."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from tests.support.server import wait_until
from ykmake.app.db import DatabaseLimits, make_engine
from ykmake.app.request_db import DatabaseUnavailableError, RequestDatabase

LATE = 1.0  # how far past a deadline a loaded machine may answer


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(
        f"sqlite:///{tmp_path / 'app.db'}",
        DatabaseLimits(pool_size=1, max_overflow=0, pool_timeout=0.2),
    )
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE marks (n INTEGER)"))
    yield engine
    engine.dispose()


def _marks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(text("marks"))) or 0)


def _unavailable(database: RequestDatabase, work: object) -> tuple[str, float]:
    """The reason ``database.run(work)`` gave, and how long it took to give it."""

    async def go() -> str:
        with pytest.raises(DatabaseUnavailableError) as caught:
            await database.run(work)  # type: ignore[arg-type]
        return caught.value.reason

    began = time.monotonic()
    reason = asyncio.run(go())
    return reason, time.monotonic() - began


def test_work_past_the_timeout_is_given_up_and_then_writes_nothing(engine: Engine) -> None:
    database = RequestDatabase(engine, threads=1, pool_timeout=0.2, timeout=0.5)
    hung, finished = threading.Event(), threading.Event()

    def mark_after_the_hang(session: Session) -> None:
        try:
            hung.wait(10)  # the database does not answer
            session.execute(text("INSERT INTO marks VALUES (1)"))
            session.commit()
        finally:
            finished.set()

    try:
        reason, took = _unavailable(database, mark_after_the_hang)
        assert reason == "the database did not answer within 0.5s"
        assert took < 0.5 + LATE
        hung.set()  # the database answers again: the work goes on, nobody waiting for it
        wait_until(finished.is_set, timeout=10)
        assert _marks(engine) == 0
    finally:
        hung.set()
        database.close()


def test_with_every_connection_busy_a_request_waits_the_pool_timeout_only(
    engine: Engine,
) -> None:
    database = RequestDatabase(engine, threads=1, pool_timeout=0.2, timeout=5.0)
    holding, busy, ran = threading.Event(), threading.Event(), threading.Event()

    def hold(_session: Session) -> None:
        holding.set()
        busy.wait(10)

    async def go() -> tuple[str, float]:
        holder = asyncio.create_task(database.run(hold))
        assert await asyncio.to_thread(holding.wait, 10)  # the one thread is taken
        began = time.monotonic()
        with pytest.raises(DatabaseUnavailableError) as caught:
            await database.run(lambda _s: ran.set())
        took = time.monotonic() - began
        busy.set()
        await holder
        return caught.value.reason, took

    try:
        reason, took = asyncio.run(go())
        assert reason == "no database connection was free within 0.2s"
        assert took < 0.2 + LATE
        assert not ran.is_set()  # given up on before it started: it never runs
    finally:
        busy.set()
        database.close()


def test_the_pool_timing_out_is_a_503_with_its_reason(engine: Engine) -> None:
    database = RequestDatabase(engine, threads=2, pool_timeout=0.2, timeout=5.0)
    try:
        with engine.connect():  # the engine's one connection, taken
            reason, took = _unavailable(database, lambda s: s.execute(text("SELECT 1")))
        assert reason == "no database connection was free within 0.2s"
        assert took < 0.2 + LATE
    finally:
        database.close()


def test_work_that_answers_in_time_returns_its_result(engine: Engine) -> None:
    database = RequestDatabase(engine, threads=2, pool_timeout=0.2, timeout=5.0)

    def mark(session: Session, n: int) -> int:
        session.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})
        session.commit()
        return n

    try:
        assert asyncio.run(database.run(mark, 7)) == 7
        assert _marks(engine) == 1
    finally:
        database.close()
