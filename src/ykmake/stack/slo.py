"""The SLO definition (deploy/slo.yml): a few objectives, from which every SLO rule is generated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ykmake.stack.errors import SloSpecError
from ykmake.stack.exported_metrics import HTTP_DURATION_BUCKETS

__all__ = ["SLI_KINDS", "Objective", "SloSpec", "load_slo_spec", "parse_slo_spec"]

SliKind = Literal["availability", "latency"]
SLI_KINDS: tuple[SliKind, ...] = ("availability", "latency")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.-]+$")
# Paths become part of a regex matcher: keep them to characters RE2 reads literally.
_PATH = re.compile(r"^/[A-Za-z0-9_/{}.-]*$")
_DURATION = re.compile(r"^(\d+)([hdw])$")
_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


@dataclass(frozen=True)
class Objective:
    """One SLO: the share of good requests (``objective`` percent) over the spec's period."""

    name: str
    sli: SliKind
    objective: float
    description: str
    threshold_seconds: float | None = None

    @property
    def target(self) -> float:
        """The objective as a ratio (99.9 -> 0.999)."""
        return round(self.objective / 100, 10)

    @property
    def error_budget(self) -> float:
        """The share of requests allowed to be bad (99.9 -> 0.001)."""
        return round(1 - self.target, 10)

    @property
    def latency_threshold(self) -> float:
        """The latency bound of a latency SLO, in seconds."""
        if self.threshold_seconds is None:
            msg = f"SLO {self.name!r} has no threshold_seconds"
            raise SloSpecError(msg)
        return self.threshold_seconds

    @property
    def alert_name(self) -> str:
        """One name per SLO: page and ticket differ by severity, so inhibition pairs them."""
        camel = "".join(part.capitalize() for part in self.name.split("_"))
        return f"YkMake{camel}ErrorBudgetBurn"


@dataclass(frozen=True)
class SloSpec:
    """The parsed deploy/slo.yml."""

    service: str
    job: str
    period: str
    period_hours: int
    objectives: tuple[Objective, ...]
    exclude_paths: tuple[str, ...] = ()


def load_slo_spec(path: Path) -> SloSpec:
    """Read and validate an SLO definition file.

    Raises:
        SloSpecError: the file is missing, is not YAML, or has a bad value (the message says which).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read the SLO definition {path}: {exc.strerror}"
        raise SloSpecError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{path} is not valid YAML: {exc}"
        raise SloSpecError(msg) from None
    return parse_slo_spec(data, source=str(path))


def parse_slo_spec(data: Any, *, source: str = "slo spec") -> SloSpec:
    """Validate the decoded YAML of an SLO definition.

    Raises:
        SloSpecError: a key is missing or has a value outside what it accepts.
    """
    if not isinstance(data, dict):
        msg = f"{source}: expected a mapping with service, job, period and slos"
        raise SloSpecError(msg)
    service = _label_value(data, "service", source)
    job = _label_value(data, "job", source)
    period = str(data.get("period", "30d"))
    match = _DURATION.match(period)
    if match is None or int(match.group(1)) == 0:
        msg = f"{source}: period={period!r} is invalid: expected hours, days or weeks like 30d"
        raise SloSpecError(msg)
    period_hours = int(match.group(1)) * _HOURS[match.group(2)]
    excluded = data.get("exclude_paths", [])
    if not isinstance(excluded, list) or not all(
        isinstance(p, str) and _PATH.match(p) for p in excluded
    ):
        msg = f"{source}: exclude_paths={excluded!r} is invalid: expected a list of route paths"
        raise SloSpecError(msg)
    raw = data.get("slos")
    if not isinstance(raw, list) or not raw:
        msg = f"{source}: slos is missing: expected a list of objectives"
        raise SloSpecError(msg)
    objectives = tuple(_objective(item, f"{source}: slos[{i}]") for i, item in enumerate(raw))
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        msg = f"{source}: slo names must be unique, got {names}"
        raise SloSpecError(msg)
    return SloSpec(service, job, period, period_hours, objectives, tuple(excluded))


def _label_value(data: dict[str, Any], key: str, source: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not _LABEL_VALUE.match(value):
        msg = f"{source}: {key}={value!r} is invalid: expected letters, digits, '_', '.' or '-'"
        raise SloSpecError(msg)
    return value


def _objective(item: Any, where: str) -> Objective:
    if not isinstance(item, dict):
        msg = f"{where}: expected a mapping with name, sli and objective"
        raise SloSpecError(msg)
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        msg = f"{where}: name={name!r} is invalid: expected lower_snake_case"
        raise SloSpecError(msg)
    sli = item.get("sli", name)
    if sli not in SLI_KINDS:
        msg = f"{where}: sli={sli!r} is invalid: expected one of {', '.join(SLI_KINDS)}"
        raise SloSpecError(msg)
    objective = item.get("objective")
    if isinstance(objective, bool) or not isinstance(objective, int | float):
        objective = None
    if objective is None or not 50 <= objective < 100:
        shown = item.get("objective")
        msg = f"{where}: objective={shown!r} is invalid: expected a percentage in [50, 100)"
        raise SloSpecError(msg)
    threshold = item.get("threshold_seconds")
    if sli == "latency" and threshold not in HTTP_DURATION_BUCKETS:
        buckets = ", ".join(str(b) for b in HTTP_DURATION_BUCKETS)
        msg = (
            f"{where}: threshold_seconds={threshold!r} is invalid: "
            f"a latency SLO needs one of the histogram's buckets ({buckets})"
        )
        raise SloSpecError(msg)
    if sli == "availability" and threshold is not None:
        msg = f"{where}: threshold_seconds applies to latency SLOs only"
        raise SloSpecError(msg)
    description = str(item.get("description", ""))
    return Objective(name, sli, float(objective), description, threshold)
