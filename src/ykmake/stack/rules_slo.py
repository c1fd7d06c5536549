"""SLO rules in the multi-window, multi-burn-rate style of the Google SRE workbook (as Sloth does).

For each objective: the SLI's error ratio recorded over every window an alert reads, a few meta
series for dashboards, and one alert with two severities. ``page`` (critical) fires when 2% of the
period's budget went in 1 hour or 5% in 6 hours; ``ticket`` (warning) when 10% went in 1 or 3 days.
Each long window is paired with a short one (1/12 of it) so an alert stops soon after the burn does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ykmake.monitoring.alerts.vocabulary import Severity
from ykmake.stack.errors import SloSpecError
from ykmake.stack.exported_metrics import format_le
from ykmake.stack.promql import number as _num
from ykmake.stack.slo import Objective, SloSpec

__all__ = [
    "BURN_ALERTS",
    "SLI_WINDOWS",
    "BurnAlert",
    "BurnWindow",
    "burn_alert_annotations",
    "error_ratio_record",
    "slo_rule_groups",
]

SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

OBJECTIVE_RECORD = "slo:objective:ratio"
ERROR_BUDGET_RECORD = "slo:error_budget:ratio"
CURRENT_BURN_RECORD = "slo:current_burn_rate:ratio"
BUDGET_REMAINING_RECORD = "slo:period_error_budget_remaining:ratio"


@dataclass(frozen=True)
class BurnWindow:
    """Alert when ``budget_share`` of the period's budget is spent within ``long``."""

    long: str
    short: str
    long_hours: int
    budget_share: float

    def factor(self, period_hours: int) -> float:
        """The burn rate (multiple of the sustainable error ratio) this window alerts at."""
        return round(self.budget_share * period_hours / self.long_hours, 4)


@dataclass(frozen=True)
class BurnAlert:
    """One severity of an SLO alert: fires when any of its window pairs burns too fast."""

    sloth_severity: Literal["page", "ticket"]
    severity: Severity
    windows: tuple[BurnWindow, ...]
    pace: str


BURN_ALERTS = (
    BurnAlert(
        sloth_severity="page",
        severity=Severity.CRITICAL,
        windows=(BurnWindow("1h", "5m", 1, 0.02), BurnWindow("6h", "30m", 6, 0.05)),
        pace="fast",
    ),
    BurnAlert(
        sloth_severity="ticket",
        severity=Severity.WARNING,
        windows=(BurnWindow("1d", "2h", 24, 0.1), BurnWindow("3d", "6h", 72, 0.1)),
        pace="steadily",
    ),
)


def error_ratio_record(window: str) -> str:
    """Name of the recorded SLI error ratio over ``window``."""
    return f"slo:sli_error:ratio_rate{window}"


def _selector(spec: SloSpec, *extra: str) -> str:
    matchers = [f'job="{spec.job}"']
    if spec.exclude_paths:
        matchers.append(f'path!~"{"|".join(spec.exclude_paths)}"')
    return "{" + ",".join([*matchers, *extra]) + "}"


def _sli_error_expr(spec: SloSpec, objective: Objective, window: str) -> str:
    # `(… > 0)` on the request rate: a window without requests records no ratio instead of
    # 0/0 = NaN. One NaN in the 5m ratio would turn its period average (the budget left) into
    # NaN for a whole period; a missing sample is simply left out of the average.
    if objective.sli == "availability":
        bad = _selector(spec, 'status_code=~"5.."')
        every = _selector(spec)
        # `or 0 * …` keeps the ratio at 0 (not absent) while there are no 5xx at all.
        return (
            "sum(\n"
            f"  rate(http_requests_total{bad}[{window}])\n"
            f"  or 0 * rate(http_requests_total{every}[{window}])\n"
            ")\n"
            f"/ (sum(rate(http_requests_total{every}[{window}])) > 0)\n"
        )
    fast = _selector(spec, f'le="{format_le(objective.latency_threshold)}"')
    return (
        "1 - (\n"
        f"  sum(rate(http_request_duration_seconds_bucket{fast}[{window}]))\n"
        f"  / (sum(rate(http_request_duration_seconds_count{_selector(spec)}[{window}])) > 0)\n"
        ")\n"
    )


def _labels(spec: SloSpec, objective: Objective) -> dict[str, str]:
    return {"service": spec.service, "slo": objective.name}


def _ref(spec: SloSpec, objective: Objective) -> str:
    return f'{{service="{spec.service}",slo="{objective.name}"}}'


def _recording_group(spec: SloSpec, objective: Objective) -> dict[str, Any]:
    rules = [
        {
            "record": error_ratio_record(window),
            "expr": _sli_error_expr(spec, objective, window),
            "labels": _labels(spec, objective),
        }
        for window in SLI_WINDOWS
    ]
    return {"name": f"{spec.service}-slo-{objective.name}-sli", "rules": rules}


def _meta_group(spec: SloSpec, objective: Objective) -> dict[str, Any]:
    ref = _ref(spec, objective)
    labels = _labels(spec, objective)
    # The period ratio averages the 5m ratio (as Sloth does): cheap, and no 30d raw-series scan.
    budget = _num(objective.error_budget)
    rules: list[dict[str, Any]] = [
        {"record": OBJECTIVE_RECORD, "expr": f"vector({_num(objective.target)})", "labels": labels},
        {"record": ERROR_BUDGET_RECORD, "expr": f"vector({budget})", "labels": labels},
        {
            "record": error_ratio_record(spec.period),
            "expr": f"avg_over_time({error_ratio_record('5m')}{ref}[{spec.period}])",
            "labels": labels,
        },
        {
            "record": CURRENT_BURN_RECORD,
            "expr": (
                f"{error_ratio_record('5m')}{ref}\n/ on (service, slo) {ERROR_BUDGET_RECORD}{ref}\n"
            ),
            "labels": labels,
        },
        {
            "record": BUDGET_REMAINING_RECORD,
            "expr": (
                f"1 - {error_ratio_record(spec.period)}{ref}\n"
                f"/ on (service, slo) {ERROR_BUDGET_RECORD}{ref}\n"
            ),
            "labels": labels,
        },
    ]
    return {"name": f"{spec.service}-slo-{objective.name}-meta", "rules": rules}


def _burn_expr(spec: SloSpec, objective: Objective, alert: BurnAlert) -> str:
    ref = _ref(spec, objective)
    arms = []
    for window in alert.windows:
        limit = f"({_num(window.factor(spec.period_hours))} * {_num(objective.error_budget)})"
        arms.append(
            "(\n"
            f"  {error_ratio_record(window.short)}{ref} > {limit}\n"
            "  and\n"
            f"  {error_ratio_record(window.long)}{ref} > {limit}\n"
            ")"
        )
    return "\nor\n".join(arms) + "\n"


def _what(objective: Objective) -> str:
    if objective.sli == "availability":
        return f"{_num(objective.objective)}% of requests answered without a 5xx"
    millis = _num(objective.latency_threshold * 1000)
    return f"{_num(objective.objective)}% of requests answered in under {millis} ms"


def burn_alert_annotations(spec: SloSpec, objective: Objective, alert: BurnAlert) -> dict[str, str]:
    """The summary and description of one severity of an SLO alert (static: no templating)."""
    slowest = min(w.factor(spec.period_hours) for w in alert.windows)
    hours = spec.period_hours / slowest
    horizon = f"{_num(hours)} hours" if hours < 48 else f"{_num(round(hours / 24, 1))} days"
    return {
        "summary": f"{spec.service} {objective.name} SLO is burning its error budget {alert.pace}",
        "description": (
            f"The {objective.name} SLO ({_what(objective)} over {spec.period}) is spending its "
            f"error budget at {_num(slowest)}x the sustainable rate or faster: at this pace the "
            f"whole budget is gone within {horizon}."
        ),
    }


def _alert_group(spec: SloSpec) -> dict[str, Any]:
    rules = [
        {
            "alert": objective.alert_name,
            "expr": _burn_expr(spec, objective, alert),
            "labels": {"severity": alert.severity, "sloth_severity": alert.sloth_severity},
            "annotations": burn_alert_annotations(spec, objective, alert),
        }
        for objective in spec.objectives
        for alert in BURN_ALERTS
    ]
    return {"name": f"{spec.service}-slo-alerts", "rules": rules}


def _check_reachable(spec: SloSpec, objective: Objective) -> None:
    for alert in BURN_ALERTS:
        for window in alert.windows:
            limit = window.factor(spec.period_hours) * objective.error_budget
            if limit >= 1:
                msg = (
                    f"SLO {objective.name!r}: objective={_num(objective.objective)} leaves so much "
                    f"budget that the {alert.sloth_severity} alert over {window.long} would need "
                    f"more than 100% bad requests; raise the objective"
                )
                raise SloSpecError(msg)


def slo_rule_groups(spec: SloSpec) -> list[dict[str, Any]]:
    """Every SLO rule group: per objective its SLI and meta recordings, then the alerts.

    Raises:
        SloSpecError: an objective is so low that a burn-rate alert could never fire.
    """
    groups: list[dict[str, Any]] = []
    for objective in spec.objectives:
        _check_reachable(spec, objective)
        groups += [_recording_group(spec, objective), _meta_group(spec, objective)]
    return [*groups, _alert_group(spec)]
