"""The alert store's tables: alerts, the outbox of their Slack notifications, the pauses a
channel asked for (a 429's Retry-After), the journal entries being moved into the database,
and Alertmanager's groups with what their notifications say and which alerts they carry.

Their own metadata, so any app can use them; YkMake's Alembic history creates them too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from ykmake.monitoring.alerts.vocabulary import (
    AlertSource,
    AlertStatus,
    NotificationKind,
    NotificationStatus,
)

__all__ = [
    "Alert",
    "AlertGroup",
    "AlertsBase",
    "ChannelPause",
    "GroupMember",
    "GroupNotification",
    "JournalEntry",
    "Notification",
    "UTCDateTime",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class AlertsBase(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware in and out: SQLite forgets the zone, and a time without one is not the
    RFC 3339 ``date-time`` the APIs document."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Alert(AlertsBase):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    source: Mapped[str] = mapped_column(String(16), default=AlertSource.APP)
    fingerprint: Mapped[str] = mapped_column(String(128), index=True)
    # = fingerprint while the alert is open or acknowledged, NULL once resolved: a unique
    # index on it keeps one live alert per fingerprint, even with racing instances.
    dedup_key: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN, index=True)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # What Slack has been told: the count at the last message, and when it went out.
    notified_occurrences: Mapped[int] = mapped_column(Integer, default=0)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    notifications: Mapped[list[Notification]] = relationship(
        back_populates="alert", order_by="Notification.id"
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "details": self.details,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "occurrences": self.occurrences,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
        }


class Notification(AlertsBase):
    """One Slack message to send (the outbox)."""

    __tablename__ = "alert_notifications"
    __table_args__ = (Index("ix_alert_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default=NotificationKind.NEW)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    alert: Mapped[Alert] = relationship(back_populates="notifications")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat(),
            "last_error": self.last_error,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


class ChannelPause(AlertsBase):
    """A Slack channel (or webhook) that said "wait" (429 + Retry-After): nobody on this
    database calls it before ``paused_until``."""

    __tablename__ = "alert_channel_pauses"

    channel: Mapped[str] = mapped_column(String(100), primary_key=True)
    paused_until: Mapped[datetime] = mapped_column(UTCDateTime())


class JournalEntry(AlertsBase):
    """A journal file whose alert is in the database, until the file is gone: a crash between
    the commit and the file's removal must not count the alert twice on replay."""

    __tablename__ = "alert_journal_entries"

    entry: Mapped[str] = mapped_column(String(200), primary_key=True)  # "<folder>/<file>"
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class AlertGroup(AlertsBase):
    """An Alertmanager group (its ``groupKey``) and what Slack was last told about it: the
    firing fingerprints of the last group message, and when it was queued."""

    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 of the receiver and the group key: group keys have no length bound.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    group_key: Mapped[str] = mapped_column(Text)
    told_fingerprints: Mapped[list[str]] = mapped_column(JSON, default=list)
    told_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GroupNotification(AlertsBase):
    """What a group notification (kind ``group`` or ``group_resolved``) says: the group as it
    was when the message was queued, redacted. Its outbox row points at one of its alerts."""

    __tablename__ = "alert_group_notifications"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("alert_notifications.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("alert_groups.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class GroupMember(AlertsBase):
    """An alert a group notification carries: its delivery shows on every one of them."""

    __tablename__ = "alert_group_members"

    notification_id: Mapped[int] = mapped_column(
        ForeignKey("alert_notifications.id", ondelete="CASCADE"), primary_key=True
    )
    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
