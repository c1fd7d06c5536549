"""The first scrape of every target, as Prometheus saw it: what ``stack up`` reports.

A stack whose processes all started can still watch nothing: Prometheus gets 401 from the app
when ``METRICS_TOKEN`` is not shared with it, or the app is not running at all. So ``stack
up`` waits for the first scrape of each target and says how each went, with what to change
when the cause is a known one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["TargetHealth", "first_scrapes"]

APP_JOB = "ykmake"


@dataclass(frozen=True)
class TargetHealth:
    """One target: its job, address, ``up``/``down``/``unknown`` (not scraped yet), error."""

    job: str
    instance: str
    health: str
    error: str

    @property
    def hint(self) -> str | None:
        """What to change, when the cause is one this project knows."""
        if self.job != APP_JOB or self.health == "up":
            return None
        if "401" in self.error or "403" in self.error:
            return (
                "the app refuses Prometheus' token: give `ykmake serve` and `ykmake stack up` "
                "the same METRICS_TOKEN"
            )
        if "connection refused" in self.error:
            return "nothing listens there: start `ykmake serve` (or pass --app-port)"
        return None


def _targets(client: httpx.Client, prometheus_url: str) -> list[TargetHealth]:
    response = client.get(f"{prometheus_url}/api/v1/targets", params={"state": "active"})
    response.raise_for_status()
    active: list[dict[str, Any]] = response.json()["data"]["activeTargets"]
    return [
        TargetHealth(
            str(t["labels"].get("job", t.get("scrapePool", ""))),
            str(t["labels"].get("instance", t.get("scrapeUrl", ""))),
            str(t.get("health", "unknown")),
            str(t.get("lastError", "")),
        )
        for t in active
    ]


def first_scrapes(prometheus_url: str, *, timeout: float, poll: float = 0.5) -> list[TargetHealth]:
    """Every active target once Prometheus has scraped each (or ``timeout`` has passed: those
    not yet scraped say ``unknown``), sorted by job and instance."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as client:
        while True:
            targets = _targets(client, prometheus_url)
            scraped = targets and all(t.health != "unknown" for t in targets)
            if scraped or time.monotonic() >= deadline:
                return sorted(targets, key=lambda t: (t.job, t.instance))
            time.sleep(poll)  # Prometheus' own schedule: nothing to wake us sooner
