"""``create_app(settings)``: the YkMake service with the monitoring toolkit wired in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from ykmake.app.db import make_engine, run_migrations
from ykmake.app.routes import debug, health, products
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
    engine = make_engine(settings.database_url)
    if settings.database_auto_migrate:
        run_migrations(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.active_users.start()
        try:
            yield
        finally:
            await app.state.active_users.stop()
            if app.state.redis is not None:
                await app.state.redis.aclose()

    app = FastAPI(
        title="YkMake",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None if settings.is_production else "/docs",
        redoc_url=None,
    )
    mon = setup_monitoring(app, settings, monitoring=monitoring, engine=engine)
    if mon.alerts is not None:
        # The alert worker uses this engine until the monitoring stops, after this app's
        # own lifespan has ended: the alert parts dispose of it last.
        mon.alerts.owns_engine = True
    instrument_engine(engine, mon.metrics)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = sessionmaker(engine, expire_on_commit=False)
    app.state.redis = aioredis.from_url(settings.redis_url) if settings.redis_url else None
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
