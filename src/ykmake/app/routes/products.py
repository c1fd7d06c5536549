"""Makers and products."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from ykmake.app.deps import CurrentUser, DbSession
from ykmake.app.models import Product

router = APIRouter(prefix="/api", tags=["products"])


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    price_cents: int = Field(ge=0, le=100_000_000)


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
    is_admin: bool


@router.get("/products")
def list_products(
    session: DbSession,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ProductPage:
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


@router.get("/products/{product_id}")
def get_product(product_id: int, session: DbSession) -> ProductOut:
    product = session.get(Product, product_id)
    if product is None:
        raise HTTPException(404, f"product {product_id} not found")
    return ProductOut.model_validate(product)


@router.post("/products", status_code=201)
def create_product(body: ProductIn, user: CurrentUser, session: DbSession) -> ProductOut:
    product = Product(**body.model_dump(), maker_id=user.id)
    session.add(product)
    session.commit()
    session.refresh(product)
    return ProductOut.model_validate(product)


@router.get("/me")
def me(user: CurrentUser) -> Me:
    return Me.model_validate(user)
