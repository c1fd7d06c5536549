from __future__ import annotations

from ykmake.monitoring.alerts.fingerprint import alert_fingerprint
from ykmake.monitoring.alerts.store import Backoff


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    backoff = Backoff(base=2.0, cap=60.0, max_attempts=10)
    for attempts, nominal in [(1, 2.0), (2, 4.0), (3, 8.0), (6, 60.0), (9, 60.0)]:
        delay = backoff.delay(attempts)
        assert 0.8 * nominal <= delay <= 1.2 * nominal


def test_retry_after_wins() -> None:
    assert Backoff().delay(1, retry_after=7.0) == 7.0


def test_alert_fingerprint_is_stable_and_distinguishes() -> None:
    a = alert_fingerprint("app", "error", "t", "m")
    assert a == alert_fingerprint("app", "error", "t", "m")
    assert a != alert_fingerprint("app", "critical", "t", "m")
    assert a != alert_fingerprint("app", "error", "t", "other")
