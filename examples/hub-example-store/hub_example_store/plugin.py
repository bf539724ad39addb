"""Example Store: a second online-store channel, built on the hub's public surface alone.

What the hub's core does for it: the shop's data and its writes (``hub.pos``), the listings
(``hub.channels``: wanted, the store's id, last status and message), resumable jobs
(``ChunkedJob``), the webhook inbox and its signature check (``hub.inbox``,
``verify_signature``) and exactly-once order import (``pos.import_orders``). What is left here
is only what is particular to this store: its client (``client.py``) and the mapping between
the POS's products and orders and the store's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field, SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from hub import api
from hub_example_store.client import StoreClient, StoreError

CHANNEL = "example_store"
PUSH_KIND = "example_store.catalogue"
WEBHOOK_PATH = "/webhooks/example-store"


class StoreSettings(api.Strict):
    """``[plugins.example_store]`` in the hub's config."""

    store_url: str = Field(pattern=r"^https?://[^\s/]+")
    token: SecretStr
    webhook_secret: SecretStr
    batch_size: int = Field(default=50, ge=1, le=100)  # the store takes at most 100 a batch
    chunk_seconds: float = Field(default=10, ge=1, le=300)
    timeout_seconds: float = Field(default=20, gt=0, le=120)
    poll_every_seconds: float = Field(default=300, ge=1)
    poll_lookback_hours: float = Field(default=24, gt=0, le=24 * 30)
    restock_statuses: list[str] = ["cancelled", "refunded"]


@api.hookimpl
def hub_config_model() -> type[StoreSettings]:
    return StoreSettings


@api.hookimpl
def hub_register_channels() -> list[api.Channel]:
    return [api.Channel(name=CHANNEL, label="Example Store")]


def store(hub: api.Hub) -> StoreClient:
    s: StoreSettings = hub.settings
    return StoreClient(s.store_url, s.token.get_secret_value(), s.timeout_seconds)


# --- catalogue push: the core's resumable job; this store's part is one batch write -----


async def send(hub: api.Hub, items: Sequence[api.CatalogueItem]) -> list[api.Outcome]:
    """Create or update by SKU (so a batch re-sent after a takeover never duplicates)."""
    products = [
        {"sku": p.sku, "name": p.name, "price": str(p.price), "stock": p.on_hand} for p in items
    ]
    async with store(hub) as client:
        results = await client.upsert(products)
    return [
        api.Outcome(r["sku"], "failed", r["error"])
        if "error" in r
        else api.Outcome(r["sku"], "synced", external_id=r["id"])
        for r in results
    ]


def store_error(hub: api.Hub, exc: Exception) -> Exception | None:
    """A store that is down or busy pauses the job; a refused token fails it."""
    if isinstance(exc, StoreError):
        return api.Pause(str(exc)) if exc.retry else api.JobFailed(str(exc))
    return None


PUSH = api.CataloguePush(
    channel=CHANNEL,
    kind=PUSH_KIND,
    task="catalogue_chunk",
    label="Example Store catalogue push",
    send=send,
    batch_size=lambda hub: hub.settings.batch_size,
    chunk_seconds=lambda hub: hub.settings.chunk_seconds,
    on_error=store_error,
)


def request_push(hub: api.Hub, *, trigger: str, full: bool, dry_run: bool, supersede: bool) -> Any:
    return api.request_catalogue_push(hub, PUSH, trigger=trigger, full=full, supersede=supersede)


@api.hookimpl
def hub_register_syncs(hub: api.Hub) -> list[api.SyncKind]:
    return [
        api.SyncKind(
            word="catalogue",
            label="Push catalogue to Example Store",
            ledger_kind=PUSH_KIND,
            request=request_push,
            description="Send the store the products changed since the last push (--full: all).",
            full=True,
        )
    ]


# --- stock: pushed when it changes ------------------------------------------------------


@api.hookimpl
def inventory_stock_changed(hub: api.Hub, changes: list[api.StockChange]) -> None:
    hub.enqueue("push_stock", sorted({c.sku for c in changes}))


def push_stock(hub: api.Hub, skus: list[str]) -> None:
    """Send the current stock of the listed products the store has (a retry sends the
    then-current count, so a late retry never undoes a newer sale)."""
    listed = [sku for sku, x in hub.channels.listings(CHANNEL, skus=skus).items() if x.external_id]
    levels = {sku: p["stock"] for sku, p in hub.pos.get_products(listed).items()}
    if not levels:
        return

    async def send() -> None:
        async with store(hub) as client:
            await client.set_stock(levels)

    try:
        asyncio.run(send())
    except StoreError as exc:
        if not exc.retry:
            raise
        hub.logger.warning(
            "stock for %d products not sent (%s); retrying in 30 s", len(levels), exc
        )
        hub.enqueue("push_stock", skus, delay=30)


# --- orders: signed webhooks into the core's inbox, and a polling fallback ----------------


def to_order(data: dict[str, Any]) -> api.ChannelOrder:
    """The store's order JSON as the POS imports it (this store has no tax)."""
    lines = tuple(
        api.ChannelOrderLine(
            sku=line.get("sku"),
            name=str(line.get("name") or line.get("sku") or "?"),
            quantity=int(line["quantity"]),
            unit_price=Decimal(str(line["unit_price"])),
        )
        for line in data["lines"]
    )
    total = Decimal(str(data["total"]))
    return api.ChannelOrder(
        external_id=str(data["id"]),
        number=f"EX-{data['number']}",
        status=str(data["status"]),
        modified_at=datetime.fromisoformat(data["updated_at"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        lines=lines,
        subtotal=total,
        tax=Decimal(0),
        total=total,
        customer=data.get("customer"),
    )


def import_orders(hub: api.Hub, raw: Sequence[dict[str, Any]], authoritative: bool) -> list[str]:
    """Import orders exactly once (the core keys them by the store's id); returns, per
    order, what happened. A new order is imported only once it is paid."""
    orders, outcomes = [], []
    for data in raw:
        try:
            orders.append(to_order(data))
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            outcomes.append(f"failed: unreadable order {data.get('id')!r}: {exc!r}")
    results = hub.pos.import_orders(
        CHANNEL,
        orders,
        restock_statuses=hub.settings.restock_statuses,
        create_statuses=["paid"],
        authoritative=authoritative,
    )
    for r in results:
        if r.unmatched:
            hub.logger.warning("order %s: no product for SKU %s", r.external_id, r.unmatched)
        outcomes.append(f"failed: {r.error}" if r.outcome == "failed" else r.outcome)
    return outcomes


def handle_deliveries(hub: api.Hub, items: Sequence[api.InboxItem]) -> list[api.InboxResult]:
    outcomes = import_orders(hub, [item.payload for item in items], authoritative=False)
    return [
        api.InboxResult("failed", o.removeprefix("failed: "))
        if o.startswith("failed")
        else api.InboxResult(o)
        for o in outcomes
    ]


def poll_orders(hub: api.Hub) -> dict[str, int]:
    """Import what the store changed in the look-back window: catches any webhook that never
    came. Re-reading an order already imported changes nothing."""
    since = (datetime.now(UTC) - timedelta(hours=hub.settings.poll_lookback_hours)).isoformat()

    async def fetch() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        async with store(hub) as client:
            after = since
            while page := await client.orders_since(after):
                found += page
                if len(page) < 100:
                    break
                after = page[-1]["updated_at"]
        return found

    counts: dict[str, int] = {}
    for outcome in import_orders(hub, asyncio.run(fetch()), authoritative=True):
        counts[outcome.split(":")[0]] = counts.get(outcome.split(":")[0], 0) + 1
    return counts


@api.hookimpl
def hub_register_tasks(hub: api.Hub, tasks: api.TaskRegistry) -> None:
    api.register_chunked_job(tasks, api.catalogue_push_job(PUSH), PUSH.task)
    tasks.task("push_stock", push_stock, priority=api.Priority.INVENTORY)
    tasks.inbox(CHANNEL, handle_deliveries)
    tasks.task("poll_orders", poll_orders, priority=api.Priority.ORDER_IMPORT)
    tasks.periodic("poll_orders_every", poll_orders, every=hub.settings.poll_every_seconds)


# --- web: the webhook receiver, the admin page --------------------------------------------


@api.hookimpl
def hub_register_routes(hub: api.Hub) -> list[BaseRoute]:
    async def receive(request: Request) -> Response:
        """A signed delivery from the store: stored once in the inbox, then answered."""
        body = await api.read_body(request, 1_000_000)
        signed = request.headers.get("x-store-signature", "")
        if not api.verify_signature(
            hub.settings.webhook_secret.get_secret_value(), body, signed, "hex"
        ):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            event = json.loads(body)
            order = event["order"]
            key = f"{order['id']}@{order['updated_at']}"
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "body is not an order event"}, status_code=400)
        stored = await hub.inbox(CHANNEL).receive(api.Delivery(key, str(event.get("event")), order))
        return JSONResponse({"stored": stored})

    @api.requires("staff")
    async def page(request: Request) -> Response:
        job = hub.jobs.latest(PUSH_KIND)
        try:
            async with store(hub) as client:
                await client.ping()
            connection = "connected"
        except StoreError as exc:
            connection = f"not connected: {exc}"
        context = {
            "store_url": hub.settings.store_url,
            "connection": connection,
            "job": job,
            "orders": hub.pos.channel_order_count(CHANNEL),
            "listings": hub.channels.counts(CHANNEL),
            "failed": hub.channels.find(CHANNEL, status="failed", limit=50)[0],
        }
        return api.render(request, f"{hub.plugin}/store.html", context)

    return [
        Route(WEBHOOK_PATH, receive, methods=["POST"]),
        Route("/admin/integrations/example-store", page),
    ]


@api.hookimpl
def hub_register_admin_pages() -> list[api.AdminPage]:
    return [
        api.AdminPage(
            "Integrations", "Example Store", "Status", "/admin/integrations/example-store"
        )
    ]


@api.hookimpl
def hub_register_health_checks(hub: api.Hub) -> list[api.HealthCheck]:
    def reachable() -> api.CheckResult:
        try:
            asyncio.run(_ping(hub))
        except StoreError as exc:
            return api.CheckResult("example_store", False, str(exc))
        failed = hub.channels.counts(CHANNEL).get("failed", 0)
        return api.CheckResult("example_store", True, f"store reachable; {failed} products refused")

    return [reachable]


async def _ping(hub: api.Hub) -> None:
    async with store(hub) as client:
        await client.ping()
