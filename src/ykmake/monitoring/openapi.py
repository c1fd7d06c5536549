"""What the toolkit adds to a FastAPI app: its endpoints in the OpenAPI document, and a 422
for a validation error that always renders.

``/metrics``, the Alertmanager webhook and the admin API are plain Starlette routes, so they
work in any ASGI app, and FastAPI does not see them. For a FastAPI app, ``setup_monitoring``
extends ``app.openapi()`` with their path items, only for the parts that are on, built from
the same pydantic models the endpoints validate and answer with; every refusal is an
:class:`ErrorBody`. It also replaces FastAPI's default validation-error handler, which raises
on a body it cannot echo (see :mod:`.http.validation`): that 500 would page the on-call for a
stranger's malformed request, which is the toolkit's business. A Starlette app has no
OpenAPI document and no such handler, and gets nothing.

Component schemas are named ``monitoring.<Model>``, so they never collide with an app's own.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, Field
from pydantic.json_schema import JsonSchemaMode

from ykmake.monitoring.alerts.admin_api import (
    ADMIN_ALERTS_PATH,
    MAX_ALERT_ID,
    AlertDetail,
    AlertOut,
    AlertPage,
    AlertsQuery,
)
from ykmake.monitoring.alerts.alertmanager import (
    WEBHOOK_PATH,
    AlertmanagerPayload,
    WebhookSummary,
    WebhookUnavailable,
)
from ykmake.monitoring.http.validation import validation_error_response

if TYPE_CHECKING:  # setup builds Monitoring and imports this module
    from ykmake.monitoring.setup import Monitoring

__all__ = ["ErrorBody", "extend_fastapi", "extend_openapi", "monitoring_openapi"]

TAG: Final = "monitoring"
_PREFIX: Final = "monitoring."
_REF: Final = "#/components/schemas/" + _PREFIX + "{model}"
Document = dict[str, Any]


class ErrorBody(BaseModel):
    """Every refusal of the toolkit's endpoints (401, 403, 400, 404, 413, 503)."""

    error: str = Field(description="a stable code: unauthorized, forbidden, not_found, …")
    detail: str = Field(description="what is wrong, for a person")


class _Components:
    """Collects component schemas while the path items refer to them."""

    def __init__(self) -> None:
        self.schemas: Document = {}
        self.security: Document = {}

    def ref(self, model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> Document:
        schema = model.model_json_schema(by_alias=True, ref_template=_REF, mode=mode)
        for name, definition in schema.pop("$defs", {}).items():
            self.schemas[_PREFIX + name] = definition
        self.schemas[_PREFIX + model.__name__] = schema
        return {"$ref": _REF.format(model=model.__name__)}

    def bearer(self, name: str, setting: str) -> list[dict[str, list[str]]]:
        self.security[name] = {
            "type": "http",
            "scheme": "bearer",
            "description": f"the value of {setting}",
        }
        return [{name: []}]

    def json(self, description: str, model: type[BaseModel]) -> Document:
        content = {"application/json": {"schema": self.ref(model)}}
        return {"description": description, "content": content}

    def error(self, description: str) -> Document:
        return self.json(description, ErrorBody)


def _operation(summary: str, operation_id: str, **fields: Any) -> Document:
    return {"tags": [TAG], "summary": summary, "operationId": operation_id, **fields}


def _metrics(c: _Components, guarded: bool) -> Document:
    text = {"schema": {"type": "string"}}
    responses: Document = {
        "200": {
            "description": "The Prometheus text format, or OpenMetrics when Accept asks for it",
            "content": {"text/plain": text, "application/openmetrics-text": text},
        }
    }
    guard: Document = {}
    if guarded:
        responses["401"] = c.error("No bearer token, or a wrong one")
        guard["security"] = c.bearer("metricsToken", "METRICS_TOKEN or ADMIN_TOKEN")
    else:
        responses["403"] = c.error("No token is configured: loopback only, never in production")
    return {
        "get": _operation("Prometheus metrics", "monitoring_metrics", responses=responses, **guard)
    }


def _webhook(c: _Components, admin: bool) -> Document:
    body = {"application/json": {"schema": c.ref(AlertmanagerPayload, "validation")}}
    summary = c.json("What the call did", WebhookSummary)
    if admin:  # the alerts it stored are in the admin API's list
        summary["links"] = {"ListAlerts": {"operationId": "monitoring_list_alerts"}}
    unavailable = c.json("A resolve failed in the database; retry later", WebhookUnavailable)
    unavailable["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    operation = _operation(
        "Alertmanager webhook (payload version 4)",
        "monitoring_alertmanager_webhook",
        description="Firing alerts are stored and sent to Slack; resolved ones resolve theirs. "
        "The whole payload is validated first: a 4xx stores nothing.",
        security=c.bearer("alertmanagerToken", "ALERTMANAGER_WEBHOOK_TOKEN"),
        requestBody={"required": True, "content": body},
        responses={
            "200": summary,
            "400": c.error("The body is not a valid version 4 payload"),
            "401": c.error("No bearer token, or a wrong one"),
            "413": c.error("The body is larger than WEBHOOK_MAX_BODY_BYTES"),
            "503": unavailable,
        },
    )
    return {"post": operation}


def _query_parameters() -> list[Document]:
    schema = AlertsQuery.model_json_schema(ref_template=_REF)
    properties: Document = schema["properties"]
    defs: Document = schema.get("$defs", {})

    def inline(prop: Document) -> Document:
        # Enum filters are small: inlined, so a parameter reads on its own.
        ref = prop.get("$ref", "")
        return dict(defs[ref.rsplit(".", 1)[-1]]) if ref else prop

    params = []
    for name, prop in properties.items():
        # A query string has no null: a filter that is left out is None.
        options = [inline(o) for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
        schema = options[0] if len(options) == 1 else {"anyOf": options}
        # "?status=" is no filter, as a form left blank sends it.
        params.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "allowEmptyValue": True,
                "schema": schema,
            }
        )
    return params


def _admin(c: _Components) -> Document:
    security = c.bearer("adminToken", "ADMIN_TOKEN")
    alert_id = {
        "name": "alert_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ALERT_ID},
    }
    common: Document = {
        "401": c.error("No bearer token, or a wrong one"),
        "503": c.error("The alert store is unavailable; retry later"),
    }
    unknown = {**common, "404": c.error("No alert with this id")}
    by_id = "$request.path.alert_id"
    show_link = {"operationId": "monitoring_show_alert", "parameters": {"alert_id": by_id}}
    first = "$response.body#/items/0/id"

    def change(verb: str, op_id: str) -> Document:
        ok = c.json(f"The alert, {verb}", AlertOut)
        ok["links"] = {"ShowAlert": show_link}
        return _operation(
            f"{verb.capitalize()} an alert",
            op_id,
            security=security,
            parameters=[alert_id],
            responses={"200": ok, **unknown},
        )

    page = c.json("A page of alerts, the most recent first", AlertPage)
    page["links"] = {
        name: {"operationId": op, "parameters": {"alert_id": first}}
        for name, op in (
            ("ShowAlert", "monitoring_show_alert"),
            ("AcknowledgeAlert", "monitoring_acknowledge_alert"),
            ("ResolveAlert", "monitoring_resolve_alert"),
        )
    }
    item = ADMIN_ALERTS_PATH + "/{alert_id}"
    return {
        ADMIN_ALERTS_PATH: {
            "get": _operation(
                "List alerts",
                "monitoring_list_alerts",
                security=security,
                parameters=_query_parameters(),
                responses={"200": page, "400": c.error("A bad filter"), **common},
            )
        },
        item: {
            "get": _operation(
                "Show an alert and its notifications",
                "monitoring_show_alert",
                security=security,
                parameters=[alert_id],
                responses={"200": c.json("The alert", AlertDetail), **unknown},
            )
        },
        item + "/ack": {"post": change("acknowledged", "monitoring_acknowledge_alert")},
        item + "/resolve": {"post": change("resolved", "monitoring_resolve_alert")},
    }


def monitoring_openapi(mon: Monitoring) -> tuple[Document, Document]:
    """``(paths, components)`` for the toolkit's endpoints that are on in ``mon``."""
    s, c = mon.settings, _Components()
    paths: Document = {
        s.metrics_path: _metrics(c, s.metrics_token is not None or s.admin_token is not None)
    }
    admin = mon.alerts is not None and s.admin_token is not None
    if mon.alerts is not None and s.alertmanager_webhook_token is not None:
        paths[WEBHOOK_PATH] = _webhook(c, admin)
    if admin:
        paths.update(_admin(c))
    components: Document = {"schemas": c.schemas}
    if c.security:
        components["securitySchemes"] = c.security
    return paths, components


def _merge(document: Document, paths: Document, components: Document) -> None:
    document.setdefault("paths", {}).update(paths)
    tags = document.setdefault("tags", [])
    if all(tag.get("name") != TAG for tag in tags):
        tags.append({"name": TAG, "description": "The monitoring toolkit's own endpoints"})
    for kind, entries in components.items():
        document.setdefault("components", {}).setdefault(kind, {}).update(entries)


def extend_openapi(app: Any, mon: Monitoring) -> None:
    """Make ``app.openapi()`` (a FastAPI app's) include the toolkit's endpoints."""
    build: Callable[[], Document] = app.openapi
    paths, components = monitoring_openapi(mon)

    def openapi() -> Document:
        if app.openapi_schema is None:  # built once and kept, as FastAPI's own does
            document = build()
            _merge(document, paths, components)
            app.openapi_schema = document
        kept: Document = app.openapi_schema
        return kept

    app.openapi = openapi


def extend_fastapi(app: Any, mon: Monitoring) -> None:
    """For a FastAPI app: the toolkit's endpoints in its document, and the 422 handler
    (unless the app installed its own). Anything else is left alone."""
    # A FastAPI app means FastAPI is imported already; a Starlette app never loads it.
    fastapi = sys.modules.get("fastapi")
    if fastapi is None or not isinstance(app, fastapi.FastAPI):
        return
    extend_openapi(app, mon)
    from fastapi.exception_handlers import request_validation_exception_handler
    from fastapi.exceptions import RequestValidationError

    current = app.exception_handlers.get(RequestValidationError)
    if current in (None, request_validation_exception_handler):
        app.add_exception_handler(RequestValidationError, validation_error_response)
