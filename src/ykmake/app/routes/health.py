"""Liveness and readiness."""

from __future__ import annotations

from typing import Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

router = APIRouter(tags=["health"])


class Ready(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


class NotReady(BaseModel):
    status: Literal["unavailable"]
    failed: list[str]
    checks: dict[str, str]


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers. Touches nothing."""
    return {"status": "ok"}


def _check_database(request: Request) -> None:
    with request.app.state.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get(
    "/ready",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "The database or Redis does not answer"}},
)
async def ready(request: Request) -> JSONResponse:
    """Readiness: the database and, when configured, Redis answer."""
    checks: dict[str, Any] = {}
    try:
        await anyio.to_thread.run_sync(_check_database, request)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"failed: {type(exc).__name__}"
    redis = getattr(request.app.state, "redis", None)
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"failed: {type(exc).__name__}"
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        return JSONResponse({"status": "unavailable", "failed": failed, "checks": checks}, 503)
    return JSONResponse({"status": "ready", "checks": checks})
