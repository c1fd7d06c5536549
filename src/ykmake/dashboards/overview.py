"""The "YkMake Overview Dashboard": the seed's two panels and the ones it left as 추가 패널."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

from ykmake.dashboards._grafana import (
    DATASOURCE,
    INSTANCE,
    query,
    stat_panel,
    table_panel,
    timeseries_panel,
)
from ykmake.dashboards.dependencies import DEPENDENCIES_TITLE, DEPENDENCIES_UID, link_to
from ykmake.stack.promql import number
from ykmake.stack.rules_alerts import (
    LOOP_LAG_CRITICAL_SECONDS,
    LOOP_LAG_WARNING_SECONDS,
    MEMORY_CRITICAL_BYTES,
    MEMORY_WARNING_BYTES,
)
from ykmake.stack.rules_slo import (
    BUDGET_REMAINING_RECORD,
    BURN_ALERTS,
    ERROR_BUDGET_RECORD,
    error_ratio_record,
)
from ykmake.stack.slo import SloSpec

__all__ = ["OVERVIEW_TITLE", "OVERVIEW_UID", "overview_dashboard"]

OVERVIEW_UID = "ykmake-overview"
OVERVIEW_TITLE = "YkMake Overview Dashboard"
# Panel ids 1-99 are panels, 101+ rows. The seed's latency colours: orange 500 ms, red 1 s.
LATENCY_STEPS = ((None, "green"), (500.0, "orange"), (1000.0, "red"))
_RATE = "[5m]"


def _variables() -> list[dashboard_builders.QueryVariable]:
    job = (
        dashboard_builders.QueryVariable("job")
        .label("Job")
        .datasource(DATASOURCE)
        .query("label_values(up, job)")
        .current(VariableOption(selected=True, text="ykmake", value="ykmake"))
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    instance = (
        dashboard_builders.QueryVariable("instance")
        .label("Instance")
        .datasource(DATASOURCE)
        .query('label_values(up{job="$job"}, instance)')
        .multi(True)
        .include_all(True)
        .all_value(".*")  # a regex, so `instance=~"$instance"` matches every instance
        .current(VariableOption(selected=True, text="All", value="$__all"))
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
    )
    return [job, instance]


def _traffic(dashboard: dashboard_builders.Dashboard) -> None:
    requests = f"http_requests_total{{{INSTANCE}}}"
    buckets = f"http_request_duration_seconds_bucket{{{INSTANCE}}}"
    by_route = f"sum by (le, method, path) (rate({buckets}{_RATE}))"
    errors = f'http_requests_total{{{INSTANCE}, status_code=~"5.."}}'
    dashboard.with_row(dashboard_builders.Row("Traffic and latency").id(101))
    dashboard.with_panel(
        timeseries_panel(
            1,
            "HTTP Request Rate by Status Code",
            "Requests per second over 5 minutes, per status code.",
            "reqps",
            [query(f"sum(rate({requests}{_RATE})) by (status_code)", "{{status_code}}")],
            axis_label="Requests/sec",
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            2,
            "HTTP Request Latency (95th Percentile)",
            "95th percentile response time per route, from the duration histogram.",
            "ms",
            [query(f"histogram_quantile(0.95, {by_route}) * 1000", "{{method}} {{path}} - p95")],
            steps=LATENCY_STEPS,
            axis_label="Duration (ms)",
            threshold_lines=True,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            3,
            "Error Ratio (5xx)",
            "Share of requests answered with a 5xx; 0 while there are none.",
            "percentunit",
            [
                query(
                    f"(sum(rate({errors}{_RATE})) or vector(0)) / sum(rate({requests}{_RATE}))",
                    "5xx share",
                )
            ],
            steps=((None, "green"), (0.01, "orange"), (0.05, "red")),
            width=8,
            threshold_lines=True,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            4,
            "HTTP Request Latency (p50 and p99)",
            "Median and 99th percentile response time per route.",
            "ms",
            [
                query(f"histogram_quantile(0.5, {by_route}) * 1000", "{{method}} {{path}} - p50"),
                query(
                    f"histogram_quantile(0.99, {by_route}) * 1000",
                    "{{method}} {{path}} - p99",
                    ref="B",
                ),
            ],
            steps=LATENCY_STEPS,
            width=8,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            5,
            "Requests In Progress",
            "Requests being handled right now, per route.",
            "short",
            [
                query(
                    f"sum by (method, path) (http_requests_in_progress{{{INSTANCE}}})",
                    "{{method}} {{path}}",
                )
            ],
            width=8,
        )
    )


def _users_and_database(dashboard: dashboard_builders.Dashboard) -> None:
    buckets = f"db_query_duration_seconds_bucket{{{INSTANCE}}}"
    db = f"sum by (le, operation, table) (rate({buckets}{_RATE}))"
    dashboard.with_row(dashboard_builders.Row("Users and database").id(102))
    dashboard.with_panel(
        stat_panel(
            6,
            "Active Users",
            "Users seen in the activity window. With Redis every instance reports the same "
            "shared count, so this takes the max, not the sum.",
            "short",
            query(f"max(active_users{{{INSTANCE}}})", "active users"),
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            7,
            "Database Query Latency (p95) by Operation and Table",
            "95th percentile query time per SQL operation and table.",
            "ms",
            [
                query(
                    f"histogram_quantile(0.95, {db}) * 1000",
                    "{{operation}} {{table}}",
                )
            ],
            steps=((None, "green"), (100.0, "orange"), (500.0, "red")),
        )
        # Slow queries: is it the database? Its connections, locks and host are one click on.
        .links([link_to(f"{DEPENDENCIES_TITLE}: PostgreSQL", DEPENDENCIES_UID)])
    )
    dashboard.with_panel(
        timeseries_panel(
            8,
            "Database Queries by Operation",
            "Queries per second per operation; success=false are failed queries.",
            "ops",
            [
                query(
                    "sum by (operation, success) "
                    f"(rate(db_query_duration_seconds_count{{{INSTANCE}}}{_RATE}))",
                    "{{operation}} success={{success}}",
                )
            ],
            width=6,
        )
    )


def _slo_and_errors(dashboard: dashboard_builders.Dashboard, spec: SloSpec) -> None:
    ref = f'{{service="{spec.service}"}}'
    page = sorted(w.factor(spec.period_hours) for w in BURN_ALERTS[0].windows)
    budget = f"{ERROR_BUDGET_RECORD}{ref}"
    dashboard.with_row(dashboard_builders.Row("Errors, SLOs and alerts").id(103))
    dashboard.with_panel(
        timeseries_panel(
            9,
            "Errors by Type",
            "Errors per second per exception type and severity.",
            "short",
            [
                query(
                    f"sum by (type, severity) (rate(errors_total{{{INSTANCE}}}{_RATE}))",
                    "{{type}} ({{severity}})",
                )
            ],
            width=8,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            10,
            "SLO Error-Budget Burn Rate",
            "How many times faster than sustainable each SLO spends its error budget "
            f"(1 = the budget lasts exactly {spec.period}). The page fires from "
            f"{number(page[0])}x over 6h and {number(page[1])}x over 1h.",
            "x",
            [
                query(
                    f"{error_ratio_record('1h')}{ref} / on (service, slo) {budget}", "{{slo}} 1h"
                ),
                query(
                    f"{error_ratio_record('6h')}{ref} / on (service, slo) {budget}",
                    "{{slo}} 6h",
                    ref="B",
                ),
            ],
            steps=((None, "green"), (1.0, "yellow"), (page[0], "orange"), (page[1], "red")),
            width=8,
            threshold_lines=True,
        )
    )
    dashboard.with_panel(
        stat_panel(
            11,
            "Error Budget Remaining",
            f"Share of the {spec.period} error budget left per SLO (below 0: overspent).",
            "percentunit",
            query(f"{BUDGET_REMAINING_RECORD}{ref}", "{{slo}}"),
            steps=((None, "red"), (0.0, "orange"), (0.25, "green")),
            width=8,
        )
    )
    dashboard.with_panel(
        table_panel(
            12,
            "Firing Alerts",
            "Alerts Prometheus is firing now (Alertmanager routes them to the app and Slack).",
            query('ALERTS{alertstate="firing"}', instant=True),
        )
    )


def _alert_delivery(dashboard: dashboard_builders.Dashboard) -> None:
    dashboard.with_panel(
        timeseries_panel(
            13,
            "Alert Notifications",
            "Slack deliveries per second by result, and notifications waiting in the outbox.",
            "short",
            [
                query(
                    "sum by (result) "
                    f"(rate(ykmake_alert_notifications_total{{{INSTANCE}}}{_RATE}))",
                    "{{result}}/s",
                ),
                query(f"max(ykmake_alert_outbox_pending{{{INSTANCE}}})", "pending", ref="B"),
            ],
            width=24,
        )
    )


def _process(dashboard: dashboard_builders.Dashboard) -> None:
    dashboard.with_row(dashboard_builders.Row("Process").id(104))
    dashboard.with_panel(
        timeseries_panel(
            14,
            "CPU",
            "CPU time per second (1 = one core busy).",
            "percentunit",
            [query(f"rate(process_cpu_seconds_total{{{INSTANCE}}}{_RATE})", "{{instance}}")],
            width=6,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            15,
            "Memory",
            "Resident and virtual memory; the lines are the HighMemory alert levels.",
            "bytes",
            [
                query(f"process_resident_memory_bytes{{{INSTANCE}}}", "{{instance}} resident"),
                query(
                    f"process_virtual_memory_bytes{{{INSTANCE}}}", "{{instance}} virtual", ref="B"
                ),
            ],
            steps=(
                (None, "green"),
                (float(MEMORY_WARNING_BYTES), "orange"),
                (float(MEMORY_CRITICAL_BYTES), "red"),
            ),
            width=6,
            threshold_lines=True,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            16,
            "Garbage Collection",
            "Collections and collected objects per second, per generation.",
            "short",
            [
                query(
                    f"sum by (generation) (rate(python_gc_collections_total{{{INSTANCE}}}{_RATE}))",
                    "gen {{generation}} collections",
                ),
                query(
                    "sum by (generation) "
                    f"(rate(python_gc_objects_collected_total{{{INSTANCE}}}{_RATE}))",
                    "gen {{generation}} objects",
                    ref="B",
                ),
            ],
            width=6,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            17,
            "Event Loop Lag",
            "How late the event loop woke up; the lines are the EventLoopLag alert levels.",
            "s",
            [query(f"event_loop_lag_seconds{{{INSTANCE}}}", "{{instance}}")],
            steps=(
                (None, "green"),
                (LOOP_LAG_WARNING_SECONDS, "orange"),
                (LOOP_LAG_CRITICAL_SECONDS, "red"),
            ),
            width=6,
            threshold_lines=True,
        )
    )


def overview_dashboard(spec: SloSpec) -> dashboard_builders.Dashboard:
    """The overview dashboard for the service and SLOs of ``spec``."""
    dashboard = (
        dashboard_builders.Dashboard(OVERVIEW_TITLE)
        .uid(OVERVIEW_UID)
        .tags(["ykmake", "overview"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("15s")
        .time("now-1h", "now")
        .timezone("browser")
        .timepicker(
            dashboard_builders.TimePicker().refresh_intervals(
                ["5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d"]
            )
        )
        .variables(list(_variables()))
        .annotations([])  # Grafana adds its built-in "Annotations & Alerts" itself
        .links([link_to(DEPENDENCIES_TITLE, DEPENDENCIES_UID)])
    )
    _traffic(dashboard)
    _users_and_database(dashboard)
    _slo_and_errors(dashboard, spec)
    _alert_delivery(dashboard)
    _process(dashboard)
    return dashboard
