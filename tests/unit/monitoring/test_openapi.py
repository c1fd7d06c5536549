"""The toolkit's endpoints in a FastAPI app's OpenAPI document: only the parts that are on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ykmake.monitoring.alerts.admin_api import ADMIN_ALERTS_PATH
from ykmake.monitoring.alerts.alertmanager import WEBHOOK_PATH
from ykmake.monitoring.settings import MonitoringSettings
from ykmake.monitoring.setup import Monitoring, setup_monitoring

ALL_ON = {
    "alertmanager_webhook_token": "hook",
    "admin_token": "admin",
}


@pytest.fixture
def build(tmp_path: Path) -> Iterator[Any]:
    """setup_monitoring on a new app with these settings; closed after the test."""
    built: list[Monitoring] = []

    def factory(app: Starlette, **values: Any) -> Monitoring:
        if values:
            values.setdefault("alert_database_url", f"sqlite:///{tmp_path / 'alerts.db'}")
            values.setdefault("alert_spool_dir", tmp_path / "spool")
        settings = MonitoringSettings(
            _env_file=None, environment="test", log_dir=tmp_path / "logs", **values
        )
        mon = setup_monitoring(app, settings)
        built.append(mon)
        return mon

    yield factory
    for mon in built:
        if mon.alerts is not None:
            mon.alerts.close()
        mon.close()


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def test_nothing_on_documents_metrics_refused_without_a_token(build: Any) -> None:
    app = FastAPI()
    build(app)
    document = app.openapi()
    assert set(document["paths"]) == {"/metrics"}
    responses = document["paths"]["/metrics"]["get"]["responses"]
    assert set(responses) == {"200", "403"}  # no token: loopback only, never a 401
    assert set(responses["200"]["content"]) == {"text/plain", "application/openmetrics-text"}
    assert "securitySchemes" not in document["components"]


def test_every_part_on_documents_its_operations_with_their_schemas(build: Any) -> None:
    app = FastAPI()

    @app.get("/own")
    def own() -> dict[str, str]:
        return {}

    build(app, metrics_token="m", **ALL_ON)
    document = app.openapi()
    paths = document["paths"]
    item = ADMIN_ALERTS_PATH + "/{alert_id}"
    assert set(paths) == {
        "/own",
        "/metrics",
        WEBHOOK_PATH,
        ADMIN_ALERTS_PATH,
        item,
        item + "/ack",
        item + "/resolve",
    }
    schemes = document["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"bearer"}
    assert set(paths["/metrics"]["get"]["responses"]) == {"200", "401"}

    webhook = paths[WEBHOOK_PATH]["post"]
    body = resolve(
        document, webhook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    )
    assert {"version", "status", "receiver", "alerts"} <= set(body["required"])
    alert = resolve(document, body["properties"]["alerts"]["items"]["$ref"])
    assert {"startsAt", "fingerprint", "labels"} <= set(alert["required"])  # by alias
    assert set(webhook["responses"]) == {"200", "400", "401", "413", "503"}
    error = resolve(
        document, webhook["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
    )
    assert set(error["required"]) == {"error", "detail"}

    show = paths[item]["get"]
    assert set(show["responses"]) == {"200", "401", "404", "503"}
    assert show["parameters"][0]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 2**31 - 1,
    }
    listing = paths[ADMIN_ALERTS_PATH]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "severity", "status", "source", "since", "page", "per_page",
    }  # fmt: skip
    links = listing["responses"]["200"]["links"]
    operation_ids = {op["operationId"] for path in paths.values() for op in path.values()}
    assert {link["operationId"] for link in links.values()} <= operation_ids
    for ref in refs(document):  # every reference resolves in the one document
        resolve(document, ref)


@pytest.mark.parametrize(
    ("values", "webhook", "admin"),
    [({"alertmanager_webhook_token": "hook"}, True, False), ({"admin_token": "a"}, False, True)],
)
def test_a_part_that_is_off_is_not_documented(
    build: Any, values: dict[str, str], webhook: bool, admin: bool
) -> None:
    app = FastAPI()
    build(app, **values)
    paths = app.openapi()["paths"]
    assert (WEBHOOK_PATH in paths) is webhook
    assert (ADMIN_ALERTS_PATH in paths) is admin


def test_the_document_is_built_once_and_served(build: Any) -> None:
    app = FastAPI()
    build(app, **ALL_ON)
    assert app.openapi() is app.openapi()
    assert WEBHOOK_PATH in app.openapi()["paths"]


def test_a_starlette_app_gets_no_document(build: Any) -> None:
    app = Starlette()
    build(app, **ALL_ON)
    assert not hasattr(app, "openapi")
    assert RequestValidationError not in app.exception_handlers


def test_an_apps_own_validation_handler_is_kept(build: Any) -> None:
    app = FastAPI()

    async def mine(_request: Request, _exc: Exception) -> Response:
        return JSONResponse({"mine": True}, status_code=400)

    app.add_exception_handler(RequestValidationError, mine)
    build(app)
    assert app.exception_handlers[RequestValidationError] is mine
