"""docker-compose.yml: valid Compose, every mounted config exists, every service is wired.

No Docker engine runs here, so the file is checked against the Compose Specification schema
(vendored, see compose_spec.NOTICE.md) and against deploy/ and the settings it feeds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from tests.unit.stack._paths import DEPLOY, ROOT
from ykmake.settings import Settings, load_settings

SCHEMA = Path(__file__).with_name("compose_spec.json")
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return services


def _deploy(relative: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / relative).read_text(encoding="utf-8"))
    return data


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def _host_path(service: dict[str, Any], container_path: str) -> Path | None:
    for target, source in _mounts(service).items():
        if container_path == target or container_path.startswith(target + "/"):
            return source / container_path[len(target) :].lstrip("/")
    return None


def _with_defaults(value: str) -> str:
    return _DEFAULTED.sub(lambda m: m.group(2), value)


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)

    assert [e.message for e in validator.iter_errors(compose)] == []
    broken = {**compose, "services": {**compose["services"], "x": {"imagee": "typo"}}}
    assert list(validator.iter_errors(broken))  # the schema does catch mistakes


def test_no_obsolete_version_key_and_every_service_of_the_stack(compose: dict[str, Any]) -> None:
    assert "version" not in compose
    assert set(_services(compose)) == {
        "app", "db", "cache", "minio", "createbuckets",
        "prometheus", "alertmanager", "grafana",
        "node-exporter", "postgres-exporter", "redis-exporter",
    }  # fmt: skip


def test_every_bind_mount_exists(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        for target, source in _mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) is missing"


def test_config_files_named_on_command_lines_are_in_the_mounts(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name in ("prometheus", "alertmanager"):
        flags = [a for a in services[name]["command"] if a.startswith("--config.file=")]
        assert flags, name
        host = _host_path(services[name], flags[0].split("=", 1)[1])
        assert host is not None
        assert host.is_file()


def test_grafana_is_provisioned_from_deploy(compose: dict[str, Any]) -> None:
    grafana = _services(compose)["grafana"]
    provisioning = _host_path(grafana, "/etc/grafana/provisioning")
    assert provisioning == DEPLOY / "grafana" / "provisioning"
    provider = _deploy("grafana/provisioning/dashboards/provider.yml")["providers"][0]
    dashboards = _host_path(grafana, provider["options"]["path"])
    assert dashboards is not None
    assert sorted(p.name for p in dashboards.glob("*.json")) == [
        "ykmake-dependencies.json",
        "ykmake-overview.json",
    ]
    source = _deploy("grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert source["uid"] == "prometheus"
    assert urlsplit(source["url"]).netloc == "prometheus:9090"
    assert "3001:3000" in grafana["ports"]


def test_prometheus_and_alertmanager_reach_compose_services(compose: dict[str, Any]) -> None:
    services = _services(compose)
    # Where each service listens inside the network.
    listening = {
        "app": 8000, "alertmanager": 9093, "localhost": 9090,
        "node-exporter": 9100, "postgres-exporter": 9187, "redis-exporter": 9121,
    }  # fmt: skip
    prometheus = _deploy("prometheus/prometheus.yml")
    targets = [
        t
        for job in prometheus["scrape_configs"]
        for s in job["static_configs"]
        for t in s["targets"]
    ]
    targets += prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    for target in targets:
        host, port = target.rsplit(":", 1)
        assert host == "localhost" or host in services, target
        assert listening[host] == int(port), target
    alertmanager = _deploy("alertmanager/alertmanager.yml")
    hook = next(r for r in alertmanager["receivers"] if r["name"] == "ykmake-webhook")
    url = urlsplit(hook["webhook_configs"][0]["url"])
    assert (url.netloc, url.path) == ("app:8000", "/api/alertmanager/webhook")


@pytest.mark.parametrize(
    ("service", "variable", "port"),
    [
        ("prometheus", "PROMETHEUS_EXTERNAL_URL", 9090),
        ("alertmanager", "ALERTMANAGER_EXTERNAL_URL", 9093),
    ],
)
def test_links_in_alerts_use_the_external_url_not_the_container_hostname(
    compose: dict[str, Any], service: str, variable: str, port: int
) -> None:
    spec = _services(compose)[service]
    assert f"--web.external-url=${{{variable}:-http://localhost:{port}}}" in spec["command"]
    # Whatever path that URL has, the routes (and so the healthcheck) stay at the root.
    assert "--web.route-prefix=/" in spec["command"]
    assert spec["healthcheck"]["test"][-1] == f"http://localhost:{port}/-/ready"
    assert variable in (ROOT / ".env.example").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("service", "variable", "file"),
    [
        ("prometheus", "METRICS_TOKEN", "/run/ykmake/metrics_token"),
        ("alertmanager", "ALERTMANAGER_WEBHOOK_TOKEN", "/run/ykmake/alertmanager_webhook_token"),
        ("alertmanager", "SLACK_WEBHOOK_URL", "/run/ykmake/slack_webhook_url"),
    ],
)
def test_secrets_from_env_reach_the_credential_files(
    compose: dict[str, Any], service: str, variable: str, file: str
) -> None:
    spec = _services(compose)[service]
    assert variable in spec["environment"]
    assert spec["environment"][variable].startswith(f"${{{variable}:")
    script = " ".join(spec["entrypoint"])
    assert f'"$${variable}" > {file}' in script
    assert "/run/ykmake" in spec["tmpfs"]
    config = (DEPLOY / service / f"{service}.yml").read_text(encoding="utf-8")
    assert file in config


def test_app_runs_in_production_with_its_database_cache_and_tokens(compose: dict[str, Any]) -> None:
    services = _services(compose)
    app = services["app"]
    env = app["environment"]

    assert (env["YKMAKE_ENV"], env["LOG_TO_STDOUT"]) == ("production", "true")
    assert app["env_file"] == ".env"
    for required in ("METRICS_TOKEN", "ALERTMANAGER_WEBHOOK_TOKEN"):
        assert env[required].startswith(f"${{{required}:?"), required
    settings: Settings = load_settings(
        _env_file=None,
        database_url=_with_defaults(env["DATABASE_URL"]),
        redis_url=env["REDIS_URL"],
    )
    database = urlsplit(settings.database_url)
    assert (database.hostname, database.port) == ("db", 5432)
    db_env = services["db"]["environment"]
    assert database.username == _with_defaults(db_env["POSTGRES_USER"])
    assert database.path.lstrip("/") == _with_defaults(db_env["POSTGRES_DB"])
    assert urlsplit(settings.redis_url or "").hostname == "cache"
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["depends_on"]["cache"]["condition"] == "service_healthy"
    assert "8000:8000" in app["ports"]


def test_app_settings_in_compose_are_settings_the_app_reads(compose: dict[str, Any]) -> None:
    # A field's environment variable is its alias when it has one (YKMAKE_ENV: environment).
    known = set(Settings.variable_names())
    storage = {
        "MINIO_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "S3_BUCKET",
    }
    assert set(_services(compose)["app"]["environment"]) - known - storage == set()


def test_health_gated_dependencies_have_healthchecks(compose: dict[str, Any]) -> None:
    services = _services(compose)
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for other, condition in depends.items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[other], f"{name} waits for {other}'s health"


def test_app_healthcheck_uses_python_not_curl(compose: dict[str, Any]) -> None:
    test = _services(compose)["app"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    assert "http://127.0.0.1:8000/health" in test[-1]
    assert "curl" not in " ".join(test)


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    used = {
        v.split(":")[0]
        for s in _services(compose).values()
        for v in s.get("volumes", [])
        if not v.startswith(("./", "/"))
    }
    assert used == set(compose["volumes"])


@pytest.mark.parametrize("name", ["node-exporter", "postgres-exporter", "redis-exporter"])
def test_exporters_run_pinned_images_and_no_password_on_a_command_line(
    compose: dict[str, Any], name: str
) -> None:
    service = _services(compose)[name]
    _image, _, tag = service["image"].rpartition(":")
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), service["image"]
    for arg in [*service.get("command", []), *service.get("entrypoint", [])]:
        assert "PASSWORD}" not in arg, arg
        assert "password=" not in arg.lower(), arg
