"""``ykmake alerts``: look at and operate the alert store without starting the server.

Commands: ``list``, ``show ID``, ``ack ID``, ``resolve ID``, ``retry [ID]``, ``deliver`` (one
outbox run, for cron) and ``test`` (one alert through store → outbox → Slack). They build the
alert parts from the settings, as the service does, and close them before exiting.

Exit codes: 0 done; 1 a delivery did not go through (``deliver``, ``test``); 2 bad input or
configuration, an unknown id, or an unreachable database — always one line on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ykmake._alert_parts import (
    AlertParts,
    build_parts,
    deliver_all,
    deliver_test,
    delivery_summary,
)
from ykmake.errors import SettingsError, StartupError
from ykmake.monitoring.alerts.store import AlertStore
from ykmake.settings import load_settings

__all__ = ["alerts_app"]

alerts_app = typer.Typer(
    help="Alerts: list, show, ack, resolve, retry failed deliveries, deliver, send a test.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)

_SEVERITY_STYLE = {"info": "green", "warning": "yellow", "error": "red", "critical": "bold red"}
_DELIVERY_STYLE = {"failed": "bold red", "pending": "yellow", "sent": "green"}


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


class Status(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Source(StrEnum):
    app = "app"
    error = "error"
    alertmanager = "alertmanager"


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr, no traceback (as ``ykmake``'s other commands)."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def alert_parts() -> Iterator[AlertParts]:
    """Build the parts, turn database errors into one line, and always close them."""
    try:
        parts = build_parts(load_settings())
    except (SettingsError, StartupError) as exc:
        fail(str(exc))
    try:
        yield parts
    except SQLAlchemyError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"the alert store failed: {reason}")
    finally:
        parts.close()


# -- formatting ----------------------------------------------------------------------------


def _when(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _severity(value: str) -> str:
    return f"[{_SEVERITY_STYLE.get(value, 'white')}]{value}[/]"


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--since {value!r} is not an ISO-8601 time, e.g. 2024-05-01T10:00:00Z")
    return since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)


def _get_or_fail(store: AlertStore, alert_id: int) -> dict[str, Any]:
    alert = store.get_alert(alert_id)
    if alert is None:
        fail(f"no alert with id {alert_id}")
    return alert


# -- commands ------------------------------------------------------------------------------


@alerts_app.command("list")
def list_alerts(
    severity: Annotated[Severity | None, typer.Option(help="Only this severity.")] = None,
    status: Annotated[Status | None, typer.Option(help="Only this status.")] = None,
    source: Annotated[Source | None, typer.Option(help="Only this source.")] = None,
    since: Annotated[str | None, typer.Option(help="Seen at or after (ISO-8601).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Rows per page.")] = 20,
    page: Annotated[int, typer.Option(min=1, help="Page number.")] = 1,
) -> None:
    """List alerts, newest first, with their Slack delivery state; then failed deliveries."""
    since_at = _parse_since(since)
    with alert_parts() as parts:
        store = parts.store
        items, total = store.list_alerts(
            severity=severity.value if severity else None,
            status=status.value if status else None,
            source=source.value if source else None,
            since=since_at,
            limit=limit,
            offset=(page - 1) * limit,
        )
        delivery = delivery_summary(store, [a["id"] for a in items])
        failed = store.notifications(("failed",))
    if not items:
        filtered = total or any(v is not None for v in (severity, status, source, since_at))
        console.print("No alerts match." if filtered else "No alerts.")
    else:
        table = Table(title=f"Alerts {len(items)} of {total} (page {page})", title_justify="left")
        for name in ("ID", "Severity", "Status", "Source", "Title", "Count", "Last seen"):
            table.add_column(name, justify="right" if name in ("ID", "Count") else "left")
        table.add_column("Delivery")
        for a in items:
            state = delivery.get(a["id"], "—")
            table.add_row(
                str(a["id"]),
                _severity(a["severity"]),
                a["status"],
                a["source"],
                escape(a["title"]),
                str(a["occurrences"]),
                _when(a["last_seen"]),
                f"[{_DELIVERY_STYLE[state]}]{state}[/]" if state in _DELIVERY_STYLE else state,
            )
        console.print(table)
    if failed:
        _print_failed(failed)


def _print_failed(failed: list[dict[str, Any]]) -> None:
    table = Table(title=f"Failed deliveries ({len(failed)})", title_justify="left")
    for name in ("Notification", "Alert", "Kind", "Attempts", "Last error"):
        table.add_column(name)
    for n in failed[-20:]:
        table.add_row(
            str(n["id"]),
            str(n["alert_id"]),
            n["kind"],
            str(n["attempts"]),
            escape(n["last_error"] or ""),
        )
    console.print(table)
    console.print("Send them again with [bold]ykmake alerts retry[/] (or retry ID).")


@alerts_app.command()
def show(alert_id: Annotated[int, typer.Argument(help="Alert id.")]) -> None:
    """Show one alert: its fields, details and Slack notifications."""
    with alert_parts() as parts:
        alert = _get_or_fail(parts.store, alert_id)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key in ("id", "severity", "status", "source", "title", "message", "fingerprint"):
        value = str(alert[key])
        grid.add_row(key, _severity(value) if key == "severity" else escape(value))
    grid.add_row("occurrences", str(alert["occurrences"]))
    for key in ("first_seen", "last_seen", "acknowledged_at", "resolved_at"):
        grid.add_row(key, _when(alert[key]))
    console.print(grid)
    if alert["details"]:
        console.print("[bold]details[/]")
        console.print_json(json.dumps(alert["details"], default=str))
    table = Table(title="Notifications", title_justify="left")
    for name in ("ID", "Kind", "Status", "Attempts", "Next attempt", "Sent", "Last error"):
        table.add_column(name)
    for n in alert["notifications"]:
        state = "pending" if n["status"] == "sending" else n["status"]
        table.add_row(
            str(n["id"]),
            n["kind"],
            f"[{_DELIVERY_STYLE.get(state, 'white')}]{n['status']}[/]",
            str(n["attempts"]),
            _when(n["next_attempt_at"]) if n["status"] == "pending" else "—",
            _when(n["sent_at"]),
            escape(n["last_error"] or ""),
        )
    console.print(table if alert["notifications"] else "No Slack notifications.")


@alerts_app.command()
def ack(alert_id: Annotated[int, typer.Argument(help="Alert id.")]) -> None:
    """Acknowledge an open alert: its repeats stop reaching Slack."""
    with alert_parts() as parts:
        before = _get_or_fail(parts.store, alert_id)
        parts.store.set_status(alert_id, "acknowledged")
    if before["status"] == "open":
        console.print(f"alert {alert_id} acknowledged")
    else:
        console.print(f"alert {alert_id} is {before['status']}; nothing to acknowledge")


@alerts_app.command()
def resolve(alert_id: Annotated[int, typer.Argument(help="Alert id.")]) -> None:
    """Resolve an alert; Slack gets a "Resolved" message if it heard about the alert."""
    with alert_parts() as parts:
        before = _get_or_fail(parts.store, alert_id)
        parts.store.set_status(alert_id, "resolved")
        after = _get_or_fail(parts.store, alert_id)
    if before["status"] == "resolved":
        console.print(f"alert {alert_id} was already resolved")
        return
    console.print(f"alert {alert_id} resolved")
    if any(n["kind"] == "resolved" and n["status"] == "pending" for n in after["notifications"]):
        console.print(
            "a Resolved message is queued for Slack: the running service sends it, "
            "or run [bold]ykmake alerts deliver[/]"
        )


@alerts_app.command()
def retry(
    alert_id: Annotated[int | None, typer.Argument(help="Only this alert's.")] = None,
) -> None:
    """Put failed Slack notifications (all, or one alert's) back in the queue."""
    with alert_parts() as parts:
        if alert_id is not None:
            _get_or_fail(parts.store, alert_id)
        count = parts.store.retry_failed(alert_id)
    if count == 0:
        console.print("no failed notifications to retry")
        return
    console.print(
        f"re-queued {count} failed notification(s): the running service sends them, "
        "or run [bold]ykmake alerts deliver[/]"
    )


def _slack_off_hint() -> str:
    return "Slack is not configured (set SLACK_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL)"


@alerts_app.command()
def deliver() -> None:
    """Deliver what is due once (for cron): replay the disk spool, send queued Slack messages.

    Exits 1 when an attempt failed (it is retried later, or shows in ``list`` as failed).
    """
    with alert_parts() as parts:
        if not parts.sender.configured:
            console.print(f"[yellow]{_slack_off_hint()}: nothing can be sent[/]")
        stats = deliver_all(parts.worker)
        pending = parts.store.pending_count()
    if stats.replayed:
        console.print(f"replayed {stats.replayed} spooled alert(s) into the database")
    console.print(
        f"sent {stats.sent}, will retry {stats.retried}, failed for good {stats.failed}; "
        f"{pending} still queued"
    )
    for error in dict.fromkeys(stats.errors):  # unique, in order
        console.print(f"  slack error: {escape(error)}", highlight=False)
    if stats.retried or stats.failed:
        raise typer.Exit(1)


@alerts_app.command("test")
def send_test(
    severity: Annotated[Severity, typer.Option(help="Severity of the test alert.")] = Severity.info,
) -> None:
    """Send one alert through the whole path (store → outbox → Slack) and report each step."""
    now = datetime.now(UTC)
    with alert_parts() as parts:
        alert = parts.service.send_alert(
            severity.value,
            "Test alert from ykmake alerts test",
            f"If you read this in Slack, alerts work. Sent at {now:%Y-%m-%d %H:%M:%S} UTC.",
            {"sent_by": "ykmake alerts test", "environment": parts.settings.ykmake_env},
        )
        if alert is None:
            fail("the alert could not be stored (see the log); it waits in the disk spool", 1)
        url = parts.engine.url.render_as_string(hide_password=True)
        console.print(f"[green]✓[/] stored as alert {alert['id']} in {escape(url)}")
        if not parts.sender.configured:
            console.print(f"[red]✗[/] {_slack_off_hint()}: the alert is stored but not sent")
            raise typer.Exit(1)
        console.print(f"[green]✓[/] queued for Slack ({parts.sender.mode})")
        notification = deliver_test(parts, alert["id"])
    if notification is not None and notification["status"] == "sent":
        console.print("[green]✓[/] delivered to Slack")
        return
    if notification is None:
        console.print("[red]✗[/] not delivered yet: the outbox has a backlog; run it again")
        raise typer.Exit(1)
    error = escape(notification["last_error"] or "unknown error")
    later = "failed for good" if notification["status"] == "failed" else "will be retried"
    console.print(f"[red]✗[/] Slack error: {error} ({later})", highlight=False)
    raise typer.Exit(1)
