"""A FastAPI app behind the toolkit answers every malformed body with a 422 naming the field,
even one FastAPI's own handler cannot render (it raised: a 500 a stranger could trigger)."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from ykmake.monitoring.http.validation import json_safe, validation_error_response
from ykmake.monitoring.settings import MonitoringSettings
from ykmake.monitoring.setup import setup_monitoring


class Order(BaseModel):
    name: str = Field(max_length=3)
    qty: int = Field(ge=1)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    app = FastAPI()

    @app.post("/orders")
    def create(order: Order) -> Order:
        return order

    settings = MonitoringSettings(_env_file=None, environment="test", log_dir=tmp_path / "logs")
    mon = setup_monitoring(app, settings)
    yield app
    mon.close()


def post(app: FastAPI, body: bytes) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            headers = {"Content-Type": "application/json"}
            return await c.post("/orders", content=body, headers=headers)

    return asyncio.run(go())


def conforms(app: FastAPI, body: Any) -> None:
    """The 422 is FastAPI's documented HTTPValidationError."""
    document = app.openapi()
    schema = {"$ref": "#/components/schemas/HTTPValidationError", **document}
    jsonschema.validate(body, schema)


@pytest.mark.parametrize(
    ("body", "loc", "shown"),
    [
        # A lone surrogate escape: valid JSON, not valid Unicode (FastAPI's handler raised).
        (rb'{"name": "ab\udcff", "qty": 1}', ["body", "name"], "ab\\udcff"),
        (rb'{"name": "abcd\udcff", "qty": 1}', ["body", "name"], "abcd\\udcff"),
        # NaN: Python's json reads it; JSON cannot hold it (FastAPI's handler raised).
        (b'{"name": "a", "qty": NaN}', ["body", "qty"], "nan"),
        (b'{"name": "a", "qty": -Infinity}', ["body", "qty"], "-inf"),
    ],
)
def test_a_value_json_cannot_hold_is_a_422_naming_the_field(
    app: FastAPI, body: bytes, loc: list[str], shown: str
) -> None:
    response = post(app, body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc
    assert error["msg"]
    assert error["input"] == shown  # escaped, as text
    conforms(app, response.json())


def test_a_deeply_nested_input_is_left_out(app: FastAPI) -> None:
    deep = "[" * 900 + "]" * 900
    response = post(app, f'{{"name": "a", "qty": {deep}}}'.encode())
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "qty"]
    assert "input" not in error  # not a short scalar: never echoed back
    conforms(app, response.json())


def test_broken_json_names_where_it_broke(app: FastAPI) -> None:
    response = post(app, b'{"name": ')
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "json_invalid"
    assert error["loc"] == ["body", 9]
    conforms(app, response.json())


@pytest.mark.parametrize(
    "body", [{"name": "x" * 100_000, "qty": 1}, {"name": "a", "qty": 1, "k" * 100_000: 1}]
)
def test_a_long_input_or_key_is_cut(body: dict[str, Any]) -> None:
    app = FastAPI()

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str = Field(max_length=3)
        qty: int

    @app.post("/orders")
    def create(order: Strict) -> None: ...

    app.add_exception_handler(RequestValidationError, validation_error_response)
    response = post(app, json.dumps(body).encode())
    assert response.status_code == 422
    assert len(response.content) < 2_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ok", "ok"),
        ("a\udcffb", "a\\udcffb"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        (10**30, 10**30),
        (True, True),
        (None, None),
        ({"k\ud800": [1, "v\udfff"]}, {"k\\ud800": [1, "v\\udfff"]}),
        ((1, 2), [1, 2]),
        (ValueError("bad"), "bad"),
        ([[[[["deep"]]]]], [[[["['deep']"]]]]),
    ],
)
def test_json_safe_values_always_encode(value: Any, expected: Any) -> None:
    safe = json_safe(value)
    assert safe == expected
    json.dumps(safe, ensure_ascii=False, allow_nan=False).encode("utf-8")
