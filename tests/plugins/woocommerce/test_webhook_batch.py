"""The webhook drain imports a batch of new orders in one transaction, and falls back to one
by one when that transaction fails: either way every order is imported once, stock moves once
per line, hooks fire once per order and every delivery ends with its outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from hub.context import Hub
from hub.models import Order, WebhookInbox
from hub.types import Delivery
from hub.webhooks import store_deliveries as store_in_inbox
from plugins.woocommerce import orders
from plugins.woocommerce.order_inbox import import_webhook_orders
from plugins.woocommerce.store import recent_events
from plugins.woocommerce.webhooks import delivery as inbox_delivery
from tests.plugins.woocommerce.test_orders_import import (
    catalogue,
    moves,
    order_world,
    plugin_hub,
    poll,
    pos_order,
    pos_stock,
    seen,
)
from tests.plugins.woocommerce.test_webhooks_orders import inbox_outcomes


def delivery(body: dict[str, Any], topic: str = "order.created") -> Delivery:
    """A delivery as the receiver stores it (here also for a body it would refuse)."""
    modified = str(body.get("date_modified_gmt", ""))[:19]
    return inbox_delivery(body["id"], modified, json.dumps(body).encode(), body, topic)


def store_deliveries(hub: Hub, deliveries: list[Delivery]) -> list[bool]:
    return store_in_inbox(hub, "woocommerce", deliveries)


def test_a_batch_of_new_orders_imports_together_with_the_odd_ones_one_by_one(
    tmp_path: Path,
) -> None:
    with order_world(tmp_path) as w:
        catalogue(w, {"WB-1": 100, "WB-2": 50})
        hub = plugin_hub(w)
        # An order the poll imported already: the batch leaves it to the one-by-one road.
        old = w.store.place_order([("WB-2", 5)])
        poll(w)
        assert pos_stock(w, "WB-2") == 45
        # Three new orders on one bestseller (one statement moves its stock for all three).
        a = w.store.place_order([("WB-1", 2)])
        b = w.store.place_order([("WB-1", 3), ("WB-2", 1)])
        c = w.store.place_order([("WB-1", 1), ("WB-1", 4)])  # the same product on two lines
        # A line the POS does not know; an order not paid yet (imported, holds no stock).
        d = dict(w.store.place_order([("WB-2", 2)]))
        d["line_items"] = [dict(d["line_items"][0], sku="NOT-IN-POS", product_id=0)]
        pending = w.store.place_order([("WB-1", 7)], status="pending", set_paid=False)
        # A later version of order a in the same batch, completed.
        a_later = dict(a, status="completed", date_modified_gmt="2099-01-01T00:00:00")
        old_later = dict(old, status="cancelled", date_modified_gmt="2099-01-01T00:00:00")
        bad = dict(a, id=999_999, date_modified_gmt="not a date")
        bodies = [a, b, c, old_later, d, pending, a_later, bad]
        assert store_deliveries(hub, [delivery(x) for x in bodies]) == [True] * len(bodies)
        # The same batch again (a replay) stores nothing.
        assert store_deliveries(hub, [delivery(x) for x in bodies]) == [False] * len(bodies)

        seen().clear()
        totals = import_webhook_orders(hub)
        assert totals == {"imported": 5, "updated": 2, "failed": 1}
        assert inbox_outcomes(w)[-len(bodies) :] == [
            "imported",
            "imported",
            "imported",
            "updated",
            "imported",
            "imported",
            "updated",
            "failed",
        ]
        assert pos_stock(w, "WB-1") == 100 - 2 - 3 - 1 - 4
        assert pos_stock(w, "WB-2") == 50 - 1  # old's 5 given back by its cancel
        assert moves(w, a["id"]) == [("WB-1", -2)]
        assert sorted(moves(w, c["id"])) == [("WB-1", -4), ("WB-1", -1)]
        assert moves(w, old["id"]) == [("WB-2", -5), ("WB-2", 5)]
        assert moves(w, pending["id"]) == []
        order_a, lines_a = pos_order(w, a["id"])
        assert order_a.status == "completed" and [ln.quantity for ln in lines_a] == [2]
        order_d, lines_d = pos_order(w, d["id"])
        assert lines_d[0].product_id is None and lines_d[0].sku == "NOT-IN-POS"
        # The five new orders went in together: one transaction, one creation time.
        created = {pos_order(w, x["id"])[0].created_at for x in (a, b, c, d, pending)}
        assert len(created) == 1
        imported = sorted(e[1] for e in seen() if e[0] == "imported")
        numbers = [pos_order(w, x["id"])[0].number for x in (a, b, c, d, pending)]
        assert imported == sorted(numbers)
        # Stock announced with the level each order left behind, in one call per batch.
        stock = [e for e in seen() if e[0] == "stock"]
        assert len(stock) == 1
        wb1 = [change for change in stock[0][1] if change[0] == "WB-1"]
        assert wb1 == [("WB-1", 98, 100), ("WB-1", 95, 98), ("WB-1", 94, 95), ("WB-1", 90, 94)]
        with hub.session() as s:
            rows = s.exec(
                select(WebhookInbox).where(col(WebhookInbox.dedupe_key).startswith("999999:"))
            ).all()
            assert "date_modified_gmt" in rows[0].error
        events = recent_events(hub)
        assert any(
            e["kind"] == "order_line_unmatched" and "NOT-IN-POS" in e["detail"] for e in events
        )


def test_a_batch_that_fails_as_a_whole_is_imported_one_by_one(tmp_path: Path) -> None:
    with order_world(tmp_path) as w:
        catalogue(w, {"WF-1": 30})
        hub = plugin_hub(w)
        placed = [w.store.place_order([("WF-1", 1)]) for _ in range(4)]
        # A till order already holds the number the second store order would get: the
        # batch insert breaks on it, so every order is tried on its own.
        with hub.session() as s:
            s.add(Order(number=f"W{placed[1]['number']}", channel="till"))
            s.commit()
        # A delivery twice in one group commit: stored once.
        stored = store_deliveries(hub, [delivery(x) for x in [*placed, placed[0]]])
        assert stored == [True, True, True, True, False]
        totals = import_webhook_orders(hub)
        assert totals == {"imported": 3, "failed": 1}
        outcomes = inbox_outcomes(w)
        assert outcomes == ["imported", "failed", "imported", "imported"]
        assert pos_stock(w, "WF-1") == 27
        with hub.session() as s:
            imported = s.exec(select(Order).where(col(Order.channel) == orders.CHANNEL)).all()
            assert sorted(o.external_id for o in imported) == sorted(
                str(x["id"]) for x in (placed[0], placed[2], placed[3])
            )
