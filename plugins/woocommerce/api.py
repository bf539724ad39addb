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

from hub.context import Hub
from hub.web.api import job_dict
from hub.web.jsonio import JSONError, read_model
from plugins.woocommerce import inventory, orders, sync_products
from plugins.woocommerce.store import get_state, recent_events, settings_of
from plugins.woocommerce.tables import PENDING, ProductLink

PREFIX = "/api/integrations/woocommerce"


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["products", "orders", "inventory"] = "products"
    full: bool = False
    dry_run: bool = False


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    skus: list[str] = Field(default_factory=list, max_length=10000)


def link_dict(link: ProductLink) -> dict[str, Any]:
    return {
        "sku": link.sku,
        "store_id": link.store_id,
        "status": link.status,
        "message": link.message,
        "updated_at": link.updated_at.isoformat(),
    }


def health_summary(hub: Hub) -> dict[str, Any]:
    """The health monitor's figures: last success, counts, last run's errors, events."""
    settings = settings_of(hub)
    with hub.session() as s:
        counts = dict(
            s.exec(select(ProductLink.status, func.count()).group_by(ProductLink.status)).all()
        )
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
            with hub.session() as s:
                query = select(ProductLink)
                if wanted:
                    query = query.where(ProductLink.status == wanted)
                total = s.exec(select(func.count()).select_from(query.subquery())).one()
                rows = s.exec(
                    query.order_by(col(ProductLink.sku))
                    .offset((page - 1) * per_page)
                    .limit(per_page)
                ).all()
                return [link_dict(r) for r in rows], int(total)

        items, total = await run_in_threadpool(load)
        return JSONResponse({"products": items, "total": total, "page": page})

    async def retry(request: Request) -> Response:
        """Retry products (all failed ones when no SKU is given): marked pending and pushed."""
        body = await read_model(request, RetryIn)

        def mark() -> int:
            with hub.session() as s:
                query = select(ProductLink)
                if body.skus:
                    query = query.where(col(ProductLink.sku).in_(body.skus))
                else:
                    query = query.where(ProductLink.status == "failed")
                rows = s.exec(query).all()
                found = {r.sku for r in rows}
                unknown = [sku for sku in body.skus if sku not in found]
                if unknown:
                    raise JSONError(
                        404,
                        "not_found",
                        f"skus: not known to the sync: {', '.join(unknown[:10])}",
                        "skus",
                    )
                for row in rows:
                    row.status, row.message, row.pushed_hash = PENDING, "retry requested", None
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
