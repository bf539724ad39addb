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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import ValidationError as InputValidationError
from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from hub.api import (
    Channels,
    ChunkedJob,
    ChunkLease,
    Hub,
    InputError,
    JobEngine,
    Outcome,
    Priority,
    ProductIn,
    ProductPatch,
    catalogue_tables,
    conflict_insert,
    request_job,
    run_chunk,
    upsert,
    utcnow,
)
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
    AuthError,
    RateLimited,
    StoreError,
    StoreUnavailable,
)
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.pricing import TIERS, StorePricing
from plugins.woocommerce.store import (
    EventLog,
    get_state,
    make_client,
    read_pricing,
    record_corrections,
    set_state,
    settings_of,
)
from plugins.woocommerce.store_jobs import paused_event, store_error, store_ready
from plugins.woocommerce.tables import (
    CHANNEL,
    FAILED,
    PENDING,
    SKIPPED,
    SYNCED,
    CategoryLink,
    NotImported,
    ProductLink,
)
from plugins.woocommerce.tiers import (
    TierBook,
    dropped_message,
    import_tiers,
    last_preset,
    not_imported_message,
    preset_in_use,
    remember_preset,
    resolve_preset,
    with_preset,
)

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
    """A product's link to the store as plain data (the ORM is far too slow for 100,000 of
    them): the store id, status and message are its listing on the channel (hub.channels), the
    rest its ``wc_product_link`` row."""

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
    # The POS product's id when known (spares the listing write a look-up by SKU).
    product_id: int | None = None


@dataclass
class Work:
    """One product on its way to the store."""

    product: PosProduct
    action: Action
    link: Link
    attempt: int = 1


LISTED = ("store_id", "status", "message", "product_id")  # kept in the product's listing
LINK_COLUMNS = [f.name for f in dataclasses.fields(Link) if f.name not in LISTED]


def read_links(s: Session, skus: Iterable[str], channels: Channels) -> dict[str, Link]:
    """Links for these SKUs (compared case-insensitively), keyed by lower-cased SKU: a product
    is linked when it has a ``wc_product_link`` row; its listing adds store id and status."""
    table = ProductLink.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in LINK_COLUMNS]
    wanted = {sku for sku in skus if sku}
    rows: dict[str, Any] = {}
    # Exact matches use the primary key; only the rest pay for a case-insensitive look.
    for part in chunks_of(sorted(wanted), 500):
        for row in s.execute(sa_select(*columns).where(table.c.sku.in_(part))).all():
            rows[row[0].lower()] = row
    rest = sorted({sku.lower() for sku in wanted} - set(rows))
    for part in chunks_of(rest, 500):
        query = sa_select(*columns).where(func.lower(table.c.sku).in_(part))
        for row in s.execute(query).all():
            rows[row[0].lower()] = row
    if not rows:
        return {}
    listed = {
        sku.lower(): info
        for sku, info in channels.listings(
            CHANNEL, skus=[r[0] for r in rows.values()], session=s
        ).items()
    }
    found: dict[str, Link] = {}
    for key, row in rows.items():
        link = Link(**dict(zip(LINK_COLUMNS, row, strict=True)))
        info = listed.get(key)
        if info is not None:
            link.store_id = int(info.external_id) if info.external_id else None
            link.status, link.message = info.status, info.message
            link.product_id = info.product_id
        found[key] = link
    return found


def chunks_of(items: list[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_links(s: Session, links: Iterable[Link], channels: Channels) -> None:
    """Store links in the caller's transaction: the listings' store id, status and message
    (hub.channels, batched) and our own rows (one upsert, ON CONFLICT on the SKU). A SKU with
    no POS product (a store product not imported) has no listing: it is kept in
    ``wc_not_imported`` with why, and read and reported again by the next sync."""
    table = ProductLink.__table__  # type: ignore[attr-defined]
    links = list(links)
    if not links:
        return
    missing = channels.record(
        CHANNEL,
        [
            Outcome(
                link.sku,
                link.status,
                link.message,
                None if link.store_id is None else str(link.store_id),
                product_id=link.product_id,
            )
            for link in links
        ],
        session=s,
    )
    gone = {sku.lower() for sku in missing}
    now = utcnow()
    rows = [
        {**{name: getattr(link, name) for name in LINK_COLUMNS}, "updated_at": now}
        for link in links
        if link.sku.lower() not in gone
    ]
    not_imported = NotImported.__table__  # type: ignore[attr-defined]
    if gone:
        s.execute(table.delete().where(func.lower(table.c.sku).in_(sorted(gone))))
        orphans = {link.sku.lower(): link for link in links if link.sku.lower() in gone}
        s.execute(
            upsert(s, not_imported, ["sku"], ["store_id", "message", "updated_at"]),
            [
                {"sku": o.sku, "store_id": o.store_id, "message": o.message, "updated_at": now}
                for o in orphans.values()
            ],
        )
    if rows and s.execute(sa_select(not_imported.c.sku).limit(1)).first() is not None:
        # Imported or linked since: no longer "not imported".
        keys = sorted({str(row["sku"]).lower() for row in rows})
        for part in chunks_of(keys, 500):
            s.execute(not_imported.delete().where(func.lower(not_imported.c.sku).in_(part)))
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
    params = {"full": full, "dry_run": dry_run, "read_store": read_store or full}
    return request_job(
        hub,
        PRODUCTS_JOB,
        params=params,
        trigger=trigger,
        supersede=supersede,
        kind=DRY_KIND if dry_run else KIND,
    )


def latest_syncs(hub: Hub, scan: int = 200) -> tuple[Any, Any]:
    """The latest catalogue sync that read the store (full or incremental) and the latest
    POS-edit push (no store read), apart: a small edit push must not hide the last sync."""
    sync = edit = None
    for job in hub.jobs.list(limit=scan, kind=KIND):
        if (job.params or {}).get("read_store", True):
            sync = sync or job
        else:
            edit = edit or job
        if sync is not None and edit is not None:
            break
    return sync, edit


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
    if not settings_of(hub).configured:
        return
    full = get_state(hub, "products.last_success") is None
    request_sync(hub, full=full, trigger="schedule")


# --- the chunk task --------------------------------------------------------------------


def sync_products_chunk(hub: Hub, job_id: int, generation: int | None = None) -> None:
    """Task: run one chunk of a catalogue sync job (the core's runner queues the next)."""
    run_chunk(hub, PRODUCTS_JOB, job_id, generation)


def sync_finished(hub: Hub, engine: JobEngine, succeeded: bool) -> None:
    assert isinstance(engine, CatalogueSync)
    if not engine.dry:
        engine.after_success()


PRODUCTS_JOB = ChunkedJob(
    kind=KIND,
    task=CHUNK_TASK,
    priority=Priority.CATALOGUE,
    label="catalogue sync",
    engine=lambda hub, job, lease: CatalogueSync(hub, settings_of(hub), job, lease=lease),
    on_error=store_error,
    on_complete=sync_finished,
    ready=store_ready,
    on_pause=paused_event("catalogue sync"),
)


# --- the engine ------------------------------------------------------------------------


class CatalogueSync:
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
        self.sending = True  # senders may start new writes
        # Created this chunk, their stock as sent: compared with the POS once linked.
        self.created_stock: dict[int, Link] = {}
        # Products up to this id may have been written by a chunk that died before it could
        # record the outcome: their creates are looked up in the store first (in pages).
        self.recover_upto = int(cursor.get("sent_upto", 0))
        # The highest product id this chunk handed to the store (0: none yet).
        self.sent_max = 0
        # The store refused a write on auth grounds (a read-only key): the job fails with it.
        self.auth_refused: AuthError | None = None
        # Prices written, by SKU: a price drift the change log holds open is put right by them.
        self.prices_written: dict[str, str] = {}
        # SKUs this task created, linked or updated in the store (announced when it ends).
        self.published: set[str] = set()
        self.prefetched: dict[int, asyncio.Task[Any]] = {}
        self.tiers = TierBook(settings)

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
            page = int(self.cursor.get("page", 1))
            if pages:
                # The cursor names the next page to read: past the last once all are read.
                return f"reading the store: page {min(page, pages)} of {pages}"
            return f"reading the store: page {page}"
        if phase == "push":
            return "sending changes to the store"
        return str(phase)

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"mode": self.cursor.get("mode"), "counts": dict(self.counts)}
        if self.dry:
            result["dry_run"] = True
            result["plan"] = self.plan
        result["client"] = self.requests()
        return result

    def requests(self) -> dict[str, int]:
        """The store requests of the whole job: earlier chunks' (in the cursor) and this one's."""
        totals = dict(self.cursor.get("requests") or {})
        if self.client is not None:
            for key, n in self.client.stats.as_dict().items():
                totals[key] = totals.get(key, 0) + n
        return totals

    def saw_modified(self, obj: dict[str, Any]) -> None:
        """Track the newest store modification time seen: the next read starts there."""
        stamp = obj.get("date_modified_gmt")
        if isinstance(stamp, str) and stamp > self.cursor.get("store_newest_read", "")[:19]:
            self.cursor["store_newest_read"] = stamp + "+00:00"

    def beat(self) -> None:
        """Between steps: record progress; Fenced when the job is no longer this chunk's."""
        progress: dict[str, Any] = {
            "done": self.cursor.get("done", 0),
            "total": self.cursor.get("total"),
            "failed": self.counts.get("failed", 0),
            "phase": self.phase_text(),
            "cursor": None if self.dry else self.cursor,
        }
        if self.lease is not None:
            self.lease.beat(**progress)
        else:
            self.hub.jobs.heartbeat(self.job_id, **progress)

    def check(self) -> None:
        """Before a write: Fenced when this chunk no longer holds the job."""
        if self.lease is not None:
            self.lease.check()

    @property
    def holding(self) -> bool:
        return self.lease is None or self.lease.held

    # -- the chunk ----------------------------------------------------------------------

    async def run_chunk(self) -> bool:
        try:
            return await self.work() == "done"
        finally:
            if not self.dry:
                # Carried in the cursor, so that the job's counts cover all of its chunks.
                self.cursor["requests"] = self.requests()
                self.client = None

    def unresolved(self) -> tuple[int, int]:
        if self.dry:
            return 0, 0
        return self.counts.get("pending", 0), self.counts.get("failed", 0)

    def close(self) -> None:
        self.events.flush(self.hub)

    def progress(self) -> dict[str, Any]:
        return {
            "done": self.cursor.get("done", 0),
            "total": self.cursor.get("total"),
            "failed": self.counts.get("failed", 0),
            "phase": self.phase_text(),
        }

    async def work(self) -> str:
        """Work through the phases until this task's time budget is used ("more") or the
        job is complete ("done"). A dry run does it all in one task."""
        deadline = time.monotonic() + self.settings.task_budget_seconds
        async with make_client(self.settings, self.events) as client:
            self.client = client
            try:
                return await self.run_phases(deadline)
            finally:
                await self.drop_prefetched()
                self.announce_published()

    def announce_published(self) -> None:
        """Tell other plugins which products the store now holds as the POS has them (a
        campaign whose gift was missing in the store is published again, for one)."""
        if self.dry or not self.published:
            return
        skus, self.published = sorted(self.published), set()
        self.hub.call("catalogue_channel_published", channel="woocommerce", skus=skus)

    async def run_phases(self, deadline: float) -> str:
        if self.cursor["phase"] == "prepare":
            await self.prepare()
            self.cursor["phase"] = "read"
        self.pricing = pricing_from(self.cursor["pricing"])
        # The tier preset found in the store ("auto" resolved) holds for the whole job.
        self.settings = with_preset(
            self.settings, self.cursor.get("tiers_preset") or preset_in_use(self.settings.tiers)
        )
        self.tiers = TierBook(self.settings)
        if not self.full and self.tiers.preset != last_preset(self.hub):
            # Every tiered product moves to the new place: this push walks them all.
            self.full = True
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
        pricing, categories, self.cursor["tiers_preset"] = await asyncio.gather(
            read_pricing(self.client, self.settings),
            self.client.collect(self.client.iter_categories(fields=["id", "name"])),
            resolve_preset(self.client, self.settings.tiers),
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
        self.cursor["total"] = self.hub.pos.count_products()
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
        skus = [str(o.get("sku") or "") for o in light]
        links = self.overlaid(await asyncio.to_thread(self.stored_links, skus), skus)
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
        return self.overlaid(self.stored_links(skus), skus)

    def stored_links(self, skus: list[str]) -> dict[str, Link]:
        """The links as stored (no overlay): safe to read in a thread."""
        with self.hub.session() as s:
            return read_links(s, skus, self.hub.channels)

    def overlaid(self, found: dict[str, Link], skus: list[str]) -> dict[str, Link]:
        """Stored links with what this run learned and has not written yet on top."""
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
        writes = self.take_writes()
        if writes is not None:
            writes()

    def take_writes(self) -> Callable[[], None] | None:
        """What was learned since the last flush (links, tier rules, price corrections), as a
        function that stores it; taken now, so that the senders can go on meanwhile."""
        if self.dry:
            return None
        self.check()  # a chunk fenced out (taken over, superseded) writes nothing more
        links, self.dirty = list(self.dirty.values()), {}
        tiers = self.tiers.take()
        prices, self.prices_written = self.prices_written, {}
        if not links and not tiers and not prices:
            return None

        def store() -> None:
            # Short transactions: a till sale waiting for SQLite's write lock is not kept
            # behind thousands of link rows.
            for n, part in enumerate(chunks_of(links, FLUSH_ROWS) if links else [[]]):
                with self.hub.session() as s:
                    if n == 0:
                        self.tiers.write(s, tiers)
                        if prices:
                            record_corrections(s, "price", prices, "the catalogue sync")
                    write_links(s, part, self.hub.channels)
                    s.commit()

        return store

    def absorb_store_products(self, items: list[dict[str, Any]]) -> None:
        """Link, import or flag each store product of a page."""
        assert self.pricing is not None
        imports: list[tuple[dict[str, Any], dict[str, Any]]] = []
        authority_updates: list[tuple[str, dict[str, Any]]] = []
        with self.hub.session():
            skus = [str(o.get("sku") or "") for o in items]
            links = self.links_for(skus)
            pos = {
                sku.lower(): found
                for sku, found in self.hub.pos.get_products(
                    [sku for sku in skus if sku.lower() not in links]
                ).items()
            }
            for obj in items:
                sku = str(obj.get("sku") or "")
                if not sku.strip():
                    name = html.unescape(str(obj.get("name") or ""))
                    self.count("store_without_sku")
                    self.note("store_without_sku", {"store_id": obj.get("id"), "name": name})
                    self.errors.append(
                        (
                            f"store product #{obj.get('id')}",
                            f"{name!r} not imported from the store: the store product has no SKU",
                        )
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
                    self.note("link", {"sku": pos[key]["sku"], "store_id": store_id})
                    self.save_link(
                        Link(
                            sku=pos[key]["sku"],
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
            fields = {**fields, **self.import_tier_prices(fields["sku"], obj)}
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
                tiers={t: getattr(item, f"price_{t}") for t in TIERS},
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
            if view.get("tiers") is not None:
                self.tiers.record_import(item.sku, obj)

    def import_tier_prices(self, sku: str, obj: dict[str, Any]) -> dict[str, Decimal]:
        """Tier prices of a store product being imported: its rules at the AA/AAA/AAAA
        quantities; rules at other quantities are reported and not imported."""
        assert self.pricing is not None
        prices, other = import_tiers(obj, self.settings, self.pricing)
        if other:
            message = not_imported_message(other, self.settings.tiers)
            self.count("tiers_not_imported")
            self.note("tiers_not_imported", {"sku": sku, "quantities": other})
            self.errors.append((sku, message))
        return prices

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
        self.sending = True
        senders = [
            asyncio.create_task(self.sender(queue)) for _ in range(self.settings.max_concurrency)
        ]
        after_id = first_id = int(self.cursor.get("after_id", 0))
        exhausted = False
        last_beat = time.monotonic()
        pending: list[Work] = []

        def in_time() -> bool:
            return self.dry or time.monotonic() < deadline

        try:
            while in_time():
                if self.store_down is not None or self.auth_refused is not None or not self.holding:
                    break
                while queue.qsize() >= 2 * self.settings.max_concurrency and in_time():
                    await asyncio.sleep(0.002)
                if not in_time():
                    break  # the budget ran out while waiting for room: plan nothing more
                # The first step is one batch, so that the store has work at once.
                step = MAX_BATCH if after_id == first_id else PLAN_STEP
                products = await asyncio.to_thread(
                    load_pos_products, self.hub, after_id, step, not self.full
                )
                if not products:
                    exhausted = True
                    break
                works = await self.plan_step(products)
                if works and not self.dry and products[-1].id > self.cursor.get("sent_upto", 0):
                    # Durable before any of them is sent: a chunk that takes this job over
                    # knows how far writes may have gone without their outcome recorded.
                    self.cursor["sent_upto"] = products[-1].id
                    self.beat()
                for work in works:
                    pending.append(work)
                    if len(pending) >= self.client.batch_size:
                        queue.put_nowait(pending)
                        pending = []
                        await asyncio.sleep(0)  # let an idle sender take it now
                after_id = products[-1].id
                if time.monotonic() - last_beat > 1.0:
                    await self.checkpoint()
                    await self.correct_created_stock()
                    last_beat = time.monotonic()
            if pending:
                queue.put_nowait(pending)
            if not exhausted and not self.dry:
                # Out of time: batches not yet handed to a sender wait for the next chunk
                # (their products stay unfinished, so the cursor does not pass them); only
                # the requests already on their way are awaited. A chunk keeps to its budget
                # plus one request's timeout.
                self.sending = False
            await queue.join()
        finally:
            self.sending = False
            for _ in senders:
                queue.put_nowait(None)
            await asyncio.gather(*senders, return_exceptions=True)
        if not self.dry:
            # Every batch handed out has its outcome recorded; those planned past the budget
            # never left, so the next chunk sends them without looking them up first.
            self.cursor["sent_upto"] = max(self.sent_max, self.recover_upto)
        await self.checkpoint()
        await self.correct_created_stock()
        if self.auth_refused is not None:
            raise self.auth_refused
        if self.store_down is not None:
            raise self.store_down
        return exhausted

    async def correct_created_stock(self) -> None:
        """Products created in the store carry the stock read when they were planned; a till
        sale since then could not reach the store (no link yet). Once their links are stored,
        send the level of now to those whose stock moved; later sales find the link."""
        if not self.created_stock or self.dry:
            return
        created, self.created_stock = self.created_stock, {}
        found = await asyncio.to_thread(
            self.hub.pos.get_products, [link.sku for link in created.values()]
        )
        levels = {sku.lower(): p for sku, p in found.items()}
        now: dict[int, int] = {}
        for product_id, link in created.items():
            product = levels.get(link.sku.lower())
            if product is not None and product["stock"] is not None:
                now[product_id] = max(0, product["stock"] - (product["reserved"] or 0))
        moved = [
            (link, now[product_id])
            for product_id, link in created.items()
            if product_id in now and now[product_id] != link.pushed_stock and link.store_id
        ]
        if not moved:
            return
        assert self.client is not None
        self.check()
        outcome = await self.client.batch_all(
            "products",
            update=[{"id": link.store_id, "stock_quantity": level} for link, level in moved],
        )
        for (link, level), item in zip(moved, outcome.update, strict=True):
            if is_item_error(item):
                continue  # left to the inventory push, which compares every linked product
            link.pushed_stock = level
            self.save_link(link)
            self.count("stock_corrected")
        self.flush_links()

    async def checkpoint(self) -> None:
        """Store links and advance the cursor past every product whose outcome is recorded.

        The rows are written in a thread: the senders keep the store busy meanwhile. Only
        products finished before the rows were taken are passed by the cursor."""
        finished = set(self.finished)
        writes = self.take_writes()
        if writes is not None:
            await asyncio.to_thread(writes)
        while self.planned and self.planned[0] in finished:
            done_id = self.planned.popleft()
            self.finished.discard(done_id)
            self.cursor["after_id"] = done_id
            self.cursor["done"] = int(self.cursor.get("done", 0)) + 1
        self.beat()

    async def plan_step(self, products: list[PosProduct]) -> list[Work]:
        """Decide for a step of products; record skips and unchanged ones at once."""
        assert self.pricing is not None
        categories = await self.ensure_categories({p.category for p in products if p.category})
        skus = [p.sku for p in products]
        # The database reads run in a thread: the senders' results keep coming in meanwhile.
        stored, tier_rows = await asyncio.to_thread(
            lambda: (self.stored_links(skus), self.tiers.read(self.hub, skus))
        )
        links = self.overlaid(stored, skus)
        self.tiers.absorb(tier_rows)
        work: list[Work] = []
        for p in products:
            self.planned.append(p.id)
            known = links.get(p.sku.lower())
            link = known or Link(sku=p.sku, product_id=p.id)
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
            if action.kind == "update":
                has_tiers = any(price is not None for price in p.tiers.values())
                self.tiers.clear_removed(p.sku, action.payload, has_tiers)
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
        doubtful = [
            w for w in work if w.action.kind == "create" and w.product.id <= self.recover_upto
        ]
        if doubtful and not self.dry:
            # A chunk that died (or lost the database) may have created these: look them up
            # in pages, record those that landed, and send only the rest, in full batches.
            self.count("looked_up", len(doubtful))
            resolved = await self.resolve_unclear(doubtful, first=True)
            looked = {id(w) for w in doubtful}
            work = [w for w in work if id(w) not in looked]
            work.extend(resolved)
        return work

    async def sender(self, queue: asyncio.Queue[list[Work] | None]) -> None:
        while True:
            batch = await queue.get()
            try:
                if batch is None:
                    return
                # No new write once the chunk is out of time or no longer holds its job.
                if (
                    self.store_down is None
                    and self.auth_refused is None
                    and self.sending
                    and self.holding
                ):
                    self.sent_max = max([self.sent_max, *(w.product.id for w in batch)])
                    again = await self.send(batch)
                    # Follow-ups (re-links, re-creates) go out together, not one per product.
                    assert self.client is not None
                    for part in chunks_of(again, self.client.batch_size):
                        queue.put_nowait(part)
            except Exception as exc:  # recorded per product; the job goes on
                log.exception("sending a batch failed")
                for work in batch or []:
                    self.finish_work(work, PENDING, f"not sent: {exc}")
            finally:
                queue.task_done()

    def finish_work(self, work: Work, status: str, message: str) -> None:
        link = work.link
        link.status, link.message = status, message
        if status == PENDING:
            self.count("pending")
        else:
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
        refused = outcome.auth_error()
        if refused is not None:
            self.auth_refused = refused
            for work in creates + updates:
                self.finish_work(
                    work, PENDING, f"not sent: the store refused the API key: {refused.message}"
                )
            return []
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
                # What the store holds: the level this write sent, or for a create found in
                # the store after a takeover, the level an earlier chunk sent.
                held = item.get("stock_quantity")
                link.pushed_stock = (
                    held if isinstance(held, int) else action.payload["stock_quantity"]
                )
                if action.kind == "create":
                    self.created_stock[p.id] = link
            link.store_modified = item.get("date_modified_gmt")
            dropped = self.tiers.after_write(p.sku, action.payload, item)
            if dropped:
                # Sent again by the next full sync (no pushed hash), reported until then.
                link.pushed_hash = None
                message = dropped_message(dropped, self.settings.tiers)
                self.count("tiers_dropped")
                self.errors.append((p.sku, message))
                self.finish_work(work, FAILED, message)
                return None
            if "regular_price" in action.payload:
                self.prices_written[p.sku] = str(action.payload["regular_price"])
            if action.kind == "draft":
                self.finish_work(work, SKIPPED, "not for sale online: drafted in the store")
            else:
                self.published.add(p.sku)
                self.finish_work(work, SYNCED, self.name_difference(p, action, item))
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

    def name_difference(self, p: PosProduct, action: Action, item: dict[str, Any]) -> str:
        """When the store shows another name than the one sent (WordPress trims it, say),
        say so for this product: a later sync would otherwise call it unchanged."""
        if "name" not in action.payload or "name" not in item:
            return ""
        shown = html.unescape(str(item.get("name") or ""))
        if shown == p.name:
            return ""
        message = f"the store shows the name as {shown!r}, not {p.name!r}"
        self.count("name_differs")
        self.errors.append((p.sku, message))
        return message

    async def resolve_unclear(self, unclear: list[Work], *, first: bool = False) -> list[Work]:
        """After a timeout the store may or may not have applied a write: look before retrying.

        ``first``: the works were not sent by this chunk (a takeover's doubtful creates), so
        those not found go out as they are, counting as their first attempt."""
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
        bump = 0 if first else 1
        for work in unclear:
            p, action, link = work.product, work.action, work.link
            obj = found.get(p.sku.lower())
            if obj is None:
                payload = {k: v for k, v in action.payload.items() if k != "id"}
                retry.append(
                    Work(
                        p, Action("create", p.sku, payload, action.hash), link, work.attempt + bump
                    )
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
                    Work(
                        p, Action("update", p.sku, payload, action.hash), link, work.attempt + bump
                    )
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
        # Escaped like product names: the store keeps "&", "<" and ">" as text that way.
        created = await self.client.batch_all(
            "categories", create=[{"name": html.escape(n, quote=False)} for n in missing]
        )
        refused = created.auth_error()
        if refused is not None:
            raise refused
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
        remember_preset(self.hub, self.tiers.preset)
        set_state(self.hub, "products.last_result", {"job": self.job_id, **self.result()})
        product = catalogue_tables().product
        with self.hub.session() as s:
            edited_since = s.exec(
                select(func.count())
                .select_from(product)
                .where(product.c.updated_at > datetime.fromisoformat(started))
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


# The push reads the catalogue with a join of our link rows, the product and its listing on
# the channel (one statement per page): an incremental push must find the few products changed
# since we last decided about them among 100,000 without reading them all. This is the one
# place the plugin reads core tables in SQL (hub.pos.products_page serves the full push, and
# the incremental one adds our link rows to the same select, hub.pos.catalogue_select).


def changed_condition() -> Any:
    """POS products edited since we last decided about them, never decided about, or pending."""
    product = catalogue_tables().product
    link = ProductLink.__table__  # type: ignore[attr-defined]
    listing = catalogue_tables().listing
    return or_(
        link.c.sku.is_(None),
        listing.c.status.is_(None),
        listing.c.status == PENDING,
        link.c.pos_version.is_(None),
        link.c.pos_version < product.c.updated_at,
    )


def changed_join(joined: Any) -> Any:
    product = catalogue_tables().product
    link = ProductLink.__table__  # type: ignore[attr-defined]
    listing = catalogue_tables().listing
    return joined.outerjoin(link, link.c.sku == product.c.sku).outerjoin(
        listing, (listing.c.product_id == product.c.id) & (listing.c.channel == CHANNEL)
    )


def count_pos_products(s: Session, changed_only: bool) -> int:
    product = catalogue_tables().product
    query = sa_select(func.count()).select_from(product)
    if changed_only:
        query = query.select_from(changed_join(product)).where(changed_condition())
    return int(s.execute(query).scalar_one())


def load_pos_products(
    hub: Hub, after_id: int, limit: int, changed_only: bool = False
) -> list[PosProduct]:
    """The next POS products by id, with their listing on the channel (``sync``: wanted
    there); with ``changed_only``, those edited since we last decided about them, never
    decided about, or marked pending (retry, or changed in the store)."""
    if not changed_only:
        items = hub.pos.products_page(after_id, limit, channel=CHANNEL).items
    else:
        # The core's catalogue select, with our link rows joined for changed_condition.
        base = hub.pos.catalogue_select(CHANNEL)
        product = catalogue_tables().product
        link = ProductLink.__table__  # type: ignore[attr-defined]
        query = (
            base.statement.outerjoin(link, link.c.sku == product.c.sku)
            .where(product.c.id > after_id, changed_condition())
            .order_by(product.c.id)
            .limit(limit)
        )
        with hub.session() as s:
            items = [base.item(r) for r in s.execute(query).all()]
    return [
        PosProduct(
            id=item.id,
            sku=item.sku,
            name=item.name,
            description=item.description,
            price=item.price,
            tiers={"aa": item.price_aa, "aaa": item.price_aaa, "aaaa": item.price_aaaa},
            category=item.category,
            sync=item.listing.wanted if item.listing is not None else True,
            active=item.active,
            manage_stock=item.manage_stock,
            on_hand=item.on_hand,
            reserved=item.reserved,
            updated_at=item.updated_at,
        )
        for item in items
    ]
