"""Publishes the freebies plugin's campaigns to the store as WooCommerce coupons.

Implements ``freebies_publish_campaigns`` (declared by the freebies plugin; neither plugin
imports the other: campaigns arrive as plain dicts). The mapping, for a spend campaign:

- one coupon per campaign, code ``pos-gift-<campaign id>`` (WooCommerce lower-cases codes),
  with meta ``_pos_campaign_id``; the code is the link, so no table is needed and a run
  interrupted at any point is finished by the next one without duplicates;
- ``discount_type`` ``fixed_product`` on the gift product, ``amount`` the gift's current store
  price, so the gift line costs nothing; ``limit_usage_to_x_items`` gift quantity x limit per
  order;
- ``minimum_amount`` the spend threshold plus the gifts' own value, because WooCommerce counts
  the gift (which the customer puts in the cart) in the subtotal it checks;
- ``date_expires_gmt`` the window's end; ``usage_limit`` the orders the rest of the cap can
  serve: (cap - gifts given at the till) // (gift units per order);
- a campaign that is not active now (scheduled, paused, ended, used up, no longer online, or
  with a buy-N rule WooCommerce coupons cannot express) has no coupon created, and a coupon
  published before is expired (``date_expires_gmt`` set to now), keeping its usage history;
- a coupon whose campaign no longer exists is deleted.

Each run lists the coupons first and writes only what differs, so a second run writes nothing.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.api import Hub, hookimpl
from plugins.woocommerce.client import WooClient, format_price
from plugins.woocommerce.client_errors import AmbiguousWrite, AuthError, NotFound, StoreError
from plugins.woocommerce.config import WooCommerceSettings

CODE_PREFIX = "pos-gift-"
CODE_RE = re.compile(r"^pos-gift-(\d+)$")
META_KEY = "_pos_campaign_id"
COUNTS = ("created", "updated", "expired", "deleted", "unchanged", "skipped", "linked", "failed")
DESCRIPTION = "Free gift: {name}. Managed by the POS hub; changes made here are overwritten."
# Fields of ours compared with the store's coupon; anything else on the coupon is left alone.
MONEY_FIELDS = ("amount", "minimum_amount")


def _gmt(value: datetime) -> str:
    """UTC as the store takes it: seconds, no offset (``date_expires_gmt``)."""
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _parse_gmt(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _price(product: dict[str, Any]) -> Decimal | None:
    for key in ("price", "regular_price"):
        try:
            value = Decimal(str(product.get(key) or ""))
        except InvalidOperation:
            continue
        if value > 0:
            return value
    return None


def coupon_body(campaign: dict[str, Any], product: dict[str, Any]) -> dict[str, Any] | str:
    """The coupon an active spend campaign maps to, or the reason it cannot be offered."""
    price = _price(product)
    if price is None:
        return f"gift {campaign['gift_sku']} has no price in the store"
    per_order = int(campaign["gift_quantity"]) * int(campaign["limit_per_order"])
    uses = (int(campaign["cap"]) - int(campaign["given_at_till"])) // per_order
    if uses <= 0:
        # usage_limit 0 means "unlimited" to WooCommerce: a used-up cap must expire instead.
        return "the cap is used up"
    minimum = Decimal(campaign["min_spend"]) + price * int(campaign["gift_quantity"])
    return {
        "code": campaign["code"],
        "discount_type": "fixed_product",
        "amount": format_price(price),
        "product_ids": [int(product["id"])],
        "limit_usage_to_x_items": per_order,
        "minimum_amount": format_price(minimum),
        "date_expires_gmt": _gmt(datetime.fromisoformat(campaign["end"])),
        "usage_limit": uses,
        "individual_use": False,
        "description": DESCRIPTION.format(name=campaign["name"]),
        "meta_data": [{"key": META_KEY, "value": str(campaign["id"])}],
    }


def differences(existing: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``body`` the store's coupon does not already hold."""
    changed: dict[str, Any] = {}
    for key, wanted in body.items():
        if key in ("code", "meta_data"):
            continue
        have = existing.get(key)
        if key in MONEY_FIELDS:
            try:
                same = Decimal(str(have or "0")) == Decimal(str(wanted))
            except InvalidOperation:
                same = False
        elif key == "date_expires_gmt":
            same = _parse_gmt(have) == _parse_gmt(wanted)
        elif key == "product_ids":
            same = sorted(have or []) == sorted(wanted)
        else:
            same = have == wanted
        if not same:
            changed[key] = wanted
    return changed


def campaign_id_of(coupon: dict[str, Any]) -> int | None:
    match = CODE_RE.match(str(coupon.get("code", "")).strip().lower())
    if match:
        return int(match.group(1))
    for meta in coupon.get("meta_data") or []:
        if isinstance(meta, dict) and meta.get("key") == META_KEY:
            try:
                return int(str(meta.get("value")))
            except ValueError:
                return None
    return None


class Publication:
    """One reconciliation run against one store."""

    def __init__(self, client: WooClient, now: datetime) -> None:
        self.client = client
        self.now = now
        self.counts = dict.fromkeys(COUNTS, 0)
        self.results: dict[str, dict[str, Any]] = {}
        self.errors: list[dict[str, Any]] = []

    def note(
        self, campaign_id: int, status: str, detail: str, coupon: dict[str, Any] | None = None
    ) -> None:
        self.results[str(campaign_id)] = {
            "status": status,
            "detail": detail,
            "ref": coupon.get("code") if coupon else None,
            "coupon_id": coupon.get("id") if coupon else None,
            "usage_count": coupon.get("usage_count") if coupon else None,
        }

    def fail(self, campaign_id: int | None, message: str) -> None:
        self.counts["failed"] += 1
        self.errors.append({"campaign_id": campaign_id, "message": message})
        if campaign_id is not None:
            self.note(campaign_id, "failed", message)

    async def find(self, code: str) -> dict[str, Any] | None:
        found = await self.client.list_coupons(code=code)
        return next((c for c in found if str(c.get("code", "")).lower() == code), None)

    async def run(self, campaigns: list[dict[str, Any]]) -> None:
        # Read everything first; if the listing fails nothing is written (and nothing deleted
        # on the strength of a partial read).
        listed = await self.client.list_coupons(search=CODE_PREFIX)
        coupons: dict[int, dict[str, Any]] = {}
        for coupon in listed:
            cid = campaign_id_of(coupon)
            if cid is not None and coupon.get("status", "publish") != "trash":
                coupons.setdefault(cid, coupon)
        wanted = {
            c["gift_sku"]
            for c in campaigns
            if c["online"] and c["state"] == "active" and c["rule"] == "spend"
        }
        products = await self.products(sorted(wanted))
        for campaign in campaigns:
            try:
                await self.one(campaign, coupons.get(int(campaign["id"])), products)
            except AuthError:
                raise  # a read-only or revoked key: no other campaign can do better
            except StoreError as exc:
                self.fail(int(campaign["id"]), str(exc))
        known = {int(c["id"]) for c in campaigns}
        for cid, coupon in sorted(coupons.items()):
            if cid in known:
                continue
            try:
                await self.client.delete(f"coupons/{int(coupon['id'])}", {"force": True})
                self.counts["deleted"] += 1
            except NotFound:
                self.counts["deleted"] += 1  # already gone: the goal is met
            except StoreError as exc:
                self.fail(None, f"deleting coupon {coupon.get('code')}: {exc}")

    async def products(self, skus: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        # The store takes a comma list of SKUs; keep each request's URL short.
        for start in range(0, len(skus), 50):
            chunk = skus[start : start + 50]
            for item in await self.client.get_products_by_sku(chunk):
                sku = str(item.get("sku", ""))
                for wanted in chunk:
                    if sku.lower() == wanted.lower():
                        found[wanted] = item
        return found

    async def one(
        self,
        campaign: dict[str, Any],
        coupon: dict[str, Any] | None,
        products: dict[str, dict[str, Any]],
    ) -> None:
        cid = int(campaign["id"])
        reason = ""
        body: dict[str, Any] | str | None = None
        if not campaign["online"]:
            reason = "not for the online channel"
        elif campaign["rule"] != "spend":
            reason = "a buy-N rule has no WooCommerce coupon equivalent; till only"
        elif campaign["state"] != "active":
            reason = f"campaign {campaign['state']}"
        elif campaign["gift_sku"] not in products:
            self.fail(cid, f"gift SKU {campaign['gift_sku']} is not in the store")
            if coupon is not None:
                await self.expire(cid, coupon, "gift not in the store")
            return
        else:
            body = coupon_body(campaign, products[campaign["gift_sku"]])
            if isinstance(body, str):
                reason = body
        if not isinstance(body, dict):
            if coupon is not None:
                await self.expire(cid, coupon, reason)
            else:
                skipped = campaign["rule"] != "spend" and campaign["online"]
                self.counts["skipped" if skipped else "unchanged"] += 1
                self.note(cid, "skipped" if skipped else "absent", reason)
            return
        if coupon is None:
            await self.create(cid, body)
        else:
            await self.update(cid, coupon, body)

    async def create(self, cid: int, body: dict[str, Any]) -> None:
        try:
            created = await self.client.create_coupon(body)
        except AmbiguousWrite:
            # The store may have created it before the answer was lost: look before retrying.
            existing = await self.find(body["code"])
            if existing is None:
                self.fail(cid, "the store did not confirm the coupon; the next run retries")
                return
            self.counts["linked"] += 1
            await self.update(cid, existing, body)
            return
        except StoreError as exc:
            if exc.code != "woocommerce_rest_coupon_code_already_exists":
                raise
            # Someone (an earlier run that was cut off, another worker) holds the code: link.
            existing = await self.find(body["code"])
            if existing is None:
                self.fail(cid, f"code {body['code']} is taken by a coupon the API does not list")
                return
            self.counts["linked"] += 1
            await self.update(cid, existing, body)
            return
        self.counts["created"] += 1
        self.note(cid, "published", "created", created)

    async def update(self, cid: int, coupon: dict[str, Any], body: dict[str, Any]) -> None:
        changes = differences(coupon, body)
        if not changes:
            self.counts["unchanged"] += 1
            self.note(cid, "published", "up to date", coupon)
            return
        changes["meta_data"] = body["meta_data"]
        updated = await self.client.put(f"coupons/{int(coupon['id'])}", changes)
        self.counts["updated"] += 1
        self.note(cid, "published", "updated: " + ", ".join(sorted(changes)), updated)

    async def expire(self, cid: int, coupon: dict[str, Any], reason: str) -> None:
        expires = _parse_gmt(coupon.get("date_expires_gmt"))
        if expires is not None and expires <= self.now:
            self.counts["unchanged"] += 1
            self.note(cid, "expired", reason, coupon)
            return
        updated = await self.client.put(
            f"coupons/{int(coupon['id'])}", {"date_expires_gmt": _gmt(self.now)}
        )
        self.counts["expired"] += 1
        self.note(cid, "expired", reason, updated)


def _report(ok: bool, message: str, run: Publication | None = None) -> dict[str, Any]:
    return {
        "publisher": "woocommerce",
        "ok": ok,
        "message": message,
        "counts": run.counts if run else dict.fromkeys(COUNTS, 0),
        "campaigns": run.results if run else {},
        "errors": run.errors if run else [{"campaign_id": None, "message": message}],
    }


async def publish(
    settings: WooCommerceSettings, campaigns: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    client = WooClient(
        settings.store_url,
        settings.consumer_key,
        settings.consumer_secret.get_secret_value(),
        timeout=settings.timeout_seconds,
        max_concurrency=settings.max_concurrency,
        verify_tls=settings.verify_tls,
        auth=settings.auth,
    )
    run = Publication(client, now)
    try:
        await run.run(campaigns)
    except AuthError as exc:
        run.errors.append({"campaign_id": None, "message": str(exc)})
        return {**_report(False, f"the store refused the API key: {exc}", run), "auth_failed": True}
    except StoreError as exc:
        # The listing or the product lookup failed: nothing was changed on the strength of it.
        run.errors.append({"campaign_id": None, "message": str(exc)})
        return _report(False, f"store unavailable: {exc}", run)
    finally:
        await client.aclose()
    published = sum(1 for r in run.results.values() if r["status"] == "published")
    ok = not run.errors
    message = f"{published} coupon(s) live" + ("" if ok else f", {len(run.errors)} error(s)")
    return _report(ok, message, run)


@hookimpl(optionalhook=True)
def freebies_publish_campaigns(hub: Hub, campaigns: list[dict[str, Any]]) -> dict[str, Any]:
    settings: WooCommerceSettings = hub.settings
    if not settings.configured:
        return _report(False, "WooCommerce is not configured: store URL and API keys needed")
    # The hook runs in a worker thread with no event loop of its own.
    report = asyncio.run(publish(settings, campaigns, datetime.now(UTC)))
    if report.pop("auth_failed", False):
        hub.report_state("auth_failed", report["message"])
    return report
