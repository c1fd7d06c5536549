"""Slack straight from the journal while the database is down, as the seed did.

The outbox needs the database to claim a notification, so an alert raised while it is down
would wait there unheard. The outbox worker (never the thread that makes alerts durable)
sends this process's own journal entries to Slack instead: each once (the entry is marked
``slack_sent``, and its notification is stored as sent when the entry is replayed), with
backoff, one at a time, and never while the channel is paused. Entries of an adopted journal
wait for the database: the process that wrote them is gone, and nobody knows what it sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio.to_thread

from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.slack_delivery import DeliveryResult, SlackSender
from ykmake.monitoring.alerts.slack_message import build_message

__all__ = ["ChannelGate", "DirectSlack"]


class ChannelGate:
    """This process's view of the channel's pause (a 429's Retry-After), for the sends that
    cannot ask the database."""

    def __init__(self) -> None:
        self._until = 0.0  # time.monotonic()

    def pause(self, seconds: float) -> None:
        self._until = max(self._until, time.monotonic() + max(seconds, 0.0))

    def remaining(self) -> float:
        """Seconds until the channel may be called again; 0 when it may now."""
        return max(self._until - time.monotonic(), 0.0)


class DirectSlack:
    """Sends journal entries to Slack while the database is down (see the module docstring)."""

    def __init__(self, service: AlertService, gate: ChannelGate) -> None:
        self.service = service
        self.gate = gate
        self._retries: dict[Path, tuple[int, float]] = {}  # entry -> (attempts, due)
        # Storm control without the database: when each fingerprint was last told directly.
        # Another entry of it within the storm window is folded into the alert on replay.
        self._told: dict[str, float] = {}

    async def send_pending(
        self, sender: SlackSender, limit: int, *, stop: Callable[[], bool] | None = None
    ) -> list[DeliveryResult]:
        """Send up to ``limit`` entries not yet sent; what each attempt did, in order.
        ``stop()`` returning True ends it between two sends."""
        results: list[DeliveryResult] = []
        while len(results) < limit and not self.gate.remaining() and not (stop and stop()):
            picked = await anyio.to_thread.run_sync(self._pick)
            if picked is None:
                break
            path, entry = picked
            try:
                result = await self._send(sender, entry)
            except BaseException:
                # Cancelled mid-call (a stop): unknown whether Slack got it; the outbox will
                # send it once the entry is replayed. A set operation: no lock needed here.
                self.service.in_flight.discard(path)
                raise
            await anyio.to_thread.run_sync(self._settle, path, entry, result)
            results.append(result)
        return results

    def _pick(self) -> tuple[Path, dict[str, Any]] | None:
        """The oldest entry of this process's journal that is due a direct try, now marked
        in flight so that a replay leaves it alone until it is settled."""
        service, now = self.service, time.monotonic()
        with service.journal_lock:
            entries = service.spool.own_entries()
            present = {path for path, _ in entries}
            self._retries = {p: r for p, r in self._retries.items() if p in present}
            for path, entry in entries:
                due = self._retries.get(path, (0, 0.0))[1]
                if self._folded(entry, now) or path in service.in_flight or due > now:
                    continue
                service.in_flight.add(path)
                return path, entry
        return None

    def _folded(self, entry: dict[str, Any], now: float) -> bool:
        """Sent already, or to be folded into its alert: a repeat (its digest tells), or an
        alert told directly less than a storm window ago."""
        if entry.get("slack_sent") or entry.get("repeat"):
            return True
        window = self.service.store.storm_window.total_seconds()
        if len(self._told) > 1000:  # forget what is past its window
            self._told = {f: at for f, at in self._told.items() if now - at < window}
        told = self._told.get(str(entry.get("fingerprint")))
        return told is not None and now - told < window

    def _settle(self, path: Path, entry: dict[str, Any], result: DeliveryResult) -> None:
        service = self.service
        with service.journal_lock:
            try:
                if result.ok:
                    service.spool.update(path, slack_sent=True)
            finally:
                service.in_flight.discard(path)
        if result.ok:
            self._retries.pop(path, None)
            self._told[str(entry.get("fingerprint"))] = time.monotonic()
            service.log.info("alert sent via Slack directly; the database is down")
            return
        if result.retry_after is not None:
            self.gate.pause(result.retry_after)
        attempts = self._retries.get(path, (0, 0.0))[0] + 1
        delay = service.store.backoff.delay(attempts, result.retry_after)
        self._retries[path] = (attempts, time.monotonic() + delay)
        service.log.warning(
            "direct Slack delivery failed; retried later", error=result.error, attempts=attempts
        )

    async def _send(self, sender: SlackSender, entry: dict[str, Any]) -> DeliveryResult:
        service = self.service
        try:
            message = build_message(
                entry["severity"],
                entry["title"],
                entry["message"],
                entry.get("details"),
                service=service.service,
                environment=service.environment,
                timestamp=datetime.now(UTC),
                redactor=service.redactor,
            )
        except Exception as exc:  # noqa: BLE001 - a malformed entry: the replay sets it aside
            return DeliveryResult(ok=False, permanent=True, error=f"unreadable entry: {exc!r}")
        return await sender.send(message)
