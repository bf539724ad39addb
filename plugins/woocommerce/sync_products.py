"""Catalogue sync: a reconciliation between the POS and the store, in short chunk tasks.

A job goes through three phases, each resumable from the cursor stored on the job:

1. ``prepare``: read the store's tax setting and categories;
2. ``read``: page through the store's products (all of them, or those modified since the last
   run minus an overlap), link them to POS products by SKU, import new ones, and notice
   store-side edits;
3. ``push``: walk the POS products in id order, decide per product (create, update, draft,
   unchanged, skip), and send the differences in batches of at most 100.

Every chunk commits what it learned before the next starts, so a worker killed anywhere leaves
nothing a rerun cannot finish. Duplicates cannot arise: every product is sent with its SKU, the
store refuses a second product with a SKU, and that refusal names the product to link to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import logging
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import ValidationError as InputValidationError
from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from hub.context import Hub
from hub.db import conflict_insert, upsert, utcnow
from hub.errors import InputError
from hub.jobs import Priority
from hub.models import Category, Product, StockLevel
from hub.pos import ProductIn, ProductPatch, products_by_sku
from plugins.woocommerce.catalogue import (
    STORE_FIELDS,
    Action,
    PosProduct,
    content_hash,
    desired_view,
    import_fields,
    plan_product,
    store_view,
)
from plugins.woocommerce.client import MAX_BATCH, WooClient, is_item_error
from plugins.woocommerce.client_errors import (
    RateLimited,
    StoreError,
    StoreUnavailable,
)
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.pricing import TIERS, StorePricing
from plugins.woocommerce.store import EventLog, get_state, make_client, read_pricing, set_state
from plugins.woocommerce.store_jobs import StoreJobEngine, Superseded, run_store_job
from plugins.woocommerce.tables import FAILED, PENDING, SKIPPED, SYNCED, CategoryLink, ProductLink

log = logging.getLogger("hub.plugin.woocommerce.sync")
T = TypeVar("T")

KIND = "woocommerce.sync_products"
DRY_KIND = "woocommerce.sync_products.dry_run"
CHUNK_TASK = "sync_products_chunk"
PLAN_LIMIT = 200  # dry-run items listed per action kind
PLAN_STEP = 500  # POS products read and planned at a time
FLUSH_ROWS = 250  # link rows written per transaction
MAX_ATTEMPTS = 3  # sends of one product within a run (re-link, re-create, after a timeout)


@dataclass
class Link:
    """A row of ``wc_product_link`` as plain data: the ORM is far too slow for 100,000 of them."""

    sku: str
    store_id: int | None = None
    pushed_hash: str | None = None
    store_hash: str | None = None
    pushed_stock: int | None = None
    status: str = PENDING
    message: str = ""
    store_modified: str | None = None
    # The POS product's updated_at when we last decided about it: newer means edited since.
    pos_version: datetime | None = None


@dataclass
class Work:
    """One product on its way to the store."""

    product: PosProduct
    action: Action
    link: Link
    attempt: int = 1


LINK_COLUMNS = [f.name for f in dataclasses.fields(Link)]


def read_links(s: Session, skus: Iterable[str]) -> dict[str, Link]:
    """Links for these SKUs (compared case-insensitively), keyed by lower-cased SKU."""
    table = ProductLink.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in LINK_COLUMNS]
    wanted = {sku for sku in skus if sku}
    found: dict[str, Link] = {}
    # Exact matches use the primary key; only the rest pay for a case-insensitive look.
    for part in chunks_of(sorted(wanted), 500):
        for row in s.execute(sa_select(*columns).where(table.c.sku.in_(part))).all():
            found[row[0].lower()] = Link(*row)
    rest = sorted({sku.lower() for sku in wanted} - set(found))
    for part in chunks_of(rest, 500):
        query = sa_select(*columns).where(func.lower(table.c.sku).in_(part))
        for row in s.execute(query).all():
            found[row[0].lower()] = Link(*row)
    return found


def chunks_of(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_links(s: Session, links: Iterable[Link]) -> None:
    """Insert or update links in one statement (ON CONFLICT on the SKU)."""
    table = ProductLink.__table__  # type: ignore[attr-defined]
    now = utcnow()
    rows = [
        {**{name: getattr(link, name) for name in LINK_COLUMNS}, "updated_at": now}
        for link in links
    ]
    if not rows:
        return
    stmt = upsert(s, table, ["sku"], [*LINK_COLUMNS[1:], "updated_at"])
    for start in range(0, len(rows), 2000):
        s.execute(stmt, rows[start : start + 2000])


def save_category_links(s: Session, links: dict[str, int], *, replace: bool) -> None:
    """Record POS category name -> store category id, as found (``replace=False``: a mapping
    already there is kept) or as just created in the store (``replace``). Safe when a
    superseded run, still finishing its step, records the same names at the same moment."""
    if not links:
        return
    table = CategoryLink.__table__  # type: ignore[attr-defined]
    now = utcnow()
    rows = [
        {"name": n, "store_id": i, "source": "auto", "updated_at": now} for n, i in links.items()
    ]
    if replace:
        stmt = upsert(s, table, ["name"], ["store_id", "updated_at"])
    else:
        stmt = conflict_insert(s, table).on_conflict_do_nothing(index_elements=["name"])
    s.execute(stmt, rows)


# --- requesting ------------------------------------------------------------------------


def request_sync(
    hub: Hub,
    *,
    full: bool,
    dry_run: bool = False,
    trigger: str = "schedule",
    supersede: bool = False,
    read_store: bool = True,
) -> tuple[Any, bool]:
    """Ask for a catalogue sync; queue its first chunk when the job is new.

    ``read_store=False`` only pushes POS changes (used for POS edits, which must reach the
    store within seconds); store-side changes are read by the scheduled syncs.
    """
    kind = DRY_KIND if dry_run else KIND
    params = {"full": full, "dry_run": dry_run, "read_store": read_store or full}
    job, created = hub.jobs.request(kind, trigger=trigger, params=params, supersede=supersede)
    if created:
        hub.enqueue(CHUNK_TASK, job.id, None, priority=Priority.CATALOGUE)
    return job, created


def schedule_edit_push(hub: Hub) -> bool:
    """Debounce POS edits: one incremental sync shortly after the first edit of a burst."""
    settings: WooCommerceSettings = hub.settings
    now = utcnow()
    until = get_state(hub, "products.edit_push_until")
    if until and datetime.fromisoformat(until) > now:
        return False
    delay = settings.edit_debounce_seconds
    set_state(hub, "products.edit_push_until", (now + timedelta(seconds=delay)).isoformat())
    hub.enqueue("sync_products_edits", delay=delay or None, priority=Priority.CATALOGUE)
    return True


def sync_products_edits(hub: Hub) -> None:
    """Task: the incremental sync that carries a burst of POS edits to the store."""
    request_sync(hub, full=False, trigger="pos edit", read_store=False)


def sync_products_periodic(hub: Hub) -> None:
    """Task: the scheduled sync (incremental; a full one when none has succeeded yet)."""
    from plugins.woocommerce.store import settings_of

    if not settings_of(hub).configured:
        return
    full = get_state(hub, "products.last_success") is None
    request_sync(hub, full=full, trigger="schedule")


# --- the chunk task --------------------------------------------------------------------


def sync_products_chunk(hub: Hub, job_id: int, lease: str | None) -> None:
    """Task: run one task's share of a catalogue sync job and queue the next."""

    def complete(engine: StoreJobEngine) -> None:
        assert isinstance(engine, CatalogueSync)
        hub.jobs.heartbeat(
            job_id, cursor=engine.cursor, done=engine.cursor.get("done", 0), phase="finished"
        )
        hub.jobs.finish(job_id, "failed" if engine.failed_hard else "succeeded", engine.result())
        if not engine.dry:
            engine.after_success()

    run_store_job(
        hub,
        job_id,
        lease,
        task=CHUNK_TASK,
        priority=Priority.CATALOGUE,
        label="catalogue sync",
        make_engine=lambda settings, job, events: CatalogueSync(hub, settings, job, events),
        on_complete=complete,
    )


# --- the engine ------------------------------------------------------------------------


class CatalogueSync:
    def __init__(
        self, hub: Hub, settings: WooCommerceSettings, job: Any, events: EventLog | None = None
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.job_id: int = job.id
        self.full = bool(job.params.get("full"))
        self.dry = bool(job.params.get("dry_run"))
        self.read_store = bool(job.params.get("read_store", True))
        mode = "full" if self.full else "incremental"
        cursor = dict(job.cursor or {})
        if cursor.get("mode") != mode or cursor.get("phase") == "done":
            cursor = {"mode": mode, "phase": "prepare"}
        self.cursor = cursor
        self.counts: dict[str, int] = cursor.setdefault("counts", {})
        self.events = events or EventLog()
        self.errors: list[tuple[str | None, str]] = []
        self.failed_hard = False
        self.client: WooClient | None = None
        self.pricing: StorePricing | None = None
        # Dry runs keep what they would have stored here instead of in the database.
        self.overlay: dict[str, Link] = {}
        self.dirty: dict[str, Link] = {}
        self.category_overlay: dict[str, int] = {}
        self.plan: dict[str, list[Any]] = {}
        self.categories_cache: dict[str, int | None] = {}
        self.planned: deque[int] = deque()
        self.finished: set[int] = set()
        self.store_down: StoreError | None = None
        self.prefetched: dict[int, asyncio.Task[Any]] = {}

    # -- bookkeeping --------------------------------------------------------------------

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def note(self, kind: str, item: Any) -> None:
        bucket = self.plan.setdefault(kind, [])
        if len(bucket) < PLAN_LIMIT:
            bucket.append(item)

    def phase_text(self) -> str:
        phase = self.cursor.get("phase")
        if phase == "read":
            pages = self.cursor.get("pages")
            return f"reading the store: page {self.cursor.get('page', 1)}" + (
                f" of {pages}" if pages else ""
            )
        if phase == "push":
            return "sending changes to the store"
        return str(phase)

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"mode": self.cursor.get("mode"), "counts": dict(self.counts)}
        if self.dry:
            result["dry_run"] = True
            result["plan"] = self.plan
        if self.client is not None:
            result["client"] = self.client.stats.as_dict()
        return result

    def saw_modified(self, obj: dict[str, Any]) -> None:
        """Track the newest store modification time seen: the next read starts there."""
        stamp = obj.get("date_modified_gmt")
        if isinstance(stamp, str) and stamp > self.cursor.get("store_newest_read", "")[:19]:
            self.cursor["store_newest_read"] = stamp + "+00:00"

    def beat(self) -> None:
        """Between steps: record progress, and stop when superseded."""
        ok = self.hub.jobs.heartbeat(
            self.job_id,
            done=self.cursor.get("done", 0),
            total=self.cursor.get("total"),
            failed=self.counts.get("failed", 0),
            phase=self.phase_text(),
            cursor=None if self.dry else self.cursor,
        )
        if not ok:
            raise Superseded()

    # -- the chunk ----------------------------------------------------------------------

    async def run_task(self) -> bool:
        return await self.run_chunk() == "done"

    def progress(self) -> dict[str, Any]:
        return {
            "done": self.cursor.get("done", 0),
            "total": self.cursor.get("total"),
            "failed": self.counts.get("failed", 0),
            "phase": self.phase_text(),
        }

    async def run_chunk(self) -> str:
        """Work through the phases until this task's time budget is used ("more") or the
        job is complete ("done"). A dry run does it all in one task."""
        deadline = time.monotonic() + self.settings.task_budget_seconds
        async with make_client(self.settings, self.events) as client:
            self.client = client
            try:
                return await self.run_phases(deadline)
            finally:
                await self.drop_prefetched()

    async def run_phases(self, deadline: float) -> str:
        if self.cursor["phase"] == "prepare":
            await self.prepare()
            self.cursor["phase"] = "read"
        self.pricing = pricing_from(self.cursor["pricing"])
        self.categories_cache = {k.lower(): v for k, v in self.category_map().items()}
        if self.cursor["phase"] == "read" and not self.read_store:
            self.start_push()
        if self.cursor["phase"] == "read":
            while not await self.read_pages():
                if not self.dry and time.monotonic() > deadline:
                    return "more"
            self.start_push()
        if self.cursor["phase"] == "push" and not await self.push_products():
            return "more"
        self.cursor["phase"] = "done"
        return "done"

    def start_push(self) -> None:
        """Enter the push phase; its progress total counts what the read may have imported."""
        self.cursor["phase"] = "push"
        self.cursor["after_id"] = 0
        self.cursor["done"] = 0
        with self.hub.session() as s:
            self.cursor["total"] = count_pos_products(s, changed_only=not self.full)

    # -- prepare ------------------------------------------------------------------------

    async def prepare(self) -> None:
        assert self.client is not None
        self.cursor["started"] = utcnow().isoformat()
        overlap = timedelta(seconds=self.settings.watermark_overlap_seconds)
        read_mark = get_state(self.hub, "products.read_watermark")
        if not self.full and read_mark:
            self.cursor["read_after"] = (datetime.fromisoformat(read_mark) - overlap).isoformat()
        if self.read_store:
            self.prefetch([1])
        # The store's settings, categories and first listing page are independent reads.
        pricing, categories = await asyncio.gather(
            read_pricing(self.client, self.settings),
            self.client.collect(self.client.iter_categories(fields=["id", "name"])),
        )
        self.cursor["pricing"] = {
            "include": pricing.prices_include_tax,
            "rate": str(pricing.tax_rate),
            "decimals": pricing.decimals,
        }
        known = {name.lower() for name in self.category_map()}
        found: dict[str, int] = {}
        for cat in categories:
            name = html.unescape(str(cat.get("name") or ""))
            if name and name.lower() not in known:
                known.add(name.lower())
                found[name] = int(cat["id"])
        if self.dry:
            self.category_overlay.update(found)
        else:
            with self.hub.session() as s:
                save_category_links(s, found, replace=False)
                s.commit()
        with self.hub.session() as s:
            self.cursor["total"] = int(s.exec(select(func.count()).select_from(Product)).one())
        self.cursor["done"] = 0
        self.beat()

    def category_map(self) -> dict[str, int]:
        with self.hub.session() as s:
            mapped = {c.name: c.store_id for c in s.exec(select(CategoryLink)).all()}
        mapped.update(self.category_overlay)
        return mapped

    # -- read ---------------------------------------------------------------------------

    def light_params(self) -> dict[str, Any]:
        """The light listing's query: products whose modification time is the one we recorded
        (usually our own writes read back) need nothing more; the rest are fetched whole."""
        params: dict[str, Any] = {
            "orderby": "id",
            "order": "asc",
            "status": "any",
            "_fields": "id,sku,date_modified_gmt",
        }
        if self.cursor.get("read_after"):
            params["modified_after"] = self.cursor["read_after"][:19]
            params["dates_are_gmt"] = "true"
        return params

    def prefetch(self, numbers: Iterable[int]) -> None:
        """Start fetching these listing pages now; ``read_pages`` takes them when it gets there.

        The store works on the next pages while we absorb the last ones (or, for the first
        page, while the store's settings are read)."""
        assert self.client is not None
        client, params = self.client, self.light_params()

        async def fetch(n: int) -> Any:
            async for found in client.iter_pages("products", params, start_page=n, max_pages=1):
                return found
            return None

        for n in numbers:
            if n not in self.prefetched:
                self.prefetched[n] = asyncio.create_task(fetch(n))

    async def drop_prefetched(self) -> None:
        """Cancel pages fetched ahead that will not be read in this task."""
        tasks, self.prefetched = list(self.prefetched.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def page_group(self, first: int) -> list[int]:
        """The listing pages read together from ``first``: one while the count is unknown."""
        pages = self.cursor.get("pages")
        if pages is None:
            return [first]
        return list(range(first, min(first + self.settings.max_concurrency * 10, pages + 1)))

    async def read_pages(self) -> bool:
        """Read a group of store pages. True when the whole listing has been read."""
        assert self.client is not None
        numbers = self.page_group(int(self.cursor.get("page", 1)))
        if not numbers:
            return True
        # At most max_concurrency requests are in flight (the client's own limit).
        self.prefetch(numbers)
        results = await asyncio.gather(*(self.prefetched.pop(n) for n in numbers))
        finished = False
        light: list[dict[str, Any]] = []
        for number, found in zip(numbers, results, strict=True):
            if found is not None and found.server_time and "read_started" not in self.cursor:
                # The next incremental read starts here, on the store's clock: anything
                # changed from now on (our own writes included) is read again next time.
                self.cursor["read_started"] = found.server_time.isoformat()
            if found is None or not found.items:
                finished = True
                break
            if found.total_pages is not None:
                self.cursor["pages"] = found.total_pages
            light.extend(found.items)
            self.cursor["page"] = number + 1
            if found.total_pages is not None and number >= found.total_pages:
                finished = True
        finished = finished or (
            self.cursor.get("pages") is not None and self.cursor["page"] > self.cursor["pages"]
        )
        if not finished and self.cursor.get("pages") is not None:
            self.prefetch(self.page_group(self.cursor["page"]))
            await asyncio.sleep(0)  # the requests go out before we get busy with this group
        for part in chunks_of(await self.fetch_changed(light), MAX_BATCH):
            self.absorb_store_products(part)
        self.beat()
        return finished

    async def fetch_changed(self, light: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Whole store objects for the listed products that are not as we last saw them."""
        assert self.client is not None
        for obj in light:
            self.saw_modified(obj)
        links = self.links_for([str(o.get("sku") or "") for o in light])
        wanted = []
        for obj in light:
            link = links.get(str(obj.get("sku") or "").lower())
            if (
                link is None
                or link.store_id != obj.get("id")
                or link.store_modified != obj.get("date_modified_gmt")
            ):
                wanted.append(int(obj["id"]))
        self.count("store_products_read", len(light))
        if not wanted:
            return []
        semaphore = asyncio.Semaphore(self.settings.max_concurrency)

        async def fetch(ids: list[int]) -> list[dict[str, Any]]:
            assert self.client is not None
            async with semaphore:
                items = await self.client.get(
                    "products",
                    {
                        "include": ",".join(map(str, ids)),
                        "per_page": MAX_BATCH,
                        "orderby": "id",
                        "order": "asc",
                        "status": "any",
                        "_fields": ",".join(STORE_FIELDS),
                    },
                )
                return list(items or [])

        parts = await asyncio.gather(*(fetch(ids) for ids in chunks_of(wanted, MAX_BATCH)))
        return [obj for part in parts for obj in part]

    def links_for(self, skus: Iterable[str]) -> dict[str, Link]:
        skus = list(skus)
        with self.hub.session() as s:
            found = read_links(s, skus)
        lowered = {sku.lower() for sku in skus}
        for key, link in {**self.overlay, **self.dirty}.items():
            if key in lowered:
                found[key] = link
        return found

    def save_link(self, link: Link) -> None:
        if self.dry:
            self.overlay[link.sku.lower()] = link
        else:
            self.dirty[link.sku.lower()] = link

    def flush_links(self) -> None:
        if self.dry or not self.dirty:
            return
        # Short transactions: a till sale waiting for SQLite's write lock is not kept behind
        # thousands of link rows.
        for part in chunks_of(list(self.dirty.values()), FLUSH_ROWS):
            with self.hub.session() as s:
                write_links(s, part)
                s.commit()
        self.dirty.clear()

    def absorb_store_products(self, items: list[dict[str, Any]]) -> None:
        """Link, import or flag each store product of a page."""
        assert self.pricing is not None
        imports: list[tuple[dict[str, Any], dict[str, Any]]] = []
        authority_updates: list[tuple[str, dict[str, Any]]] = []
        with self.hub.session() as s:
            skus = [str(o.get("sku") or "") for o in items]
            links = self.links_for(skus)
            pos = products_by_sku(s, [sku for sku in skus if sku.lower() not in links])
            for obj in items:
                sku = str(obj.get("sku") or "")
                if not sku.strip():
                    self.count("store_without_sku")
                    self.note(
                        "store_without_sku", {"store_id": obj.get("id"), "name": obj.get("name")}
                    )
                    continue
                key = sku.lower()
                link = links.get(key)
                current = content_hash(store_view(obj, self.settings))
                store_id = int(obj["id"])
                if link is not None and link.store_id == store_id:
                    if link.store_hash == current:
                        if link.store_modified != obj.get("date_modified_gmt"):
                            link.store_modified = obj.get("date_modified_gmt")
                            self.save_link(link)
                        continue  # as we left it (usually our own write read back)
                    if link.store_hash:
                        self.count("changed_in_store")
                        self.note("changed_in_store", sku)
                        if self.settings.store_authority:
                            authority_updates.append((link.sku, obj))
                        if link.status != FAILED:
                            link.status, link.message = (
                                PENDING,
                                "changed in the store; the POS value will be sent again",
                            )
                        link.store_hash = current
                    link.store_modified = obj.get("date_modified_gmt")
                    self.save_link(link)
                elif link is not None:
                    # The store product was deleted and recreated (or a twin holds the SKU).
                    self.count("relinked")
                    self.note("relink", {"sku": sku, "from": link.store_id, "to": store_id})
                    link.store_id, link.store_hash, link.pushed_hash = store_id, current, None
                    link.store_modified = obj.get("date_modified_gmt")
                    link.status, link.message = PENDING, f"re-linked to store product #{store_id}"
                    self.save_link(link)
                elif key in pos:
                    self.count("linked")
                    self.note("link", {"sku": pos[key].sku, "store_id": store_id})
                    self.save_link(
                        Link(
                            sku=pos[key].sku,
                            store_id=store_id,
                            store_hash=current,
                            store_modified=obj.get("date_modified_gmt"),
                            status=PENDING,
                            message=f"linked by SKU to store product #{store_id}",
                        ),
                    )
                elif self.settings.import_new_products:
                    fields, reason = import_fields(obj, self.pricing)
                    if reason or fields is None:
                        self.count("not_imported")
                        self.note("not_imported", {"sku": sku, "reason": reason})
                        self.errors.append((sku, f"not imported from the store: {reason}"))
                        self.save_link(
                            Link(
                                sku=sku,
                                store_id=store_id,
                                store_hash=current,
                                status=FAILED,
                                message=f"not imported from the store: {reason}",
                            ),
                        )
                    else:
                        imports.append((fields, obj))
        if imports:
            self.import_products(imports)
        self.flush_links()
        for sku, obj in authority_updates:
            self.apply_store_authority(sku, obj)

    def import_products(self, imports: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Create POS products for store products the POS does not know."""
        assert self.pricing is not None
        valid: list[tuple[ProductIn, dict[str, Any]]] = []
        for fields, obj in imports:
            try:
                stock = obj.get("stock_quantity")
                item = ProductIn(
                    **fields, stock=int(stock) if isinstance(stock, int) and stock > 0 else None
                )
            except InputValidationError as exc:
                first = exc.errors()[0]
                reason = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
                self.count("not_imported")
                self.errors.append((fields["sku"], f"not imported from the store: {reason}"))
                self.save_link(
                    Link(
                        sku=fields["sku"],
                        store_id=int(obj["id"]),
                        status=FAILED,
                        message=f"not imported from the store: {reason}",
                    ),
                )
                continue
            valid.append((item, obj))
        if not valid:
            return
        for item, _ in valid:
            self.note("import", {"sku": item.sku, "name": item.name, "price": str(item.price)})
        self.count("imported", len(valid))
        if self.dry:
            return
        try:
            self.hub.pos.upsert_products([item for item, _ in valid], source="woocommerce")
        except InputError as exc:
            # One product the POS refuses (for example a SKU differing only in case): import
            # the rest one by one, and report the refused ones.
            self.count("imported", -len(valid))
            for item, _ in valid:
                try:
                    self.hub.pos.create_product(item, source="woocommerce")
                    self.count("imported")
                except InputError as one:
                    self.count("not_imported")
                    self.errors.append((item.sku, f"not imported from the store: {one}"))
            del exc
        cats = self.category_map()
        for item, obj in valid:
            snapshot = PosProduct(
                id=0,
                sku=item.sku,
                name=item.name,
                description=item.description,
                price=item.price,
                tiers=dict.fromkeys(TIERS),
                category=item.category,
                sync=True,
                active=True,
                manage_stock=item.manage_stock,
                on_hand=item.stock or 0,
                reserved=0,
                updated_at=utcnow(),
            )
            view = desired_view(
                snapshot, self.settings, self.pricing, cats.get(item.category or "")
            )
            self.save_link(
                Link(
                    sku=item.sku,
                    store_id=int(obj["id"]),
                    pushed_hash=content_hash(view),
                    store_hash=content_hash(store_view(obj, self.settings)),
                    pushed_stock=item.stock,
                    status=SYNCED,
                    message="imported from the store",
                )
            )

    def apply_store_authority(self, sku: str, obj: dict[str, Any]) -> None:
        """Copy the fields the config gives the store authority over into the POS."""
        assert self.pricing is not None
        fields, _ = import_fields(obj, self.pricing)
        if fields is None:
            return
        patch: dict[str, Any] = {}
        for name in self.settings.store_authority:
            if name in fields and fields[name] is not None:
                patch[name] = fields[name]
        if not patch:
            return
        self.note("update_pos", {"sku": sku, **{k: str(v) for k, v in patch.items()}})
        self.count("updated_in_pos")
        if not self.dry:
            try:
                self.hub.pos.update_product(sku, ProductPatch(**patch), source="woocommerce")
            except (InputError, InputValidationError) as exc:
                self.errors.append((sku, f"store change not applied to the POS: {exc}"))

    # -- push ---------------------------------------------------------------------------
    #
    # A pipeline: the planner walks POS products in id order and queues batches of changes;
    # a few senders (the store's "requests at once") send them and record each result as it
    # comes back. The store is never idle while we plan, and we never plan far ahead of it.

    async def push_products(self) -> bool:
        """Push until the task's time budget is used. True when every product was covered."""
        assert self.client is not None
        deadline = time.monotonic() + self.settings.task_budget_seconds
        queue: asyncio.Queue[list[Work] | None] = asyncio.Queue()
        self.planned = deque()
        self.finished = set()
        self.store_down = None
        senders = [
            asyncio.create_task(self.sender(queue)) for _ in range(self.settings.max_concurrency)
        ]
        after_id = first_id = int(self.cursor.get("after_id", 0))
        exhausted = False
        last_beat = time.monotonic()
        pending: list[Work] = []
        try:
            while self.dry or time.monotonic() < deadline:
                if self.store_down is not None:
                    break
                while queue.qsize() >= 2 * self.settings.max_concurrency:
                    await asyncio.sleep(0.002)
                # The first step is one batch, so that the store has work at once.
                step = MAX_BATCH if after_id == first_id else PLAN_STEP
                with self.hub.session() as s:
                    products = load_pos_products(s, after_id, step, changed_only=not self.full)
                if not products:
                    exhausted = True
                    break
                for work in await self.plan_step(products):
                    pending.append(work)
                    if len(pending) >= self.client.batch_size:
                        queue.put_nowait(pending)
                        pending = []
                        await asyncio.sleep(0)  # let an idle sender take it now
                after_id = products[-1].id
                if time.monotonic() - last_beat > 1.0:
                    self.checkpoint()
                    last_beat = time.monotonic()
            if pending:
                queue.put_nowait(pending)
            await queue.join()
        finally:
            for _ in senders:
                queue.put_nowait(None)
            await asyncio.gather(*senders, return_exceptions=True)
        self.checkpoint()
        if self.store_down is not None:
            raise self.store_down
        return exhausted

    def checkpoint(self) -> None:
        """Store links and advance the cursor past every product whose outcome is recorded."""
        self.flush_links()
        while self.planned and self.planned[0] in self.finished:
            done_id = self.planned.popleft()
            self.finished.discard(done_id)
            self.cursor["after_id"] = done_id
            self.cursor["done"] = int(self.cursor.get("done", 0)) + 1
        self.beat()

    async def plan_step(self, products: list[PosProduct]) -> list[Work]:
        """Decide for a step of products; record skips and unchanged ones at once."""
        assert self.pricing is not None
        categories = await self.ensure_categories({p.category for p in products if p.category})
        links = self.links_for([p.sku for p in products])
        work: list[Work] = []
        for p in products:
            self.planned.append(p.id)
            known = links.get(p.sku.lower())
            link = known or Link(sku=p.sku)
            category_id = categories.get(p.category) if p.category else None
            action = plan_product(
                p,
                link.store_id,
                link.pushed_hash,
                link.status == PENDING and link.pushed_hash is not None,
                self.settings,
                self.pricing,
                category_id,
                p.category is not None and category_id is None,
            )
            if action.kind in ("create", "update", "draft"):
                work.append(Work(p, action, link))
                continue
            before = (link.status, link.message, link.pos_version)
            link.pos_version = p.updated_at
            if action.kind == "skip":
                self.count("skipped")
                self.note("skip", {"sku": p.sku, "reason": action.reason})
                link.status, link.message = SKIPPED, action.reason
            else:
                self.count("unchanged")
                link.status, link.message = SYNCED, ""
            if known is None or (link.status, link.message, link.pos_version) != before:
                self.save_link(link)  # an unchanged product costs no write at all
            self.finished.add(p.id)
        return work

    async def sender(self, queue: asyncio.Queue[list[Work] | None]) -> None:
        while True:
            batch = await queue.get()
            try:
                if batch is None:
                    return
                if self.store_down is None:
                    for retry in await self.send(batch):
                        queue.put_nowait([retry])
            except Exception as exc:  # recorded per product; the job goes on
                log.exception("sending a batch failed")
                for work in batch or []:
                    self.finish_work(work, PENDING, f"not sent: {exc}")
            finally:
                queue.task_done()

    def finish_work(self, work: Work, status: str, message: str) -> None:
        link = work.link
        link.status, link.message = status, message
        if status != PENDING:
            link.pos_version = work.product.updated_at
        self.save_link(link)
        self.finished.add(work.product.id)

    async def send(self, batch: list[Work]) -> list[Work]:
        """Send one batch; record results; return the works to send again."""
        assert self.client is not None
        if self.dry:
            for work in batch:
                self.count(f"would_{work.action.kind}")
                self.note(
                    work.action.kind, {"sku": work.product.sku, "store_id": work.link.store_id}
                )
                self.finished.add(work.product.id)
            return []
        creates = [w for w in batch if w.action.kind == "create"]
        updates = [w for w in batch if w.action.kind != "create"]
        outcome = await self.client.batch_all(
            "products",
            create=[w.action.payload for w in creates],
            update=[w.action.payload for w in updates],
        )
        results = outcome.create + outcome.update
        if (
            outcome.chunk_errors
            and all(isinstance(e, (StoreUnavailable, RateLimited)) for e in outcome.chunk_errors)
            and all(is_item_error(i) and not i["error"]["data"].get("ambiguous") for i in results)
        ):
            # Nothing got through and nothing is in doubt: pause the job (the products stay
            # unfinished, so the cursor does not pass them).
            self.store_down = outcome.chunk_errors[0]
            return []
        again: list[Work] = []
        unclear: list[Work] = []
        for work, item in zip(creates + updates, results, strict=True):
            retry = self.record_result(work, item)
            if isinstance(retry, Work):
                again.append(retry)
            elif retry == "unclear":
                unclear.append(work)
        if unclear:
            again.extend(await self.resolve_unclear(unclear))
        return again

    def record_result(self, work: Work, item: dict[str, Any]) -> Work | str | None:
        """Record one item's outcome. Returns a follow-up work, "unclear", or None."""
        p, action, link = work.product, work.action, work.link
        final = work.attempt >= MAX_ATTEMPTS
        if not is_item_error(item):
            self.count({"create": "created", "update": "updated", "draft": "drafted"}[action.kind])
            link.store_id = int(item["id"])
            link.pushed_hash = action.hash
            link.store_hash = content_hash(store_view(item, self.settings))
            if "stock_quantity" in action.payload:
                link.pushed_stock = action.payload["stock_quantity"]
            link.store_modified = item.get("date_modified_gmt")
            if action.kind == "draft":
                self.finish_work(work, SKIPPED, "not for sale online: drafted in the store")
            else:
                self.finish_work(work, SYNCED, "")
            return None
        error = item["error"]
        code = str(error.get("code") or "")
        data = error.get("data") or {}
        message = str(error.get("message") or code)
        if data.get("ambiguous") and not final:
            return "unclear"
        if code == "product_invalid_sku" and data.get("resource_id") and not final:
            # The store already has this SKU: link to it and update it instead.
            link.store_id, link.pushed_hash = int(data["resource_id"]), None
            self.count("linked")
            payload = {k: v for k, v in action.payload.items() if k != "stock_quantity"}
            payload["id"] = link.store_id
            return Work(p, Action("update", p.sku, payload, action.hash), link, work.attempt + 1)
        if code == "woocommerce_rest_product_invalid_id" and not final:
            # Deleted in the store behind our back: create it again.
            link.store_id, link.pushed_hash = None, None
            payload = {k: v for k, v in action.payload.items() if k != "id"}
            return Work(p, Action("create", p.sku, payload, action.hash), link, work.attempt + 1)
        if data.get("client"):
            # No answer we can trust: it stays pending for the next run.
            self.finish_work(work, PENDING, f"not confirmed by the store: {message}")
            return None
        self.count("failed")
        self.errors.append((p.sku, f"the store refused it: {message} ({code})"))
        self.finish_work(work, FAILED, f"{message} ({code})")
        return None

    async def resolve_unclear(self, unclear: list[Work]) -> list[Work]:
        """After a timeout the store may or may not have applied a write: look before retrying."""
        assert self.client is not None
        found: dict[str, dict[str, Any]] = {}
        skus = [w.product.sku for w in unclear]
        for start in range(0, len(skus), 50):
            part = skus[start : start + 50]
            items = await self.client.get(
                "products",
                {"sku": ",".join(part), "_fields": ",".join(STORE_FIELDS), "per_page": MAX_BATCH},
            )
            for obj in items or []:
                if obj.get("type") != "variation" and obj.get("sku"):
                    found[str(obj["sku"]).lower()] = obj
        retry: list[Work] = []
        for work in unclear:
            p, action, link = work.product, work.action, work.link
            obj = found.get(p.sku.lower())
            if obj is None:
                payload = {k: v for k, v in action.payload.items() if k != "id"}
                retry.append(
                    Work(p, Action("create", p.sku, payload, action.hash), link, work.attempt + 1)
                )
                continue
            link.store_id = int(obj["id"])
            landed = content_hash(store_view(obj, self.settings)) == content_hash(
                store_view({**obj, **_as_store(action.payload)}, self.settings)
            )
            if landed:
                self.record_result(work, obj)
            else:
                payload = {k: v for k, v in action.payload.items() if k != "stock_quantity"}
                payload["id"] = link.store_id
                retry.append(
                    Work(p, Action("update", p.sku, payload, action.hash), link, work.attempt + 1)
                )
        return retry

    async def ensure_categories(self, names: set[str]) -> dict[str, int | None]:
        """Store category ids for POS category names; created when the settings say so."""
        assert self.client is not None
        mapped = self.categories_cache
        result: dict[str, int | None] = {}
        missing = []
        for name in names:
            if name.lower() in mapped:
                result[name] = mapped[name.lower()]
            else:
                missing.append(name)
        if not missing:
            return result
        if self.settings.missing_category == "skip":
            return {**result, **dict.fromkeys(missing)}
        if self.dry:
            # Would be created: 0 stands for "a category the real run creates".
            for name in missing:
                result[name] = 0
                self.note("create_category", name)
            return result
        created = await self.client.batch_all("categories", create=[{"name": n} for n in missing])
        links: dict[str, int] = {}
        for name, item in zip(missing, created.create, strict=True):
            if is_item_error(item):
                error = item["error"]
                existing = (error.get("data") or {}).get("resource_id")
                if not existing:
                    result[name] = None
                    self.errors.append(
                        (None, f"category {name!r} not created: {error.get('message')}")
                    )
                    continue
                result[name] = int(existing)
            else:
                result[name] = int(item["id"])
                self.count("categories_created")
            mapped[name.lower()] = result[name]
            links[name] = result[name] or 0
        with self.hub.session() as s:
            save_category_links(s, links, replace=True)
            s.commit()
        return result

    # -- after a successful run -----------------------------------------------------------

    def after_success(self) -> None:
        started = self.cursor.get("started") or utcnow().isoformat()
        # The read watermark is on the store's clock (the newest change seen), so a store
        # whose clock differs from ours loses nothing.
        if self.read_store:
            mark = self.cursor.get("read_started") or self.cursor.get("store_newest_read")
            if mark:
                set_state(self.hub, "products.read_watermark", mark)
        set_state(self.hub, "products.last_success", utcnow().isoformat())
        set_state(self.hub, "products.last_result", {"job": self.job_id, **self.result()})
        with self.hub.session() as s:
            edited_since = s.exec(
                select(func.count())
                .select_from(Product)
                .where(col(Product.updated_at) > datetime.fromisoformat(started))
            ).one()
        if edited_since:
            # Edits arrived while this run was past them: carry them in a follow-up run.
            schedule_edit_push(self.hub)


def _as_store(payload: dict[str, Any]) -> dict[str, Any]:
    """A write payload in the shape the store echoes it, to check whether it landed."""
    return {k: v for k, v in payload.items() if k not in ("id", "stock_quantity")}


def pricing_from(raw: dict[str, Any]) -> StorePricing:
    return StorePricing(
        prices_include_tax=bool(raw.get("include")),
        tax_rate=Decimal(str(raw.get("rate") or "0")),
        decimals=int(raw.get("decimals", 2)),
    )


def changed_condition() -> Any:
    """POS products edited since we last decided about them, never decided about, or pending."""
    product = Product.__table__  # type: ignore[attr-defined]
    link = ProductLink.__table__  # type: ignore[attr-defined]
    return or_(
        link.c.sku.is_(None),
        link.c.status == PENDING,
        link.c.pos_version.is_(None),
        link.c.pos_version < product.c.updated_at,
    )


def count_pos_products(s: Session, changed_only: bool) -> int:
    product = Product.__table__  # type: ignore[attr-defined]
    link = ProductLink.__table__  # type: ignore[attr-defined]
    query = sa_select(func.count()).select_from(product)
    if changed_only:
        query = query.select_from(product.outerjoin(link, link.c.sku == product.c.sku)).where(
            changed_condition()
        )
    return int(s.execute(query).scalar_one())


def load_pos_products(
    s: Session, after_id: int, limit: int, changed_only: bool = False
) -> list[PosProduct]:
    """The next POS products by id; with ``changed_only``, those edited since we last decided
    about them, never decided about, or marked pending (retry, or changed in the store)."""
    product = Product.__table__  # type: ignore[attr-defined]
    stock = StockLevel.__table__  # type: ignore[attr-defined]
    category = Category.__table__  # type: ignore[attr-defined]
    link = ProductLink.__table__  # type: ignore[attr-defined]
    joined = product.outerjoin(stock, stock.c.product_id == product.c.id).outerjoin(
        category, category.c.id == product.c.category_id
    )
    query = sa_select(
        product.c.id,
        product.c.sku,
        product.c.name,
        product.c.description,
        product.c.price,
        product.c.price_aa,
        product.c.price_aaa,
        product.c.price_aaaa,
        category.c.name,
        product.c.sync_to_woocommerce,
        product.c.active,
        product.c.manage_stock,
        stock.c.on_hand,
        stock.c.reserved,
        product.c.updated_at,
    ).where(product.c.id > after_id)
    if changed_only:
        joined = joined.outerjoin(link, link.c.sku == product.c.sku)
        query = query.where(changed_condition())
    rows = s.execute(query.select_from(joined).order_by(product.c.id).limit(limit)).all()
    return [
        PosProduct(
            id=r[0],
            sku=r[1],
            name=r[2],
            description=r[3] or "",
            price=r[4],
            tiers={"aa": r[5], "aaa": r[6], "aaaa": r[7]},
            category=r[8],
            sync=bool(r[9]),
            active=bool(r[10]),
            manage_stock=bool(r[11]),
            on_hand=r[12] or 0,
            reserved=r[13] or 0,
            updated_at=r[14],
        )
        for r in rows
    ]
