"""Routes that exercise every signal; mounted only in development and test."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query

router = APIRouter(prefix="/api/debug", tags=["debug"])


class DebugError(RuntimeError):
    """Raised on purpose by /api/debug/error."""


@router.get("/error")
async def error() -> None:
    raise DebugError("debug error raised on purpose")


@router.get("/slow")
async def slow(ms: Annotated[int, Query(ge=0, le=10_000)] = 500) -> dict[str, int]:
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}
