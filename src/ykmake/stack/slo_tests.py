"""promtool unit tests for the SLO alerts, generated with the rules so they follow the objective.

Each scenario feeds counters with a known share of bad requests over time. The alerts expected at
each evaluation come from the definition of a burn-rate alert (bad share over the short *and* the
long window above factor × budget), computed here in plain Python; promtool then checks that the
generated PromQL agrees. Scenarios stay far from every threshold, so rate() edge effects cannot flip
an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ykmake.stack.errors import SloSpecError
from ykmake.stack.exported_metrics import format_le
from ykmake.stack.rules_slo import (
    BUDGET_REMAINING_RECORD,
    BURN_ALERTS,
    BurnAlert,
    burn_alert_annotations,
    error_ratio_record,
)
from ykmake.stack.slo import Objective, SloSpec

__all__ = ["REQUESTS_PER_MINUTE", "slo_rule_tests"]

REQUESTS_PER_MINUTE = 1000
_MARGIN = 0.1  # a window's bad share must sit at least 10% away from every threshold
_MINUTES = {"m": 1, "h": 60, "d": 1440}
_ROUTE = 'method="GET",path="/api/products"'


@dataclass(frozen=True)
class _Scenario:
    name: str
    segments: tuple[tuple[float, int], ...]  # (share of bad requests, minutes), in order
    evals: tuple[int, ...]  # minutes at which to check the alerts
    excluded_traffic: bool = False


def _minutes(window: str) -> int:
    return int(window[:-1]) * _MINUTES[window[-1]]


def _n(value: float) -> str:
    return f"{round(value, 6):.6f}".rstrip("0").rstrip(".")


def _counter(per_minute: list[tuple[float, int]]) -> str:
    """promtool's expanding notation for a counter growing ``rate`` per minute for ``minutes``."""
    parts: list[str] = []
    value = 0.0
    for rate, minutes in per_minute:
        if not parts:
            parts.append(f"0+{_n(rate)}x{minutes}")
        else:
            parts.append(f"{_n(value + rate)}+{_n(rate)}x{minutes - 1}")
        value += rate * minutes
    return " ".join(parts)


def _bad_share(segments: tuple[tuple[float, int], ...], now: int, window: int) -> float:
    start = max(0, now - window)
    bad = total = 0.0
    minute = 0
    for share, minutes in segments:
        overlap = max(0, min(now, minute + minutes) - max(start, minute))
        bad += share * overlap
        total += overlap
        minute += minutes
    return bad / total


def _firing(spec: SloSpec, objective: Objective, scenario: _Scenario, now: int) -> list[BurnAlert]:
    firing = []
    for alert in BURN_ALERTS:
        fires = ambiguous = False
        for window in alert.windows:
            limit = window.factor(spec.period_hours) * objective.error_budget
            shares = [
                _bad_share(scenario.segments, now, _minutes(w)) for w in (window.short, window.long)
            ]
            above = all(s > limit * (1 + _MARGIN) for s in shares)
            below = any(s < limit * (1 - _MARGIN) for s in shares)
            fires = fires or above
            ambiguous = ambiguous or above == below
        # One window pair clearly firing decides; otherwise every pair must be clearly silent.
        if ambiguous and not fires:
            msg = (
                f"rule test {scenario.name!r} at {now}m sits too close to the "
                f"{alert.sloth_severity} threshold of {objective.name} (the objective is too low "
                "to test this alert clearly; raise it)"
            )
            raise SloSpecError(msg)
        if fires:
            firing.append(alert)
    return firing


def _scenarios(spec: SloSpec, objective: Objective) -> list[_Scenario]:
    budget = objective.error_budget
    (p_hi, p_lo), (t_hi, t_lo) = (
        sorted((w.factor(spec.period_hours) for w in a.windows), reverse=True) for a in BURN_ALERTS
    )
    healthy = t_lo / 2 * budget
    slow = (t_lo + t_hi) / 2 * budget  # above the 3d/6h ticket line only
    steady = (p_lo + p_hi) / 2 * budget  # above the 6h/30m page line, below the 1h/5m one
    burst = min(2 * p_hi * budget, (p_hi * budget + 1) / 2)  # an hour of it crosses 1h/5m only
    return [
        # A day is enough: with a constant share, every longer window reads the same ratio.
        _Scenario("healthy traffic stays silent", ((healthy, 1445),), (60, 1440), True),
        _Scenario("a slow burn opens a ticket without paging", ((slow, 365),), (360,)),
        _Scenario("a steady burn pages through the 6h/30m windows", ((steady, 365),), (360,)),
        _Scenario(
            "an hour-long burst pages through the 1h/5m windows; the short windows end the page",
            ((0.0, 360), (burst, 60), (0.0, 40)),
            (360, 420, 430, 460),
        ),
    ]


def _series(spec: SloSpec, objective: Objective, scenario: _Scenario) -> list[dict[str, str]]:
    job = f'job="{spec.job}"'
    good = [((1 - share) * REQUESTS_PER_MINUTE, m) for share, m in scenario.segments]
    bad = [(share * REQUESTS_PER_MINUTE, m) for share, m in scenario.segments]
    every = [(float(REQUESTS_PER_MINUTE), m) for _, m in scenario.segments]
    none = [(0.0, m) for _, m in scenario.segments]
    if objective.sli == "availability":
        name = "http_requests_total"
        rows = [
            (f'{name}{{{job},{_ROUTE},status_code="200"}}', good),
            (f'{name}{{{job},{_ROUTE},status_code="500"}}', bad),
        ]
        excluded = [(f'{name}{{{job},method="GET",path="{{p}}",status_code="500"}}', every)]
    else:
        le = f'le="{format_le(objective.latency_threshold)}"'
        bucket, count = (
            "http_request_duration_seconds_bucket",
            "http_request_duration_seconds_count",
        )
        rows = [
            (f'{bucket}{{{job},{_ROUTE},status_code="200",{le}}}', good),
            (f'{count}{{{job},{_ROUTE},status_code="200"}}', every),
        ]
        excluded = [
            (f'{bucket}{{{job},method="GET",path="{{p}}",status_code="200",{le}}}', none),
            (f'{count}{{{job},method="GET",path="{{p}}",status_code="200"}}', every),
        ]
    if scenario.excluded_traffic:
        # All-bad traffic on excluded paths (scrapes, probes) must not move the SLO.
        rows += [(s.replace("{p}", p), v) for p in spec.exclude_paths for s, v in excluded]
    return [{"series": series, "values": _counter(values)} for series, values in rows]


def _checks(spec: SloSpec, objective: Objective, scenario: _Scenario) -> list[dict[str, Any]]:
    checks = []
    for now in scenario.evals:
        expected = [
            {
                "exp_labels": {
                    "severity": alert.severity,
                    "sloth_severity": alert.sloth_severity,
                    "service": spec.service,
                    "slo": objective.name,
                },
                "exp_annotations": burn_alert_annotations(spec, objective, alert),
            }
            for alert in _firing(spec, objective, scenario, now)
        ]
        checks.append(
            {"eval_time": f"{now}m", "alertname": objective.alert_name, "exp_alerts": expected}
        )
    return checks


def _idle_test(spec: SloSpec, objective: Objective) -> dict[str, Any]:
    """An hour of good traffic, half an hour without any, then traffic again.

    While idle the 5m ratio has no sample (not 0/0 = NaN), so once traffic is back the period's
    ratio and the budget left are numbers again: 0 bad and the whole budget.
    """
    job = f'job="{spec.job}"'
    if objective.sli == "availability":
        names = [f'http_requests_total{{{job},{_ROUTE},status_code="200"}}']
    else:
        le = f'le="{format_le(objective.latency_threshold)}"'
        names = [
            f'http_request_duration_seconds_bucket{{{job},{_ROUTE},status_code="200",{le}}}',
            f'http_request_duration_seconds_count{{{job},{_ROUTE},status_code="200"}}',
        ]
    busy = float(REQUESTS_PER_MINUTE)
    values = _counter([(busy, 60), (0.0, 30), (busy, 30)])  # flat while idle
    series = [{"series": name, "values": values} for name in names]
    ref = f'{{service="{spec.service}",slo="{objective.name}"}}'

    def sample(name: str, value: int) -> dict[str, Any]:
        return {"labels": f"{name}{ref}", "value": value}

    return {
        "name": f"{objective.name}: an idle half hour leaves the period's ratio a number",
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {"expr": f"{error_ratio_record('5m')}{ref}", "eval_time": "80m", "exp_samples": []},
            {
                "expr": f"{error_ratio_record(spec.period)}{ref}",
                "eval_time": "115m",
                "exp_samples": [sample(error_ratio_record(spec.period), 0)],
            },
            {
                "expr": f"{BUDGET_REMAINING_RECORD}{ref}",
                "eval_time": "115m",
                "exp_samples": [sample(BUDGET_REMAINING_RECORD, 1)],
            },
        ],
    }


def slo_rule_tests(spec: SloSpec, rule_file: str) -> dict[str, Any]:
    """A promtool test file for every SLO alert in ``rule_file`` (a path relative to the test file).

    Raises:
        SloSpecError: the objective leaves no room to test an alert away from its thresholds.
    """
    tests = [
        {
            "name": f"{objective.name}: {scenario.name}",
            "interval": "1m",
            "input_series": _series(spec, objective, scenario),
            "alert_rule_test": _checks(spec, objective, scenario),
        }
        for objective in spec.objectives
        for scenario in _scenarios(spec, objective)
    ]
    tests += [_idle_test(spec, objective) for objective in spec.objectives]
    # Evaluating every 5m keeps promtool quick; every eval time above is a multiple of it.
    return {"rule_files": [rule_file], "evaluation_interval": "5m", "tests": tests}
