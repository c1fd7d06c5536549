"""active_users without Redis: distinct users in a sliding window, in process memory."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from ykmake.monitoring.metrics.active_users import ActiveUsers
from ykmake.monitoring.metrics.families import MonitoringMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def build(window: float = 300.0) -> tuple[ActiveUsers, CollectorRegistry, Clock]:
    metrics = MonitoringMetrics(process_collectors=False)
    clock = Clock()
    users = ActiveUsers(metrics.active_users, window_seconds=window, clock=clock)
    return users, metrics.registry, clock


def test_distinct_users_are_counted_once() -> None:
    users, registry, _ = build()
    for uid in [1, 2, 3, 1, 1, "2"]:
        users.seen(uid)
    users.before_scrape()
    assert registry.get_sample_value("active_users") == 3


def test_users_leave_the_window_after_their_last_request() -> None:
    users, registry, clock = build(window=300)
    users.seen(1)
    clock.now += 200
    users.seen(2)
    users.seen(3)
    clock.now += 150  # user 1 last seen 350 s ago, users 2 and 3 150 s ago
    assert users.local_count() == 2
    assert registry.get_sample_value("active_users") == 2
    users.seen(1)  # back again
    assert users.local_count() == 3
    clock.now += 301
    assert users.local_count() == 0
    assert registry.get_sample_value("active_users") == 0


def test_an_empty_window_reports_zero() -> None:
    users, registry, _ = build()
    users.before_scrape()
    assert registry.get_sample_value("active_users") == 0
