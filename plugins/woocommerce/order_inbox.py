"""Draining the webhook inbox: what the receiver stored becomes POS orders.

The drain claims a batch of deliveries and takes two roads:

- the first delivery of each store order not yet linked is imported together with the other
  new orders of the batch, in one transaction that also marks those deliveries processed (one
  commit for the batch, not one per order: SQLite's single writer is the limit here);
- every other delivery (an update to a linked order, a second version in the batch, a status
  we do not import) goes through :func:`plugins.woocommerce.orders.apply_order` one by one, as
  does the whole batch when its transaction fails (a poll importing one of the orders at the
  same moment): the unique keys keep every order imported once either way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, or_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from hub.context import Hub
from hub.db import utcnow
from hub.jobs import Priority
from hub.types import StockChange
from plugins.woocommerce.client_errors import StoreError
from plugins.woocommerce.config import WooCommerceSettings
from plugins.woocommerce.orders import (
    INBOX_TASK,
    Applied,
    BadOrder,
    StoreOrder,
    announce_stock,
    apply_order,
    fire_applied,
    insert_new_orders,
    parse_order,
)
from plugins.woocommerce.store import make_client, record_event, set_state, settings_of
from plugins.woocommerce.tables import OrderLink, WebhookInbox

log = logging.getLogger("hub.plugin.woocommerce.orders")

INBOX_BATCH = 200
INBOX_CLAIM_EXPIRY = timedelta(seconds=60)
INBOX_BUDGET_SECONDS = 10.0

Result = tuple[int, str, str]  # inbox row id, outcome, message


class Claimed(NamedTuple):
    id: int
    payload: Any


def _claim(hub: Hub, token: str) -> list[Claimed]:
    """Take up to a batch of unprocessed deliveries (or ones a dead worker left claimed).

    One UPDATE ... RETURNING: two drains never get the same row, and the payloads come back
    with the claim.
    """
    now = utcnow()
    expired = now - INBOX_CLAIM_EXPIRY
    table = WebhookInbox.__table__  # type: ignore[attr-defined]
    unclaimed = (
        table.c.processed_at.is_(None),
        or_(table.c.claimed_at.is_(None), table.c.claimed_at < expired),
    )
    with hub.session() as s:
        rows = s.execute(
            update(table)
            .where(
                table.c.id.in_(
                    select(table.c.id).where(*unclaimed).order_by(table.c.id).limit(INBOX_BATCH)
                ),
                *unclaimed,
            )
            .values(claimed_by=token, claimed_at=now)
            .returning(table.c.id, table.c.payload)
        ).all()
        s.commit()
    return sorted(Claimed(row_id, payload) for row_id, payload in rows)


def _mark_processed(s: Session, results: Sequence[Result]) -> None:
    table = WebhookInbox.__table__  # type: ignore[attr-defined]
    s.execute(
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(processed_at=bindparam("at"), outcome=bindparam("o"), message=bindparam("m")),
        [
            {"row_id": row_id, "at": utcnow(), "o": outcome[:20], "m": message[:2000]}
            for row_id, outcome, message in results
        ],
    )


def _finish(hub: Hub, results: Sequence[Result]) -> None:
    if results:
        with hub.session() as s:
            _mark_processed(s, results)
            s.commit()


async def _fetch_order(settings: WooCommerceSettings, order_id: int) -> dict[str, Any]:
    async with make_client(settings) as client:
        return await client.get_order(order_id)


DRAIN_WINDOW = 0.2  # seconds
_drain_lock = threading.Lock()
_drain_next_free = 0.0
_drain_trailing_for = 0.0


def schedule_drain(hub: Hub) -> None:
    """Queue the inbox drain after deliveries were stored, at most twice per window.

    One task per delivery would flood the queue and set several drains fighting over SQLite's
    write lock. Instead the first delivery of a window queues a drain at once and later ones
    queue at most one more, due when the window ends: every stored row still has a drain that
    starts after its commit, so none waits for the periodic poll.
    """
    global _drain_next_free, _drain_trailing_for
    now = time.monotonic()
    with _drain_lock:
        if now >= _drain_next_free:
            _drain_next_free = now + DRAIN_WINDOW
            delay = 0.0
        elif _drain_trailing_for < _drain_next_free:
            _drain_trailing_for = _drain_next_free
            delay = _drain_next_free - now
        else:
            return
    # The trailing drain waits out the window itself rather than as a delayed task: Huey
    # moves delayed tasks to the queue on a one-second tick, which would leave the last
    # deliveries of a burst waiting a second for nothing.
    hub.enqueue(INBOX_TASK, time.time() + delay, priority=Priority.ORDER_IMPORT)


def import_webhook_orders(hub: Hub, not_before: float | None = None) -> dict[str, int]:
    """Task: import what the webhook receiver stored, until the inbox is empty (or a budget).

    ``not_before`` (epoch seconds) is when a trailing drain should start; it is at most one
    drain window away.
    """
    if not_before is not None:
        time.sleep(min(max(0.0, not_before - time.time()), DRAIN_WINDOW))
    settings = settings_of(hub)
    token = uuid.uuid4().hex[:16]
    deadline = time.monotonic() + INBOX_BUDGET_SECONDS
    totals: dict[str, int] = {}
    while True:
        if time.monotonic() > deadline:
            # Keep tasks short: hand the rest to a fresh task rather than hold a worker.
            hub.enqueue(INBOX_TASK, priority=Priority.ORDER_IMPORT)
            break
        rows = _claim(hub, token)
        if not rows:
            break
        stock_changes: list[StockChange] = []
        results = _import_batch(hub, settings, rows, stock_changes)
        for _row_id, outcome, _message in results:
            totals[outcome] = totals.get(outcome, 0) + 1
        announce_stock(hub, stock_changes)
    if totals:
        set_state(hub, "orders.last_webhook_import", {**totals, "at": utcnow().isoformat()})
    return totals


def _import_batch(
    hub: Hub,
    settings: WooCommerceSettings,
    rows: Sequence[Claimed],
    changes: list[StockChange],
) -> list[Result]:
    """Import one claimed batch; every row ends processed with its outcome."""
    unreadable: list[Result] = []
    parsed: list[tuple[Claimed, StoreOrder]] = []
    for row in rows:
        try:
            parsed.append((row, parse_order(row.payload)))
        except BadOrder as exc:
            unreadable.append((row.id, "failed", str(exc)))
    # The batch road marks its own rows processed in its transaction; the rest are marked here.
    together = _import_new_together(hub, settings, parsed, changes)
    finished = {row_id for row_id, _outcome, _message in together}
    one_by_one: list[Result] = []
    for row, data in parsed:
        if row.id not in finished:
            outcome, message = _import_one(hub, settings, row.id, data, changes)
            one_by_one.append((row.id, outcome, message))
    _finish(hub, unreadable + one_by_one)
    return unreadable + together + one_by_one


def _import_new_together(
    hub: Hub,
    settings: WooCommerceSettings,
    parsed: Sequence[tuple[Claimed, StoreOrder]],
    changes: list[StockChange],
) -> list[Result]:
    """Import the batch's new orders in one transaction; their results, or none if it failed."""
    first: dict[int, tuple[Claimed, StoreOrder]] = {}
    for row, data in parsed:
        first.setdefault(data.id, (row, data))
    if len(first) < 2:
        return []  # nothing to gain over the one-by-one road
    try:
        with hub.session() as s:
            linked = set(
                s.exec(select(OrderLink.store_id).where(col(OrderLink.store_id).in_(first))).all()
            )
            new = [
                (row, data)
                for row, data in first.values()
                if data.id not in linked and data.status in settings.import_order_statuses
            ]
            if not new:
                return []
            applied = insert_new_orders(s, [data for _row, data in new])
            results: list[Result] = [
                (row.id, a.outcome, "; ".join(a.unmatched))
                for (row, _data), a in zip(new, applied, strict=True)
            ]
            _mark_processed(s, results)
            s.commit()
    except (IntegrityError, OperationalError) as exc:
        # A poll imported one of these orders meanwhile, or a lock timed out: one by one
        # instead, where each order settles its own race.
        log.debug("batch import fell back to one by one after %s", type(exc).__name__)
        return []
    for a in applied:
        fire_applied(hub, a, changes)
        _report_unmatched(hub, a)
    return results


def _report_unmatched(hub: Hub, applied: Applied) -> None:
    if applied.unmatched:
        record_event(hub, "order_line_unmatched", "; ".join(applied.unmatched))


def _import_one(
    hub: Hub,
    settings: WooCommerceSettings,
    row_id: int,
    data: StoreOrder,
    changes: list[StockChange],
) -> tuple[str, str]:
    try:
        applied = apply_order(
            hub, data, authoritative=False, settings=settings, stock_changes=changes
        )
        if applied.outcome == "ambiguous":
            # Two versions in one second: only the store knows which is current.
            fresh = parse_order(asyncio.run(_fetch_order(settings, data.id)))
            applied = apply_order(
                hub, fresh, authoritative=True, settings=settings, stock_changes=changes
            )
    except BadOrder as exc:
        return "failed", str(exc)
    except StoreError as exc:
        # The poll (overlapping window) will apply this order; nothing is lost.
        return "deferred", f"store read failed, left to polling: {exc}"
    except Exception as exc:
        log.exception("webhook delivery %s failed to import", row_id)
        return "failed", f"{type(exc).__name__}: {exc}"
    _report_unmatched(hub, applied)
    return applied.outcome, "; ".join(applied.unmatched)
