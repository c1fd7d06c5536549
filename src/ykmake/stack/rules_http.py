"""Recording rules per route: request rate, 5xx ratio and latency quantiles over 5 minutes.

Dashboards and ad-hoc queries read these instead of re-aggregating raw series on every refresh.
"""

from __future__ import annotations

from typing import Any

from ykmake.stack.slo import SloSpec

__all__ = [
    "LATENCY_QUANTILES",
    "ROUTE_BUCKET_RATE",
    "ROUTE_ERROR_RATIO",
    "ROUTE_QUANTILE",
    "ROUTE_RATE",
    "http_recording_group",
]

LATENCY_QUANTILES = (0.5, 0.95, 0.99)
ROUTE_RATE = "job_method_path:http_requests:rate5m"
ROUTE_ERROR_RATIO = "job_method_path:http_requests_errors:ratio_rate5m"
ROUTE_BUCKET_RATE = "job_method_path_le:http_request_duration_seconds_bucket:rate5m"
ROUTE_QUANTILE = "job_method_path:http_request_duration_seconds:quantile5m"
_BY = "job, method, path"


def http_recording_group(spec: SloSpec) -> dict[str, Any]:
    """The rule group recording per-route traffic for ``spec.job``."""
    job = f'job="{spec.job}"'
    rules: list[dict[str, Any]] = [
        {
            "record": ROUTE_RATE,
            "expr": f"sum by ({_BY}) (rate(http_requests_total{{{job}}}[5m]))",
        },
        {
            # `or 0 * …` gives routes without any 5xx a ratio of 0 instead of no series.
            "record": ROUTE_ERROR_RATIO,
            "expr": (
                f"sum by ({_BY}) (\n"
                f'  rate(http_requests_total{{{job},status_code=~"5.."}}[5m])\n'
                f"  or 0 * rate(http_requests_total{{{job}}}[5m])\n"
                f")\n/ {ROUTE_RATE}{{{job}}}\n"
            ),
        },
        {
            "record": ROUTE_BUCKET_RATE,
            "expr": f"sum by ({_BY}, le) (rate(http_request_duration_seconds_bucket{{{job}}}[5m]))",
        },
    ]
    rules += [
        {
            "record": ROUTE_QUANTILE,
            "expr": f"histogram_quantile({q}, {ROUTE_BUCKET_RATE}{{{job}}})",
            "labels": {"quantile": str(q)},
        }
        for q in LATENCY_QUANTILES
    ]
    return {"name": f"{spec.service}-http-recording", "rules": rules}
