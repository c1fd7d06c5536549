"""The exporters' targets come from DATABASE_URL and REDIS_URL; their secrets stay in files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from tests.unit.stack._paths import DEPLOY
from ykmake.stack import (
    Dependencies,
    PostgresDependency,
    RedisDependency,
    StackPorts,
    postgres_dependency,
    postgres_exporter_service,
    redis_dependency,
    redis_exporter_service,
    render_stack,
)

PORTS = StackPorts(postgres_exporter=19187, redis_exporter=19121)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+psycopg://app:p%40ss@127.0.0.1:5433/ykmake",
            PostgresDependency("127.0.0.1:5433/ykmake?sslmode=disable", "app", "p@ss"),
        ),
        (
            "postgresql://app@db.example.com/ykmake",
            PostgresDependency("db.example.com:5432/ykmake?sslmode=require", "app", ""),
        ),
        (
            "postgres://u:pw@localhost/x?sslmode=verify-full",
            PostgresDependency("localhost:5432/x?sslmode=verify-full", "u", "pw"),
        ),
    ],
)
def test_postgres_target_from_the_database_url(url: str, expected: PostgresDependency) -> None:
    assert postgres_dependency(url) == expected


def test_sqlite_has_no_postgres_exporter() -> None:
    assert postgres_dependency("sqlite:///./ykmake.db") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),
        ("redis://127.0.0.1:6379/0", RedisDependency("redis://127.0.0.1:6379")),
        (
            "rediss://cache-user:s3cr%2Ft@cache.example.com/1",
            RedisDependency("rediss://cache.example.com:6379", "cache-user", "s3cr/t"),
        ),
        ("redis://:pw@localhost:6380", RedisDependency("redis://localhost:6380", None, "pw")),
    ],
)
def test_redis_target_from_the_redis_url(url: str | None, expected: RedisDependency) -> None:
    assert redis_dependency(url) == expected


def test_passwords_go_to_0600_files_never_to_a_command_line(tmp_path: Path) -> None:
    postgres = PostgresDependency("127.0.0.1:5432/ykmake?sslmode=disable", "app", "pg-secret")
    redis = RedisDependency("redis://127.0.0.1:6379", "default", "redis-secret")
    rendered = render_stack(
        tmp_path, deploy_dir=DEPLOY, ports=PORTS, dependencies=Dependencies(postgres, redis)
    )
    pg = postgres_exporter_service(rendered, Path("/usr/bin/pg"))
    rd = redis_exporter_service(rendered, Path("/usr/bin/rd"), redis)

    env = dict(pg.env)
    assert env["DATA_SOURCE_NAME"] == ""  # an inherited one cannot take over
    assert Path(env["DATA_SOURCE_PASS_FILE"]).read_text(encoding="utf-8") == "pg-secret"
    assert Path(env["DATA_SOURCE_USER_FILE"]).read_text(encoding="utf-8") == "app"
    assert Path(env["DATA_SOURCE_URI_FILE"]).read_text(encoding="utf-8") == postgres.address
    flag = next(a for a in rd.argv if a.startswith("--redis.password-file="))
    passwords = json.loads(Path(flag.split("=", 1)[1]).read_text(encoding="utf-8"))
    assert passwords == {"redis://127.0.0.1:6379": "redis-secret"}
    for path in rendered.secrets_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for service in (pg, rd):
        visible = service.argv + tuple(value for _, value in service.env)  # ps, /proc/*/environ
        assert not [part for part in visible if "pg-secret" in part or "redis-secret" in part]
    assert "--web.listen-address=127.0.0.1:19187" in pg.argv
    assert "--web.listen-address=127.0.0.1:19121" in rd.argv
    assert "--redis.user=default" in rd.argv


def test_a_redis_without_password_gets_no_password_file(tmp_path: Path) -> None:
    redis = RedisDependency("redis://127.0.0.1:6379")
    rendered = render_stack(tmp_path, deploy_dir=DEPLOY, dependencies=Dependencies(redis=redis))
    argv = redis_exporter_service(rendered, Path("/usr/bin/rd"), redis).argv
    assert not any(a.startswith("--redis.password-file") for a in argv)
    assert not any(rendered.secrets_dir.glob("*redis*"))


@pytest.mark.parametrize(
    ("dependencies", "jobs"),
    [
        (Dependencies(), set()),
        (Dependencies(postgres=PostgresDependency("h:5432/d", "u")), {"postgres-exporter"}),
        (Dependencies(redis=RedisDependency("redis://h:6379")), {"redis-exporter"}),
    ],
)
def test_only_running_exporters_are_scraped(
    tmp_path: Path, dependencies: Dependencies, jobs: set[str]
) -> None:
    rendered = render_stack(tmp_path, deploy_dir=DEPLOY, ports=PORTS, dependencies=dependencies)
    config = yaml.safe_load(rendered.prometheus_config.read_text(encoding="utf-8"))
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert {"postgres-exporter", "redis-exporter"} & set(targets) == jobs
    if "postgres-exporter" in jobs:
        assert targets["postgres-exporter"] == ["127.0.0.1:19187"]
    if "redis-exporter" in jobs:
        assert targets["redis-exporter"] == ["127.0.0.1:19121"]
