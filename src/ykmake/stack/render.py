"""Render deploy/ (written for docker compose) for a stack on loopback: ports, paths, secrets.

The compose files name hosts (``app:8000``, ``alertmanager:9093``); here each becomes
``127.0.0.1:<port>``, rule paths become absolute, and bearer tokens go to 0600 files in the data
dir, as do the exporters' database and Redis credentials (:mod:`ykmake.stack.dependencies`).
The pure ``render_*_config`` functions take and return plain dicts; :func:`render_stack` writes
everything under one data dir.

Links the stack puts in alerts (Prometheus' ``generatorURL``, Alertmanager's ``externalURL``)
use :meth:`RenderedStack.external_url`: the loopback URL, or the public URL when one is given,
never the machine's hostname (what Prometheus and Alertmanager guess without one).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from ykmake.stack._files import write_secret
from ykmake.stack._yaml import dump_yaml
from ykmake.stack.dependencies import Dependencies, write_dependency_secrets
from ykmake.stack.errors import StackError

__all__ = [
    "RenderOptions",
    "RenderedStack",
    "StackPorts",
    "StackSecrets",
    "default_deploy_dir",
    "public_base_url",
    "render_alertmanager_config",
    "render_grafana_provisioning",
    "render_prometheus_config",
    "render_stack",
]

_SLACK_RECEIVER = "slack-direct"
_DATA_SUBDIRS = (
    "prometheus/data",
    "alertmanager/data",
    "grafana/provisioning/datasources",
    "grafana/provisioning/dashboards",
    "grafana/data",
    "grafana/logs",
    "grafana/plugins",
)


@dataclass(frozen=True)
class StackPorts:
    """Loopback ports of the stack and of the app it watches."""

    prometheus: int = 9090
    alertmanager: int = 9093
    grafana: int = 3001
    node_exporter: int = 9100
    app: int = 8000
    postgres_exporter: int = 9187
    redis_exporter: int = 9121

    def by_host(self) -> dict[str, int]:
        """The compose host names of deploy/ mapped to their loopback port."""
        return {
            "localhost": self.prometheus,
            "prometheus": self.prometheus,
            "alertmanager": self.alertmanager,
            "grafana": self.grafana,
            "node-exporter": self.node_exporter,
            "postgres-exporter": self.postgres_exporter,
            "redis-exporter": self.redis_exporter,
            "app": self.app,
        }


@dataclass(frozen=True)
class StackSecrets:
    """Tokens the stack presents; None leaves the matching credentials out."""

    metrics_token: str | None = field(default=None, repr=False)
    alertmanager_webhook_token: str | None = field(default=None, repr=False)
    slack_webhook_url: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class RenderOptions:
    """What differs between a dev stack and a test stack (intervals, extra rules, timings)."""

    scrape_interval: str = "15s"
    evaluation_interval: str = "15s"
    node_exporter: bool = True
    extra_rule_files: tuple[Path, ...] = ()
    # Override every route's timings (tests want seconds, not minutes); None keeps deploy/'s.
    group_wait: str | None = None
    group_interval: str | None = None
    repeat_interval: str | None = None
    # Where people reach the stack (through a reverse proxy): links in alerts then point to
    # <public_url>/prometheus and <public_url>/alertmanager. None: the loopback URLs.
    public_url: str | None = None

    def __post_init__(self) -> None:
        if self.public_url is not None:
            object.__setattr__(self, "public_url", public_base_url(self.public_url))


def public_base_url(url: str) -> str:
    """``url`` without a trailing slash, if it is an http(s) URL with a host.

    Raises:
        StackError: another scheme, no host, credentials, a query or a fragment.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"public URL {url!r} is not an http:// or https:// URL"
        raise StackError(msg)
    if parts.username or parts.password:  # not repeated here: it would show the password
        msg = "public URL must not carry a user or password (they would be in every alert)"
        raise StackError(msg)
    if parts.query or parts.fragment:
        msg = f"public URL {url!r} must be a base URL like https://monitoring.example.com"
        raise StackError(msg)
    return urlunsplit(parts).rstrip("/")


@dataclass(frozen=True)
class RenderedStack:
    """Where :func:`render_stack` put each config and data dir."""

    data_dir: Path
    deploy_dir: Path
    ports: StackPorts
    prometheus_config: Path
    alertmanager_config: Path
    grafana_config: Path
    public_url: str | None = None

    @property
    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    @property
    def prometheus_data(self) -> Path:
        return self.data_dir / "prometheus" / "data"

    @property
    def alertmanager_data(self) -> Path:
        return self.data_dir / "alertmanager" / "data"

    @property
    def grafana_home(self) -> Path:
        return self.data_dir / "grafana"

    def url(self, service: str) -> str:
        """``http://127.0.0.1:<port>`` of ``service`` (prometheus, alertmanager, grafana, …)."""
        return f"http://127.0.0.1:{self.ports.by_host()[service]}"

    def external_url(self, service: str) -> str:
        """The URL links to ``service`` carry: under the public URL, else its loopback URL."""
        if self.public_url is None:
            return self.url(service)
        return f"{self.public_url}/{service}"


def default_deploy_dir() -> Path:
    """deploy/ of the source checkout this package runs from, else ./deploy."""
    checkout = Path(__file__).resolve().parents[3] / "deploy"
    return checkout if (checkout / "slo.yml").is_file() else Path("deploy")


def _loopback_target(target: str, ports: StackPorts) -> str:
    host, _, _ = target.rpartition(":")
    port = ports.by_host().get(host)
    if port is None:
        msg = f"target {target!r} names no known stack host ({', '.join(ports.by_host())})"
        raise ValueError(msg)
    return f"127.0.0.1:{port}"


def _loopback_url(url: str, ports: StackPorts) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=_loopback_target(parts.netloc, ports)))


def _retarget(static_configs: list[dict[str, Any]], ports: StackPorts) -> None:
    for static in static_configs:
        static["targets"] = [_loopback_target(t, ports) for t in static["targets"]]


def _jobs_left_out(options: RenderOptions, dependencies: Dependencies) -> set[str]:
    """Scrape jobs of exporters that do not run: their targets would only be down."""
    off = set()
    if not options.node_exporter:
        off.add("node-exporter")
    if dependencies.postgres is None:
        off.add("postgres-exporter")
    if dependencies.redis is None:
        off.add("redis-exporter")
    return off


def render_prometheus_config(
    source: dict[str, Any],
    *,
    deploy_dir: Path,
    ports: StackPorts,
    secrets_dir: Path,
    secrets: StackSecrets,
    options: RenderOptions,
    dependencies: Dependencies | None = None,
) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml, rewritten for loopback.

    The postgres and redis exporters' jobs stay only for the ``dependencies`` given.
    """
    config = copy.deepcopy(source)
    config["global"]["scrape_interval"] = options.scrape_interval
    config["global"]["evaluation_interval"] = options.evaluation_interval
    rules_base = (deploy_dir / "prometheus").resolve()
    config["rule_files"] = [str(rules_base / r) for r in config.get("rule_files", [])] + [
        str(p.resolve()) for p in options.extra_rule_files
    ]
    for manager in config["alerting"]["alertmanagers"]:
        _retarget(manager["static_configs"], ports)
    left_out = _jobs_left_out(options, dependencies or Dependencies())
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in left_out:
            continue
        _retarget(job["static_configs"], ports)
        if "authorization" in job:
            if secrets.metrics_token is None:
                del job["authorization"]
            else:
                job["authorization"]["credentials_file"] = str(secrets_dir / "metrics_token")
        jobs.append(job)
    config["scrape_configs"] = jobs
    return config


def _override_timings(route: dict[str, Any], options: RenderOptions, *, root: bool) -> None:
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(options, key)
        # Child routes inherit from the root unless they set their own: override only those.
        if value is not None and (root or key in route):
            route[key] = value
    for child in route.get("routes", []):
        _override_timings(child, options, root=False)


def render_alertmanager_config(
    source: dict[str, Any],
    *,
    ports: StackPorts,
    secrets_dir: Path,
    secrets: StackSecrets,
    options: RenderOptions,
) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml, rewritten for loopback.

    Without a Slack webhook URL the direct Slack receiver and its route are left out.
    """
    config = copy.deepcopy(source)
    receivers = []
    for receiver in config["receivers"]:
        if receiver["name"] == _SLACK_RECEIVER:
            if secrets.slack_webhook_url is None:
                continue
            for slack in receiver["slack_configs"]:
                slack["api_url_file"] = str(secrets_dir / "slack_webhook_url")
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = _loopback_url(hook["url"], ports)
            http = hook.get("http_config", {})
            if "authorization" in http:
                if secrets.alertmanager_webhook_token is None:
                    del http["authorization"]
                else:
                    token_file = str(secrets_dir / "alertmanager_webhook_token")
                    http["authorization"]["credentials_file"] = token_file
        receivers.append(receiver)
    config["receivers"] = receivers
    kept = {r["name"] for r in receivers}
    route = config["route"]
    route["routes"] = [r for r in route.get("routes", []) if r["receiver"] in kept]
    _override_timings(route, options, root=True)
    return config


def render_grafana_provisioning(
    datasources: dict[str, Any], providers: dict[str, Any], *, deploy_dir: Path, ports: StackPorts
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The datasource and dashboard-provider files, pointed at loopback and at deploy/'s JSON."""
    datasources = copy.deepcopy(datasources)
    for source in datasources["datasources"]:
        source["url"] = _loopback_url(source["url"], ports)
    providers = copy.deepcopy(providers)
    for provider in providers["providers"]:
        provider["options"]["path"] = str((deploy_dir / "grafana" / "dashboards").resolve())
    return datasources, providers


def _grafana_ini(home: Path, ports: StackPorts) -> str:
    return (
        "# Rendered by ykmake for a loopback stack.\n"
        f"[server]\nhttp_addr = 127.0.0.1\nhttp_port = {ports.grafana}\n\n"
        f"[paths]\ndata = {home / 'data'}\nlogs = {home / 'logs'}\n"
        f"plugins = {home / 'plugins'}\nprovisioning = {home / 'provisioning'}\n\n"
        "[analytics]\nreporting_enabled = false\ncheck_for_updates = false\n\n"
        "[users]\nallow_sign_up = false\n"
    )


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        msg = f"{path} is not a YAML mapping"
        raise ValueError(msg)
    return data


def render_stack(
    data_dir: Path,
    *,
    deploy_dir: Path | None = None,
    ports: StackPorts | None = None,
    secrets: StackSecrets | None = None,
    options: RenderOptions | None = None,
    dependencies: Dependencies | None = None,
) -> RenderedStack:
    """Write every loopback config and secret file under ``data_dir``; return where they are.

    ``dependencies`` are what the postgres and redis exporters watch (default: neither runs).
    """
    deploy_dir = (deploy_dir or default_deploy_dir()).resolve()
    ports = ports or StackPorts()
    secrets = secrets or StackSecrets()
    options = options or RenderOptions()
    dependencies = dependencies or Dependencies()
    data_dir = data_dir.resolve()
    secrets_dir = data_dir / "secrets"
    for sub in _DATA_SUBDIRS:
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_secret(secrets_dir / "metrics_token", secrets.metrics_token)
    write_secret(secrets_dir / "alertmanager_webhook_token", secrets.alertmanager_webhook_token)
    write_secret(secrets_dir / "slack_webhook_url", secrets.slack_webhook_url)
    write_dependency_secrets(secrets_dir, dependencies)

    prometheus = render_prometheus_config(
        _load(deploy_dir / "prometheus" / "prometheus.yml"),
        deploy_dir=deploy_dir,
        ports=ports,
        secrets_dir=secrets_dir,
        secrets=secrets,
        options=options,
        dependencies=dependencies,
    )
    alertmanager = render_alertmanager_config(
        _load(deploy_dir / "alertmanager" / "alertmanager.yml"),
        ports=ports,
        secrets_dir=secrets_dir,
        secrets=secrets,
        options=options,
    )
    provisioning = deploy_dir / "grafana" / "provisioning"
    datasources, providers = render_grafana_provisioning(
        _load(provisioning / "datasources" / "prometheus.yml"),
        _load(provisioning / "dashboards" / "provider.yml"),
        deploy_dir=deploy_dir,
        ports=ports,
    )
    header = f"Rendered for loopback from {deploy_dir}; edit that, not this."
    rendered = RenderedStack(
        data_dir=data_dir,
        deploy_dir=deploy_dir,
        ports=ports,
        prometheus_config=data_dir / "prometheus" / "prometheus.yml",
        alertmanager_config=data_dir / "alertmanager" / "alertmanager.yml",
        grafana_config=data_dir / "grafana" / "grafana.ini",
        public_url=options.public_url,
    )
    rendered.prometheus_config.write_text(dump_yaml(prometheus, header=header), encoding="utf-8")
    rendered.alertmanager_config.write_text(
        dump_yaml(alertmanager, header=header), encoding="utf-8"
    )
    grafana = rendered.grafana_home
    (grafana / "provisioning/datasources/prometheus.yml").write_text(
        dump_yaml(datasources, header=header), encoding="utf-8"
    )
    (grafana / "provisioning/dashboards/provider.yml").write_text(
        dump_yaml(providers, header=header), encoding="utf-8"
    )
    rendered.grafana_config.write_text(_grafana_ini(grafana, ports), encoding="utf-8")
    return rendered
