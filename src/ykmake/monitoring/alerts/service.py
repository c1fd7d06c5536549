"""``send_alert`` and the journal: an alert is durable before anyone is told it was raised.

Two ways in, one store:

- :meth:`AlertService.send_alert` (the seed's ``sendAlert``, the Alertmanager webhook) writes
  to the database and returns the stored alert; when the database fails, the alert goes to the
  journal (:mod:`.spool`) instead and None is returned.
- :meth:`AlertService.submit` (errors captured on the request path) never waits for the
  database: the journal thread makes the alert durable on local disk (one fsync) and resolves
  the returned future, so a failed request can wait for exactly that; the apply thread then
  moves the entry into the database, once (:meth:`AlertStore.record_entry`). A database that
  is down or hangs holds the apply thread only.
- :meth:`AlertService.add_occurrence` (a repeat of an error already reported) is a counter in
  memory: the journal thread writes what piled up, one entry per alert with its count, every
  half second at most. An error storm costs a few journal writes a second, not one per error.

Slack is the outbox worker's alone (:mod:`.outbox`), including while the database is down
(:mod:`.direct`): no thread that makes alerts durable ever waits for it.

Secrets never get in: title, message and details are redacted (by key and by the shape of
values, the configured secrets' values included) before the alert is stored or journalled,
so the admin API, ``ykmake alerts`` and Slack only ever see what was kept.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

from ykmake.monitoring.alerts.fingerprint import alert_fingerprint
from ykmake.monitoring.alerts.slack_delivery import SlackSender
from ykmake.monitoring.alerts.slack_group_message import GroupNotice
from ykmake.monitoring.alerts.spool import AlertSpool, JournalFolder
from ykmake.monitoring.alerts.store import AlertStore, GroupResult, RecordResult
from ykmake.monitoring.alerts.vocabulary import AlertSource, Severity
from ykmake.monitoring.logs.lines import get_request_id
from ykmake.monitoring.logs.redaction import Redactor

__all__ = ["AlertService"]


# How long repeats pile up in memory before the journal thread writes them (a kill -9 loses
# at most this much of their count, never an alert).
REPEAT_FLUSH_SECONDS: Final = 0.5


@dataclass(frozen=True, slots=True)
class _Repeats:
    """Occurrences of one alert waiting to be journalled: the newest one's fields, the count."""

    severity: str
    title: str
    message: str
    details: Mapping[str, Any] | None
    source: str
    count: int


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
        # One thread writes the journal (alerts keep their order; a request waits on it, so it
        # must never wait on anything but the local disk), another moves it into the database.
        self._journal = concurrent.futures.ThreadPoolExecutor(1, "ykmake-alerts-journal")
        self._apply = concurrent.futures.ThreadPoolExecutor(1, "ykmake-alerts-apply")
        self._last_durable: concurrent.futures.Future[None] | None = None
        self._apply_queued = threading.Event()
        # Held while the journal is replayed, and to read or settle `in_flight`.
        self.journal_lock = threading.Lock()
        self.in_flight: set[Path] = set()  # entries being sent to Slack directly: not replayed
        self.database_down = False  # until a replay goes through: new alerts go to the journal
        self.on_recorded: Callable[[], None] | None = None  # wakes the outbox worker
        self._repeats: dict[str, _Repeats] = {}  # fingerprint -> what waits to be journalled
        self._repeats_lock = threading.Lock()
        self._repeats_timer: threading.Timer | None = None

    # -- the two ways in --------------------------------------------------------------------
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
        went to the journal). Sent during a request, its details carry the request's id.
        Never raises, never waits for Slack."""
        details = _with_request_id(details, source)
        record = self._prepare(severity, title, message, details, source, fingerprint)
        if record is None:
            return None
        if not self.database_down:
            result = self._store(record)
            if result is not None:
                return result.alert
        self._write_journal(record, or_database=False)
        return None

    def record_group(
        self,
        group_key: str,
        firing: Sequence[Mapping[str, Any]],
        resolved: Sequence[str],
        notice: GroupNotice,
    ) -> GroupResult | None:
        """Store an Alertmanager group's alerts (``firing``: :meth:`send_alert`'s arguments
        with a ``fingerprint`` and ``source`` each; ``resolved``: fingerprints) with at most one
        notification for them all. None when the database failed, and nothing was stored:
        the caller then takes the alerts one at a time, which the journal keeps."""
        if self.database_down:
            return None
        records = [
            record
            for fields in firing
            if (record := self._prepare(**fields)) is not None  # each one redacted
        ]
        try:
            result = self.store.record_group(group_key, records, resolved, notice)
        except Exception as exc:  # noqa: BLE001 - any database failure: one at a time instead
            self._database_failed(exc)
            return None
        self.log.info(
            "alert group saved to database",
            stored=result.stored,
            created=result.created,
            resolved=result.resolved,
            notification=result.notification,
        )
        if result.notification is not None and self.on_recorded is not None:
            self.on_recorded()
        return result

    def submit(
        self,
        severity: str,
        title: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> concurrent.futures.Future[None]:
        """Journal an alert on the journal thread; the future is done once it is durable.
        For callers on the event loop: they never wait for the disk, let alone the database.
        Sent during a request, its details carry the request's id."""
        # Read here: the journal thread does not run in the request's context.
        details = _with_request_id(details, kw.get("source", AlertSource.APP))
        future = self._journal.submit(
            partial(self._journal_alert, severity, title, message, details, **kw)
        )
        self._last_durable = future
        return future

    def add_occurrence(
        self,
        severity: str,
        title: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        source: str,
        fingerprint: str,
    ) -> None:
        """One more occurrence of the alert ``fingerprint``, with this occurrence's fields (the
        newest request id wins): counted in memory, journalled within half a second together
        with the others. For callers on the event loop: costs a dict update."""
        with self._repeats_lock:
            waiting = self._repeats.get(fingerprint)
            count = waiting.count + 1 if waiting is not None else 1
            self._repeats[fingerprint] = _Repeats(severity, title, message, details, source, count)
            if self._repeats_timer is not None:
                return
            timer = self._repeats_timer = threading.Timer(
                REPEAT_FLUSH_SECONDS, self._journal_repeats_soon
            )
        timer.daemon = True
        timer.start()

    def _journal_repeats_soon(self) -> None:
        with contextlib.suppress(RuntimeError):  # closing: close() writes them itself
            self._journal.submit(self._journal_repeats)

    def _journal_repeats(self) -> None:
        with self._repeats_lock:
            repeats, self._repeats = self._repeats, {}
            self._repeats_timer = None
        written = False
        for fingerprint, r in repeats.items():
            record = self._prepare(r.severity, r.title, r.message, r.details, r.source, fingerprint)
            if record is not None:
                record["occurrences"] = r.count
                written = self._write_journal(record, repeat=True) or written
        if written:
            self._schedule_apply()

    def until_durable(self) -> concurrent.futures.Future[None] | None:
        """Done once every alert submitted so far is durable; None when they all are. (The
        journal thread works in order, so the last one submitted is the last to be done.)"""
        last = self._last_durable
        return None if last is None or last.done() else last

    # -- journal and database ---------------------------------------------------------------
    def _journal_alert(
        self,
        severity: str,
        title: str,
        message: str,
        details: Mapping[str, Any] | None,
        *,
        source: str = AlertSource.APP,
        fingerprint: str | None = None,
    ) -> None:
        record = self._prepare(severity, title, message, details, source, fingerprint)
        if record is not None and self._write_journal(record):
            self._schedule_apply()

    def _write_journal(
        self, record: dict[str, Any], *, or_database: bool = True, repeat: bool = False
    ) -> bool:
        """The alert into the journal, durably (or, ``or_database``, into the database if the
        disk fails). True when it is in the journal. A ``repeat`` entry adds occurrences to
        an alert Slack hears of already: it is never sent on its own."""
        entry = {**record, "at": datetime.now(UTC).isoformat(), "slack_sent": False}
        if repeat:
            entry["repeat"] = True
        try:
            self.spool.write(entry)
        except Exception as exc:  # noqa: BLE001 - a full or read-only disk: try the database
            self.log.error("alert journal write failed", error=repr(exc), title=record["title"])
        else:
            return True
        if not or_database or self._store(record) is None:
            self.log.critical("alert lost: neither the journal nor the database took it")
        return False

    def _store(self, record: dict[str, Any]) -> RecordResult | None:
        try:
            result = self.store.record(**record)
        except Exception as exc:  # noqa: BLE001 - any database failure: the journal keeps it
            self._database_failed(exc)
            return None
        self._recorded(result)
        return result

    def _schedule_apply(self) -> None:
        # Coalesced: one apply run catches every entry written before it starts. While the
        # database is down the outbox worker retries on its own schedule instead.
        if self.database_down or self._apply_queued.is_set():
            return
        self._apply_queued.set()
        self._apply.submit(self._apply_journal)

    def _apply_journal(self) -> None:
        self._apply_queued.clear()
        with contextlib.suppress(Exception):  # logged by replay; retried by the worker
            self.replay_spool(adopt=False)

    def replay_spool(self, *, adopt: bool = True) -> int:
        """Move journal entries into the database, oldest first: this process's own, then
        (``adopt``) those of processes that are gone; returns how many.

        Raises:
            Exception: the database failed (the rest waits for the next replay).
        """
        replayed = 0
        with self.journal_lock, contextlib.closing(self.spool.folders(adopt=adopt)) as folders:
            for folder in folders:
                replayed += self._replay_folder(folder)
        self.database_down = False
        if replayed:
            self.log.debug("journal entries moved into the database", count=replayed)
        return replayed

    def _replay_folder(self, folder: JournalFolder) -> int:
        done: list[str] = []
        try:
            for path, data in folder.entries():
                if path in self.in_flight:
                    continue  # its direct Slack attempt decides whether it was sent
                try:
                    fields = self._replayed_fields(data)
                except (KeyError, TypeError, ValueError) as exc:
                    self.log.error(
                        "journal entry unreadable; set aside", path=str(path), error=repr(exc)
                    )
                    folder.reject(path)
                    continue
                try:
                    result = self.store.record_entry(folder.key(path), **fields)
                except Exception as exc:
                    self._database_failed(exc)
                    raise
                path.unlink(missing_ok=True)
                done.append(folder.key(path))
                if result is not None:
                    self._recorded(result)
        finally:
            with contextlib.suppress(Exception):  # stray marks are pruned after a week
                self.store.forget_entries(done)
        return len(done)

    def _replayed_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        # Redacted when written; again for entries an older version wrote.
        details = data.get("details")
        return {
            "severity": str(_severity(data["severity"])),
            "title": self.redactor.scrub(str(data["title"])),
            "message": self.redactor.scrub(str(data["message"])),
            "details": dict(self.redactor.redacted(details)) if details else None,
            "source": str(data.get("source", AlertSource.APP)),
            "fingerprint": str(data["fingerprint"]),
            "now": _parse_time(data.get("at")),
            "already_notified": bool(data.get("slack_sent")),
            "occurrences": max(1, int(data.get("occurrences", 1))),
        }

    def _database_failed(self, exc: BaseException) -> None:
        if not self.database_down:
            self.log.error(
                "alert database unreachable; alerts wait in the journal", error=repr(exc)
            )
        self.database_down = True

    # -- shared -----------------------------------------------------------------------------
    def _prepare(
        self,
        severity: str,
        title: str,
        message: str,
        details: Mapping[str, Any] | None,
        source: str,
        fingerprint: str | None,
    ) -> dict[str, Any] | None:
        """The alert as it is stored: redacted, fingerprinted; None (logged) if unusable."""
        try:
            level = _severity(severity)
            source = source if source in set(AlertSource) else AlertSource.APP
            title, message = self.redactor.scrub(str(title)), self.redactor.scrub(str(message))
            return {
                "severity": str(level),
                "title": title[:500],
                "message": message,
                "details": dict(self.redactor.redacted(details)) if details else None,
                "source": source,
                "fingerprint": fingerprint or alert_fingerprint(source, level, title, message),
            }
        except Exception as exc:  # noqa: BLE001 - the caller is reporting a problem already
            self.log.error("alert rejected", error=repr(exc))
            return None

    def _recorded(self, result: RecordResult) -> None:
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
        if result.notification is not None and self.on_recorded is not None:
            self.on_recorded()

    def close(self) -> None:
        """Finish the journal writes (repeats still in memory included), then their move into
        the database; let the journal go (what the database did not take waits there for the
        next process to adopt it)."""
        with self._repeats_lock:
            timer = self._repeats_timer
        if timer is not None:
            timer.cancel()
        with contextlib.suppress(RuntimeError):  # closed already
            self._journal.submit(self._journal_repeats)
        self._journal.shutdown(wait=True)
        self._apply.shutdown(wait=True)
        self.spool.close()


def _with_request_id(details: Mapping[str, Any] | None, source: str) -> Mapping[str, Any] | None:
    """``details`` with the current request's id, for an alert the app's code sends during a
    request: the id that finds the request's log lines. Not when the caller gave one, and not
    for an Alertmanager alert (its request is the webhook's delivery, of no interest)."""
    if source != AlertSource.APP:
        return details
    request_id = get_request_id()
    if request_id is None or (details is not None and "request_id" in details):
        return details
    return {**(details or {}), "request_id": request_id}


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
