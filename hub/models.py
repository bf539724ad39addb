"""The POS's own tables and the core's bookkeeping (job ledger, plugin state, users).

Plugins keep their integration state in tables of their own, migrated by their own Alembic
branch; they reach these tables through the session factory on their ``Hub``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, func
from sqlmodel import Field, SQLModel

from hub.db import Money, UTCDateTime, utcnow


def created_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def money_field(nullable: bool = False, default: Any = ...) -> Any:
    if nullable:
        return Field(default=None, sa_type=Money, nullable=True)
    return Field(default=default, sa_type=Money, nullable=False)


class Category(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    parent_id: int | None = Field(default=None, foreign_key="category.id")
    created_at: datetime = created_field()


class Product(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(index=True, unique=True, max_length=100)
    name: str = Field(max_length=400)
    description: str = Field(default="", sa_type=Text)
    price: Decimal = money_field()  # pre-tax
    price_aa: Decimal | None = money_field(nullable=True)
    price_aaa: Decimal | None = money_field(nullable=True)
    price_aaaa: Decimal | None = money_field(nullable=True)
    category_id: int | None = Field(default=None, foreign_key="category.id", index=True)
    sync_to_woocommerce: bool = True
    manage_stock: bool = True
    active: bool = True
    created_at: datetime = created_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


# SKUs are unique without regard to case, as in WooCommerce; the expression index also makes the
# case-insensitive look-ups fast.
Index("ix_product_sku_lower", func.lower(Product.__table__.c.sku), unique=True)  # type: ignore[attr-defined]


class StockLevel(SQLModel, table=True):
    product_id: int = Field(foreign_key="product.id", primary_key=True)
    on_hand: int = 0
    # Units promised to open POS orders; available-to-sell is on_hand - reserved.
    reserved: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Order(SQLModel, table=True):
    __tablename__ = "pos_order"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_order_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(index=True, unique=True, max_length=64)
    channel: str = Field(default="till", max_length=40)
    external_id: str | None = Field(default=None, max_length=100)
    # A till may resend a sale after a timeout; the key makes the second send return the first.
    idempotency_key: str | None = Field(default=None, unique=True, max_length=100)
    status: str = Field(default="completed", max_length=40)
    customer: str | None = Field(default=None, max_length=200)
    subtotal: Decimal = money_field(default=Decimal("0"))
    tax: Decimal = money_field(default=Decimal("0"))
    total: Decimal = money_field(default=Decimal("0"))
    payment_method: str | None = Field(default=None, max_length=40)
    amount_paid: Decimal | None = money_field(nullable=True)
    change_due: Decimal | None = money_field(nullable=True)
    # Set once stock has been given back for a cancelled or refunded order.
    stock_returned: bool = False
    created_at: datetime = created_field()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderLine(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="pos_order.id", index=True)
    product_id: int | None = Field(default=None, foreign_key="product.id")
    sku: str | None = Field(default=None, max_length=100)
    name: str = Field(max_length=400)
    quantity: int
    unit_price: Decimal = money_field()
    is_gift: bool = False
    source: str | None = Field(default=None, max_length=60)


class Job(SQLModel, table=True):
    """The job ledger: one row per user-visible job."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=80)
    status: str = Field(default="queued", index=True, max_length=20)
    trigger: str = Field(default="schedule", max_length=80)
    params: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    phase: str = Field(default="", max_length=200)
    done: int = 0
    total: int | None = None
    failed: int = 0
    errors: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Where a resumed run picks up; written with every chunk.
    cursor: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    superseded_by: int | None = None
    worker: str | None = Field(default=None, max_length=200)
    created_at: datetime = created_field()
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A paused job (waiting out an unavailable store) is silent until then, not stuck.
    wake_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class JobLock(SQLModel, table=True):
    """One row per job kind that is running: the lock that holds across processes."""

    kind: str = Field(primary_key=True, max_length=80)
    job_id: int
    owner: str = Field(max_length=200)
    acquired_at: datetime = created_field()


class PluginState(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=80)
    status: str = Field(max_length=20)
    reason: str = Field(default="", sa_type=Text)
    attempts: int = 0
    retry_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PeriodicRun(SQLModel, table=True):
    """When each interval task last ran, so intervals hold across restarts and workers."""

    name: str = Field(primary_key=True, max_length=120)
    last_run_at: datetime = Field(sa_type=UTCDateTime)


class WorkerBeat(SQLModel, table=True):
    """Each consumer process writes here; readiness needs a recent beat."""

    worker: str = Field(primary_key=True, max_length=200)
    beat_at: datetime = Field(sa_type=UTCDateTime)


class User(SQLModel, table=True):
    __tablename__ = "hub_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=80)
    password_hash: str = Field(max_length=300)
    role: str = Field(default="staff", max_length=20)  # "admin" or "staff"
    created_at: datetime = created_field()
