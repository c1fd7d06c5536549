"""One Slack message per Alertmanager group, over real HTTP on SQLite and PostgreSQL: the
alerts stored one per fingerprint, the group's message in the fake Slack."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.slack_server import FakeSlack
from tests.integration.alerts.test_alertmanager_webhook import (
    AUTH,
    am_alert,
    am_payload,
    header,
    section_texts,
    slack_settings,
    store_of,
)
from tests.support.alerts import build_alert_path, deliver_until
from tests.support.server import serve, wait_until
from ykmake.monitoring.alerts.alertmanager import (
    WEBHOOK_PATH,
    AlertmanagerPayload,
    AlertmanagerWebhook,
)
from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.slack_group_message import GroupedAlert, GroupNotice
from ykmake.monitoring.alerts.slack_message import MAX_BLOCKS, MAX_HEADER_TEXT, MAX_SECTION_TEXT
from ykmake.monitoring.alerts.store import AlertStore
from ykmake.monitoring.alerts.vocabulary import RESOLVED_COLOR

pytestmark = pytest.mark.integration

BIG = 4000


def instance_alert(
    i: int, *, status: str = "firing", name: str = "YkMakeInstanceDown"
) -> dict[str, Any]:
    alert = am_alert(name, f"{i:016x}", status=status, summary="instance unreachable")
    alert["labels"]["instance"] = f"app-{i}:8000"
    return alert


def group(*alerts: dict[str, Any]) -> dict[str, Any]:
    return am_payload(*alerts, group_key='{}:{alertname="YkMakeInstanceDown"}')


@pytest.fixture
def am_app(
    app_factory: Callable[..., Any], database_url: str, fake_slack: FakeSlack
) -> Iterator[tuple[Any, httpx.Client]]:
    settings = slack_settings(
        fake_slack, database_url=database_url, webhook_max_body_bytes=16 * 1024 * 1024
    )
    app = app_factory(**settings)
    with serve(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        yield app, client


def settled(app: Any, fake_slack: FakeSlack, count: int) -> None:
    """``count`` messages in Slack, and nothing left to send (a later one would be a bug)."""
    fake_slack.wait_for(count, timeout=15)
    wait_until(lambda: store_of(app).pending_count() == 0, 15)
    time.sleep(0.3)  # a few of the worker's 50 ms passes: room for a message that must not come
    assert len(fake_slack.messages) == count


def test_a_group_of_three_is_one_message_listing_three_and_three_stored_alerts(
    am_app: tuple[Any, httpx.Client], fake_slack: FakeSlack
) -> None:
    app, client = am_app
    alerts = [instance_alert(i) for i in range(3)]
    alerts[1]["labels"]["severity"] = "warning"  # the group is as loud as its loudest alert
    response = client.post(WEBHOOK_PATH, json=group(*alerts), headers=AUTH)
    assert response.json() == {
        "received": 3, "firing": 3, "resolved": 0, "unmatched": 0, "spooled": 0
    }  # fmt: skip
    settled(app, fake_slack, 1)
    (message,) = fake_slack.messages
    assert header(message) == "[CRITICAL] YkMakeInstanceDown: instance unreachable"
    assert message["attachments"][0]["color"] == "#ff0000"
    summary, lines = section_texts(message)[:2]
    assert summary == "*3 alerts firing*"
    assert lines.splitlines() == [
        "• instance=app-0:8000, severity=critical",
        "• instance=app-1:8000, severity=warning",
        "• instance=app-2:8000, severity=critical",
    ]
    stored, total = store_of(app).list_alerts(source="alertmanager")
    assert total == 3
    assert {a["fingerprint"] for a in stored} == {f"am:{i:016x}" for i in range(3)}
    # Each alert shows the group's message as its delivery, in the admin API and the CLI.
    ids = [a["id"] for a in stored]
    assert set(store_of(app).delivery_states(ids).values()) == {"sent"}
    details = store_of(app).get_alert(ids[0])
    assert details is not None
    assert [(n["kind"], n["status"]) for n in details["notifications"]] == [("group", "sent")]


def test_a_group_of_4000_is_one_message_within_slacks_limits(
    am_app: tuple[Any, httpx.Client], fake_slack: FakeSlack
) -> None:
    app, client = am_app
    started = time.monotonic()
    response = client.post(
        WEBHOOK_PATH, json=group(*(instance_alert(i) for i in range(BIG))), headers=AUTH
    )
    stored_in = time.monotonic() - started
    assert response.json()["firing"] == BIG
    settled(app, fake_slack, 1)
    (message,) = fake_slack.messages
    blocks = message["attachments"][0]["blocks"]
    texts = section_texts(message)
    assert texts[0] == "*4,000 alerts firing*"
    assert texts[-1] == f"+{BIG - 40:,} more"
    assert len(blocks) <= MAX_BLOCKS // 2
    assert all(len(text) < MAX_SECTION_TEXT for text in texts)
    assert len(header(message)) <= MAX_HEADER_TEXT
    assert store_of(app).list_alerts(source="alertmanager", limit=1)[1] == BIG
    assert stored_in < 15, f"storing {BIG} alerts took {stored_in:.1f} s"


def test_the_same_group_again_within_the_window_folds_and_a_change_is_told(
    am_app: tuple[Any, httpx.Client], fake_slack: FakeSlack
) -> None:
    app, client = am_app
    two = group(instance_alert(0), instance_alert(1))
    for _ in range(3):  # Alertmanager's repeat_interval, or a retry
        assert client.post(WEBHOOK_PATH, json=two, headers=AUTH).status_code == 200
    settled(app, fake_slack, 1)
    alerts, _ = store_of(app).list_alerts()
    assert sorted(a["occurrences"] for a in alerts) == [3, 3]

    three = group(instance_alert(0), instance_alert(1), instance_alert(2))
    assert client.post(WEBHOOK_PATH, json=three, headers=AUTH).status_code == 200
    settled(app, fake_slack, 2)
    assert section_texts(fake_slack.messages[-1])[0] == "*3 alerts firing*"


def test_a_resolved_group_is_one_resolved_message(
    am_app: tuple[Any, httpx.Client], fake_slack: FakeSlack
) -> None:
    app, client = am_app
    firing = group(*(instance_alert(i) for i in range(3)))
    assert client.post(WEBHOOK_PATH, json=firing, headers=AUTH).status_code == 200
    settled(app, fake_slack, 1)
    resolved = group(*(instance_alert(i, status="resolved") for i in range(3)))
    for _ in range(2):  # the second is a re-send: nothing left to resolve, nothing to say
        response = client.post(WEBHOOK_PATH, json=resolved, headers=AUTH)
        assert response.status_code == 200
    settled(app, fake_slack, 2)
    message = fake_slack.messages[-1]
    assert header(message) == "[RESOLVED] YkMakeInstanceDown: instance unreachable"
    assert message["attachments"][0]["color"] == RESOLVED_COLOR
    assert section_texts(message)[0] == "*3 alerts resolved*"
    assert len(section_texts(message)[1].splitlines()) == 3
    assert {a["status"] for a in store_of(app).list_alerts()[0]} == {"resolved"}


def test_a_secret_label_is_masked_in_the_group_message(
    am_app: tuple[Any, httpx.Client], fake_slack: FakeSlack
) -> None:
    app, client = am_app
    alerts = [instance_alert(i) for i in range(2)]
    alerts[0]["labels"]["password"] = "hunter2-very-secret"
    alerts[1]["labels"]["dsn"] = "postgresql://app:s3cr3t-pass@db:5432/app"
    assert client.post(WEBHOOK_PATH, json=group(*alerts), headers=AUTH).status_code == 200
    settled(app, fake_slack, 1)
    text = str(fake_slack.messages[0])
    assert "hunter2-very-secret" not in text
    assert "s3cr3t-pass" not in text
    assert "password=" in text  # the label is there, its value masked


# -- the rule, in the store ------------------------------------------------------------------


def firing_fields(i: int) -> dict[str, Any]:
    return {
        "severity": "critical",
        "title": "YkMakeInstanceDown",
        "message": "down",
        "details": None,
        "source": "alertmanager",
        "fingerprint": f"am:{i:016x}",
    }


def notice_of(*ids: int, resolved: tuple[int, ...] = ()) -> GroupNotice:
    def line(i: int) -> GroupedAlert:
        return GroupedAlert("critical", {"instance": f"app-{i}"})

    return GroupNotice.of({}, {}, [line(i) for i in ids], [line(i) for i in resolved])


def test_the_rule_a_reminder_after_the_window_and_resolved_waits_for_firing(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        store = AlertStore(engine, storm_window=timedelta(minutes=10))
        store.create_tables()
        t0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
        fire = [firing_fields(1), firing_fields(2)]
        told = [
            store.record_group("g", fire, [], notice_of(1, 2), now=t0 + after).notification
            for after in (timedelta(0), timedelta(minutes=9), timedelta(minutes=20))
        ]
        assert told == ["group", None, "group"]  # folded inside the window, a reminder after
        done = store.record_group(
            "g", [], ["am:0000000000000001", "am:0000000000000002", "am:0000000000000009"],
            notice_of(resolved=(1, 2)), now=t0 + timedelta(minutes=21),
        )  # fmt: skip
        assert (done.resolved, done.unmatched, done.notification) == (2, 1, "group_resolved")
        # In order: each waits until the group's message before it is out.
        order: list[str] = []
        while claimed := store.claim_due(now=t0 + timedelta(hours=1)):
            order.extend(c.kind for c in claimed)
            for c in claimed:
                store.mark_sent(c)
        assert order == ["group", "group", "group_resolved"]
        alert = store.list_alerts(status="resolved")[0][0]
        assert alert["occurrences"] == 3
    finally:
        engine.dispose()


def test_with_the_database_down_the_group_is_journalled_and_told_alert_by_alert(
    database_url: str, tmp_path: Path, fake_slack: FakeSlack
) -> None:
    path = build_alert_path(database_url, tmp_path, fake_slack)
    webhook = AlertmanagerWebhook(
        path.service, guard=lambda _request: None, max_body_bytes=1 << 20, log=path.service.log
    )
    try:
        path.outage.go_down()
        two = group(instance_alert(0), instance_alert(1))
        firing = webhook.apply(AlertmanagerPayload.model_validate(two))
        assert (firing.firing, firing.spooled, firing.store_errors) == (2, 2, 0)
        resolved = group(instance_alert(0, status="resolved"), instance_alert(1))
        assert webhook.apply(AlertmanagerPayload.model_validate(resolved)).store_errors == 1  # 503
        path.outage.come_back()
        deliver_until(path, lambda: len(fake_slack.messages) >= 2)
        # The journal's alerts, one message each (the second re-sent too: "occurred 2 times").
        headers = [header(m) for m in fake_slack.messages]
        assert len(headers) == 2
        assert all(h.startswith("[CRITICAL] YkMakeInstanceDown: instance unrea") for h in headers)
        assert path.store.list_alerts(source="alertmanager")[1] == 2
    finally:
        path.close()
