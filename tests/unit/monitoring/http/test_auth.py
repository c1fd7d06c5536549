"""The bearer check of ``/metrics``, the webhook and the admin API: a token when one is set;
without one, loopback peers in development — and not a proxy's requests from loopback."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ykmake.monitoring.http.auth import BearerGuard


def _status(guard: BearerGuard, client: str, headers: dict[str, str] | None = None) -> int:
    async def guarded(request: Request) -> Response:
        return guard.denied(request) or PlainTextResponse("in")

    app = Starlette(routes=[Route("/metrics", guarded)])

    async def get() -> int:
        transport = httpx.ASGITransport(app=app, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            return (await c.get("/metrics", headers=headers)).status_code

    return asyncio.run(get())


def _guard(tokens: list[str], *, loopback_without_token: bool = True) -> BearerGuard:
    return BearerGuard(
        "metrics",
        tokens,
        subject="/metrics",
        setting="METRICS_TOKEN",
        loopback_without_token=loopback_without_token,
    )


@pytest.mark.parametrize("client", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_a_loopback_peer_needs_no_token_in_development(client: str) -> None:
    assert _status(_guard([]), client) == 200


@pytest.mark.parametrize("client", ["10.0.0.7", "192.0.2.1", "::ffff:10.0.0.7", "2001:db8::1"])
def test_any_other_peer_is_refused_without_a_token(client: str) -> None:
    assert _status(_guard([]), client) == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9;proto=https"},
        {"X-Real-IP": "203.0.113.9"},
        {"X-Forwarded-Proto": "https"},
        {"Via": "1.1 proxy"},
        {"x-forwarded-for": "127.0.0.1"},  # what the proxy says the client is doesn't matter
    ],
)
def test_a_request_through_a_proxy_on_the_same_host_is_not_a_loopback_peer(
    headers: dict[str, str],
) -> None:
    assert _status(_guard([]), "127.0.0.1", headers) == 403
    # With the token it goes through the proxy like any other client.
    guard = _guard(["s3cret"])
    assert _status(guard, "127.0.0.1", {**headers, "Authorization": "Bearer s3cret"}) == 200


def test_production_refuses_loopback_without_a_token() -> None:
    assert _status(_guard([], loopback_without_token=False), "127.0.0.1") == 403


@pytest.mark.parametrize(
    ("authorization", "status"),
    [("Bearer s3cret", 200), ("Bearer wrong", 401), ("Basic s3cret", 401), (None, 401)],
)
def test_a_configured_token_is_required_from_everyone(
    authorization: str | None, status: int
) -> None:
    headers = {"Authorization": authorization} if authorization else None
    assert _status(_guard(["s3cret"]), "127.0.0.1", headers) == status
