"""Settings of the WooCommerce plugin (section ``[plugins.woocommerce]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from hub.config import Strict


class WooCommerceSettings(Strict):
    store_url: str = ""
    consumer_key: str = ""
    consumer_secret: SecretStr = SecretStr("")
    # "auto": Basic auth over https, OAuth 1.0a signatures over plain http.
    auth: Literal["auto", "basic", "oauth1"] = "auto"
    verify_tls: bool = True
    timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    max_concurrency: int = Field(default=4, ge=1, le=16)
    sync_interval_seconds: int = Field(default=900, ge=10)

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
