"""The "YkMake Dependencies" dashboard: what the service depends on, from its exporters —
PostgreSQL (postgres_exporter), Redis (redis_exporter) and the host (node_exporter).

The overview links here (and back): the on-call engineer who sees the service fail looks at
its database, its cache and its disk on the next screen.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DashboardLinkType

from ykmake.dashboards._grafana import query, stat_panel, timeseries_panel

__all__ = ["DEPENDENCIES_TITLE", "DEPENDENCIES_UID", "dependencies_dashboard", "link_to"]

DEPENDENCIES_UID = "ykmake-dependencies"
DEPENDENCIES_TITLE = "YkMake Dependencies"
_RATE = "[5m]"
# Up is 1, down is 0: red below 1.
_UP_STEPS = ((None, "red"), (1.0, "green"))
_SHARE_STEPS = ((None, "green"), (0.8, "orange"), (0.9, "red"))


def link_to(title: str, uid: str) -> dashboard_builders.DashboardLink:
    """A link in the dashboard's header to another dashboard of the service, keeping the time
    range and variables."""
    return (
        dashboard_builders.DashboardLink(title)
        .type(DashboardLinkType.LINK)
        .url(f"/d/{uid}")
        .icon("dashboard")
        .keep_time(True)
        .include_vars(True)
    )


def _postgres(dashboard: dashboard_builders.Dashboard) -> None:
    dashboard.with_row(dashboard_builders.Row("PostgreSQL").id(101))
    dashboard.with_panel(
        stat_panel(
            1,
            "PostgreSQL Up",
            "1 when postgres_exporter reaches the database.",
            "none",
            query("min(pg_up)"),
            steps=_UP_STEPS,
            width=4,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            2,
            "Connections in Use",
            "Connections of every database and state, as a share of max_connections.",
            "percentunit",
            [query("sum(pg_stat_activity_count) / max(pg_settings_max_connections)", "in use")],
            steps=_SHARE_STEPS,
            width=10,
            threshold_lines=True,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            3,
            "Transactions per Second",
            "Commits and rollbacks over 5 minutes, all databases.",
            "ops",
            [
                query(f"sum(rate(pg_stat_database_xact_commit{_RATE}))", "commits"),
                query(f"sum(rate(pg_stat_database_xact_rollback{_RATE}))", "rollbacks", ref="B"),
            ],
            width=10,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            4,
            "Longest Open Transaction",
            "Age of the oldest open transaction; a long one holds locks and blocks vacuum.",
            "s",
            [query("max(pg_stat_activity_max_tx_duration)", "oldest")],
            steps=((None, "green"), (60.0, "orange"), (300.0, "red")),
            threshold_lines=True,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            5,
            "Deadlocks",
            "Deadlocks PostgreSQL detected over 5 minutes, by database.",
            "short",
            [
                query(
                    f"sum by (datname) (increase(pg_stat_database_deadlocks{_RATE}))",
                    "{{datname}}",
                )
            ],
        )
    )


def _redis(dashboard: dashboard_builders.Dashboard) -> None:
    dashboard.with_row(dashboard_builders.Row("Redis").id(102))
    dashboard.with_panel(
        stat_panel(
            11,
            "Redis Up",
            "1 when redis_exporter reaches Redis.",
            "none",
            query("min(redis_up)"),
            steps=_UP_STEPS,
            width=4,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            12,
            "Memory Used",
            "Memory Redis uses, and its maxmemory limit when one is set.",
            "bytes",
            [
                query("sum(redis_memory_used_bytes)", "used"),
                query("sum(redis_memory_max_bytes) > 0", "limit", ref="B"),
            ],
            width=10,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            13,
            "Commands and Clients",
            "Commands per second over 5 minutes, and connected clients.",
            "short",
            [
                query(f"sum(rate(redis_commands_processed_total{_RATE}))", "commands/s"),
                query("sum(redis_connected_clients)", "clients", ref="B"),
            ],
            width=10,
        )
    )
    dashboard.with_panel(
        timeseries_panel(
            14,
            "Evictions and Rejected Connections",
            "Keys evicted for memory and connections refused (maxclients), per second.",
            "short",
            [
                query(f"sum(rate(redis_evicted_keys_total{_RATE}))", "evicted keys/s"),
                query(
                    f"sum(rate(redis_rejected_connections_total{_RATE}))",
                    "rejected connections/s",
                    ref="B",
                ),
            ],
            width=24,
        )
    )


def _host(dashboard: dashboard_builders.Dashboard) -> None:
    dashboard.with_row(dashboard_builders.Row("Host").id(103))
    idle = f'rate(node_cpu_seconds_total{{mode="idle"}}{_RATE})'
    disks = 'fstype!~"tmpfs|overlay|squashfs|ramfs"'
    panels = [
        (21, "CPU Busy", "Share of CPU time not idle, all cores.", f"1 - avg({idle})", "busy"),
        (
            22,
            "Memory Used",
            "Share of memory not available to new work (MemAvailable).",
            "1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)",
            "used",
        ),
        (
            23,
            "Disk Space Used",
            "Share of each filesystem in use.",
            f"1 - node_filesystem_avail_bytes{{{disks}}} / node_filesystem_size_bytes{{{disks}}}",
            "{{mountpoint}}",
        ),
        (
            24,
            "File Descriptors",
            "Open file handles of the host, as a share of its limit.",
            "sum(node_filefd_allocated) / sum(node_filefd_maximum)",
            "open",
        ),
    ]
    for panel_id, title, description, expr, legend in panels:
        dashboard.with_panel(
            timeseries_panel(
                panel_id,
                title,
                description,
                "percentunit",
                [query(expr, legend)],
                steps=_SHARE_STEPS,
                width=6,
                threshold_lines=True,
            )
        )


def dependencies_dashboard(overview_uid: str, overview_title: str) -> dashboard_builders.Dashboard:
    """The dependencies dashboard, linked back to the overview."""
    dashboard = (
        dashboard_builders.Dashboard(DEPENDENCIES_TITLE)
        .uid(DEPENDENCIES_UID)
        .tags(["ykmake", "dependencies"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .refresh("15s")
        .time("now-1h", "now")
        .timezone("browser")
        .links([link_to(overview_title, overview_uid)])
        .annotations([])
    )
    _postgres(dashboard)
    _redis(dashboard)
    _host(dashboard)
    return dashboard
