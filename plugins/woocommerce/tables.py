"""The WooCommerce plugin's own tables: links to store objects, sync state, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub.db import UTCDateTime, utcnow

# Sync statuses of a product, as the health monitor and the API show them.
SYNCED, PENDING, FAILED, SKIPPED = "synced", "pending", "failed", "skipped"


class ProductLink(SQLModel, table=True):
    """One POS SKU and the store product that carries it, with what we last pushed."""

    __tablename__ = "wc_product_link"

    sku: str = Field(primary_key=True, max_length=100)
    store_id: int | None = Field(default=None, index=True)
    # Hash of the fields we last sent, and of the store's answer to that write: a POS edit
    # changes the first, a store-side edit changes what the store returns from the second.
    pushed_hash: str | None = Field(default=None, max_length=64)
    store_hash: str | None = Field(default=None, max_length=64)
    # The stock level we last wrote, so an unexplained store value can be recognised.
    pushed_stock: int | None = None
    status: str = Field(default=PENDING, index=True, max_length=10)
    message: str = Field(default="", sa_type=Text)
    store_modified: str | None = Field(default=None, max_length=30)
    # The POS product's updated_at when the sync last decided about it.
    pos_version: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class CategoryLink(SQLModel, table=True):
    """The category mapping table: a POS category name and the store category it maps to."""

    __tablename__ = "wc_category_link"

    name: str = Field(primary_key=True, max_length=200)
    store_id: int
    # "auto" when the sync found or created it, "manual" when an admin chose it.
    source: str = Field(default="auto", max_length=10)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SyncState(SQLModel, table=True):
    """Small named values that outlive a job: watermarks, last successes, settings."""

    __tablename__ = "wc_sync_state"

    key: str = Field(primary_key=True, max_length=80)
    value: Any = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StoreEvent(SQLModel, table=True):
    """Rate limits, timeouts, pauses and corrections, for the health monitor."""

    __tablename__ = "wc_event"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=40)
    detail: str = Field(default="", sa_type=Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


# --- order import (store to POS) ---------------------------------------------------------


class OrderLink(SQLModel, table=True):
    """One store order and the POS order it became, with what was last applied to it.

    ``version`` makes every change a compare-and-set, so a webhook import and a poll that race
    on the same order apply a transition (and move stock) once.
    """

    __tablename__ = "wc_order_link"

    store_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    pos_order_id: int = Field(index=True)
    status: str = Field(max_length=40)
    # The store's date_modified_gmt ("YYYY-MM-DDTHH:MM:SS") of the version applied last:
    # an older one is never applied over it.
    date_modified: str = Field(max_length=30)
    # Digest of the fields we import, to tell two versions sharing a second apart.
    digest: str = Field(max_length=64)
    # True while POS stock is reduced for this order (processing, on-hold, completed).
    stock_held: bool = False
    version: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class OrderStockMove(SQLModel, table=True):
    """POS stock moved by a store order: negative reduced stock, positive gave it back.

    The inventory side reads these to explain a store-side stock drop ("explained by an order").
    """

    __tablename__ = "wc_order_stock_move"

    id: int | None = Field(default=None, primary_key=True)
    store_order_id: int = Field(index=True)
    pos_order_id: int
    store_line_id: int | None = None
    product_id: int
    sku: str = Field(index=True, max_length=100)
    quantity: int
    # The order status and store version that caused the move.
    status: str = Field(max_length=40)
    store_modified: str = Field(max_length=30)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class WebhookInbox(SQLModel, table=True):
    """Order webhooks as received: stored first, imported by a task.

    Unique on (order id, date modified, body digest): a replay or duplicate delivery is a no-op,
    while two versions of an order within the same second (the store's clock resolution) are
    both kept.
    """

    __tablename__ = "wc_webhook_inbox"
    __table_args__ = (
        UniqueConstraint("order_id", "date_modified", "digest", name="uq_wc_webhook_inbox"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(index=True)
    date_modified: str = Field(max_length=30)
    digest: str = Field(max_length=64)
    topic: str = Field(max_length=60)
    delivery_id: str | None = Field(default=None, max_length=100)
    payload: Any = Field(default=None, sa_column=Column(JSON))
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    outcome: str = Field(default="", max_length=20)
    message: str = Field(default="", sa_type=Text)


# --- inventory push, change detection, duplicates ----------------------------------------


class HeldStock(SQLModel, table=True):
    """A stock write the guard refused to send until someone confirms it.

    A zero, or a drop larger than the configured threshold, that the POS has not confirmed
    (by a count, a sale, or the confirm action) is held here and shown in health.
    """

    __tablename__ = "wc_held_stock"

    sku: str = Field(primary_key=True, max_length=100)
    store_id: int | None = None
    # What the store holds (as last read or written) and what the POS wants there.
    store_value: int | None = None
    wanted: int
    reason: str = Field(default="", sa_type=Text)
    held_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class StockConfirmation(SQLModel, table=True):
    """The POS on-hand level last confirmed for a SKU (a count, a sale, or an admin)."""

    __tablename__ = "wc_stock_confirmed"

    sku: str = Field(primary_key=True, max_length=100)
    on_hand: int
    reason: str = Field(default="", max_length=200)
    confirmed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChangeLogEntry(SQLModel, table=True):
    """The change-detection log: a store value that differed from what the POS expects."""

    __tablename__ = "wc_change_log"

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(index=True, max_length=100)
    store_id: int | None = None
    field: str = Field(max_length=10)  # "stock" or "price"
    store_value: str | None = Field(default=None, max_length=40)
    expected_value: str | None = Field(default=None, max_length=40)
    detected_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    # Explained by an imported store order (its store id), or not explained at all.
    explained: bool = False
    order_id: str | None = Field(default=None, max_length=40)
    # Who saw it ("scan" or "push"), and what became of it.
    source: str = Field(default="scan", max_length=10)
    corrected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str = Field(default="", sa_type=Text)
