"""Alerts: a durable store, storm control, and Slack delivery through an outbox.

``send_alert(severity, title, message, details=None)`` is the seed's ``sendAlert``: it uses
the service that :func:`ykmake.monitoring.setup_monitoring` installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ykmake.monitoring.alerts.service import AlertService

__all__ = ["send_alert", "set_default_service"]

_default: list[AlertService] = []


def set_default_service(service: AlertService) -> None:
    """Make ``service`` the one module-level :func:`send_alert` uses (the latest app's)."""
    _default[:] = [service]


def send_alert(
    severity: str, title: str, message: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """Store an alert and queue it for Slack; returns the stored alert. Never raises.

    Returns None when no monitoring is set up, or when the database was down (the alert
    then waits in the on-disk spool).
    """
    if not _default:
        return None
    return _default[0].send_alert(severity, title, message, details)
