"""``ykmake alerts``: list/show/ack/resolve/retry/deliver/test on real databases and the
fake Slack, in process (CliRunner) and once as a real process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from tests.fakes.slack_server import FakeSlack
from tests.integration.cli.support import SETTINGS_VARS, clean_env
from tests.support.server import wait_until
from ykmake.cli import alerts as alerts_cli
from ykmake.cli import app
from ykmake.monitoring.alerts.spool import AlertSpool

pytestmark = pytest.mark.integration

CLI = Callable[..., Result]


def header(message: dict[str, Any]) -> str:
    return str(message["attachments"][0]["blocks"][0]["text"]["text"])


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Point the CLI's settings (environment variables) at this test's temp dir."""
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    # Wide enough that no table column is cut short.
    monkeypatch.setattr(alerts_cli, "console", Console(width=200))

    def configure(**values: object) -> None:
        base = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
            "LOG_DIR": str(tmp_path / "logs"),
            "ALERT_SPOOL_DIR": str(tmp_path / "spool"),
            "ALERT_BACKOFF_BASE_SECONDS": "0.01",
            "ALERT_BACKOFF_MAX_SECONDS": "0.05",
            "ALERT_MAX_ATTEMPTS": "2",
            "SLACK_TIMEOUT_SECONDS": "3",
        }
        base.update({k.upper(): str(v) for k, v in values.items()})
        for key, value in base.items():
            monkeypatch.setenv(key, value)

    configure()
    return configure


@pytest.fixture
def cli(cli_env: Callable[..., None]) -> CLI:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, ["alerts", *args])

    return run


@pytest.fixture
def with_slack(cli_env: Callable[..., None], fake_slack: FakeSlack) -> FakeSlack:
    cli_env(slack_api_url=fake_slack.base_url, slack_token="xoxb-test", slack_channel="#alerts")
    return fake_slack


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_the_whole_operator_loop(
    cli: CLI, cli_env: Callable[..., None], with_slack: FakeSlack, database_url: str
) -> None:
    cli_env(database_url=database_url)
    slack = with_slack

    sent = cli("test")
    assert sent.exit_code == 0, sent.output
    assert "stored as alert 1" in sent.stdout
    assert "queued for Slack (web-api)" in sent.stdout
    assert "delivered to Slack" in sent.stdout
    assert [header(m) for m in slack.messages] == ["[INFO] Test alert from ykmake alerts test"]

    slack.reject_auth()  # a permanent error: failed after one attempt
    broken = cli("test", "--severity", "critical")
    assert broken.exit_code == 1
    assert "stored as alert 2" in broken.stdout
    assert "Slack error: slack error: invalid_auth (failed for good)" in broken.stdout

    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    alerts_table = listed.stdout.split("Failed deliveries")[0]
    rows = {ln.split()[1]: ln.split("│") for ln in alerts_table.splitlines() if ln[:1] == "│"}
    assert [rows["2"][i].strip() for i in (2, 8)] == ["critical", "failed"]
    assert [rows["1"][i].strip() for i in (2, 8)] == ["info", "sent"]
    assert "Failed deliveries (1)" in listed.stdout
    assert "invalid_auth" in listed.stdout
    assert "ykmake alerts retry" in listed.stdout

    slack.reset()
    retried = cli("retry")
    assert retried.exit_code == 0
    assert "re-queued 1 failed notification(s)" in retried.stdout
    delivered = cli("deliver")
    assert delivered.exit_code == 0, delivered.output
    assert "sent 1, will retry 0, failed for good 0; 0 still queued" in delivered.stdout
    assert header(slack.messages[-1]) == "[CRITICAL] Test alert from ykmake alerts test"
    assert "Failed deliveries" not in cli("list").stdout

    acked = cli("ack", "2")
    assert acked.stdout.strip() == "alert 2 acknowledged"
    assert cli("ack", "2").stdout.strip() == "alert 2 is acknowledged; nothing to acknowledge"
    assert "acknowledged" in cli("list", "--status", "acknowledged").stdout
    resolved = cli("resolve", "2")
    assert resolved.stdout.startswith("alert 2 resolved")
    assert "a Resolved message is queued for Slack" in resolved.stdout
    assert cli("resolve", "2").stdout.strip() == "alert 2 was already resolved"
    assert cli("deliver").exit_code == 0
    assert header(slack.messages[-1]) == "[RESOLVED] Test alert from ykmake alerts test"

    shown = cli("show", "2")
    assert shown.exit_code == 0
    for text in ("status", "resolved", "sent_by", "ykmake alerts test", "Notifications"):
        assert text in shown.stdout
    kinds = [ln.split()[3] for ln in shown.stdout.splitlines() if ln.startswith("│")]
    assert kinds == ["new", "resolved"]

    assert "No alerts match." in cli("list", "--source", "alertmanager").stdout
    assert "No alerts match." in cli("list", "--since", "2999-01-01T00:00:00Z").stdout
    one = cli("list", "--limit", "1", "--page", "2", "--severity", "info")
    assert "Alerts 1 of 1" not in one.stdout  # page 2 of a single match is empty
    assert "No alerts match." in one.stdout


def test_slack_down_deliver_says_it_will_retry(cli: CLI, with_slack: FakeSlack) -> None:
    with_slack.go_down()
    result = cli("test")
    assert result.exit_code == 1
    assert "Slack error: http 503" in result.stdout
    assert "(will be retried)" in result.stdout
    with_slack.come_back()
    # The retry is due after a short backoff: run `deliver` as cron would until it goes out.
    wait_until(lambda: "sent 1," in cli("deliver").stdout)
    assert header(with_slack.messages[-1]) == "[INFO] Test alert from ykmake alerts test"
    assert "0 still queued" in cli("deliver").stdout


def test_deliver_reports_failures_with_exit_code_1(cli: CLI, with_slack: FakeSlack) -> None:
    assert cli("test").exit_code == 0
    cli("resolve", "1")
    with_slack.fail_with(500, times=None)
    result = cli("deliver")
    assert result.exit_code == 1
    assert "sent 0, will retry 1, failed for good 0; 1 still queued" in result.stdout
    assert "slack error: http 500" in result.stdout


def test_deliver_replays_the_spool(cli: CLI, tmp_path: Path) -> None:
    spool = AlertSpool(tmp_path / "spool")
    spool.write(
        {
            "severity": "error",
            "title": "written while the database was down",
            "message": "spooled",
            "details": None,
            "source": "app",
            "fingerprint": "spooled-1",
            "at": "2024-05-01T10:00:00+00:00",
            "slack_sent": False,
        }
    )
    spool.close()  # as if its process had stopped with the database down: deliver adopts it
    result = cli("deliver")
    assert result.exit_code == 0, result.output
    assert "Slack is not configured" in result.stdout
    assert "replayed 1 spooled alert(s) into the database" in result.stdout
    assert "written while the database was down" in cli("list").stdout


def test_without_slack_test_says_so(cli: CLI) -> None:
    result = cli("test")
    assert result.exit_code == 1
    assert "stored as alert 1" in result.stdout
    assert "Slack is not configured (set SLACK_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL)" in (
        result.stdout
    )
    listed = cli("list")
    assert "—" in listed.stdout  # no notification: nothing to deliver
    assert cli("retry").stdout.strip() == "no failed notifications to retry"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "99"], "no alert with id 99"),
        (["ack", "99"], "no alert with id 99"),
        (["resolve", "99"], "no alert with id 99"),
        (["retry", "99"], "no alert with id 99"),
        (["list", "--since", "yesterday"], "--since 'yesterday' is not an ISO-8601 time"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(cli: CLI, args: list[str], message: str) -> None:
    assert message in one_line_error(cli(*args))


@pytest.mark.parametrize("args", [["list", "--severity", "loud"], ["show", "abc"], ["ack"]])
def test_usage_errors_exit_2(cli: CLI, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unreachable_database_is_one_line(cli: CLI, cli_env: Callable[..., None]) -> None:
    cli_env(database_url="postgresql://nobody@127.0.0.1:1/none")
    line = one_line_error(cli("list"))
    assert "DATABASE_URL" in line
    assert "unreachable" in line


def test_a_real_process_exits_2_with_one_line(tmp_path: Path) -> None:
    env = clean_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}",
        LOG_DIR=str(tmp_path / "logs"),
        ALERT_SPOOL_DIR=str(tmp_path / "spool"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "ykmake", "alerts", "show", "5"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no alert with id 5"


def test_a_log_dir_that_cannot_be_written_is_one_line(
    cli: CLI, cli_env: Callable[..., None], tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("")
    cli_env(log_dir=tmp_path / "a-file" / "logs")
    said = one_line_error(cli("list"))
    assert (
        said
        == f"error: LOG_DIR='{tmp_path}/a-file/logs' cannot hold the log files: Not a directory"
    )
