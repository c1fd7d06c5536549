"""Streaming responses and websockets pass through the middleware unharmed, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect

from tests.conftest import SettingsFactory
from tests.support.logs import access_lines
from tests.support.server import serve, wait_until
from ykmake.monitoring.setup import setup_monitoring

pytestmark = pytest.mark.integration


async def stream(_request: Request) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for i in range(50):
            yield f"{i:03d}\n".encode()

    return StreamingResponse(body(), media_type="text/plain")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text.upper())


def test_streaming_and_websocket(make_settings: SettingsFactory) -> None:
    app = Starlette(routes=[Route("/stream", stream), WebSocketRoute("/ws", echo)])
    mon = setup_monitoring(app, make_settings())
    try:
        with serve(app) as base:
            response = httpx.get(f"{base}/stream")
            assert response.text == "".join(f"{i:03d}\n" for i in range(50))
            with connect(base.replace("http", "ws") + "/ws") as ws:
                ws.send("hello")
                assert ws.recv(timeout=5) == "HELLO"
            lines: list[dict[str, Any]] = wait_until(lambda: access_lines(mon.settings.log_dir))
        assert [(ln["route"], ln["status"]) for ln in lines] == [("/stream", 200)]
    finally:
        mon.logging.close()
