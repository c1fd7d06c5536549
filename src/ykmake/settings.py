"""The YkMake service's settings: the monitoring toolkit's, plus the service's own knobs.

Priority, highest first: keyword arguments to :func:`load_settings`, environment variables,
the ``.env`` file, the defaults. Every variable is documented in ``.env.example`` and in the
README's configuration table.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from ykmake.monitoring.settings import (
    Environment,
    LogLevel,
    MonitoringSettings,
    check_database_url,
)

__all__ = ["Environment", "LogLevel", "Settings", "load_settings"]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class Settings(MonitoringSettings):
    """The toolkit's settings, the service's database and Redis, and its environment name.

    The service's database holds its alerts too: ``create_app`` hands its engine to the
    toolkit, so alerts are always on here and ``ALERT_DATABASE_URL`` is not read.
    """

    # The service has always called its environment variable YKMAKE_ENV.
    environment: Environment = Field(default="development", validation_alias="ykmake_env")
    database_url: str = "sqlite:///./ykmake.db"
    database_auto_migrate: bool = True
    # How long a request waits for the database (see ykmake.app.request_db): for a free
    # connection, for the work overall, for one statement (PostgreSQL), for a new connection.
    database_pool_timeout_seconds: float = Field(default=2.0, gt=0, le=600)
    database_request_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    database_statement_timeout_seconds: float = Field(default=5.0, gt=0, le=3600)
    database_connect_timeout_seconds: int = Field(default=2, ge=2, le=600)  # libpq's minimum
    redis_url: str | None = None
    session_secret: SecretStr | None = None
    active_users_window_seconds: float = Field(default=300.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_REDIS_SCHEMES):
            msg = "expected a redis://, rediss:// or unix:// URL"
            raise ValueError(msg)
        return value or None

    @property
    def debug_routes_enabled(self) -> bool:
        return self.environment in ("development", "test")


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; raise :class:`SettingsError` with one line naming the variable.

    Raises:
        SettingsError: a variable has a value outside what it accepts.
    """
    return Settings.load(**overrides)
