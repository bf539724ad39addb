"""Order tax as WooCommerce computes it for an order created through the REST API.

With ``woocommerce_calc_taxes`` on, each taxable line is taxed at the rates that match the
order's location (``woocommerce_tax_based_on``: the shipping country, else the billing country,
else the shop's base country), one rate per priority, compound rates on top of the others. A
store that enters prices with tax first takes the tax of its *base* location out of the price
(``wc_get_price_excluding_tax``), so a customer elsewhere pays the net price. Checked side by
side with a real WooCommerce 10.2.4 store (GB 20 % VAT): a 2 x 10.00 order is 24.00 with 4.00
tax; 9.99 entered with tax is 8.325 net, 1.66 line tax, and the order 33.99 with 2 x 12.00.

A line's ``total_tax`` is rounded half down when the store enters prices with tax
(WooCommerce's tax rounding mode: 8.325 x 20 % = 1.665 shows 1.66) and half up otherwise,
while its ``taxes`` entries are printed half up (1.67); the order total adds the lines as shown
in cents and their rounded tax. Not modelled: tax on shipping lines and fees, refund tax, and
PHP's float artefacts in a line's ``price`` (0.35 / 7 shows 0.049999999999999996 there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rate:
    id: int
    percent: float
    name: str
    country: str
    state: str
    priority: int
    compound: bool

    @property
    def code(self) -> str:
        parts = [self.country.upper(), self.state.upper(), self.name or "TAX", str(self.priority)]
        return "-".join(p for p in parts if p).upper()


def calculating(settings: Mapping[str, str]) -> bool:
    return settings.get("woocommerce_calc_taxes") == "yes"


def base_location(settings: Mapping[str, str]) -> tuple[str, str]:
    country, _, state = str(settings.get("woocommerce_default_country") or "").partition(":")
    return country.upper(), state.upper()


def order_location(settings: Mapping[str, str], order: Mapping[str, Any]) -> tuple[str, str]:
    based_on = settings.get("woocommerce_tax_based_on") or "shipping"
    if based_on != "base":
        first, second = ("shipping", "billing") if based_on == "shipping" else ("billing", "")
        for kind in (first, second):
            address = order.get(kind) if kind else None
            if address and address.get("country"):
                return str(address["country"]).upper(), str(address.get("state") or "").upper()
    return base_location(settings)


def matching_rates(
    rates: list[dict[str, Any]], tax_class: str, location: tuple[str, str]
) -> list[Rate]:
    """The rates that apply: per priority, the first that matches country and state."""
    country, state = location
    wanted = tax_class or "standard"
    found: dict[int, Rate] = {}
    for raw in sorted(rates, key=lambda r: (int(r.get("priority") or 1), int(r.get("order") or 0))):
        if (raw.get("class") or "standard") != wanted:
            continue
        where = str(raw.get("country") or "").upper()
        region = str(raw.get("state") or "").upper()
        if where not in ("", country) or region not in ("", state):
            continue
        priority = int(raw.get("priority") or 1)
        if priority in found:
            continue
        found[priority] = Rate(
            id=int(raw["id"]),
            percent=float(raw.get("rate") or 0),
            name=str(raw.get("name") or ""),
            country=where,
            state=region,
            priority=priority,
            compound=bool(raw.get("compound")),
        )
    return [found[p] for p in sorted(found)]


def exclusive_taxes(amount: Decimal, rates: list[Rate]) -> dict[int, float]:
    """Tax per rate id on a net amount (compound rates on the amount plus the others)."""
    taxes: dict[int, float] = {}
    base = float(amount)
    for rate in rates:
        if not rate.compound:
            taxes[rate.id] = base * (rate.percent / 100)  # the order PHP multiplies in
    with_taxes = base + sum(taxes.values())
    for rate in rates:
        if rate.compound:
            taxes[rate.id] = with_taxes * (rate.percent / 100)
            with_taxes += taxes[rate.id]
    return taxes


def net_of_base_tax(gross: Decimal, rates: list[Rate]) -> Decimal:
    """A price entered with tax, less the tax of the base location (rounded to 6 places,
    as WC_Tax::calc_inclusive_tax rounds)."""
    if not rates:
        return gross
    regular = 1 + sum(r.percent for r in rates if not r.compound) / 100
    tax = float(gross) - float(gross) / regular
    compound = float(gross)
    for rate in rates:
        if rate.compound:
            part = compound - compound / (1 + rate.percent / 100)
            tax += part
            compound -= part
    return gross - Decimal(str(round(tax, 6)))


def rounded(value: float, prices_include_tax: bool) -> Decimal:
    """A line's tax in cents, as wc_round_tax_total rounds it: half down in a store that
    enters prices with tax (WooCommerce's tax rounding mode), half up otherwise."""
    mode = ROUND_HALF_DOWN if prices_include_tax else ROUND_HALF_UP
    return Decimal(str(round(value, 6))).quantize(CENT, rounding=mode)


def shown(value: float) -> str:
    """A tax amount printed as WooCommerce prints a line's ``taxes`` entries."""
    return str(Decimal(str(round(value, 6))).quantize(CENT, rounding=ROUND_HALF_UP))
