"""The alert path built from the settings, in one place: the service and ``ykmake alerts`` both
use :meth:`AlertParts.build`, so they store, fold and deliver alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from prometheus_client import Counter, Gauge
from sqlalchemy import Engine

from ykmake.monitoring.alerts.database import DatabaseLimits, in_memory, make_engine
from ykmake.monitoring.alerts.outbox import OutboxWorker
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.slack_delivery import SlackSender
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.alerts.store import AlertStore, Backoff
from ykmake.monitoring.logs.redaction import Redactor
from ykmake.monitoring.settings import MonitoringSettings

__all__ = ["ALERT_STORE_LIMITS", "AlertParts", "slack_sender"]

# The alert store's own connections, whatever engine it is given: a pool the app exhausted
# never blocks an alert write, and a database that does not answer fails one in seconds.
ALERT_STORE_LIMITS: Final = DatabaseLimits(
    connect_timeout=2, statement_timeout=5.0, pool_size=2, max_overflow=3, pool_timeout=2.0
)


def _store_engine(engine: Engine | None, url: str | None) -> tuple[Engine, bool]:
    """The store's engine, and whether it was made here: one of its own on ``engine``'s URL
    (or ``url``); ``engine`` itself for an in-memory SQLite database, which lives in it."""
    if engine is not None and in_memory(engine.url):
        return engine, False
    if engine is not None:
        return make_engine(engine.url, ALERT_STORE_LIMITS), True
    if url is None:
        msg = "alerts need a database: pass an engine or set ALERT_DATABASE_URL"
        raise ValueError(msg)
    return make_engine(url, ALERT_STORE_LIMITS), True


def slack_sender(settings: MonitoringSettings) -> SlackSender:
    """The Slack sender the settings describe (``configured`` is False without Slack)."""
    token, webhook = settings.slack_token, settings.slack_webhook_url
    return SlackSender(
        token.get_secret_value() if token else None,
        settings.slack_channel,
        webhook.get_secret_value() if webhook else None,
        api_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,
    )


@dataclass
class AlertParts:
    """The store on its engine, the Slack sender, the service in front of them, the worker."""

    engine: Engine
    owns_engine: bool  # made here, so disposed of by close()
    sender: SlackSender
    store: AlertStore
    service: AlertService
    worker: OutboxWorker

    @classmethod
    def build(
        cls,
        settings: MonitoringSettings,
        *,
        log: Any,
        engine: Engine | None = None,
        notifications: Counter | None = None,
        pending: Gauge | None = None,
    ) -> AlertParts:
        """The parts on an engine of their own, on the database of ``engine`` or else of
        ``ALERT_DATABASE_URL`` (the caller keeps ``engine`` and disposes of it).

        Creates the alert tables when they are missing (apps without Alembic).

        Raises:
            ValueError: no engine is given and ``ALERT_DATABASE_URL`` is not set.
        """
        engine, owns_engine = _store_engine(engine, settings.alert_database_url)
        sender = slack_sender(settings)
        store = AlertStore(
            engine,
            storm_window=timedelta(seconds=settings.alert_storm_window_seconds),
            notify=sender.configured,
            backoff=Backoff(
                settings.alert_backoff_base_seconds,
                settings.alert_backoff_max_seconds,
                settings.alert_max_attempts,
            ),
            lease=timedelta(seconds=settings.alert_lease_seconds),
            channel=sender.channel_key,
        )
        store.create_tables()
        service = AlertService(
            store,
            AlertSpool(settings.alert_spool_dir),
            sender,
            service=settings.service_name,
            environment=settings.environment,
            log=log,
            redactor=Redactor(secrets=settings.secret_values()),
        )
        worker = OutboxWorker(
            service,
            notifications=notifications,
            pending=pending,
            interval=settings.alert_worker_interval_seconds,
        )
        service.on_recorded = worker.wake
        return cls(engine, owns_engine, sender, store, service, worker)

    def close(self) -> None:
        """Finish the queued alert writes; dispose of the engine if it was made here."""
        self.service.close()
        if self.owns_engine:
            self.engine.dispose()
