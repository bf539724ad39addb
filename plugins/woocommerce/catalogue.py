"""What the store should hold for a POS product, and how to compare it with what it holds.

Pure functions: no I/O. The sync engine feeds them POS snapshots and store objects.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.pricing import TIERS, StorePricing, tier_meta
from plugins.woocommerce.tiers import (
    RULES_FIELD,
    TPT,
    canonical_rules,
    fixed_rules,
    preset_in_use,
    rules_payload,
)

# The fields a catalogue sync reads from the store: enough to compare and to import.
STORE_FIELDS = (
    "id",
    "sku",
    "name",
    "type",
    "status",
    "description",
    "regular_price",
    "manage_stock",
    "stock_quantity",
    "categories",
    "meta_data",
    RULES_FIELD,  # the "Tiered Pricing Table" extension's rules (absent without it)
    "date_modified_gmt",
)
MAX_NAME = 400


@dataclass(frozen=True)
class PosProduct:
    """A POS product as the sync sees it (a snapshot, not a database row)."""

    id: int
    sku: str
    name: str
    description: str
    price: Decimal
    tiers: dict[str, Decimal | None]
    category: str | None
    sync: bool
    active: bool
    manage_stock: bool
    on_hand: int
    reserved: int
    updated_at: datetime


@dataclass
class Action:
    """What the sync will do with one product."""

    kind: str  # create, update, unchanged, skip, draft
    sku: str
    payload: dict[str, Any] = field(default_factory=dict)
    hash: str | None = None
    reason: str = ""


def content_hash(view: dict[str, Any]) -> str:
    text = json.dumps(view, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def invalid_reason(p: PosProduct, settings: WooCommerceSettings) -> str | None:
    """Why the store would refuse (or garble) this product, or None when it can be sent."""
    if not p.name.strip():
        return "name is empty"
    if p.price is None or p.price < 0:
        return "price is missing or negative"
    if settings.require_description and not p.description.strip():
        return "description is required by the sync settings and is empty"
    if not p.sku or p.sku != p.sku.strip() or any(c.isspace() for c in p.sku):
        return "SKU is empty or contains whitespace"
    return None


def desired_view(
    p: PosProduct, settings: WooCommerceSettings, pricing: StorePricing, category_id: int | None
) -> dict[str, Any]:
    """The store-side fields the POS owns, in the shape used for hashing and for payloads."""
    view: dict[str, Any] = {
        "sku": p.sku,
        "name": p.name,
        "description": p.description,
        "regular_price": pricing.to_store(p.price),
        "status": settings.publish_status,
        "manage_stock": p.manage_stock,
        "categories": [category_id] if category_id else [],
    }
    prices = {t: p.tiers.get(t) for t in TIERS}
    if preset_in_use(settings.tiers) == TPT:
        view["tiers"] = fixed_rules(settings.tiers, pricing, prices)
    else:
        meta = tier_meta(settings.tiers, pricing, p.price, prices)
        view["tiers"] = meta["value"] if meta else None
    for name in settings.store_authority:
        view.pop(_view_key(name), None)
    return view


def _view_key(field_name: str) -> str:
    return {"price": "regular_price", "category": "categories"}.get(field_name, field_name)


def payload_from_view(view: dict[str, Any], settings: WooCommerceSettings) -> dict[str, Any]:
    """The JSON body for a create or update from a desired view."""
    body = {k: v for k, v in view.items() if k not in ("categories", "tiers")}
    if "name" in body:
        # WordPress treats a product name as HTML: it strips anything that looks like a tag
        # and escapes a lone "&", "<" or ">". Sent escaped, the store shows what the POS holds.
        body["name"] = html.escape(body["name"], quote=False)
    if "categories" in view:
        body["categories"] = [{"id": cid} for cid in view["categories"]]
    if view.get("tiers") is not None:
        # A product without tiers sends none; one whose tiers were removed gets the clear
        # added by the sync (tiers.TierBook), which knows what the store holds from us.
        if preset_in_use(settings.tiers) == TPT:
            body.update(rules_payload(view["tiers"]))
        else:
            body["meta_data"] = [{"key": settings.tiers.meta_key, "value": view["tiers"]}]
    return body


def store_view(obj: dict[str, Any], settings: WooCommerceSettings) -> dict[str, Any]:
    """The same fields as :func:`desired_view`, read from a store product object."""
    tiers_value = None
    if preset_in_use(settings.tiers) == TPT:
        # Read back as numbers ({"5": 27.5}); compared as decimals with what was sent.
        tiers_value = canonical_rules(obj.get(RULES_FIELD))
    else:
        for meta in obj.get("meta_data") or []:
            if isinstance(meta, dict) and meta.get("key") == settings.tiers.meta_key:
                tiers_value = meta.get("value")
    view: dict[str, Any] = {
        "sku": obj.get("sku") or "",
        "name": html.unescape(str(obj.get("name") or "")),
        "description": obj.get("description") or "",
        "regular_price": obj.get("regular_price") or "",
        "status": obj.get("status"),
        "manage_stock": bool(obj.get("manage_stock")),
        "categories": sorted(
            int(c["id"]) for c in obj.get("categories") or [] if isinstance(c, dict) and "id" in c
        ),
        "tiers": tiers_value,
    }
    # Fields the store has authority over stay in: a change to them alone is a store-side
    # change too, and that is how it reaches the POS.
    return view


def plan_product(
    p: PosProduct,
    link_store_id: int | None,
    pushed_hash: str | None,
    changed_in_store: bool,
    settings: WooCommerceSettings,
    pricing: StorePricing,
    category_id: int | None,
    category_missing: bool,
) -> Action:
    """Decide what to do with one POS product given what we know of its store twin."""
    if not p.sync or not p.active:
        if link_store_id is None or settings.when_unflagged == "leave":
            why = "not flagged for the store" if not p.sync else "deactivated in the POS"
            return Action("skip", p.sku, reason=why)
        if pushed_hash == "drafted":
            return Action("unchanged", p.sku, hash="drafted")
        return Action(
            "draft", p.sku, payload={"id": link_store_id, "status": "draft"}, hash="drafted"
        )
    reason = invalid_reason(p, settings)
    if reason:
        return Action("skip", p.sku, reason=reason)
    if category_missing:
        return Action(
            "skip",
            p.sku,
            reason=f"category {p.category!r} does not exist in the store (sync settings: skip)",
        )
    view = desired_view(p, settings, pricing, category_id)
    digest = content_hash(view)
    if link_store_id is None:
        # A new product starts with every field from the POS (a store with authority over the
        # price must not get a product nobody can buy); the store's authority applies after.
        if settings.store_authority:
            view = desired_view(
                p, settings.model_copy(update={"store_authority": []}), pricing, category_id
            )
        payload = payload_from_view(view, settings)
        if p.manage_stock:
            payload["stock_quantity"] = max(0, p.on_hand - p.reserved)
        return Action("create", p.sku, payload=payload, hash=digest)
    if digest == pushed_hash and not changed_in_store:
        return Action("unchanged", p.sku, hash=digest)
    payload = payload_from_view(view, settings)
    payload["id"] = link_store_id
    return Action("update", p.sku, payload=payload, hash=digest)


def import_fields(
    obj: dict[str, Any], pricing: StorePricing
) -> tuple[dict[str, Any] | None, str | None]:
    """POS product fields from a store product, or the reason it cannot be imported."""
    sku = obj.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        return None, "the store product has no SKU"
    if sku != sku.strip() or any(c.isspace() for c in sku):
        return None, f"the store SKU {sku!r} contains whitespace"
    if obj.get("type") not in (None, "simple"):
        return None, f"{obj.get('type')} products are not imported (only simple products)"
    price = pricing.from_store(obj.get("regular_price"))
    if price is None:
        return None, f"the store price {obj.get('regular_price')!r} is not a price"
    name = html.unescape(str(obj.get("name") or "")).strip()
    if not name:
        return None, "the store product has no name"
    categories = obj.get("categories") or []
    category = None
    if categories and isinstance(categories[0], dict):
        category = html.unescape(str(categories[0].get("name") or "")) or None
    return {
        "sku": sku,
        "name": name[:MAX_NAME],
        "description": str(obj.get("description") or ""),
        "price": price,
        "category": category[:200] if category else None,
        "manage_stock": bool(obj.get("manage_stock")),
    }, None
