"""Prices between the POS (pre-tax Decimals, quality tiers) and the store (strings).

The POS keeps prices before tax. A store set to "prices entered with tax" gets them with tax
added at the applicable rate, and what it sends back is converted the other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from plugins.woocommerce.config import TierMapping

TIERS = ("aa", "aaa", "aaaa")


@dataclass(frozen=True)
class StorePricing:
    prices_include_tax: bool
    tax_rate: Decimal
    decimals: int = 2

    @property
    def step(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    def to_store(self, pre_tax: Decimal) -> str:
        """The price string to send for a pre-tax POS price."""
        price = pre_tax * (1 + self.tax_rate) if self.prices_include_tax else pre_tax
        return str(price.quantize(self.step, ROUND_HALF_UP))

    def from_store(self, value: Any) -> Decimal | None:
        """A pre-tax POS price from a store price string; None when it is not a price.

        The store accepts junk quietly ("abc" becomes "", "12,50" becomes "1250"), so only
        plain non-negative decimals are believed.
        """
        if not isinstance(value, str) or not value.strip():
            return None
        text = value.strip()
        if not all(c.isdigit() or c == "." for c in text) or text.count(".") > 1:
            return None
        try:
            price = Decimal(text)
        except InvalidOperation:
            return None
        if self.prices_include_tax:
            price = price / (1 + self.tax_rate)
        return price.quantize(Decimal("0.0001"), ROUND_HALF_UP).normalize()


def tier_meta(
    tiers: TierMapping, pricing: StorePricing, base: Decimal, prices: dict[str, Decimal | None]
) -> dict[str, Any] | None:
    """The meta entry that carries quantity prices, or None when the product has no tiers."""
    rules = [(tiers.__getattribute__(t), prices[t]) for t in TIERS if prices.get(t) is not None]
    if not rules:
        return None
    rows = [(1, base), *rules]
    if tiers.format == "object":
        value: Any = {str(qty): pricing.to_store(price) for qty, price in rows if price is not None}
    else:
        value = [
            {"min_qty": qty, "price": pricing.to_store(price)}
            for qty, price in rows
            if price is not None
        ]
    return {"key": tiers.meta_key, "value": value}


def tiers_from_meta(
    tiers: TierMapping, pricing: StorePricing, meta_data: Any
) -> dict[str, Decimal | None]:
    """Read tier prices back from a store product's meta entry (for imports)."""
    found: dict[str, Decimal | None] = dict.fromkeys(TIERS)
    if not isinstance(meta_data, list):
        return found
    entry = next(
        (m for m in meta_data if isinstance(m, dict) and m.get("key") == tiers.meta_key), None
    )
    if entry is None:
        return found
    value = entry.get("value")
    by_qty: dict[int, Any] = {}
    if isinstance(value, list):
        for row in value:
            if isinstance(row, dict) and "min_qty" in row:
                by_qty[int(row["min_qty"])] = row.get("price")
    elif isinstance(value, dict):
        for qty, price in value.items():
            if str(qty).isdigit():
                by_qty[int(qty)] = price
    for tier in TIERS:
        qty = getattr(tiers, tier)
        if qty in by_qty:
            found[tier] = pricing.from_store(by_qty[qty])
    return found
