"""An app for kill -9: ``GET /fail/{n}`` raises an error of its own kind for each ``n``, so n
requests raise n distinct alerts. Configured from the environment, as any app on the toolkit.

Run by tests as ``python -m uvicorn tests.integration.alerts.crash_app:app``.
"""

from __future__ import annotations

from fastapi import FastAPI

from ykmake.monitoring import MonitoringSettings, setup_monitoring

app = FastAPI(title="crash")
setup_monitoring(app, MonitoringSettings.load())
_KINDS: dict[int, type[RuntimeError]] = {}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/fail/{n}")
async def fail(n: int) -> None:
    # A class per n: the alert's fingerprint is the exception's type and innermost frame.
    kind = _KINDS.setdefault(n, type(f"Failure{n}", (RuntimeError,), {}))
    raise kind(f"failure number {n}")
