"""The orders API of another team, monitored by ``ykmake.monitoring`` as the ``orders`` service.

Run it from the checkout (settings come from the environment, see README.md beside this file)::

    uv run uvicorn examples.orders_service.app:app

With nothing set it has request ids, JSON logs under ``./logs`` and ``/metrics``; with
``ALERT_DATABASE_URL`` (and ``SLACK_WEBHOOK_URL``) the failing route also raises an alert.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select

from ykmake.monitoring import MonitoringSettings, instrument_engine, setup_monitoring


class OrdersSettings(MonitoringSettings):
    """The toolkit's settings (SERVICE_NAME, LOG_DIR, ALERT_DATABASE_URL, SLACK_*, ...) and ours."""

    # Our name in every log line, metric label and Slack message; SERVICE_NAME still wins.
    service_name: str = Field(default="orders", min_length=1, max_length=100)
    orders_database_url: str = "sqlite:///./orders.db"


settings = OrdersSettings.load()  # a bad value raises SettingsError naming the variable
engine = create_engine(settings.orders_database_url)

metadata = MetaData()
orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item", String(100), nullable=False),
    Column("quantity", Integer, nullable=False),
)


class NewOrder(BaseModel):
    item: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=1000)


class Order(NewOrder):
    id: int


class PaymentProviderError(RuntimeError):
    """The payment provider did not answer; nobody handles it, so the request is a 500."""


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    metadata.create_all(engine)
    yield
    engine.dispose()


app = FastAPI(title="Orders", lifespan=lifespan)
monitoring = setup_monitoring(app, settings)  # alerts, Slack, Sentry: on if their settings are
instrument_engine(engine, monitoring.metrics)  # db_query_duration_seconds for our own queries


@app.post("/orders", status_code=201)
def create_order(new: NewOrder) -> Order:
    with engine.begin() as conn:
        inserted = conn.execute(insert(orders).values(new.model_dump()).returning(orders.c.id))
        return Order(id=inserted.scalar_one(), **new.model_dump())


@app.get("/orders/{order_id}")
def get_order(order_id: int) -> Order:
    with engine.connect() as conn:
        row = conn.execute(select(orders).where(orders.c.id == order_id)).first()
    if row is None:
        raise HTTPException(status_code=404, detail=f"no order {order_id}")
    return Order(id=row.id, item=row.item, quantity=row.quantity)


@app.post("/orders/{order_id}/pay")
def pay_order(order_id: int) -> Order:
    order = get_order(order_id)
    # Fails on purpose, to show an error end to end: JSON 500, error line, alert.
    msg = f"payment provider timed out paying order {order.id}"
    raise PaymentProviderError(msg)
