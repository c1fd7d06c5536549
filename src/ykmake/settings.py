"""The one settings object, read from the environment (and an optional ``.env``) once.

Priority, highest first: keyword arguments to :func:`load_settings`, environment variables,
the ``.env`` file, the defaults below. Every variable is documented in ``.env.example`` and in
the README's configuration table.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ykmake.errors import SettingsError

__all__ = ["Environment", "LogLevel", "Settings", "load_settings"]

Environment = Literal["development", "production", "test"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DB_SCHEMES = ("sqlite", "postgresql")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_USERINFO_PASSWORD = re.compile(r"://([^:/@]*):[^@/]*@")


class Settings(BaseSettings):
    """Every knob of the service and of the monitoring toolkit."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    ykmake_env: Environment = "development"
    database_url: str = "sqlite:///./ykmake.db"
    database_auto_migrate: bool = True
    redis_url: str | None = None
    session_secret: SecretStr | None = None
    admin_token: SecretStr | None = None

    log_dir: Path = Path("logs")
    log_level: LogLevel | None = None
    log_to_stdout: bool = False
    log_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    log_backup_count: int = Field(default=5, ge=1, le=100)

    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = ()
    request_id_header: str = "X-Request-ID"

    metrics_token: SecretStr | None = None
    active_users_window_seconds: float = Field(default=300.0, gt=0)
    metrics_exemplars: bool = True
    # prometheus_client's own variable: set by `ykmake serve --workers N` for its workers.
    prometheus_multiproc_dir: Path | None = None

    slack_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_webhook_url: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_timeout_seconds: float = Field(default=10.0, gt=0)

    sentry_dsn: SecretStr | None = None
    sentry_traces_sample_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    sentry_release: str | None = None

    alert_storm_window_seconds: float = Field(default=600.0, gt=0)
    alert_max_attempts: int = Field(default=12, ge=1, le=100)
    alert_backoff_base_seconds: float = Field(default=2.0, gt=0)
    alert_backoff_max_seconds: float = Field(default=600.0, gt=0)
    alert_worker_interval_seconds: float = Field(default=1.0, gt=0)
    alert_spool_dir: Path = Path(".ykmake/spool")

    alertmanager_webhook_token: SecretStr | None = None
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(
                ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            msg = "expected a URL such as sqlite:///./ykmake.db or postgresql://user@host:5432/db"
            raise ValueError(msg) from None
        if url.get_backend_name() not in _DB_SCHEMES:
            msg = f"expected a sqlite:// or postgresql:// URL, got scheme {url.drivername!r}"
            raise ValueError(msg)
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_REDIS_SCHEMES):
            msg = "expected a redis://, rediss:// or unix:// URL"
            raise ValueError(msg)
        return value or None

    @property
    def is_production(self) -> bool:
        return self.ykmake_env == "production"

    @property
    def effective_log_level(self) -> LogLevel:
        """The configured level, or the seed's default: info in production, debug otherwise."""
        if self.log_level is not None:
            return self.log_level
        return "info" if self.is_production else "debug"

    @property
    def effective_traces_sample_rate(self) -> float:
        """The configured rate, or the seed's default: 0.1 in production, 1.0 otherwise."""
        if self.sentry_traces_sample_rate is not None:
            return self.sentry_traces_sample_rate
        return 0.1 if self.is_production else 1.0

    @property
    def debug_routes_enabled(self) -> bool:
        return self.ykmake_env in ("development", "test")


_SECRET_FIELDS = frozenset(
    name for name, field in Settings.model_fields.items() if "SecretStr" in repr(field.annotation)
)


def _hide_password(value: Any) -> Any:
    return _USERINFO_PASSWORD.sub(r"://\1:***@", value) if isinstance(value, str) else value


def _describe(error: dict[str, Any]) -> str:
    loc = error.get("loc") or ("?",)
    name = str(loc[0]).upper()
    value = error.get("input")
    shown = "***" if str(loc[0]) in _SECRET_FIELDS else repr(_hide_password(value))
    reason = str(error.get("msg", "invalid value"))
    reason = reason.removeprefix("Value error, ")
    return f"{name}={shown} is invalid: {reason}"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; raise :class:`SettingsError` with one line naming the variable.

    Raises:
        SettingsError: a variable has a value outside what it accepts.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(dict(e)) for e in exc.errors())) from None
    except ValueError as exc:  # raised by ip_network inside a before-validator
        raise SettingsError(f"TRUSTED_PROXIES is invalid: {exc}") from None
