"""Alerts on what the app depends on: PostgreSQL, Redis and the host, from their exporters.

Metric names are those of the Debian packages' exporters (postgres_exporter 0.11,
redis_exporter 1.45, node_exporter 1.5); the live test reads them from the running exporters.
Every alert carries a runbook annotation: what to look at first and what to do. Like the
symptom alerts, an alert with two severities keeps one name, so Alertmanager's inhibition
sends only the worse one.
"""

from __future__ import annotations

from typing import Any

from ykmake.monitoring.alerts.vocabulary import Severity
from ykmake.stack._rule import alert_rule
from ykmake.stack.promql import number
from ykmake.stack.rules_host import host_alerts
from ykmake.stack.slo import SloSpec

__all__ = [
    "EXPORTER_JOBS",
    "POSTGRES_CONNECTIONS_CRITICAL_RATIO",
    "POSTGRES_CONNECTIONS_WARNING_RATIO",
    "POSTGRES_TRANSACTION_CRITICAL_SECONDS",
    "POSTGRES_TRANSACTION_WARNING_SECONDS",
    "REDIS_MEMORY_CRITICAL_RATIO",
    "REDIS_MEMORY_WARNING_RATIO",
    "dependency_alert_group",
]

# The scrape jobs of deploy/prometheus/prometheus.yml that run an exporter.
EXPORTER_JOBS = ("node-exporter", "postgres-exporter", "redis-exporter")

POSTGRES_CONNECTIONS_WARNING_RATIO = 0.8
POSTGRES_CONNECTIONS_CRITICAL_RATIO = 0.95
POSTGRES_TRANSACTION_WARNING_SECONDS = 5 * 60
POSTGRES_TRANSACTION_CRITICAL_SECONDS = 30 * 60
REDIS_MEMORY_WARNING_RATIO = 0.8
REDIS_MEMORY_CRITICAL_RATIO = 0.95


def _postgres(spec: SloSpec) -> list[dict[str, Any]]:
    connections = (
        "sum by (instance, server) (pg_stat_activity_count)\n"
        "/ on (instance, server)\n"
        "max by (instance, server) (pg_settings_max_connections)"
    )
    transaction = "max by (instance, server, datname) (pg_stat_activity_max_tx_duration)"
    connections_text = {
        "summary": "PostgreSQL {{ $labels.server }} uses "
        "{{ $value | humanizePercentage }} of max_connections",
        "description": "New connections are refused once max_connections is reached: the app's "
        "requests and its alert store then fail.",
        "runbook": "Look at pg_stat_activity grouped by application_name, client_addr and state "
        "(many 'idle in transaction' means a leak). Lower the app's pool size or worker count, "
        "put PgBouncer in front, or raise max_connections (needs a restart).",
    }
    transaction_text = {
        "summary": "A transaction in {{ $labels.datname }} on {{ $labels.server }} has run for "
        "{{ $value | humanizeDuration }}",
        "description": "A long transaction holds locks and keeps VACUUM from removing dead rows: "
        "queries wait behind it and tables bloat.",
        "runbook": "Find it: SELECT pid, state, xact_start, query FROM pg_stat_activity ORDER BY "
        "xact_start LIMIT 5. If it is stuck or 'idle in transaction', end it with "
        "pg_terminate_backend(pid) and fix the code path that left it open.",
    }
    return [
        alert_rule(
            "PostgresDown",
            "pg_up == 0",
            "1m",
            Severity.CRITICAL,
            spec,
            summary="PostgreSQL {{ $labels.instance }} is unreachable",
            description="postgres_exporter could not connect to PostgreSQL for 1 minute: the "
            "app's requests that touch the database fail and alerts wait in the spool.",
            runbook="Check the server (systemctl status postgresql, pg_isready), its log, the "
            "disk it writes to, and the exporter's log for the connection error (password, "
            "pg_hba.conf, sslmode).",
        ),
        *(
            alert_rule(
                "PostgresTooManyConnections",
                f"{connections} > {number(ratio)}",
                "5m",
                severity,
                spec,
                **connections_text,
            )
            for severity, ratio in (
                (Severity.WARNING, POSTGRES_CONNECTIONS_WARNING_RATIO),
                (Severity.CRITICAL, POSTGRES_CONNECTIONS_CRITICAL_RATIO),
            )
        ),
        *(
            alert_rule(
                "PostgresLongTransaction",
                f"{transaction} > {seconds}",
                "1m",
                severity,
                spec,
                **transaction_text,
            )
            for severity, seconds in (
                (Severity.WARNING, POSTGRES_TRANSACTION_WARNING_SECONDS),
                (Severity.CRITICAL, POSTGRES_TRANSACTION_CRITICAL_SECONDS),
            )
        ),
        alert_rule(
            "PostgresDeadlocks",
            "sum by (instance, server, datname) (increase(pg_stat_database_deadlocks[10m])) > 0",
            "",  # each deadlock already aborted a transaction: say so at once
            Severity.WARNING,
            spec,
            summary="Deadlocks in {{ $labels.datname }} on {{ $labels.server }}",
            description="PostgreSQL aborted transactions to break deadlocks; the app saw "
            "errors for them.",
            runbook="The server log has each deadlock with both queries (log_lock_waits helps). "
            "Make the code take locks in one order (e.g. sort rows before updating them) and "
            "keep transactions short.",
        ),
    ]


def _redis(spec: SloSpec) -> list[dict[str, Any]]:
    memory = "redis_memory_used_bytes / (redis_memory_max_bytes > 0)"
    text = {
        "summary": "Redis {{ $labels.instance }} uses {{ $value | humanizePercentage }} of "
        "its maxmemory",
        "description": "At maxmemory Redis evicts keys or refuses writes, depending on "
        "maxmemory-policy.",
        "runbook": "redis-cli INFO memory and --bigkeys show what grows; check keys without a "
        "TTL. Raise maxmemory (CONFIG SET maxmemory, and in redis.conf) or free keys.",
    }
    return [
        alert_rule(
            "RedisDown",
            "redis_up == 0",
            "1m",
            Severity.CRITICAL,
            spec,
            summary="Redis {{ $labels.instance }} is unreachable",
            description="redis_exporter could not reach Redis for 1 minute: the app's shared "
            "state (active users) is unavailable.",
            runbook="Check the server (systemctl status redis-server, redis-cli ping), its log "
            "(out of memory, a failed save), and the exporter's log for the connection error "
            "(address, password).",
        ),
        *(
            alert_rule(
                "RedisMemoryNearLimit", f"{memory} > {number(ratio)}", "5m", sev, spec, **text
            )
            for sev, ratio in (
                (Severity.WARNING, REDIS_MEMORY_WARNING_RATIO),
                (Severity.CRITICAL, REDIS_MEMORY_CRITICAL_RATIO),
            )
        ),
        alert_rule(
            "RedisEvictingKeys",
            "increase(redis_evicted_keys_total[5m]) > 0",
            "",
            Severity.WARNING,
            spec,
            summary="Redis {{ $labels.instance }} is evicting keys",
            description="Redis reached maxmemory and dropped keys: state the app keeps there "
            "is lost.",
            runbook="Same as RedisMemoryNearLimit: find what fills memory (INFO memory, "
            "--bigkeys), then raise maxmemory or shorten TTLs.",
        ),
        alert_rule(
            "RedisRejectingConnections",
            "increase(redis_rejected_connections_total[5m]) > 0",
            "",
            Severity.CRITICAL,
            spec,
            summary="Redis {{ $labels.instance }} is rejecting connections",
            description="Redis hit maxclients and refused new connections: the app's calls to "
            "Redis fail.",
            runbook="redis-cli INFO clients and CLIENT LIST show who holds connections; look for "
            "a client leaking them. Raise maxclients (and the file descriptor limit) if the load "
            "is real.",
        ),
    ]


def _exporters_down(spec: SloSpec) -> dict[str, Any]:
    jobs = "|".join(EXPORTER_JOBS)
    return alert_rule(
        "ExporterDown",
        f'up{{job=~"{jobs}"}} == 0',
        "2m",
        Severity.WARNING,
        spec,
        summary="{{ $labels.job }} at {{ $labels.instance }} is down",
        description="Prometheus could not scrape {{ $labels.job }} for 2 minutes: its alerts "
        "(database, Redis or host) are blind until it is back.",
        runbook="Check the exporter's process or container and its log; curl its /metrics "
        "from the Prometheus host. With `ykmake stack up` its log is in the stack's data dir.",
    )


def dependency_alert_group(spec: SloSpec) -> dict[str, Any]:
    """The rule group of the alerts on PostgreSQL, Redis, the host and their exporters."""
    rules = [*_postgres(spec), *_redis(spec), *host_alerts(spec), _exporters_down(spec)]
    return {"name": f"{spec.service}-dependencies", "rules": rules}
