"""Find the stack's binaries on PATH, or say which package provides them."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ykmake.stack.errors import MissingBinaryError

__all__ = ["BINARIES", "Binary", "find_binary", "which_binary"]


@dataclass(frozen=True)
class Binary:
    """A tool the stack runs: the names it goes by on PATH and how to install it."""

    names: tuple[str, ...]
    install: str


BINARIES: dict[str, Binary] = {
    "prometheus": Binary(("prometheus",), "apt-get install prometheus"),
    "promtool": Binary(("promtool",), "apt-get install prometheus"),
    # Debian renames the upstream binaries; accept both spellings.
    "alertmanager": Binary(
        ("prometheus-alertmanager", "alertmanager"), "apt-get install prometheus-alertmanager"
    ),
    "amtool": Binary(("amtool",), "apt-get install prometheus-alertmanager"),
    "node-exporter": Binary(
        ("prometheus-node-exporter", "node_exporter"), "apt-get install prometheus-node-exporter"
    ),
    "postgres-exporter": Binary(
        ("prometheus-postgres-exporter", "postgres_exporter"),
        "apt-get install prometheus-postgres-exporter",
    ),
    "redis-exporter": Binary(
        ("prometheus-redis-exporter", "redis_exporter"),
        "apt-get install prometheus-redis-exporter",
    ),
    "grafana": Binary(
        ("grafana-server",), "apt-get install grafana (from Grafana's own APT repository)"
    ),
}


def which_binary(tool: str, *, path: str | None = None) -> Path | None:
    """The first of ``tool``'s names found on ``path`` (default: PATH), or None."""
    for name in BINARIES[tool].names:
        found = shutil.which(name, path=path)
        if found is not None:
            return Path(found)
    return None


def find_binary(tool: str, *, path: str | None = None) -> Path:
    """Like :func:`which_binary`, but a missing tool is an error naming the package.

    Raises:
        MissingBinaryError: none of the tool's names is on PATH.
    """
    found = which_binary(tool, path=path)
    if found is None:
        binary = BINARIES[tool]
        names = " or ".join(binary.names)
        msg = f"{names} not found on PATH; install it with: {binary.install}"
        raise MissingBinaryError(msg)
    return found
