"""The alert path built from the settings, in one place: the service and ``ykmake alerts`` both
use :meth:`AlertParts.build`, so they store, fold and deliver alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import Engine

from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.outbox import OutboxWorker
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.slack_delivery import SlackSender
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.alerts.store import AlertStore, Backoff
from ykmake.monitoring.logs.redaction import Redactor
from ykmake.monitoring.settings import MonitoringSettings

__all__ = ["AlertParts", "slack_sender"]


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
    owns_engine: bool  # made here from ALERT_DATABASE_URL, so disposed of by close()
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
        """The parts on ``engine``, or on an engine made from ``ALERT_DATABASE_URL``.

        Creates the alert tables when they are missing (apps without Alembic).

        Raises:
            ValueError: no engine is given and ``ALERT_DATABASE_URL`` is not set.
        """
        owns_engine = engine is None
        if engine is None:
            if settings.alert_database_url is None:
                msg = "alerts need a database: pass an engine or set ALERT_DATABASE_URL"
                raise ValueError(msg)
            engine = make_engine(settings.alert_database_url)
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
