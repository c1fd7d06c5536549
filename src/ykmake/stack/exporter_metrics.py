"""The exporters' metrics that deploy/'s rules and the dependencies dashboard query, by job.

The names are those of the exporters Debian packages (postgres_exporter 0.11, redis_exporter
1.45, node_exporter 1.5); the live test scrapes each running exporter for them, so a rename in
another version shows up as a failing test, not as an alert that silently never fires.
"""

from __future__ import annotations

__all__ = ["EXPORTER_METRICS", "exporter_series_names"]

EXPORTER_METRICS: dict[str, tuple[str, ...]] = {
    "postgres-exporter": (
        "pg_up",
        "pg_settings_max_connections",
        "pg_stat_activity_count",
        "pg_stat_activity_max_tx_duration",
        "pg_stat_database_deadlocks",
        "pg_stat_database_xact_commit",
        "pg_stat_database_xact_rollback",
    ),
    "redis-exporter": (
        "redis_up",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_evicted_keys_total",
        "redis_rejected_connections_total",
        "redis_commands_processed_total",
        "redis_connected_clients",
    ),
    "node-exporter": (
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
        "node_filesystem_readonly",
        "node_filefd_allocated",
        "node_filefd_maximum",
    ),
}


def exporter_series_names() -> frozenset[str]:
    """Every exporter metric a rule or a panel may select."""
    return frozenset(name for names in EXPORTER_METRICS.values() for name in names)
