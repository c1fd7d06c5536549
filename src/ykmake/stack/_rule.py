"""One alerting rule as deploy/ writes it: labels Alertmanager routes on and a runbook."""

from __future__ import annotations

from typing import Any

from ykmake.monitoring.alerts.vocabulary import Severity
from ykmake.stack.slo import SloSpec

__all__ = ["alert_rule"]


def alert_rule(
    name: str,
    expr: str,
    duration: str,
    severity: Severity,
    spec: SloSpec,
    *,
    summary: str,
    description: str,
    runbook: str,
) -> dict[str, Any]:
    """The rule; ``duration`` '' fires at once. ``runbook``: what to look at, what to do."""
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if duration:
        rule["for"] = duration
    rule["labels"] = {"severity": severity, "service": spec.service}
    rule["annotations"] = {"summary": summary, "description": description, "runbook": runbook}
    return rule
