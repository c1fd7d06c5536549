"""A database that hangs, rather than refuses, under load: while it hangs, the
requests that need it get a 503 at once and the monitoring keeps answering; within seconds of
the thaw every route is whole again, and nothing is left idle in a transaction.

``ykmake serve`` reaches a fresh PostgreSQL database through a proxy the test freezes: it stops
forwarding bytes both ways and closes nothing, which is what a SIGSTOPped server looks like to
its clients, for 30 s at 10 requests/s.
"""

from __future__ import annotations

import statistics
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Final

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.integration.cli.support import serving
from tests.integration.faults.load import Call, OpenLoopLoad, Outcome
from tests.support.proxy import FreezableProxy
from tests.support.server import wait_until
from tests.support.services import fresh_postgres_database
from ykmake.app.db import make_engine
from ykmake.app.models import Product
from ykmake.app.users import create_user

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

FREEZE_SECONDS: Final = 30.0
REQUEST_TIMEOUT: Final = 5.0  # DATABASE_REQUEST_TIMEOUT_SECONDS, by default
LATE: Final = 1.5  # how far past the request timeout a loaded 2-core machine may answer
PROMPT: Final = 1.0  # /health, /ready and /metrics answer within this, frozen or not
RECOVERY: Final = 10.0  # after the thaw, every route is whole again within this
DATABASE_CALLS: Final = frozenset({"list", "show", "create"})


def _calls(token: str) -> list[Call]:
    auth = {"Authorization": f"Bearer {token}"}
    return [
        Call("list", "GET", "/api/products"),
        Call("health", "GET", "/health"),
        Call("show", "GET", "/api/products/1"),
        Call("create", "POST", "/api/products", {"name": "Desk", "price_cents": 1}, auth),
        Call("ready", "GET", "/ready"),
        Call("metrics", "GET", "/metrics"),
    ]


def _maker_with_a_product(database_url: str) -> str:
    """A user's token, and product 1 for ``GET /api/products/1`` (straight to the database)."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            user, token = create_user(session, "maker")
            session.add(Product(name="Lamp", description="", price_cents=100, maker_id=user.id))
            session.commit()
    finally:
        engine.dispose()
    return token


def _whole(base: str, token: str) -> float | None:
    """When one round of every route came back healthy, quickly; None if any did not."""
    expected = {"list": 200, "health": 200, "show": 200, "create": 201, "ready": 200}
    expected["metrics"] = 200
    with httpx.Client(base_url=base, timeout=2.0) as client:
        for call in _calls(token):
            try:
                response = client.request(
                    call.method, call.path, json=call.body, headers=call.headers
                )
            except httpx.HTTPError:
                return None
            if response.status_code != expected[call.name]:
                return None
    return time.monotonic()


def _count(database_url: str, sql: str, **params: object) -> int:
    """One count, on a connection of the test's own (not through the proxy)."""
    params["name"] = make_url(database_url).database
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


def _idle_in_transaction(database_url: str, *, for_over: float = 0.0) -> int:
    return _count(
        database_url,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %(name)s"
        " AND state LIKE 'idle in transaction%%'"
        " AND now() - state_change > make_interval(secs => %(for_over)s)",
        for_over=for_over,
    )


def _hold(seconds: float) -> None:
    """How long the database hangs: the scenario itself, not a wait for something to happen."""
    threading.Event().wait(seconds)


def _between(outcomes: list[Outcome], start: float, end: float) -> list[Outcome]:
    """The requests sent at or after ``start`` and answered before ``end``."""
    return [o for o in outcomes if o.sent >= start and o.answered < end]


def _named(outcomes: list[Outcome], *names: str) -> list[Outcome]:
    return [o for o in outcomes if o.call.name in names]


def test_a_hanging_database_is_quick_503s_then_nothing_left(tmp_path: Path) -> None:
    with ExitStack() as stack:  # on the way out: the load, the service, the proxy, the database
        direct_url = stack.enter_context(fresh_postgres_database())
        proxy = stack.enter_context(FreezableProxy(("127.0.0.1", 5432)))
        proxied = make_url(direct_url).set(port=proxy.port).render_as_string(hide_password=False)
        env = {
            "YKMAKE_ENV": "test",
            "DATABASE_URL": proxied,
            "LOG_DIR": str(tmp_path / "logs"),
            "ALERT_SPOOL_DIR": str(tmp_path / "spool"),
        }
        _, port = stack.enter_context(serving([], env, tmp_path))
        base = f"http://127.0.0.1:{port}"
        token = _maker_with_a_product(direct_url)
        load = stack.enter_context(OpenLoopLoad(base, _calls(token), interval=0.1))  # 10/s
        wait_until(lambda: len(_named(load.snapshot(), "list")) >= 5, timeout=30)

        frozen_at = time.monotonic()
        proxy.freeze()
        _hold(FREEZE_SECONDS)
        thawed_at = time.monotonic()
        proxy.thaw()

        recovered_at: float = wait_until(lambda: _whole(base, token), timeout=RECOVERY)
        # Nothing left idle in a transaction (passing through one for under a second is the
        # load's own work), within the same 10 s of the thaw.
        wait_until(
            lambda: _idle_in_transaction(direct_url, for_over=1.0) == 0,
            timeout=max(0.0, thawed_at + RECOVERY - time.monotonic()),
        )
        wait_until(lambda: len(_between(load.snapshot(), recovered_at, 1e12)) >= 30, timeout=20)
        load.stop()
        outcomes = load.snapshot()
        idle_at_rest = _idle_in_transaction(direct_url)
        alerts = _count(direct_url, "SELECT count(*) FROM alerts")

    assert [o for o in outcomes if o.status is None] == []  # every request got an answer
    assert {o.status for o in outcomes} <= {200, 201, 503}  # never a 500

    database = _named(outcomes, *DATABASE_CALLS)
    slowest = max(o.seconds for o in database)
    assert slowest <= REQUEST_TIMEOUT + LATE, "a database request hung"

    frozen = _between(outcomes, frozen_at, thawed_at)
    refused = _named(frozen, *DATABASE_CALLS)
    assert len(refused) >= 20
    assert {o.status for o in refused} == {503}
    for o in refused:
        assert o.json["error"] == "database_unavailable"
        assert isinstance(o.json["detail"], str)
        assert o.json["detail"]
        assert o.retry_after is not None
        assert int(o.retry_after) >= 1

    monitoring = _named(outcomes, "health", "ready", "metrics")
    assert max(o.seconds for o in monitoring) < PROMPT
    assert {o.status for o in _named(outcomes, "health", "metrics")} == {200}
    not_ready = _named(_between(outcomes, frozen_at + 1.0, thawed_at), "ready")
    assert len(not_ready) >= 5
    assert {o.status for o in not_ready} == {503}
    assert all(o.json["failed"] == ["database"] for o in not_ready)

    assert recovered_at - thawed_at <= RECOVERY
    after = _between(outcomes, recovered_at, 1e12)
    assert {o.status for o in after} <= {200, 201}, "a route still failing after the thaw"
    assert idle_at_rest == 0
    assert alerts == 0  # a hanging database is one incident, not an alert per 503

    print(  # the timings quoted in the README (pytest -s)
        f"\nfrozen {thawed_at - frozen_at:.1f}s: {len(refused)} database requests answered 503"
        f" ({_spread(refused)}); /ready {_spread(not_ready)};"
        f" /health+/metrics {_spread(_named(frozen, 'health', 'metrics'))};"
        f" whole again {recovered_at - thawed_at:.2f}s after the thaw"
    )


def _spread(outcomes: list[Outcome]) -> str:
    took = [o.seconds for o in outcomes]
    return f"median {statistics.median(took):.2f}s, max {max(took):.2f}s"
