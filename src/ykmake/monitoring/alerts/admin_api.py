"""The admin API over the alert store: list, show, acknowledge and resolve alerts.

Routes (``Authorization: Bearer <ADMIN_TOKEN>`` on every one)::

    GET  /api/admin/alerts                 ?severity= &status= &source= &since= &page= &per_page=
    GET  /api/admin/alerts/{id}            the alert and its notifications
    POST /api/admin/alerts/{id}/ack        open → acknowledged (Slack stays quiet on repeats)
    POST /api/admin/alerts/{id}/resolve    → resolved (queues a "Resolved" Slack message)

Answers: 200 with JSON (:class:`AlertPage`, :class:`AlertDetail`, :class:`AlertOut`); 400 for
a bad filter; 401 without or with a wrong token; 404 for an unknown id; 503 when the database
cannot be read. Store calls run in a worker thread. The routes exist only when ADMIN_TOKEN is
set.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Final

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ykmake.monitoring.alerts.json_values import Rfc3339
from ykmake.monitoring.alerts.service import AlertService
from ykmake.monitoring.alerts.vocabulary import (
    AlertSource,
    AlertStatus,
    NotificationKind,
    NotificationStatus,
    Severity,
)

__all__ = [
    "ADMIN_ALERTS_PATH",
    "MAX_ALERT_ID",
    "AdminAPI",
    "AlertDetail",
    "AlertOut",
    "AlertPage",
    "AlertsQuery",
    "NotificationOut",
]

ADMIN_ALERTS_PATH: Final = "/api/admin/alerts"
MAX_ALERT_ID: Final = 2**31 - 1  # the id column is a 32-bit integer on PostgreSQL

Handler = Callable[[Request], Any]
Guard = Callable[[Request], Response | None]


class AlertsQuery(BaseModel):
    """The list's filters and page, from the query string."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity | None = None
    status: AlertStatus | None = None
    source: AlertSource | None = None
    since: Rfc3339 | None = None
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)

    def since_utc(self) -> datetime | None:
        """``since`` in UTC (a naive value is taken as UTC): the store compares UTC times."""
        if self.since is None:
            return None
        if self.since.tzinfo is None:
            return self.since.replace(tzinfo=UTC)
        return self.since.astimezone(UTC)


# The store's ISO 8601 text, served as it is ("+00:00", not re-rendered).
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class AlertOut(BaseModel):
    """One alert as the admin API answers it (the store's ``Alert.to_dict``)."""

    id: int
    severity: Severity
    title: str
    message: str
    details: dict[str, Any] | None
    source: AlertSource
    fingerprint: str
    status: AlertStatus
    occurrences: int
    first_seen: Timestamp
    last_seen: Timestamp
    acknowledged_at: Timestamp | None
    resolved_at: Timestamp | None


class NotificationOut(BaseModel):
    """One Slack message of an alert's outbox."""

    id: int
    alert_id: int
    kind: NotificationKind
    status: NotificationStatus
    attempts: int
    next_attempt_at: Timestamp
    last_error: str | None
    sent_at: Timestamp | None


class AlertDetail(AlertOut):
    """An alert with its notifications: ``GET /api/admin/alerts/{id}``."""

    notifications: list[NotificationOut]


class AlertPage(BaseModel):
    """One page of the list: ``GET /api/admin/alerts``."""

    items: list[AlertOut]
    total: int
    page: int
    per_page: int
    pages: int


class _BadRequestError(Exception):
    pass


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


def _answer(model: BaseModel) -> Response:
    """``model`` as JSON that always encodes: ``details`` are whatever an app sent, and a
    lone surrogate in them (valid in a Python str, not in UTF-8) goes out as its JSON
    escape ``\\udcff`` instead of failing the response; NaN goes out as null."""
    text = json.dumps(model.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode("utf-8", "backslashreplace"), media_type="application/json")


def parse_query(params: Any) -> AlertsQuery:
    """Validate the query string; raises _BadRequestError with one line naming the problem."""
    values = {k: v for k, v in params.items() if v != ""}  # "?status=" means no filter
    try:
        query = AlertsQuery.model_validate(values)
        query.since_utc()  # year 1 minus an offset overflows: a bad filter, not a crash
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False, include_context=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = "unknown filter; expected severity, status, source, since, page, per_page"
        reason = msg if err["type"] == "extra_forbidden" else err["msg"]
        raise _BadRequestError(f"{where}: {reason}") from None
    except OverflowError:
        raise _BadRequestError("since: out of range") from None
    return query


class AdminAPI:
    """The admin endpoints; built once per app by :func:`admin_routes`."""

    def __init__(self, service: AlertService, *, guard: Guard, log: Any) -> None:
        self.service = service
        self.store = service.store
        self._guard = guard
        self.log = log

    async def _call(self, request: Request, work: Callable[[], Response]) -> Response:
        denied = self._guard(request)
        if denied is not None:
            return denied
        try:
            return await anyio.to_thread.run_sync(work)
        except _BadRequestError as exc:
            return _error(400, "invalid_query", str(exc))
        except SQLAlchemyError as exc:
            self.log.error("admin API: alert store unavailable", error=repr(exc))
            return _error(503, "store_unavailable", "the alert store is unavailable; retry later")

    # -- handlers --------------------------------------------------------------------------
    async def list_alerts(self, request: Request) -> Response:
        return await self._call(request, partial(self._list, request.query_params))

    async def get_alert(self, request: Request) -> Response:
        return await self._call(request, partial(self._show, request.path_params["alert_id"]))

    async def ack(self, request: Request) -> Response:
        alert_id = request.path_params["alert_id"]
        return await self._call(request, partial(self._set, alert_id, AlertStatus.ACKNOWLEDGED))

    async def resolve(self, request: Request) -> Response:
        alert_id = request.path_params["alert_id"]
        return await self._call(request, partial(self._set, alert_id, AlertStatus.RESOLVED))

    # -- blocking work (worker thread) ------------------------------------------------------
    def _list(self, params: Any) -> Response:
        query = parse_query(params)
        items, total = self.store.list_alerts(
            severity=query.severity,
            status=query.status,
            source=query.source,
            since=query.since_utc(),
            limit=query.per_page,
            offset=(query.page - 1) * query.per_page,
        )
        page = AlertPage(
            items=[AlertOut.model_validate(item) for item in items],
            total=total,
            page=query.page,
            per_page=query.per_page,
            pages=math.ceil(total / query.per_page),
        )
        return _answer(page)

    def _show(self, raw_id: str) -> Response:
        alert_id = _parse_id(raw_id)
        alert = self.store.get_alert(alert_id) if alert_id is not None else None
        return _answer(AlertDetail.model_validate(alert)) if alert else _not_found(raw_id)

    def _set(self, raw_id: str, status: str) -> Response:
        alert_id = _parse_id(raw_id)
        alert = self.store.set_status(alert_id, status) if alert_id is not None else None
        if alert is None:
            return _not_found(raw_id)
        self.log.info("alert status changed by admin", alert_id=alert_id, status=alert["status"])
        if status == AlertStatus.RESOLVED and self.service.on_recorded is not None:
            self.service.on_recorded()  # a "Resolved" message may have been queued
        return _answer(AlertOut.model_validate(alert))

    def routes(self, prefix: str = ADMIN_ALERTS_PATH) -> list[Route]:
        item = prefix + "/{alert_id}"
        table: Sequence[tuple[str, Handler, str]] = (
            (prefix, self.list_alerts, "GET"),
            (item, self.get_alert, "GET"),
            (item + "/ack", self.ack, "POST"),
            (item + "/resolve", self.resolve, "POST"),
        )
        return [
            Route(path, handler, methods=[method], include_in_schema=False)
            for path, handler, method in table
        ]


def _parse_id(raw: str) -> int | None:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ALERT_ID else None


def _not_found(raw_id: str) -> JSONResponse:
    return _error(404, "not_found", f"no alert with id {raw_id[:40]!r}")
