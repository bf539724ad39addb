"""The WooCommerce admin pages: Integrations > WooCommerce > Health Monitor, Product Sync,
Inventory Sync, Change Log, Settings.

They follow the admin's path of the POS's troubleshooting page and read the same Python
functions as the plugin's JSON API. Everything under ``/admin`` already needs a login and a CSRF
token (``hub.web.admin``); actions that change settings are guarded for admins here.
"""

from __future__ import annotations

import asyncio
import importlib
from types import ModuleType
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.api import (
    INT_MAX,
    MAX_PAGE,
    AdminPage,
    Hub,
    JSONError,
    Outcome,
    flash,
    hookimpl,
    mask,
    principal,
    render,
    require_role,
)
from plugins.woocommerce import sync_products
from plugins.woocommerce.api import failed_skus, health_summary, product_states, state_counts
from plugins.woocommerce.store import get_state, recent_events, set_state, settings_of
from plugins.woocommerce.tables import CHANNEL, PENDING, ProductLink

BASE = "/admin/integrations/woocommerce"
SECTION, GROUP = "Integrations", "WooCommerce"
PER_PAGE = 50
LINK_STATUSES = ("synced", "pending", "failed", "skipped")


def optional(name: str) -> ModuleType | None:
    """A part of the plugin that may not be there yet (pages for it are left out)."""
    try:
        return importlib.import_module(f"plugins.woocommerce.{name}")
    except ImportError:
        return None


def has_inventory() -> bool:
    return optional("inventory") is not None and optional("drift") is not None


def admin_pages() -> list[AdminPage]:
    pages = [
        AdminPage(SECTION, GROUP, "Health Monitor", f"{BASE}/health", order=10),
        AdminPage(SECTION, GROUP, "Product Sync", f"{BASE}/products", order=20),
        AdminPage(SECTION, GROUP, "Settings", f"{BASE}/settings", order=60),
    ]
    if has_inventory():
        pages += [
            AdminPage(SECTION, GROUP, "Inventory Sync", f"{BASE}/inventory", order=30),
            AdminPage(SECTION, GROUP, "Change Log", f"{BASE}/changes", order=40),
        ]
    if optional("duplicates") is not None:
        pages.append(AdminPage(SECTION, GROUP, "Duplicates", f"{BASE}/duplicates", order=50))
    return pages


@hookimpl
def hub_register_admin_pages(hub: Hub) -> list[AdminPage]:
    """Integrations > WooCommerce in the admin menu (imported into the plugin module)."""
    return admin_pages()


def who(request: Request) -> str:
    user = principal(request)
    return user.name if user else "admin"


def page_number(request: Request) -> int:
    try:
        return min(max(1, int(request.query_params.get("page", "1"))), MAX_PAGE)
    except ValueError:
        return 1


def back(path: str) -> Response:
    return RedirectResponse(path, status_code=303)


# --- data --------------------------------------------------------------------------------


def health_data(hub: Hub) -> dict[str, Any]:
    summary = health_summary(hub)
    settings = settings_of(hub)
    inventory, drift = optional("inventory"), optional("drift")
    sync_job, edit_job = sync_products.latest_syncs(hub)
    return {
        "summary": summary,
        "job": sync_job,
        "edit_job": edit_job,
        "inventory": inventory.inventory_summary(hub) if inventory else None,
        "drift": drift.drift_summary(hub) if drift else None,
        "auto_correct": inventory.auto_correct_on(hub, settings) if inventory else None,
        "webhooks": (summary.get("orders") or {}).get("webhooks") or {},
        "events": recent_events(hub, 50),
    }


def product_rows(
    hub: Hub, status: str | None, sku: str | None, page: int
) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
    """One page of per-product sync states (the products' listings on the store), by SKU."""
    rows, total = product_states(hub, status or None, sku, (page - 1) * PER_PAGE, PER_PAGE)
    return rows, total, state_counts(hub)


def mark_retry(hub: Hub, skus: list[str]) -> int:
    """Mark products (every failed one when ``skus`` is empty) pending and push them now."""
    with hub.session() as s:
        wanted = skus or failed_skus(hub, s)
        rows = s.exec(select(ProductLink).where(col(ProductLink.sku).in_(wanted))).all()
        listed = hub.channels.listings(CHANNEL, skus=[r.sku for r in rows], session=s)
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
    if rows:
        # An incremental push without a store read: the retried products go out at once.
        sync_products.request_sync(hub, full=False, trigger="retry", read_store=False)
    return len(rows)


def save_connection(hub: Hub, values: dict[str, str]) -> dict[str, Any]:
    """Save through the plugin's own settings code; empty key or secret fields keep the saved
    values (the form never shows them)."""
    from plugins.woocommerce.connection import SettingsIn, save_settings

    given = {k: v for k, v in values.items() if v or k == "store_url"}
    return save_settings(hub, SettingsIn.model_validate(given))


async def test_connection(hub: Hub) -> dict[str, Any]:
    from plugins.woocommerce.connection import run_test
    from plugins.woocommerce.tiers import count_tiered_products

    settings = await run_in_threadpool(settings_of, hub)
    tiered = await run_in_threadpool(count_tiered_products, hub)
    # In a task of its own, so the client's connections close in the context that opened them.
    return await asyncio.create_task(run_test(settings, tiered))


# --- routes ------------------------------------------------------------------------------


def routes(hub: Hub) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        data = await run_in_threadpool(health_data, hub)
        return render(request, "woocommerce/health.html", {"title": "Health Monitor", **data})

    async def products(request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status not in (None, *LINK_STATUSES):
            status = None
        sku = (request.query_params.get("sku") or "").strip() or None
        page = page_number(request)
        rows, total, counts = await run_in_threadpool(product_rows, hub, status, sku, page)
        preview = None
        preview_id = request.query_params.get("preview")
        if preview_id and preview_id.isdigit() and int(preview_id[:11]) <= INT_MAX:
            preview = await run_in_threadpool(hub.jobs.get, int(preview_id))
            if preview is not None and preview.kind != sync_products.DRY_KIND:
                preview = None
        job = await run_in_threadpool(hub.jobs.latest, sync_products.KIND)
        return render(
            request,
            "woocommerce/products.html",
            {
                "title": "Product Sync",
                "rows": rows,
                "total": total,
                "counts": counts,
                "statuses": LINK_STATUSES,
                "status": status or "",
                "sku": sku or "",
                "page": page,
                "pages": max(1, -(-total // PER_PAGE)),
                "job": job,
                "preview": preview,
                "base": BASE,
            },
        )

    async def sync_now(request: Request) -> Response:
        """Sync Now: a new sync job that replaces a running or stuck one."""
        form = await request.form()
        full = form.get("full") == "1"
        job, _ = await run_in_threadpool(
            lambda: sync_products.request_sync(
                hub, full=full, dry_run=False, trigger=f"sync now ({who(request)})", supersede=True
            )
        )
        flash(request, f"Sync job #{job.id} queued; it replaces any running or stuck sync.")
        target = form.get("back")
        return back(target if target == f"{BASE}/health" else f"{BASE}/products")

    async def preview(request: Request) -> Response:
        """Dry run: plan a sync and show it without changing anything."""
        form = await request.form()
        full = form.get("full") == "1"
        job, _ = await run_in_threadpool(
            lambda: sync_products.request_sync(
                hub, full=full, dry_run=True, trigger=f"preview ({who(request)})", supersede=True
            )
        )
        return back(f"{BASE}/products?preview={job.id}")

    async def retry(request: Request) -> Response:
        form = await request.form()
        sku = str(form.get("sku") or "").strip()
        count = await run_in_threadpool(mark_retry, hub, [sku] if sku else [])
        if count:
            flash(request, f"Retrying {count} product{'s' if count != 1 else ''}.")
        else:
            flash(request, "Nothing to retry.", "warn")
        return back(f"{BASE}/products?status=failed" if not sku else f"{BASE}/products?sku={sku}")

    async def settings_page(request: Request) -> Response:
        return await show_settings(request, None)

    async def show_settings(
        request: Request, result: dict[str, Any] | None, status_code: int = 200
    ) -> Response:
        settings = await run_in_threadpool(settings_of, hub)
        return render(
            request,
            "woocommerce/settings.html",
            {
                "title": "Settings",
                "settings": settings,
                "key_mask": mask(settings.consumer_key),
                "secret_mask": mask(settings.consumer_secret),
                "result": result,
                "plugin_status": hub.status,
                "base": BASE,
            },
            status_code,
        )

    @require_role("admin")
    async def settings_save(request: Request) -> Response:
        form = await request.form()
        values = {
            "store_url": str(form.get("store_url", "")).strip(),
            "consumer_key": str(form.get("consumer_key", "")).strip(),
            "consumer_secret": str(form.get("consumer_secret", "")).strip(),
            "auth": str(form.get("auth", "auto")),
        }
        try:
            await run_in_threadpool(save_connection, hub, values)
        except JSONError as exc:
            flash(request, f"Not saved: {exc.message}", "error")
            return back(f"{BASE}/settings")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            flash(request, f"Not saved: {problems}", "error")
            return back(f"{BASE}/settings")
        flash(request, "Settings saved. Use Test Connection to check them.")
        return back(f"{BASE}/settings")

    async def settings_test(request: Request) -> Response:
        return await show_settings(request, await test_connection(hub))

    return [
        Route(f"{BASE}/health", health, methods=["GET"]),
        Route(f"{BASE}/products", products, methods=["GET"]),
        Route(f"{BASE}/products/sync", sync_now, methods=["POST"]),
        Route(f"{BASE}/products/preview", preview, methods=["POST"]),
        Route(f"{BASE}/products/retry", retry, methods=["POST"]),
        Route(f"{BASE}/settings", settings_page, methods=["GET"]),
        Route(f"{BASE}/settings", settings_save, methods=["POST"]),
        Route(f"{BASE}/settings/test", settings_test, methods=["POST"]),
        *(inventory_routes(hub) if has_inventory() else []),
        *(duplicates_routes(hub) if optional("duplicates") is not None else []),
    ]


# --- inventory and change detection ------------------------------------------------------


def change_rows(
    hub: Hub, only_unexplained: bool, sku: str | None, page: int
) -> tuple[list[Any], int]:
    from plugins.woocommerce.tables import ChangeLogEntry

    with hub.session() as s:
        query = select(ChangeLogEntry)
        if sku:
            query = query.where(ChangeLogEntry.sku == sku)
        if only_unexplained:
            query = query.where(col(ChangeLogEntry.explained).is_(False))
        total = s.exec(select(func.count()).select_from(query.subquery())).one()
        rows = s.exec(
            query.order_by(col(ChangeLogEntry.id).desc())
            .offset((page - 1) * PER_PAGE)
            .limit(PER_PAGE)
        ).all()
    return list(rows), int(total)


def inventory_routes(hub: Hub) -> list[BaseRoute]:
    from plugins.woocommerce import drift, inventory

    async def inventory_page(request: Request) -> Response:
        def load() -> dict[str, Any]:
            settings = settings_of(hub)
            return {
                "summary": inventory.inventory_summary(hub),
                "held": inventory.held_list(hub, 200),
                "auto_correct": inventory.auto_correct_on(hub, settings),
                "job": hub.jobs.latest(inventory.KIND),
            }

        data = await run_in_threadpool(load)
        return render(
            request,
            "woocommerce/inventory.html",
            {"title": "Inventory Sync", "base": BASE, **data},
        )

    async def push(request: Request) -> Response:
        """Push Inventory: send the POS stock levels to the store now."""
        form = await request.form()
        full = form.get("full", "1") == "1"
        job, _ = await run_in_threadpool(
            lambda: inventory.request_push(
                hub, full=full, trigger=f"push inventory ({who(request)})", supersede=True
            )
        )
        flash(request, f"Inventory push #{job.id} queued.")
        return back(f"{BASE}/inventory")

    @require_role("admin")
    async def confirm(request: Request) -> Response:
        form = await request.form()
        sku = str(form.get("sku") or "").strip()
        skus, _ = await run_in_threadpool(
            inventory.confirm_held, hub, [sku] if sku else [], who(request)
        )
        flash(request, f"Confirmed {len(skus)} held write(s); they are pushed now.")
        return back(f"{BASE}/inventory")

    async def changes(request: Request) -> Response:
        only_unexplained = request.query_params.get("unexplained") == "1"
        sku = (request.query_params.get("sku") or "").strip() or None
        page = page_number(request)

        def load() -> dict[str, Any]:
            rows, total = change_rows(hub, only_unexplained, sku, page)
            settings = settings_of(hub)
            return {
                "rows": rows,
                "total": total,
                "drift": drift.drift_summary(hub),
                "auto_correct": inventory.auto_correct_on(hub, settings),
                "job": hub.jobs.latest(drift.KIND),
            }

        data = await run_in_threadpool(load)
        return render(
            request,
            "woocommerce/changes.html",
            {
                "title": "Change Log",
                "base": BASE,
                "unexplained": only_unexplained,
                "sku": sku or "",
                "page": page,
                "pages": max(1, -(-data["total"] // PER_PAGE)),
                **data,
            },
        )

    async def scan(request: Request) -> Response:
        job, _ = await run_in_threadpool(
            drift.request_scan, hub, f"scan now ({who(request)})", True
        )
        flash(request, f"Change detection scan #{job.id} queued.")
        return back(f"{BASE}/changes")

    @require_role("admin")
    async def auto_correct(request: Request) -> Response:
        form = await request.form()
        enabled = form.get("enabled") == "1"
        await run_in_threadpool(set_state, hub, "inventory.auto_correct", enabled)
        flash(request, f"Auto-correction {'enabled' if enabled else 'disabled'}.")
        target = str(form.get("back") or "")
        return back(target if target.startswith(BASE) else f"{BASE}/health")

    return [
        Route(f"{BASE}/inventory", inventory_page, methods=["GET"]),
        Route(f"{BASE}/inventory/push", push, methods=["POST"]),
        Route(f"{BASE}/inventory/confirm", confirm, methods=["POST"]),
        Route(f"{BASE}/changes", changes, methods=["GET"]),
        Route(f"{BASE}/changes/scan", scan, methods=["POST"]),
        Route(f"{BASE}/auto-correct", auto_correct, methods=["POST"]),
    ]


# --- duplicates --------------------------------------------------------------------------


def duplicates_routes(hub: Hub) -> list[BaseRoute]:
    from plugins.woocommerce import duplicates
    from plugins.woocommerce.client_errors import StoreError

    async def report_page(request: Request) -> Response:
        report, problem = None, ""
        # The report reads the whole store, so it runs when asked for, not on every visit.
        if request.query_params.get("run") == "1":
            try:
                report = await asyncio.create_task(duplicates.duplicates_report(hub))
            except duplicates.NotConfigured as exc:
                problem = f"Not run: {exc}"
            except StoreError as exc:
                problem = f"The store could not be read: {exc}"
        last = await run_in_threadpool(get_state, hub, "duplicates.last_report")
        return render(
            request,
            "woocommerce/duplicates.html",
            {
                "title": "Duplicates",
                "base": BASE,
                "report": report,
                "last": last,
                "problem": problem,
            },
        )

    @require_role("admin")
    async def merge(request: Request) -> Response:
        form = await request.form()
        try:
            keep = int(str(form.get("keep") or "0"))
            drop = [int(str(v)) for v in form.getlist("drop") if str(v) != str(keep)]
        except ValueError:
            keep, drop = 0, []
        if not 0 < keep <= INT_MAX or not drop or not all(0 < d <= INT_MAX for d in drop):
            flash(request, "Choose the product to keep and at least one to draft.", "error")
            return back(f"{BASE}/duplicates?run=1")
        try:
            result = await asyncio.create_task(duplicates.merge(hub, keep, drop))
        except duplicates.MergeError as exc:
            flash(request, f"Not merged: {exc.message}", "error")
        except duplicates.NotConfigured as exc:
            flash(request, f"Not merged: {exc}", "error")
        except StoreError as exc:
            flash(request, f"Not merged: the store refused: {exc}", "error")
        else:
            flash(
                request,
                f"Kept store product #{result['kept']}"
                + (f" for {result['sku']}" if result.get("sku") else "")
                + f"; drafted {', '.join('#' + str(d) for d in result['drafted'])}.",
            )
        return back(f"{BASE}/duplicates?run=1")

    return [
        Route(f"{BASE}/duplicates", report_page, methods=["GET"]),
        Route(f"{BASE}/duplicates/merge", merge, methods=["POST"]),
    ]
