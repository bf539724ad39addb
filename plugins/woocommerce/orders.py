"""Order import (store to POS): idempotent, race-safe, stock moved once per transition.

Two roads lead here and may run at the same time for the same order:

- webhooks: the receiver stores each delivery in ``wc_webhook_inbox`` and queues
  :func:`plugins.woocommerce.order_inbox.import_webhook_orders`, which drains the inbox;
- polling: :func:`import_recent_orders` (periodic, Sync Now, and the inventory side) pages the
  store's orders modified since the last watermark minus an overlap, by id.

Both hand a parsed order to :func:`apply_order`. Idempotence lives in the database: the POS
order is unique on (channel, external_id), ``wc_order_link`` is keyed by the store's order id,
and every change to a linked order is a compare-and-set on ``wc_order_link.version`` made as the
transaction's first write. Whoever loses the race rolls back and re-reads, so a status
transition, its hooks and its stock movement happen exactly once. An older ``date_modified``
is never applied over a newer one.

Stock follows WooCommerce: an order holds stock while it is processing, on-hold or completed
(paid); pending, cancelled, refunded and failed do not. Entering a holding status reduces POS
stock for the matched lines; leaving it for a releasing status gives back exactly what was
reduced (``wc_order_stock_move`` keeps every movement, which also lets the inventory side
explain a store-side stock drop).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, delete, select

from hub.context import Hub
from hub.db import utcnow
from hub.jobs import Priority
from hub.models import Order, OrderLine, Product, StockLevel
from hub.pos import order_info
from hub.types import OrderInfo, OrderLineInfo, StockChange
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
from plugins.woocommerce.tables import OrderLink, OrderStockMove, ProductLink, WebhookInbox

log = logging.getLogger("hub.plugin.woocommerce.orders")

CHANNEL = "woocommerce"
KIND = "woocommerce.import_orders"
IMPORT_TASK = "import_orders"
INBOX_TASK = "import_webhook_orders"
POLL_TASK = "poll_orders"

# WooCommerce reduces stock when an order is paid (processing) or put on hold, and keeps it
# reduced through completion; these give it back.
HOLDING = frozenset({"processing", "on-hold", "completed"})
RELEASING = frozenset({"pending", "cancelled", "refunded", "failed"})

CENT = Decimal("0.01")
UNIT = Decimal("0.0001")
ATTEMPTS = 8  # re-reads after losing a race on one order
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
    digest: str


def normalize_gmt(value: Any) -> str:
    """The store's GMT timestamp as ``YYYY-MM-DDTHH:MM:SS`` (offset or Z dropped)."""
    if not isinstance(value, str) or len(value) < 19:
        raise BadOrder("date_modified_gmt: missing or not a date")
    text = value[:19]
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise BadOrder(f"date_modified_gmt: {value!r} is not a date") from None
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
    return amount


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadOrder(f"{name}: expected a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise BadOrder(f"{name}: expected a whole number, got {value!r}") from None


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
                name=str(raw.get("name") or "").strip(),
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
    # What we import, and nothing else: two bodies with equal digests are the same to us.
    digest_source = {
        "status": status,
        "total": str(total),
        "tax": str(tax),
        "customer": customer,
        "lines": [
            (ln.line_id, ln.product_id, ln.variation_id, ln.sku, ln.quantity) for ln in lines
        ],
    }
    digest = hashlib.sha256(
        json.dumps(digest_source, sort_keys=True, default=str).encode()
    ).hexdigest()
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
        digest=digest,
    )


# --- applying ----------------------------------------------------------------------------


@dataclass
class Applied:
    """What one :func:`apply_order` did, and the hooks to fire after the commit."""

    outcome: str  # imported, updated, unchanged, stale, skipped, ambiguous
    order: OrderInfo | None = None
    old_status: str | None = None
    changes: list[StockChange] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def _order_values(data: StoreOrder) -> dict[str, Any]:
    """The POS order's columns that follow the store order."""
    return {
        "customer": data.customer,
        "total": data.total,
        "tax": data.tax,
        "subtotal": data.total - data.tax,
        "payment_method": (data.payment_method or "")[:40] or None,
        "amount_paid": data.total if data.paid else None,
    }


def _match_products(s: Session, lines: Sequence[StoreLine]) -> dict[int, Product | None]:
    """For each line (by index): the POS product, by SKU first, else by the store product id."""
    skus = {ln.sku.lower() for ln in lines if ln.sku}
    by_sku: dict[str, Product] = {}
    if skus:
        for p in s.exec(select(Product).where(func.lower(Product.sku).in_(skus))).all():
            by_sku[p.sku.lower()] = p
    store_ids = {i for ln in lines for i in (ln.variation_id, ln.product_id) if i}
    by_store_id: dict[int, Product] = {}
    if store_ids:
        links = s.exec(select(ProductLink).where(col(ProductLink.store_id).in_(store_ids))).all()
        linked = {link.sku.lower(): link.store_id for link in links}
        if linked:
            for p in s.exec(select(Product).where(func.lower(Product.sku).in_(list(linked)))).all():
                store_id = linked.get(p.sku.lower())
                if store_id is not None:
                    by_store_id[store_id] = p
    matched: dict[int, Product | None] = {}
    for index, ln in enumerate(lines):
        product = by_sku.get(ln.sku.lower()) if ln.sku else None
        if product is None:
            # A variation's own id first: its link is more specific than its parent's.
            product = by_store_id.get(ln.variation_id) or by_store_id.get(ln.product_id)
        matched[index] = product
    return matched


Move = tuple[int, str, int, int | None]  # product id, SKU, delta, store line id


@dataclass(frozen=True)
class Moves:
    """The stock one order moves, and why."""

    pos_order_id: int
    data: StoreOrder
    reason: str
    moves: Sequence[Move]


def _move(s: Session, groups: Sequence[Moves]) -> list[list[StockChange]]:
    """Move POS stock for one or more orders; records each movement; changes per group.

    Each product is updated once, by the sum over all groups: a batch of orders for the same
    bestseller costs one statement, and the level each order saw is worked out from the sum.
    """
    levels = StockLevel.__table__  # type: ignore[attr-defined]
    totals: dict[int, int] = {}
    for group in groups:
        for product_id, _sku, delta, _line in group.moves:
            if delta:
                totals[product_id] = totals.get(product_id, 0) + delta
    level: dict[int, int] = {}
    now = utcnow()
    ordered = sorted(totals)
    if ordered:
        # Relative updates (never lost under concurrency), one statement run for each
        # product in product-id order: two transactions moving the same products take their
        # row locks in the same order and cannot deadlock.
        s.execute(
            update(levels)
            .where(levels.c.product_id == bindparam("pid"))
            .values(on_hand=levels.c.on_hand + bindparam("delta"), updated_at=now),
            [{"pid": p, "delta": totals[p]} for p in ordered],
        )
        # Our own rows, locked until commit: the levels read back are the ones we made.
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            for product_id, on_hand in s.execute(
                select(levels.c.product_id, levels.c.on_hand).where(levels.c.product_id.in_(chunk))
            ):
                level[product_id] = int(on_hand) - totals[product_id]  # before this call
        missing = [p for p in ordered if p not in level]
        if missing:  # products without a stock row: start them at the movement
            s.execute(
                insert(levels),
                [{"product_id": p, "on_hand": totals[p], "updated_at": now} for p in missing],
            )
            level.update((p, 0) for p in missing)
    rows = []
    changes: list[list[StockChange]] = []
    for group in groups:
        mine = []
        for product_id, sku, delta, line_id in sorted(group.moves, key=lambda m: m[0]):
            if delta == 0:
                continue
            level[product_id] += delta
            rows.append(
                {
                    "store_order_id": group.data.id,
                    "pos_order_id": group.pos_order_id,
                    "store_line_id": line_id,
                    "product_id": product_id,
                    "sku": sku,
                    "quantity": delta,
                    "status": group.data.status,
                    "store_modified": group.data.date_modified,
                    "at": now,
                }
            )
            mine.append(
                StockChange(sku, level[product_id], level[product_id] - delta, group.reason)
            )
        changes.append(mine)
    if rows:
        s.execute(insert(OrderStockMove.__table__), rows)  # type: ignore[attr-defined]
    return changes


def _lines_of(s: Session, order_id: int) -> list[OrderLine]:
    return list(
        s.exec(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(col(OrderLine.id))
        ).all()
    )


def insert_new_orders(s: Session, new: Sequence[StoreOrder]) -> list[Applied]:
    """Insert POS orders, lines, stock moves and links for store orders not yet linked.

    Core inserts, several orders per statement: the webhook drain imports a whole batch of
    new orders in one transaction this way, and a single order takes the same road.
    """
    matched = _match_products(s, [ln for data in new for ln in data.lines])
    now = utcnow()
    orders = [
        {
            "number": f"W{data.number}",
            "channel": CHANNEL,
            "external_id": str(data.id),
            "idempotency_key": None,
            "status": data.status,
            "change_due": None,
            "stock_returned": False,
            "created_at": now,
            "updated_at": now,
            **_order_values(data),
        }
        for data in new
    ]
    table = Order.__table__  # type: ignore[attr-defined]
    ids = list(
        s.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), orders
        ).scalars()
    )
    lines: list[list[dict[str, Any]]] = []
    groups: list[Moves] = []
    unmatched: list[list[str]] = []
    index = 0
    for data, order_id, order in zip(new, ids, orders, strict=True):
        mine, moves, missing = [], [], []
        holds = data.status in HOLDING
        for ln in data.lines:
            product = matched[index]
            index += 1
            quantity = ln.quantity
            unit = (ln.total / quantity).quantize(UNIT, ROUND_HALF_UP) if quantity else ln.total
            if product is None:
                # The store keeps lines for products it does not know (nameless, 0.00): so do
                # we, without a product, and say so.
                label = ln.sku or (f"product {ln.product_id}" if ln.product_id else "no product")
                missing.append(f"order {data.id} line {ln.line_id}: {label} matches no POS product")
            mine.append(
                {
                    "order_id": order_id,
                    "product_id": product.id if product else None,
                    "sku": product.sku if product else (ln.sku or None),
                    "name": (ln.name or (product.name if product else "") or "(unknown product)")[
                        :400
                    ],
                    "quantity": quantity,
                    "unit_price": unit,
                    "is_gift": False,
                    "source": CHANNEL,
                }
            )
            if holds and product is not None and product.manage_stock and quantity > 0:
                assert product.id is not None
                moves.append((product.id, product.sku, -quantity, ln.line_id))
        lines.append(mine)
        unmatched.append(missing)
        groups.append(Moves(order_id, data, f"online order {order['number']}", moves))
    every_line = [ln for mine in lines for ln in mine]
    if every_line:
        s.execute(insert(OrderLine.__table__), every_line)  # type: ignore[attr-defined]
    changes = _move(s, groups)
    s.execute(
        insert(OrderLink.__table__),  # type: ignore[attr-defined]
        [
            {
                "store_id": data.id,
                "pos_order_id": order_id,
                "status": data.status,
                "date_modified": data.date_modified,
                "digest": data.digest,
                "stock_held": data.status in HOLDING,
                "version": 0,
                "created_at": now,
                "updated_at": now,
            }
            for data, order_id in zip(new, ids, strict=True)
        ],
    )
    # Built from the rows, not from ORM objects: constructing those costs more than the inserts.
    return [
        Applied(
            "imported",
            OrderInfo(
                id=order_id,
                number=order["number"],
                channel=CHANNEL,
                status=order["status"],
                created_at=now,
                lines=tuple(
                    OrderLineInfo(
                        sku=ln["sku"],
                        name=ln["name"],
                        quantity=ln["quantity"],
                        unit_price=ln["unit_price"],
                        source=CHANNEL,
                    )
                    for ln in mine
                ),
                subtotal=order["subtotal"],
                tax=order["tax"],
                total=order["total"],
                payment_method=order["payment_method"],
                amount_paid=order["amount_paid"],
                external_id=order["external_id"],
                customer=order["customer"],
            ),
            None,
            moved,
            missing,
        )
        for order_id, order, mine, moved, missing in zip(
            ids, orders, lines, changes, unmatched, strict=True
        )
    ]


def _update(s: Session, link: OrderLink, data: StoreOrder) -> Applied | None:
    """Apply a newer version to a linked order; ``None`` when another writer got there first."""
    # Read before the update below: an ORM update also refreshes ``link`` in the session.
    old_status, was_held, old_digest, version = (
        link.status,
        link.stock_held,
        link.digest,
        link.version,
    )
    holds = was_held
    if not holds and data.status in HOLDING:
        holds = True
    elif holds and data.status in RELEASING:
        holds = False
    # The compare-and-set, first write of the transaction: it takes the row (PostgreSQL) or
    # the database (SQLite) for the rest of it, and fails if anyone changed the link since.
    result = s.exec(  # type: ignore[call-overload]
        update(OrderLink)
        .where(col(OrderLink.store_id) == data.id, col(OrderLink.version) == version)
        .values(
            status=data.status,
            date_modified=data.date_modified,
            digest=data.digest,
            stock_held=holds,
            version=version + 1,
            updated_at=utcnow(),
        )
    )
    if result.rowcount != 1:
        return None
    order = s.get(Order, link.pos_order_id)
    if order is None:
        raise RuntimeError(f"store order {data.id}: POS order {link.pos_order_id} is missing")
    changed = data.digest != old_digest
    changes: list[StockChange] = []
    if holds and not was_held:
        # Held again (paid, or re-opened after a cancel): reduce by the lines as they are now.
        lines = _lines_of(s, link.pos_order_id)
        moves: list[Move] = []
        for ln in lines:
            product = s.get(Product, ln.product_id) if ln.product_id else None
            if product is not None and product.manage_stock and ln.quantity > 0:
                assert product.id is not None
                moves.append((product.id, product.sku, -ln.quantity, None))
        [changes] = _move(
            s, [Moves(link.pos_order_id, data, f"online order {order.number}", moves)]
        )
        order.stock_returned = False
    elif was_held and not holds:
        # Give back exactly what this order still holds, whatever its lines say now.
        net: dict[tuple[int, str], int] = {}
        for move in s.exec(
            select(OrderStockMove).where(OrderStockMove.store_order_id == data.id)
        ).all():
            key = (move.product_id, move.sku)
            net[key] = net.get(key, 0) + move.quantity
        returns: list[Move] = [(pid, sku, -q, None) for (pid, sku), q in net.items() if q < 0]
        reason = f"online order {order.number} {data.status}"
        [changes] = _move(s, [Moves(link.pos_order_id, data, reason, returns)])
        order.stock_returned = True
    if changed or changes:
        order.status = data.status
        for name, value in _order_values(data).items():
            setattr(order, name, value)
        order.updated_at = utcnow()
        s.add(order)
    s.flush()
    info = order_info(order, _lines_of(s, link.pos_order_id))
    if old_status == data.status and not changes:
        return Applied("unchanged" if not changed else "updated", info)
    return Applied("updated", info, old_status, changes)


def apply_order(
    hub: Hub,
    data: StoreOrder,
    *,
    authoritative: bool,
    settings: WooCommerceSettings | None = None,
    stock_changes: list[StockChange] | None = None,
) -> Applied:
    """Import or update one store order; fires the hooks after the commit.

    ``authoritative`` says ``data`` was just read from the store (a poll or a fetch), so when
    it shares its ``date_modified`` second with the applied version but differs, it wins. A
    webhook body in that case is ``ambiguous``: the caller reads the order from the store.
    With ``stock_changes`` given, stock changes are added to it for the caller to announce in
    one ``inventory_stock_changed`` call per batch (its listeners cost per call).
    """
    settings = settings or settings_of(hub)
    for attempt in range(ATTEMPTS):
        try:
            with hub.session() as s:
                link = s.get(OrderLink, data.id)
                if link is None:
                    if data.status not in settings.import_order_statuses:
                        return Applied("skipped")
                    [applied] = insert_new_orders(s, [data])
                else:
                    if data.date_modified < link.date_modified:
                        return Applied("stale")
                    if data.date_modified == link.date_modified:
                        if data.digest == link.digest:
                            return Applied("unchanged")
                        if not authoritative:
                            return Applied("ambiguous")
                    maybe = _update(s, link, data)
                    if maybe is None:
                        s.rollback()
                        continue  # someone else changed it: read again
                    applied = maybe
                s.commit()
        except (IntegrityError, OperationalError) as exc:
            # A concurrent import of the same new order won (unique keys), or a lock timed out.
            log.debug("order %s: retrying after %s", data.id, type(exc).__name__)
            time.sleep(0.01 * (attempt + 1))
            continue
        fire_applied(hub, applied, stock_changes)
        return applied
    raise RuntimeError(f"store order {data.id}: gave up after {ATTEMPTS} concurrent changes")


def fire_applied(
    hub: Hub, applied: Applied, stock_changes: list[StockChange] | None = None
) -> None:
    if applied.order is not None:
        if applied.outcome == "imported":
            hub.call("orders_imported", order=applied.order)
        elif applied.old_status is not None and applied.old_status != applied.order.status:
            hub.call(
                "orders_status_changed",
                order=applied.order,
                old_status=applied.old_status,
                new_status=applied.order.status,
            )
    if stock_changes is not None:
        stock_changes.extend(applied.changes)
    elif applied.changes:
        hub.call("inventory_stock_changed", changes=applied.changes)


def announce_stock(hub: Hub, changes: list[StockChange]) -> None:
    if changes:
        hub.call("inventory_stock_changed", changes=list(changes))
        changes.clear()


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
    stock_changes: list[StockChange] = []
    async with make_client(settings, events) as client:
        # Paged by id (the client always does): paging by date skips orders sharing a second.
        async for page in client.iter_orders(modified_after=since, status="any"):
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
                try:
                    applied = await asyncio.to_thread(
                        apply_order,
                        hub,
                        data,
                        authoritative=True,
                        settings=settings,
                        stock_changes=stock_changes,
                    )
                except Exception as exc:  # one bad order must not stop the others
                    log.exception("order %s failed to import", data.id)
                    counts["failed"] += 1
                    errors.append((f"order {data.id}", f"{type(exc).__name__}: {exc}"))
                    continue
                _tally(counts, applied.outcome)
                errors.extend((f"order {data.id}", m) for m in applied.unmatched)
            announce_stock(hub, stock_changes)
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
    job, created = hub.jobs.request(KIND, trigger="direct")
    job_id: int | None = None
    if created and job.id is not None and hub.jobs.claim(job.id) is not None:
        job_id = job.id
    return _run_poll(hub, job_id)


def request_import(hub: Hub, trigger: str, *, supersede: bool = False) -> tuple[Any, bool]:
    """Queue a poll job (Sync Now: ``supersede=True``); returns (job, created)."""
    job, created = hub.jobs.request(KIND, trigger=trigger, supersede=supersede)
    if created:
        hub.enqueue(IMPORT_TASK, job.id, priority=Priority.ORDER_IMPORT)
    return job, created


def import_orders_task(hub: Hub, job_id: int) -> None:
    """Task: run a queued poll job."""
    if hub.jobs.claim(job_id) is None:
        return  # superseded, or another poll holds the lock
    _run_poll(hub, job_id)


def poll_orders_periodic(hub: Hub) -> None:
    """Task (periodic): the safety net. Polls, drains leftovers in the inbox, prunes it."""
    if not settings_of(hub).configured:
        return
    request_import(hub, "schedule")
    hub.enqueue(INBOX_TASK, priority=Priority.ORDER_IMPORT)
    with hub.session() as s:
        s.exec(  # type: ignore[call-overload]
            delete(WebhookInbox).where(
                col(WebhookInbox.processed_at).is_not(None),
                col(WebhookInbox.received_at) < utcnow() - INBOX_KEPT,
            )
        )
        s.commit()


# --- health ------------------------------------------------------------------------------


def orders_summary(hub: Hub) -> dict[str, Any]:
    """Figures for the health monitor."""
    with hub.session() as s:
        linked = s.exec(select(func.count()).select_from(OrderLink)).one()
        pending = s.exec(
            select(func.count())
            .select_from(WebhookInbox)
            .where(col(WebhookInbox.processed_at).is_(None))
        ).one()
        failed = s.exec(
            select(func.count()).select_from(WebhookInbox).where(WebhookInbox.outcome == "failed")
        ).one()
    last = hub.jobs.latest(KIND)
    return {
        "imported": int(linked),
        "inbox_pending": int(pending),
        "webhook_failures": int(failed),
        "watermark": get_state(hub, "orders.watermark"),
        "last_poll": get_state(hub, "orders.last_poll"),
        "last_webhook_import": get_state(hub, "orders.last_webhook_import"),
        "webhooks": get_state(hub, "webhooks.status"),
        "last_job": None
        if last is None
        else {"id": last.id, "status": last.status, "errors": (last.errors or [])[:50]},
    }
