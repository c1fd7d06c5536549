"""The toolkit's own endpoints on an app, each behind its bearer check: ``/metrics`` always,
the Alertmanager webhook and the admin API when alerts and their tokens are on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr
from starlette.routing import BaseRoute, Route

from ykmake.monitoring.alerts.admin_api import AdminAPI
from ykmake.monitoring.alerts.alertmanager import AlertmanagerWebhook
from ykmake.monitoring.http.auth import BearerGuard
from ykmake.monitoring.metrics.endpoint import MetricsEndpoint

if TYPE_CHECKING:  # setup builds Monitoring and imports this module
    from ykmake.monitoring.setup import Monitoring

__all__ = ["endpoints"]


def _guard(
    mon: Monitoring, realm: str, tokens: list[SecretStr | None], *, subject: str, setting: str
) -> BearerGuard:
    return BearerGuard(
        realm,
        [t.get_secret_value() for t in tokens if t is not None],
        subject=subject,
        setting=setting,
        loopback_without_token=not mon.settings.is_production,
    )


def endpoints(mon: Monitoring) -> list[BaseRoute]:
    """``/metrics``, and the webhook and the admin API when they are on."""
    s = mon.settings
    metrics_guard = _guard(
        mon,
        "metrics",
        [s.metrics_token, s.admin_token],
        subject=s.metrics_path,
        setting="METRICS_TOKEN or ADMIN_TOKEN",
    )
    scrape = MetricsEndpoint(
        mon.scrape_registry,
        const_labels=mon.metrics.const_labels,
        guard=metrics_guard.denied,
        before_scrape=mon.before_scrape,
        log=mon.log,
    )
    routes: list[BaseRoute] = [
        Route(s.metrics_path, scrape.handle, methods=["GET"], include_in_schema=False)
    ]
    if mon.alerts is None:
        return routes
    service = mon.alerts.service
    if s.alertmanager_webhook_token is not None:
        guard = _guard(
            mon,
            "alertmanager",
            [s.alertmanager_webhook_token],
            subject="the webhook",
            setting="ALERTMANAGER_WEBHOOK_TOKEN",
        )
        webhook = AlertmanagerWebhook(
            service, guard=guard.denied, max_body_bytes=s.webhook_max_body_bytes, log=service.log
        )
        routes.extend(webhook.routes())
    if s.admin_token is not None:
        guard = _guard(
            mon, "admin", [s.admin_token], subject="the admin API", setting="ADMIN_TOKEN"
        )
        routes.extend(AdminAPI(service, guard=guard.denied, log=service.log).routes())
    return routes
