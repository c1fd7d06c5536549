"""``MonitoringSettings``: the toolkit's own settings, read from the environment once.

Priority, highest first: keyword arguments, environment variables, the ``.env`` file, the
defaults below. An app extends the class with its own knobs (YkMake's ``Settings`` does) or
builds one in code. Each part of the toolkit is on when its settings say so:

=========================  ====================================================================
always                     request ids, the access log under ``LOG_DIR``, ``/metrics``
alerts                     ``ALERT_DATABASE_URL`` (or an engine passed to ``setup_monitoring``);
                           Slack delivery with ``SLACK_TOKEN`` + ``SLACK_CHANNEL`` or
                           ``SLACK_WEBHOOK_URL``
Sentry                     ``SENTRY_DSN``
Alertmanager intake        ``ALERTMANAGER_WEBHOOK_TOKEN`` (alerts on)
admin API                  ``ADMIN_TOKEN`` (alerts on)
=========================  ====================================================================
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ykmake.monitoring.exceptions import SettingsError

__all__ = [
    "Environment",
    "LogLevel",
    "MonitoringSettings",
    "check_database_url",
    "check_sentry_dsn",
    "without_password",
]

Environment = Literal["development", "production", "test"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DB_SCHEMES = ("sqlite", "postgresql")
_USERINFO_PASSWORD = re.compile(r"://([^:/@]*):[^@/]*@")


def check_database_url(value: str) -> str:
    """A ``sqlite://`` or ``postgresql://`` URL that SQLAlchemy can parse (else ValueError)."""
    from sqlalchemy.engine import make_url  # only where a database URL is configured
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        msg = "expected a URL such as sqlite:///./ykmake.db or postgresql://user@host:5432/db"
        raise ValueError(msg) from None
    if url.get_backend_name() not in _DB_SCHEMES:
        msg = f"expected a sqlite:// or postgresql:// URL, got scheme {url.drivername!r}"
        raise ValueError(msg)
    return value


def check_sentry_dsn(value: str) -> None:
    """Raise ValueError unless sentry-sdk would accept ``value`` as a DSN. The message never
    quotes the value: a DSN carries its project's key."""
    from sentry_sdk.utils import BadDsn, Dsn  # only where a DSN is configured

    try:
        Dsn(value)
    except (BadDsn, ValueError):
        msg = "expected a Sentry DSN such as https://<public key>@<host>/<project id>"
        raise ValueError(msg) from None


class MonitoringSettings(BaseSettings):
    """Every knob of the monitoring toolkit; see the module docstring for what turns on what."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    service_name: str = Field(default="ykmake", min_length=1, max_length=100)
    environment: Environment = "development"

    log_dir: Path = Path("logs")
    log_level: LogLevel | None = None
    log_to_stdout: bool = False
    log_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    log_backup_count: int = Field(default=5, ge=1, le=100)

    trusted_proxies: Annotated[tuple[IPNetwork, ...], NoDecode] = ()
    request_id_header: str = Field(default="X-Request-ID", pattern=r"^[A-Za-z0-9-]{1,64}$")

    metrics_path: str = Field(default="/metrics", pattern=r"^/[A-Za-z0-9._~/-]*$")
    metrics_token: SecretStr | None = None
    metrics_exemplars: bool = True
    # prometheus_client's own variable: set by `ykmake serve --workers N` for its workers.
    prometheus_multiproc_dir: Path | None = None

    sentry_dsn: SecretStr | None = None
    sentry_traces_sample_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    sentry_release: str | None = None
    # An error storm's budget, per kind of error (type and innermost frame): the first of a
    # kind in a window gets its traceback logged, an alert entry and a Sentry event; repeats
    # a counter, a line and an occurrence. Sentry takes this many events per kind and window.
    error_window_seconds: float = Field(default=60.0, gt=0, le=86400)
    sentry_events_per_window: int = Field(default=5, ge=0, le=10000)

    alert_database_url: str | None = None
    alert_storm_window_seconds: float = Field(default=600.0, gt=0)
    alert_max_attempts: int = Field(default=12, ge=1, le=100)
    alert_backoff_base_seconds: float = Field(default=2.0, gt=0)
    alert_backoff_max_seconds: float = Field(default=600.0, gt=0)
    alert_worker_interval_seconds: float = Field(default=1.0, gt=0)
    alert_spool_dir: Path = Path(".ykmake/spool")

    slack_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_webhook_url: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_timeout_seconds: float = Field(default=10.0, gt=0)
    # After SLACK_TIMEOUT_SECONDS, which it must outlast: a claim covers one Slack call.
    alert_lease_seconds: float = Field(default=120.0, gt=0)

    alertmanager_webhook_token: SecretStr | None = None
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    admin_token: SecretStr | None = None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(
                ipaddress.ip_network(p.strip(), strict=False) for p in value.split(",") if p.strip()
            )
        return value

    @field_validator("alert_database_url")
    @classmethod
    def _check_alert_database_url(cls, value: str | None) -> str | None:
        return check_database_url(value) if value else None

    @field_validator("alert_lease_seconds")
    @classmethod
    def _lease_outlasts_a_slack_call(cls, value: float, info: ValidationInfo) -> float:
        timeout = info.data.get("slack_timeout_seconds")
        if isinstance(timeout, float) and value <= timeout:
            msg = (
                f"must be longer than SLACK_TIMEOUT_SECONDS ({timeout:g}): a claimed "
                "notification must not be taken over while its Slack call may still succeed"
            )
            raise ValueError(msg)
        return value

    @field_validator("sentry_dsn", mode="before")
    @classmethod
    def _empty_dsn_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value  # `SENTRY_DSN=` in a .env: Sentry off

    @field_validator("sentry_dsn")
    @classmethod
    def _check_sentry_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_sentry_dsn(value.get_secret_value())
        return value

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

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

    @classmethod
    def load(cls, **overrides: Any) -> Self:
        """Read the settings once; a bad value is one line naming the variable.

        Raises:
            SettingsError: a variable has a value outside what it accepts.
        """
        try:
            return cls(**overrides)
        except ValidationError as exc:
            secret = cls._secret_fields()
            lines = (_describe(dict(error), secret) for error in exc.errors())
            raise SettingsError("; ".join(lines)) from None
        except ValueError as exc:  # raised by ip_network inside a before-validator
            raise SettingsError(f"TRUSTED_PROXIES is invalid: {exc}") from None

    @classmethod
    def variable_names(cls) -> list[str]:
        """The environment variables these settings read, in field order."""
        names = []
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            names.append((alias if isinstance(alias, str) else name).upper())
        return names

    def secret_values(self) -> tuple[str, ...]:
        """What to mask wherever it appears (logs, Sentry, Slack, the alert store): the value
        of every ``SecretStr`` setting, the parts of a secret URL that carry the secret (a
        DSN's key, a webhook's path), and the password of any URL setting (a database's).

        Fields are read by name, whatever their environment variable is called (an alias
        such as ``YKMAKE_ENV``), so an app's own secrets (YkMake's ``SESSION_SECRET``) count
        without being listed.
        """
        values: set[str] = set()
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                values.add(secret)
                values.update(_url_secrets(secret, whole_url_secret=True))
            elif isinstance(value, str):
                values.update(_url_secrets(value, whole_url_secret=False))
        values.discard("")
        return tuple(sorted(values))

    @classmethod
    def _secret_fields(cls) -> frozenset[str]:
        names = set()
        for name, field in cls.model_fields.items():
            if "SecretStr" in repr(field.annotation):
                names.add(name)
                if isinstance(field.validation_alias, str):
                    names.add(field.validation_alias)
        return frozenset(names)


def _url_secrets(value: str, *, whole_url_secret: bool) -> list[str]:
    """The secret parts of ``value`` if it is a URL: its password (as written, and decoded);
    of a URL that is a secret itself, also its user (a DSN's key) and path (a webhook's)."""
    if "://" not in value:
        return []
    try:
        url = urlsplit(value)
    except ValueError:
        return []
    userinfo = url.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    parts = [password, unquote(password)]
    if whole_url_secret:
        parts += [user, unquote(user), url.path]
    return parts


def without_password(value: Any) -> Any:
    """A URL as it may be shown: the password of its userinfo replaced by ``***``."""
    return _USERINFO_PASSWORD.sub(r"://\1:***@", value) if isinstance(value, str) else value


def _describe(error: dict[str, Any], secret: frozenset[str]) -> str:
    loc = error.get("loc") or ("?",)
    name = str(loc[0])
    shown = "***" if name in secret else repr(without_password(error.get("input")))
    reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{name.upper()}={shown} is invalid: {reason}"
