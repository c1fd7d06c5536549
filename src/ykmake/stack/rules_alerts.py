"""Symptom alerts beside the SLOs: targets down, error spikes, memory, loop lag, alert delivery.

The thresholds are constants here (the dashboards draw the same lines); the SLOs live in
deploy/slo.yml. Each alert that has two severities keeps one name, so Alertmanager's inhibition
rule (critical mutes warning for the same alertname and service) sends only the worse one.
"""

from __future__ import annotations

from typing import Any

from ykmake.monitoring.alerts.vocabulary import Severity
from ykmake.stack.promql import number
from ykmake.stack.rules_dependencies import EXPORTER_JOBS
from ykmake.stack.slo import SloSpec

__all__ = [
    "ERROR_SPIKE_FACTOR",
    "ERROR_SPIKE_PER_SECOND",
    "LOOP_LAG_CRITICAL_SECONDS",
    "LOOP_LAG_WARNING_SECONDS",
    "MEMORY_CRITICAL_BYTES",
    "MEMORY_WARNING_BYTES",
    "OUTBOX_BACKLOG",
    "symptom_alert_group",
]

GIB = 1024**3
MEMORY_WARNING_BYTES = 1 * GIB
MEMORY_CRITICAL_BYTES = 2 * GIB
LOOP_LAG_WARNING_SECONDS = 0.1
LOOP_LAG_CRITICAL_SECONDS = 0.5
ERROR_SPIKE_PER_SECOND = 0.1
ERROR_SPIKE_FACTOR = 3
OUTBOX_BACKLOG = 50


def _alert(
    name: str, expr: str, duration: str, severity: Severity, spec: SloSpec, **annotations: str
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if duration:
        rule["for"] = duration
    rule["labels"] = {"severity": severity, "service": spec.service}
    rule["annotations"] = annotations
    return rule


def _target_down(spec: SloSpec) -> list[dict[str, Any]]:
    return [
        _alert(
            "YkMakeTargetDown",
            f'up{{job="{spec.job}"}} == 0',
            "1m",
            Severity.CRITICAL,
            spec,
            summary="{{ $labels.job }} target {{ $labels.instance }} is down",
            description=(
                "Prometheus could not scrape {{ $labels.instance }} for 1 minute: the app is down "
                "or refuses the scrape (check METRICS_TOKEN)."
            ),
        ),
        _alert(
            "MonitoringTargetDown",
            # Exporters have ExporterDown, with what their silence hides.
            f'up{{job!~"{"|".join((spec.job, *EXPORTER_JOBS))}"}} == 0',
            "5m",
            Severity.WARNING,
            spec,
            summary="{{ $labels.job }} target {{ $labels.instance }} is down",
            description="Prometheus could not scrape {{ $labels.instance }} for 5 minutes.",
        ),
    ]


def _error_spike(spec: SloSpec) -> dict[str, Any]:
    now = f'sum by (job, type) (rate(errors_total{{job="{spec.job}"}}[5m]))'
    before = f'sum by (job, type) (rate(errors_total{{job="{spec.job}"}}[1h] offset 5m))'
    # `unless` keeps a type with no history (a brand-new error is a spike too).
    expr = (
        f"{now} > {number(ERROR_SPIKE_PER_SECOND)}\n"
        "unless on (job, type)\n"
        f"(\n  {now}\n  < {ERROR_SPIKE_FACTOR} * {before}\n)\n"
    )
    return _alert(
        "YkMakeErrorSpike",
        expr,
        "2m",
        Severity.WARNING,
        spec,
        summary="Spike of {{ $labels.type }} errors",
        description=(
            '{{ $labels.type }} errors at {{ $value | printf "%.2f" }}/s over 5 minutes, '
            f"at least {ERROR_SPIKE_FACTOR}x their rate in the hour before."
        ),
    )


def _two_levels(
    name: str,
    expr: str,
    levels: tuple[tuple[Severity, float, str], ...],
    spec: SloSpec,
    **text: str,
) -> list[dict[str, Any]]:
    return [
        _alert(name, f"{expr} > {number(limit)}", duration, severity, spec, **text)
        for severity, limit, duration in levels
    ]


def symptom_alert_group(spec: SloSpec) -> dict[str, Any]:
    """The rule group of every non-SLO alert for ``spec.job``."""
    job = f'job="{spec.job}"'
    rules = [
        *_target_down(spec),
        _error_spike(spec),
        *_two_levels(
            "YkMakeHighMemory",
            f"process_resident_memory_bytes{{{job}}}",
            (
                (Severity.WARNING, MEMORY_WARNING_BYTES, "10m"),
                (Severity.CRITICAL, MEMORY_CRITICAL_BYTES, "5m"),
            ),
            spec,
            summary="{{ $labels.instance }} uses {{ $value | humanize1024 }}B of resident memory",
            description="Resident memory has stayed above the limit; a leak or an oversized cache.",
        ),
        *_two_levels(
            "YkMakeEventLoopLag",
            f"avg_over_time(event_loop_lag_seconds{{{job}}}[5m])",
            (
                (Severity.WARNING, LOOP_LAG_WARNING_SECONDS, "5m"),
                (Severity.CRITICAL, LOOP_LAG_CRITICAL_SECONDS, "5m"),
            ),
            spec,
            summary="Event loop of {{ $labels.instance }} lags {{ $value | humanizeDuration }}",
            description=(
                "The event loop wakes up late: a handler blocks it or the process is CPU-bound, "
                "so every request on this worker waits."
            ),
        ),
        _alert(
            "YkMakeAlertDeliveryFailing",
            "sum by (job) (\n"
            f'  increase(ykmake_alert_notifications_total{{{job},result="failed"}}[15m])\n'
            ") > 0\n",
            "",  # each failure already exhausted its retries: no need to wait
            Severity.WARNING,
            spec,
            summary="Alert notifications are failing",
            description=(
                "Alert notifications gave up after every retry in the last 15 minutes: "
                "check the Slack token or webhook URL and the app's log."
            ),
        ),
        _alert(
            "YkMakeAlertOutboxBacklog",
            # Every instance reports the same shared outbox, so take the max, not the sum.
            f"max by (job) (ykmake_alert_outbox_pending{{{job}}}) > {OUTBOX_BACKLOG}",
            "15m",
            Severity.WARNING,
            spec,
            summary="{{ $value }} alert notifications are waiting to be sent",
            description=(
                "The alert outbox has not drained for 15 minutes: Slack is slow or refusing."
            ),
        ),
    ]
    return {"name": f"{spec.service}-alerts", "rules": rules}
