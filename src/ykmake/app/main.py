"""``create_app(settings)``: the YkMake service with the monitoring toolkit wired in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI

from ykmake.app.db import make_engine, request_limits, run_migrations
from ykmake.app.readiness import ReadinessProbe
from ykmake.app.request_db import DatabaseUnavailableError, RequestDatabase
from ykmake.app.routes import debug, health, products
from ykmake.app.unavailable import unavailable_handler
from ykmake.monitoring.metrics.active_users import ActiveUsers
from ykmake.monitoring.metrics.db import instrument_engine
from ykmake.monitoring.settings import without_password
from ykmake.monitoring.setup import Monitoring, setup_monitoring
from ykmake.settings import Settings, load_settings

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None, *, monitoring: Monitoring | None = None
) -> FastAPI:
    """Build the service. Settings are read from the environment when not given."""
    settings = settings or load_settings()
    limits = request_limits(settings)
    engine = make_engine(settings.database_url, limits)
    if settings.database_auto_migrate:
        run_migrations(engine)
    database = RequestDatabase(
        engine,
        threads=limits.pool_size + limits.max_overflow,
        pool_timeout=limits.pool_timeout,
        timeout=settings.database_request_timeout_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.active_users.start()
        try:
            yield
        finally:
            await app.state.active_users.stop()
            app.state.readiness.close()
            if app.state.redis is not None:
                await app.state.redis.aclose()
            database.close()
            engine.dispose()  # the alert store has an engine of its own (AlertParts)

    app = FastAPI(
        title="YkMake",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None if settings.is_production else "/docs",
        redoc_url=None,
    )
    mon = setup_monitoring(app, settings, monitoring=monitoring, engine=engine)
    instrument_engine(engine, mon.metrics)
    app.add_exception_handler(
        DatabaseUnavailableError, unavailable_handler(settings.database_request_timeout_seconds)
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.database = database
    app.state.sessions = database.sessions
    app.state.redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
    app.state.readiness = ReadinessProbe(
        settings.database_url,
        app.state.redis,
        connect_timeout=settings.database_connect_timeout_seconds,
    )
    app.state.active_users = ActiveUsers(
        mon.metrics.active_users,
        window_seconds=settings.active_users_window_seconds,
        redis=app.state.redis,
        log=mon.log,
        redis_name=f"REDIS_URL={without_password(settings.redis_url)}",
    )
    mon.before_scrape.append(app.state.active_users.before_scrape)

    app.include_router(health.router)
    app.include_router(products.router)
    if settings.debug_routes_enabled:
        app.include_router(debug.router)
    return app
