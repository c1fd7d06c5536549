"""Liveness and readiness."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ykmake.app.readiness import ReadinessProbe

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


@router.get(
    "/ready",
    response_model=Ready,
    responses={
        503: {
            "model": NotReady,
            "description": "The database does not answer or can't take writes, or Redis "
            "does not answer",
        }
    },
)
async def ready(request: Request) -> JSONResponse:
    """Readiness: the database can take writes and, when configured, Redis answers, within
    half a second."""
    probe: ReadinessProbe = request.app.state.readiness
    checks = await probe.checks()
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        return JSONResponse({"status": "unavailable", "failed": failed, "checks": checks}, 503)
    return JSONResponse({"status": "ready", "checks": checks})
