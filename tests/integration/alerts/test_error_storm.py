"""An error storm: the first error of a kind gets everything, its repeats stay cheap and lose
nothing that matters, and the healthy requests beside them are all answered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sentry_sdk
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.sentry_server import FakeSentry
from tests.support.logs import read_lines
from tests.support.server import serve, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sentry_cleanup")]


def sample(base: str, name: str, **labels: str) -> float:
    """One sample of the app's /metrics (0 when the series does not exist yet)."""
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def debug_error_lines(app: Any) -> list[dict[str, Any]]:
    lines = read_lines(app.state.settings.log_dir / "error.log")
    return [line for line in lines if line.get("error_type") == "DebugError"]


def stored_alert(app: Any) -> dict[str, Any]:
    """The one alert (an empty dict while there is none yet)."""
    alerts, _total = app.state.monitoring.alerts.store.list_alerts()
    assert len(alerts) <= 1
    return dict(alerts[0]) if alerts else {}


def test_the_first_of_a_kind_gets_everything_and_its_repeats_are_counted(
    app_factory: Callable[..., Any], fake_sentry: FakeSentry
) -> None:
    app = app_factory(sentry_dsn=fake_sentry.dsn, sentry_events_per_window=2)
    with serve(app) as base, httpx.Client(base_url=base) as client:
        errors_before = sample(base, "errors_total", type="DebugError")
        ids = []
        for _ in range(5):
            response = client.get("/api/debug/error")
            assert response.status_code == 500
            ids.append(response.headers["x-request-id"])
        app.state.monitoring.errors.flush()
        sentry_sdk.flush(timeout=5)
        wait_until(lambda: stored_alert(app).get("occurrences") == 5, timeout=10)
        errors = sample(base, "errors_total", type="DebugError") - errors_before
        dropped = sample(base, "ykmake_sentry_events_dropped_total")
    assert errors == 5
    # Sentry: the window's budget (2) of events, the rest counted as dropped.
    events = fake_sentry.events
    assert [e["tags"]["request_id"] for e in events] == ids[:2]
    assert dropped == 3
    # error.log: the first with its whole traceback, once; no line of their own for repeats.
    (first,) = debug_error_lines(app)
    assert first["request_id"] == ids[0]
    assert "Traceback (most recent call last)" in first["exception"]
    assert first["sentry_event_id"] == events[0]["event_id"]
    # One alert: the first request's stack, the newest request's id, every repeat an occurrence.
    alert = stored_alert(app)
    assert alert["details"]["request_id"] == ids[-1]
    assert "DebugError" in alert["details"]["stack"]
    # Every request, repeats included, has its access line, marked with the error's kind.
    access = {
        line["request_id"]: line
        for line in read_lines(app.state.settings.log_dir / "combined.log")
        if line.get("event") == "request completed" and line.get("status") == 500
    }
    assert sorted(access) == sorted(ids)
    for line in access.values():
        assert (line["error_type"], line["fingerprint"]) == ("DebugError", first["fingerprint"])


def test_a_storm_of_1000_errors_leaves_every_healthy_request_answered(
    app_factory: Callable[..., Any], fake_sentry: FakeSentry
) -> None:
    """Eight clients hammer a failing route while one asks for products: every failing
    request is a 500 and counted, every healthy one a 200."""
    app = app_factory(sentry_dsn=fake_sentry.dsn)
    failing, healthy_statuses = 1000, []

    async def storm(base: str) -> list[int]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            queue = list(range(failing))

            async def hammer() -> list[int]:
                statuses = []
                while queue:
                    queue.pop()
                    statuses.append((await client.get("/api/debug/error")).status_code)
                return statuses

            async def healthy() -> None:
                while queue:
                    response = await client.get("/api/products")
                    healthy_statuses.append(response.status_code)

            beside = asyncio.create_task(healthy())
            hammered = await asyncio.gather(*(hammer() for _ in range(8)))
            await beside
        return [s for statuses in hammered for s in statuses]

    with serve(app) as base:
        errors_before = sample(base, "errors_total", type="DebugError")
        statuses = asyncio.run(storm(base))
        app.state.monitoring.errors.flush()
        wait_until(lambda: stored_alert(app).get("occurrences") == failing, timeout=15)
        errors = sample(base, "errors_total", type="DebugError") - errors_before
    assert statuses == [500] * failing
    assert len(healthy_statuses) >= 10
    assert set(healthy_statuses) == {200}
    assert errors == failing
    sentry_sdk.flush(timeout=5)
    assert len(fake_sentry.events) == 5  # SENTRY_EVENTS_PER_WINDOW, by default
    assert len(debug_error_lines(app)) == 1  # the traceback rendered once for the storm
