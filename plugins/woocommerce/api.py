"""The WooCommerce plugin's JSON API: Sync Now, per-product status and retry, health.

Connection settings and Test Connection are in ``connection.py``; inventory in
``inventory_api.py``; webhooks in ``webhooks.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import Hub, JSONError, ListingInfo, Outcome, accepts, job_dict, read_model
from plugins.woocommerce import inventory, orders, sync_products
from plugins.woocommerce.store import get_state, recent_events, settings_of
from plugins.woocommerce.tables import CHANNEL, PENDING, NotImported, ProductLink

PREFIX = "/api/integrations/woocommerce"


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["products", "orders", "inventory"] = "products"
    full: bool = False
    dry_run: bool = False


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skus: list[str] = Field(default_factory=list, max_length=10000)


def link_dict(link: ListingInfo) -> dict[str, Any]:
    """A product's listing on the store, as the sync status shows it."""
    return {
        "sku": link.sku,
        "store_id": int(link.external_id) if link.external_id else None,
        "status": link.status,
        "message": link.message,
        "updated_at": link.updated_at.isoformat() if link.updated_at else None,
    }


def product_states(
    hub: Hub, status: str | None, sku_prefix: str | None, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Per-product sync states, by SKU: the products' listings on the store, then (as failed)
    the store products that could not be imported, which have no POS product to list."""
    rows, listed = hub.channels.find(
        CHANNEL, status=status, sku_prefix=sku_prefix, offset=offset, limit=limit
    )
    items = [link_dict(r) for r in rows]
    if status not in (None, "failed"):
        return items, listed
    with hub.session() as s:
        query = select(NotImported)
        if sku_prefix:
            query = query.where(col(NotImported.sku).startswith(sku_prefix, autoescape=True))
        extra = int(s.exec(select(func.count()).select_from(query.subquery())).one())
        if len(items) < limit:
            start = max(0, offset - listed)
            more = s.exec(
                query.order_by(col(NotImported.sku)).offset(start).limit(limit - len(items))
            ).all()
            items += [
                {
                    "sku": r.sku,
                    "store_id": r.store_id,
                    "status": "failed",
                    "message": r.message,
                    "updated_at": r.updated_at.isoformat(),
                }
                for r in more
            ]
    return items, listed + extra


def state_counts(hub: Hub) -> dict[str, int]:
    """How many products have each sync status (the not-imported ones count as failed)."""
    counts = hub.channels.counts(CHANNEL)
    with hub.session() as s:
        extra = int(s.exec(select(func.count()).select_from(NotImported)).one())
    if extra:
        counts["failed"] = counts.get("failed", 0) + extra
    return counts


def health_summary(hub: Hub) -> dict[str, Any]:
    """The health monitor's figures: last success, counts, last run's errors, events."""
    settings = settings_of(hub)
    counts = state_counts(hub)
    last = hub.jobs.latest(sync_products.KIND)
    return {
        "store_url": settings.store_url,
        "configured": settings.configured,
        "plugin_status": hub.status,
        "products": {
            "last_success": get_state(hub, "products.last_success"),
            "synced": counts.get("synced", 0),
            "by_status": counts,
            "last_result": get_state(hub, "products.last_result"),
        },
        "orders": orders.orders_summary(hub),
        "current_job": job_dict(last) if last is not None else None,
        # The latest store-reading sync and the latest POS-edit push, apart.
        **{
            name: job_dict(job) if job is not None else None
            for name, job in zip(
                ("catalogue_sync", "edit_push"), sync_products.latest_syncs(hub), strict=True
            )
        },
        "last_run_errors": (last.errors if last is not None else [])[:200],
        "events": recent_events(hub, 50),
        **inventory_health(hub, settings),
    }


def inventory_health(hub: Hub, settings: Any) -> dict[str, Any]:
    """Inventory push, change detection, auto-correction and duplicates figures."""
    from plugins.woocommerce import drift, inventory

    jobs = {}
    for name, kind in (("inventory", inventory.KIND), ("change_detection", drift.KIND)):
        job = hub.jobs.latest(kind)
        jobs[name] = job_dict(job) if job is not None else None
    return {
        "last_success": {
            "products": get_state(hub, "products.last_success"),
            "orders": get_state(hub, "orders.last_success"),
            "inventory": get_state(hub, "inventory.last_success"),
            "change_detection": get_state(hub, "drift.last_success"),
        },
        "auto_correct": inventory.auto_correct_on(hub, settings),
        "inventory": inventory.inventory_summary(hub),
        "change_detection": drift.drift_summary(hub),
        "duplicates": get_state(hub, "duplicates.last_report"),
        "jobs": jobs,
    }


def routes(hub: Hub) -> list[BaseRoute]:
    @accepts(SyncIn)
    async def sync_now(request: Request) -> Response:
        """Sync Now: queue a sync (replacing a running or stuck one of the same kind)."""
        body = await read_model(request, SyncIn)
        if body.kind == "inventory":
            job, _ = await run_in_threadpool(
                lambda: inventory.request_push(
                    hub, full=body.full, trigger="sync now", supersede=True
                )
            )
            return JSONResponse(job_dict(job), status_code=202)
        if body.kind == "orders":
            job, _ = await run_in_threadpool(orders.request_import, hub, "sync now", supersede=True)
            return JSONResponse(job_dict(job), status_code=202)
        job, _ = await run_in_threadpool(
            sync_products.request_sync,
            hub,
            full=body.full,
            dry_run=body.dry_run,
            trigger="sync now",
            supersede=True,
        )
        return JSONResponse(job_dict(job), status_code=202)

    async def status(request: Request) -> Response:
        """The health monitor: last successful sync, products synced, errors, events."""
        return JSONResponse(await run_in_threadpool(health_summary, hub))

    async def products(request: Request) -> Response:
        """Per-product sync status; filter with ``status`` (synced, pending, failed, skipped)."""
        wanted = request.query_params.get("status")
        if wanted and wanted not in ("synced", "pending", "failed", "skipped"):
            raise JSONError(
                400, "invalid_param", "status must be synced, pending, failed or skipped", "status"
            )
        try:
            page = max(1, int(request.query_params.get("page", "1")))
            per_page = min(500, max(1, int(request.query_params.get("per_page", "50"))))
        except ValueError:
            raise JSONError(
                400, "invalid_param", "page and per_page must be whole numbers", "page"
            ) from None

        def load() -> tuple[list[dict[str, Any]], int]:
            return product_states(hub, wanted or None, None, (page - 1) * per_page, per_page)

        items, total = await run_in_threadpool(load)
        return JSONResponse({"products": items, "total": total, "page": page})

    @accepts(RetryIn)
    async def retry(request: Request) -> Response:
        """Retry products (all failed ones when no SKU is given): marked pending and pushed."""
        body = await read_model(request, RetryIn)

        def mark() -> int:
            with hub.session() as s:
                skus = list(body.skus) if body.skus else failed_skus(hub, s)
                rows = s.exec(select(ProductLink).where(col(ProductLink.sku).in_(skus))).all()
                found = {r.sku for r in rows}
                unknown = [sku for sku in body.skus if sku not in found]
                if unknown:
                    raise JSONError(
                        404,
                        "not_found",
                        f"skus: not known to the sync: {', '.join(unknown[:10])}",
                        "skus",
                    )
                listed = hub.channels.listings(CHANNEL, skus=found, session=s)
                hub.channels.record(
                    CHANNEL,
                    [
                        Outcome(r.sku, PENDING, "retry requested", listed[r.sku].external_id)
                        for r in rows
                        if r.sku in listed
                    ],
                    session=s,
                )
                for row in rows:
                    row.pushed_hash = None
                    s.add(row)
                s.commit()
            sync_products.schedule_edit_push(hub)
            return len(rows)

        return JSONResponse({"retrying": await run_in_threadpool(mark)}, status_code=202)

    return [
        Route(f"{PREFIX}/sync", sync_now, methods=["POST"]),
        Route(f"{PREFIX}/status", status, methods=["GET"]),
        Route(f"{PREFIX}/products", products, methods=["GET"]),
        Route(f"{PREFIX}/products/retry", retry, methods=["POST"]),
    ]


def failed_skus(hub: Hub, s: Any) -> list[str]:
    """Every SKU whose listing on the store is failed (in pages of 1,000)."""
    skus: list[str] = []
    while True:
        rows, total = hub.channels.find(
            CHANNEL, status="failed", offset=len(skus), limit=1000, session=s
        )
        skus.extend(r.sku for r in rows)
        if not rows or len(skus) >= total:
            return skus
