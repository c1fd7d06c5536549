"""What an alert tells the person who reads it, in the store and in Slack: a deep stack cut
in the middle, the request it came from, the context its caller gave — on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fakes.slack_server import FakeSlack
from tests.integration.alerts.support import header
from tests.support.logs import read_lines
from tests.support.server import serve, wait_until
from ykmake.monitoring import capture_error
from ykmake.monitoring.alerts import send_alert
from ykmake.monitoring.alerts.slack_message import MAX_SECTION_TEXT
from ykmake.monitoring.logs.redaction import REDACTED

pytestmark = pytest.mark.integration

DEPTH = 200  # frames, two lines each: a stack far longer than the store or Slack keeps


class DeepError(Exception):
    pass


def _ping(n: int) -> None:
    if n == 0:
        raise DeepError("card declined")
    _pong(n - 1)


def _pong(n: int) -> None:
    _ping(n)  # two functions in turn, so Python does not fold the repeats itself


def deep() -> None:
    _ping(DEPTH)


def alerting_app(app_factory: Callable[..., Any], database_url: str, fake_slack: FakeSlack) -> Any:
    return app_factory(
        database_url=database_url,
        slack_api_url=fake_slack.base_url,
        slack_token="xoxb-test",
        slack_channel="#alerts",
        alert_worker_interval_seconds=0.05,
    )


def the_alert(app: Any) -> dict[str, Any]:
    store = app.state.monitoring.alerts.store
    wait_until(lambda: store.list_alerts()[1] == 1, timeout=10)
    (alert,) = store.list_alerts()[0]
    return dict(alert)


def detail_texts(message: dict[str, Any]) -> list[str]:
    blocks = message["attachments"][0]["blocks"]
    return [b["text"]["text"] for b in blocks if b["type"] == "section"][1:]


def test_a_deep_stack_keeps_its_start_and_innermost_frames_in_the_store_and_slack(
    app_factory: Callable[..., Any], database_url: str, fake_slack: FakeSlack
) -> None:
    app = alerting_app(app_factory, database_url, fake_slack)
    app.add_api_route("/deep", deep)
    with serve(app) as base:
        assert httpx.get(f"{base}/deep").status_code == 500
        fake_slack.wait_for(1, timeout=10)
        alert = the_alert(app)

    stack = alert["details"]["stack"]
    lines = stack.split("\n")
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == f"{__name__}.DeepError: card declined"
    assert "in _ping\n    raise DeepError" in stack  # the innermost frame
    (marker,) = [line for line in lines if line.endswith("lines cut …")]
    assert marker.startswith("… ")
    assert len(stack) <= 6000
    opening = "*stack*: ```"
    # The section holding the stack (it may share one with shorter fields before it).
    (section,) = [t for t in detail_texts(fake_slack.messages[0]) if opening in t]
    assert len(section) <= MAX_SECTION_TEXT
    start = section.index(opening) + len(opening)
    shown = section[start : section.index("```", start)]  # the code block
    assert shown.startswith("Traceback (most recent call last):\n")
    assert shown.endswith(f"\n{__name__}.DeepError: card declined")
    assert "in _ping\n    raise DeepError" in shown
    assert "\\n" not in shown
    # The stored stack, cut again for Slack's smaller room, still counts every line cut.
    (slack_marker,) = [line for line in shown.split("\n") if line.endswith("lines cut …")]
    assert int(slack_marker.split()[1]) > int(marker.split()[1])


def test_alerts_sent_during_a_request_carry_its_request_id(
    app_factory: Callable[..., Any], database_url: str, fake_slack: FakeSlack
) -> None:
    app = alerting_app(app_factory, database_url, fake_slack)
    service = app.state.monitoring.alerts.service

    def from_a_thread() -> None:  # a sync route: FastAPI runs it in its thread pool
        send_alert("warning", "module send_alert", "from a sync route")
        app.state.monitoring.send_alert("warning", "Monitoring.send_alert", "from a sync route")

    async def from_the_loop() -> None:
        await asyncio.wrap_future(service.submit("warning", "submitted", "from the event loop"))
        send_alert("warning", "their own id", "kept", {"request_id": "the caller's"})

    app.add_api_route("/thread", from_a_thread)
    app.add_api_route("/loop", from_the_loop)
    with serve(app) as base:
        thread_id = httpx.get(f"{base}/thread").headers["x-request-id"]
        loop_id = httpx.get(f"{base}/loop").headers["x-request-id"]
        send_alert("warning", "outside", "no request")
        store = app.state.monitoring.alerts.store
        wait_until(lambda: store.list_alerts()[1] == 5, timeout=10)
        alerts = {a["title"]: a["details"] for a in store.list_alerts()[0]}
        fake_slack.wait_for(5, timeout=10)
        messages = {header(m): json.dumps(m) for m in fake_slack.messages}

    assert alerts == {
        "module send_alert": {"request_id": thread_id},
        "Monitoring.send_alert": {"request_id": thread_id},
        "submitted": {"request_id": loop_id},
        "their own id": {"request_id": "the caller's"},
        "outside": None,
    }
    assert thread_id in messages["[WARNING] module send_alert"]
    assert loop_id in messages["[WARNING] submitted"]


class PaymentProviderError(Exception):
    pass


def test_capture_error_extra_fields_reach_the_alert_and_slack_redacted(
    app_factory: Callable[..., Any], database_url: str, fake_slack: FakeSlack
) -> None:
    app = alerting_app(app_factory, database_url, fake_slack)

    def pay(order_id: int) -> dict[str, str]:
        try:
            raise PaymentProviderError("card declined")
        except PaymentProviderError as exc:
            extra = {"order_id": order_id, "password": "hunter2"}
            if order_id == 7:
                capture_error(exc, {"status_code": 502, "route": "/pay/{order_id}"}, extra=extra)
            else:
                app.state.monitoring.capture_error(exc, {"status_code": 502}, extra=extra)
        return {"status": "deferred"}

    app.add_api_route("/pay/{order_id}", pay)
    with serve(app) as base:
        request_id = httpx.get(f"{base}/pay/7").headers["x-request-id"]
        alert = the_alert(app)
        fake_slack.wait_for(1, timeout=10)
        (message,) = fake_slack.messages
        app.state.monitoring.errors.flush()
        assert httpx.get(f"{base}/pay/8").status_code == 200  # a repeat, by the other door
        store = app.state.monitoring.alerts.store
        wait_until(lambda: store.list_alerts()[0][0]["occurrences"] == 2, timeout=10)

    details = alert["details"]
    assert details["order_id"] == 7
    assert details["password"] == REDACTED
    assert details["request_id"] == request_id
    assert (details["route"], details["status_code"]) == ("/pay/{order_id}", 502)
    assert "path" not in details
    texts = detail_texts(message)
    assert "*order_id*: ```7```" in texts[0]
    assert f'*password*: ```"{REDACTED}"```' in texts[0]
    assert "hunter2" not in json.dumps(message)
    (line,) = [
        ln
        for ln in read_lines(app.state.settings.log_dir / "error.log")
        if ln.get("error_type") == "PaymentProviderError" and not ln.get("repeat")
    ]
    assert (line["order_id"], line["password"], line["status_code"]) == (7, REDACTED, 502)
    (repeat_line,) = [
        ln
        for ln in read_lines(app.state.settings.log_dir / "error.log")
        if ln.get("error_type") == "PaymentProviderError" and ln.get("repeat")
    ]
    assert (repeat_line["order_id"], repeat_line["password"]) == (8, REDACTED)
