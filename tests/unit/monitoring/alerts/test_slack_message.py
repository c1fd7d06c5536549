"""The seed's Slack layout, Slack's limits, the storm digest wording and redaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from ykmake.monitoring.alerts import slack_message
from ykmake.monitoring.alerts.slack_message import (
    ELLIPSIS,
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    RESOLVED_COLOR,
    RESOLVED_WORD,
    build_message,
    truncate,
)
from ykmake.monitoring.logs.redaction import Redactor

NOW = datetime(2024, 5, 1, 10, 30, 15, 123000, tzinfo=UTC)


def build(
    severity: str = "error",
    title: str = "Database unreachable",
    message: str = "connection refused",
    details: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    kwargs.setdefault("service", "ykmake")
    kwargs.setdefault("environment", "production")
    kwargs.setdefault("timestamp", NOW)
    return build_message(severity, title, message, details, **kwargs)


def blocks_of(msg: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = msg["attachments"][0]["blocks"]
    return blocks


def header_text(msg: dict[str, Any]) -> str:
    text: str = blocks_of(msg)[0]["text"]["text"]
    return text


def section_texts(msg: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in blocks_of(msg) if b["type"] == "section"]


def assert_within_slack_limits(msg: dict[str, Any]) -> None:
    blocks = blocks_of(msg)
    assert len(blocks) <= MAX_BLOCKS
    assert 0 < len(msg["text"]) <= MAX_FALLBACK_TEXT
    for block in blocks:
        if block["type"] == "header":
            assert 0 < len(block["text"]["text"]) <= MAX_HEADER_TEXT
        elif block["type"] == "section":
            assert 0 < len(block["text"]["text"]) <= MAX_SECTION_TEXT
            assert "fields" not in block
        elif block["type"] == "context":
            assert all(0 < len(e["text"]) <= MAX_SECTION_TEXT for e in block["elements"])


# layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "color"),
    [
        ("info", "#36a64f"),
        ("warning", "#ffcd3c"),
        ("error", "#e01e5a"),
        ("critical", "#ff0000"),
        ("CRITICAL", "#ff0000"),
    ],
)
def test_layout_per_severity(severity: str, color: str) -> None:
    msg = build(severity, details={"path": "/users"})

    label = f"[{severity.upper()}]"
    assert set(msg) == {"text", "attachments"}
    assert msg["text"] == f"{label} Database unreachable: connection refused"
    assert msg["attachments"][0]["color"] == color
    assert [b["type"] for b in blocks_of(msg)] == [
        "header",
        "section",
        "divider",
        "section",
        "divider",
        "context",
    ]
    header = blocks_of(msg)[0]["text"]
    assert header == {"type": "plain_text", "text": f"{label} Database unreachable", "emoji": True}
    assert blocks_of(msg)[1]["text"] == {"type": "mrkdwn", "text": "connection refused"}
    assert section_texts(msg)[1] == '*path*: ```"/users"```'


@pytest.mark.parametrize("severity", ["info", "critical", "bogus"])
def test_a_resolved_alert_says_so_in_green_whatever_its_severity(severity: str) -> None:
    msg = build(severity, title="Payment provider down", resolved=True)

    assert header_text(msg) == "[RESOLVED] Payment provider down"
    assert msg["text"] == "[RESOLVED] Payment provider down: connection refused"
    assert msg["attachments"][0]["color"] == RESOLVED_COLOR == "#2eb67d"
    assert f"[{RESOLVED_WORD}]" == "[RESOLVED]"


def test_context_line_has_service_environment_and_slack_date() -> None:
    msg = build(service="Billing", environment="staging")

    context = blocks_of(msg)[-1]
    assert context["type"] == "context"
    epoch = int(NOW.timestamp())
    assert context["elements"] == [
        {
            "type": "mrkdwn",
            "text": "*Service*: Billing | *Environment*: staging | *Timestamp*: "
            f"<!date^{epoch}^{{date_num}} {{time_secs}}|2024-05-01T10:30:15.123Z>",
        }
    ]


@pytest.mark.parametrize("details", [None, {}])
def test_no_details_means_no_details_section(details: dict[str, Any] | None) -> None:
    msg = build(details=details)

    assert [b["type"] for b in blocks_of(msg)] == ["header", "section", "divider", "context"]


def test_naive_and_offset_timestamps_are_shown_in_utc() -> None:
    naive = build(timestamp=NOW.replace(tzinfo=None))
    shifted = build(timestamp=NOW.astimezone(timezone(timedelta(hours=9))))

    assert blocks_of(naive)[-1] == blocks_of(build())[-1] == blocks_of(shifted)[-1]


def test_nested_details_render_as_indented_json() -> None:
    details = {
        "request": {"method": "GET", "ids": [1, 2], "ok": False, "none": None},
        "when": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "tags": ("a", "b"),
        "count": 3,
    }
    text = section_texts(build(details=details))[1]

    expected_request = json.dumps(details["request"], indent=2)
    assert f"*request*: ```{expected_request}```" in text
    assert '*when*: ```"2024-01-02T03:04:05+00:00"```' in text
    assert '*tags*: ```[\n  "a",\n  "b"\n]```' in text
    assert "*count*: ```3```" in text


def test_values_json_cannot_render_still_build() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    details: dict[Any, Any] = {"obj": object(), "big": 2**80, "set": {1}, "cyclic": cyclic, 7: "x"}

    msg = build(details=details)

    text = section_texts(msg)[1]
    assert '*obj*: ```"&lt;object object at' in text
    assert str(2**80) in text
    assert "*7*: " in text
    assert_within_slack_limits(msg)


def test_unknown_severity_is_still_delivered_in_grey() -> None:
    msg = build("notice")

    assert msg["attachments"][0]["color"] == "#9e9e9e"
    assert header_text(msg).startswith("[NOTICE] ")


def test_empty_title_and_message_stay_valid_block_kit() -> None:
    msg = build("info", "", "")

    assert header_text(msg) == "[INFO]"
    assert msg["text"] == "[INFO]"
    assert section_texts(msg)[0] == "_(no message)_"
    assert_within_slack_limits(msg)


def test_title_whitespace_collapses_in_the_plain_text_header() -> None:
    assert header_text(build(title="  disk\n  full\t")) == "[ERROR] disk full"


def test_slack_control_sequences_are_escaped() -> None:
    msg = build(
        title="a <b>",
        message="user said <!channel> & <@U123>",
        details={"<key>": "<!here>"},
    )

    assert section_texts(msg)[0] == "user said &lt;!channel&gt; &amp; &lt;@U123&gt;"
    assert section_texts(msg)[1] == '*&lt;key&gt;*: ```"&lt;!here&gt;"```'
    assert msg["text"] == "[ERROR] a &lt;b&gt;: user said &lt;!channel&gt; &amp; &lt;@U123&gt;"
    # plain_text is shown literally by Slack: no entities there.
    assert header_text(msg) == "[ERROR] a <b>"


def test_code_fences_inside_values_cannot_close_the_block() -> None:
    text = section_texts(build(details={"sql": "```drop```"}))[1]

    assert text.startswith("*sql*: ```")
    assert text.endswith("```")
    assert text.count("```") == 2


# limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abc", 3, "abc"),
        ("abcd", 3, "ab…"),
        ("", 3, ""),
        ("a &amp; b", 5, "a …"),  # never half an entity
        ("a &lt;b", 6, "a …"),
        ("x&amp;", 7, "x&amp;"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected


def test_long_title_is_cut_to_the_header_limit() -> None:
    msg = build(title="t" * 500)

    text = header_text(msg)
    assert len(text) == MAX_HEADER_TEXT
    assert text.startswith("[ERROR] ttt")
    assert text.endswith(ELLIPSIS)


def test_long_message_is_cut_to_the_section_limit() -> None:
    msg = build(message="m" * 10_000)

    text = section_texts(msg)[0]
    assert len(text) == MAX_SECTION_TEXT
    assert text.endswith(ELLIPSIS)


def test_escaping_counts_towards_the_limit_and_is_never_split() -> None:
    msg = build(message="<" * 5000)

    text = section_texts(msg)[0]
    assert len(text) <= MAX_SECTION_TEXT
    assert text.endswith("&lt;" + ELLIPSIS)


def test_fallback_text_is_cut_to_its_limit() -> None:
    msg = build(message="m" * 10_000)

    assert len(msg["text"]) == MAX_FALLBACK_TEXT
    assert msg["text"].endswith(ELLIPSIS)


def test_a_huge_detail_is_cut_but_keeps_its_code_block() -> None:
    msg = build(details={"payload": "x" * 10_000, "after": 1})

    texts = section_texts(msg)
    huge = texts[1]
    assert len(huge) <= MAX_SECTION_TEXT
    assert huge.startswith("*payload*: ```")
    assert huge.endswith(ELLIPSIS + "```")
    assert texts[2] == "*after*: ```1```"  # did not fit beside it: its own section
    assert_within_slack_limits(msg)


def deep_stack(frames: int) -> str:
    lines = ["Traceback (most recent call last):"]
    for i in range(frames):
        lines += [f'  File "app/step_{i}.py", line {i}, in <module>', f"    step_{i + 1}()"]
    return "\n".join([*lines, "PaymentProviderError: card declined <visa>"])


def test_a_stack_reads_as_it_is_in_a_code_block() -> None:
    text = section_texts(build(details={"stack": deep_stack(3)}))[1]

    assert text.startswith("*stack*: ```Traceback (most recent call last):\n  File ")
    assert text.endswith("\nPaymentProviderError: card declined &lt;visa&gt;```")
    assert "in &lt;module&gt;\n    step_1()\n" in text  # newlines kept, not "\\n"
    assert "\\n" not in text


def test_a_long_stack_is_cut_in_the_middle_within_the_section_limit() -> None:
    stack = deep_stack(300)  # its "<module>"s grow by half again once escaped
    msg = build(details={"stack": stack, "after": 1})

    assert_within_slack_limits(msg)
    text = section_texts(msg)[1]
    assert MAX_SECTION_TEXT - 100 < len(text) <= MAX_SECTION_TEXT
    assert text.startswith("*stack*: ```Traceback (most recent call last):\n")
    assert text.endswith(
        '  File "app/step_299.py", line 299, in &lt;module&gt;\n    step_300()\n'
        "PaymentProviderError: card declined &lt;visa&gt;```"
    )
    (marker,) = [line for line in text.split("\n") if line.startswith(ELLIPSIS)]
    assert marker.endswith(f"lines cut {ELLIPSIS}")
    assert text.count("```") == 2


def test_a_huge_key_is_cut() -> None:
    text = section_texts(build(details={"k" * 5000: 1}))[1]

    assert len(text) < 300
    assert text.endswith("*: ```1```")


def test_small_details_share_a_section() -> None:
    msg = build(details={f"k{i}": i for i in range(20)})

    assert len(section_texts(msg)) == 2
    assert section_texts(msg)[1].count("\n") == 19


def test_details_beyond_the_block_budget_fold_into_n_more() -> None:
    details = {f"key{i:03}": "v" * 2500 for i in range(120)}  # one section each

    msg = build(details=details)

    assert_within_slack_limits(msg)
    blocks = blocks_of(msg)
    assert len(blocks) == MAX_BLOCKS
    assert blocks[-1]["type"] == "context"
    detail_texts = section_texts(msg)[1:]
    shown = sum(t.count("*key") for t in detail_texts[:-1])
    more = detail_texts[-1]
    assert more == f"{ELLIPSIS} {120 - shown} more details not shown"
    assert detail_texts[-2].startswith(f"*key{shown - 1:03}*")


def test_everything_long_at_once_stays_within_limits() -> None:
    msg = build(
        "critical",
        "T" * 1000,
        "M" * 50_000,
        {f"k{i}" * 50: {"nested": ["x" * 3000, {"y": "z" * 3000}]} for i in range(200)},
        environment="E" * 5000,
        service="S" * 5000,
        occurrences=10**9,
        digest_since=NOW - timedelta(days=3),
    )

    assert_within_slack_limits(msg)
    assert "occurred 1000000000 times" in header_text(msg)


# storm digest ----------------------------------------------------------------------------


def test_digest_wording_in_header_fallback_and_body() -> None:
    since = NOW.replace(hour=10, minute=4, second=0, microsecond=0)
    msg = build("critical", "DB down", "still down", occurrences=57, digest_since=since)

    assert header_text(msg) == "[CRITICAL] DB down · occurred 57 times since 10:04 UTC"
    assert msg["text"] == "[CRITICAL] DB down (occurred 57 times since 10:04 UTC): still down"
    digest = section_texts(msg)[1]
    assert digest == (
        ":repeat: *Storm digest*: this alert occurred 57 times since "
        f"<!date^{int(since.timestamp())}^{{date_short_pretty}} {{time}}|2024-05-01T10:04:00.000Z>."
    )
    assert [b["type"] for b in blocks_of(msg)] == [
        "header",
        "section",
        "section",
        "divider",
        "context",
    ]


@pytest.mark.parametrize(
    ("occurrences", "since", "phrase"),
    [
        (1, NOW - timedelta(minutes=5), "occurred 1 time since 10:25 UTC"),
        (2, NOW - timedelta(days=1), "occurred 2 times since 2024-04-30 10:30 UTC"),
        (3, None, "occurred 3 times"),
        (None, NOW - timedelta(minutes=26), "kept firing since 10:04 UTC"),
    ],
)
def test_digest_wording_variants(
    occurrences: int | None, since: datetime | None, phrase: str
) -> None:
    msg = build(title="x", occurrences=occurrences, digest_since=since)

    assert header_text(msg) == f"[ERROR] x · {phrase}"
    assert f"({phrase})" in msg["text"]


def test_digest_count_survives_a_long_title() -> None:
    msg = build(title="t" * 500, occurrences=57, digest_since=NOW)

    text = header_text(msg)
    assert len(text) <= MAX_HEADER_TEXT
    assert text.endswith(f"{ELLIPSIS} · occurred 57 times since 10:30 UTC")


# secrets ---------------------------------------------------------------------------------


def test_secrets_in_details_never_reach_slack_and_the_caller_keeps_its_data() -> None:
    details: dict[str, Any] = {
        "password": "hunter2",
        "request": {
            "headers": [("Authorization", "Bearer sk-live-1"), ("Accept", "*/*")],
            "cookies": {"session": "s3cr3t"},
            "body": {"user": "kim", "api_key": "ak-2", "items": [{"token": "tk-3"}]},
        },
        "Sentry-DSN": "https://key@sentry.example/1",
    }
    original = json.dumps(details, sort_keys=True)

    msg = build(details=details)

    wire = json.dumps(msg)
    for secret in ("hunter2", "sk-live-1", "s3cr3t", "ak-2", "tk-3", "key@sentry"):
        assert secret not in wire
    assert "[REDACTED]" in wire
    assert "kim" in wire
    assert "*/*" in wire
    assert json.dumps(details, sort_keys=True) == original


def test_secrets_in_the_title_message_and_detail_values_never_reach_slack() -> None:
    redactor = Redactor(secrets=["session-secret-value"])
    msg = build(
        title="cannot reach postgresql://app:pg-pass@db/app",
        message="Slack answered for xoxb-1-2-abcDEF; the secret is session-secret-value",
        details={"stack": "ValueError: {'password': 'hunter2'}", "note": "token=tk-9"},
        redactor=redactor,
    )
    wire = json.dumps(msg)
    for secret in ("pg-pass", "xoxb-1-2-abcDEF", "session-secret-value", "hunter2", "tk-9"):
        assert secret not in wire, secret
    assert "postgresql://app:[REDACTED]@db/app" in header_text(msg)


def test_module_exports_are_the_public_names() -> None:
    assert sorted(slack_message.__all__) == slack_message.__all__
    assert "build_message" in slack_message.__all__
