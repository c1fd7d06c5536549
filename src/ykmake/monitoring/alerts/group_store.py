"""An Alertmanager group in the store: its alerts in one transaction, one notification for all.

Every alert of the group is stored as any alert is (one row per fingerprint, a re-send is one
more occurrence), in batches rather than a transaction each, and none of them queues its own
Slack message: the group's notification carries them (:class:`.models.GroupMember`), and its
delivery is theirs.

When a call queues a group message (the rule, in :func:`next_kind`):

- the group's firing fingerprints differ from those of its last message (an alert joined or
  left), or this call resolved a live alert of it: a ``group`` message;
- the same firing alerts, nothing resolved: folded (occurrences + 1 on each alert) while the
  last message is younger than the storm window; after that, one ``group`` message again (a
  reminder, as Alertmanager's ``repeat_interval`` means it), unless all of them are
  acknowledged;
- no firing alert left and this call resolved live alerts Slack heard of: one
  ``group_resolved`` message.

The group row is locked first, so two instances receiving the same group take turns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ykmake.monitoring.alerts.models import (
    Alert,
    AlertGroup,
    GroupMember,
    GroupNotification,
    Notification,
)
from ykmake.monitoring.alerts.slack_group_message import GroupNotice
from ykmake.monitoring.alerts.vocabulary import (
    AlertStatus,
    NotificationKind,
    NotificationStatus,
    Severity,
)

__all__ = [
    "GROUP_KINDS",
    "GroupResult",
    "ensure_group",
    "key_hash",
    "mark_members_notified",
    "member_notification_ids",
    "record_group",
]

GROUP_KINDS: Final = (NotificationKind.GROUP, NotificationKind.GROUP_RESOLVED)
_CHUNK: Final = 500  # fingerprints per IN (...): well under every driver's parameter limit


@dataclass(frozen=True)
class GroupResult:
    """What one call did to the store."""

    stored: int  # firing alerts stored: new ones and folded ones
    created: int  # of which new
    resolved: int  # live alerts this call resolved
    unmatched: int  # resolved fingerprints with no live alert
    notification: str | None  # the kind queued, if any


def key_hash(group_key: str) -> str:
    return hashlib.sha256(group_key.encode("utf-8", "surrogatepass")).hexdigest()


def ensure_group(
    sessions: sessionmaker[Session], hashed: str, group_key: str, now: datetime
) -> None:
    """The group's row exists (its own transaction: two instances may race to create it)."""
    try:
        with sessions.begin() as session:
            if session.scalar(select(AlertGroup.id).where(AlertGroup.key_hash == hashed)):
                return
            session.add(AlertGroup(key_hash=hashed, group_key=group_key, last_seen=now))
    except IntegrityError:
        pass  # another instance created it first


def record_group(
    session: Session,
    hashed: str,
    firing: Sequence[dict[str, Any]],
    resolved: Sequence[str],
    notice: GroupNotice,
    *,
    now: datetime,
    window: Any,
    notify: bool,
) -> GroupResult:
    """Store the group's firing alerts, resolve its resolved ones, queue its message if due.

    ``firing`` holds :meth:`AlertStore.record` fields (redacted), ``resolved`` fingerprints.
    """
    group = session.scalars(
        select(AlertGroup).where(AlertGroup.key_hash == hashed).with_for_update()
    ).one()
    group.last_seen = now
    closed = _resolve_quietly(session, resolved, now)
    live, created = _upsert_firing(session, firing, now)
    kind = next_kind(group, live, closed, now, window) if notify else None
    if kind is not None:
        _queue(session, group, kind, notice, [*live, *closed], now)
        group.told_fingerprints = sorted({a.fingerprint for a in live})
        group.told_at = now
    elif not live:
        group.told_fingerprints = []
    session.flush()
    return GroupResult(len(live), created, len(closed), len(set(resolved)) - len(closed), kind)


def next_kind(
    group: AlertGroup, live: Sequence[Alert], closed: Sequence[Alert], now: datetime, window: Any
) -> NotificationKind | None:
    """The message this call is due, by the rule in the module docstring; None to fold."""
    if not live:
        heard = group.told_at is not None or any(a.notified_at for a in closed)
        return NotificationKind.GROUP_RESOLVED if closed and heard else None
    changed = {a.fingerprint for a in live} != set(group.told_fingerprints or ()) or bool(closed)
    if changed:
        return NotificationKind.GROUP
    recent = group.told_at is not None and now - group.told_at < window
    quiet = all(a.status == AlertStatus.ACKNOWLEDGED for a in live)
    return None if recent or quiet else NotificationKind.GROUP


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _live(session: Session, fingerprints: Sequence[str]) -> dict[str, Alert]:
    found: dict[str, Alert] = {}
    for chunk in _chunks(sorted(set(fingerprints))):  # sorted: locks taken in one order
        query = select(Alert).where(Alert.dedup_key.in_(chunk)).with_for_update()
        found.update((a.fingerprint, a) for a in session.scalars(query))
    return found


def _upsert_firing(
    session: Session, firing: Sequence[dict[str, Any]], now: datetime
) -> tuple[list[Alert], int]:
    """New alerts inserted together, live ones folded: the group's alerts, in its order."""
    unique = {record["fingerprint"]: record for record in firing}  # a duplicate: the last wins
    existing = _live(session, list(unique))
    alerts: list[Alert] = []
    new: list[Alert] = []
    for fingerprint, record in unique.items():
        alert = existing.get(fingerprint)
        if alert is None:
            alert = _new_alert(record, now)
            new.append(alert)
        else:
            alert.occurrences += 1
            alert.last_seen = now
            if Severity(record["severity"]).rank > Severity(alert.severity).rank:
                alert.severity = record["severity"]  # an escalation is worth the louder colour
        alerts.append(alert)
    session.add_all(new)
    session.flush()  # one multi-row INSERT per batch, ids returned
    return alerts, len(new)


def _new_alert(record: dict[str, Any], now: datetime) -> Alert:
    return Alert(
        severity=record["severity"],
        title=record["title"],
        message=record["message"],
        details=record["details"],
        source=record["source"],
        fingerprint=record["fingerprint"],
        dedup_key=record["fingerprint"],
        status=AlertStatus.OPEN,
        occurrences=1,
        first_seen=now,
        last_seen=now,
        notified_occurrences=0,
    )


def _resolve_quietly(session: Session, fingerprints: Sequence[str], now: datetime) -> list[Alert]:
    """Resolve the live alerts with these fingerprints without a "resolved" message each: the
    group's message says it for all of them."""
    closed = list(_live(session, fingerprints).values())
    for alert in closed:
        alert.status, alert.resolved_at, alert.dedup_key = AlertStatus.RESOLVED, now, None
    ids = [a.id for a in closed]
    for start in range(0, len(ids), _CHUNK):
        # As for a single alert: a digest of an alert that is over would only confuse.
        session.execute(
            delete(Notification).where(
                Notification.alert_id.in_(ids[start : start + _CHUNK]),
                Notification.status == NotificationStatus.PENDING,
                Notification.kind == NotificationKind.DIGEST,
            )
        )
    return closed


def _queue(
    session: Session,
    group: AlertGroup,
    kind: NotificationKind,
    notice: GroupNotice,
    alerts: Sequence[Alert],
    now: datetime,
) -> None:
    # The outbox row points at the group's first alert (every row has one); what the message
    # says, and every alert it carries, are beside it.
    notification = Notification(
        alert_id=alerts[0].id,
        kind=kind,
        status=NotificationStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(notification)
    session.flush()
    session.add(
        GroupNotification(
            notification_id=notification.id, group_id=group.id, payload=notice.to_json()
        )
    )
    ids = sorted({a.id for a in alerts})
    session.execute(
        insert(GroupMember), [{"notification_id": notification.id, "alert_id": i} for i in ids]
    )


def mark_members_notified(session: Session, notification_id: int, now: datetime) -> None:
    """A group message went out: every alert it carried has been told, at its count now."""
    members = select(GroupMember.alert_id).where(GroupMember.notification_id == notification_id)
    session.execute(
        update(Alert)
        .where(Alert.id.in_(members))
        .values(notified_occurrences=Alert.occurrences, notified_at=now)
        .execution_options(synchronize_session=False)
    )


def member_notification_ids(alert_id: int) -> Any:
    """The group notifications that carry ``alert_id`` (a subquery)."""
    return select(GroupMember.notification_id).where(GroupMember.alert_id == alert_id)
