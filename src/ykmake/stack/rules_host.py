"""Alerts on the host, from node_exporter: CPU, memory, disk space and file descriptors."""

from __future__ import annotations

from typing import Any

from ykmake.monitoring.alerts.vocabulary import Severity
from ykmake.stack._rule import alert_rule
from ykmake.stack.promql import number
from ykmake.stack.slo import SloSpec

__all__ = [
    "CPU_BUSY_RATIO",
    "DISK_FREE_RATIO",
    "FILE_DESCRIPTORS_RATIO",
    "MEMORY_AVAILABLE_CRITICAL_RATIO",
    "MEMORY_AVAILABLE_WARNING_RATIO",
    "host_alerts",
]

CPU_BUSY_RATIO = 0.9
MEMORY_AVAILABLE_WARNING_RATIO = 0.1
MEMORY_AVAILABLE_CRITICAL_RATIO = 0.05
DISK_FREE_RATIO = 0.2  # a disk with more free space than this is not called "filling"
FILE_DESCRIPTORS_RATIO = 0.8

# Real, writable file systems only: tmpfs and friends come and go with their contents.
_FILESYSTEMS = 'fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|fuse.*",mountpoint!~"/(run|boot).*"'
_MEMORY_TEXT = {
    "summary": "{{ $labels.instance }} has {{ $value | humanizePercentage }} of its memory "
    "available",
    "description": "Little memory is left for new allocations: the kernel reclaims cache, "
    "swaps, and its OOM killer may end the app, PostgreSQL or Redis.",
    "runbook": "See what holds memory (top sorted by RES, `ps aux --sort=-rss | head`), check "
    "the app's YkMakeHighMemory alert for a leak, and the database's and Redis' memory "
    "settings. Restart the leaking process or add memory.",
}
_DISK_TEXT = {
    "summary": "{{ $labels.mountpoint }} on {{ $labels.instance }} fills up at this rate",
    "description": "Free space on {{ $labels.mountpoint }} is below "
    f"{DISK_FREE_RATIO:.0%} and falls fast enough to run out: logs, the database and "
    "Prometheus' TSDB stop writing then.",
    "runbook": "`du -xh --max-depth=2 {{ $labels.mountpoint }} | sort -h | tail` shows what "
    "grows: rotate or delete old logs, shorten retention, VACUUM bloated tables, or grow the "
    "disk.",
}


def _disk(horizon_hours: int, window: str) -> str:
    avail = f"node_filesystem_avail_bytes{{{_FILESYSTEMS}}}"
    return (
        f"predict_linear({avail}[{window}], {horizon_hours} * 3600) < 0\n"
        f"and {avail} / node_filesystem_size_bytes < {number(DISK_FREE_RATIO)}\n"
        "and node_filesystem_readonly == 0"
    )


def host_alerts(spec: SloSpec) -> list[dict[str, Any]]:
    """The host's alerts, by node_exporter's ``instance``."""
    available = "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"
    return [
        alert_rule(
            "HostCpuSaturated",
            '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))'
            f" > {number(CPU_BUSY_RATIO)}",
            "15m",
            Severity.WARNING,
            spec,
            summary="{{ $labels.instance }} is {{ $value | humanizePercentage }} busy",
            description="Every CPU has been nearly busy for 15 minutes: requests queue and "
            "latency grows.",
            runbook="top or pidstat -u 5 show who uses it (the app's workers, PostgreSQL "
            "queries, a backup). Look for a slow query or a traffic spike; add workers on "
            "other hosts or CPUs.",
        ),
        *(
            alert_rule(
                "HostMemoryLow", f"{available} < {number(ratio)}", wait, sev, spec, **_MEMORY_TEXT
            )
            for sev, ratio, wait in (
                (Severity.WARNING, MEMORY_AVAILABLE_WARNING_RATIO, "5m"),
                (Severity.CRITICAL, MEMORY_AVAILABLE_CRITICAL_RATIO, "2m"),
            )
        ),
        # Full within a day at the last 6 hours' pace: a ticket. Within 4 hours at the last
        # hour's pace: a page.
        alert_rule("HostDiskFilling", _disk(24, "6h"), "30m", Severity.WARNING, spec, **_DISK_TEXT),
        alert_rule("HostDiskFilling", _disk(4, "1h"), "10m", Severity.CRITICAL, spec, **_DISK_TEXT),
        alert_rule(
            "HostFileDescriptorsNearLimit",
            f"node_filefd_allocated / node_filefd_maximum > {number(FILE_DESCRIPTORS_RATIO)}",
            "5m",
            Severity.WARNING,
            spec,
            summary="{{ $labels.instance }} uses {{ $value | humanizePercentage }} of its file "
            "descriptors",
            description="When the system's file descriptors run out, no process can open a "
            "file or a socket: connections fail everywhere.",
            runbook="`lsof -n | awk '{print $1}' | sort | uniq -c | sort -n | tail` names the "
            "holders; look for a leak of connections or files. Raise fs.file-max if the use "
            "is real.",
        ),
    ]
