"""Makers and products.

Every client value is bounded by what its column holds, so none reaches the database to
fail there (a 500): ids are PostgreSQL ``integer`` columns, and text holds no NUL (pydantic
already refuses a lone surrogate, which JSON can carry as an escape and UTF-8 cannot).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ykmake.app.deps import CurrentUser, Database
from ykmake.app.models import Product
from ykmake.app.unavailable import UNAVAILABLE
from ykmake.monitoring.alerts.json_values import JsonInteger

router = APIRouter(prefix="/api", tags=["products"])

MAX_ID: Final = 2**31 - 1  # the id columns are 32-bit integers on PostgreSQL


def _storable(value: str) -> str:
    # PostgreSQL's text refuses NUL: the client's mistake, so a 422 naming the field.
    if "\x00" in value:
        msg = "text must not contain NUL (\\u0000)"
        raise ValueError(msg)
    return value


StoredText = Annotated[
    str, AfterValidator(_storable), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]
ProductId = Annotated[int, Path(ge=1, le=MAX_ID)]


class HTTPError(BaseModel):
    """FastAPI's error body."""

    detail: str


_UNAUTHORIZED: Final[dict[int | str, dict[str, Any]]] = {
    401: {"model": HTTPError, "description": "No bearer token, or an unknown one"},
    **UNAVAILABLE,
}


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StoredText = Field(min_length=1, max_length=200)
    description: StoredText = Field(default="", max_length=10_000)
    price_cents: JsonInteger = Field(ge=0, le=100_000_000)


class ProductOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    price_cents: int
    maker_id: int
    created_at: datetime


class ProductPage(BaseModel):
    items: list[ProductOut]
    total: int
    page: int
    per_page: int
    pages: int


class Me(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str


@router.get("/products", operation_id="list_products", responses=UNAVAILABLE)
async def list_products(
    database: Database,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ProductPage:
    return await database.run(_product_page, page, per_page)


def _product_page(session: Session, page: int, per_page: int) -> ProductPage:
    total = session.scalar(select(func.count()).select_from(Product)) or 0
    rows = session.scalars(
        select(Product).order_by(Product.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return ProductPage(
        items=[ProductOut.model_validate(p) for p in rows],
        total=total,
        page=page,
        per_page=per_page,
        pages=(total + per_page - 1) // per_page,
    )


@router.get(
    "/products/{product_id}",
    operation_id="get_product",
    responses={404: {"model": HTTPError, "description": "No product with this id"}, **UNAVAILABLE},
)
async def get_product(product_id: ProductId, database: Database) -> ProductOut:
    product = await database.run(_product, product_id)
    if product is None:
        raise HTTPException(404, f"product {product_id} not found")
    return product


def _product(session: Session, product_id: int) -> ProductOut | None:
    product = session.get(Product, product_id)
    return None if product is None else ProductOut.model_validate(product)


_SHOW_PRODUCT: Final = {
    "operationId": "get_product",
    "parameters": {"product_id": "$response.body#/id"},
}


@router.post(
    "/products",
    status_code=201,
    operation_id="create_product",
    responses={
        **_UNAUTHORIZED,
        # FastAPI's answer to a body json cannot decode (not UTF-8, nesting too deep).
        400: {"model": HTTPError, "description": "The body cannot be parsed"},
        201: {"links": {"GetProduct": _SHOW_PRODUCT}},
    },
)
async def create_product(body: ProductIn, user: CurrentUser, database: Database) -> ProductOut:
    return await database.run(_add_product, body, user.id)


def _add_product(session: Session, body: ProductIn, maker_id: int) -> ProductOut:
    product = Product(**body.model_dump(), maker_id=maker_id)
    session.add(product)
    session.commit()
    session.refresh(product)
    return ProductOut.model_validate(product)


@router.get("/me", operation_id="me", responses=_UNAUTHORIZED)
async def me(user: CurrentUser) -> Me:
    return Me.model_validate(user)
