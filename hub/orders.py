"""Orders imported from channels: applied once, stock moved once per change.

:meth:`hub.pos.Pos.import_order` and :meth:`hub.pos.Pos.import_orders` are the way in; this
module does the work inside their transactions, and they fire the hooks after the commit.

Idempotence lives in the database, so any number of webhook drains and polls may import the
same order at the same moment:

- a new order is an INSERT into ``pos_order``, unique on (channel, external_id): a racing
  insert fails on the index, and the loser reads again and goes the update road;
- every change to an existing order is a compare-and-set on ``pos_order.version`` made as the
  transaction's first write (it takes the row on PostgreSQL, the database on SQLite): the
  loser rolls back and reads again;
- ``modified_at`` is the channel's version: an older one is never applied over a newer one.

Stock follows what the order should hold: while its status is not one of the channel's
``restock_statuses``, the quantities of its lines that match a stock-managed product; in a
restock status, nothing. ``order_stock_move`` keeps every movement, and the sum per product
is what the order holds now, so each import moves only the difference: a cancel gives the
stock back once, a reinstatement takes it again, an edited line moves what changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from hub.db import INT_MAX, MONEY_MAX, SessionFactory, utcnow
from hub.errors import InputError
from hub.models import Order, OrderLine, OrderStockMove, Product, StockLevel
from hub.revisions import stamp_revision
from hub.types import (
    ChannelOrder,
    ImportedOrder,
    ImportOutcome,
    OrderInfo,
    OrderLineInfo,
    StockChange,
)

log = logging.getLogger("hub.orders")

ATTEMPTS = 20  # reads again after losing a race on one order
ORDERS = Order.__table__  # type: ignore[attr-defined]
LINES = OrderLine.__table__  # type: ignore[attr-defined]
MOVES = OrderStockMove.__table__  # type: ignore[attr-defined]
LEVELS = StockLevel.__table__  # type: ignore[attr-defined]
PRODUCTS = Product.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Rules:
    """A channel's rules for one import call."""

    channel: str
    restock_statuses: frozenset[str]
    create_statuses: frozenset[str] | None = None

    def holds(self, status: str) -> bool:
        """Whether an order in ``status`` holds stock."""
        return status not in self.restock_statuses


# --- checking what a channel sends -------------------------------------------------------


def check_order(channel: str, order: ChannelOrder) -> None:
    """Raise :class:`InputError` naming the field when ``order`` cannot be imported."""
    if not channel or len(channel) > 40 or channel == "till":
        raise InputError("channel", f"{channel!r} is not a channel name (1-40 characters)")
    if not isinstance(order.external_id, str) or not 0 < len(order.external_id) <= 100:
        raise InputError("external_id", f"{order.external_id!r}: expected 1-100 characters")
    if not isinstance(order.number, str) or not 0 < len(order.number) <= 64:
        raise InputError("number", f"{order.number!r}: expected 1-64 characters")
    if not isinstance(order.status, str) or not 0 < len(order.status) <= 40:
        raise InputError("status", f"{order.status!r}: expected 1-40 characters")
    for name in ("modified_at", "created_at"):
        value = getattr(order, name)
        if value is None and name == "created_at":
            continue
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InputError(name, f"{value!r}: expected a timezone-aware datetime")
    for name in ("subtotal", "tax", "total", "amount_paid"):
        _check_money(name, getattr(order, name), optional=name == "amount_paid")
    for index, line in enumerate(order.lines):
        where = f"lines[{index}]"
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int):
            raise InputError(f"{where}.quantity", f"{line.quantity!r}: expected a whole number")
        if not 0 <= line.quantity <= INT_MAX:
            raise InputError(f"{where}.quantity", f"{line.quantity} is out of range")
        _check_money(f"{where}.unit_price", line.unit_price)
        for name in ("sku", "fallback_sku", "external_id"):
            value = getattr(line, name)
            if value is not None and (not isinstance(value, str) or len(value) > 100):
                raise InputError(f"{where}.{name}", f"{value!r}: expected at most 100 characters")
        if not isinstance(line.name, str):
            raise InputError(f"{where}.name", f"{line.name!r}: expected text")


def _check_money(name: str, value: Any, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, Decimal) or not value.is_finite() or abs(value) > MONEY_MAX:
        raise InputError(name, f"{value!r}: expected a Decimal of at most {MONEY_MAX}")


def digest(order: ChannelOrder) -> str:
    """A fingerprint of what we import: two versions with equal digests are the same to us."""
    source = {
        "status": order.status,
        "totals": [str(order.subtotal), str(order.tax), str(order.total), str(order.amount_paid)],
        "customer": order.customer,
        "payment": order.payment_method,
        "lines": [
            (ln.external_id, ln.sku, ln.fallback_sku, ln.name, ln.quantity, str(ln.unit_price))
            for ln in order.lines
        ],
    }
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()


def _values(order: ChannelOrder) -> dict[str, Any]:
    """The POS order's columns that follow the channel's order."""
    return {
        "status": order.status,
        "customer": (order.customer or "")[:200] or None,
        "subtotal": order.subtotal,
        "tax": order.tax,
        "total": order.total,
        "payment_method": (order.payment_method or "")[:40] or None,
        "amount_paid": order.amount_paid,
    }


# --- matching and moving -----------------------------------------------------------------


@dataclass(frozen=True)
class _Product:
    id: int
    sku: str
    name: str
    manage_stock: bool


def _products(s: Session, skus: Collection[str]) -> dict[str, _Product]:
    """Products by lower-cased SKU (the unique index on ``lower(sku)`` serves it)."""
    keys = sorted({sku.lower() for sku in skus if sku})
    found: dict[str, _Product] = {}
    for start in range(0, len(keys), 500):
        rows = s.execute(
            select(PRODUCTS.c.id, PRODUCTS.c.sku, PRODUCTS.c.name, PRODUCTS.c.manage_stock).where(
                func.lower(PRODUCTS.c.sku).in_(keys[start : start + 500])
            )
        ).all()
        for pid, sku, name, managed in rows:
            found[sku.lower()] = _Product(int(pid), sku, name, bool(managed))
    return found


def _match(s: Session, orders: Sequence[ChannelOrder]) -> list[list[_Product | None]]:
    """Per order, per line: the POS product by SKU, else by the line's fallback SKU."""
    wanted = {sku for o in orders for ln in o.lines for sku in (ln.sku, ln.fallback_sku) if sku}
    found = _products(s, wanted)
    return [
        [
            (found.get(ln.sku.lower()) if ln.sku else None)
            or (found.get(ln.fallback_sku.lower()) if ln.fallback_sku else None)
            for ln in o.lines
        ]
        for o in orders
    ]


def _line_rows(
    channel: str, order_id: int, order: ChannelOrder, products: Sequence[_Product | None]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The order's line rows, and a message for each line that matches no product."""
    rows, missing = [], []
    for index, (ln, product) in enumerate(zip(order.lines, products, strict=True)):
        if product is None:
            # Kept without a product (the channel keeps such lines too), and said so.
            label = ln.sku or ln.fallback_sku or "no SKU"
            line = ln.external_id or str(index + 1)
            missing.append(f"order {order.external_id} line {line}: {label} matches no POS product")
        rows.append(
            {
                "order_id": order_id,
                "product_id": product.id if product else None,
                "sku": product.sku if product else (ln.sku or None),
                "name": (ln.name or (product.name if product else "") or "(unknown product)")[:400],
                "quantity": ln.quantity,
                "unit_price": ln.unit_price,
                "is_gift": False,
                "source": channel,
            }
        )
    return rows, missing


Move = tuple[int, str, int, str | None]  # product id, SKU, delta, channel line id


@dataclass(frozen=True)
class _Moves:
    """The stock one order moves, and why."""

    order_id: int
    external_id: str
    status: str
    modified_at: datetime
    reason: str
    moves: Sequence[Move]


def _move(s: Session, channel: str, groups: Sequence[_Moves]) -> list[list[StockChange]]:
    """Move stock for one or more orders, record each movement; the changes per group.

    Each product is updated once, by the sum over all groups (a batch of orders for the same
    bestseller costs one statement), and the level each order left is worked out from it.
    """
    totals: dict[int, int] = {}
    for group in groups:
        for product_id, _sku, delta, _line in group.moves:
            if delta:
                totals[product_id] = totals.get(product_id, 0) + delta
    level: dict[int, int] = {}
    now = utcnow()
    ordered = sorted(totals)
    if ordered:
        # Relative updates (never lost under concurrency) in product-id order: two
        # transactions moving the same products lock them in the same order, no deadlock.
        s.execute(
            update(LEVELS)
            .where(LEVELS.c.product_id == bindparam("pid"))
            .values(on_hand=LEVELS.c.on_hand + bindparam("delta"), updated_at=now),
            [{"pid": p, "delta": totals[p]} for p in ordered],
        )
        # Our own rows, locked until commit: the levels read back are the ones we made.
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            for product_id, on_hand in s.execute(
                select(LEVELS.c.product_id, LEVELS.c.on_hand).where(LEVELS.c.product_id.in_(chunk))
            ):
                level[product_id] = int(on_hand) - totals[product_id]  # before this call
        missing = [p for p in ordered if p not in level]
        if missing:  # products without a stock row: start them at the movement
            s.execute(
                insert(LEVELS),
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
                    "order_id": group.order_id,
                    "channel": channel,
                    "external_id": group.external_id,
                    "external_line_id": line_id,
                    "product_id": product_id,
                    "sku": sku,
                    "quantity": delta,
                    "status": group.status,
                    "modified_at": group.modified_at,
                    "at": now,
                }
            )
            mine.append(
                StockChange(sku, level[product_id], level[product_id] - delta, group.reason)
            )
        changes.append(mine)
    if rows:
        s.execute(insert(MOVES), rows)
    s.info.setdefault(MOVED, set()).update(ordered)
    return changes


MOVED = "hub.orders.moved"  # session.info key: products whose stock this transaction moved


def _commit(s: Session) -> None:
    """Commit, taking the catalogue revision for the products whose stock moved as the last
    statement (hub.revisions: the counter row is held only from there to the commit)."""
    moved = s.info.pop(MOVED, None)
    if moved:
        stamp_revision(s, moved)
    s.commit()


# --- new orders --------------------------------------------------------------------------


def insert_new(s: Session, rules: Rules, new: Sequence[ChannelOrder]) -> list[ImportedOrder]:
    """Insert POS orders, their lines and stock moves for orders the POS does not hold yet.

    Several orders per statement: the webhook drain imports a whole batch of new orders in one
    transaction this way, and a single order takes the same road. A racing import of one of
    them makes the order insert fail on the unique index (the caller retries).
    """
    channel = rules.channel
    matched = _match(s, new)
    now = utcnow()
    orders = [
        {
            "number": o.number,
            "channel": channel,
            "external_id": o.external_id,
            "idempotency_key": None,
            "change_due": None,
            "stock_returned": False,
            "channel_modified_at": o.modified_at,
            "channel_digest": digest(o),
            "version": 0,
            "created_at": o.created_at or now,
            "updated_at": now,
            **_values(o),
        }
        for o in new
    ]
    ids = list(
        s.execute(
            insert(ORDERS).returning(ORDERS.c.id, sort_by_parameter_order=True), orders
        ).scalars()
    )
    every_line: list[dict[str, Any]] = []
    lines: list[list[dict[str, Any]]] = []
    groups: list[_Moves] = []
    unmatched: list[list[str]] = []
    for o, order_id, products in zip(new, ids, matched, strict=True):
        rows, missing = _line_rows(channel, order_id, o, products)
        moves: list[Move] = []
        if rules.holds(o.status):
            for ln, product in zip(o.lines, products, strict=True):
                if product is not None and product.manage_stock and ln.quantity > 0:
                    moves.append((product.id, product.sku, -ln.quantity, ln.external_id))
        every_line.extend(rows)
        lines.append(rows)
        unmatched.append(missing)
        groups.append(
            _Moves(
                order_id, o.external_id, o.status, o.modified_at, f"online order {o.number}", moves
            )
        )
    if every_line:
        s.execute(insert(LINES), every_line)
    changes = _move(s, channel, groups)
    # Built from the rows, not from ORM objects: constructing those costs more than the inserts.
    return [
        ImportedOrder(
            o.external_id,
            "created",
            OrderInfo(
                id=order_id,
                number=row["number"],
                channel=channel,
                status=row["status"],
                created_at=row["created_at"],
                lines=tuple(
                    OrderLineInfo(
                        sku=ln["sku"],
                        name=ln["name"],
                        quantity=ln["quantity"],
                        unit_price=ln["unit_price"],
                        source=channel,
                    )
                    for ln in mine
                ),
                subtotal=row["subtotal"],
                tax=row["tax"],
                total=row["total"],
                payment_method=row["payment_method"],
                amount_paid=row["amount_paid"],
                external_id=o.external_id,
                customer=row["customer"],
            ),
            unmatched=tuple(missing),
            stock=tuple(moved),
        )
        for o, order_id, row, mine, moved, missing in zip(
            new, ids, orders, lines, changes, unmatched, strict=True
        )
    ]


# --- changes to orders the POS holds -----------------------------------------------------


def _held(s: Session, order_id: int) -> dict[tuple[int, str], int]:
    """What the order holds now, per product: the sum of its moves (negative: taken)."""
    held: dict[tuple[int, str], int] = {}
    for product_id, sku, quantity in s.execute(
        select(MOVES.c.product_id, MOVES.c.sku, MOVES.c.quantity).where(
            MOVES.c.order_id == order_id
        )
    ).all():
        key = (int(product_id), sku)
        held[key] = held.get(key, 0) + int(quantity)
    return held


def _update(s: Session, rules: Rules, row: Order, order: ChannelOrder) -> ImportedOrder | None:
    """Apply a newer version to an order; ``None`` when another writer got there first."""
    assert row.id is not None
    old_status, old_digest, version = row.status, row.channel_digest, row.version
    new_digest = digest(order)
    now = utcnow()
    # The compare-and-set, first write of the transaction: it takes the row (PostgreSQL) or
    # the database (SQLite) for the rest of it, and fails if anyone changed the order since.
    result = s.execute(
        update(ORDERS)
        .where(ORDERS.c.id == row.id, ORDERS.c.version == version)
        .values(
            version=version + 1,
            channel_modified_at=order.modified_at,
            channel_digest=new_digest,
            updated_at=now,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    changed = new_digest != old_digest
    unmatched: list[str] = []
    lines = _lines(s, row.id)
    if changed:
        [products] = _match(s, [order])
        rows, unmatched = _line_rows(rules.channel, row.id, order, products)
        if [_line_key(r) for r in rows] != [_line_key(r) for r in lines]:
            # An edit of the order's lines: they are replaced, and the stock follows below.
            s.execute(delete(LINES).where(LINES.c.order_id == row.id))
            if rows:
                s.execute(insert(LINES), rows)
            lines = rows
    # What the order should hold now, against what its moves hold.
    held = _held(s, row.id)
    wanted: dict[tuple[int, str], int] = {}
    managed = _managed(s, {ln["product_id"] for ln in lines if ln["product_id"]})
    if rules.holds(order.status):
        for ln in lines:
            pid = ln["product_id"]
            if pid in managed and managed[pid][1] and ln["quantity"] > 0:
                key = (pid, managed[pid][0])
                wanted[key] = wanted.get(key, 0) + ln["quantity"]
        for key in held:
            if key not in wanted and key[0] in managed and not managed[key[0]][1]:
                wanted[key] = -held[key]  # no longer stock-managed: left as it is
    take: list[Move] = []
    give: list[Move] = []
    for key in sorted(set(held) | set(wanted)):
        delta = -wanted.get(key, 0) - held.get(key, 0)
        if delta:
            (take if delta < 0 else give).append((key[0], key[1], delta, None))
    groups = []
    if take:
        groups.append(
            _Moves(
                row.id,
                order.external_id,
                order.status,
                order.modified_at,
                f"online order {row.number}",
                take,
            )
        )
    if give:
        groups.append(
            _Moves(
                row.id,
                order.external_id,
                order.status,
                order.modified_at,
                f"online order {row.number} {order.status}",
                give,
            )
        )
    changes = [c for group in _move(s, rules.channel, groups) for c in group]
    if changed or changes:
        values = _values(order)
        if give and not rules.holds(order.status):
            values["stock_returned"] = True
        elif take:
            values["stock_returned"] = False
        s.execute(update(ORDERS).where(ORDERS.c.id == row.id).values(**values))
        for name, value in values.items():
            setattr(row, name, value)
    info = OrderInfo(
        id=row.id,
        number=row.number,
        channel=row.channel,
        status=order.status if (changed or changes) else row.status,
        created_at=row.created_at,
        lines=tuple(
            OrderLineInfo(
                sku=ln["sku"],
                name=ln["name"],
                quantity=ln["quantity"],
                unit_price=ln["unit_price"],
                is_gift=bool(ln["is_gift"]),
                source=ln["source"],
            )
            for ln in lines
        ),
        subtotal=row.subtotal,
        tax=row.tax,
        total=row.total,
        payment_method=row.payment_method,
        amount_paid=row.amount_paid,
        change_due=row.change_due,
        external_id=row.external_id,
        customer=row.customer,
    )
    outcome: ImportOutcome = "updated" if (changed or changes) else "unchanged"
    return ImportedOrder(
        order.external_id,
        outcome,
        info,
        old_status=old_status,
        unmatched=tuple(unmatched),
        stock=tuple(changes),
    )


def _line_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["product_id"], row["sku"], row["name"], row["quantity"], Decimal(row["unit_price"]))


def _lines(s: Session, order_id: int) -> list[dict[str, Any]]:
    return [
        dict(r._mapping)
        for r in s.execute(
            select(LINES).where(LINES.c.order_id == order_id).order_by(LINES.c.id)
        ).all()
    ]


def _managed(s: Session, ids: Collection[int]) -> dict[int, tuple[str, bool]]:
    if not ids:
        return {}
    return {
        int(pid): (sku, bool(managed))
        for pid, sku, managed in s.execute(
            select(PRODUCTS.c.id, PRODUCTS.c.sku, PRODUCTS.c.manage_stock).where(
                PRODUCTS.c.id.in_(sorted(ids))
            )
        ).all()
    }


def _find(s: Session, channel: str, external_id: str) -> Order | None:
    found: Order | None = (
        s.execute(
            select(Order).where(ORDERS.c.channel == channel, ORDERS.c.external_id == external_id)
        )
        .scalars()
        .first()
    )
    return found


def _decide(row: Order, order: ChannelOrder, authoritative: bool) -> ImportOutcome | None:
    """``stale``, ``unchanged`` or ``conflict`` when this version is not applied, else None."""
    applied = row.channel_modified_at
    if applied is None:
        return None
    if order.modified_at < applied:
        return "stale"
    if order.modified_at == applied:
        if row.channel_digest is None or digest(order) == row.channel_digest:
            # Equal, or carried over from before digests were kept: nothing to tell apart.
            return "unchanged"
        if not authoritative:
            return "conflict"
    return None


# --- the two roads -------------------------------------------------------------------


def import_one(
    session: SessionFactory, rules: Rules, order: ChannelOrder, *, authoritative: bool = False
) -> ImportedOrder:
    """Import or update one order in its own transaction (no hooks: the caller fires them)."""
    check_order(rules.channel, order)
    for attempt in range(ATTEMPTS):
        try:
            with session() as s:
                row = _find(s, rules.channel, order.external_id)
                if row is None:
                    if rules.create_statuses is not None and (
                        order.status not in rules.create_statuses
                    ):
                        return ImportedOrder(order.external_id, "skipped")
                    [result] = insert_new(s, rules, [order])
                else:
                    decided = _decide(row, order, authoritative)
                    if decided is not None:
                        return ImportedOrder(order.external_id, decided)
                    maybe = _update(s, rules, row, order)
                    if maybe is None:
                        s.rollback()
                        continue  # someone else changed it: read again
                    result = maybe
                _commit(s)
                return result
        except IntegrityError as exc:
            # Lost the race for a new order (the unique index): read again, as an update.
            # Unless no such order exists: then the conflict is another one (its number).
            with session() as s:
                if _find(s, rules.channel, order.external_id) is None:
                    raise InputError(
                        "number",
                        f"order {order.external_id}: cannot be stored ({exc.orig})",
                        status=409,
                    ) from None
            log.debug("order %s: lost a race, reading again", order.external_id)
        except OperationalError as exc:
            # A lock timed out (SQLite's single writer under a burst): try again shortly.
            log.debug("order %s: retrying after %s", order.external_id, exc)
        time.sleep(min(0.005 * (attempt + 1), 0.1))
    raise RuntimeError(f"order {order.external_id}: gave up after {ATTEMPTS} concurrent changes")


def import_batch(
    session: SessionFactory,
    rules: Rules,
    orders: Sequence[ChannelOrder],
    *,
    authoritative: bool = False,
) -> list[ImportedOrder]:
    """Import many orders, the new ones together in one transaction where possible.

    The first version of each order the POS does not hold yet goes in with the others in one
    transaction (one commit for a burst, not one per order: SQLite's single writer is the
    limit). Everything else (updates, a second version in the batch, the whole batch when its
    transaction fails because a poll imported one of them at that moment) goes one by one,
    where each order settles its own race. One order's error is its ``"failed"`` result.
    """
    results: dict[int, ImportedOrder] = {}
    first: dict[str, int] = {}
    for index, order in enumerate(orders):
        try:
            check_order(rules.channel, order)
        except InputError as exc:
            results[index] = ImportedOrder(str(order.external_id), "failed", error=str(exc))
            continue
        first.setdefault(order.external_id, index)
    if len(first) >= 2:
        try:
            with session() as s:
                known: set[str] = set()
                ids = sorted(first)
                for start in range(0, len(ids), 500):
                    known.update(
                        s.execute(
                            select(ORDERS.c.external_id).where(
                                ORDERS.c.channel == rules.channel,
                                ORDERS.c.external_id.in_(ids[start : start + 500]),
                            )
                        ).scalars()
                    )
                new = [
                    index
                    for eid, index in first.items()
                    if eid not in known
                    and (
                        rules.create_statuses is None
                        or orders[index].status in rules.create_statuses
                    )
                ]
                if new:
                    created = insert_new(s, rules, [orders[i] for i in new])
                    _commit(s)
                    results.update(zip(new, created, strict=True))
        except (IntegrityError, OperationalError) as exc:
            log.debug("batch import fell back to one by one after %s", type(exc).__name__)
    for index, order in enumerate(orders):
        if index in results:
            continue
        try:
            results[index] = import_one(session, rules, order, authoritative=authoritative)
        except Exception as exc:  # one bad order must not stop the others
            if isinstance(exc, InputError):
                error = str(exc)
            else:
                log.exception("order %s failed to import", order.external_id)
                error = f"{type(exc).__name__}: {exc}"
            results[index] = ImportedOrder(order.external_id, "failed", error=error)
    return [results[i] for i in range(len(orders))]
