"""Settings of the WooCommerce plugin (section ``[plugins.woocommerce]``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.api import Strict

StoreField = Literal["name", "description", "price", "category"]


TierPreset = Literal["auto", "tiered-pricing-table", "meta"]


class TierMapping(Strict):
    """How the POS's quality-tier prices become the store's quantity-based prices.

    WooCommerce has no quantity pricing of its own; an extension shows it. Each tier becomes
    one rule "from this many units, this unit price". ``preset`` says which extension:

    - ``"tiered-pricing-table"``: "Tiered Pricing Table for WooCommerce" (wordpress.org slug
      ``tier-pricing-table``), through the product fields it adds to the REST API;
    - ``"meta"``: a product meta entry (``meta_key``, in ``format``) for another extension;
    - ``"auto"``: the first when the store's products schema lists its fields, else ``"meta"``.
    """

    preset: TierPreset = "auto"
    meta_key: str = Field(default="pos_price_tiers", min_length=1, max_length=255)
    # "list": [{"min_qty": 5, "price": "27.50"}, ...]   "object": {"5": "27.50", ...}
    format: Literal["list", "object"] = "list"
    aa: int = Field(default=5, ge=2)
    aaa: int = Field(default=20, ge=2)
    aaaa: int = Field(default=50, ge=2)

    @model_validator(mode="after")
    def increasing(self) -> TierMapping:
        if not self.aa < self.aaa < self.aaaa:
            raise ValueError("tier quantities must increase: aa < aaa < aaaa")
        return self


class WooCommerceSettings(Strict):
    store_url: str = ""
    consumer_key: str = ""
    consumer_secret: SecretStr = SecretStr("")
    # "auto": Basic auth over https, OAuth 1.0a signatures over plain http.
    auth: Literal["auto", "basic", "oauth1"] = "auto"
    verify_tls: bool = True
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    max_concurrency: int = Field(default=4, ge=1, le=16)
    initial_batch_size: int = Field(default=100, ge=1, le=100)

    # Catalogue sync.
    sync_interval_seconds: int = Field(default=900, ge=10)
    publish_status: Literal["publish", "draft"] = "publish"
    # What happens to a store product whose POS product loses its sync flag (or is deactivated).
    when_unflagged: Literal["draft", "leave"] = "draft"
    missing_category: Literal["create", "skip"] = "create"
    require_description: bool = False
    import_new_products: bool = True
    # Fields the store is trusted with; by default the POS owns them all (and price and stock).
    store_authority: list[StoreField] = []
    # Sales tax rate used when the store enters prices with tax; read from the store if unset.
    tax_rate: Decimal | None = Field(default=None, ge=0, le=1)
    tiers: TierMapping = TierMapping()
    # Incremental store reads start this long before the newest change the last run saw
    # (on the store's clock, whose resolution is a second; covers writes still committing).
    watermark_overlap_seconds: int = Field(default=10, ge=0)
    # POS edits are collected for this long, then pushed in one go.
    edit_debounce_seconds: float = Field(default=0.5, ge=0, le=60)
    # First wait when the store is unavailable; doubles per failed try, up to 5 minutes.
    pause_base_seconds: float = Field(default=5.0, gt=0, le=300)
    # How long one task may work before it hands over to the next (keeps workers free).
    task_budget_seconds: float = Field(default=20.0, ge=1, le=300)

    # Order import (store to POS): webhooks, with polling as the safety net.
    # The secret the store signs webhook bodies with (HMAC-SHA256); empty refuses deliveries.
    webhook_secret: SecretStr = SecretStr("")
    # Register (and keep re-enabling) the order webhooks in the store on start-up.
    register_webhooks: bool = False
    # The hub's public base URL as the store reaches it; "/webhooks/woocommerce" is appended.
    webhook_url: str = ""
    webhook_check_interval_seconds: int = Field(default=300, ge=1)
    order_poll_interval_seconds: int = Field(default=300, ge=1)
    # Each poll starts this long before the newest change the last poll saw (store clock).
    order_poll_overlap_seconds: int = Field(default=120, ge=0)
    # With no watermark yet, the first poll looks back this far (older orders stay out).
    order_first_poll_hours: int = Field(default=24, ge=0)
    # Store statuses imported as new POS orders; changes to imported orders are always followed.
    import_order_statuses: list[str] = [
        "pending",
        "processing",
        "on-hold",
        "completed",
        "cancelled",
        "refunded",
        "failed",
    ]

    # Store statuses in which an imported order holds no POS stock: entering one gives the
    # order's stock back (once), leaving it for another status takes it again. WooCommerce
    # reduces stock when an order is paid or put on hold and restores it on these.
    restock_order_statuses: list[str] = [
        "pending",
        "cancelled",
        "refunded",
        "failed",
        "checkout-draft",
        "trash",
    ]

    # Inventory push (the POS is authoritative for stock).
    # Push on hand minus what open POS orders reserve, rather than on hand.
    push_available_to_sell: bool = True
    # A write that lowers the store's stock by more than this many units, or by more than this
    # share of it, is held until the POS confirms it (None: no such limit). A write of zero
    # over a positive store level is always held unless confirmed.
    max_drop_units: int | None = Field(default=50, ge=1)
    max_drop_percent: int | None = Field(default=90, ge=1, le=100)
    # A POS stock change whose reason starts with one of these confirms the new level
    # (an admin's shelf count, a till sale, an imported order); "bulk upsert" or "adjustment"
    # do not, and nor does anything a staff user counts, sets or adjusts.
    confirming_reasons: list[str] = ["count", "sale", "order", "woocommerce", "online"]
    # Stock changes in the POS are collected this long, then pushed in one go.
    inventory_debounce_seconds: float = Field(default=1.0, ge=0, le=60)
    # The periodic full push (every linked product, compared with the store).
    inventory_push_interval_seconds: int = Field(default=3600, ge=1)
    # Change detection: how often the store's stock and prices are compared with the POS.
    drift_scan_interval_seconds: int = Field(default=300, ge=1)
    # Correct unexpected store-side changes automatically (can be switched at run time).
    auto_correct: bool = True

    @field_validator("store_url")
    @classmethod
    def url_scheme(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("webhook_url")
    @classmethod
    def webhook_url_scheme(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("import_order_statuses", "restock_order_statuses")
    @classmethod
    def order_statuses(cls, value: list[str]) -> list[str]:
        # Store status slugs ("on-hold"), compared as they are: a typo would silently never match.
        cleaned = [status.strip() for status in value]
        for status in cleaned:
            if (
                not status
                or len(status) > 40
                or not status.replace("-", "").replace("_", "").isalnum()
            ):
                raise ValueError(f"{status!r} is not a store order status (like 'on-hold')")
        return cleaned

    @property
    def webhooks_wanted(self) -> bool:
        """Register webhooks: asked for, with a URL the store can call and a secret to sign."""
        return bool(
            self.register_webhooks and self.webhook_url and self.webhook_secret.get_secret_value()
        )

    @property
    def configured(self) -> bool:
        return bool(
            self.store_url and self.consumer_key and self.consumer_secret.get_secret_value()
        )
