"""Building the alert path by hand for tests: store, service, worker, on any database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from tests.fakes.slack_server import FakeSlack
from ykmake.monitoring.alerts.database import make_engine
from ykmake.monitoring.alerts.outbox import OutboxWorker
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.slack_delivery import SlackSender
from ykmake.monitoring.alerts.spool import AlertSpool
from ykmake.monitoring.alerts.store import AlertStore, Backoff
from ykmake.monitoring.logs.pipeline import LoggingConfig, LoggingRuntime
from ykmake.monitoring.metrics.families import MonitoringMetrics


class Outage:
    """Makes new connections to a database fail, as when the server is down."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.down = False
        event.listen(engine, "do_connect", self._connect)

    def _connect(self, *_args: Any, **_kw: Any) -> None:
        if self.down:
            raise OperationalError("connect", {}, ConnectionRefusedError("database is down"))

    def go_down(self) -> None:
        self.down = True
        self.engine.dispose()  # pooled connections die with the server

    def come_back(self) -> None:
        self.down = False


@dataclass
class AlertPath:
    engine: Engine
    store: AlertStore
    service: AlertService
    worker: OutboxWorker
    metrics: MonitoringMetrics
    logging: LoggingRuntime
    outage: Outage

    def deliver(self) -> Any:
        return asyncio.run(self.worker.deliver_once())

    def close(self) -> None:
        self.service.close()
        self.logging.close()
        self.engine.dispose()


def make_alert_service(
    store: AlertStore, tmp_path: Path, sender: SlackSender | None = None, *, name: str = "a"
) -> tuple[AlertService, LoggingRuntime]:
    """An AlertService on ``store`` with its own logging runtime (close both after use)."""
    runtime = LoggingRuntime(LoggingConfig(env="test", log_dir=tmp_path / f"logs-{name}"))
    runtime.writer.start()
    service = AlertService(
        store,
        AlertSpool(tmp_path / "spool"),
        sender,
        service="ykmake",
        environment="test",
        log=runtime.get_logger("ykmake.monitoring.alerts"),
    )
    return service, runtime


def build_alert_path(
    database_url: str,
    tmp_path: Path,
    slack: FakeSlack | None,
    *,
    storm_window: float = 600.0,
    backoff: Backoff | None = None,
    slack_timeout: float = 5.0,
    name: str = "a",
    lease: float = 120.0,
    webhook: bool = False,
) -> AlertPath:
    """The alert path as :class:`AlertParts` builds it; Slack by token and channel, or by its
    incoming webhook (``webhook``)."""
    engine = make_engine(database_url)
    outage = Outage(engine)
    api = slack is not None and not webhook
    sender = SlackSender(
        "xoxb-test" if api else None,
        "#alerts" if api else None,
        slack.webhook_url if slack is not None and webhook else None,
        api_url=slack.base_url if slack else "http://127.0.0.1:9/api/",
        timeout=slack_timeout,
    )
    store = AlertStore(
        engine,
        storm_window=timedelta(seconds=storm_window),
        notify=sender.configured,
        backoff=backoff or Backoff(base=0.05, cap=0.2, max_attempts=50),
        lease=timedelta(seconds=lease),
        channel=sender.channel_key,
    )
    store.create_tables()
    service, runtime = make_alert_service(store, tmp_path, sender, name=name)
    metrics = MonitoringMetrics(process_collectors=False)
    worker = OutboxWorker(
        service,
        notifications=metrics.alert_notifications_total,
        pending=metrics.alert_outbox_pending,
        interval=0.05,
    )
    service.on_recorded = worker.wake  # as AlertParts wires them
    return AlertPath(engine, store, service, worker, metrics, runtime, outage)


def deliver_until(path: AlertPath, done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Run delivery passes until ``done()`` holds (a deadline, not a fixed sleep)."""

    async def loop() -> None:
        async with asyncio.timeout(timeout):
            while not done():
                await path.worker.deliver_once()
                await asyncio.sleep(0.02)

    asyncio.run(loop())
