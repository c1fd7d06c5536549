"""The alert path against real databases and a fake Slack that fails on command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.fakes.slack_server import FakeSlack
from tests.support.alerts import AlertPath, build_alert_path, deliver_until
from ykmake.monitoring.alerts.models import Alert, Notification
from ykmake.monitoring.alerts.store import Backoff

pytestmark = pytest.mark.integration


@pytest.fixture
def path(database_url: str, tmp_path: Path, fake_slack: FakeSlack) -> Iterator[AlertPath]:
    p = build_alert_path(database_url, tmp_path, fake_slack)
    yield p
    p.close()


def count(p: AlertPath, model: Any, *where: Any) -> int:
    with p.store.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def header_text(message: dict[str, Any]) -> str:
    return str(message["attachments"][0]["blocks"][0]["text"]["text"])


def test_an_alert_is_stored_then_delivered_in_the_seed_layout(
    path: AlertPath, fake_slack: FakeSlack
) -> None:
    alert = path.service.send_alert(
        "critical", "Database down", "*primary* unreachable", {"host": "db-1", "token": "t0p"}
    )
    assert alert is not None
    assert alert["status"] == "open"
    assert fake_slack.messages == []  # stored now, delivered by the worker
    stats = path.deliver()
    assert stats.sent == 1
    (message,) = fake_slack.messages
    assert message["channel"] == "#alerts"
    assert message["text"].startswith("[CRITICAL] Database down")
    attachment = message["attachments"][0]
    assert attachment["color"] == "#ff0000"
    kinds = [b["type"] for b in attachment["blocks"]]
    assert kinds[0] == "header"
    assert kinds[-1] == "context"
    assert "divider" in kinds
    assert header_text(message) == "[CRITICAL] Database down"
    context = attachment["blocks"][-1]["elements"][0]["text"]
    assert "*Service*: ykmake" in context  # SERVICE_NAME
    assert "*Environment*: test" in context
    assert "t0p" not in json.dumps(message)
    assert count(path, Notification, Notification.status == "sent") == 1


def test_slack_down_then_up_loses_nothing(path: AlertPath, fake_slack: FakeSlack) -> None:
    fake_slack.go_down()
    for i in range(3):
        path.service.send_alert("error", f"outage {i}", "while Slack is down")
    stats = path.deliver()
    assert stats.sent == 0
    assert stats.retried == 3
    assert count(path, Notification, Notification.status == "pending") == 3
    fake_slack.come_back()
    deliver_until(path, lambda: len(fake_slack.messages) == 3)
    assert sorted(header_text(m) for m in fake_slack.messages) == [
        "[ERROR] outage 0", "[ERROR] outage 1", "[ERROR] outage 2",
    ]  # fmt: skip
    assert count(path, Notification, Notification.status == "sent") == 3


def test_429_waits_for_retry_after(path: AlertPath, fake_slack: FakeSlack) -> None:
    fake_slack.fail_with(429, retry_after=30)
    path.service.send_alert("warning", "rate limited", "try later")
    stats = path.deliver()
    assert stats.retried == 1
    with path.store.sessions() as s:
        n = s.scalars(select(Notification)).one()
        wait = (n.next_attempt_at - n.created_at).total_seconds()
    assert 29 <= wait <= 31  # Retry-After, not the 0.05 s backoff
    assert path.deliver().sent == 0  # not due yet


def test_permanent_failure_is_failed_then_retried_by_hand(
    path: AlertPath, fake_slack: FakeSlack
) -> None:
    fake_slack.reject_auth()
    path.service.send_alert("error", "bad token", "slack says invalid_auth")
    assert path.deliver().failed == 1
    failed = path.store.notifications(("failed",))
    assert len(failed) == 1
    assert "invalid_auth" in (failed[0]["last_error"] or "")
    fake_slack.reset()
    assert path.store.retry_failed() == 1
    assert path.deliver().sent == 1


def test_the_last_attempt_marks_the_row_failed(
    database_url: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    p = build_alert_path(database_url, tmp_path, fake_slack, backoff=Backoff(0.01, 0.02, 3))
    try:
        fake_slack.fail_with(500, times=100)
        p.service.send_alert("error", "never", "gets through")
        deliver_until(p, lambda: count(p, Notification, Notification.status == "failed") == 1)
        (row,) = p.store.notifications(("failed",))
        assert row["attempts"] == 3
    finally:
        p.close()


def test_a_restart_with_pending_deliveries_loses_nothing(
    database_url: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    first = build_alert_path(database_url, tmp_path, fake_slack, name="first")
    fake_slack.go_down()
    first.service.send_alert("critical", "before restart", "queued while Slack was down")
    first.deliver()
    first.close()  # the process goes away with the notification still pending
    fake_slack.come_back()
    second = build_alert_path(database_url, tmp_path, fake_slack, name="second")
    try:
        deliver_until(second, lambda: len(fake_slack.messages) == 1)
        assert header_text(fake_slack.messages[0]) == "[CRITICAL] before restart"
    finally:
        second.close()


def test_database_down_then_up_loses_nothing(path: AlertPath, fake_slack: FakeSlack) -> None:
    path.outage.go_down()
    assert path.service.send_alert("critical", "db outage", "alert raised during it") is None
    assert len(path.service.spool) == 1
    # As in the seed, Slack is still told while the database is down: by the outbox worker,
    # straight from the journal (never by the thread that makes alerts durable).
    stats = path.deliver()
    assert (stats.database_down, stats.sent) == (True, 1)
    fake_slack.wait_for(1, timeout=10)
    path.outage.come_back()
    deliver_until(path, lambda: len(path.service.spool) == 0)
    (alert,) = path.store.list_alerts()[0]
    assert alert["title"] == "db outage"
    path.deliver()
    assert len(fake_slack.messages) == 1  # the direct send counted: no second message


def test_database_and_slack_down_then_up(path: AlertPath, fake_slack: FakeSlack) -> None:
    fake_slack.go_down()
    path.outage.go_down()
    path.service.send_alert("error", "everything down", "both")
    path.outage.come_back()
    fake_slack.come_back()
    deliver_until(path, lambda: len(fake_slack.messages) == 1)
    assert header_text(fake_slack.messages[0]) == "[ERROR] everything down"


def test_storm_of_identical_errors_is_one_row_and_at_most_two_messages(
    path: AlertPath, fake_slack: FakeSlack
) -> None:
    for _ in range(1000):
        path.service.send_alert("error", "same error", "boom", {"route": "/x"})
    path.deliver()
    path.deliver()
    assert count(path, Alert) == 1
    with path.store.sessions() as s:
        assert s.scalars(select(Alert)).one().occurrences == 1000
    assert len(fake_slack.messages) <= 2
    # The digest waits for the end of the window; distinct errors still alert at once.
    path.service.send_alert("error", "another error", "bang")
    path.deliver()
    assert count(path, Alert) == 2
    assert [header_text(m) for m in fake_slack.messages][-1] == "[ERROR] another error"


def test_repeats_of_an_error_are_journalled_together_and_fold_into_its_alert(
    path: AlertPath, fake_slack: FakeSlack
) -> None:
    """The first error of a kind is journalled on its own (its request waits for that); its
    repeats are counted in memory and written a few entries at a time, never one each."""
    first = path.service.submit(
        "error", "KeyError in /x", "boom", {"request_id": "r0"}, source="error", fingerprint="fp"
    )
    first.result(timeout=5)
    for i in range(1, 500):
        path.service.add_occurrence(
            "error",
            "KeyError in /x",
            "boom",
            {"request_id": f"r{i}"},
            source="error",
            fingerprint="fp",
        )
    journalled = len(path.service.spool)  # at most the first and one pile of repeats so far
    deliver_until(path, lambda: count(path, Alert) == 1 and len(path.service.spool) == 0)
    path.service.close()  # what is still in memory is journalled, then moved in
    path.deliver()
    with path.store.sessions() as s:
        assert s.scalars(select(Alert)).one().occurrences == 500
    assert journalled <= 2
    # One message: its first (sent at once, or with the count when the repeats came first).
    (message,) = fake_slack.messages
    assert header_text(message).startswith("[ERROR] KeyError in /x")


def test_digest_after_the_window_says_how_many(
    database_url: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    p = build_alert_path(database_url, tmp_path, fake_slack, storm_window=1.0)
    try:
        p.service.send_alert("error", "flapping", "again")
        p.deliver()
        for _ in range(57):
            p.service.send_alert("error", "flapping", "again")
        deliver_until(p, lambda: len(fake_slack.messages) == 2)
        assert "occurred 57 times" in header_text(fake_slack.messages[1])
    finally:
        p.close()


def test_each_notification_goes_out_once_with_two_workers(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    from tests.support.services import fresh_postgres_database

    with fresh_postgres_database() as url:
        a = build_alert_path(url, tmp_path, fake_slack, name="a")
        b = build_alert_path(url, tmp_path, fake_slack, name="b")
        try:
            for i in range(40):
                a.service.send_alert("warning", f"distinct {i}", "each its own")
            import asyncio

            async def both() -> None:
                async with asyncio.timeout(60):
                    while len(fake_slack.messages) < 40 or a.store.pending_count():
                        await asyncio.gather(a.worker.deliver_once(), b.worker.deliver_once())

            asyncio.run(both())
            titles = sorted(header_text(m) for m in fake_slack.messages)
            assert titles == sorted(f"[WARNING] distinct {i}" for i in range(40))
        finally:
            a.close()
            b.close()


def test_resolving_drops_a_pending_digest_without_a_failed_delivery(
    path: AlertPath, fake_slack: FakeSlack
) -> None:
    alert = path.service.send_alert("error", "short storm", "x")
    assert alert is not None
    path.deliver()
    path.service.send_alert("error", "short storm", "x")  # queues a digest for the window's end
    assert count(path, Notification, Notification.kind == "digest") == 1
    path.store.set_status(alert["id"], "resolved")
    assert count(path, Notification, Notification.kind == "digest") == 0
    assert path.store.notifications(("failed",)) == []
    path.deliver()
    assert [header_text(m) for m in fake_slack.messages] == [
        "[ERROR] short storm",
        "[RESOLVED] short storm",
    ]


def test_stopping_lets_a_database_call_in_flight_finish(
    path: AlertPath, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancelled await would leave the worker thread's connection checked out past the
    engine's disposal; stop() waits for the pass instead."""
    import asyncio
    import threading

    started, finished = threading.Event(), threading.Event()
    real_claim = path.store.claim_next
    path.service.send_alert("error", "queued", "so that the pass claims")

    def slow_claim() -> Any:
        started.set()
        finished.wait(0.3)  # a slow database
        result = real_claim()
        finished.set()
        return result

    monkeypatch.setattr(path.store, "claim_next", slow_claim)

    async def run() -> None:
        path.worker.start()
        assert await asyncio.to_thread(started.wait, 5)
        await path.worker.stop()

    asyncio.run(run())
    assert finished.is_set()
    assert path.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_an_alert_nobody_was_told_about_is_told_at_its_next_occurrence(
    database_url: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """The README's order: an error while Slack is off is stored, and Slack hears of it at
    its next occurrence once Slack is on — not folded away until the window ends — with the
    newest request id and the count so far."""
    quiet = build_alert_path(database_url, tmp_path, None, name="quiet")
    try:
        quiet.service.send_alert("error", "KeyError in /x", "boom", {"request_id": "first"})
    finally:
        quiet.close()
    told = build_alert_path(database_url, tmp_path, fake_slack, name="told")
    try:
        told.service.send_alert("error", "KeyError in /x", "boom", {"request_id": "newest"})
        told.deliver()
        with told.store.sessions() as s:
            assert s.scalars(select(Alert)).one().occurrences == 2
    finally:
        told.close()
    (message,) = fake_slack.messages
    text = json.dumps(message)
    assert header_text(message).startswith("[ERROR] KeyError in /x")
    assert "newest" in text
    assert "first" not in text
    assert "2 times" in text


def test_an_alert_whose_message_failed_for_good_is_told_at_its_next_occurrence(
    path: AlertPath, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_with(404, error="channel_not_found")  # permanent: not retried
    path.service.send_alert("error", "lost message", "boom")
    path.deliver()
    assert count(path, Notification, Notification.status == "failed") == 1
    path.service.send_alert("error", "lost message", "boom again")  # Slack works again
    path.deliver()
    assert [header_text(m) for m in fake_slack.messages] == ["[ERROR] lost message"]


def test_storm_control_holds_with_the_database_down(path: AlertPath, fake_slack: FakeSlack) -> None:
    """1,000 identical alerts while the database is unreachable: Slack hears the first one,
    directly from the journal; the rest fold into it when the journal is replayed, and the
    replay sends nothing more (a digest waits for the end of the window)."""
    path.outage.go_down()
    for i in range(1000):
        path.service.send_alert("error", "payment provider down", "timeout", {"n": i})
    for _ in range(3):
        path.deliver()
    assert len(fake_slack.messages) == 1
    path.outage.come_back()
    deliver_until(path, lambda: len(path.service.spool) == 0)
    path.deliver()
    with path.store.sessions() as s:
        assert s.scalars(select(Alert)).one().occurrences == 1000
    assert [header_text(m) for m in fake_slack.messages] == ["[ERROR] payment provider down"]
