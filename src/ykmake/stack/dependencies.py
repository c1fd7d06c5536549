"""What the exporters watch: PostgreSQL from DATABASE_URL, Redis from REDIS_URL.

Each exporter reads its connection from 0600 files under the stack's secrets dir, never from
its command line (which every user of the machine sees in ``ps``):

- postgres_exporter: ``DATA_SOURCE_URI_FILE``, ``DATA_SOURCE_USER_FILE`` and
  ``DATA_SOURCE_PASS_FILE`` (its environment carries only these paths);
- redis_exporter: ``--redis.password-file``, a JSON object mapping the Redis address to its
  password (the format its version 1.45 reads).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from ykmake.stack._files import write_secret

__all__ = [
    "POSTGRES_PASSWORD_FILE",
    "POSTGRES_URI_FILE",
    "POSTGRES_USER_FILE",
    "REDIS_PASSWORD_FILE",
    "Dependencies",
    "PostgresDependency",
    "RedisDependency",
    "postgres_dependency",
    "redis_dependency",
    "write_dependency_secrets",
]

POSTGRES_URI_FILE = "postgres_exporter_uri"
POSTGRES_USER_FILE = "postgres_exporter_user"
POSTGRES_PASSWORD_FILE = "postgres_exporter_password"  # noqa: S105 - a file name
REDIS_PASSWORD_FILE = "redis_exporter_passwords.json"  # noqa: S105 - a file name

# The exporter's driver (lib/pq) knows only these; libpq's default `prefer` is refused.
_PQ_SSLMODES = frozenset({"disable", "require", "verify-ca", "verify-full"})


@dataclass(frozen=True)
class PostgresDependency:
    """The database postgres_exporter connects to."""

    address: str  # host:port/database?sslmode=…, what DATA_SOURCE_URI takes
    user: str
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class RedisDependency:
    """The Redis redis_exporter connects to."""

    address: str  # redis://host:port (or rediss://), without credentials
    user: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Dependencies:
    """The dependencies whose exporters run; None leaves an exporter (and its job) out."""

    postgres: PostgresDependency | None = None
    redis: RedisDependency | None = None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _sslmode(query: dict[str, str], host: str) -> str:
    mode = query.get("sslmode", "")
    if mode in _PQ_SSLMODES:
        return mode
    # prefer/allow/unset: plain on loopback (nothing to protect, and a local server often has
    # no certificate), encrypted anywhere else.
    return "disable" if _is_loopback(host) else "require"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def postgres_dependency(database_url: str) -> PostgresDependency | None:
    """The PostgreSQL that ``database_url`` names (any SQLAlchemy driver); None for another
    database (SQLite)."""
    parts = urlsplit(database_url)
    if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        return None
    host = parts.hostname or "localhost"
    query = dict(parse_qsl(parts.query))
    query["sslmode"] = _sslmode(query, host)
    database = quote(parts.path.lstrip("/") or "postgres")
    address = f"{_host_port(host, parts.port or 5432)}/{database}?{urlencode(query)}"
    user = unquote(parts.username or "postgres")
    return PostgresDependency(address, user, unquote(parts.password or ""))


def redis_dependency(redis_url: str | None) -> RedisDependency | None:
    """The Redis that ``redis_url`` names; None when there is none."""
    if not redis_url:
        return None
    parts = urlsplit(redis_url)
    host = parts.hostname or "localhost"
    address = urlunsplit((parts.scheme, _host_port(host, parts.port or 6379), "", "", ""))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return RedisDependency(address, user, password)


def write_dependency_secrets(secrets_dir: Path, dependencies: Dependencies) -> None:
    """Write (or remove) every exporter's credential files, mode 0600."""
    postgres, redis = dependencies.postgres, dependencies.redis
    files: dict[str, str | None] = dict.fromkeys(
        (POSTGRES_URI_FILE, POSTGRES_USER_FILE, POSTGRES_PASSWORD_FILE, REDIS_PASSWORD_FILE)
    )
    if postgres is not None:
        files[POSTGRES_URI_FILE] = postgres.address
        files[POSTGRES_USER_FILE] = postgres.user
        files[POSTGRES_PASSWORD_FILE] = postgres.password
    if redis is not None and redis.password is not None:
        files[REDIS_PASSWORD_FILE] = json.dumps({redis.address: redis.password})
    for name, value in files.items():
        write_secret(secrets_dir / name, value)
