"""Settings of the free-gift campaign plugin (section ``[plugins.freebies]``)."""

from __future__ import annotations

from pydantic import Field

from hub.api import Strict


class FreebiesSettings(Strict):
    # How often campaigns are published to the online store, besides on every change.
    publish_interval_seconds: int = Field(default=900, ge=10)
    # Queue a publication on every till sale that gave a gift, so the store's coupon usage
    # limit follows the cap closely.
    publish_after_gift: bool = True
