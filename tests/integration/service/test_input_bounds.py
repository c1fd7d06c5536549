"""No client value reaches the database out of its column's range: a 4xx naming the field
instead of a 500, on SQLite and on PostgreSQL (the narrower one). Each case is one the API
fuzz (tests/integration/fuzz) found or covers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ykmake.app.models import Product
from ykmake.app.users import create_user

pytestmark = pytest.mark.integration


def call(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
                return await c.request(method, url, **kwargs)

    return asyncio.run(go())


def user_auth(app: Any) -> dict[str, str]:
    with Session(app.state.engine) as session:
        _, token = create_user(session, "maker")
    return {"Authorization": f"Bearer {token}"}


def products(app: Any) -> int:
    with Session(app.state.engine) as session:
        return session.scalar(select(func.count()).select_from(Product)) or 0


@pytest.mark.parametrize(
    "product_id", ["99999999999999999999", "9223372036854775808", "2147483648", "0", "-1"]
)
def test_a_product_id_outside_the_column_is_a_422(
    app_factory: Callable[..., Any], database_url: str, product_id: str
) -> None:
    app = app_factory(database_url=database_url)
    response = call(app, "GET", f"/api/products/{product_id}")
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["path", "product_id"]


def test_the_largest_product_id_is_an_ordinary_404(
    app_factory: Callable[..., Any], database_url: str
) -> None:
    app = app_factory(database_url=database_url)
    assert call(app, "GET", f"/api/products/{2**31 - 1}").status_code == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (rb'{"name": "Lamp\udcff", "price_cents": 1}', ["body", "name"]),
        (b'{"name": "Lamp\\u0000", "price_cents": 1}', ["body", "name"]),
        (b'{"name": "Lamp", "description": "\\u0000", "price_cents": 1}', ["body", "description"]),
        (b'{"name": "Lamp", "price_cents": 99999999999999999999}', ["body", "price_cents"]),
        (b'{"name": "Lamp", "price_cents": true}', ["body", "price_cents"]),
        (b'{"name": "Lamp", "price_cents": "12"}', ["body", "price_cents"]),
        (b'{"name": "Lamp", "price_cents": NaN}', ["body", "price_cents"]),
    ],
    ids=["surrogate", "nul-name", "nul-description", "huge-price", "bool", "string", "nan"],
)
def test_a_body_value_the_column_cannot_hold_is_a_422_that_stores_nothing(
    app_factory: Callable[..., Any], database_url: str, body: bytes, loc: list[str]
) -> None:
    app = app_factory(database_url=database_url)
    headers = {**user_auth(app), "Content-Type": "application/json"}
    response = call(app, "POST", "/api/products", content=body, headers=headers)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == loc
    assert products(app) == 0


def test_an_integral_number_is_a_json_integer(app_factory: Callable[..., Any]) -> None:
    """12.0 is an integer to JSON Schema, so to the document; true and "12" are not."""
    app = app_factory()
    body = {"name": "Lamp", "price_cents": 1200.0}
    response = call(app, "POST", "/api/products", json=body, headers=user_auth(app))
    assert response.status_code == 201
    assert response.json()["price_cents"] == 1200


@pytest.mark.parametrize(
    ("query", "loc"),
    [("page=99999999999999999999", "page"), ("per_page=101", "per_page"), ("page=0", "page")],
)
def test_a_page_outside_its_bounds_is_a_422(
    app_factory: Callable[..., Any], query: str, loc: str
) -> None:
    app = app_factory()
    response = call(app, "GET", f"/api/products?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", loc]


def test_a_body_that_is_not_utf8_is_the_documented_400(app_factory: Callable[..., Any]) -> None:
    app = app_factory()
    headers = {**user_auth(app), "Content-Type": "application/json"}
    response = call(app, "POST", "/api/products", content=b'{"name": "\xff"}', headers=headers)
    assert response.status_code == 400
    documented = app.openapi()["paths"]["/api/products"]["post"]["responses"]
    assert "400" in documented


def test_created_at_carries_its_offset_on_sqlite(app_factory: Callable[..., Any]) -> None:
    """SQLite forgets the zone; a time without one is not the RFC 3339 date-time documented."""
    app = app_factory()
    created = call(
        app,
        "POST",
        "/api/products",
        json={"name": "Lamp", "price_cents": 1},
        headers=user_auth(app),
    )
    assert created.status_code == 201
    shown = call(app, "GET", f"/api/products/{created.json()['id']}").json()
    assert datetime.fromisoformat(shown["created_at"]).utcoffset() is not None


def test_the_document_links_a_new_product_to_its_page_and_names_the_token(
    app_factory: Callable[..., Any],
) -> None:
    document = json.loads(call(app_factory(), "GET", "/openapi.json").content)
    post = document["paths"]["/api/products"]["post"]
    link = post["responses"]["201"]["links"]["GetProduct"]
    assert link == {
        "operationId": "get_product",
        "parameters": {"product_id": "$response.body#/id"},
    }
    assert post["security"] == [{"userToken": []}]
    assert set(post["responses"]) == {"201", "400", "401", "422", "503"}
    assert document["paths"]["/api/me"]["get"]["security"] == [{"userToken": []}]
