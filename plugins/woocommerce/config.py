"""Settings of the WooCommerce plugin (section ``[plugins.woocommerce]``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from hub.config import Strict

StoreField = Literal["name", "description", "price", "category"]


class TierMapping(Strict):
    """How the POS's quality-tier prices become the store's quantity-based prices.

    WooCommerce has no quantity pricing of its own; quantity-pricing extensions read it from a
    product meta entry. Each tier becomes one rule "from ``min_qty`` units, this unit price".
    """

    meta_key: str = Field(default="pos_price_tiers", min_length=1)
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

    @field_validator("store_url")
    @classmethod
    def url_scheme(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @property
    def configured(self) -> bool:
        return bool(
            self.store_url and self.consumer_key and self.consumer_secret.get_secret_value()
        )
