"""``ykmake alerts``: look at and operate the alert store without starting the server.

Commands: ``list``, ``show ID``, ``ack ID``, ``resolve ID``, ``retry [ID]``, ``deliver`` (one
outbox run, for cron) and ``test`` (one alert through store → outbox → Slack). They build the
alert parts from the settings as the service does (:meth:`AlertParts.build`), log to the log
files only, and close everything before exiting.

Exit codes: 0 done; 1 a delivery did not go through (``deliver``, ``test``); 2 bad input or
configuration, an unknown id, or an unreachable database — always one line on stderr.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from ykmake.cli._alert_tables import alert_grid, alerts_table, failed_table, notifications_table
from ykmake.cli._shared import cli_settings, command_group, console, fail, open_database_or_fail
from ykmake.cli._terminal_text import plain, visible
from ykmake.monitoring.alerts.vocabulary import (
    AlertSource,
    AlertStatus,
    NotificationKind,
    NotificationStatus,
    Severity,
)

if TYPE_CHECKING:
    from ykmake.monitoring.alerts.parts import AlertParts
    from ykmake.monitoring.alerts.store import AlertStore
    from ykmake.settings import Settings

__all__ = ["alerts_app"]

alerts_app = command_group(
    "Alerts: list, show, ack, resolve, retry failed deliveries, deliver, send a test."
)

_SLACK_OFF = "Slack is not configured (set SLACK_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL)"
_MAX_PASSES = 100  # outbox passes of one `test`: it drains the due queue, never loops forever


def _one_of(choices: type[StrEnum]) -> str:
    """``info, warning, error or critical``: the choices, in the option's help."""
    *rest, last = (str(choice) for choice in choices)
    return f"{', '.join(rest)} or {last}"


AlertId = Annotated[int, typer.Argument(metavar="ID", hidden=True)]  # named in each help


@contextmanager
def alert_parts(settings: Settings | None = None) -> Iterator[AlertParts]:
    """The alert parts on the service's database; a database error becomes one line."""
    from sqlalchemy.exc import SQLAlchemyError

    from ykmake.errors import StartupError
    from ykmake.monitoring.alerts.parts import AlertParts
    from ykmake.monitoring.logs.pipeline import LoggingRuntime
    from ykmake.monitoring.setup import logging_config

    settings = settings or cli_settings()
    try:
        with ExitStack() as stack:
            engine = open_database_or_fail(settings, migrate=settings.database_auto_migrate)
            stack.callback(engine.dispose)
            # The log files only, and not installed globally: the terminal is for our output.
            config = replace(logging_config(settings), console=False, json_to_stdout=False)
            runtime = LoggingRuntime(config)
            runtime.writer.start()
            stack.callback(runtime.close)
            log = runtime.get_logger("ykmake.monitoring.alerts", via="cli")
            parts = AlertParts.build(settings, log=log, engine=engine)
            stack.callback(parts.close)
            yield parts
    except SQLAlchemyError as exc:
        text = str(exc).strip()
        fail(f"the alert store failed: {text.splitlines()[0] if text else type(exc).__name__}")
    except StartupError as exc:  # the log files can't be written (LOG_DIR)
        fail(str(exc))


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


# -- reading -------------------------------------------------------------------------------


@alerts_app.command("list")
def list_alerts(
    severity: Annotated[
        Severity | None,
        typer.Option(metavar="SEVERITY", help=f"Only this severity: {_one_of(Severity)}."),
    ] = None,
    status: Annotated[
        AlertStatus | None,
        typer.Option(metavar="STATUS", help=f"Only this status: {_one_of(AlertStatus)}."),
    ] = None,
    source: Annotated[
        AlertSource | None,
        typer.Option(metavar="SOURCE", help=f"Only this source: {_one_of(AlertSource)}."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(metavar="TIME", help="Seen at or after (ISO-8601).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, metavar="N", help="Rows per page.")] = 20,
    page: Annotated[int, typer.Option(min=1, metavar="N", help="Page number.")] = 1,
) -> None:
    """List alerts, newest first, with their Slack delivery state; then failed deliveries."""
    since_at = _parse_since(since)
    with alert_parts() as parts:
        store = parts.store
        items, total = store.list_alerts(
            severity=severity,
            status=status,
            source=source,
            since=since_at,
            limit=limit,
            offset=(page - 1) * limit,
        )
        delivery = store.delivery_states([a["id"] for a in items])
        failed = store.notifications((NotificationStatus.FAILED,))
    if items:
        title = f"Alerts {len(items)} of {total} (page {page})"
        console.print(alerts_table(items, delivery, title))
    else:
        filtered = total or any(v is not None for v in (severity, status, source, since_at))
        console.print("No alerts match." if filtered else "No alerts.")
    if failed:
        console.print(failed_table(failed))
        console.print("Send them again with [bold]ykmake alerts retry[/] (or retry ID).")


@alerts_app.command()
def show(alert_id: AlertId) -> None:
    """Show alert ID: its fields, details and Slack notifications."""
    with alert_parts() as parts:
        alert = _get_or_fail(parts.store, alert_id)
    console.print(alert_grid(alert))
    if alert["details"]:
        console.print("[bold]details[/]")
        # JSON escapes C0 controls; ensure_ascii escapes C1 and bidirectional ones too.
        console.print_json(json.dumps(alert["details"], default=str), ensure_ascii=True)
    notifications = alert["notifications"]
    console.print(
        notifications_table(notifications) if notifications else "No Slack notifications."
    )


# -- operating -----------------------------------------------------------------------------


@alerts_app.command()
def ack(alert_id: AlertId) -> None:
    """Acknowledge alert ID (an open one): its repeats stop reaching Slack."""
    with alert_parts() as parts:
        before = _get_or_fail(parts.store, alert_id)
        parts.store.set_status(alert_id, AlertStatus.ACKNOWLEDGED)
    if before["status"] == AlertStatus.OPEN:
        console.print(f"alert {alert_id} acknowledged")
    else:
        console.print(plain(f"alert {alert_id} is {before['status']}; nothing to acknowledge"))


@alerts_app.command()
def resolve(alert_id: AlertId) -> None:
    """Resolve alert ID; Slack gets a "Resolved" message if it heard about the alert."""
    with alert_parts() as parts:
        before = _get_or_fail(parts.store, alert_id)
        parts.store.set_status(alert_id, AlertStatus.RESOLVED)
        after = _get_or_fail(parts.store, alert_id)
    if before["status"] == AlertStatus.RESOLVED:
        console.print(f"alert {alert_id} was already resolved")
        return
    console.print(f"alert {alert_id} resolved")
    if any(
        n["kind"] == NotificationKind.RESOLVED and n["status"] == NotificationStatus.PENDING
        for n in after["notifications"]
    ):
        console.print(
            "a Resolved message is queued for Slack: the running service sends it, "
            "or run [bold]ykmake alerts deliver[/]"
        )


@alerts_app.command()
def retry(
    alert_id: Annotated[int | None, typer.Argument(metavar="ID", hidden=True)] = None,
) -> None:
    """Put failed Slack notifications back in the queue: all of them, or alert ID's."""
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


@alerts_app.command()
def deliver() -> None:
    """Deliver what is due once (for cron): replay the spool, send queued Slack messages.

    Exits 1 when an attempt failed (it is retried later, or shows in ``list`` as failed).
    """
    import asyncio

    with alert_parts() as parts:
        if not parts.sender.configured:
            console.print(f"[yellow]{_SLACK_OFF}: nothing can be sent[/]")
        stats = asyncio.run(parts.worker.drain())
        pending = parts.store.pending_count()
    if stats.replayed:
        console.print(f"replayed {stats.replayed} spooled alert(s) into the database")
    console.print(
        f"sent {stats.sent}, will retry {stats.retried}, failed for good {stats.failed}; "
        f"{pending} still queued"
    )
    for error in dict.fromkeys(stats.errors):  # unique, in order
        console.print(plain(f"  slack error: {error}"))
    if stats.retried or stats.failed:
        raise typer.Exit(1)


# -- the test alert ------------------------------------------------------------------------


def _tried(notification: dict[str, Any]) -> bool:
    """Whether Slack has answered for this notification (sent, failed, or a retry is due)."""
    done = (NotificationStatus.SENT, NotificationStatus.FAILED)
    return notification["status"] in done or notification["attempts"] > 0


def _deliver_test(parts: AlertParts, alert_id: int, wait_seconds: float) -> dict[str, Any] | None:
    """Run the outbox until the test alert's message has been tried; its notification then.

    None when it was not tried: not due yet, or a running service claimed it (``sending``)
    and did not answer within ``wait_seconds``.
    """
    import asyncio

    def ours() -> dict[str, Any] | None:
        found = parts.store.get_alert(alert_id)
        return found["notifications"][0] if found and found["notifications"] else None

    deadline = time.monotonic() + wait_seconds
    for _ in range(_MAX_PASSES):
        notification = ours()
        if notification is None or _tried(notification):
            return notification
        if notification["status"] == NotificationStatus.SENDING:  # a running service has it
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
            continue
        stats = asyncio.run(parts.worker.deliver_once())
        if not (stats.sent or stats.retried or stats.failed):
            again = ours()  # nothing claimed: ours is not due yet, or someone else has it
            if again is not None and again["status"] == NotificationStatus.PENDING:
                return again if again["attempts"] else None
    return ours()


def _report_test(notification: dict[str, Any] | None) -> None:
    if notification is not None and notification["status"] == NotificationStatus.SENT:
        console.print("[green]✓[/] delivered to Slack")
        return
    if notification is None:
        console.print("[red]✗[/] not delivered yet: the outbox has a backlog; run it again")
        raise typer.Exit(1)
    error = visible(notification["last_error"] or "unknown error")
    failed = notification["status"] == NotificationStatus.FAILED
    later = "failed for good" if failed else "will be retried"
    console.print(Text.assemble(("✗", "red"), f" Slack error: {error} ({later})"))
    raise typer.Exit(1)


@alerts_app.command("test")
def send_test(
    severity: Annotated[
        Severity,
        typer.Option(metavar="SEVERITY", help=f"Severity of the test alert: {_one_of(Severity)}."),
    ] = Severity.INFO,
) -> None:
    """Send one alert through the whole path (store → outbox → Slack) and report each step."""
    settings = cli_settings()
    now = datetime.now(UTC)
    with alert_parts(settings) as parts:
        alert = parts.service.send_alert(
            severity,
            "Test alert from ykmake alerts test",
            f"If you read this in Slack, alerts work. Sent at {now:%Y-%m-%d %H:%M:%S} UTC.",
            {"sent_by": "ykmake alerts test", "environment": settings.environment},
        )
        if alert is None:
            fail("the alert could not be stored (see the log); it waits in the disk spool", 1)
        url = parts.engine.url.render_as_string(hide_password=True)
        stored = f" stored as alert {alert['id']} in {visible(url)}"
        console.print(Text.assemble(("✓", "green"), stored))
        if not parts.sender.configured:
            console.print(f"[red]✗[/] {_SLACK_OFF}: the alert is stored but not sent")
            raise typer.Exit(1)
        console.print(f"[green]✓[/] queued for Slack ({parts.sender.mode})")
        # A running service may claim it first: wait as long as its Slack call may take.
        notification = _deliver_test(parts, alert["id"], settings.slack_timeout_seconds + 5)
    _report_test(notification)
