"""The WooCommerce plugin's hook implementations."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute

from hub.api import (
    Channel,
    CheckResult,
    HealthCheck,
    Hub,
    JobRecord,
    PluginNotConfigured,
    Priority,
    StockChange,
    SyncKind,
    TaskRegistry,
    hookimpl,
    mask,
)
from plugins.woocommerce import (
    api,
    connection,
    drift,
    duplicates,
    inventory,
    order_inbox,
    orders,
    sync_products,
    webhooks,
)
from plugins.woocommerce.admin import hub_register_admin_pages  # noqa: F401  (a hookimpl)
from plugins.woocommerce.admin import routes as admin_routes
from plugins.woocommerce.campaigns import freebies_publish_campaigns  # noqa: F401  (a hookimpl)
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.store import get_state, settings_of
from plugins.woocommerce.tables import CHANNEL


@hookimpl
def hub_config_model() -> type[WooCommerceSettings]:
    return WooCommerceSettings


@hookimpl
def hub_register_channels() -> list[Channel]:
    return [Channel(CHANNEL, "WooCommerce")]


@hookimpl
def hub_register_migrations() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def hub_startup(hub: Hub) -> None:
    settings = settings_of(hub)
    if not settings.configured:
        raise PluginNotConfigured("set the store URL, consumer key and consumer secret")
    if settings.webhooks_wanted:
        # Registering calls the store (and the store pings us): a task, so start-up stays quick.
        hub.enqueue(webhooks.CHECK_TASK, priority=Priority.ORDER_IMPORT)


@hookimpl
def hub_register_tasks(hub: Hub, tasks: TaskRegistry) -> None:
    settings: WooCommerceSettings = hub.settings
    tasks.task(
        sync_products.CHUNK_TASK, sync_products.sync_products_chunk, priority=Priority.CATALOGUE
    )
    tasks.task(
        "sync_products_edits", sync_products.sync_products_edits, priority=Priority.CATALOGUE
    )
    tasks.periodic(
        "sync_products_periodic",
        sync_products.sync_products_periodic,
        every=settings.sync_interval_seconds,
        priority=Priority.CATALOGUE,
    )
    # Order import: webhook inbox drain, poll jobs, the periodic poll, webhook upkeep.
    tasks.inbox(orders.CHANNEL, order_inbox.handle_deliveries, priority=Priority.ORDER_IMPORT)
    tasks.task(orders.IMPORT_TASK, orders.import_orders_task, priority=Priority.ORDER_IMPORT)
    tasks.periodic(
        orders.POLL_TASK,
        orders.poll_orders_periodic,
        every=settings.order_poll_interval_seconds,
        priority=Priority.ORDER_IMPORT,
    )
    tasks.periodic(
        webhooks.CHECK_TASK,
        webhooks.check_webhooks,
        every=settings.webhook_check_interval_seconds,
        priority=Priority.ORDER_IMPORT,
    )
    # Inventory push (debounced on POS stock changes, on request, periodic full push) and
    # change detection.
    tasks.task(inventory.CHUNK_TASK, inventory.inventory_push_chunk, priority=Priority.INVENTORY)
    tasks.task(
        inventory.CHANGES_TASK, inventory.inventory_push_changes, priority=Priority.INVENTORY
    )
    tasks.periodic(
        "inventory_push_periodic",
        inventory.inventory_push_periodic,
        every=settings.inventory_push_interval_seconds,
        priority=Priority.INVENTORY,
    )
    tasks.task(drift.SCAN_TASK, drift.drift_scan_task, priority=Priority.INVENTORY)
    tasks.periodic(
        "drift_scan_periodic",
        drift.drift_scan_periodic,
        every=settings.drift_scan_interval_seconds,
        priority=Priority.INVENTORY,
    )


@hookimpl
def hub_register_routes(hub: Hub) -> list[BaseRoute]:
    return [
        *connection.routes(hub),
        *api.routes(hub),
        *webhooks.routes(hub),
        *inventory_routes(hub),
        *admin_routes(hub),
    ]


def inventory_routes(hub: Hub) -> list[BaseRoute]:
    from plugins.woocommerce import inventory_api

    return [*inventory_api.routes(hub), *duplicates.routes(hub)]


# --- Sync Now (hub sync, the admin's Jobs page, POST /api/syncs/woocommerce/<word>) ----------


def request_product_sync(
    hub: Hub, *, trigger: str, full: bool, dry_run: bool, supersede: bool
) -> JobRecord:
    job, _ = sync_products.request_sync(
        hub, full=full, dry_run=dry_run, trigger=trigger, supersede=supersede
    )
    return job


def request_inventory_push(
    hub: Hub, *, trigger: str, full: bool, dry_run: bool, supersede: bool
) -> JobRecord:
    job, _ = inventory.request_push(hub, full=full, trigger=trigger, supersede=supersede)
    return job


def request_order_import(
    hub: Hub, *, trigger: str, full: bool, dry_run: bool, supersede: bool
) -> JobRecord:
    job, _ = orders.request_import(hub, trigger, supersede=supersede)
    return job


@hookimpl
def hub_register_syncs(hub: Hub) -> list[SyncKind]:
    return [
        SyncKind(
            "products",
            "Sync products",
            sync_products.KIND,
            request_product_sync,
            description="Reconcile the store's catalogue with the POS (full: compare every "
            "product; dry run: plan only, change nothing).",
            full=True,
            dry_run=True,
        ),
        SyncKind(
            "inventory",
            "Push inventory",
            inventory.KIND,
            request_inventory_push,
            description="Write the POS stock levels to the store (full: every linked product, "
            "not only those that changed).",
            full=True,
        ),
        SyncKind(
            "orders",
            "Import orders",
            orders.KIND,
            request_order_import,
            description="Read the orders changed in the store since the last poll and import them.",
        ),
    ]


@hookimpl
def inventory_stock_changed(hub: Hub, changes: list[StockChange]) -> None:
    # Counts and sales confirm a level for the guard; the push itself is debounced.
    inventory.record_confirmations(hub, changes)
    if settings_of(hub).configured:
        inventory.schedule_stock_push(hub)


@hookimpl
def catalogue_products_changed(hub: Hub, skus: list[str], source: str) -> None:
    if source == "woocommerce":
        return  # the echo of our own import
    sync_products.schedule_edit_push(hub)


@hookimpl
def hub_register_health_checks(hub: Hub) -> list[HealthCheck]:
    def connection_settings() -> CheckResult:
        settings = settings_of(hub)
        if not settings.configured:
            return CheckResult("settings", False, "not configured: store URL and API keys needed")
        return CheckResult("settings", True, f"store {settings.store_url}")

    def catalogue() -> CheckResult:
        last = hub.jobs.latest(sync_products.KIND)
        success = get_state(hub, "products.last_success")
        if last is None:
            return CheckResult("catalogue sync", True, "no sync has run yet")
        ok = last.status in ("succeeded", "running", "queued")
        detail = f"last job #{last.id} {last.status}; last success {success or 'never'}"
        return CheckResult("catalogue sync", ok, detail, {"job": last.id, "failed": last.failed})

    def order_import() -> CheckResult:
        summary = orders.orders_summary(hub)
        hooks = summary.get("webhooks") or {}
        last = summary.get("last_job") or {}
        ok = last.get("status") != "failed" and hooks.get("ok", True) is not False
        parts = [f"{summary['imported']} orders imported", f"{summary['inbox_pending']} queued"]
        if last:
            parts.append(f"last poll job #{last['id']} {last['status']}")
        if hooks.get("last_reenabled"):
            parts.append(f"webhooks re-enabled at {hooks['last_reenabled']['at']}")
        if hooks.get("error"):
            parts.append(f"webhook check failed: {hooks['error']}")
        refused = webhooks.REJECTIONS.summary()
        summary["webhook_rejections"] = refused
        if refused["total"]:
            parts.append(f"{refused['total']} webhook deliveries refused (last {refused['code']})")
        return CheckResult("order import", ok, "; ".join(parts), summary)

    return [connection_settings, catalogue, order_import]


@hookimpl
def hub_diagnostics(hub: Hub) -> dict[str, object]:
    settings = settings_of(hub)
    return {
        "store_url": settings.store_url,
        "consumer_key": mask(settings.consumer_key),
        "consumer_secret": mask(settings.consumer_secret),
        "auth": settings.auth,
        "last_success": get_state(hub, "products.last_success"),
    }
