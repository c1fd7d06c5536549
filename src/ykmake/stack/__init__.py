"""The monitoring stack as code: SLO rules and their tests, loopback rendering, the checks of
deploy/ and the stack's processes. Its command is ``ykmake stack`` (:mod:`ykmake.cli.stack`)."""

from __future__ import annotations

from ykmake.stack.binaries import find_binary, which_binary
from ykmake.stack.checks import CheckResult, run_checks
from ykmake.stack.dependencies import (
    Dependencies,
    PostgresDependency,
    RedisDependency,
    postgres_dependency,
    redis_dependency,
)
from ykmake.stack.errors import MissingBinaryError, ServiceStartError, SloSpecError, StackError
from ykmake.stack.exported_metrics import EXPORTED_METRICS, ExportedMetric, exported_series_names
from ykmake.stack.generate import (
    Written,
    generate_deploy_files,
    stale_generated,
    write_changed,
    write_generated,
)
from ykmake.stack.metric_check import known_metric_names, rule_queries, unknown_metrics
from ykmake.stack.processes import (
    RunningService,
    ServiceSpec,
    running_services,
    start_service,
    stop_service,
    wait_ready,
)
from ykmake.stack.promql import metric_names
from ykmake.stack.render import (
    RenderedStack,
    RenderOptions,
    StackPorts,
    StackSecrets,
    default_deploy_dir,
    public_base_url,
    render_stack,
)
from ykmake.stack.services import (
    alertmanager_service,
    grafana_service,
    node_exporter_service,
    postgres_exporter_service,
    prometheus_service,
    redis_exporter_service,
)
from ykmake.stack.slo import Objective, SloSpec, load_slo_spec, parse_slo_spec

__all__ = [
    "EXPORTED_METRICS",
    "CheckResult",
    "Dependencies",
    "ExportedMetric",
    "MissingBinaryError",
    "Objective",
    "PostgresDependency",
    "RedisDependency",
    "RenderOptions",
    "RenderedStack",
    "RunningService",
    "ServiceSpec",
    "ServiceStartError",
    "SloSpec",
    "SloSpecError",
    "StackError",
    "StackPorts",
    "StackSecrets",
    "Written",
    "alertmanager_service",
    "default_deploy_dir",
    "exported_series_names",
    "find_binary",
    "generate_deploy_files",
    "grafana_service",
    "known_metric_names",
    "load_slo_spec",
    "metric_names",
    "node_exporter_service",
    "parse_slo_spec",
    "postgres_dependency",
    "postgres_exporter_service",
    "prometheus_service",
    "public_base_url",
    "redis_dependency",
    "redis_exporter_service",
    "render_stack",
    "rule_queries",
    "run_checks",
    "running_services",
    "stale_generated",
    "start_service",
    "stop_service",
    "unknown_metrics",
    "wait_ready",
    "which_binary",
    "write_changed",
    "write_generated",
]
