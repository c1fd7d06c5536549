"""Claiming notifications: who sends what, once, across instances.

A claim moves a due row to ``sending`` with a lease; an expired lease (its worker crashed)
makes the row claimable again. ``FOR UPDATE SKIP LOCKED`` where the database has it
(PostgreSQL), and a conditional update everywhere, so each row goes to exactly one worker.

Order where Slack's reader needs it: an alert's "resolved" message waits for its first one,
and a group's message for the group's earlier ones (whatever their backoff made of the order).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from ykmake.monitoring.alerts.models import GroupNotification, Notification
from ykmake.monitoring.alerts.vocabulary import NotificationKind, NotificationStatus

__all__ = ["IN_FLIGHT", "Claimed", "claim"]

IN_FLIGHT: Final = (NotificationStatus.PENDING, NotificationStatus.SENDING)


@dataclass(frozen=True)
class Claimed:
    """A notification claimed for delivery, with what the message needs."""

    id: int
    kind: str
    attempts: int
    alert: dict[str, Any]
    notified_occurrences: int
    notified_at: datetime | None
    group: dict[str, Any] | None = None  # a group notification's payload (GroupNotice JSON)


def claim(
    session: Session, limit: int, now: datetime, lease: timedelta, *, skip_locked: bool
) -> list[Claimed]:
    """Claim up to ``limit`` due notifications, oldest first, until ``now + lease``."""
    claimable = or_(
        and_(
            Notification.status == NotificationStatus.PENDING,
            Notification.next_attempt_at <= now,
        ),
        and_(Notification.status == NotificationStatus.SENDING, Notification.lease_until < now),
    )
    claimed: list[Claimed] = []
    query = (
        select(Notification.id)
        .where(claimable, ~_resolved_before_its_alert(), ~_group_behind_its_last())
        .order_by(Notification.id)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    for nid in session.scalars(query).all():
        # Conditional: on SQLite (no row locks) a racing worker's claim shows as 0 rows.
        result = session.execute(
            update(Notification)
            .where(Notification.id == nid, claimable)
            .values(status=NotificationStatus.SENDING, lease_until=now + lease)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue
        n = session.get(Notification, nid)
        assert n is not None
        alert = n.alert
        group = session.get(GroupNotification, nid)
        claimed.append(
            Claimed(
                n.id,
                n.kind,
                n.attempts,
                alert.to_dict(),
                alert.notified_occurrences,
                alert.notified_at,
                group.payload if group is not None else None,
            )
        )
    return claimed


def _resolved_before_its_alert() -> Any:
    """A "resolved" message whose alert's first message is still queued: it waits its turn,
    so Slack never hears "Resolved: X" before "X"."""
    earlier = aliased(Notification)
    return and_(
        Notification.kind == NotificationKind.RESOLVED,
        exists().where(
            earlier.alert_id == Notification.alert_id,
            earlier.id < Notification.id,
            earlier.kind == NotificationKind.NEW,
            earlier.status.in_(IN_FLIGHT),
        ),
    )


def _group_behind_its_last() -> Any:
    """A group message whose group has an earlier one still queued: it waits its turn, so
    Slack tells a group's story in order ("3 firing", "4 firing", "resolved")."""
    this = aliased(GroupNotification)
    earlier = aliased(GroupNotification)
    earlier_row = aliased(Notification)
    return exists().where(
        this.notification_id == Notification.id,
        earlier.group_id == this.group_id,
        earlier.notification_id < Notification.id,
        earlier_row.id == earlier.notification_id,
        earlier_row.status.in_(IN_FLIGHT),
    )
