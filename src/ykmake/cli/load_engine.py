"""The engine of ``ykmake load``: a bounded plan of requests to a service on loopback, and
the run that sends it.

Every run is bounded three ways (a request count, a duration and a concurrency, each with a hard
ceiling) and aimed at loopback only, so it can make the dashboards move on a developer's machine
but cannot be turned on somebody else's service. The mix is deterministic: request ``i`` is an
error, a slow request or an ordinary one by where ``i`` falls in a low-discrepancy sequence, so
errors and slow requests are spread evenly over the run (and over Prometheus' scrapes) instead
of arriving in bursts.

asyncio and httpx are imported only once a run starts: ``ykmake --help`` imports this module
for the bounds the command's options show, and should not pay for an HTTP client.

Errors::

    YkmakeError
    └── LoadError        a URL that is not loopback, or a plan outside its bounds
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from ykmake.errors import YkmakeError

if TYPE_CHECKING:
    import threading

    import httpx

__all__ = [
    "MAX_CONCURRENCY",
    "MAX_DURATION_SECONDS",
    "MAX_RATE",
    "MAX_REQUESTS",
    "MAX_SLOW_MS",
    "LoadError",
    "LoadPlan",
    "LoadStats",
    "PlannedRequest",
    "loopback_base_url",
    "planned_request",
    "run_load",
]

MAX_REQUESTS: Final = 100_000
MAX_CONCURRENCY: Final = 256
MAX_DURATION_SECONDS: Final = 3600.0
MAX_RATE: Final = 10_000.0
MAX_SLOW_MS: Final = 10_000  # what /api/debug/slow accepts
_GOLDEN: Final = (math.sqrt(5) - 1) / 2  # the Weyl sequence i*φ mod 1 spreads evenly
_PRODUCT_IDS: Final = 20  # GET /api/products/{1..20}: ids that a POST of the same run creates
_LOCAL_NAMES: Final = frozenset({"localhost", "localhost."})
_SERVER_ERROR: Final = 500


class LoadError(YkmakeError):
    """A target that is not loopback, or a plan outside its bounds."""


def loopback_base_url(url: str) -> str:
    """``url`` without a trailing slash, if it is an http(s) origin on loopback.

    Loopback is 127.0.0.0/8, ::1 and ``localhost``: the name only, since a resolver could map
    any other name anywhere.

    Raises:
        LoadError: another scheme or host, credentials, a path, query or fragment.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"--url {url!r} is not an http:// or https:// URL"
        raise LoadError(msg)
    extras = parts.username or parts.password or parts.query or parts.fragment
    if extras or parts.path not in ("", "/"):
        msg = f"--url {url!r} must be a bare origin like http://127.0.0.1:8000"
        raise LoadError(msg)
    host = parts.hostname
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host.lower() in _LOCAL_NAMES
    if not loopback:
        msg = f"--url host {host!r} is not loopback: only 127.0.0.0/8, ::1 and localhost are"
        raise LoadError(msg)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        msg = f"--url {url!r} has an invalid port"
        raise LoadError(msg) from None
    return f"{parts.scheme}://{parts.netloc}"


def _within(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        msg = f"{name} {value:g} is out of bounds: expected {low:g} to {high:g}"
        raise LoadError(msg)


@dataclass(frozen=True)
class LoadPlan:
    """What to send: where, how much, how fast, and the mix.

    Raises:
        LoadError: a value outside its bounds (see the ``MAX_*`` constants), or a URL that is
            not loopback.
    """

    url: str = "http://127.0.0.1:8000"
    requests: int = 1000
    concurrency: int = 10
    duration: float = 60.0
    rate: float | None = None  # requests/s over the whole run; None: as fast as answered
    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: int = 600
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", loopback_base_url(self.url))
        _within("--requests", self.requests, 1, MAX_REQUESTS)
        _within("--concurrency", self.concurrency, 1, MAX_CONCURRENCY)
        _within("--duration", self.duration, 0.001, MAX_DURATION_SECONDS)
        if self.rate is not None:
            _within("--rate", self.rate, 0.01, MAX_RATE)
        _within("--error-rate", self.error_rate, 0.0, 1.0)
        _within("--slow-rate", self.slow_rate, 0.0, 1.0)
        _within("--error-rate + --slow-rate", self.error_rate + self.slow_rate, 0.0, 1.0)
        _within("--slow-ms", self.slow_ms, 0, MAX_SLOW_MS)


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a run."""

    kind: str  # "error", "slow" or "normal"
    method: str
    path: str
    json: dict[str, Any] | None = None


def planned_request(plan: LoadPlan, index: int) -> PlannedRequest:
    """The ``index``-th request of ``plan`` (the same for the same plan and index)."""
    position = (index * _GOLDEN) % 1.0
    if position < plan.error_rate:
        return PlannedRequest("error", "GET", "/api/debug/error")
    if position < plan.error_rate + plan.slow_rate:
        return PlannedRequest("slow", "GET", f"/api/debug/slow?ms={plan.slow_ms}")
    # Authenticated calls only with a token: without one they would all be 401s.
    choices = 4 if plan.token else 2
    turn = index % choices
    if turn == 0:
        return PlannedRequest("normal", "GET", "/api/products")
    if turn == 1:
        product = index // choices % _PRODUCT_IDS + 1
        return PlannedRequest("normal", "GET", f"/api/products/{product}")
    if turn == 2:
        return PlannedRequest("normal", "GET", "/api/me")
    body = {"name": f"load-{index}", "price_cents": index % 10_000}
    return PlannedRequest("normal", "POST", "/api/products", body)


@dataclass
class LoadStats:
    """What a run did: outcomes (status code, or the transport error's name) and latencies."""

    outcomes: Counter[int | str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, answered requests only
    elapsed: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    @property
    def server_errors(self) -> int:
        return sum(n for o, n in self.outcomes.items() if isinstance(o, int) and o >= _SERVER_ERROR)

    @property
    def per_second(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    def record(self, outcome: int | str, seconds: float) -> None:
        self.outcomes[outcome] += 1
        if isinstance(outcome, int):
            self.latencies.append(seconds)

    def percentile(self, percent: float) -> float | None:
        """Nearest-rank percentile of the latencies in seconds; None before any answer."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(1, math.ceil(percent / 100 * len(ordered)))
        return ordered[rank - 1]


async def _send(client: httpx.AsyncClient, request: PlannedRequest) -> int | str:
    """The answer's status code, or the name of the transport error (refused, reset, timed
    out): counted, and the run goes on."""
    import httpx  # already loaded by run_load: a lookup, not an import

    try:
        response = await client.request(request.method, request.path, json=request.json)
    except httpx.TransportError as exc:
        return type(exc).__name__
    return response.status_code


async def run_load(
    plan: LoadPlan,
    *,
    stats: LoadStats | None = None,
    on_result: Callable[[int | str], None] | None = None,
    stop: threading.Event | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> LoadStats:
    """Send ``plan`` and return what happened; stops at the count, the duration or ``stop``.

    Requests already sent when the duration ends are waited for (each is bounded by its
    timeout). ``stats`` is filled as the run goes, so a caller that is interrupted still has
    the partial figures; ``on_result`` is called after each request (a progress bar).
    """
    import asyncio

    import httpx

    stats = stats if stats is not None else LoadStats()
    headers = {"Authorization": f"Bearer {plan.token}"} if plan.token else {}
    timeout = httpx.Timeout(10.0 + plan.slow_ms / 1000)
    limits = httpx.Limits(max_connections=plan.concurrency)
    start = time.perf_counter()
    deadline = start + plan.duration
    next_index = 0

    def finished() -> bool:
        return time.perf_counter() >= deadline or (stop is not None and stop.is_set())

    async def turn(at: float) -> bool:
        """Wait until ``at`` (request i starts i/rate into the run); False if the run ended.

        Short naps, so a low rate still stops on time at the deadline or the stop event.
        """
        while (left := at - time.perf_counter()) > 0:
            if finished():
                return False
            await asyncio.sleep(min(left, 0.1))
        return not finished()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < plan.requests and not finished():
            index, next_index = next_index, next_index + 1
            if plan.rate is not None and not await turn(start + index / plan.rate):
                return
            began = time.perf_counter()
            outcome = await _send(client, planned_request(plan, index))
            stats.record(outcome, time.perf_counter() - began)
            if on_result is not None:
                on_result(outcome)

    async with httpx.AsyncClient(
        base_url=plan.url, headers=headers, timeout=timeout, limits=limits, transport=transport
    ) as client:
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(plan.concurrency):
                    group.create_task(worker(client))
        finally:
            stats.elapsed = time.perf_counter() - start
    return stats
