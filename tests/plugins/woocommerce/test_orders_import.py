"""Order import by polling: line matching, stock moved once, status changes, hooks, races."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import col, select

from hub.context import Hub
from hub.models import Order, OrderLine, OrderStockMove
from hub.testing import free_port, wait_for
from plugins.woocommerce import orders
from tests.plugins.woocommerce.hub_fixtures import KEY, SECRET, World, world

WEBHOOK_SECRET = "whsec-orders-test"
API = "/api/integrations/woocommerce"


@contextmanager
def order_world(
    tmp_path: Path,
    *,
    settings: dict[str, Any] | None = None,
    backend: dict[str, Any] | None = None,
    recorder: bool = True,
) -> Iterator[World]:
    """``hub_fixtures.world`` served on a port chosen first, so that its settings can name
    the URL the store delivers webhooks to."""
    port = free_port()
    section = {
        "webhook_secret": WEBHOOK_SECRET,
        "webhook_url": f"http://127.0.0.1:{port}",
        # Tests drive polls and checks themselves.
        "order_poll_interval_seconds": 3600,
        "webhook_check_interval_seconds": 3600,
        "order_poll_overlap_seconds": 5,
        **(settings or {}),
    }
    plugins = ["recorder"] if recorder else []
    with world(tmp_path, settings=section, backend=backend, extra_plugins=plugins, port=port) as w:
        yield w


def plugin_hub(w: World) -> Hub:
    hub = w.rt.host.plugins["woocommerce"].hub
    assert hub is not None
    return hub


def seen() -> list[Any]:
    events: list[Any] = importlib.import_module("hub_fixture_plugins.recorder").SEEN
    return events


def catalogue(w: World, stock: dict[str, int]) -> None:
    """POS products with stock, pushed to the store so that links (store ids) exist."""
    products = [
        {"sku": sku, "name": f"Product {sku}", "price": "5.00", "stock": qty}
        for sku, qty in stock.items()
    ]
    assert w.http.post("/api/products/bulk", json={"products": products}).status_code < 300
    assert w.sync(full=True)["status"] == "succeeded"


def store_api(w: World, method: str, path: str, body: Any = None) -> httpx.Response:
    """A request to the store's REST API, as wp-admin or another client would make it."""
    return httpx.request(method, f"{w.sim.api_url}/{path}", json=body, auth=(KEY, SECRET))


def pos_stock(w: World, sku: str) -> int:
    return int(w.http.get(f"/api/products/{sku}").json()["stock"])


def poll(w: World) -> dict[str, Any]:
    """Sync Now for orders; waits for the job and returns it."""
    job = w.http.post(f"{API}/sync", json={"kind": "orders"}).json()
    return wait_for(
        lambda: (
            (j := w.http.get(f"/api/jobs/{job['id']}").json())["status"] in ("succeeded", "failed")
            and j
        ),
        timeout=20,
    )


def pos_order(w: World, store_id: int) -> tuple[Order, list[OrderLine]]:
    with plugin_hub(w).session() as s:
        order = s.exec(
            select(Order).where(Order.channel == "woocommerce", Order.external_id == str(store_id))
        ).one()
        lines = s.exec(
            select(OrderLine).where(OrderLine.order_id == order.id).order_by(col(OrderLine.id))
        ).all()
        return order, list(lines)


def moves(w: World, store_id: int) -> list[tuple[str, int]]:
    with plugin_hub(w).session() as s:
        rows = s.exec(
            select(OrderStockMove)
            .where(
                OrderStockMove.channel == "woocommerce",
                OrderStockMove.external_id == str(store_id),
            )
            .order_by(col(OrderStockMove.id))
        ).all()
        return [(r.sku, r.quantity) for r in rows]


def test_poll_matches_lines_by_sku_and_product_id_and_reports_unknown(tmp_path: Path) -> None:
    with order_world(tmp_path) as w:
        catalogue(w, {"OA-1": 10, "OB-1": 5})
        seen().clear()
        by_sku = w.store.place_order(
            [("OA-1", 2)], billing={"first_name": "Ann", "last_name": "Lee"}
        )
        # A store product whose SKU was cleared in wp-admin: only its product id links it.
        b_id = w.store.product_by_sku("OB-1")["id"]
        assert store_api(w, "PUT", f"products/{b_id}", {"sku": ""}).status_code == 200
        by_id = w.store.place_order(
            [],
            line_items=[
                {"product_id": b_id, "quantity": 1},
                {"sku": "NOT-IN-STORE", "quantity": 3},
            ],
        )
        job = poll(w)
        assert job["status"] == "succeeded", job
        assert job["result"]["imported"] == 2

        order, lines = pos_order(w, by_sku["id"])
        assert order.number == f"W{by_sku['number']}"
        assert order.status == "processing"
        assert order.customer == "Ann Lee"
        assert str(order.total) == by_sku["total"]
        assert [(ln.sku, ln.quantity, ln.product_id is not None) for ln in lines] == [
            ("OA-1", 2, True)
        ]
        order2, lines2 = pos_order(w, by_id["id"])
        assert [(ln.sku, ln.quantity, ln.product_id is not None) for ln in lines2] == [
            ("OB-1", 1, True),
            (None, 3, False),  # the store's nameless 0.00 line for an unknown product
        ]
        assert any("matches no POS product" in e["message"] for e in job["errors"])
        assert pos_stock(w, "OA-1") == 8
        assert pos_stock(w, "OB-1") == 4
        assert moves(w, by_sku["id"]) == [("OA-1", -2)]
        assert moves(w, by_id["id"]) == [("OB-1", -1)]
        imported = [e for e in seen() if e[0] == "imported"]
        assert sorted(imported) == sorted([("imported", order.number), ("imported", order2.number)])

        # Polling again (overlapping window): nothing changes, nothing fires.
        again = poll(w)
        assert again["result"]["imported"] == 0
        assert again["result"]["unchanged"] == 2
        assert pos_stock(w, "OA-1") == 8
        assert len([e for e in seen() if e[0] == "imported"]) == 2

        # The contract function, called directly (as the inventory side does).
        counts = orders.import_recent_orders(plugin_hub(w))
        assert counts["imported"] == 0 and counts["unchanged"] == 2 and counts["failed"] == 0
        status = w.http.get(f"{API}/status").json()["orders"]
        assert status["imported"] == 2 and status["watermark"]


def test_cancel_and_refund_give_stock_back_once(tmp_path: Path) -> None:
    with order_world(tmp_path) as w:
        catalogue(w, {"OC-1": 10})
        seen().clear()
        cancelled = w.store.place_order([("OC-1", 3)])
        refunded = w.store.place_order([("OC-1", 2)])
        pending = w.store.place_order([("OC-1", 1)], status="pending", set_paid=False)
        poll(w)
        assert pos_stock(w, "OC-1") == 5  # the pending order holds nothing yet

        w.store.set_order_status(cancelled["id"], "cancelled")
        r = store_api(w, "POST", f"orders/{refunded['id']}/refunds", {"amount": refunded["total"]})
        assert r.status_code == 201, r.text
        w.store.set_order_status(pending["id"], "processing")
        poll(w)
        poll(w)  # a second look changes nothing
        assert pos_stock(w, "OC-1") == 10 - 1
        order, _ = pos_order(w, cancelled["id"])
        assert order.status == "cancelled" and order.stock_returned
        order_r, _ = pos_order(w, refunded["id"])
        assert order_r.status == "refunded" and order_r.stock_returned
        assert moves(w, cancelled["id"]) == [("OC-1", -3), ("OC-1", 3)]
        assert moves(w, refunded["id"]) == [("OC-1", -2), ("OC-1", 2)]
        assert moves(w, pending["id"]) == [("OC-1", -1)]
        changes = [e for e in seen() if e[0] == "status"]
        assert sorted(c[2:] for c in changes) == sorted(
            [("processing", "cancelled"), ("processing", "refunded"), ("pending", "processing")]
        )


def test_concurrent_imports_of_one_order_move_stock_once(tmp_path: Path) -> None:
    with order_world(tmp_path, recorder=False) as w:
        catalogue(w, {"OD-1": 20})
        placed = w.store.place_order([("OD-1", 4)])
        hub = plugin_hub(w)
        data = orders.parse_order(w.store.order(placed["id"]))
        outcomes: list[str] = []

        def run() -> None:
            outcomes.append(orders.apply_order(hub, data, authoritative=True).outcome)

        threads = [threading.Thread(target=run) for _ in range(6)]
        threads += [
            threading.Thread(target=lambda: outcomes.append(str(orders.import_recent_orders(hub))))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("created") + sum("'imported': 1" in o for o in outcomes) == 1
        assert pos_stock(w, "OD-1") == 16

        w.store.set_order_status(placed["id"], "cancelled")
        cancelled = orders.parse_order(w.store.order(placed["id"]))
        outcomes.clear()
        threads = [
            threading.Thread(
                target=lambda: outcomes.append(
                    orders.apply_order(hub, cancelled, authoritative=True).outcome
                )
            )
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("updated") == 1, outcomes
        assert pos_stock(w, "OD-1") == 20
        order, _ = pos_order(w, placed["id"])
        assert order.status == "cancelled" and order.stock_returned
