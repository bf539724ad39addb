"""The WooCommerce plugin's own tables: links to store objects, sync state, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
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
