"""A restart is prompt: ``ykmake serve`` stopped (SIGTERM) while Slack is slow hands back the
notification it was sending, and the next start sends it within seconds, not after the
120-second lease a crash would leave."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.slack_server import FakeSlack
from tests.integration.alerts.support import header
from tests.integration.cli.support import serving
from tests.support.server import wait_until

pytestmark = pytest.mark.integration


def test_a_graceful_stop_hands_back_what_a_restart_sends_at_once(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    env = {
        "SLACK_TOKEN": "xoxb-restart",
        "SLACK_CHANNEL": "#alerts",
        "SLACK_API_URL": fake_slack.base_url,
    }  # ALERT_LEASE_SECONDS and the worker's interval at their defaults (120 s, 1 s)
    fake_slack.fail_with(500, times=1)  # the call the stop cuts short: never a message
    fake_slack.hang(30, times=1)
    with serving([], env, tmp_path) as (_, port):
        assert httpx.get(f"http://127.0.0.1:{port}/api/debug/error").status_code == 500
        fake_slack.wait_for(1, timeout=15)  # the message is on its way, Slack is hanging
    assert fake_slack.messages == []
    restarted = time.monotonic()
    with serving([], env, tmp_path):
        wait_until(lambda: len(fake_slack.messages) == 1, timeout=15)
        took = time.monotonic() - restarted
    assert [header(m) for m in fake_slack.messages] == ["[ERROR] DebugError in /api/debug/error"]
    assert took < 15  # seconds after the start, not the 120-second lease
