"""What both end-to-end tests need: the app's settings, API tokens, traffic in the background,
and a wait that names every query still without data when it gives up."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tests.fakes.slack_server import FakeSlack
from tests.integration.stack.harness import Stack
from ykmake.app.users import create_user
from ykmake.cli.load_engine import LoadPlan, LoadStats, run_load

__all__ = [
    "METRICS_TOKEN",
    "WEBHOOK_TOKEN",
    "api_token",
    "app_settings",
    "background_load",
    "has_number",
    "wait_for_data",
]

METRICS_TOKEN = "e2e-metrics-token"
WEBHOOK_TOKEN = "e2e-webhook-token"


def app_settings(fake_slack: FakeSlack) -> dict[str, Any]:
    """The app as Prometheus and Alertmanager expect it, posting its alerts to the fake Slack."""
    return {
        "metrics_token": METRICS_TOKEN,
        "alertmanager_webhook_token": WEBHOOK_TOKEN,
        "slack_api_url": fake_slack.base_url,
        "slack_token": "xoxb-e2e",
        "slack_channel": "#alerts",
        # Deliver within a fraction of a second: the tests wait on Slack, not on the worker.
        "alert_worker_interval_seconds": 0.05,
        "alert_backoff_base_seconds": 0.05,
        "alert_backoff_max_seconds": 0.2,
    }


def api_token(app: Any, name: str) -> str:
    """Create a user in the app's database and return its API token."""
    with app.state.sessions() as session:
        _user, token = create_user(session, name)
    return token


@contextmanager
def background_load(plan: LoadPlan) -> Iterator[LoadStats]:
    """Send ``plan`` from a thread while the block runs; stopped and joined when it ends.

    The plan's own bounds (count, duration) still apply: traffic never outlives them.
    """
    stop = threading.Event()
    stats = LoadStats()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(run_load(plan, stats=stats, stop=stop))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread below
            failures.append(exc)

    thread = threading.Thread(target=run, name="e2e-load", daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join(timeout=30)
    if failures:
        raise failures[0]


def has_number(result: list[dict[str, Any]]) -> bool:
    """True when an instant vector has a series whose value is a finite number.

    A panel whose every series is NaN (0/0, a quantile of no observations) draws nothing.
    """
    return any(math.isfinite(float(series["value"][1])) for series in result)


def wait_for_data(
    stack: Stack, queries: Mapping[str, str], *, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    """Poll every query until each has a finite value; fail naming those that never did."""
    deadline = time.monotonic() + timeout
    results: dict[str, list[dict[str, Any]]] = {}
    pending = dict(queries)
    while True:
        for what, expr in list(pending.items()):
            result = stack.query(expr)
            if has_number(result):
                results[what] = result
                del pending[what]
        if not pending:
            return results
        if time.monotonic() > deadline:
            missing = "\n".join(f"  {what}: {expr}" for what, expr in pending.items())
            msg = f"no data within {timeout:g}s for {len(pending)} of {len(queries)}:\n{missing}"
            raise AssertionError(msg)
        time.sleep(0.5)
