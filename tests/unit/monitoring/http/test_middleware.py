from __future__ import annotations

import asyncio
import os
import re
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.conftest import SettingsFactory
from tests.support.logs import access_lines, read_lines
from ykmake.monitoring.http.middleware import ObservabilityMiddleware, new_request_id
from ykmake.monitoring.logs.lines import AccessLog, bind_request_context, get_request_id
from ykmake.monitoring.logs.pipeline import LoggingConfig, configure_logging
from ykmake.monitoring.setup import Monitoring, setup_monitoring


async def hello(request: Request) -> JSONResponse:
    bind_request_context(user_id=42)
    return JSONResponse({"request_id": get_request_id()})


async def item(request: Request) -> PlainTextResponse:
    return PlainTextResponse(request.path_params["item_id"])


async def crash(request: Request) -> PlainTextResponse:
    raise ZeroDivisionError("division by zero on purpose")


async def stream(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk{i};".encode()

    return StreamingResponse(chunks())


def build_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/hello", hello),
            Route("/items/{item_id}", item),
            Route("/crash", crash),
            Route("/stream", stream),
            Mount("/sub", routes=[Route("/deep/{x}", item)]),
        ]
    )


@pytest.fixture
def app(make_settings: SettingsFactory) -> Iterator[Starlette]:
    app = build_app()
    mon = setup_monitoring(app, make_settings(trusted_proxies="10.0.0.0/8"))
    yield app
    mon.logging.close()


def client(app: Any, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 5555))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def logs(app: Starlette) -> list[dict[str, Any]]:
    mon: Monitoring = app.state.monitoring
    mon.logging.close()
    return access_lines(mon.settings.log_dir)


def _layers(app: Starlette) -> list[type]:
    """The classes of the app's built middleware stack, outermost first."""
    layers, node = [], app.middleware_stack
    while node is not None and not isinstance(node, type(app.router)):
        layers.append(type(node))
        node = getattr(node, "app", None)
    return layers


def _crash_once(app: Starlette) -> httpx.Response:
    async def go() -> httpx.Response:
        async with client(app) as c:
            return await c.get("/crash")

    return asyncio.run(go())


def get_id(response: httpx.Response) -> str:
    return response.headers["x-request-id"]


def test_request_id_is_generated_returned_and_logged(app: Starlette) -> None:
    async def go() -> httpx.Response:
        async with client(app) as c:
            return await c.get("/hello", headers={"User-Agent": "probe/1"})

    response = asyncio.run(go())
    rid = response.headers["x-request-id"]
    assert len(rid) == 32
    assert response.json() == {"request_id": rid}
    (line,) = logs(app)
    assert line["request_id"] == rid
    assert line["user_id"] == 42
    assert line["method"] == "GET"
    assert line["path"] == "/hello"
    assert line["route"] == "/hello"
    assert line["status"] == 200
    assert line["user_agent"] == "probe/1"
    assert line["client_ip"] == "127.0.0.1"
    assert isinstance(line["duration_ms"], float)


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("abc-123_DEF.9", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("bad id with spaces", False),
        ("<script>", False),
        ("", False),
    ],
)
def test_incoming_request_id_is_kept_only_when_valid(
    app: Starlette, incoming: str, kept: bool
) -> None:
    async def go() -> httpx.Response:
        async with client(app) as c:
            return await c.get("/hello", headers={"X-Request-ID": incoming})

    rid = asyncio.run(go()).headers["x-request-id"]
    assert (rid == incoming) is kept


@pytest.mark.parametrize(
    "incoming",
    ["token=abc123", "xoxb-1-2-abcDEF", "postgresql://u:pw@db/app", "a-session-secret-value"],
)
def test_an_incoming_request_id_that_is_a_secret_is_replaced(
    make_settings: SettingsFactory, incoming: str
) -> None:
    app = build_app()
    mon = setup_monitoring(app, make_settings(session_secret="a-session-secret-value"))

    async def go() -> httpx.Response:
        async with client(app) as c:
            return await c.get("/hello", headers={"X-Request-ID": incoming})

    rid = get_id(asyncio.run(go()))
    assert rid != incoming
    assert len(rid) == 32
    mon.logging.close()
    text = (mon.settings.log_dir / "combined.log").read_text()
    assert incoming not in text
    assert rid in text


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),  # trusted proxy: honoured
        ("10.1.2.3", "198.51.100.1, 203.0.113.9, 10.9.9.9", "203.0.113.9"),
        ("192.0.2.50", "203.0.113.9", "192.0.2.50"),  # untrusted peer: ignored
    ],
)
def test_forwarded_for_only_from_trusted_proxies(
    app: Starlette, peer: str, xff: str, expected: str
) -> None:
    async def go() -> None:
        async with client(app, peer) as c:
            await c.get("/hello", headers={"X-Forwarded-For": xff})

    asyncio.run(go())
    (line,) = logs(app)
    assert line["client_ip"] == expected


def test_route_template_not_raw_path(app: Starlette) -> None:
    async def go() -> None:
        async with client(app) as c:
            await c.get("/items/1")
            await c.get("/items/2")
            await c.get("/sub/deep/9")
            await c.get("/no/such/page")

    asyncio.run(go())
    routes = [ln["route"] for ln in logs(app)]
    assert routes == ["/items/{item_id}", "/items/{item_id}", "/sub/deep/{x}", "unmatched"]


def test_unhandled_exception_is_a_json_500_with_traceback_in_error_log(app: Starlette) -> None:
    response = _crash_once(app)
    rid = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "request_id": rid}
    assert "Traceback" not in response.text
    (access,) = logs(app)
    assert access["status"] == 500
    errors = read_lines(app.state.monitoring.settings.log_dir / "error.log")
    assert len(errors) == 1
    assert errors[0]["request_id"] == rid
    assert "ZeroDivisionError" in errors[0]["exception"]
    assert (
        app.state.monitoring.metrics.registry.get_sample_value(
            "errors_total", {"type": "ZeroDivisionError", "severity": "error"}
        )
        == 1.0
    )


def test_the_json_500_is_answered_by_the_middleware_alone(app: Starlette) -> None:
    response = _crash_once(app)
    assert response.json() == {"error": "internal_error", "request_id": get_id(response)}
    # Starlette's ServerErrorMiddleware would only answer the same 500: not in the stack.
    layers = _layers(app)
    assert layers[0] is ObservabilityMiddleware
    assert ServerErrorMiddleware not in layers


def test_a_debug_app_keeps_starlette_s_traceback(make_settings: SettingsFactory) -> None:
    app = Starlette(debug=True, routes=[Route("/crash", crash)])
    mon = setup_monitoring(app, make_settings())
    try:
        response = _crash_once(app)
        assert response.status_code == 500
        assert "ZeroDivisionError: division by zero on purpose" in response.text
        assert get_id(response)
        (line,) = logs(app)
        assert line["status"] == 500
        assert line["request_id"] == get_id(response)
        assert ServerErrorMiddleware in _layers(app)
    finally:
        mon.logging.close()


def test_the_app_s_own_500_handler_answers_when_set_after_setup(
    make_settings: SettingsFactory,
) -> None:
    async def own_500(_request: Request, _exc: Exception) -> PlainTextResponse:
        return PlainTextResponse("our own apology", status_code=503)

    app = Starlette(routes=[Route("/crash", crash)])
    mon = setup_monitoring(app, make_settings())
    app.add_exception_handler(Exception, own_500)
    try:
        response = _crash_once(app)
        assert (response.status_code, response.text) == (503, "our own apology")
        (line,) = logs(app)
        assert (line["status"], line["request_id"]) == (503, get_id(response))
        errors = read_lines(mon.settings.log_dir / "error.log")
        assert len(errors) == 1  # captured once, by the middleware
        assert "ZeroDivisionError" in errors[0]["exception"]
    finally:
        mon.logging.close()


def test_streaming_response_passes_through(app: Starlette) -> None:
    async def go() -> httpx.Response:
        async with client(app) as c:
            return await c.get("/stream")

    response = asyncio.run(go())
    assert response.text == "chunk0;chunk1;chunk2;"
    assert "x-request-id" in response.headers
    (line,) = logs(app)
    assert line["event"] == "request completed"


def test_metrics_path_is_not_logged_or_counted(app: Starlette) -> None:
    async def go() -> None:
        async with client(app) as c:
            await c.get("/metrics")

    asyncio.run(go())
    assert logs(app) == []
    registry = app.state.monitoring.metrics.registry
    assert (
        registry.get_sample_value(
            "http_requests_total", {"method": "GET", "path": "/metrics", "status_code": "200"}
        )
        is None
    )


def test_non_http_scopes_pass_through_untouched(tmp_path: Path) -> None:
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])
        await send({"type": "done"})

    runtime = configure_logging(LoggingConfig(log_dir=tmp_path))
    middleware = ObservabilityMiddleware(inner, access_log=AccessLog(runtime))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def go() -> None:
        await middleware({"type": "lifespan"}, receive, send)
        await middleware({"type": "websocket", "path": "/ws", "headers": []}, receive, send)

    asyncio.run(go())
    runtime.close()
    assert seen == ["lifespan", "websocket"]
    assert sent == [{"type": "done"}, {"type": "done"}]
    assert access_lines(tmp_path) == []


def test_plain_router_routes_are_labelled(make_settings: SettingsFactory) -> None:
    """Routes added with add_route (no FastAPI) still get their template."""
    app = Starlette()
    app.add_route("/plain/{item_id}", item)
    mon = setup_monitoring(app, make_settings())

    async def go() -> None:
        async with client(app) as c:
            await c.get("/plain/5")

    asyncio.run(go())
    assert (
        mon.metrics.registry.get_sample_value(
            "http_requests_total",
            {"method": "GET", "path": "/plain/{item_id}", "status_code": "200"},
        )
        == 1.0
    )
    mon.logging.close()


def served_once(
    tmp_path: Path, app: ASGIApp, path: str, receive: Callable[[], Awaitable[Message]]
) -> dict[str, Any]:
    """The access line of one GET ``path`` through the middleware, off uvicorn, with the
    server's ``receive``."""
    runtime = configure_logging(LoggingConfig(log_dir=tmp_path))
    middleware = ObservabilityMiddleware(app, access_log=AccessLog(runtime))
    scope: Scope = {"type": "http", "method": "GET", "path": path, "headers": [], "client": None}

    async def send(message: Message) -> None:
        return None

    asyncio.run(middleware(scope, receive, send))
    runtime.close()
    (line,) = access_lines(tmp_path)
    return line


@pytest.mark.parametrize(
    ("client_left", "event"),
    [(True, "connection closed prematurely"), (False, "request completed")],
)
def test_any_server_s_disconnect_is_noticed_for_a_plain_response(
    tmp_path: Path, client_left: bool, event: str
) -> None:
    """Off uvicorn, the server's receive() is stepped once: an immediate http.disconnect means
    the client left, a receive() that suspends means it is still there."""
    gone = asyncio.Event()
    if client_left:
        gone.set()

    async def receive() -> Message:
        await gone.wait()
        return {"type": "http.disconnect"}

    line = served_once(tmp_path, PlainTextResponse("slow answer"), "/slow", receive)
    assert line["event"] == event
    assert line["path"] == "/slow"


def test_a_stream_cut_short_by_the_client_is_a_premature_close(tmp_path: Path) -> None:
    """A streaming app that sees http.disconnect and stops before its last body: the line
    says the connection closed prematurely, with the status already sent."""

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first chunk", "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass  # what a stream does while it waits for the client to leave

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    line = served_once(tmp_path, stream, "/feed", receive)
    assert line["event"] == "connection closed prematurely"
    assert line["status"] == 200


def test_generated_request_ids_are_unique_and_a_forked_worker_shares_none() -> None:
    ids = [new_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch("[0-9a-f]{32}", i) for i in ids)
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork beside other threads
        pid = os.fork()
    if pid == 0:  # the worker: what it draws next must not be what the parent draws next
        try:
            os.write(write_end, new_request_id().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        child = os.read(read_end, 64).decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert re.fullmatch("[0-9a-f]{32}", child)
    assert child != new_request_id()
    assert child not in ids
