"""``ykmake alerts list/show`` print what strangers wrote (alert titles and messages from the
Alertmanager webhook or an error, Slack's errors, any value in the database) without letting it
drive the operator's terminal or rich's markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from tests.integration.cli.support import SETTINGS_VARS
from ykmake.app.db import open_database
from ykmake.cli import alerts as alerts_cli
from ykmake.cli import app
from ykmake.monitoring.alerts.models import Alert, Notification

pytestmark = pytest.mark.integration

# What each hostile piece would do on a terminal: retitle the window and ring, clear the
# screen, return to the line's start and overwrite it, move up and erase, reverse the text,
# an 8-bit CSI; and rich markup that would style, link or (``[/]`` alone) raise.
TITLE = "\x1b]0;pwned\x07\x1b[2J[bold red]FIRE[/]\rfake title"
MESSAGE = "line one\nline two \x1b[31mred\x1b[0m [/] \u202eevil\x08"
ERROR = "\x1b[1A\x1b[2Kslack said [link=https://evil.example]ok[/link] \x9b31m"
DETAILS = {"key\x1b[5m": "\x9b2J [/] \u202eevil", "nested": {"x": "\x07\r"}}
RAW = ("\x1b", "\x07", "\r", "\x08", "\x9b", "\u202e")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    database_url = f"sqlite:///{tmp_path / 'cli.db'}"
    for key, value in {
        "DATABASE_URL": database_url,
        "LOG_DIR": str(tmp_path / "logs"),
        "ALERT_SPOOL_DIR": str(tmp_path / "spool"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(alerts_cli, "console", Console(width=200))
    engine = open_database(database_url, migrate=True)
    try:
        with Session(engine) as session:
            alert = Alert(
                severity="critical\x1b[5m",
                title=TITLE,
                message=MESSAGE,
                details=DETAILS,
                source="alertmanager",
                fingerprint="fp\x1b[8m",
                status="open",
            )
            alert.notifications.append(
                Notification(kind="new", status="failed", attempts=3, last_error=ERROR)
            )
            session.add(alert)
            session.commit()
    finally:
        engine.dispose()
    return CliRunner()


def _run(cli: CliRunner, *args: str) -> Result:
    result = cli.invoke(app, ["alerts", *args])
    assert result.exit_code == 0, result.output
    return result


def _no_raw_controls(text: str) -> None:
    for char in RAW:
        assert char not in text, f"{char!r} reached the terminal"


def test_list_shows_hostile_titles_and_errors_as_visible_text(cli: CliRunner) -> None:
    out = _run(cli, "list").stdout
    _no_raw_controls(out)
    assert "\\x1b]0;pwned\\x07\\x1b[2J[bold red]FIRE[/]\\rfake title" in out
    assert "critical\\x1b[5m" in out
    assert "\\x1b[1A\\x1b[2Kslack said [link=https://evil.example]ok[/link] \\x9b31m" in out


def test_show_shows_every_field_and_the_details_as_visible_text(cli: CliRunner) -> None:
    out = _run(cli, "show", "1").stdout
    _no_raw_controls(out)
    assert "\\x1b]0;pwned\\x07\\x1b[2J[bold red]FIRE[/]\\rfake title" in out
    assert "line two \\x1b[31mred\\x1b[0m [/] \\u202eevil\\x08" in out  # the line feed stays
    assert re.search(r"line one *\n", out)
    assert "fp\\x1b[8m" in out
    assert '"key\\u001b[5m": "\\u009b2J [/] \\u202eevil"' in out  # JSON's own escapes
    assert "slack said [link=https://evil.example]ok[/link]" in out
