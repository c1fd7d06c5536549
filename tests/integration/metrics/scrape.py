"""Scraping /metrics over HTTP and reading it with prometheus_client's parsers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as _parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample

# Unannotated upstream; typed here so mypy --strict stays meaningful.
parse_openmetrics = cast(Callable[[str], Iterable[Metric]], _parse_om)
OPENMETRICS = "application/openmetrics-text; version=1.0.0"

__all__ = ["OPENMETRICS", "parse_openmetrics", "parse_text", "samples", "scrape", "value"]


def scrape(base_url: str, *, token: str | None = None, openmetrics: bool = False) -> str:
    """One scrape over a fresh connection (so any worker may answer)."""
    headers = {"Accept": OPENMETRICS} if openmetrics else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=10)
    response.raise_for_status()
    return response.text


def samples(text: str) -> list[Sample]:
    return [s for family in parse_text(text) for s in family.samples]


def value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample named ``name`` whose labels include ``labels``."""
    found = [
        s.value for s in samples(text) if s.name == name and s.labels.items() >= labels.items()
    ]
    if len(found) > 1:
        msg = f"{len(found)} samples of {name} match {labels}"
        raise AssertionError(msg)
    return found[0] if found else None
