"""The freebies plugin's own table, migrated by its Alembic branch (``migrations/``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from hub.api import Money, UTCDateTime, utcnow


class Campaign(SQLModel, table=True):
    """A free-gift campaign. Times are UTC; the API shows them in the store's time zone."""

    __tablename__ = "freebies_campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    # The window is half-open: [start_at, end_at).
    start_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    end_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # "spend": pre-tax subtotal >= min_spend; "quantity": >= min_quantity units of a SKU or
    # of a category's products.
    rule: str = Field(max_length=20)
    min_spend: Decimal | None = Field(default=None, sa_type=Money, nullable=True)
    rule_sku: str | None = Field(default=None, max_length=100)
    rule_category: str | None = Field(default=None, max_length=200)
    min_quantity: int | None = None
    gift_sku: str = Field(max_length=100)
    gift_quantity: int = 1
    # How many times the rule may be earned in one order (each time gives gift_quantity).
    limit_per_order: int = 1
    # Total gift units, over all orders and channels.
    cap: int
    # Gift units given at the till; only ever changed by a conditional UPDATE (see plugin.py).
    gifts_given: int = 0
    # Coupon uses the store reported at the last publication; each counts as a full order's
    # worth of gifts (gift_quantity * limit_per_order) against the cap.
    online_uses: int = 0
    active: bool = True
    channels: str = Field(default="both", max_length=10)  # "till", "online", "both"
    # Overlapping campaigns: the highest priority wins, then the lowest id (see rules.py).
    priority: int = 0
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Last publication to the online store, as reported by the publisher.
    publish_status: str = Field(default="", max_length=40)
    publish_detail: str = Field(default="", sa_type=Text)
    store_ref: str = Field(default="", max_length=100)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    @property
    def units_per_order(self) -> int:
        return self.gift_quantity * self.limit_per_order
