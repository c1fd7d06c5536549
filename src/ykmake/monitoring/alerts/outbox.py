"""The outbox worker: delivers queued notifications to Slack, with backoff, in the background.

Started with the app (and drained once by ``ykmake alerts deliver`` for cron use). Each pass
replays the spool, claims due notifications, and sends them one by one; database calls run
in a worker thread so the event loop keeps serving requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import anyio.to_thread
from prometheus_client import Counter, Gauge

from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.slack_delivery import DeliveryResult
from ykmake.monitoring.alerts.slack_message import build_message
from ykmake.monitoring.alerts.store import Claimed
from ykmake.monitoring.alerts.vocabulary import NotificationKind, NotificationStatus, Severity
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

    def add(self, other: DeliveryStats) -> None:
        self.replayed += other.replayed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.errors.extend(other.errors)


def message_for(
    claimed: Claimed, service: str, environment: str, redactor: Redactor | None = None
) -> dict[str, Any]:
    """The Slack message of one notification, built from the alert as it is now (redacted
    again with ``redactor``: a row an older version stored may hold a secret)."""
    alert = claimed.alert
    timestamp = datetime.fromisoformat(alert["last_seen"])
    title, severity = alert["title"], alert["severity"]
    occurrences: int | None = None
    since = None
    if claimed.kind == NotificationKind.DIGEST:
        occurrences = max(alert["occurrences"] - claimed.notified_occurrences, 1)
        since = claimed.notified_at or datetime.fromisoformat(alert["first_seen"])
    elif claimed.kind == NotificationKind.RESOLVED:
        title, severity = f"Resolved: {title}", Severity.INFO
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
    )


class OutboxWorker:
    """Delivers due notifications in the background (``start``/``stop``), or on demand.

    Args:
        service: the alert service whose store, spool and sender it works with.
        notifications: ``ykmake_alert_notifications_total``, counted by result.
        pending: ``ykmake_alert_outbox_pending``, set after each pass.
        interval: seconds between passes when nothing wakes it sooner.
        batch: notifications claimed per pass.
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

    @property
    def log(self) -> Any:
        return self.service.log

    async def deliver_once(self) -> DeliveryStats:
        """One pass: replay the spool, then send everything that is due."""
        stats = DeliveryStats()
        stats.replayed = await anyio.to_thread.run_sync(self.service.replay_spool)
        sender = self.service.sender
        if sender is None or not sender.configured:
            return stats
        for item in await anyio.to_thread.run_sync(self.service.store.claim_due, self.batch):
            self._in_slack_call = True  # the one await that stop() may cancel
            try:
                service = self.service
                message = message_for(item, service.service, service.environment, service.redactor)
                result = await sender.send(message)
            finally:
                self._in_slack_call = False
            if self._stopping and not result.ok:
                break  # shutting down: the claim's lease runs out and another pass retries
            await self._settle(item, result, stats)
        return stats

    async def drain(self, max_passes: int = 100) -> DeliveryStats:
        """Passes until one comes back short of a full batch (the due queue is empty)."""
        total = DeliveryStats()
        for _ in range(max_passes):
            stats = await self.deliver_once()
            total.add(stats)
            if stats.sent + stats.retried + stats.failed < self.batch:
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
                await self.deliver_once()
                if self.pending is not None and self.service.store.notify:
                    pending = await anyio.to_thread.run_sync(self.service.store.pending_count)
                    self.pending.set(pending)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database down: the next pass retries
                self.log.warning("alert delivery pass failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

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
        self._loop = None
