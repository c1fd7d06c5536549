"""One successful request, followed through the toolkit: the modules it runs in."""

from __future__ import annotations

import threading
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.server import serve
from ykmake.monitoring.settings import MonitoringSettings
from ykmake.monitoring.setup import setup_monitoring

TOOLKIT = Path(__file__).resolve().parents[3] / "src" / "ykmake" / "monitoring"


def _inside_the_middleware(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_qualname == "ObservabilityMiddleware.__call__":
            return True
        frame = frame.f_back
    return False


def test_a_successful_request_runs_in_four_toolkit_modules(tmp_path: Path) -> None:
    """The middleware, the route template, the log line and the metric: nothing else of the
    toolkit runs for a request under uvicorn once the app has served its first one."""
    seen: set[str] = set()
    watching = threading.Event()

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if watching.is_set() and event == "call" and _inside_the_middleware(frame):
            path = Path(frame.f_code.co_filename)
            if path.is_relative_to(TOOLKIT):
                seen.add(path.relative_to(TOOLKIT).as_posix())

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    settings = MonitoringSettings(_env_file=None, environment="production", log_dir=tmp_path)
    mon = setup_monitoring(app, settings)
    threading.setprofile(profile)  # the server's thread, started below, is followed
    try:
        with serve(app) as base, httpx.Client(base_url=base) as client:
            # The first: caches, the server, the user agent's check for secrets.
            assert client.get("/items/1", headers={"User-Agent": "probe"}).status_code == 200
            watching.set()
            assert client.get("/items/2", headers={"User-Agent": "probe"}).status_code == 200
            watching.clear()
    finally:
        threading.setprofile(None)  # switches it off
        mon.close()
    assert seen == {
        "http/middleware.py",
        "http/routes.py",
        "logs/lines.py",
        "metrics/http.py",
    }
