"""Quality tiers (AA/AAA/AAAA) as quantity prices that the store actually shows.

WooCommerce has no quantity pricing of its own; an extension shows it, and each reads its rules
from its own place. ``[plugins.woocommerce.tiers] preset`` says which:

- ``tiered-pricing-table``: "Tiered Pricing Table for WooCommerce" (wordpress.org slug
  ``tier-pricing-table``), the most used free one. It adds product fields to the REST API:
  ``tiered_pricing_type`` (``"fixed"``) and ``tiered_pricing_fixed_rules``, an object from
  minimum quantity to unit price, read back with the prices as numbers. It drops rules below
  2 units and zero prices without an error, and clears the rules for ``{}``;
- ``meta``: a product meta entry (``meta_key``) for an extension that reads one;
- ``auto``: the first when the store's products schema lists its fields, else ``meta``.

What was last written is kept per SKU (``wc_tier_push``), so a tier removed in the POS is
removed in the store once, and a product that never had tiers sends none.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select as sa_select
from sqlmodel import Session

from hub.api import Hub, upsert, utcnow
from plugins.woocommerce.client import WooClient
from plugins.woocommerce.client_errors import StoreError
from plugins.woocommerce.config import TierMapping, WooCommerceSettings
from plugins.woocommerce.pricing import TIERS, StorePricing, tiers_from_meta
from plugins.woocommerce.store import get_state, set_state
from plugins.woocommerce.tables import TierPush

TPT = "tiered-pricing-table"
META = "meta"
RULES_FIELD = "tiered_pricing_fixed_rules"
TYPE_FIELD = "tiered_pricing_type"
EXTENSION = "Tiered Pricing Table for WooCommerce"
# The fields whose presence says the extension is active.
EXTENSION_FIELDS = (TYPE_FIELD, RULES_FIELD)
TWO = Decimal("0.01")


# --- which extension ---------------------------------------------------------------------


def extension_listed(fields: Iterable[str]) -> bool:
    """Whether these product fields (a schema's or an answer's) are the extension's."""
    found = set(fields)
    return all(name in found for name in EXTENSION_FIELDS)


async def resolve_preset(client: WooClient, tiers: TierMapping) -> str:
    """The preset in use: ``auto`` becomes the extension when the products schema lists its
    fields, else ``meta``."""
    if tiers.preset != "auto":
        return tiers.preset
    fields = await client.product_schema_fields()
    if not fields:
        # No schema in the answer (a proxy that answers OPTIONS itself): ask a product.
        sample = await client.get(
            "products", {"per_page": 1, "_fields": ",".join(("id", *EXTENSION_FIELDS))}
        )
        if isinstance(sample, list) and sample and isinstance(sample[0], dict):
            fields = frozenset(sample[0])
    return TPT if extension_listed(fields) else META


def with_preset(settings: WooCommerceSettings, preset: str) -> WooCommerceSettings:
    """The settings with ``auto`` replaced by the preset found in the store."""
    if settings.tiers.preset == preset:
        return settings
    tiers = settings.tiers.model_copy(update={"preset": preset})
    return settings.model_copy(update={"tiers": tiers})


def last_preset(hub: Hub) -> str:
    """The preset the last successful catalogue sync used (the meta entry before presets)."""
    return str(get_state(hub, "tiers.preset_in_use") or META)


def remember_preset(hub: Hub, preset: str) -> None:
    set_state(hub, "tiers.preset_in_use", preset)


def preset_in_use(tiers: TierMapping) -> str:
    """The preset the mapping functions follow (``auto`` not yet resolved counts as meta)."""
    return TPT if tiers.preset == TPT else META


# --- Test Connection ---------------------------------------------------------------------


def count_tiered_products(hub: Hub) -> int:
    """POS products with at least one tier price (what a store should show)."""
    return hub.pos.count_products(tiered=True)


async def describe_tiers(
    client: WooClient, tiers: TierMapping, tiered_products: int
) -> dict[str, Any]:
    """What Test Connection says about tiers: the preset in use, whether the extension is
    active in the store (its fields in the products schema or in a product answer), and a
    warning when POS products have tier prices that nothing in the store will show."""
    report: dict[str, Any] = {
        "preset": tiers.preset,
        "in_use": None,
        "extension_active": None,
        "products_with_tiers": tiered_products,
        "message": "",
        "warning": None,
    }
    try:
        listed = extension_listed(await client.product_schema_fields())
        sample = await client.get(
            "products", {"per_page": 1, "_fields": ",".join(("id", *EXTENSION_FIELDS))}
        )
    except StoreError as exc:
        report["message"] = f"Could not check the store's quantity-pricing extension: {exc}"
        return report
    in_answer = (
        extension_listed(sample[0])
        if isinstance(sample, list) and sample and isinstance(sample[0], dict)
        else None
    )
    active = listed or bool(in_answer)
    report["extension_active"] = active
    in_use = TPT if tiers.preset == TPT or (tiers.preset == "auto" and active) else META
    report["in_use"] = in_use
    where = "its fields are in the products schema" + (
        " and in a product answer" if in_answer else ""
    )
    if in_use == TPT and active:
        report["message"] = (
            f"{EXTENSION} is active in the store ({where}): tier prices are written as its "
            f"rules ({tier_quantities(tiers)}) and shown on the product page."
        )
    elif in_use == TPT:
        report["message"] = f"{EXTENSION} is not active in the store."
        report["warning"] = (
            f'preset = "{TPT}", but {EXTENSION} is not active in the store (its fields are '
            "neither in the products schema nor in a product answer): the store will not keep "
            "the tier prices. Activate the extension in WordPress, or choose another preset."
        )
    else:
        chosen = "preset meta" if tiers.preset == META else "no extension the hub knows found"
        report["message"] = (
            f"Tier prices go to the product meta entry {tiers.meta_key!r} ({chosen}); the "
            "store shows them only if an extension reads that entry."
        )
        if tiered_products and tiers.preset == "auto":
            report["warning"] = (
                f"{tiered_products} POS products have tier prices, but nothing in the store "
                f"will show them: no quantity-pricing extension the hub knows is active. "
                f"Install {EXTENSION} (the hub then writes its rules), or set "
                f'preset = "meta" with the meta key your extension reads.'
            )
        elif tiered_products and active:
            report["warning"] = (
                f'{EXTENSION} is active in the store, but preset = "meta" writes the meta '
                f"entry {tiers.meta_key!r}, which it does not read: the store shows none of the "
                f'{tiered_products} products\' tier prices. Set preset = "auto".'
            )
    return report


# --- what the store should hold ----------------------------------------------------------


def fixed_rules(
    tiers: TierMapping, pricing: StorePricing, prices: dict[str, Decimal | None]
) -> dict[str, str] | None:
    """The extension's rules for a product's tier prices: ``{"5": "27.50", ...}`` (store
    prices: with tax added for a store that enters prices with tax, rounded as it rounds), or
    None when the product has no tiers."""
    rules = {
        str(getattr(tiers, tier)): pricing.to_store(price)
        for tier in TIERS
        if (price := prices.get(tier)) is not None
    }
    return rules or None


def rules_payload(rules: dict[str, str] | None) -> dict[str, Any]:
    """The product fields that write these rules (``{}`` clears them)."""
    if rules:
        return {TYPE_FIELD: "fixed", RULES_FIELD: dict(rules)}
    return {RULES_FIELD: {}}


# --- what the store holds ----------------------------------------------------------------


def store_decimal(value: Any) -> Decimal | None:
    """A price as the extension answers it (a JSON number, or a string), as a Decimal."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        # str() of a float is its shortest repr: 27.5 -> "27.5", never 27.499999...
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def store_rules(value: Any) -> dict[int, Decimal]:
    """The store's rules by quantity; ``[]`` (no rules), junk keys and non-prices give none."""
    if not isinstance(value, dict):
        return {}
    rules: dict[int, Decimal] = {}
    for qty, price in value.items():
        number = store_decimal(price)
        if str(qty).strip().isdigit() and number is not None:
            rules[int(str(qty))] = number
    return rules


def canonical_rules(value: Any) -> dict[str, str] | None:
    """The rules in one form for comparing: ``{"5": "27.50"}`` and ``{"5": 27.5}`` alike
    (decimals, at least two places), None when there are none."""
    rules = store_rules(value)
    if not rules:
        return None
    return {str(qty): _at_least_two_places(price) for qty, price in sorted(rules.items())}


def _at_least_two_places(price: Decimal) -> str:
    exact = price.normalize()
    exponent = exact.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return format(exact, "f")
    return format(price.quantize(TWO), "f")


def dropped_rules(sent: dict[str, str], answer: dict[str, Any]) -> list[str]:
    """The sent rules the store's answer does not hold, in words (empty: all held)."""
    if RULES_FIELD not in answer:
        return [f"all of them: the store answered without {RULES_FIELD} ({EXTENSION} inactive?)"]
    held = store_rules(answer[RULES_FIELD])
    out = []
    for qty, price in sorted((int(q), Decimal(p)) for q, p in sent.items()):
        if qty not in held:
            out.append(f"from {qty} units at {price}")
        elif held[qty] != price:
            out.append(f"from {qty} units: sent {price}, the store holds {held[qty]}")
    return out


def import_tiers(
    obj: dict[str, Any], settings: WooCommerceSettings, pricing: StorePricing
) -> tuple[dict[str, Decimal], list[int]]:
    """POS tier prices (``price_aa``...) from a store product's rules at the configured tier
    quantities (pre-tax), and the quantities of rules at other quantities (not imported)."""
    tiers = settings.tiers
    wanted = {getattr(tiers, tier): tier for tier in TIERS}
    found: dict[str, Decimal] = {}
    other: list[int] = []
    if preset_in_use(tiers) == TPT:
        for qty, price in sorted(store_rules(obj.get(RULES_FIELD)).items()):
            pre_tax = pricing.from_store(format(price, "f"))
            if qty in wanted and pre_tax is not None:
                found[f"price_{wanted[qty]}"] = pre_tax
            else:
                other.append(qty)
        return found, other
    for tier, meta_price in tiers_from_meta(tiers, pricing, obj.get("meta_data")).items():
        if meta_price is not None:
            found[f"price_{tier}"] = meta_price
    return found, other


def tier_quantities(tiers: TierMapping) -> str:
    return f"AA from {tiers.aa}, AAA from {tiers.aaa}, AAAA from {tiers.aaaa} units"


def dropped_message(dropped: list[str], tiers: TierMapping) -> str:
    """Why a product is reported after a write whose tier rules the store did not keep."""
    why = (
        f"{EXTENSION} keeps no rule below 2 units and none at a zero price"
        if preset_in_use(tiers) == TPT
        else "the store did not keep them"
    )
    return f"the store dropped tier rules: {'; '.join(dropped)} ({why})"


def not_imported_message(quantities: list[int], tiers: TierMapping) -> str:
    listed = ", ".join(str(q) for q in quantities)
    return (
        f"tier rules at {listed} units not imported: only the configured tier quantities "
        f"become tiers ({tier_quantities(tiers)})"
    )


# --- what was written, per product ------------------------------------------------------


class TierBook:
    """For one sync: which products hold rules we wrote (``wc_tier_push``), the clear a
    removed tier needs, and what each write's answer says the store kept."""

    def __init__(self, settings: WooCommerceSettings) -> None:
        self.settings = settings
        self.preset = preset_in_use(settings.tiers)
        self.held: dict[str, str] = {}  # SKU -> preset the rules were written with
        self.changes: dict[str, tuple[str, Any] | None] = {}  # SKU -> (preset, rules) | delete

    def load(self, hub: Hub, skus: Iterable[str]) -> None:
        """Read the rows of these SKUs (once per plan step)."""
        self.absorb(self.read(hub, skus))

    def read(self, hub: Hub, skus: Iterable[str]) -> dict[str, str]:
        """The stored rows of these SKUs, not yet known: the database part of :meth:`load`,
        which a sync runs in a thread while the event loop keeps the store busy."""
        wanted = sorted({sku for sku in skus if sku and sku not in self.held})
        table = TierPush.__table__  # type: ignore[attr-defined]
        found: dict[str, str] = {}
        with hub.session() as s:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                query = sa_select(table.c.sku, table.c.preset).where(table.c.sku.in_(part))
                for sku, preset in s.execute(query).all():
                    found[sku] = preset
        return found

    def absorb(self, found: dict[str, str]) -> None:
        """Take rows read by :meth:`read`, then this run's own changes over them."""
        self.held.update(found)
        for sku, change in self.changes.items():
            if change is None:
                self.held.pop(sku, None)
            else:
                self.held[sku] = change[0]

    def clear_removed(self, sku: str, payload: dict[str, Any], has_tiers: bool) -> None:
        """Add to an update's payload the clear of rules the store holds from us and should
        not: all of them when the product has no tiers now, or those written with another
        preset (the extension's place or the meta entry) than the one in use."""
        where = self.held.get(sku)
        if where is None or (has_tiers and where == self.preset):
            return
        if where == TPT:
            payload.update(rules_payload(None))
        else:
            meta = [m for m in payload.get("meta_data", []) if m.get("key") != self.meta_key]
            payload["meta_data"] = [*meta, {"key": self.meta_key, "value": None}]

    @property
    def meta_key(self) -> str:
        return self.settings.tiers.meta_key

    def after_write(self, sku: str, payload: dict[str, Any], answer: dict[str, Any]) -> list[str]:
        """Record what the store holds after a successful write of ``payload``; return the
        rules it dropped, in words (empty when it kept every one)."""
        sent = payload.get(RULES_FIELD)
        wrote_meta = any(
            isinstance(m, dict) and m.get("key") == self.meta_key and m.get("value") is not None
            for m in payload.get("meta_data") or []
        )
        if isinstance(sent, dict) and sent:
            kept = canonical_rules(answer.get(RULES_FIELD))
            self.record(sku, (TPT, kept) if kept else None)
            return dropped_rules(sent, answer)
        if wrote_meta:
            self.record(sku, (META, None))
        elif RULES_FIELD in payload or "meta_data" in payload:
            self.record(sku, None)  # a clear
        return []

    def record_import(self, sku: str, obj: dict[str, Any]) -> None:
        """A product imported with tiers: the store holds its rules (cleared if removed)."""
        if self.preset == TPT:
            self.record(sku, (TPT, canonical_rules(obj.get(RULES_FIELD))))
        else:
            self.record(sku, (META, None))

    def record(self, sku: str, change: tuple[str, Any] | None) -> None:
        self.changes[sku] = change
        if change is None:
            self.held.pop(sku, None)
        else:
            self.held[sku] = change[0]

    def flush(self, hub: Hub) -> None:
        with hub.session() as s:
            self.write(s, self.take())
            s.commit()

    def take(self) -> dict[str, tuple[str, Any] | None]:
        """The changes recorded since the last take, to be written by :meth:`write`."""
        changes, self.changes = self.changes, {}
        return changes

    @staticmethod
    def write(s: Session, changes: dict[str, tuple[str, Any] | None]) -> None:
        if not changes:
            return
        table = TierPush.__table__  # type: ignore[attr-defined]
        now = utcnow()
        rows = [
            {"sku": sku, "preset": change[0], "rules": change[1], "updated_at": now}
            for sku, change in changes.items()
            if change is not None
        ]
        gone = [sku for sku, change in changes.items() if change is None]
        if rows:
            s.execute(upsert(s, table, ["sku"], ["preset", "rules", "updated_at"]), rows)
        for start in range(0, len(gone), 500):
            s.execute(delete(table).where(table.c.sku.in_(gone[start : start + 500])))
