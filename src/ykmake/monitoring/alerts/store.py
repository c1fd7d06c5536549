"""The alert store: storm-controlled upserts and a claimable outbox, on SQLite or PostgreSQL.

Every write is one transaction: an alert row and its notification row land together or not
at all. Claiming uses ``FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL) and a
conditional update everywhere, so each notification is claimed by exactly one worker, for
``lease`` (``ALERT_LEASE_SECONDS``): long enough for one Slack call, which is why the worker
claims one notification at a time. Nothing is claimed while the channel is paused by a 429
(:mod:`.channel_pause`); journal entries are recorded once (:mod:`.journal_entries`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ykmake.monitoring.alerts import channel_pause, claims, group_store, journal_entries
from ykmake.monitoring.alerts.claims import IN_FLIGHT, Claimed
from ykmake.monitoring.alerts.group_store import GroupResult
from ykmake.monitoring.alerts.models import Alert, AlertsBase, GroupMember, Notification, utcnow
from ykmake.monitoring.alerts.slack_group_message import GroupNotice
from ykmake.monitoring.alerts.vocabulary import (
    AlertStatus,
    NotificationKind,
    NotificationStatus,
    Severity,
)

__all__ = ["AlertStore", "Backoff", "Claimed", "GroupResult", "RecordResult"]

# severity, title, message, details, source, fingerprint
_Fields = tuple[str, str, str, dict[str, Any] | None, str, str, int]


@dataclass(frozen=True)
class RecordResult:
    alert: dict[str, Any]
    created: bool
    notification: str | None  # kind of the notification queued, if any


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; Retry-After wins when Slack sends one."""

    base: float = 2.0
    cap: float = 600.0
    max_attempts: int = 12

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return max(retry_after, 0.0)
        raw = min(self.cap, self.base * 2.0 ** max(attempts - 1, 0))
        jitter: float = random.uniform(0.8, 1.2)
        return raw * jitter  # jitter: instances don't retry in lockstep


class AlertStore:
    def __init__(
        self,
        engine: Engine,
        *,
        storm_window: timedelta = timedelta(minutes=10),
        notify: bool = True,
        backoff: Backoff | None = None,
        lease: timedelta = timedelta(seconds=120),
        channel: str = "slack",
    ) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.storm_window = storm_window
        self.notify = notify
        self.backoff = backoff or Backoff()
        self.lease = lease
        self.channel = channel  # what a 429 pauses: the sender's channel or webhook
        self._skip_locked = engine.dialect.name == "postgresql"

    def create_tables(self) -> None:
        """Create the tables when missing (apps without Alembic); a no-op otherwise."""
        AlertsBase.metadata.create_all(self.engine, checkfirst=True)

    # -- writing alerts ---------------------------------------------------------------------
    def record(
        self,
        *,
        severity: str,
        title: str,
        message: str,
        details: dict[str, Any] | None,
        source: str,
        fingerprint: str,
        now: datetime | None = None,
        already_notified: bool = False,
        occurrences: int = 1,
    ) -> RecordResult:
        """Insert a new alert or fold these ``occurrences`` into the live one (storm control)."""
        fields = (severity, title, message, details, source, fingerprint, occurrences)
        result = self._record(fields, now or utcnow(), already_notified, None)
        if result is None:  # pragma: no cover - only a journal entry can be recorded already
            raise AssertionError("unreachable")
        return result

    def record_entry(
        self,
        entry: str,
        *,
        severity: str,
        title: str,
        message: str,
        details: dict[str, Any] | None,
        source: str,
        fingerprint: str,
        now: datetime | None = None,
        already_notified: bool = False,
        occurrences: int = 1,
    ) -> RecordResult | None:
        """:meth:`record` for the journal entry named ``entry``, once: None when the database
        has it already (a crash came between its commit and the file's removal)."""
        fields = (severity, title, message, details, source, fingerprint, occurrences)
        return self._record(fields, now or utcnow(), already_notified, entry)

    def forget_entries(self, entries: Sequence[str]) -> None:
        """The files of ``entries`` are gone: their marks are no longer needed."""
        if entries:
            with self.sessions.begin() as session:
                journal_entries.forget(session, entries, utcnow())

    def record_group(
        self,
        group_key: str,
        firing: Sequence[dict[str, Any]],
        resolved: Sequence[str],
        notice: GroupNotice,
        now: datetime | None = None,
    ) -> GroupResult:
        """Store an Alertmanager group's alerts and queue at most one message for them all
        (:mod:`.group_store`). ``firing`` holds :meth:`record`'s fields, ``resolved``
        fingerprints."""
        now = now or utcnow()
        hashed = group_store.key_hash(group_key)
        group_store.ensure_group(self.sessions, hashed, group_key, now)
        for attempt in range(3):
            try:
                with self.sessions.begin() as session:
                    return group_store.record_group(
                        session,
                        hashed,
                        firing,
                        resolved,
                        notice,
                        now=now,
                        window=self.storm_window,
                        notify=self.notify,
                    )
            except IntegrityError:
                if attempt == 2:
                    raise
                # Another instance inserted one of the fingerprints first: fold into its row.
        raise AssertionError("unreachable")  # pragma: no cover

    def _record(
        self, fields: _Fields, now: datetime, already_notified: bool, entry: str | None
    ) -> RecordResult | None:
        for attempt in range(3):
            try:
                with self.sessions.begin() as session:
                    if entry is not None:
                        if journal_entries.already_applied(session, entry):
                            return None
                        journal_entries.mark_applied(session, entry, utcnow())
                    return self._record_once(session, *fields, now, already_notified)
            except IntegrityError:
                if attempt == 2:
                    raise
                # Another instance inserted the same fingerprint first: fold into its row.
        raise AssertionError("unreachable")  # pragma: no cover

    def _record_once(
        self,
        session: Session,
        severity: str,
        title: str,
        message: str,
        details: dict[str, Any] | None,
        source: str,
        fingerprint: str,
        occurrences: int,
        now: datetime,
        already_notified: bool,
    ) -> RecordResult:
        query = select(Alert).where(Alert.dedup_key == fingerprint)
        alert = session.scalars(query.with_for_update()).first()
        if alert is None:
            alert = Alert(
                severity=severity,
                title=title,
                message=message,
                details=details,
                source=source,
                fingerprint=fingerprint,
                dedup_key=fingerprint,
                status=AlertStatus.OPEN,
                occurrences=occurrences,
                first_seen=now,
                last_seen=now,
                notified_occurrences=occurrences if already_notified else 0,
                notified_at=now if already_notified else None,
            )
            session.add(alert)
            session.flush()
            kind = None
            if self.notify:
                kind = NotificationKind.NEW
                session.add(self._notification(alert, kind, now, sent=already_notified))
            return RecordResult(alert.to_dict(), True, kind)
        quiet = now - alert.last_seen > self.storm_window
        alert.occurrences += occurrences
        alert.last_seen = now
        if details:  # the newest occurrence's (its request id), over what the first said
            alert.details = {**(alert.details or {}), **details}
        if Severity(severity).rank > Severity(alert.severity).rank:
            alert.severity = severity  # an escalation is worth the louder colour
        kind = None
        if self.notify and alert.status == AlertStatus.OPEN:
            kind = self._queue_repeat(session, alert, now, quiet)
        session.flush()
        return RecordResult(alert.to_dict(), False, kind)

    def _queue_repeat(
        self, session: Session, alert: Alert, now: datetime, quiet: bool
    ) -> NotificationKind | None:
        in_flight = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.alert_id == alert.id, Notification.status.in_(IN_FLIGHT))
        )
        if in_flight:
            return None  # the queued message will carry this occurrence's count
        # Read again now that this transaction writes (the count above flushed the alert): on
        # SQLite the alert was read before, outside it, and a message sent since would be missed.
        notified_at = session.scalar(select(Alert.notified_at).where(Alert.id == alert.id))
        if quiet or notified_at is None:
            # Quiet for a window, or nobody was ever told (Slack was off, or its message
            # failed for good): this occurrence is news, not a repeat to fold.
            session.add(self._notification(alert, NotificationKind.NEW, now))
            return NotificationKind.NEW
        due = notified_at + self.storm_window
        session.add(self._notification(alert, NotificationKind.DIGEST, max(now, due)))
        return NotificationKind.DIGEST

    @staticmethod
    def _notification(
        alert: Alert, kind: str, due: datetime, *, sent: bool = False
    ) -> Notification:
        return Notification(
            alert_id=alert.id,
            kind=kind,
            status=NotificationStatus.SENT if sent else NotificationStatus.PENDING,
            next_attempt_at=due,
            created_at=due,
            sent_at=due if sent else None,
        )

    def resolve_fingerprint(
        self, fingerprint: str, now: datetime | None = None
    ) -> dict[str, Any] | None:
        """Resolve the live alert with this fingerprint (Alertmanager's "resolved")."""
        with self.sessions.begin() as session:
            alert = session.scalars(
                select(Alert).where(Alert.dedup_key == fingerprint).with_for_update()
            ).first()
            return self._resolve(session, alert, now or utcnow()) if alert else None

    def set_status(self, alert_id: int, status: str) -> dict[str, Any] | None:
        """Acknowledge or resolve an alert by id; None when there is no such alert."""
        now = utcnow()
        with self.sessions.begin() as session:
            alert = session.get(Alert, alert_id, with_for_update=True)
            if alert is None:
                return None
            if status == AlertStatus.RESOLVED:
                return self._resolve(session, alert, now)
            if alert.status == AlertStatus.OPEN:
                alert.status, alert.acknowledged_at = AlertStatus.ACKNOWLEDGED, now
            return alert.to_dict()

    def _resolve(self, session: Session, alert: Alert, now: datetime) -> dict[str, Any]:
        if alert.status != AlertStatus.RESOLVED:
            alert.status, alert.resolved_at, alert.dedup_key = AlertStatus.RESOLVED, now, None
            # A digest of an alert that is over would only confuse: drop it (not "failed",
            # which would list it among failed deliveries and let `retry` send it).
            session.execute(
                delete(Notification).where(
                    Notification.alert_id == alert.id,
                    Notification.status == NotificationStatus.PENDING,
                    Notification.kind == NotificationKind.DIGEST,
                )
            )
            if self.notify and (alert.notified_at is not None or self._new_queued(session, alert)):
                # Also when its first message is still queued (Slack down, or a fast
                # fire-then-resolve): that message will go out, so must the "resolved" one.
                session.add(self._notification(alert, NotificationKind.RESOLVED, now))
        session.flush()
        return alert.to_dict()

    @staticmethod
    def _new_queued(session: Session, alert: Alert) -> bool:
        return bool(
            session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.alert_id == alert.id,
                    Notification.kind == NotificationKind.NEW,
                    Notification.status.in_(IN_FLIGHT),
                )
            )
        )

    # -- the outbox ------------------------------------------------------------------------
    def claim_due(self, limit: int = 20, now: datetime | None = None) -> list[Claimed]:
        """Claim due notifications for this worker; nobody else gets them until the lease ends.
        None while the channel is paused."""
        now = now or utcnow()
        with self.sessions.begin() as session:
            if channel_pause.paused_until(session, self.channel, now) is not None:
                return []
            return claims.claim(session, limit, now, self.lease, skip_locked=self._skip_locked)

    def claim_next(self, now: datetime | None = None) -> Claimed | datetime | None:
        """Claim the next due notification; or, while the channel is paused, the time the
        pause ends; or None when nothing is due."""
        now = now or utcnow()
        with self.sessions.begin() as session:
            until = channel_pause.paused_until(session, self.channel, now)
            if until is not None:
                return until
            claimed = claims.claim(session, 1, now, self.lease, skip_locked=self._skip_locked)
        return claimed[0] if claimed else None

    def paused_until(self) -> datetime | None:
        """When the channel's pause (a 429's Retry-After) ends, if it is paused."""
        with self.sessions() as session:
            return channel_pause.paused_until(session, self.channel, utcnow())

    def release(self, claimed: Claimed) -> None:
        """Hand a claim back unsent (a stop cut its Slack call short): due again at once, for
        whoever comes next, instead of when the lease runs out."""
        with self.sessions.begin() as session:
            session.execute(
                update(Notification)
                .where(
                    Notification.id == claimed.id,
                    Notification.status == NotificationStatus.SENDING,
                )
                .values(
                    status=NotificationStatus.PENDING, lease_until=None, next_attempt_at=utcnow()
                )
            )

    def mark_sent(self, claimed: Claimed, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self.sessions.begin() as session:
            n = session.get(Notification, claimed.id, with_for_update=True)
            if n is None:
                return
            n.status, n.sent_at, n.lease_until = NotificationStatus.SENT, now, None
            n.last_error = None
            n.attempts += 1
            if n.kind in group_store.GROUP_KINDS:
                group_store.mark_members_notified(session, n.id, now)
                return
            alert = n.alert
            alert.notified_occurrences = claimed.alert["occurrences"]
            alert.notified_at = now

    def mark_failed_attempt(
        self, claimed: Claimed, error: str, *, permanent: bool, retry_after: float | None = None
    ) -> str:
        """Record a failed attempt; returns the new status (pending or failed). A
        ``retry_after`` (429) pauses the whole channel, for every instance."""
        now = utcnow()
        with self.sessions.begin() as session:
            if retry_after is not None:
                until = now + timedelta(seconds=max(retry_after, 0.0))
                channel_pause.pause(session, self.channel, until)
            n = session.get(Notification, claimed.id, with_for_update=True)
            if n is None:
                return NotificationStatus.FAILED
            n.attempts += 1
            n.last_error, n.lease_until = error[:1000], None
            if permanent or n.attempts >= self.backoff.max_attempts:
                n.status = NotificationStatus.FAILED
            else:
                n.status = NotificationStatus.PENDING
                n.next_attempt_at = now + timedelta(
                    seconds=self.backoff.delay(n.attempts, retry_after)
                )
            return n.status

    def retry_failed(self, alert_id: int | None = None) -> int:
        """Put failed notifications (of one alert, or all) back in the queue; returns how many."""
        with self.sessions.begin() as session:
            query = update(Notification).where(Notification.status == NotificationStatus.FAILED)
            if alert_id is not None:
                query = query.where(
                    (Notification.alert_id == alert_id)
                    | Notification.id.in_(group_store.member_notification_ids(alert_id))
                )
            result = session.execute(
                query.values(
                    status=NotificationStatus.PENDING,
                    attempts=0,
                    next_attempt_at=utcnow(),
                    last_error=None,
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def pending_count(self) -> int:
        with self.sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.status.in_(IN_FLIGHT))
                )
                or 0
            )

    # -- reading -----------------------------------------------------------------------------
    def list_alerts(
        self,
        *,
        severity: str | None = None,
        status: str | None = None,
        source: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        conditions: list[Any] = []
        if severity:
            conditions.append(Alert.severity == severity)
        if status:
            conditions.append(Alert.status == status)
        if source:
            conditions.append(Alert.source == source)
        if since:
            conditions.append(Alert.last_seen >= since)
        with self.sessions() as session:
            total = session.scalar(select(func.count()).select_from(Alert).where(*conditions)) or 0
            rows = session.scalars(
                select(Alert)
                .where(*conditions)
                .order_by(Alert.last_seen.desc(), Alert.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
            return [a.to_dict() for a in rows], int(total)

    def get_alert(self, alert_id: int) -> dict[str, Any] | None:
        with self.sessions() as session:
            alert = session.get(Alert, alert_id)
            if alert is None:
                return None
            data = alert.to_dict()
            grouped = session.scalars(
                select(Notification).where(
                    Notification.id.in_(group_store.member_notification_ids(alert_id))
                )
            ).all()
            rows = {n.id: n for n in [*alert.notifications, *grouped]}
            data["notifications"] = [rows[i].to_dict() for i in sorted(rows)]
            return data

    def delivery_states(self, alert_ids: Sequence[int]) -> dict[int, str]:
        """Per alert, the worst state of its notifications: failed > pending > sent."""
        if not alert_ids:
            return {}
        with self.sessions() as session:
            rows = session.execute(
                select(Notification.alert_id, Notification.status)
                .where(Notification.alert_id.in_(alert_ids))
                .union(  # the group messages that carry them
                    select(GroupMember.alert_id, Notification.status)
                    .join(Notification, Notification.id == GroupMember.notification_id)
                    .where(GroupMember.alert_id.in_(alert_ids))
                )
            ).all()
        found: dict[int, set[str]] = {}
        for alert_id, status in rows:
            sending = status == NotificationStatus.SENDING  # claimed, not sent yet
            found.setdefault(alert_id, set()).add(NotificationStatus.PENDING if sending else status)
        order = (NotificationStatus.FAILED, NotificationStatus.PENDING, NotificationStatus.SENT)
        return {
            alert_id: next(str(s) for s in order if s in states)
            for alert_id, states in found.items()
        }

    def notifications(
        self, statuses: Sequence[str] = (NotificationStatus.FAILED,)
    ) -> list[dict[str, Any]]:
        with self.sessions() as session:
            rows = session.scalars(
                select(Notification)
                .where(Notification.status.in_(statuses))
                .order_by(Notification.id)
            ).all()
            return [n.to_dict() for n in rows]
