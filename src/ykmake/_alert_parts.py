"""The alert parts the ``ykmake alerts`` commands work with, built from the settings without a
server: store, service and outbox worker, plus the delivery loops the commands run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import Engine, func, select

from ykmake.monitoring.alerts.models import Notification
from ykmake.monitoring.alerts.outbox import DeliveryStats, OutboxWorker
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.alerts.store import AlertStore, Backoff
from ykmake.monitoring.logging_setup import LoggingRuntime
from ykmake.monitoring.setup import logging_config_from
from ykmake.monitoring.slack_delivery import SlackSender
from ykmake.settings import Settings

__all__ = ["AlertParts", "build_parts", "deliver_all", "deliver_test", "delivery_summary"]

MAX_PASSES: Final = 100  # a run drains the due queue, but never loops forever


@dataclass
class AlertParts:
    """What the service builds for alerts, minus the server: store, service, outbox worker."""

    settings: Settings
    engine: Engine
    sender: SlackSender
    store: AlertStore
    service: AlertService
    worker: OutboxWorker
    logging: LoggingRuntime

    def close(self) -> None:
        self.service.close()
        self.logging.close()
        self.engine.dispose()


def build_parts(settings: Settings) -> AlertParts:
    """The alert parts from the settings; raises StartupError when the database is unusable."""
    from ykmake.app.db import check_database, make_engine, run_migrations

    engine = make_engine(settings.database_url)
    try:
        check_database(engine)
        if settings.database_auto_migrate:
            run_migrations(engine)
    except Exception:
        engine.dispose()
        raise
    sender = SlackSender(
        settings.slack_token.get_secret_value() if settings.slack_token else None,
        settings.slack_channel,
        settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else None,
        api_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,
    )
    store = AlertStore(
        engine,
        storm_window=timedelta(seconds=settings.alert_storm_window_seconds),
        notify=sender.configured,
        backoff=Backoff(
            settings.alert_backoff_base_seconds,
            settings.alert_backoff_max_seconds,
            settings.alert_max_attempts,
        ),
    )
    # Log files only (not installed globally): the terminal is for the command's own output.
    config = replace(logging_config_from(settings), console=False, json_to_stdout=False)
    runtime = LoggingRuntime(config)
    runtime.writer.start()
    service = AlertService(
        store,
        AlertSpool(settings.alert_spool_dir),
        sender,
        environment=settings.ykmake_env,
        log=runtime.get_logger("ykmake.alerts", via="cli"),
    )
    return AlertParts(settings, engine, sender, store, service, OutboxWorker(service), runtime)


def delivery_summary(store: AlertStore, ids: list[int]) -> dict[int, str]:
    """Per alert, the worst state of its notifications: failed > pending > sent."""
    if not ids:
        return {}
    with store.sessions() as session:
        rows = session.execute(
            select(Notification.alert_id, Notification.status, func.count())
            .where(Notification.alert_id.in_(ids))
            .group_by(Notification.alert_id, Notification.status)
        ).all()
    states: dict[int, set[str]] = {}
    for alert_id, status, _count in rows:
        states.setdefault(alert_id, set()).add("pending" if status == "sending" else status)
    return {
        alert_id: next(s for s in ("failed", "pending", "sent") if s in found)
        for alert_id, found in states.items()
    }


def deliver_all(worker: OutboxWorker) -> DeliveryStats:
    """Outbox passes until a pass comes back short of a full batch (the due queue is empty)."""
    total = DeliveryStats()

    async def run() -> None:
        for _ in range(MAX_PASSES):
            stats = await worker.deliver_once()
            total.replayed += stats.replayed
            total.sent += stats.sent
            total.retried += stats.retried
            total.failed += stats.failed
            total.errors.extend(stats.errors)
            if stats.sent + stats.retried + stats.failed < worker.batch:
                return

    asyncio.run(run())
    return total


def deliver_test(parts: AlertParts, alert_id: int) -> dict[str, Any] | None:
    """Run the outbox until the test alert's message has been tried; its notification then."""

    def ours() -> dict[str, Any] | None:
        found = parts.store.get_alert(alert_id)
        return found["notifications"][0] if found and found["notifications"] else None

    # A running service may claim it first ("sending"): then wait for its answer.
    deadline = time.monotonic() + parts.settings.slack_timeout_seconds + 5
    for _ in range(MAX_PASSES):
        n = ours()
        if n is None or n["status"] in ("sent", "failed") or n["attempts"] > 0:
            return n
        if n["status"] == "sending":
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
            continue
        stats = asyncio.run(parts.worker.deliver_once())
        if not (stats.sent or stats.retried or stats.failed):
            n = ours()  # nothing claimed: ours is not due yet, or someone else has it
            if n is not None and n["status"] == "pending" and n["attempts"] == 0:
                return None
    return ours()
