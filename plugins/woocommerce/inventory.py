"""Inventory push: the POS's stock levels written to the store, race-safe and guarded.

The REST API can only *set* ``stock_quantity``; there is no "decrement" and no compare-and-set.
An online sale reduces the store's stock by itself, so a blind write of the POS level would wipe
out every sale the hub has not imported yet. Each round of a push therefore:

1. lists the store products modified since the last listing (``modified_after`` on the store's
   clock, trimmed with ``_fields``; a full push lists them all) and compares each one's stock
   with the value we last wrote (``wc_product_link.pushed_stock``);
2. when a value differs from what we wrote (an online sale, or an edit in wp-admin), imports the
   pending store orders first, so the POS level it then reads includes those sales;
3. decides per product: nothing to do, write, or hold (the guard: a zero or a large drop that
   the POS has not confirmed is held and reported, never written);
4. writes in batches of at most 100 (``batch_all``, several requests at once), records the
   value written per product;
5. imports orders once more: a sale that landed between the listing and the write was
   overwritten by it, and importing it lowers the POS level, which the next round writes.

Rounds repeat (up to a few times) while POS levels keep moving under the push. A push is a
ledger job (kind ``woocommerce.inventory_push``) with progress, errors and a result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, delete, select

from hub.api import (
    ChunkedJob,
    ChunkLease,
    Hub,
    JobEngine,
    Outcome,
    Pos,
    Priority,
    StockChange,
    catalogue_tables,
    request_job,
    run_chunk,
    upsert,
    utcnow,
)
from plugins.woocommerce.client import MAX_BATCH, WooClient, is_item_error
from plugins.woocommerce.client_errors import AuthError, RateLimited, StoreUnavailable
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.store import (
    EventLog,
    add_request_counts,
    get_state,
    make_client,
    record_corrections,
    set_state,
    settings_of,
)
from plugins.woocommerce.store_jobs import paused_event, store_error, store_ready
from plugins.woocommerce.tables import (
    CHANNEL,
    PENDING,
    ChangeLogEntry,
    HeldStock,
    ProductLink,
    StockConfirmation,
    listed_on_channel,
    listing_table,
    store_id_of,
)

log = logging.getLogger("hub.plugin.woocommerce.inventory")

KIND = "woocommerce.inventory_push"
CHUNK_TASK = "inventory_push_chunk"
CHANGES_TASK = "inventory_push_changes"
MAX_ROUNDS = 4
LIST_FIELDS = "id,sku,type,manage_stock,stock_quantity,date_modified_gmt"
# The store's clock has one-second resolution and modified_after is strictly after.
MARK_OVERLAP = timedelta(seconds=1)

# Tests set this to act at chosen points of a push ("listed": after the store was read and
# before the write; "written": after the write, before the verifying order import).
step_hook: Callable[[str], None] | None = None


def auto_correct_on(hub: Hub, settings: WooCommerceSettings) -> bool:
    """Auto-correction as switched at run time (saved state), else as configured."""
    saved = get_state(hub, "inventory.auto_correct")
    return settings.auto_correct if saved is None else bool(saved)


# --- requesting ---------------------------------------------------------------------------


def request_push(
    hub: Hub,
    *,
    full: bool = False,
    skus: list[str] | None = None,
    trigger: str = "schedule",
    supersede: bool = False,
) -> tuple[Any, bool]:
    """Ask for an inventory push; queue its task when the job is new (requests coalesce)."""
    params: dict[str, Any] = {"full": full}
    if skus:
        params["skus"] = sorted(set(skus))
    return request_job(hub, PUSH_JOB, params=params, trigger=trigger, supersede=supersede)


def schedule_stock_push(hub: Hub) -> bool:
    """Debounce POS stock changes: one push shortly after the first change of a burst."""
    from plugins.woocommerce.store import settings_of

    settings = settings_of(hub)
    now = utcnow()
    until = get_state(hub, "inventory.push_until")
    if until and datetime.fromisoformat(until) > now:
        return False
    delay = settings.inventory_debounce_seconds
    set_state(hub, "inventory.push_until", (now + timedelta(seconds=delay)).isoformat())
    hub.enqueue(CHANGES_TASK, delay=delay or None, priority=Priority.INVENTORY)
    return True


def inventory_push_changes(hub: Hub) -> None:
    """Task: push the stock levels that changed in the POS since they were last written."""
    request_push(hub, full=False, trigger="pos stock change")


def inventory_push_periodic(hub: Hub) -> None:
    """Task: the scheduled full push (every linked product compared with the store)."""
    from plugins.woocommerce.store import settings_of

    if settings_of(hub).configured:
        request_push(hub, full=True, trigger="schedule")


def record_confirmations(hub: Hub, changes: list[StockChange]) -> None:
    """Remember POS levels that an admin's count, a sale or an imported order confirmed.

    The guard lets a zero or a large drop through only when the POS level it would write was
    confirmed this way (or by an admin, see :func:`confirm_held`). A count, set or adjustment
    made by a staff user confirms nothing, whatever its reason says: releasing a held write is
    an admin's decision.
    """
    from plugins.woocommerce.store import settings_of

    prefixes = tuple(r.lower() for r in settings_of(hub).confirming_reasons)
    confirmed = [
        c for c in changes if c.reason.lower().startswith(prefixes) and c.role in (None, "admin")
    ]
    if not confirmed:
        return
    now = utcnow()
    # The last change of a SKU is its level now; one statement for the lot.
    latest = {c.sku: c for c in confirmed}
    rows = [
        {"sku": c.sku, "on_hand": c.on_hand, "reason": c.reason[:200], "confirmed_at": now}
        for c in latest.values()
    ]
    table = StockConfirmation.__table__  # type: ignore[attr-defined]
    with hub.session() as s:
        s.execute(upsert(s, table, ["sku"], ["on_hand", "reason", "confirmed_at"]), rows)
        s.commit()


def confirm_held(hub: Hub, skus: list[str], who: str) -> tuple[list[str], Any]:
    """An admin confirms held writes: the current POS level of each SKU is confirmed and
    pushed. Returns the SKUs confirmed and the push job."""
    with hub.session() as s:
        query = select(HeldStock)
        if skus:
            query = query.where(col(HeldStock.sku).in_(skus))
        held = [h.sku for h in s.exec(query).all()]
        levels = {
            sku: product["stock"]
            for sku, product in hub.pos.get_products(held).items()
            if product["stock"] is not None
        }
        for sku in held:
            row = s.get(StockConfirmation, sku) or StockConfirmation(sku=sku, on_hand=0)
            row.on_hand = int(levels.get(sku, 0))
            row.reason, row.confirmed_at = f"confirmed by {who}"[:200], utcnow()
            s.add(row)
        s.commit()
    if not held:
        return [], None
    job, _ = request_push(hub, skus=held, trigger=f"confirmed by {who}")
    return held, job


# --- the chunk task -----------------------------------------------------------------------


def inventory_push_chunk(hub: Hub, job_id: int, generation: int | None = None) -> None:
    """Task: run an inventory push job (resumed after a pause, or taken over, by the runner)."""
    run_chunk(hub, PUSH_JOB, job_id, generation)


def push_finished(hub: Hub, engine: JobEngine, succeeded: bool) -> None:
    assert isinstance(engine, InventoryPush)
    result = engine.result()
    if engine.new_mark:
        set_state(hub, "inventory.store_mark", engine.new_mark)
    if succeeded:
        set_state(hub, "inventory.last_success", utcnow().isoformat())
    status = "succeeded" if succeeded else "failed"
    set_state(hub, "inventory.last_result", {"job": engine.job_id, "status": status, **result})
    # Levels that moved after this job read them (it coalesced the requests they made):
    # push them in a follow-up job.
    if engine.moved_since_start():
        request_push(hub, trigger="changes during a push")


PUSH_JOB = ChunkedJob(
    kind=KIND,
    task=CHUNK_TASK,
    priority=Priority.INVENTORY,
    label="inventory push",
    engine=lambda hub, job, lease: InventoryPush(hub, settings_of(hub), job, lease=lease),
    on_error=store_error,
    on_complete=push_finished,
    ready=store_ready,
    on_pause=paused_event("inventory push"),
)


# --- the engine ---------------------------------------------------------------------------


@dataclass
class Item:
    """One linked product in a round: what the store holds and what the POS wants there."""

    sku: str
    store_id: int
    pushed: int | None
    store: int | None = None  # the store's value, when read this round
    store_read: bool = False
    on_hand: int = 0
    wanted: int = 0


@dataclass
class Round:
    started: datetime
    items: dict[str, Item] = field(default_factory=dict)
    unexplained: list[str] = field(default_factory=list)


class InventoryPush:
    def __init__(
        self,
        hub: Hub,
        settings: WooCommerceSettings,
        job: Any,
        events: EventLog | None = None,
        lease: ChunkLease | None = None,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.lease = lease
        self.job_id: int = job.id
        self.full = bool(job.params.get("full"))
        self.only: list[str] = list(job.params.get("skus") or [])
        self.cursor: dict[str, Any] = dict(job.cursor or {})
        self.events = events or EventLog()
        self.counts: dict[str, int] = {}
        self.errors: list[tuple[str | None, str]] = []
        self.client: WooClient | None = None
        self.started = utcnow()
        self.auto_correct = auto_correct_on(hub, settings)
        self.mark: str | None = get_state(hub, "inventory.store_mark")
        self.new_mark: str | None = None
        self.written_skus: set[str] = set()
        self.order_requests: list[dict[str, int]] = []

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {"full": self.full, "counts": dict(self.counts)}
        if self.client is not None or self.order_requests:
            # The order imports it runs make their own requests: they count here too.
            current = self.client.stats.as_dict() if self.client is not None else None
            out["client"] = add_request_counts(current, *self.order_requests)
        return out

    def beat(self, phase: str) -> None:
        progress: dict[str, Any] = {
            "done": self.counts.get("checked", 0),
            "failed": self.counts.get("failed", 0),
            "phase": phase,
            "cursor": self.cursor,
        }
        if self.lease is not None:
            self.lease.beat(**progress)
        else:
            self.hub.jobs.heartbeat(self.job_id, **progress)

    def check(self) -> None:
        """Before a write: Fenced when this chunk no longer holds the job."""
        if self.lease is not None:
            self.lease.check()

    # -- a job: rounds until the POS stops moving under us ------------------------------

    async def run_chunk(self) -> bool:
        """An inventory push completes in one task (its rounds are short)."""
        await self.run()
        return True

    def unresolved(self) -> tuple[int, int]:
        return 0, self.counts.get("failed", 0)

    def close(self) -> None:
        self.events.flush(self.hub)

    def progress(self) -> dict[str, Any]:
        return {"done": self.counts.get("checked", 0), "phase": "pushing stock"}

    async def run(self) -> None:
        async with make_client(self.settings, self.events) as client:
            self.client = client
            full = self.full or self.mark is None
            for number in range(MAX_ROUNDS):
                round_ = Round(started=utcnow())
                wrote = await self.run_round(round_, full=full, first=number == 0)
                if not wrote:
                    break
                # A sale in the store between our read and our write was overwritten by the
                # write: import it now, so that the POS level (and the next round) has it.
                hook("written")
                imported = await self.import_orders()
                if imported is None or not self.moved_since(round_.started, self.written_skus):
                    break
                # The next round lists what changed since this round's listing.
                full = False
                self.only = []
                self.mark = self.new_mark or self.mark

    async def run_round(self, round_: Round, *, full: bool, first: bool) -> bool:
        """One round; True when something was written."""
        self.beat("reading the store")
        listed = await self.list_store(full)
        with self.hub.session() as s:
            self.collect(s, round_, listed, first)
        await self.read_unknown(round_)
        for item in round_.items.values():
            if item.store_read and item.store != item.pushed:
                round_.unexplained.append(item.sku)
        if round_.unexplained:
            # A difference we cannot explain: an online sale we have not imported, or an
            # edit in wp-admin. Import pending orders first, then read the POS again.
            self.count("unexplained", len(round_.unexplained))
            if await self.import_orders() is None:
                self.errors.append(
                    (None, "order import is not available: store-side changes are held")
                )
        with self.hub.session() as s:
            self.read_pos(s, round_)
        hook("listed")
        writes = self.decide(round_)
        self.beat(f"writing {len(writes)} stock levels")
        await self.write(round_, writes)
        return bool(writes)

    # -- reading ------------------------------------------------------------------------

    async def list_store(self, full: bool) -> dict[str, dict[str, Any]]:
        """Store products (by lower-cased SKU) modified since the mark, or all of them."""
        assert self.client is not None
        params: dict[str, Any] = {
            "orderby": "id",
            "order": "asc",
            "status": "any",
            "per_page": MAX_BATCH,
            "_fields": LIST_FIELDS,
        }
        if not full and self.mark:
            since = datetime.fromisoformat(self.mark) - MARK_OVERLAP
            params["modified_after"] = since.strftime("%Y-%m-%dT%H:%M:%S")
            params["dates_are_gmt"] = "true"
        found: dict[str, dict[str, Any]] = {}
        newest = self.new_mark or self.mark or ""
        pages_total: int | None = None
        page = 1
        started_at: datetime | None = None
        concurrency = self.settings.max_concurrency

        async def fetch(n: int) -> Any:
            assert self.client is not None
            async for got in self.client.iter_pages("products", params, start_page=n, max_pages=1):
                return got
            return None

        while True:
            numbers = (
                [page]
                if pages_total is None
                else list(range(page, min(page + concurrency, pages_total + 1)))
            )
            if not numbers:
                break
            results = await asyncio.gather(*(fetch(n) for n in numbers))
            done = False
            for got in results:
                if got is None or not got.items:
                    done = True
                    break
                if got.number == 1 and got.server_time is not None:
                    started_at = got.server_time
                if got.total_pages is not None:
                    pages_total = got.total_pages
                for obj in got.items:
                    stamp = str(obj.get("date_modified_gmt") or "")
                    if stamp > newest[:19]:
                        newest = stamp
                    sku = str(obj.get("sku") or "")
                    if sku and obj.get("type") != "variation":
                        found[sku.lower()] = obj
            page = numbers[-1] + 1
            if done or pages_total is None or page > pages_total:
                break
        self.count("store_read", len(found))
        if started_at is not None:
            # The store's clock when the listing began: anything changed later shows up in
            # the next listing, anything earlier is in this one.
            self.new_mark = started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        elif newest:
            self.new_mark = newest[:19] + "+00:00"
        return found

    def collect(
        self, s: Session, round_: Round, listed: dict[str, dict[str, Any]], first: bool
    ) -> None:
        """The products this round looks at: those the POS changed, those the store changed,
        and (first round) the ones the job was asked for."""
        link = ProductLink.__table__  # type: ignore[attr-defined]
        store_col = store_id_of(listing_table())
        rows: dict[str, tuple[str, int, int | None]] = {}
        wanted_expr = self.wanted_expr()
        dirty = (
            sa_select(link.c.sku, store_col, link.c.pushed_stock)
            .select_from(self.joined())
            .where(
                store_col.is_not(None),
                or_(link.c.pushed_stock.is_(None), link.c.pushed_stock != wanted_expr),
            )
        )
        if self.only and first:
            dirty = dirty.where(link.c.sku.in_(self.only))
        for sku, store_id, pushed in s.execute(dirty).all():
            rows[sku.lower()] = (sku, store_id, pushed)
        if self.only and first:
            query = (
                sa_select(link.c.sku, store_col, link.c.pushed_stock)
                .select_from(self.joined())
                .where(store_col.is_not(None), link.c.sku.in_(self.only))
            )
            for sku, store_id, pushed in s.execute(query).all():
                rows[sku.lower()] = (sku, store_id, pushed)
        if listed:
            keys = list(listed)
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                query = (
                    sa_select(link.c.sku, store_col, link.c.pushed_stock)
                    .select_from(self.joined())
                    .where(store_col.is_not(None), func.lower(link.c.sku).in_(part))
                )
                for sku, store_id, pushed in s.execute(query).all():
                    rows[sku.lower()] = (sku, store_id, pushed)
        for key, (sku, store_id, pushed) in rows.items():
            item = Item(sku=sku, store_id=int(store_id), pushed=pushed)
            obj = listed.get(key)
            if obj is not None and int(obj["id"]) == item.store_id:
                item.store = _stock_of(obj)
                item.store_read = True
            round_.items[sku] = item
        self.count("checked", len(round_.items))

    def joined(self) -> Any:
        """Links of products whose stock the store manages and the POS sends."""
        link = ProductLink.__table__  # type: ignore[attr-defined]
        tables = catalogue_tables()
        product, stock = tables.product, tables.stock
        listing = listing_table()
        return (
            link.join(
                product,
                and_(
                    product.c.sku == link.c.sku,
                    product.c.manage_stock.is_(True),
                    product.c.active.is_(True),
                ),
            )
            .join(listing, listed_on_channel(product, listing))
            .join(stock, stock.c.product_id == product.c.id)
        )

    def wanted_expr(self) -> Any:
        stock = catalogue_tables().stock
        level = (
            stock.c.on_hand - stock.c.reserved
            if self.settings.push_available_to_sell
            else stock.c.on_hand
        )
        return case((level < 0, 0), else_=level)

    async def read_unknown(self, round_: Round) -> None:
        """Read the store's value of products we never wrote (linked, not pushed)."""
        assert self.client is not None
        ids = {
            item.store_id: item
            for item in round_.items.values()
            if item.pushed is None and not item.store_read
        }
        keys = sorted(ids)
        for start in range(0, len(keys), MAX_BATCH):
            part = keys[start : start + MAX_BATCH]
            got = await self.client.get(
                "products",
                {
                    "include": ",".join(map(str, part)),
                    "per_page": MAX_BATCH,
                    "status": "any",
                    "_fields": LIST_FIELDS,
                },
            )
            for obj in got or []:
                item = ids.get(int(obj.get("id") or 0))
                if item is not None:
                    item.store, item.store_read = _stock_of(obj), True

    def read_pos(self, s: Session, round_: Round) -> None:
        tables = catalogue_tables()
        product, stock = tables.product, tables.stock
        skus = list(round_.items)
        for start in range(0, len(skus), 500):
            part = skus[start : start + 500]
            query = (
                sa_select(product.c.sku, stock.c.on_hand, stock.c.reserved)
                .select_from(product.join(stock, stock.c.product_id == product.c.id))
                .where(product.c.sku.in_(part))
            )
            for sku, on_hand, reserved in s.execute(query).all():
                item = round_.items[sku]
                item.on_hand = int(on_hand)
                level = on_hand - reserved if self.settings.push_available_to_sell else on_hand
                item.wanted = max(0, int(level))

    async def import_orders(self) -> dict[str, Any] | None:
        """Import pending store orders (the order-import side of the plugin), or None when
        that side is not available."""
        try:
            from plugins.woocommerce.orders import import_recent_orders
        except ImportError:
            return None
        result = await asyncio.to_thread(import_recent_orders, self.hub)
        self.count("order_imports")
        self.order_requests.append(result.get("client") or {})
        return result

    # -- deciding -----------------------------------------------------------------------

    def decide(self, round_: Round) -> list[Item]:
        """Per product: nothing to do, write, or hold. Records held writes and changes."""
        writes: list[Item] = []
        held: list[HeldStock] = []
        released: list[str] = []
        link_only: list[tuple[str, int]] = []
        changes: list[ChangeLogEntry] = []
        unexplained = set(round_.unexplained)
        with self.hub.session() as s:
            confirmed = self.confirmations(s, list(round_.items))
            explained_by = self.explaining_orders(s, self.hub.pos, [k for k in unexplained])
        for item in round_.items.values():
            current = item.store if item.store_read else item.pushed
            if item.sku in unexplained and item.pushed is not None:
                # The store's value moved behind our back: log it, explained or not.
                order, moved = explained_by.get(item.sku, (None, 0))
                # Explained when the imported orders account for the whole difference.
                explained = order is not None and item.pushed + moved == item.store
                changes.append(
                    ChangeLogEntry(
                        sku=item.sku,
                        store_id=item.store_id,
                        field="stock",
                        store_value=str(item.store),
                        expected_value=str(item.pushed),
                        explained=explained,
                        order_id=order,
                        source="push",
                        corrected_at=utcnow() if explained or item.store == item.wanted else None,
                        outcome="explained by online orders" if explained else "",
                    )
                )
                if item.store != item.wanted and not self.auto_correct and not self.pos_moved(item):
                    # A store-side edit with auto-correction off: leave it, it is logged.
                    changes[-1].outcome = "auto-correction is off: left as the store has it"
                    self.count("left_alone")
                    continue
            if current == item.wanted:
                if item.pushed != item.wanted:
                    link_only.append((item.sku, item.wanted))
                released.append(item.sku)
                self.count("unchanged")
                continue
            # The guard is about the POS lowering what it publishes: measured from the level
            # we last wrote (a store-side change is not the POS's drop).
            base = item.pushed if item.pushed is not None else current
            reason = self.guard(item, base, confirmed.get(item.sku))
            if reason:
                held.append(
                    HeldStock(
                        sku=item.sku,
                        store_id=item.store_id,
                        store_value=current,
                        wanted=item.wanted,
                        reason=reason,
                    )
                )
                if changes and changes[-1].sku == item.sku:
                    changes[-1].outcome = f"held: {reason}"
                continue
            released.append(item.sku)
            writes.append(item)
        self.check()
        with self.hub.session() as s:
            if released:
                s.exec(delete(HeldStock).where(col(HeldStock.sku).in_(released)))  # type: ignore[call-overload]
            self.save_held(s, held)
            for entry in changes:
                s.add(entry)
            self.save_pushed(s, link_only)
            s.commit()
        self.count("held", len(held))
        for row in held:
            self.errors.append((row.sku, f"held: {row.reason}"))
        return writes

    def pos_moved(self, item: Item) -> bool:
        """The POS level differs from what we last wrote: the POS changed, not only the store."""
        return item.pushed is not None and item.wanted != item.pushed

    def guard(self, item: Item, current: int | None, confirmed_on_hand: int | None) -> str:
        return guard_reason(self.settings, current, item.wanted, item.on_hand, confirmed_on_hand)

    @staticmethod
    def confirmations(s: Session, skus: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(skus), 500):
            part = skus[start : start + 500]
            for row in s.exec(
                select(StockConfirmation).where(col(StockConfirmation.sku).in_(part))
            ).all():
                found[row.sku] = row.on_hand
        return found

    @staticmethod
    def explaining_orders(s: Session, pos: Pos, skus: list[str]) -> dict[str, tuple[str, int]]:
        """Per SKU: the newest store order that moved its POS stock since we last wrote it,
        and the total those orders moved (the core's log of imported orders' stock moves)."""
        if not skus:
            return {}
        written: dict[str, datetime] = {}
        for start in range(0, len(skus), 500):
            for link in s.exec(
                select(ProductLink).where(col(ProductLink.sku).in_(skus[start : start + 500]))
            ).all():
                written[link.sku] = link.updated_at
        if not written:
            return {}
        found: dict[str, tuple[str, int]] = {}
        for move in pos.order_stock_moves("woocommerce", list(written), min(written.values())):
            if move.at >= written[move.sku]:
                total = found.get(move.sku, ("", 0))[1]
                found[move.sku] = (move.external_id, total + move.quantity)
        return found

    # -- writing ------------------------------------------------------------------------

    async def write(self, round_: Round, writes: list[Item]) -> None:
        assert self.client is not None
        if not writes:
            return
        self.check()
        outcome = await self.client.batch_all(
            "products",
            update=[
                {"id": w.store_id, "stock_quantity": w.wanted, "manage_stock": True} for w in writes
            ],
        )
        if (
            outcome.chunk_errors
            and all(isinstance(e, (StoreUnavailable, RateLimited)) for e in outcome.chunk_errors)
            and all(
                is_item_error(i) and not i["error"]["data"].get("ambiguous") for i in outcome.update
            )
        ):
            raise outcome.chunk_errors[0]
        if outcome.chunk_errors and isinstance(outcome.chunk_errors[0], AuthError):
            raise outcome.chunk_errors[0]
        pushed: list[tuple[str, int]] = []
        gone: list[str] = []
        for item, result in zip(writes, outcome.update, strict=True):
            if not is_item_error(result):
                pushed.append((item.sku, item.wanted))
                self.written_skus.add(item.sku)
                continue
            error = result["error"]
            code = str(error.get("code") or "")
            message = str(error.get("message") or code)
            if code == "woocommerce_rest_product_invalid_id":
                gone.append(item.sku)
                self.errors.append((item.sku, "the store product no longer exists"))
            elif (error.get("data") or {}).get("ambiguous"):
                # Maybe applied: the next push reads the store's value and decides again.
                self.errors.append((item.sku, f"not confirmed by the store: {message}"))
            else:
                self.errors.append((item.sku, f"the store refused the stock: {message} ({code})"))
            self.count("failed")
        self.count("written", len(pushed))
        self.check()
        with self.hub.session() as s:
            self.save_pushed(s, pushed)
            self.count(
                "corrected",
                record_corrections(
                    s, "stock", {sku: str(v) for sku, v in pushed}, "the inventory push"
                ),
            )
            if gone:
                s.exec(  # type: ignore[call-overload]
                    update(ProductLink)
                    .where(col(ProductLink.sku).in_(gone))
                    .values(pushed_hash=None, pushed_stock=None)
                )
                self.hub.channels.record(
                    CHANNEL,
                    [
                        Outcome(
                            sku,
                            PENDING,
                            "deleted in the store; the catalogue sync creates it again",
                        )
                        for sku in gone
                    ],
                    session=s,
                )
            s.commit()

    @staticmethod
    def save_held(s: Session, held: Iterable[HeldStock]) -> None:
        """Store held writes, replacing any already held for the SKU. One statement with ON
        CONFLICT: the push and the drift scan may hold the same SKU at the same moment."""
        fields = ("sku", "store_id", "store_value", "wanted", "reason", "held_at")
        rows = [{name: getattr(row, name) for name in fields} for row in held]
        if rows:
            table = HeldStock.__table__  # type: ignore[attr-defined]
            s.execute(upsert(s, table, ["sku"], fields[1:]), rows)

    @staticmethod
    def save_pushed(s: Session, values: Iterable[tuple[str, int]]) -> None:
        rows = [{"k": sku, "v": value} for sku, value in values]
        if not rows:
            return
        table = ProductLink.__table__  # type: ignore[attr-defined]
        stmt = (
            update(table)
            .where(table.c.sku == bindparam("k"))
            .values(pushed_stock=bindparam("v"), updated_at=utcnow())
        )
        s.connection().execute(stmt, rows)

    # -- after the job ------------------------------------------------------------------

    def moved_since(self, when: datetime, skus: Iterable[str] | None = None) -> bool:
        """Linked products whose POS level moved after ``when`` and differs from what we
        last wrote (held ones excepted)."""
        link = ProductLink.__table__  # type: ignore[attr-defined]
        stock = catalogue_tables().stock
        held = HeldStock.__table__  # type: ignore[attr-defined]
        store_col = store_id_of(listing_table())
        query = (
            sa_select(func.count())
            .select_from(self.joined().outerjoin(held, held.c.sku == link.c.sku))
            .where(
                store_col.is_not(None),
                stock.c.updated_at > when,
                held.c.sku.is_(None),
                or_(link.c.pushed_stock.is_(None), link.c.pushed_stock != self.wanted_expr()),
            )
        )
        if skus is not None:
            query = query.where(link.c.sku.in_(list(skus)))
        with self.hub.session() as s:
            return bool(s.execute(query).scalar())

    def moved_since_start(self) -> bool:
        return self.moved_since(self.started)


def guard_reason(
    settings: WooCommerceSettings,
    current: int | None,
    wanted: int,
    on_hand: int,
    confirmed_on_hand: int | None,
) -> str:
    """Why writing ``wanted`` over the store's ``current`` must be held, or "" to send it.

    A zero over a positive level, or a drop beyond the configured units or share, is held
    unless the POS's on-hand level was confirmed (a count, a sale, an imported order, or an
    admin's confirmation) at exactly the level it has now.
    """
    if confirmed_on_hand is not None and confirmed_on_hand == on_hand:
        return ""
    if current is None or wanted >= current:
        return ""
    drop = current - wanted
    if wanted == 0:
        return f"would set the store's stock from {current} to zero; not confirmed by the POS"
    units, percent = settings.max_drop_units, settings.max_drop_percent
    if units is not None and drop > units:
        return (
            f"would lower the store's stock by {drop} (from {current} to {wanted}), "
            f"more than {units} units, without a confirmed count"
        )
    if percent is not None and drop * 100 > percent * current:
        return (
            f"would lower the store's stock by {drop * 100 // current}% "
            f"(from {current} to {wanted}), more than {percent}%, without a confirmed count"
        )
    return ""


def hook(name: str) -> None:
    if step_hook is not None:
        step_hook(name)


def _stock_of(obj: dict[str, Any]) -> int | None:
    value = obj.get("stock_quantity")
    if value is None or not obj.get("manage_stock", True):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def held_list(hub: Hub, limit: int = 200) -> list[dict[str, Any]]:
    with hub.session() as s:
        rows = s.exec(select(HeldStock).order_by(col(HeldStock.held_at).desc()).limit(limit)).all()
    return [
        {
            "sku": r.sku,
            "store_id": r.store_id,
            "store_value": r.store_value,
            "wanted": r.wanted,
            "reason": r.reason,
            "held_at": r.held_at.isoformat(),
        }
        for r in rows
    ]


def inventory_summary(hub: Hub) -> dict[str, Any]:
    """The inventory part of the health monitor."""
    with hub.session() as s:
        held_count = int(s.exec(select(func.count()).select_from(HeldStock)).one())
    last = hub.jobs.latest(KIND)
    return {
        "last_success": get_state(hub, "inventory.last_success"),
        "last_result": get_state(hub, "inventory.last_result"),
        "held_count": held_count,
        "held": held_list(hub, 50),
        "last_job": None
        if last is None
        else {
            "id": last.id,
            "status": last.status,
            "phase": last.phase,
            "done": last.done,
            "failed": last.failed,
            "errors": (last.errors or [])[:100],
            "started_at": last.started_at.isoformat() if last.started_at else None,
            "finished_at": last.finished_at.isoformat() if last.finished_at else None,
        },
    }
