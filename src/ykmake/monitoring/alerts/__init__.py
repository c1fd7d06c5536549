"""Alerts: everything an alert touches, from ``send_alert`` to the Slack message.

A durable store with storm control (:mod:`.store`), the outbox worker that delivers
notifications with backoff (:mod:`.outbox`), the on-disk spool for when the database is down
(:mod:`.spool`), the Slack message and its delivery, the Alertmanager intake and the admin
API; :mod:`.parts` builds them from the settings. Its vocabulary is in :mod:`.vocabulary`.

``send_alert(severity, title, message, details=None)`` is the seed's ``sendAlert``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ykmake.monitoring.alerts.vocabulary import Severity

if TYPE_CHECKING:
    from ykmake.monitoring.alerts.service import AlertService

__all__ = ["Severity", "send_alert"]

# The alert services of the apps running in this process (started, not stopped), newest last.
running: list[AlertService] = []


def send_alert(
    severity: str, title: str, message: str, details: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """Store an alert and queue it for Slack; returns the stored alert. Never raises.

    Sent during a request, the alert's details carry the request's id (``request_id``)
    unless they have one. Uses the app that is running (the latest started, if several
    are). Returns None when none runs, when alerts are off, or when the database was down
    (the alert then waits in the on-disk spool).
    """
    if not running:
        return None
    return running[-1].send_alert(severity, title, message, details)
