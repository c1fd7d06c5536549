"""SlackSender against the fake Slack over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.slack_server import FakeSlack
from ykmake.monitoring.alerts.slack_delivery import DeliveryResult, SlackSender
from ykmake.monitoring.alerts.slack_message import build_message

pytest_plugins = ["tests.fakes.fixtures"]

TOKEN = "xoxb-1111-2222-secret-token"
CHANNEL = "C0ALERTS"
MESSAGE: dict[str, Any] = {
    "text": "[ERROR] boom: it broke",
    "attachments": [{"color": "#e01e5a", "blocks": [{"type": "divider"}]}],
}


def web_sender(fake: FakeSlack, *, timeout: float = 5.0) -> SlackSender:
    return SlackSender(TOKEN, CHANNEL, None, fake.base_url, timeout)


def webhook_sender(fake: FakeSlack, *, timeout: float = 5.0) -> SlackSender:
    return SlackSender(None, None, fake.webhook_url, fake.base_url, timeout)


def send(sender: SlackSender, message: dict[str, Any] | None = None) -> DeliveryResult:
    return asyncio.run(sender.send(MESSAGE if message is None else message))


# Web API ---------------------------------------------------------------------------------


def test_post_message_delivers_with_bearer_token(fake_slack: FakeSlack) -> None:
    result = send(web_sender(fake_slack))

    assert result == DeliveryResult(ok=True)
    (request,) = fake_slack.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert fake_slack.messages == [{"channel": CHANNEL, **MESSAGE}]


def test_a_built_alert_arrives_intact(fake_slack: FakeSlack) -> None:
    message = build_message(
        "critical",
        "Disk full",
        "/var is at 99%",
        {"mount": "/var", "password": "hunter2"},
        service="ykmake",
        environment="production",
        timestamp=datetime(2024, 5, 1, tzinfo=UTC),
    )

    assert send(web_sender(fake_slack), message).ok

    (posted,) = fake_slack.messages
    assert posted["attachments"] == message["attachments"]
    assert posted["attachments"][0]["color"] == "#ff0000"
    assert "hunter2" not in fake_slack.requests[0].raw.decode()


@pytest.mark.parametrize(("retry_after", "expected"), [(2, 2.0), (1.5, 1.5), (None, None)])
def test_429_is_transient_with_retry_after(
    fake_slack: FakeSlack, retry_after: float | None, expected: float | None
) -> None:
    fake_slack.fail_with(429, retry_after=retry_after)

    result = send(web_sender(fake_slack))

    assert result == DeliveryResult(
        ok=False, retry_after=expected, permanent=False, error="http 429: ratelimited"
    )
    # No hidden retry inside send(): the caller must see the 429.
    assert len(fake_slack.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(fake_slack: FakeSlack, status: int) -> None:
    fake_slack.fail_with(status)

    result = send(web_sender(fake_slack))

    assert result == DeliveryResult(ok=False, error=f"http {status}")
    assert len(fake_slack.requests) == 1


@pytest.mark.parametrize("code", ["internal_error", "fatal_error", "service_unavailable"])
def test_slack_side_errors_with_200_are_transient(fake_slack: FakeSlack, code: str) -> None:
    fake_slack.fail_with(200, error=code)

    result = send(web_sender(fake_slack))

    assert not result.ok
    assert not result.permanent
    assert result.error == f"slack error: {code}"


def test_invalid_auth_is_permanent(fake_slack: FakeSlack) -> None:
    fake_slack.reject_auth()

    result = send(web_sender(fake_slack))

    assert result == DeliveryResult(ok=False, permanent=True, error="slack error: invalid_auth")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (200, "channel_not_found"),
        (200, "not_in_channel"),
        (200, "invalid_blocks"),
        (400, None),
        (403, None),
        (404, None),
    ],
)
def test_other_client_errors_are_permanent(
    fake_slack: FakeSlack, status: int, code: str | None
) -> None:
    fake_slack.fail_with(status, error=code)

    result = send(web_sender(fake_slack))

    assert not result.ok
    assert result.permanent
    assert result.retry_after is None


def test_hang_is_a_transient_timeout(fake_slack: FakeSlack) -> None:
    fake_slack.hang(30)
    started = time.monotonic()

    result = send(web_sender(fake_slack, timeout=0.3))

    assert result == DeliveryResult(ok=False, error="timeout after 0.3s")
    assert time.monotonic() - started < 10  # the client gave up; it did not wait 30 s


def test_down_with_503_then_back(fake_slack: FakeSlack) -> None:
    sender = web_sender(fake_slack)
    fake_slack.go_down()

    assert send(sender) == DeliveryResult(ok=False, error="http 503")

    fake_slack.come_back()
    assert send(sender).ok


def test_connection_refused_is_transient_then_back_on_the_same_port(fake_slack: FakeSlack) -> None:
    sender = web_sender(fake_slack)
    port = fake_slack.port
    fake_slack.go_down(refuse=True)

    result = send(sender)

    assert not result.ok
    assert not result.permanent
    assert result.error is not None
    assert result.error.startswith("connection error:")
    assert fake_slack.requests == []

    fake_slack.come_back()
    assert fake_slack.port == port
    assert send(sender).ok


def test_recovers_after_a_failure(fake_slack: FakeSlack) -> None:
    sender = web_sender(fake_slack)
    fake_slack.fail_with(500, times=2)

    results = [send(sender) for _ in range(3)]

    assert [r.ok for r in results] == [False, False, True]
    assert [r.status for r in fake_slack.wait_for(3)] == [500, 500, 200]


# incoming webhook ------------------------------------------------------------------------


def test_webhook_delivers_the_same_body(fake_slack: FakeSlack) -> None:
    result = send(webhook_sender(fake_slack))

    assert result.ok
    (request,) = fake_slack.requests
    assert request.path == "/services/T/B/X"
    assert "authorization" not in request.headers
    assert request.body == MESSAGE


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, 3, DeliveryResult(ok=False, retry_after=3.0, error="http 429: rate_limited")),
        (500, None, DeliveryResult(ok=False, error="http 500: internal_error")),
        (404, None, DeliveryResult(ok=False, permanent=True, error="http 404: no_service")),
        (
            410,
            None,
            DeliveryResult(ok=False, permanent=True, error="http 410: channel_is_archived"),
        ),
    ],
)
def test_webhook_failures(
    fake_slack: FakeSlack, status: int, retry_after: float | None, expected: DeliveryResult
) -> None:
    fake_slack.fail_with(status, retry_after=retry_after)

    assert send(webhook_sender(fake_slack)) == expected


def test_webhook_hang_is_a_transient_timeout(fake_slack: FakeSlack) -> None:
    fake_slack.hang(30)

    assert send(webhook_sender(fake_slack, timeout=0.3)) == DeliveryResult(
        ok=False, error="timeout after 0.3s"
    )


def test_web_api_wins_when_both_are_configured(fake_slack: FakeSlack) -> None:
    sender = SlackSender(TOKEN, CHANNEL, fake_slack.webhook_url, fake_slack.base_url, 5.0)

    assert send(sender).ok
    assert fake_slack.requests[0].path == "/api/chat.postMessage"


# configuration and secrets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "channel", "webhook", "configured"),
    [
        (TOKEN, CHANNEL, None, True),
        (None, None, "http://127.0.0.1:9/services/T/B/X", True),
        (TOKEN, None, None, False),
        (None, CHANNEL, None, False),
        ("", "", "", False),
        (None, None, None, False),
    ],
)
def test_configured(
    token: str | None, channel: str | None, webhook: str | None, configured: bool
) -> None:
    assert SlackSender(token, channel, webhook, "http://127.0.0.1:9/api/", 1.0).configured is (
        configured
    )


def test_not_configured_is_permanent_without_any_request() -> None:
    result = send(SlackSender(TOKEN, None, None, "http://127.0.0.1:9/api/", 1.0))

    assert result == DeliveryResult(ok=False, permanent=True, error="slack is not configured")


@pytest.mark.parametrize("url", ["not a url", "http://[::1/services/T/B/X"])
def test_a_malformed_webhook_url_is_permanent(url: str) -> None:
    result = send(SlackSender(None, None, url, "http://127.0.0.1:9/api/", 1.0))

    assert not result.ok
    assert result.permanent
    assert url not in (result.error or "")


def test_a_malformed_message_is_permanent(fake_slack: FakeSlack) -> None:
    result = send(web_sender(fake_slack), {"channel": "dup", "text": "x"})

    assert not result.ok
    assert result.permanent
    assert result.error is not None
    assert result.error.startswith("bad request:")


@pytest.mark.parametrize(
    "breakage",
    ["429", "500", "auth", "hang", "refuse", "webhook-404", "webhook-refuse"],
)
def test_neither_token_nor_webhook_url_leaks_into_errors(
    fake_slack: FakeSlack, breakage: str
) -> None:
    webhook = breakage.startswith("webhook")
    sender = (
        webhook_sender(fake_slack, timeout=0.3) if webhook else web_sender(fake_slack, timeout=0.3)
    )
    match breakage:
        case "429":
            fake_slack.fail_with(429, retry_after=1)
        case "500":
            fake_slack.fail_with(500)
        case "auth":
            fake_slack.reject_auth()
        case "hang":
            fake_slack.hang(30)
        case "webhook-404":
            fake_slack.fail_with(404)
        case _:
            fake_slack.go_down(refuse=True)

    result = send(sender)

    assert not result.ok
    assert result.error
    for secret in (TOKEN, fake_slack.webhook_url, "/services/T/B/X"):
        assert secret not in result.error
        assert secret not in repr(sender)
    assert len(result.error) <= 200
