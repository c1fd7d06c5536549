"""``send_alert``: store the alert and queue its Slack message, never raising, never waiting.

The seed's ``sendAlert(severity, title, message, details)``, without its weaknesses: the
request does not wait for Slack (delivery is the outbox worker's job), a Slack outage only
delays the message, and a database outage sends the alert to an on-disk spool (and still
tries Slack directly, as the seed does) until the database is back.

Secrets never get in: title, message and details are redacted (by key and by the shape of
values, the configured secrets' values included) before the alert is stored or spooled, so
the admin API, ``ykmake alerts`` and Slack only ever see what was kept.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from ykmake.monitoring.alerts.fingerprint import alert_fingerprint
from ykmake.monitoring.alerts.slack_delivery import SlackSender
from ykmake.monitoring.alerts.slack_message import build_message
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.alerts.store import AlertStore, RecordResult
from ykmake.monitoring.alerts.vocabulary import AlertSource, Severity
from ykmake.monitoring.logs.redaction import Redactor

__all__ = ["AlertService"]


class AlertService:
    """Front door of the alert path; one per app (``monitoring.alerts``)."""

    def __init__(
        self,
        store: AlertStore,
        spool: AlertSpool,
        sender: SlackSender | None,
        *,
        service: str,
        environment: str,
        log: Any,
        redactor: Redactor | None = None,
    ) -> None:
        self.store, self.spool, self.sender = store, spool, sender
        self.redactor = redactor or Redactor()
        self.service = service  # SERVICE_NAME, on every Slack message
        self.environment = environment
        self.log = log
        # One thread for writes off the event loop: alerts keep their order, and a slow
        # database never holds a request.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="ykmake-alerts"
        )
        self._spool_lock = threading.Lock()
        self._direct_in_flight: set[Path] = set()  # not replayed while Slack is being tried
        self.on_recorded: Callable[[], None] | None = None  # wakes the outbox worker

    def send_alert(
        self,
        severity: str,
        title: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        source: str = AlertSource.APP,
        fingerprint: str | None = None,
    ) -> dict[str, Any] | None:
        """Store an alert and queue its notification; returns the stored alert (None when it
        went to the spool). Never raises, never waits for Slack."""
        try:
            severity = _severity(severity)
            source = source if source in set(AlertSource) else AlertSource.APP
            redact = self.redactor
            title, message = redact.scrub(str(title)), redact.scrub(str(message))
            fp = fingerprint or alert_fingerprint(source, severity, title, message)
            record: dict[str, Any] = {
                "severity": severity,
                "title": title[:500],
                "message": message,
                "details": dict(redact.redacted(details)) if details else None,
                "source": source,
                "fingerprint": fp,
            }
        except Exception as exc:  # noqa: BLE001 - the caller is reporting a problem already
            self.log.error("alert rejected", error=repr(exc))
            return None
        try:
            result = self.store.record(
                severity=severity,
                title=record["title"],
                message=record["message"],
                details=record["details"],
                source=source,
                fingerprint=fp,
            )
        except Exception as exc:  # noqa: BLE001 - any database failure: spool, never lose it
            self._spool(record, exc)
            return None
        self._log_recorded(result)
        if result.notification is not None and self.on_recorded is not None:
            self.on_recorded()
        return result.alert

    def submit(
        self,
        severity: str,
        title: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> concurrent.futures.Future[dict[str, Any] | None]:
        """``send_alert`` on the alert thread: for callers that must not wait at all."""
        return self._executor.submit(
            partial(self.send_alert, severity, title, message, details, **kw)
        )

    def _log_recorded(self, result: RecordResult) -> None:
        alert = result.alert
        if result.created:
            self.log.info(
                "alert saved to database",
                alert_id=alert["id"],
                severity=alert["severity"],
                title=alert["title"],
                fingerprint=alert["fingerprint"],
            )
        else:
            self.log.debug(
                "alert occurrence folded", alert_id=alert["id"], occurrences=alert["occurrences"]
            )

    # -- database down ---------------------------------------------------------------------
    def _spool(self, record: dict[str, Any], exc: BaseException) -> None:
        self.log.error(
            "failed to save alert to database; spooled to disk",
            error=repr(exc),
            severity=record["severity"],
            title=record["title"],
        )
        try:
            with self._spool_lock:
                path = self.spool.write(
                    {**record, "at": datetime.now(UTC).isoformat(), "slack_sent": False}
                )
                if self.sender is not None and self.sender.configured:
                    self._direct_in_flight.add(path)
        except Exception as spool_exc:  # noqa: BLE001 - last resort: the log line above
            self.log.critical("alert spool write failed", error=repr(spool_exc))
            return
        if path in self._direct_in_flight:
            # As the seed does: Slack is still tried when the database write fails.
            self._executor.submit(self._direct_slack, path, record)

    def _direct_slack(self, path: Path, record: dict[str, Any]) -> None:
        assert self.sender is not None
        ok, error = False, "not attempted"
        try:
            message = build_message(
                record["severity"],
                record["title"],
                record["message"],
                record["details"],
                service=self.service,
                environment=self.environment,
                timestamp=datetime.now(UTC),
                redactor=self.redactor,
            )
            result = asyncio.run(self.sender.send(message))
            ok, error = result.ok, result.error or ""
        finally:
            with self._spool_lock:
                if ok:
                    self.spool.update(path, slack_sent=True)
                self._direct_in_flight.discard(path)
        if not ok:
            self.log.warning("direct Slack delivery failed; the outbox will retry", error=error)

    def replay_spool(self) -> int:
        """Move spooled alerts into the database; returns how many. Stops at the first failure."""
        replayed = 0
        with self._spool_lock:
            for path, data in self.spool.pending():
                if path in self._direct_in_flight:
                    continue  # its direct Slack attempt decides whether it was sent
                # Spooled redacted already; again for files an older version wrote.
                details = data.get("details")
                result = self.store.record(
                    severity=data["severity"],
                    title=self.redactor.scrub(str(data["title"])),
                    message=self.redactor.scrub(str(data["message"])),
                    details=dict(self.redactor.redacted(details)) if details else None,
                    source=data.get("source", "app"),
                    fingerprint=data["fingerprint"],
                    now=_parse_time(data.get("at")),
                    already_notified=bool(data.get("slack_sent")),
                )
                path.unlink(missing_ok=True)
                self._log_recorded(result)
                replayed += 1
        if replayed:
            self.log.info("spooled alerts replayed into the database", count=replayed)
        return replayed

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def _severity(value: str) -> Severity:
    try:
        return Severity(str(value).lower())
    except ValueError:
        msg = f"severity {value!r} is not one of {', '.join(Severity)}"
        raise ValueError(msg) from None


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
