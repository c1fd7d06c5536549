"""The tables ``ykmake alerts`` prints: alerts, one alert, its notifications, failures.

Every stored value goes through :func:`~._terminal_text.plain`: titles, messages and Slack's
errors came from outside, and even a status is whatever the database holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from ykmake.cli._terminal_text import plain
from ykmake.monitoring.alerts.vocabulary import NotificationStatus, Severity

__all__ = ["alert_grid", "alerts_table", "failed_table", "notifications_table"]

_SEVERITY_STYLE: dict[str, str] = {
    Severity.INFO: "green",
    Severity.WARNING: "yellow",
    Severity.ERROR: "red",
    Severity.CRITICAL: "bold red",
}
_DELIVERY_STYLE: dict[str, str] = {
    NotificationStatus.FAILED: "bold red",
    NotificationStatus.PENDING: "yellow",
    NotificationStatus.SENT: "green",
}
_FAILED_SHOWN = 20  # the newest; `alerts retry` re-queues them all


def _when(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _severity(value: str) -> Text:
    return plain(value, _SEVERITY_STYLE.get(value, "white"))


def _delivery(state: str) -> Text:
    # "sending" is a claim in flight: to the operator it is still pending.
    shown_as = NotificationStatus.PENDING if state == NotificationStatus.SENDING else state
    return plain(state, _DELIVERY_STYLE.get(shown_as, "white"))


def alerts_table(items: list[dict[str, Any]], delivery: dict[int, str], title: str) -> Table:
    """One row per alert, with the worst state of its Slack notifications ("—": none)."""
    table = Table(title=title, title_justify="left")
    for name in ("ID", "Severity", "Status", "Source", "Title", "Count", "Last seen"):
        table.add_column(name, justify="right" if name in ("ID", "Count") else "left")
    table.add_column("Delivery")
    for a in items:
        state = delivery.get(a["id"])
        table.add_row(
            str(a["id"]),
            _severity(a["severity"]),
            plain(a["status"]),
            plain(a["source"]),
            plain(a["title"]),
            str(a["occurrences"]),
            _when(a["last_seen"]),
            "—" if state is None else _delivery(state),
        )
    return table


def failed_table(failed: list[dict[str, Any]]) -> Table:
    """The newest notifications that failed for good."""
    table = Table(title=f"Failed deliveries ({len(failed)})", title_justify="left")
    for name in ("Notification", "Alert", "Kind", "Attempts", "Last error"):
        table.add_column(name)
    for n in failed[-_FAILED_SHOWN:]:
        table.add_row(
            str(n["id"]),
            str(n["alert_id"]),
            plain(n["kind"]),
            str(n["attempts"]),
            plain(n["last_error"] or ""),
        )
    return table


def alert_grid(alert: dict[str, Any]) -> Table:
    """One alert's fields, one per line."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key in ("id", "severity", "status", "source", "title", "message", "fingerprint"):
        value = str(alert[key])
        grid.add_row(key, _severity(value) if key == "severity" else plain(value))
    grid.add_row("occurrences", str(alert["occurrences"]))
    for key in ("first_seen", "last_seen", "acknowledged_at", "resolved_at"):
        grid.add_row(key, _when(alert[key]))
    return grid


def notifications_table(notifications: list[dict[str, Any]]) -> Table:
    """One alert's Slack notifications: new, digests, resolved."""
    table = Table(title="Notifications", title_justify="left")
    for name in ("ID", "Kind", "Status", "Attempts", "Next attempt", "Sent", "Last error"):
        table.add_column(name)
    for n in notifications:
        pending = n["status"] == NotificationStatus.PENDING
        table.add_row(
            str(n["id"]),
            plain(n["kind"]),
            _delivery(n["status"]),
            str(n["attempts"]),
            _when(n["next_attempt_at"]) if pending else "—",
            _when(n["sent_at"]),
            plain(n["last_error"] or ""),
        )
    return table
