"""The command lines of the stack's processes, run against a rendered loopback config.

Prometheus and Alertmanager are told the URL people reach them at (``--web.external-url``):
without it they put the machine's hostname into every link of an alert. Their routes stay at
the root (``--web.route-prefix=/``) whatever path that URL has, so the loopback URLs and
readiness checks are the same with or without a public URL.
"""

from __future__ import annotations

from pathlib import Path

from ykmake.stack.dependencies import (
    POSTGRES_PASSWORD_FILE,
    POSTGRES_URI_FILE,
    POSTGRES_USER_FILE,
    REDIS_PASSWORD_FILE,
    RedisDependency,
)
from ykmake.stack.processes import ServiceSpec
from ykmake.stack.render import RenderedStack

__all__ = [
    "GRAFANA_HOMEPATH",
    "alertmanager_service",
    "grafana_service",
    "node_exporter_service",
    "postgres_exporter_service",
    "prometheus_service",
    "redis_exporter_service",
]

# Where Grafana's packages put its static files and default config.
GRAFANA_HOMEPATH = Path("/usr/share/grafana")


def prometheus_service(
    rendered: RenderedStack, binary: Path, *, extra_args: tuple[str, ...] = ()
) -> ServiceSpec:
    """Prometheus on loopback with the rendered config and its own TSDB dir."""
    return ServiceSpec(
        name="prometheus",
        argv=(
            str(binary),
            f"--config.file={rendered.prometheus_config}",
            f"--storage.tsdb.path={rendered.prometheus_data}",
            f"--web.listen-address=127.0.0.1:{rendered.ports.prometheus}",
            f"--web.external-url={rendered.external_url('prometheus')}",
            "--web.route-prefix=/",
            # The SLO's 30d ratio needs 30 days of the recorded 5m ratio.
            "--storage.tsdb.retention.time=35d",
            "--web.enable-lifecycle",  # POST /-/reload after editing rules
            *extra_args,
        ),
        ready_url=f"{rendered.url('prometheus')}/-/ready",
        log_path=rendered.data_dir / "prometheus" / "prometheus.log",
    )


def alertmanager_service(rendered: RenderedStack, binary: Path) -> ServiceSpec:
    """Alertmanager on loopback; clustering off, or it would bind 0.0.0.0:9094 for gossip."""
    return ServiceSpec(
        name="alertmanager",
        argv=(
            str(binary),
            f"--config.file={rendered.alertmanager_config}",
            f"--storage.path={rendered.alertmanager_data}",
            f"--web.listen-address=127.0.0.1:{rendered.ports.alertmanager}",
            f"--web.external-url={rendered.external_url('alertmanager')}",
            "--web.route-prefix=/",
            "--cluster.listen-address=",
        ),
        ready_url=f"{rendered.url('alertmanager')}/-/ready",
        log_path=rendered.data_dir / "alertmanager" / "alertmanager.log",
    )


def node_exporter_service(rendered: RenderedStack, binary: Path) -> ServiceSpec:
    """node-exporter on loopback (host metrics for the node-exporter job)."""
    return ServiceSpec(
        name="node-exporter",
        argv=(str(binary), f"--web.listen-address=127.0.0.1:{rendered.ports.node_exporter}"),
        ready_url=f"{rendered.url('node-exporter')}/metrics",
        log_path=rendered.data_dir / "node-exporter.log",
    )


def postgres_exporter_service(rendered: RenderedStack, binary: Path) -> ServiceSpec:
    """postgres_exporter on loopback, reading its connection from the rendered 0600 files.

    DATA_SOURCE_NAME is set empty so one inherited from our environment cannot take over.
    """
    secrets = rendered.secrets_dir
    return ServiceSpec(
        name="postgres-exporter",
        argv=(str(binary), f"--web.listen-address=127.0.0.1:{rendered.ports.postgres_exporter}"),
        ready_url=f"{rendered.url('postgres-exporter')}/metrics",
        log_path=rendered.data_dir / "postgres-exporter.log",
        env=(
            ("DATA_SOURCE_NAME", ""),
            ("DATA_SOURCE_URI_FILE", str(secrets / POSTGRES_URI_FILE)),
            ("DATA_SOURCE_USER_FILE", str(secrets / POSTGRES_USER_FILE)),
            ("DATA_SOURCE_PASS_FILE", str(secrets / POSTGRES_PASSWORD_FILE)),
        ),
    )


def redis_exporter_service(
    rendered: RenderedStack, binary: Path, redis: RedisDependency
) -> ServiceSpec:
    """redis_exporter on loopback; its password, if any, from the rendered 0600 file.

    REDIS_PASSWORD is set empty so one inherited from our environment cannot take over.
    """
    argv = [
        str(binary),
        f"--redis.addr={redis.address}",
        f"--web.listen-address=127.0.0.1:{rendered.ports.redis_exporter}",
    ]
    if redis.user is not None:  # a user name is no secret; its password stays in the file
        argv.append(f"--redis.user={redis.user}")
    if redis.password is not None:
        argv.append(f"--redis.password-file={rendered.secrets_dir / REDIS_PASSWORD_FILE}")
    return ServiceSpec(
        name="redis-exporter",
        argv=tuple(argv),
        ready_url=f"{rendered.url('redis-exporter')}/metrics",
        log_path=rendered.data_dir / "redis-exporter.log",
        env=(("REDIS_PASSWORD", ""),),
    )


def grafana_service(
    rendered: RenderedStack, binary: Path, *, homepath: Path = GRAFANA_HOMEPATH
) -> ServiceSpec:
    """grafana-server with the rendered grafana.ini and provisioning."""
    return ServiceSpec(
        name="grafana",
        argv=(str(binary), f"--homepath={homepath}", f"--config={rendered.grafana_config}"),
        ready_url=f"{rendered.url('grafana')}/api/health",
        log_path=rendered.grafana_home / "logs" / "grafana-server.log",
    )
