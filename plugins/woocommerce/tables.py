"""The WooCommerce plugin's own tables: links to store objects, sync state, events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Integer, Text, and_, cast
from sqlmodel import Field, SQLModel

from hub.api import FAILED, PENDING, SKIPPED, SYNCED, UTCDateTime, catalogue_tables, utcnow

# The channel this plugin declares: the POS products' listings on it (hub.channels) hold the
# store id (``external_id``) and the sync's last status and message.
CHANNEL = "woocommerce"
__all__ = ["CHANNEL", "FAILED", "PENDING", "SKIPPED", "SYNCED"]


def listing_table() -> Any:
    """The core's listings table, for the set-based joins of the inventory push and the
    drift scan (links x products x stock in one statement per page)."""
    return catalogue_tables().listing


def listed_on_channel(product: Any, listing: Any) -> Any:
    """Join condition: the product's listing on this channel, wanted there."""
    return and_(
        listing.c.product_id == product.c.id,
        listing.c.channel == CHANNEL,
        listing.c.wanted.is_(True),
    )


def store_id_of(listing: Any) -> Any:
    """The store id of a listing as an integer column."""
    return cast(listing.c.external_id, Integer)


class ProductLink(SQLModel, table=True):
    """What we last pushed for a POS SKU linked to a store product (the link itself, with the
    store id, status and message, is the product's listing on the channel: hub.channels)."""

    __tablename__ = "wc_product_link"

    sku: str = Field(primary_key=True, max_length=100)
    # Hash of the fields we last sent, and of the store's answer to that write: a POS edit
    # changes the first, a store-side edit changes what the store returns from the second.
    pushed_hash: str | None = Field(default=None, max_length=64)
    store_hash: str | None = Field(default=None, max_length=64)
    # The stock level we last wrote, so an unexplained store value can be recognised.
    pushed_stock: int | None = None
    store_modified: str | None = Field(default=None, max_length=30)
    # The POS product's updated_at when the sync last decided about it.
    pos_version: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class NotImported(SQLModel, table=True):
    """A store product the sync could not import (an unusable price, say): no POS product has
    its SKU, so it has no listing; the per-product list shows it as failed, with why."""

    __tablename__ = "wc_not_imported"

    sku: str = Field(primary_key=True, max_length=100)
    store_id: int | None = None
    message: str = Field(default="", sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


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


# --- quality tiers ----------------------------------------------------------------------


class TierPush(SQLModel, table=True):
    """Tier rules the sync last wrote to a store product, while the store holds some.

    A product whose tiers are removed in the POS gets its store rules cleared once (the row
    says there is something to clear); a product that never had tiers sends none, so rules a
    shop entered in the store for it are left alone.
    """

    __tablename__ = "wc_tier_push"

    sku: str = Field(primary_key=True, max_length=100)
    # "tiered-pricing-table" or "meta": where the rules were written.
    preset: str = Field(max_length=30)
    rules: Any = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
