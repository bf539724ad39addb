"""Order import (store to POS): idempotent, race-safe, stock moved once per transition.

Two roads lead here and may run at the same time for the same order:

- webhooks: the receiver stores each delivery in the core's webhook inbox
  (:mod:`hub.webhooks`), which the core drains into
  :func:`plugins.woocommerce.order_inbox.handle_deliveries`;
- polling: :func:`import_recent_orders` (periodic, Sync Now, and the inventory side) pages the
  store's orders modified since the last watermark minus an overlap, by id.

Both parse the store's JSON into a :class:`hub.types.ChannelOrder` and hand it to the core's
``pos.import_order`` / ``pos.import_orders``, which applies each order once per store order id
under any concurrency, never applies an older ``date_modified`` over a newer one, moves POS
stock in the same transaction and fires the hooks (docs/woocommerce-orders.md). What stays
here is what only WooCommerce needs: reading its order bodies, its polling window and
watermark, and which store statuses give stock back (``restock_order_statuses``).

Stock follows WooCommerce: an order holds stock unless its status is one of
``restock_order_statuses`` (pending, cancelled, refunded, failed by default: WooCommerce
reduces stock when an order is paid or put on hold); the core gives it back once and takes it
again if the order is re-opened, and records every movement in ``order_stock_move``, which
also lets the inventory side explain a store-side stock drop.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from hub.api import (
    INT_MAX,
    MONEY_MAX,
    ChannelOrder,
    ChannelOrderLine,
    ChunkLease,
    Hub,
    ImportedOrder,
    Lease,
    Priority,
    utcnow,
)
from plugins.woocommerce.client_errors import AuthError, StoreError
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.store import (
    EventLog,
    get_state,
    make_client,
    record_event,
    set_state,
    settings_of,
)

log = logging.getLogger("hub.plugin.woocommerce.orders")

CHANNEL = "woocommerce"
KIND = "woocommerce.import_orders"
IMPORT_TASK = "import_orders"
POLL_TASK = "poll_orders"

UNIT = Decimal("0.0001")
INBOX_KEPT = timedelta(days=7)


class BadOrder(ValueError):
    """A store order body we cannot import; the message names the field."""


# --- parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreLine:
    line_id: int | None
    product_id: int
    variation_id: int
    sku: str
    name: str
    quantity: int
    total: Decimal


@dataclass(frozen=True)
class StoreOrder:
    id: int
    number: str
    status: str
    date_modified: str  # GMT, "YYYY-MM-DDTHH:MM:SS": compares as text
    customer: str | None
    total: Decimal
    tax: Decimal
    payment_method: str | None
    paid: bool
    lines: tuple[StoreLine, ...]
    date_created: str | None = None  # GMT, same shape; when the customer placed it


GMT_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def normalize_gmt(value: Any, name: str = "date_modified_gmt") -> str:
    """The store's GMT timestamp as ``YYYY-MM-DDTHH:MM:SS`` (offset or Z dropped); a bad one
    is a :class:`BadOrder` naming the field ``name``."""
    if not isinstance(value, str) or len(value) < 19:
        raise BadOrder(f"{name}: missing or not a date")
    text = value[:19]
    # The shape first (the text is compared as text), then the calendar; fromisoformat is
    # ten times quicker than strptime, which every delivery pays for.
    try:
        if not GMT_SHAPE.fullmatch(text):
            raise ValueError
        datetime.fromisoformat(text)
    except ValueError:
        raise BadOrder(f"{name}: {value!r} is not a date") from None
    return text


def _money(value: Any, name: str) -> Decimal:
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, float):  # JSON numbers from a store plugin; never do float maths
        value = repr(value)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise BadOrder(f"{name}: {value!r} is not an amount") from None
    if not amount.is_finite():
        raise BadOrder(f"{name}: {value!r} is not an amount")
    if abs(amount) > MONEY_MAX:  # what the money columns hold
        raise BadOrder(f"{name}: {value!r} is out of range")
    return amount


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadOrder(f"{name}: expected a whole number, got {value!r}")
    if isinstance(value, str) and len(value) > 20:
        raise BadOrder(f"{name}: expected a whole number, got {value[:20]!r}...")
    try:
        number = int(value)
    except ValueError:
        raise BadOrder(f"{name}: expected a whole number, got {value!r}") from None
    if abs(number) > INT_MAX:  # ids and quantities are 32-bit columns on PostgreSQL
        raise BadOrder(f"{name}: {number} is out of range (at most {INT_MAX})")
    return number


def parse_order(obj: Any) -> StoreOrder:
    """Read a store order (a GET body or a webhook body); raise :class:`BadOrder`."""
    if not isinstance(obj, dict):
        raise BadOrder("body: expected a JSON object")
    order_id = _int(obj.get("id"), "id")
    if order_id <= 0:
        raise BadOrder("id: must be positive")
    status = obj.get("status")
    if not isinstance(status, str) or not status:
        raise BadOrder("status: missing")
    modified = normalize_gmt(obj.get("date_modified_gmt") or obj.get("date_modified"))
    placed = obj.get("date_created_gmt") or obj.get("date_created")
    created = None if placed is None else normalize_gmt(placed, "date_created_gmt")
    raw_lines = obj.get("line_items") or []
    if not isinstance(raw_lines, list):
        raise BadOrder("line_items: expected a list")
    lines = []
    for index, raw in enumerate(raw_lines):
        if not isinstance(raw, dict):
            raise BadOrder(f"line_items[{index}]: expected an object")
        lines.append(
            StoreLine(
                line_id=_int(raw.get("id"), f"line_items[{index}].id", 0) or None,
                product_id=_int(raw.get("product_id"), f"line_items[{index}].product_id", 0),
                variation_id=_int(raw.get("variation_id"), f"line_items[{index}].variation_id", 0),
                sku=str(raw.get("sku") or "").strip(),
                # The store keeps names HTML-escaped ("Café &amp; Thé"): the POS holds text.
                name=html.unescape(str(raw.get("name") or "")).strip(),
                quantity=_int(raw.get("quantity"), f"line_items[{index}].quantity", 0),
                total=_money(raw.get("total"), f"line_items[{index}].total"),
            )
        )
    raw_billing = obj.get("billing")
    billing: dict[str, Any] = raw_billing if isinstance(raw_billing, dict) else {}
    name = " ".join(str(billing.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    customer = name or str(billing.get("company") or billing.get("email") or "").strip() or None
    total = _money(obj.get("total"), "total")
    tax = _money(obj.get("total_tax"), "total_tax")
    return StoreOrder(
        id=order_id,
        number=str(obj.get("number") or order_id)[:50],
        status=status[:40],
        date_modified=modified,
        customer=customer[:200] if customer else None,
        total=total,
        tax=tax,
        payment_method=(str(obj.get("payment_method") or "") or None),
        paid=bool(obj.get("date_paid_gmt") or obj.get("date_paid")),
        lines=tuple(lines),
        date_created=created,
    )


def gmt_datetime(text: str) -> datetime:
    """A :func:`normalize_gmt` text as a timezone-aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def order_record(data: StoreOrder) -> dict[str, Any]:
    """What the webhook inbox keeps of a checked order: the fields the import reads, not the
    store's whole body (a tenth of its size to store, and nothing to check again)."""
    return {
        "checked": 1,
        "id": data.id,
        "number": data.number,
        "status": data.status,
        "date_modified": data.date_modified,
        "date_created": data.date_created,
        "customer": data.customer,
        "total": str(data.total),
        "tax": str(data.tax),
        "payment_method": data.payment_method,
        "paid": data.paid,
        "lines": [
            [
                ln.line_id,
                ln.product_id,
                ln.variation_id,
                ln.sku,
                ln.name,
                ln.quantity,
                str(ln.total),
            ]
            for ln in data.lines
        ],
    }


def read_order(payload: Any) -> StoreOrder:
    """An inbox payload as a :class:`StoreOrder`: an :func:`order_record`, or a store body
    (rows stored before records were kept), which is checked as it is parsed."""
    if not (isinstance(payload, dict) and payload.get("checked") == 1):
        return parse_order(payload)
    lines = tuple(
        StoreLine(lid, pid, vid, sku, name, qty, Decimal(total))
        for lid, pid, vid, sku, name, qty, total in payload["lines"]
    )
    return StoreOrder(
        id=payload["id"],
        number=payload["number"],
        status=payload["status"],
        date_modified=payload["date_modified"],
        customer=payload["customer"],
        total=Decimal(payload["total"]),
        tax=Decimal(payload["tax"]),
        payment_method=payload["payment_method"],
        paid=payload["paid"],
        lines=lines,
        date_created=payload.get("date_created"),  # absent from records kept before it was
    )


# --- importing ---------------------------------------------------------------------------

OUTCOME_WORDS = {"created": "imported"}  # the core's word, and ours in job results and the inbox


def outcome_word(result: ImportedOrder) -> str:
    return OUTCOME_WORDS.get(result.outcome, result.outcome)


def _linked_skus(hub: Hub, orders: Sequence[StoreOrder]) -> dict[int, str]:
    """POS SKUs of the store products (and variations) these orders' lines name by id: the
    fallback for a line whose SKU matches nothing (a store product whose SKU was cleared)."""
    store_ids = {
        i for data in orders for ln in data.lines for i in (ln.variation_id, ln.product_id) if i
    }
    if not store_ids:
        return {}
    # The store id is the product's listing on the channel (hub.channels).
    found = hub.channels.by_external_ids(CHANNEL, [str(i) for i in store_ids])
    return {int(store_id): sku for store_id, sku in found.items()}


def channel_order(data: StoreOrder, linked: dict[int, str]) -> ChannelOrder:
    """The store order as the POS imports it."""
    lines = []
    for ln in data.lines:
        quantity = ln.quantity
        unit = (ln.total / quantity).quantize(UNIT, ROUND_HALF_UP) if quantity else ln.total
        # A variation's own id first: its link is more specific than its parent's.
        fallback = linked.get(ln.variation_id) or linked.get(ln.product_id)
        lines.append(
            ChannelOrderLine(
                sku=ln.sku or None,
                name=ln.name,
                quantity=quantity,
                unit_price=unit,
                external_id=str(ln.line_id) if ln.line_id else None,
                fallback_sku=fallback,
            )
        )
    return ChannelOrder(
        external_id=str(data.id),
        number=f"W{data.number}",
        status=data.status,
        modified_at=gmt_datetime(data.date_modified),
        lines=tuple(lines),
        subtotal=data.total - data.tax,
        tax=data.tax,
        total=data.total,
        customer=data.customer,
        payment_method=data.payment_method,
        amount_paid=data.total if data.paid else None,
        created_at=None if data.date_created is None else gmt_datetime(data.date_created),
    )


def import_store_orders(
    hub: Hub,
    orders: Sequence[StoreOrder],
    *,
    authoritative: bool,
    settings: WooCommerceSettings | None = None,
) -> list[ImportedOrder]:
    """Import store orders through ``pos.import_orders`` (one batch, hooks fired by the core).

    ``authoritative`` says they were just read from the store, so one that shares its
    ``date_modified`` second with the applied version but differs wins; a webhook body in that
    case is a ``"conflict"``, and the caller reads the order from the store.
    """
    settings = settings or settings_of(hub)
    linked = _linked_skus(hub, orders)
    return hub.pos.import_orders(
        CHANNEL,
        [channel_order(data, linked) for data in orders],
        restock_statuses=settings.restock_order_statuses,
        create_statuses=settings.import_order_statuses,
        authoritative=authoritative,
    )


def apply_order(
    hub: Hub,
    data: StoreOrder,
    *,
    authoritative: bool,
    settings: WooCommerceSettings | None = None,
) -> ImportedOrder:
    """Import or update one store order through ``pos.import_order``."""
    settings = settings or settings_of(hub)
    return hub.pos.import_order(
        CHANNEL,
        channel_order(data, _linked_skus(hub, [data])),
        restock_statuses=settings.restock_order_statuses,
        create_statuses=settings.import_order_statuses,
        authoritative=authoritative,
    )


# --- polling -----------------------------------------------------------------------------


def _counts() -> dict[str, Any]:
    return {"imported": 0, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 0}


def _tally(counts: dict[str, Any], outcome: str) -> None:
    key = "unchanged" if outcome == "stale" else outcome
    counts[key] = counts.get(key, 0) + 1


def _window_start(hub: Hub, settings: WooCommerceSettings) -> datetime:
    watermark = get_state(hub, "orders.watermark")
    if watermark:
        start = datetime.fromisoformat(watermark).replace(tzinfo=UTC)
        return start - timedelta(seconds=settings.order_poll_overlap_seconds)
    return utcnow() - timedelta(hours=settings.order_first_poll_hours)


def _advance_watermark(hub: Hub, newest: str) -> None:
    """Only forward: a concurrent poll that saw less never moves it back."""
    current = get_state(hub, "orders.watermark")
    if newest and (not current or newest > current):
        set_state(hub, "orders.watermark", newest)


async def _poll(
    hub: Hub,
    settings: WooCommerceSettings,
    job_id: int | None,
    events: EventLog,
    errors: list[tuple[str | None, str]],
) -> dict[str, Any]:
    counts = _counts()
    since = _window_start(hub, settings)
    newest = ""
    done = 0
    async with make_client(settings, events) as client:
        try:
            # Paged by id (the client always does): paging by date skips orders sharing a second.
            async for page in client.iter_orders(modified_after=since, status="any"):
                parsed: list[StoreOrder] = []
                for obj in page.items:
                    done += 1
                    try:
                        data = parse_order(obj)
                    except BadOrder as exc:
                        counts["failed"] += 1
                        ident = obj.get("id") if isinstance(obj, dict) else None
                        errors.append((f"order {ident}", str(exc)))
                        continue
                    newest = max(newest, data.date_modified)
                    parsed.append(data)
                # One batch per page: the new orders in one transaction, stock announced once.
                results = await asyncio.to_thread(
                    import_store_orders, hub, parsed, authoritative=True, settings=settings
                )
                for data, result in zip(parsed, results, strict=True):
                    if result.outcome == "failed":
                        counts["failed"] += 1
                        errors.append((f"order {data.id}", result.error))
                        continue
                    _tally(counts, outcome_word(result))
                    errors.extend((f"order {data.id}", m) for m in result.unmatched)
                if job_id is not None and not hub.jobs.heartbeat(
                    job_id,
                    done=done,
                    total=page.total,
                    failed=counts["failed"],
                    phase=f"reading orders: page {page.number}"
                    + (f" of {page.total_pages}" if page.total_pages else ""),
                ):
                    counts["superseded"] = True
                    return counts
        finally:
            # The poll's requests count in the figures of a job that asked for it.
            counts["client"] = client.stats.as_dict()
    # The whole window was read: the next poll may start from the newest change seen.
    _advance_watermark(hub, newest)
    counts["since"] = since.strftime("%Y-%m-%dT%H:%M:%S")
    return counts


def _run_poll(hub: Hub, job_id: int | None) -> dict[str, Any]:
    settings = settings_of(hub)
    events = EventLog()
    errors: list[tuple[str | None, str]] = []
    started = time.monotonic()
    try:
        if not settings.configured:
            raise StoreError("not_configured", "the store URL and API keys are not configured")
        counts = asyncio.run(_poll(hub, settings, job_id, events, errors))
    except AuthError as exc:
        hub.report_state("auth_failed", f"the store refused the API key: {exc}")
        return _poll_failed(hub, job_id, events, errors, exc)
    except StoreError as exc:
        return _poll_failed(hub, job_id, events, errors, exc)
    events.flush(hub)
    counts["seconds"] = round(time.monotonic() - started, 3)
    if job_id is not None:
        hub.jobs.add_errors(job_id, errors)
    if counts.pop("superseded", False):
        return counts
    result = {**counts, "at": utcnow().isoformat()}
    set_state(hub, "orders.last_poll", result)
    if job_id is not None:
        hub.jobs.finish(job_id, "failed" if counts["failed"] else "succeeded", result)
    return counts


def _poll_failed(
    hub: Hub,
    job_id: int | None,
    events: EventLog,
    errors: list[tuple[str | None, str]],
    exc: StoreError,
) -> dict[str, Any]:
    events.flush(hub)
    message = f"{type(exc).__name__}: {exc}"
    record_event(hub, "orders_poll_failed", message)
    counts = _counts()
    counts["error"] = message
    if job_id is not None:
        hub.jobs.add_errors(job_id, [*errors, (None, message)])
        hub.jobs.finish(job_id, "failed", counts)
    return counts


def import_recent_orders(hub: Hub) -> dict[str, Any]:
    """Poll the store and import or update every order changed since the last poll.

    Synchronous. Reads orders modified after the stored watermark minus the overlap (paged by
    id), applies each idempotently, and returns counts:
    ``{"imported", "updated", "unchanged", "skipped", "failed"}`` (plus ``"error"`` when the
    store could not be read). Safe beside webhook imports and other polls: if another poll job
    is active this one runs beside it without a ledger row (the database keeps it idempotent).
    """
    job, created = _request(hub, "direct")
    lease = hub.jobs.claim(job.id) if created and job.id is not None else None
    if not isinstance(lease, Lease):
        return _run_poll(hub, None)
    # The keeper renews the lease while the poll waits on a slow store.
    with ChunkLease(hub, lease):
        return _run_poll(hub, lease.job_id)


def request_import(hub: Hub, trigger: str, *, supersede: bool = False) -> tuple[Any, bool]:
    """Queue a poll job (Sync Now: ``supersede=True``); returns (job, created)."""
    job, created = _request(hub, trigger, supersede=supersede)
    if created:
        hub.enqueue(IMPORT_TASK, job.id, priority=Priority.ORDER_IMPORT)
    return job, created


def _request(hub: Hub, trigger: str, *, supersede: bool = False) -> tuple[Any, bool]:
    # The ledger keeps the task: when the worker running the poll dies, the core's scheduler
    # queues it again once the lease runs out, and the poll resumes from the watermark.
    return hub.jobs.request(
        KIND,
        trigger=trigger,
        supersede=supersede,
        task=hub.task_name(IMPORT_TASK),
        priority=Priority.ORDER_IMPORT,
    )


def import_orders_task(hub: Hub, job_id: int, generation: int | None = None) -> None:
    """Task: run a queued poll job, or take over one whose worker died (``generation`` is
    the core's takeover call; the claim decides either way)."""
    lease = hub.jobs.claim(job_id)
    if not isinstance(lease, Lease):
        return  # superseded, or another poll holds the lock
    with ChunkLease(hub, lease):  # renewed while the poll waits on a slow store
        _run_poll(hub, job_id)


def poll_orders_periodic(hub: Hub) -> None:
    """Task (periodic): the safety net. Polls, drains leftovers in the inbox, prunes it."""
    if not settings_of(hub).configured:
        return
    request_import(hub, "schedule")
    inbox = hub.inbox(CHANNEL)
    hub.enqueue(inbox.task, priority=Priority.ORDER_IMPORT)
    inbox.prune(INBOX_KEPT)


# --- health ------------------------------------------------------------------------------


def orders_summary(hub: Hub) -> dict[str, Any]:
    """Figures for the health monitor."""
    inbox = hub.inbox(CHANNEL).summary()
    last = hub.jobs.latest(KIND)
    return {
        "imported": hub.pos.channel_order_count(CHANNEL),
        "inbox_pending": inbox["pending"],
        "webhook_failures": inbox["failed"],
        "watermark": get_state(hub, "orders.watermark"),
        "last_poll": get_state(hub, "orders.last_poll"),
        "last_webhook_import": get_state(hub, "orders.last_webhook_import"),
        "webhooks": get_state(hub, "webhooks.status"),
        "last_job": None
        if last is None
        else {"id": last.id, "status": last.status, "errors": (last.errors or [])[:50]},
    }
