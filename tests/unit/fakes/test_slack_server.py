"""The fake Slack's own behaviour: body formats, auth, waiting, lifecycle."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.fakes.slack_server import FakeSlack

pytest_plugins = ["tests.fakes.fixtures"]


def test_form_encoded_post_is_parsed_like_json(fake_slack: FakeSlack) -> None:
    attachments = [{"color": "#36a64f", "blocks": [{"type": "divider"}]}]
    form = {"channel": "C1", "text": "hi", "attachments": json.dumps(attachments)}

    with httpx.Client(timeout=5.0) as http:
        response = http.post(
            f"{fake_slack.base_url}chat.postMessage",
            data=form,
            headers={"Authorization": "Bearer xoxb-t"},
        )

    answer = response.json()
    assert answer["ok"] is True
    assert answer["channel"] == "C1"
    assert answer["ts"]
    assert fake_slack.messages == [{"channel": "C1", "text": "hi", "attachments": attachments}]


@pytest.mark.parametrize(
    ("headers", "error"),
    [({}, "not_authed"), ({"Authorization": "Bearer wrong"}, "invalid_auth")],
)
def test_auth_is_checked(headers: dict[str, str], error: str) -> None:
    with FakeSlack(token="xoxb-right") as fake, httpx.Client(timeout=5.0) as http:
        answer = http.post(
            f"{fake.base_url}chat.postMessage", json={"channel": "C1", "text": "x"}, headers=headers
        ).json()

        assert answer == {"ok": False, "error": error}
        assert fake.messages == []


def test_wait_for_wakes_up_on_a_request_from_another_thread(fake_slack: FakeSlack) -> None:
    def post() -> None:
        with httpx.Client(timeout=5.0) as http:
            http.post(fake_slack.webhook_url, json={"text": "later"})

    thread = threading.Thread(target=post)
    thread.start()
    try:
        (request,) = fake_slack.wait_for(1, timeout=5.0)
    finally:
        thread.join()

    assert request.body == {"text": "later"}
    assert request.response == b"ok"


def test_wait_for_reports_what_arrived_on_timeout(fake_slack: FakeSlack) -> None:
    with pytest.raises(TimeoutError, match=r"expected 1 requests within 0\.05s, got 0"):
        fake_slack.wait_for(1, timeout=0.05)


def test_stop_is_idempotent_and_closes_the_port() -> None:
    fake = FakeSlack().start()
    url = fake.webhook_url
    fake.stop()
    fake.stop()

    with httpx.Client(timeout=5.0) as http, pytest.raises(httpx.ConnectError):
        http.post(url, json={"text": "x"})
