"""The words of the alert path, defined once: severities, statuses, sources, notification kinds.

Everything else imports them: the store, the Slack message, the webhook, the admin API, the
CLI, and the stack's rule generators (the severities their alerts carry).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "RESOLVED_COLOR",
    "RESOLVED_WORD",
    "AlertSource",
    "AlertStatus",
    "NotificationKind",
    "NotificationStatus",
    "Severity",
]

# A "resolved" message, single or grouped: "[RESOLVED] title", in Slack's green.
RESOLVED_WORD: Final = "RESOLVED"
RESOLVED_COLOR: Final = "#2eb67d"


class Severity(StrEnum):
    """How loud an alert is, in rising order."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info … 3 for critical: an escalation is a higher rank."""
        return list(Severity).index(self)


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"  # repeats stop reaching Slack
    RESOLVED = "resolved"


class AlertSource(StrEnum):
    APP = "app"  # send_alert
    ERROR = "error"  # capture_error
    ALERTMANAGER = "alertmanager"  # the webhook


class NotificationKind(StrEnum):
    NEW = "new"
    DIGEST = "digest"  # a storm's repeats, once per window
    RESOLVED = "resolved"
    GROUP = "group"  # an Alertmanager group: its firing alerts (and those that just resolved)
    GROUP_RESOLVED = "group_resolved"  # an Alertmanager group whose alerts all resolved


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed; a crashed worker's claim expires with its lease
    SENT = "sent"
    FAILED = "failed"
