"""The outbox worker: delivers queued notifications to Slack, with backoff, in the background.

Started with the app (and drained once by ``ykmake alerts deliver`` for cron use). Each pass
moves the journal into the database (adopting the journals of processes that are gone), then
claims one due notification at a time, sends it and records what happened: a claim's lease
(``ALERT_LEASE_SECONDS``) only has to outlast one Slack call, so a slow Slack can't make a
claim expire under a batch and another instance send the same message again. A 429 pauses
the channel for every instance (:mod:`.channel_pause`), and the worker sleeps until the
pause ends rather than a fixed interval. While the database is down it sends this process's
journal to Slack directly (:mod:`.direct`). Database calls run in a worker thread so the
event loop keeps serving requests; a stop hands back the claim whose call it cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import anyio.to_thread
from prometheus_client import Counter, Gauge
from sqlalchemy.exc import SQLAlchemyError

from ykmake.monitoring.alerts.direct import ChannelGate, DirectSlack
from ykmake.monitoring.alerts.models import utcnow
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.slack_delivery import DeliveryResult, SlackSender
from ykmake.monitoring.alerts.slack_group_message import GroupNotice, build_group_message
from ykmake.monitoring.alerts.slack_message import build_message
from ykmake.monitoring.alerts.store import Claimed
from ykmake.monitoring.alerts.vocabulary import NotificationKind, NotificationStatus
from ykmake.monitoring.logs.redaction import Redactor

__all__ = ["DeliveryStats", "OutboxWorker", "message_for"]


@dataclass
class DeliveryStats:
    """What one or more passes did."""

    replayed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    database_down: bool = False  # the journal could not be moved into the database

    def add(self, other: DeliveryStats) -> None:
        self.replayed += other.replayed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.errors.extend(other.errors)
        self.database_down = self.database_down or other.database_down


def message_for(
    claimed: Claimed, service: str, environment: str, redactor: Redactor | None = None
) -> dict[str, Any]:
    """The Slack message of one notification, built from the alert as it is now (redacted
    again with ``redactor``: a row an older version stored may hold a secret). A group
    notification says what its group was when it was queued."""
    if claimed.group is not None:
        notice = GroupNotice.from_json(claimed.group)
        return build_group_message(
            notice,
            service=service,
            environment=environment,
            timestamp=notice.at or datetime.fromisoformat(claimed.alert["last_seen"]),
            redactor=redactor,
        )
    alert = claimed.alert
    timestamp = datetime.fromisoformat(alert["last_seen"])
    title, severity = alert["title"], alert["severity"]
    occurrences: int | None = None
    since = None
    resolved = False
    if claimed.kind == NotificationKind.DIGEST:
        occurrences = max(alert["occurrences"] - claimed.notified_occurrences, 1)
        since = claimed.notified_at or datetime.fromisoformat(alert["first_seen"])
    elif claimed.kind == NotificationKind.RESOLVED:
        resolved = True  # "[RESOLVED] title", in green, whatever the severity
    elif alert["occurrences"] > 1:  # a "new" message sent after some repeats piled up
        occurrences = alert["occurrences"]
        since = datetime.fromisoformat(alert["first_seen"])
    details = dict(alert["details"] or {})
    details.setdefault("alert_id", alert["id"])
    return build_message(
        severity,
        title,
        alert["message"],
        details,
        service=service,
        environment=environment,
        timestamp=timestamp,
        occurrences=occurrences,
        digest_since=since,
        redactor=redactor,
        resolved=resolved,
    )


class OutboxWorker:
    """Delivers due notifications in the background (``start``/``stop``), or on demand.

    Args:
        service: the alert service whose store, spool and sender it works with.
        notifications: ``ykmake_alert_notifications_total``, counted by result.
        pending: ``ykmake_alert_outbox_pending``, set after each pass.
        interval: seconds between passes when nothing wakes it sooner.
        batch: notifications sent (one claim each) per pass at most.
    """

    def __init__(
        self,
        service: AlertService,
        *,
        notifications: Counter | None = None,
        pending: Gauge | None = None,
        interval: float = 1.0,
        batch: int = 20,
    ) -> None:
        self.service = service
        self.notifications = notifications
        self.pending = pending
        self.interval = interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._in_slack_call = False
        self._claimed: Claimed | None = None  # between its claim and its outcome
        self._paused_until: datetime | None = None  # the channel's pause, seen by the last pass
        self.gate = ChannelGate()
        self.direct = DirectSlack(service, self.gate)

    @property
    def log(self) -> Any:
        return self.service.log

    async def deliver_once(self) -> DeliveryStats:
        """One pass: move the journal into the database, then send what is due."""
        stats = DeliveryStats()
        sender = self.service.sender
        try:
            stats.replayed = await anyio.to_thread.run_sync(self.service.replay_spool)
        except SQLAlchemyError:
            stats.database_down = True  # logged once per outage, by the service
            if sender is not None and sender.configured:
                await self._send_directly(sender, stats)
            return stats
        self._paused_until = None
        if sender is None or not sender.configured:
            return stats
        if wait := self.gate.remaining():  # a 429 to a direct send, while the database was down
            self._paused_until = utcnow() + timedelta(seconds=wait)
            return stats
        for _ in range(self.batch):
            if self._stopping:
                break
            item = await anyio.to_thread.run_sync(self.service.store.claim_next)
            if isinstance(item, datetime):
                self._paused_until = item  # another instance, or we, got a 429
                break
            if item is None:
                break
            await self._deliver(item, sender, stats)
        return stats

    async def _deliver(self, item: Claimed, sender: SlackSender, stats: DeliveryStats) -> None:
        service = self.service
        self._claimed = item
        self._in_slack_call = True  # the one await that stop() may cancel
        try:
            message = message_for(item, service.service, service.environment, service.redactor)
            result = await sender.send(message)
        finally:
            self._in_slack_call = False
        if self._stopping and not result.ok:
            return  # shutting down: stop() hands the claim back
        await self._settle(item, result, stats)
        self._claimed = None

    async def _send_directly(self, sender: SlackSender, stats: DeliveryStats) -> None:
        """The database is down: this process's journal straight to Slack."""
        self._in_slack_call = True
        try:
            results = await self.direct.send_pending(
                sender, self.batch, stop=lambda: self._stopping
            )
        finally:
            self._in_slack_call = False
        for result in results:
            if result.ok:
                stats.sent += 1
                self._count("sent")
            else:
                stats.retried += 1
                stats.errors.append(result.error or "unknown error")
                self._count("retry")

    async def drain(self, max_passes: int = 100) -> DeliveryStats:
        """Passes until one comes back short of a full batch (the due queue is empty)."""
        total = DeliveryStats()
        for _ in range(max_passes):
            stats = await self.deliver_once()
            total.add(stats)
            if stats.database_down or stats.sent + stats.retried + stats.failed < self.batch:
                break
        return total

    async def _settle(self, item: Claimed, result: DeliveryResult, stats: DeliveryStats) -> None:
        """Record what one attempt did: sent, to be retried, or failed for good."""
        store = self.service.store
        if result.ok:
            await anyio.to_thread.run_sync(store.mark_sent, item)
            stats.sent += 1
            self._count("sent")
            self.log.info("alert sent via Slack", alert_id=item.alert["id"], kind=item.kind)
            return
        if result.retry_after is not None:
            self.gate.pause(result.retry_after)  # for direct sends, should the database go
        # The sender blanks its own token and webhook URL; anything else secret goes here.
        error = self.service.redactor.scrub(result.error or "unknown error")
        status = await anyio.to_thread.run_sync(
            partial(
                store.mark_failed_attempt,
                item,
                error,
                permanent=result.permanent,
                retry_after=result.retry_after,
            )
        )
        stats.errors.append(error)
        fields = {"alert_id": item.alert["id"], "attempts": item.attempts + 1, "error": error}
        if status == NotificationStatus.FAILED:
            stats.failed += 1
            self._count("failed")
            self.log.error("alert delivery failed for good", **fields)
        else:
            stats.retried += 1
            self._count("retry")
            self.log.warning(
                "alert delivery will be retried", retry_after=result.retry_after, **fields
            )

    def _count(self, result: str) -> None:
        if self.notifications is not None:
            self.notifications.labels(result).inc()

    def wake(self) -> None:
        """Run the next pass now (a new alert was queued); safe from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                stats = await self.deliver_once()
                if (
                    self.pending is not None
                    and self.service.store.notify
                    and not stats.database_down
                ):
                    pending = await anyio.to_thread.run_sync(self.service.store.pending_count)
                    self.pending.set(pending)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database down: the next pass retries
                self.log.warning("alert delivery pass failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_wait())
            self._wake.clear()

    def _next_wait(self) -> float:
        """The interval; or, while the channel is paused, the time left of the pause when that
        is shorter, so delivery resumes the moment it ends."""
        paused = self._paused_until
        if paused is None:
            return self.interval
        return min(self.interval, max((paused - utcnow()).total_seconds(), 0.0))

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._stopping = False
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._run(), name="ykmake-outbox")

    async def stop(self, grace_seconds: float = 15.0) -> None:
        """Let the current pass finish (a database call in a worker thread can't be
        interrupted, and cancelling around it would leave its connection checked out past
        the engine's disposal), then stop; cancel only if it overruns ``grace_seconds``."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            if self._in_slack_call:  # a hanging Slack must not hold the shutdown
                self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=grace_seconds)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._hand_back()
        self._loop = None

    async def _hand_back(self) -> None:
        """The claim whose Slack call the stop cut short goes back to the queue, due now: a
        restart (or another instance) sends it at once instead of after its lease. Slack may
        have received it before the cut: it is then sent twice, as after a crash."""
        claimed, self._claimed = self._claimed, None
        if claimed is None:
            return
        try:
            await anyio.to_thread.run_sync(self.service.store.release, claimed)
        except Exception as exc:  # noqa: BLE001 - the database is gone too: the lease will do
            self.log.warning("could not hand back a claimed notification", error=repr(exc))
