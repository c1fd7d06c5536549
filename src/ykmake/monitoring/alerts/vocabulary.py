"""The words of the alert path, defined once: severities, statuses, sources, notification kinds.

Everything else imports them: the store, the Slack message, the webhook, the admin API, the
CLI, and the stack's rule generators (the severities their alerts carry).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AlertSource", "AlertStatus", "NotificationKind", "NotificationStatus", "Severity"]


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


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed; a crashed worker's claim expires with its lease
    SENT = "sent"
    FAILED = "failed"
