"""The duplicates report and the merge action.

The report reads the store's product list (trimmed to id, SKU, name, status) and lists:
products without a SKU (the hub cannot link them), SKUs the POS does not know, and products
sharing a name (compared without case, surrounding spaces or HTML entities). Merging keeps
one store product, points the POS product's mapping at it (carrying the SKU over if needed)
and sets the others to draft, so nothing is deleted and an admin can still look at them.
"""

from __future__ import annotations

import asyncio
import html
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import INT_MAX, Hub, JSONError, Outcome, accepts, read_model, requires, utcnow
from plugins.woocommerce.client import MAX_BATCH, WooClient, is_item_error
from plugins.woocommerce.client_errors import StoreError
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.store import make_client, record_event, set_state, settings_of
from plugins.woocommerce.tables import CHANNEL, PENDING, ProductLink

PREFIX = "/api/integrations/woocommerce"
FIELDS = "id,sku,name,status,type"
LISTED = 500  # entries per section of the report


def name_key(name: Any) -> str:
    return " ".join(html.unescape(str(name or "")).split()).casefold()


async def store_products(client: WooClient, concurrency: int) -> list[dict[str, Any]]:
    params = {"orderby": "id", "order": "asc", "status": "any", "per_page": MAX_BATCH}
    params["_fields"] = FIELDS
    first = None
    async for page in client.iter_pages("products", params, max_pages=1):
        first = page
    if first is None:
        return []
    semaphore = asyncio.Semaphore(concurrency)

    async def fetch(n: int) -> list[dict[str, Any]]:
        async with semaphore:
            async for got in client.iter_pages("products", params, start_page=n, max_pages=1):
                return list(got.items)
        return []

    rest = await asyncio.gather(*(fetch(n) for n in range(2, (first.total_pages or 1) + 1)))
    items = list(first.items) + [obj for part in rest for obj in part]
    return [o for o in items if o.get("type") != "variation"]


def build_report(hub: Hub, products: list[dict[str, Any]]) -> dict[str, Any]:
    store_skus = [str(obj.get("sku") or "").strip() for obj in products]
    pos_skus = {sku.lower() for sku in hub.pos.get_products([s for s in store_skus if s])}
    ids = [str(obj.get("id")) for obj in products if obj.get("id")]
    links = {
        int(store_id): sku for store_id, sku in hub.channels.by_external_ids(CHANNEL, ids).items()
    }
    without_sku, unknown = [], []
    by_name: dict[str, list[dict[str, Any]]] = {}
    for obj in products:
        entry = {
            "id": obj.get("id"),
            "sku": obj.get("sku") or "",
            "name": html.unescape(str(obj.get("name") or "")),
            "status": obj.get("status"),
            "linked_sku": links.get(int(obj.get("id") or 0)),
        }
        sku = str(obj.get("sku") or "").strip()
        if not sku:
            without_sku.append(entry)
        elif sku.lower() not in pos_skus:
            unknown.append(entry)
        by_name.setdefault(name_key(obj.get("name")), []).append(entry)
    same_name = [
        {"name": group[0]["name"], "products": group}
        for key, group in sorted(by_name.items())
        if key and len(group) > 1
    ]
    counts = {
        "without_sku": len(without_sku),
        "unknown_skus": len(unknown),
        "same_name_groups": len(same_name),
    }
    report: dict[str, Any] = {
        "store_products": len(products),
        "counts": counts,
        "without_sku": without_sku[:LISTED],
        "unknown_skus": unknown[:LISTED],
        "same_name": same_name[:LISTED],
        "generated_at": utcnow().isoformat(),
    }
    set_state(hub, "duplicates.last_report", {"at": report["generated_at"], **counts})
    return report


class NotConfigured(Exception):
    """No store URL and keys yet: there is no store to read."""


async def configured_settings(hub: Hub) -> WooCommerceSettings:
    settings = await run_in_threadpool(settings_of, hub)
    if not settings.configured:
        raise NotConfigured("the store is not configured: store URL and API keys needed")
    return settings


async def duplicates_report(hub: Hub) -> dict[str, Any]:
    settings = await configured_settings(hub)
    async with make_client(settings) as client:
        products = await store_products(client, settings.max_concurrency)
    return await run_in_threadpool(build_report, hub, products)


class MergeError(Exception):
    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


async def merge(hub: Hub, keep: int, drop: list[int]) -> dict[str, Any]:
    """Keep store product ``keep``, draft ``drop``, and link the POS SKU to ``keep``."""
    if keep in drop:
        raise MergeError(422, "drop: must not contain the product to keep", "drop")
    settings = await configured_settings(hub)
    async with make_client(settings) as client:
        ids = [keep, *drop]
        found = await client.get(
            "products",
            {"include": ",".join(map(str, ids)), "per_page": MAX_BATCH, "_fields": FIELDS},
        )
        by_id = {int(o["id"]): o for o in found or []}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise MergeError(
                404, f"no store product with id {', '.join(map(str, missing))}", "drop"
            )

        def links() -> dict[int, str]:
            found = hub.channels.by_external_ids(CHANNEL, [str(i) for i in ids])
            return {int(store_id): sku for store_id, sku in found.items()}

        linked = await run_in_threadpool(links)
        skus = {sku.lower(): sku for sku in linked.values()}
        if len(skus) > 1:
            raise MergeError(
                409,
                "these store products carry different POS products "
                f"({', '.join(sorted(skus.values()))}); merge only twins of one product",
                "drop",
            )
        sku = next(iter(skus.values()), None)
        if sku is None:
            own = str(by_id[keep].get("sku") or "")

            def known(value: str) -> str | None:
                return next(iter(hub.pos.get_products([value])), None)

            sku = await run_in_threadpool(known, own) if own else None
        keep_sku = str(by_id[keep].get("sku") or "")
        moves_sku = sku is not None and keep_sku.lower() != sku.lower()
        updates = []
        for d in drop:
            body: dict[str, Any] = {"id": d, "status": "draft"}
            # The store keeps SKUs unique: free it before giving it to the kept product.
            if moves_sku and str(by_id[d].get("sku") or "").lower() == (sku or "").lower():
                body["sku"] = ""
            updates.append(body)
        outcome = await client.batch_all("products", update=updates)
        failed = [i for i in outcome.update if is_item_error(i)]
        if failed:
            raise MergeError(502, f"the store refused: {failed[0]['error'].get('message')}", "drop")
        if moves_sku:
            await client.put(f"products/{keep}", {"sku": sku})

    def relink() -> None:
        if sku is None:
            return
        with hub.session() as s:
            row = s.get(ProductLink, sku) or ProductLink(sku=sku)
            row.pushed_hash, row.pushed_stock = None, None
            row.store_hash, row.store_modified = None, None
            row.updated_at = utcnow()
            s.add(row)
            message = f"merged: kept store product #{keep}, drafted #{', #'.join(map(str, drop))}"
            hub.channels.record(CHANNEL, [Outcome(sku, PENDING, message, str(keep))], session=s)
            s.commit()

    await run_in_threadpool(relink)
    await run_in_threadpool(
        record_event, hub, "merge", f"kept #{keep} for {sku or 'no SKU'}; drafted {drop}"
    )
    if sku is not None:
        # The kept product gets the POS content and stock with the next pushes.
        from plugins.woocommerce import inventory, sync_products

        await run_in_threadpool(sync_products.schedule_edit_push, hub)
        await run_in_threadpool(lambda: inventory.request_push(hub, skus=[sku], trigger="merge"))
    return {"kept": keep, "drafted": drop, "sku": sku}


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keep: int = Field(gt=0, le=INT_MAX)
    drop: list[Annotated[int, Field(gt=0, le=INT_MAX)]] = Field(min_length=1, max_length=50)


def routes(hub: Hub) -> list[BaseRoute]:
    async def report(request: Request) -> Response:
        """The duplicates report, read from the store now."""
        try:
            return JSONResponse(await duplicates_report(hub))
        except NotConfigured as exc:
            raise JSONError(409, "not_configured", str(exc)) from None
        except StoreError as exc:
            raise JSONError(502, "store_error", f"the store could not be read: {exc}") from None

    @requires("admin")
    @accepts(MergeIn)
    async def merge_route(request: Request) -> Response:
        """Merge: keep one store product, relink the mapping, draft the others."""
        body = await read_model(request, MergeIn)
        try:
            return JSONResponse(await merge(hub, body.keep, body.drop))
        except MergeError as exc:
            raise JSONError(exc.status, "merge_refused", exc.message, exc.field) from None
        except NotConfigured as exc:
            raise JSONError(409, "not_configured", str(exc)) from None
        except StoreError as exc:
            raise JSONError(502, "store_error", f"the store refused: {exc}") from None

    return [
        Route(f"{PREFIX}/duplicates", report, methods=["GET"]),
        Route(f"{PREFIX}/duplicates/merge", merge_route, methods=["POST"]),
    ]
