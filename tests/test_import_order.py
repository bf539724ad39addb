"""pos.import_order: applied once per (channel, external id) under concurrency, stock exact.

Every test runs on SQLite (with SqliteHuey) and on PostgreSQL (with Redis), against the real
database with the core migrations applied.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from hub.errors import InputError
from hub.models import OrderLine, OrderStockMove
from hub.pos import Pos, ProductIn
from hub.runtime import Runtime
from hub.testing import make_settings, running_hub
from hub.types import ChannelOrder, ChannelOrderLine

CHANNEL = "shop"
RESTOCK = frozenset({"cancelled", "refunded", "failed", "pending"})
T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def rt(tmp_path: Path, backend: dict[str, Any]) -> Iterator[Runtime]:
    with running_hub(make_settings(tmp_path, plugins=["recorder"], **backend)) as runtime:
        seen().clear()
        yield runtime


def seen() -> list[Any]:
    events: list[Any] = importlib.import_module("hub_fixture_plugins.recorder").SEEN
    return events


def products(pos: Pos, stock: dict[str, int]) -> None:
    pos.upsert_products(
        [
            ProductIn(sku=sku, name=f"Product {sku}", price=Decimal("5.00"), stock=n)
            for sku, n in stock.items()
        ]
    )
    seen().clear()  # what the orders do is what the tests look at


def line(
    sku: str | None, quantity: int, price: str = "5.00", ext: str | None = None
) -> ChannelOrderLine:
    return ChannelOrderLine(
        sku=sku, name=f"Line {sku}", quantity=quantity, unit_price=Decimal(price), external_id=ext
    )


def an_order(
    external_id: str = "1001",
    lines: tuple[ChannelOrderLine, ...] = (),
    *,
    status: str = "processing",
    at: datetime = T0,
) -> ChannelOrder:
    subtotal = sum((ln.unit_price * ln.quantity for ln in lines), Decimal("0.00"))
    tax = (subtotal * Decimal("0.2")).quantize(Decimal("0.01"))
    return ChannelOrder(
        external_id=external_id,
        number=f"S{external_id}",
        status=status,
        modified_at=at,
        lines=lines,
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        customer="Ann Lee",
        payment_method="card",
        amount_paid=subtotal + tax,
    )


def stock(pos: Pos, sku: str) -> int:
    return int(pos.get_product(sku)["stock"])


def moves(rt: Runtime, external_id: str) -> list[tuple[str, int]]:
    with rt.session() as s:
        rows = s.exec(
            select(OrderStockMove)
            .where(OrderStockMove.channel == CHANNEL, OrderStockMove.external_id == external_id)
            .order_by(col(OrderStockMove.id))
        ).all()
        return [(r.sku, r.quantity) for r in rows]


def imports(pos: Pos, order: ChannelOrder) -> str:
    return pos.import_order(CHANNEL, order, restock_statuses=RESTOCK).outcome


def test_replays_change_nothing(rt: Runtime) -> None:
    pos = rt.pos
    products(pos, {"A-1": 10, "B-1": 10})
    order = an_order(lines=(line("A-1", 2, ext="l1"), line("b-1", 1, ext="l2")))
    first = pos.import_order(CHANNEL, order, restock_statuses=RESTOCK)
    assert first.outcome == "created" and first.order is not None
    assert first.order.number == "S1001" and first.order.channel == CHANNEL
    assert first.order.total == Decimal("18.00") and first.order.customer == "Ann Lee"
    # Matched without regard to case; the POS's SKU is kept on the line.
    assert [(ln.sku, ln.quantity) for ln in first.order.lines] == [("A-1", 2), ("B-1", 1)]
    assert [(c.sku, c.on_hand, c.previous) for c in first.stock] == [("A-1", 8, 10), ("B-1", 9, 10)]
    for _ in range(3):
        assert imports(pos, order) == "unchanged"
    batch = pos.import_orders(CHANNEL, [order, order], restock_statuses=RESTOCK)
    assert [r.outcome for r in batch] == ["unchanged", "unchanged"]
    assert stock(pos, "A-1") == 8 and stock(pos, "B-1") == 9
    assert moves(rt, "1001") == [("A-1", -2), ("B-1", -1)]
    assert [e for e in seen() if e[0] == "imported"] == [("imported", "S1001")]
    assert [e for e in seen() if e[0] == "stock"] == [("stock", (("A-1", 8, 10), ("B-1", 9, 10)))]
    assert pos.channel_order_count(CHANNEL) == 1


def test_twenty_concurrent_deliveries_of_one_order_apply_once(rt: Runtime) -> None:
    pos = rt.pos
    products(pos, {"C-1": 100})
    order = an_order("2002", (line("C-1", 3),))
    outcomes: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def deliver(index: int) -> None:
        try:
            start.wait()
            if index % 2:
                outcomes.append(imports(pos, order))  # each call opens its own session
            else:
                [result] = pos.import_orders(CHANNEL, [order], restock_statuses=RESTOCK)
                outcomes.append(result.outcome)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(outcomes) == ["created"] + ["unchanged"] * 19
    assert stock(pos, "C-1") == 97
    assert moves(rt, "2002") == [("C-1", -3)]
    assert pos.channel_order_count(CHANNEL) == 1

    # Twenty concurrent deliveries of its cancellation: the stock comes back once.
    cancelled = an_order(
        "2002", (line("C-1", 3),), status="cancelled", at=T0 + timedelta(minutes=1)
    )
    outcomes.clear()
    start.reset()

    def cancel() -> None:
        try:
            start.wait()
            outcomes.append(imports(pos, cancelled))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=cancel) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(outcomes) == ["unchanged"] * 19 + ["updated"]
    assert stock(pos, "C-1") == 100
    assert moves(rt, "2002") == [("C-1", -3), ("C-1", 3)]
    assert [e for e in seen() if e[0] == "status"] == [
        ("status", "S2002", "processing", "cancelled")
    ]


def test_newer_version_updates_and_older_is_ignored(rt: Runtime) -> None:
    pos = rt.pos
    products(pos, {"D-1": 20, "D-2": 20})
    assert imports(pos, an_order("3003", (line("D-1", 2),), status="on-hold")) == "created"
    newer = an_order("3003", (line("D-1", 2),), status="completed", at=T0 + timedelta(hours=1))
    result = pos.import_order(CHANNEL, newer, restock_statuses=RESTOCK)
    assert result.outcome == "updated" and result.order is not None
    assert result.order.status == "completed" and result.old_status == "on-hold"
    # An older version arriving late (a slow webhook) is stale and changes nothing.
    older = an_order("3003", (line("D-1", 9),), status="cancelled", at=T0 + timedelta(minutes=30))
    assert imports(pos, older) == "stale"
    assert imports(pos, an_order("3003", (line("D-1", 9),), status="cancelled")) == "stale"
    assert stock(pos, "D-1") == 18
    # Same second, other content: a conflict unless the caller read it from the channel.
    same_time = an_order("3003", (line("D-1", 2),), status="refunded", at=T0 + timedelta(hours=1))
    assert imports(pos, same_time) == "conflict"
    assert stock(pos, "D-1") == 18
    settled = pos.import_order(CHANNEL, same_time, restock_statuses=RESTOCK, authoritative=True)
    assert settled.outcome == "updated" and stock(pos, "D-1") == 20

    # An edit of the lines moves only the difference.
    pos.import_order(
        CHANNEL,
        an_order("3004", (line("D-1", 2), line("D-2", 1))),
        restock_statuses=RESTOCK,
    )
    assert (stock(pos, "D-1"), stock(pos, "D-2")) == (18, 19)
    edited = an_order("3004", (line("D-1", 5),), at=T0 + timedelta(minutes=5))
    assert imports(pos, edited) == "updated"
    assert (stock(pos, "D-1"), stock(pos, "D-2")) == (15, 20)
    assert sorted(moves(rt, "3004")) == sorted([("D-1", -2), ("D-2", -1), ("D-1", -3), ("D-2", 1)])
    with rt.session() as s:
        lines = s.exec(select(OrderLine).where(OrderLine.sku == "D-1")).all()
        assert sorted(ln.quantity for ln in lines) == [2, 5]  # order 3003's and the edited one


def test_cancel_then_reinstate_gives_stock_back_once_and_takes_it_again(rt: Runtime) -> None:
    pos = rt.pos
    products(pos, {"E-1": 10})
    lines = (line("E-1", 4),)
    steps = [
        ("processing", 6, "created"),
        ("cancelled", 10, "updated"),
        ("refunded", 10, "updated"),  # still a restock status: nothing more comes back
        ("processing", 6, "updated"),  # re-opened: taken again
        ("completed", 6, "updated"),
        ("cancelled", 10, "updated"),
    ]
    for minute, (status, level, outcome) in enumerate(steps):
        order = an_order("4004", lines, status=status, at=T0 + timedelta(minutes=minute))
        assert imports(pos, order) == outcome, status
        assert stock(pos, "E-1") == level, status
    assert moves(rt, "4004") == [("E-1", -4), ("E-1", 4), ("E-1", -4), ("E-1", 4)]
    changes = [e[2:] for e in seen() if e[0] == "status"]
    assert changes == [
        ("processing", "cancelled"),
        ("cancelled", "refunded"),
        ("refunded", "processing"),
        ("processing", "completed"),
        ("completed", "cancelled"),
    ]
    again = an_order("4004", lines, status="cancelled", at=T0 + timedelta(hours=1))
    result = pos.import_order(CHANNEL, again, restock_statuses=RESTOCK)
    assert result.outcome == "unchanged" and result.order is not None
    found = pos.find_order(order_id=result.order.id)
    assert found is not None and found.status == "cancelled" and stock(pos, "E-1") == 10
    # A new order in a restock status holds nothing; paid later, it takes its stock.
    assert imports(pos, an_order("4005", lines, status="pending")) == "created"
    assert stock(pos, "E-1") == 10
    assert imports(pos, an_order("4005", lines, at=T0 + timedelta(minutes=1))) == "updated"
    assert stock(pos, "E-1") == 6


def test_unknown_skus_are_kept_on_the_order_and_reported(rt: Runtime) -> None:
    pos = rt.pos
    products(pos, {"F-1": 10, "F-LINKED": 10})
    order = an_order(
        "5005",
        (
            line("F-1", 1, ext="1"),
            line("NOT-IN-POS", 2, ext="2"),
            line(None, 1, "0.00", ext="3"),
            # The channel knows this product by its own id only: its fallback SKU matches.
            ChannelOrderLine(
                sku="", name="", quantity=3, unit_price=Decimal("5"), fallback_sku="f-linked"
            ),
        ),
    )
    result = pos.import_order(CHANNEL, order, restock_statuses=RESTOCK)
    assert result.outcome == "created" and result.order is not None
    assert [(ln.sku, ln.quantity) for ln in result.order.lines] == [
        ("F-1", 1),
        ("NOT-IN-POS", 2),
        (None, 1),
        ("F-LINKED", 3),
    ]
    assert len(result.unmatched) == 2
    assert "NOT-IN-POS matches no POS product" in result.unmatched[0]
    assert "line 3" in result.unmatched[1]
    assert stock(pos, "F-1") == 9 and stock(pos, "F-LINKED") == 7
    with rt.session() as s:
        kept = s.exec(select(OrderLine).where(OrderLine.sku == "NOT-IN-POS")).one()
        assert kept.product_id is None and kept.quantity == 2 and kept.source == CHANNEL
    # A batch reports the same, and a bad order fails alone with the field named.
    bad = replace(an_order("5006"), modified_at=datetime(2026, 1, 1))  # naive
    batch = pos.import_orders(
        CHANNEL,
        [
            an_order("5007", (line("F-1", 1), line("GONE", 1))),
            bad,
            an_order("5008", (line("F-1", 2),)),
        ],
        restock_statuses=RESTOCK,
    )
    assert [r.outcome for r in batch] == ["created", "failed", "created"]
    assert "modified_at" in batch[1].error
    assert batch[0].unmatched and "GONE" in batch[0].unmatched[0]
    assert stock(pos, "F-1") == 6
    with pytest.raises(InputError, match="modified_at"):
        pos.import_order(CHANNEL, bad, restock_statuses=RESTOCK)


def test_create_statuses_skip_new_orders_but_follow_imported_ones(rt: Runtime) -> None:
    pos = rt.pos
    products(pos, {"G-1": 10})
    only_paid = {"processing", "completed"}
    draft = an_order("6006", (line("G-1", 1),), status="checkout-draft")
    result = pos.import_order(CHANNEL, draft, restock_statuses=RESTOCK, create_statuses=only_paid)
    assert result.outcome == "skipped" and result.order is None
    paid = an_order("6006", (line("G-1", 1),), at=T0 + timedelta(minutes=1))
    assert (
        pos.import_order(CHANNEL, paid, restock_statuses=RESTOCK, create_statuses=only_paid).outcome
        == "created"
    )
    gone = an_order("6006", (line("G-1", 1),), status="failed", at=T0 + timedelta(minutes=2))
    assert (
        pos.import_order(CHANNEL, gone, restock_statuses=RESTOCK, create_statuses=only_paid).outcome
        == "updated"
    )
    assert stock(pos, "G-1") == 10


def test_concurrent_batches_of_the_same_new_orders_import_each_once(rt: Runtime) -> None:
    pos = rt.pos
    products(pos, {"H-1": 100, "H-2": 100})
    orders = [an_order(f"70{i}", (line("H-1", 1), line("H-2", i + 1))) for i in range(4)]
    results: list[list[str]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def deliver(index: int) -> None:
        # Each thread sends the batch in another order: the losers fall back to one by one.
        batch = orders[index % 4 :] + orders[: index % 4]
        try:
            start.wait()
            imported = pos.import_orders(CHANNEL, batch, restock_statuses=RESTOCK)
            results.append([r.outcome for r in imported])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    outcomes = [o for batch in results for o in batch]
    assert outcomes.count("created") == 4 and outcomes.count("unchanged") == 28
    assert stock(pos, "H-1") == 96 and stock(pos, "H-2") == 100 - (1 + 2 + 3 + 4)
    assert pos.channel_order_count(CHANNEL) == 4
    assert len([e for e in seen() if e[0] == "imported"]) == 4
