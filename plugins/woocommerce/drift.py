"""Change detection: a periodic scan compares the store's stock and prices with the POS.

The scan reads every store product trimmed to the few fields it compares (``_fields``), so a
10,000-product store costs 100 small pages. A store value that differs from what the hub last
wrote goes into the change-detection log (``wc_change_log``) with what the POS expects and
whether an imported online order explains it. Pending orders are imported first, so a sale is
recognised as a sale rather than as drift. With auto-correction on, unexplained differences are
put right by batch: stock through the same guard as the inventory push (a zero or a large drop
that the POS has not confirmed is held, not written), prices by setting ``regular_price`` to the
POS price converted for the store (tax-inclusive stores get tax added).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.api import ChunkLease, Hub, Lease, Priority, catalogue_tables, utcnow
from plugins.woocommerce.client import MAX_BATCH, WooClient, is_item_error
from plugins.woocommerce.client_errors import AuthError, StoreError
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.inventory import (
    InventoryPush,
    auto_correct_on,
    guard_reason,
)
from plugins.woocommerce.pricing import StorePricing
from plugins.woocommerce.store import (
    EventLog,
    add_request_counts,
    get_state,
    make_client,
    read_pricing,
    record_corrections,
    record_event,
    set_state,
)
from plugins.woocommerce.tables import (
    SYNCED,
    ChangeLogEntry,
    HeldStock,
    ProductLink,
    StockConfirmation,
    listed_on_channel,
    listing_table,
    store_id_of,
)

KIND = "woocommerce.drift_scan"
SCAN_TASK = "drift_scan"
SCAN_FIELDS = "id,sku,type,status,manage_stock,stock_quantity,regular_price,date_modified_gmt"


def request_scan(hub: Hub, trigger: str = "schedule", supersede: bool = False) -> tuple[Any, bool]:
    # The ledger keeps the task: a scan whose worker died is run again from the start once
    # its lease runs out (a scan reads the store afresh, so running it twice is harmless).
    job, created = hub.jobs.request(
        KIND,
        trigger=trigger,
        supersede=supersede,
        task=hub.task_name(SCAN_TASK),
        priority=Priority.INVENTORY,
    )
    if created:
        hub.enqueue(SCAN_TASK, job.id, priority=Priority.INVENTORY)
    return job, created


def drift_scan_periodic(hub: Hub) -> None:
    """Task: the scheduled scan."""
    from plugins.woocommerce.store import settings_of

    if settings_of(hub).configured:
        request_scan(hub, "schedule")


def drift_scan_task(hub: Hub, job_id: int, generation: int | None = None) -> None:
    """Task: run one scan job (a scan is short: one task), or take over one whose worker
    died (``generation`` is the core's takeover call; the claim decides either way)."""

    lease = hub.jobs.claim(job_id)
    if not isinstance(lease, Lease):
        return
    with ChunkLease(hub, lease):  # renewed while the scan waits on a slow store
        scan_now(hub, job_id)


def scan_now(hub: Hub, job_id: int) -> None:
    from plugins.woocommerce.store import settings_of

    settings = settings_of(hub)
    if not settings.configured:
        hub.jobs.finish(job_id, "failed", {"reason": "not configured"})
        return
    events = EventLog()
    scan = DriftScan(hub, settings, job_id, events)
    try:
        asyncio.run(scan.run())
    except AuthError as exc:
        events.flush(hub)
        hub.report_state("auth_failed", f"the store refused the API key: {exc}")
        hub.jobs.add_errors(job_id, [*scan.errors, (None, f"authentication failed: {exc}")])
        hub.jobs.finish(job_id, "failed", scan.result())
        return
    except StoreError as exc:
        # The next scheduled scan tries again; nothing here needs resuming.
        events.flush(hub)
        record_event(hub, "scan_failed", f"change detection: {exc}")
        hub.jobs.add_errors(job_id, [*scan.errors, (None, f"{type(exc).__name__}: {exc}")])
        hub.jobs.finish(job_id, "failed", scan.result())
        return
    events.flush(hub)
    hub.jobs.add_errors(job_id, scan.errors)
    result = scan.result()
    hub.jobs.finish(job_id, "succeeded", result)
    set_state(hub, "drift.last_success", utcnow().isoformat())
    set_state(hub, "drift.last_result", {"job": job_id, **result})


@dataclass
class Seen:
    """A linked product as the scan sees it."""

    sku: str
    store_id: int
    store_stock: int | None
    store_price: str
    pushed: int | None
    link_status: str
    manage_stock: bool
    on_hand: int
    wanted: int
    price: Any


class DriftScan:
    def __init__(
        self, hub: Hub, settings: WooCommerceSettings, job_id: int, events: EventLog
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.job_id = job_id
        self.events = events
        self.counts: dict[str, int] = {}
        self.errors: list[tuple[str | None, str]] = []
        self.auto_correct = auto_correct_on(hub, settings)
        self.client: WooClient | None = None
        self.order_requests: list[dict[str, int]] = []

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def result(self) -> dict[str, Any]:
        current = self.client.stats.as_dict() if self.client is not None else None
        return {
            "counts": dict(self.counts),
            "auto_correct": self.auto_correct,
            "client": add_request_counts(current, *self.order_requests),
        }

    async def run(self) -> None:
        async with make_client(self.settings, self.events) as client:
            self.client = client
            listed, pricing = await asyncio.gather(self.list_store(), self.pricing())
            self.hub.jobs.heartbeat(self.job_id, phase="comparing", total=len(listed))
            seen = self.load(listed)
            stock_drift = [
                x
                for x in seen
                if x.manage_stock
                and x.pushed is not None
                and x.store_stock is not None
                and x.store_stock != x.pushed
            ]
            if stock_drift:
                # Sales first: an imported order turns "drift" into an explained change.
                await self.import_orders()
                seen = self.load(listed)
                drifted = {x.sku for x in stock_drift}
                stock_drift = [x for x in seen if x.sku in drifted]
            price_drift = [
                x
                for x in seen
                if "price" not in self.settings.store_authority
                and x.link_status == SYNCED
                and x.store_price != pricing.to_store(x.price)
            ]
            self.count("scanned", len(listed))
            self.count("stock_drift", len(stock_drift))
            self.count("price_drift", len(price_drift))
            await self.handle_stock(stock_drift)
            await self.handle_prices(price_drift, pricing)
            self.hub.jobs.heartbeat(self.job_id, done=len(listed), phase="finished")

    async def pricing(self) -> StorePricing:
        assert self.client is not None
        return await read_pricing(self.client, self.settings)

    async def list_store(self) -> dict[str, dict[str, Any]]:
        assert self.client is not None
        params = {
            "orderby": "id",
            "order": "asc",
            "status": "any",
            "per_page": MAX_BATCH,
            "_fields": SCAN_FIELDS,
        }
        found: dict[str, dict[str, Any]] = {}
        first = None
        async for page in self.client.iter_pages("products", params, max_pages=1):
            first = page
        if first is None:
            return found
        pages = [first]
        total_pages = first.total_pages or 1
        semaphore = asyncio.Semaphore(self.settings.max_concurrency)

        async def fetch(n: int) -> Any:
            assert self.client is not None
            async with semaphore:
                async for got in self.client.iter_pages(
                    "products", params, start_page=n, max_pages=1
                ):
                    return got
            return None

        pages.extend(await asyncio.gather(*(fetch(n) for n in range(2, total_pages + 1))))
        for page in pages:
            for obj in page.items if page is not None else []:
                sku = str(obj.get("sku") or "")
                if sku and obj.get("type") != "variation" and obj.get("status") != "trash":
                    found[sku.lower()] = obj
        return found

    def load(self, listed: dict[str, dict[str, Any]]) -> list[Seen]:
        """Linked products that the store lists, with the POS's view of them."""
        link = ProductLink.__table__  # type: ignore[attr-defined]
        tables = catalogue_tables()
        product, stock = tables.product, tables.stock
        listing = listing_table()
        store_col = store_id_of(listing)
        keys = list(listed)
        seen: list[Seen] = []
        with self.hub.session() as s:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                query = (
                    sa_select(
                        link.c.sku,
                        store_col,
                        link.c.pushed_stock,
                        listing.c.status,
                        product.c.manage_stock,
                        product.c.price,
                        stock.c.on_hand,
                        stock.c.reserved,
                    )
                    .select_from(
                        link.join(product, product.c.sku == link.c.sku)
                        .join(listing, listed_on_channel(product, listing))
                        .join(stock, stock.c.product_id == product.c.id)
                    )
                    .where(
                        func.lower(link.c.sku).in_(part),
                        store_col.is_not(None),
                        product.c.active.is_(True),
                    )
                )
                for row in s.execute(query).all():
                    obj = listed[row[0].lower()]
                    if int(obj["id"]) != row[1]:
                        continue  # a twin holds the SKU: the duplicates report shows it
                    level = row[6] - row[7] if self.settings.push_available_to_sell else row[6]
                    stock_value = obj.get("stock_quantity")
                    seen.append(
                        Seen(
                            sku=row[0],
                            store_id=row[1],
                            store_stock=int(stock_value)
                            if isinstance(stock_value, int) and obj.get("manage_stock")
                            else None,
                            store_price=str(obj.get("regular_price") or ""),
                            pushed=row[2],
                            link_status=row[3],
                            manage_stock=bool(row[4]),
                            on_hand=int(row[6]),
                            wanted=max(0, int(level)),
                            price=row[5],
                        )
                    )
        return seen

    async def import_orders(self) -> None:
        try:
            from plugins.woocommerce.orders import import_recent_orders
        except ImportError:
            self.errors.append((None, "order import is not available: sales cannot explain"))
            return
        result = await asyncio.to_thread(import_recent_orders, self.hub)
        self.count("order_imports")
        self.order_requests.append(result.get("client") or {})

    def already_logged(self, s: Session, sku: str, field_name: str, value: str) -> int | None:
        """An open (uncorrected, unexplained) entry for the same difference: a difference
        that lasts is logged once, and its entry is the one marked corrected later."""
        return s.exec(
            select(ChangeLogEntry.id).where(
                ChangeLogEntry.sku == sku,
                ChangeLogEntry.field == field_name,
                ChangeLogEntry.store_value == value,
                col(ChangeLogEntry.corrected_at).is_(None),
                col(ChangeLogEntry.explained).is_(False),
            )
        ).first()

    def save_entries(self, entries: list[ChangeLogEntry]) -> None:
        with self.hub.session() as s:
            for entry in entries:
                if entry.id is not None:
                    row = s.get(ChangeLogEntry, entry.id)
                    if row is not None and entry.corrected_at is not None:
                        row.corrected_at, row.outcome = entry.corrected_at, entry.outcome
                        s.add(row)
                    continue
                s.add(entry)
            s.commit()

    async def handle_stock(self, drifted: list[Seen]) -> None:
        if not drifted:
            return
        now = utcnow()
        entries: list[tuple[Seen, ChangeLogEntry]] = []
        explained_ok: list[tuple[str, int]] = []
        with self.hub.session() as s:
            orders = InventoryPush.explaining_orders(s, self.hub.pos, [x.sku for x in drifted])
            confirmed = InventoryPush.confirmations(s, [x.sku for x in drifted])
            for x in drifted:
                order, moved = orders.get(x.sku, (None, 0))
                # Explained when the imported orders account for the whole difference; a sale
                # too when the POS agrees with the store once those orders are imported.
                by_orders = (
                    order is not None and x.pushed is not None and x.pushed + moved == x.store_stock
                )
                if by_orders or x.store_stock == x.wanted:
                    self.count("explained")
                    s.add(
                        ChangeLogEntry(
                            sku=x.sku,
                            store_id=x.store_id,
                            field="stock",
                            store_value=str(x.store_stock),
                            expected_value=str(x.pushed),
                            explained=by_orders,
                            order_id=order,
                            corrected_at=now,
                            outcome="explained by online orders"
                            if by_orders
                            else "the POS level now matches the store",
                        )
                    )
                    if x.store_stock == x.wanted:
                        explained_ok.append((x.sku, x.wanted))
                    continue
                entry = ChangeLogEntry(
                    id=self.already_logged(s, x.sku, "stock", str(x.store_stock)),
                    sku=x.sku,
                    store_id=x.store_id,
                    field="stock",
                    store_value=str(x.store_stock),
                    expected_value=str(x.wanted),
                    explained=False,
                )
                entries.append((x, entry))
            InventoryPush.save_pushed(s, explained_ok)
            s.commit()
        self.count("unexplained", len(entries))
        writes: list[tuple[Seen, ChangeLogEntry]] = []
        held: list[HeldStock] = []
        for x, entry in entries:
            if not self.auto_correct:
                entry.outcome = "auto-correction is off"
                continue
            # The guard is about the POS lowering what it publishes: measured from the level
            # we last wrote, so putting back a level the store already had is never held.
            reason = guard_reason(
                self.settings,
                x.pushed if x.pushed is not None else x.store_stock,
                x.wanted,
                x.on_hand,
                confirmed.get(x.sku),
            )
            if reason:
                entry.outcome = f"held: {reason}"
                held.append(
                    HeldStock(
                        sku=x.sku,
                        store_id=x.store_id,
                        store_value=x.store_stock,
                        wanted=x.wanted,
                        reason=reason,
                    )
                )
                continue
            writes.append((x, entry))
        if writes:
            assert self.client is not None
            outcome = await self.client.batch_all(
                "products",
                update=[
                    {"id": x.store_id, "stock_quantity": x.wanted, "manage_stock": True}
                    for x, _ in writes
                ],
            )
            done: list[tuple[str, int]] = []
            refused = outcome.auth_error()
            if refused is not None:
                raise refused
            at = utcnow()
            for (x, entry), item in zip(writes, outcome.update, strict=True):
                if is_item_error(item):
                    entry.outcome = f"correction failed: {item['error'].get('message')}"
                    self.errors.append((x.sku, entry.outcome))
                    continue
                entry.corrected_at = at
                entry.outcome = f"stock set back to {x.wanted}"
                done.append((x.sku, x.wanted))
            self.count("corrected", len(done))
            with self.hub.session() as s:
                InventoryPush.save_pushed(s, done)
                s.commit()
        self.save_entries([entry for _, entry in entries])
        if writes:
            # Older entries of the same SKUs (another value seen earlier) are put right too.
            with self.hub.session() as s:
                record_corrections(
                    s,
                    "stock",
                    {x.sku: str(x.wanted) for x, e in writes if e.corrected_at},
                    "the scan",
                )
                s.commit()
        with self.hub.session() as s:
            InventoryPush.save_held(s, held)
            s.commit()
        self.count("held", len(held))

    async def handle_prices(self, drifted: list[Seen], pricing: StorePricing) -> None:
        if not drifted:
            return
        entries: list[tuple[Seen, ChangeLogEntry, str]] = []
        with self.hub.session() as s:
            for x in drifted:
                expected = pricing.to_store(x.price)
                entries.append(
                    (
                        x,
                        ChangeLogEntry(
                            id=self.already_logged(s, x.sku, "price", x.store_price[:40]),
                            sku=x.sku,
                            store_id=x.store_id,
                            field="price",
                            store_value=x.store_price[:40],
                            expected_value=expected,
                            explained=False,
                            outcome="" if self.auto_correct else "auto-correction is off",
                        ),
                        expected,
                    )
                )
        if self.auto_correct and entries:
            assert self.client is not None
            outcome = await self.client.batch_all(
                "products",
                update=[{"id": x.store_id, "regular_price": price} for x, _, price in entries],
            )
            refused = outcome.auth_error()
            if refused is not None:
                raise refused
            at = utcnow()
            for (x, entry, price), item in zip(entries, outcome.update, strict=True):
                if is_item_error(item):
                    entry.outcome = f"correction failed: {item['error'].get('message')}"
                    self.errors.append((x.sku, entry.outcome))
                    continue
                entry.corrected_at = at
                entry.outcome = f"price set back to {price}"
                self.count("corrected")
        self.save_entries([entry for _, entry, _ in entries])
        with self.hub.session() as s:
            record_corrections(
                s, "price", {x.sku: p for x, e, p in entries if e.corrected_at}, "the scan"
            )
            s.commit()


def drift_summary(hub: Hub, hours: int = 24) -> dict[str, Any]:
    """The change-detection part of the health monitor: drift count and time to correct."""
    since = utcnow() - timedelta(hours=hours)
    with hub.session() as s:
        rows = s.exec(select(ChangeLogEntry).where(col(ChangeLogEntry.detected_at) > since)).all()
        confirmed = int(s.exec(select(func.count()).select_from(StockConfirmation)).one())
    unexplained = [r for r in rows if not r.explained]
    corrected = [r for r in unexplained if r.corrected_at is not None]
    seconds = [
        (r.corrected_at - r.detected_at).total_seconds() for r in corrected if r.corrected_at
    ]
    return {
        "last_scan": get_state(hub, "drift.last_success"),
        "last_result": get_state(hub, "drift.last_result"),
        "window_hours": hours,
        "drift_count": len(rows),
        "explained": len(rows) - len(unexplained),
        "unexplained": len(unexplained),
        "corrected": len(corrected),
        "uncorrected": len(unexplained) - len(corrected),
        "avg_seconds_to_correct": round(sum(seconds) / len(seconds), 3) if seconds else None,
        "max_seconds_to_correct": round(max(seconds), 3) if seconds else None,
        "confirmed_levels": confirmed,
    }
