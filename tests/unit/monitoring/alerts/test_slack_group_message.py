"""The Slack message of an Alertmanager group: its title, colour, lines and limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ykmake.monitoring.alerts.slack_group_message import (
    MAX_LISTED_ALERTS,
    GroupedAlert,
    GroupNotice,
    build_group_message,
    group_title,
)
from ykmake.monitoring.alerts.slack_message import (
    COLORS,
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
)
from ykmake.monitoring.alerts.vocabulary import RESOLVED_COLOR
from ykmake.monitoring.logs.redaction import Redactor

NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
NAME = "YkMakeAvailabilityErrorBudgetBurn"
COMMON = {"alertname": NAME, "service": "ykmake"}
SUMMARY = {"summary": "error budget burning 14x"}


def member(i: int, severity: str = "critical", **labels: str) -> GroupedAlert:
    return GroupedAlert(severity, {**COMMON, "instance": f"app-{i}:8000", **labels})


def message(notice: GroupNotice) -> dict[str, Any]:
    return build_group_message(notice, service="ykmake", environment="prod", timestamp=NOW)


def header(msg: dict[str, Any]) -> str:
    return str(msg["attachments"][0]["blocks"][0]["text"]["text"])


def sections(msg: dict[str, Any]) -> list[str]:
    blocks = msg["attachments"][0]["blocks"]
    return [str(b["text"]["text"]) for b in blocks if b["type"] == "section"]


@pytest.mark.parametrize(
    ("labels", "annotations", "title"),
    [
        (COMMON, SUMMARY, f"{NAME}: error budget burning 14x"),
        (COMMON, {}, NAME),
        ({"service": "ykmake", "severity": "page"}, {}, "Alerts with service=ykmake"),
        ({}, SUMMARY, "error budget burning 14x"),
        ({}, {}, "Alertmanager alerts"),
    ],
)
def test_the_title_comes_from_what_the_alerts_share(
    labels: dict[str, str], annotations: dict[str, str], title: str
) -> None:
    assert group_title(labels, annotations) == title


def test_a_firing_group_is_as_loud_as_its_loudest_alert_and_lists_what_sets_each_apart() -> None:
    alerts = [member(0, "warning"), member(1, "critical"), member(2, "info")]
    msg = message(GroupNotice.of(COMMON, SUMMARY, alerts))
    assert header(msg) == f"[CRITICAL] {NAME}: error budget burning 14x"
    assert msg["attachments"][0]["color"] == COLORS["critical"]
    assert sections(msg)[:2] == [
        "*3 alerts firing*",
        "• instance=app-0:8000\n• instance=app-1:8000\n• instance=app-2:8000",
    ]
    context = msg["attachments"][0]["blocks"][-1]
    assert context["type"] == "context"
    assert "*Service*: ykmake | *Environment*: prod | *Timestamp*:" in str(context)
    assert msg["text"] == f"[CRITICAL] {NAME}: error budget burning 14x (3 alerts firing)"


def test_an_alert_of_another_name_shows_it_and_its_own_summary() -> None:
    alerts = [
        GroupedAlert("warning", {"alertname": "DiskFilling", "severity": "warning"}, "90% full"),
        GroupedAlert("error", {"alertname": "HighLatency", "severity": "error"}),
    ]
    msg = message(GroupNotice.of({}, {}, alerts))
    assert header(msg) == "[ERROR] Alertmanager alerts"
    assert sections(msg)[1].splitlines() == [
        "• *DiskFilling* · severity=warning — 90% full",
        "• *HighLatency* · severity=error",
    ]


def test_beyond_the_listed_alerts_the_rest_is_counted() -> None:
    alerts = [member(i) for i in range(MAX_LISTED_ALERTS + 7)]
    msg = message(GroupNotice.of(COMMON, SUMMARY, alerts))
    texts = sections(msg)
    assert texts[-1] == "+7 more"
    listed = [line for text in texts[1:-1] for line in text.splitlines()]
    assert len(listed) == MAX_LISTED_ALERTS


def test_a_resolved_group_is_green_and_says_so() -> None:
    resolved = [member(i) for i in range(2)]
    msg = message(GroupNotice.of(COMMON, SUMMARY, [], resolved))
    assert header(msg) == f"[RESOLVED] {NAME}: error budget burning 14x"
    assert msg["attachments"][0]["color"] == RESOLVED_COLOR == "#2eb67d"
    assert sections(msg) == [
        "*2 alerts resolved*",
        "• instance=app-0:8000\n• instance=app-1:8000",
    ]


def test_a_firing_group_lists_the_alerts_that_just_resolved_after_its_own() -> None:
    msg = message(GroupNotice.of(COMMON, SUMMARY, [member(0)], [member(1)]))
    assert header(msg).startswith("[CRITICAL] ")
    assert sections(msg) == [
        "*1 alert firing · 1 resolved*",
        "• instance=app-0:8000",
        "*Resolved (1)*",
        "• instance=app-1:8000",
    ]


def test_a_group_of_4000_stays_well_inside_slacks_limits() -> None:
    long = "x" * 5000
    firing = [member(i, path=f"/{long}") for i in range(4000)]
    resolved = [member(i, "warning", path=f"/{long}") for i in range(4000, 8000)]
    labels = {**COMMON, "team": long}
    notice = GroupNotice.of(labels, {"summary": long}, firing, resolved)
    msg = message(GroupNotice.from_json(notice.to_json()))  # as the outbox reads it back
    blocks = msg["attachments"][0]["blocks"]
    assert len(blocks) <= MAX_BLOCKS // 2
    assert len(header(msg)) <= MAX_HEADER_TEXT
    assert all(len(text) <= MAX_SECTION_TEXT - 100 for text in sections(msg))
    assert len(msg["text"]) <= MAX_FALLBACK_TEXT
    assert sections(msg)[0] == "*4,000 alerts firing · 4,000 resolved*"
    assert f"+{4000 - MAX_LISTED_ALERTS:,} more" in sections(msg)
    # What is kept for the outbox is what the message lists, not the whole group.
    assert len(notice.to_json()["firing"]) == MAX_LISTED_ALERTS


def test_secrets_in_labels_and_summaries_are_masked() -> None:
    alerts = [
        member(0, password="hunter2-very-secret"),
        GroupedAlert("error", {**COMMON, "instance": "db"}, "dsn postgresql://u:pw-s3cret@db/x"),
    ]
    notice = GroupNotice.of(COMMON, {}, alerts, redactor=Redactor())
    stored = str(notice.to_json())
    assert "hunter2-very-secret" not in stored
    assert "pw-s3cret" not in stored
    shown = str(message(notice))
    assert "hunter2-very-secret" not in shown
    assert "pw-s3cret" not in shown
    assert "password=" in shown


def test_slack_controls_in_labels_cannot_ping_anyone() -> None:
    notice = GroupNotice.of(COMMON, {}, [member(0, note="<!channel> look")])
    assert "<!channel>" not in str(sections(message(notice)))
