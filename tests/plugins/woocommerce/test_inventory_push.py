"""Inventory push against the simulator over real HTTP: batches, debounce, guard, races."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from hub.models import Product, StockLevel
from hub.testing import wait_for
from tests.plugins.woocommerce.hub_fixtures import World, world

PUSH = "/api/integrations/woocommerce/inventory/push"
FAST = {"inventory_debounce_seconds": 0.1, "edit_debounce_seconds": 60}


def add_products(w: World, n: int, stock: int = 5, prefix: str = "S") -> list[str]:
    items = [
        {"sku": f"{prefix}-{i:04d}", "name": f"Item {i}", "price": "10.00", "stock": stock}
        for i in range(n)
    ]
    assert w.http.post("/api/products/bulk", json={"products": items}).status_code == 200
    return [i["sku"] for i in items]


def wait_job(w: World, job: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (j := w.http.get(f"/api/jobs/{job['id']}").json())["status"] in ("succeeded", "failed")
            and j
        ),
        timeout=timeout,
    )


def push(w: World, **body: Any) -> dict[str, Any]:
    response = w.http.post(PUSH, json=body)
    assert response.status_code == 202, response.text
    return wait_job(w, response.json())


def store_stock(w: World, sku: str) -> int | None:
    product = w.store.product_by_sku(sku)
    assert product is not None
    return product["stock_quantity"]


def pos_stock(w: World, sku: str) -> int:
    return int(w.http.get(f"/api/products/{sku}").json()["stock"])


def test_push_sends_changed_levels_in_batches_and_nothing_twice(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        skus = add_products(w, 150)
        assert w.sync(full=True)["status"] == "succeeded"
        first = push(w)  # establishes what the store holds
        assert first["status"] == "succeeded", first
        items = [
            {"sku": sku, "name": f"Item {i}", "price": "10.00", "stock": 7 + i % 3}
            for i, sku in enumerate(skus[:130])
        ]
        w.http.post("/api/products/bulk", json={"products": items})
        w.store.reset_counters()
        job = push(w)
        assert job["status"] == "succeeded", job
        assert job["result"]["counts"]["written"] == 130
        assert w.store.counters["POST /products/batch"] == 2
        assert all(store_stock(w, s) == 7 + i % 3 for i, s in enumerate(skus[:130]))
        assert store_stock(w, skus[140]) == 5
        w.store.reset_counters()
        again = push(w)
        assert again["result"]["counts"].get("written", 0) == 0
        assert w.store.write_requests() == 0


def test_pos_stock_change_reaches_the_store_debounced(tmp_path: Path) -> None:
    with world(tmp_path, settings=FAST) as w:
        skus = add_products(w, 5)
        assert w.sync(full=True)["status"] == "succeeded"
        w.store.reset_counters()
        for n in (8, 9, 12):
            w.http.put(f"/api/stock/{skus[0]}", json={"on_hand": n})
        w.http.put(f"/api/stock/{skus[1]}", json={"on_hand": 20})
        wait_for(lambda: store_stock(w, skus[0]) == 12 and store_stock(w, skus[1]) == 20)
        assert w.store.counters["POST /products/batch"] <= 2


def test_available_to_sell_subtracts_reserved_units(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        skus = add_products(w, 2, stock=10)
        assert w.sync(full=True)["status"] == "succeeded"
        with w.rt.session() as s:
            product = s.exec(select(Product).where(Product.sku == skus[0])).one()
            level = s.get(StockLevel, product.id)
            assert level is not None
            level.reserved = 3
            s.add(level)
            s.commit()
        assert push(w)["status"] == "succeeded"
        assert store_stock(w, skus[0]) == 7
        w.http.put("/api/integrations/woocommerce/settings", json={"push_available_to_sell": False})
        assert push(w, full=True)["status"] == "succeeded"
        assert store_stock(w, skus[0]) == 10


def test_zero_and_large_drops_are_held_until_confirmed(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        skus = add_products(w, 3, stock=100)
        assert w.sync(full=True)["status"] == "succeeded"
        # An adjustment to zero and a bulk load that drops 100 -> 10 are not confirmed.
        w.http.post(f"/api/stock/{skus[0]}/adjust", json={"delta": -100})
        w.http.post(
            "/api/products/bulk",
            json={"products": [{"sku": skus[1], "name": "Item 1", "price": "10.00", "stock": 10}]},
        )
        # A count to 20 is confirmed: a large drop, but written.
        w.http.put(f"/api/stock/{skus[2]}", json={"on_hand": 20, "reason": "count"})
        job = push(w)
        assert store_stock(w, skus[0]) == 100 and store_stock(w, skus[1]) == 100
        assert store_stock(w, skus[2]) == 20
        held = w.http.get("/api/integrations/woocommerce/inventory/held").json()["held"]
        assert {h["sku"] for h in held} == {skus[0], skus[1]}
        assert "zero" in next(h for h in held if h["sku"] == skus[0])["reason"]
        assert job["result"]["counts"]["held"] == 2
        status = w.http.get("/api/integrations/woocommerce/status").json()
        assert status["inventory"]["held_count"] == 2
        # Pushing again holds them again; confirming sends them.
        push(w)
        assert store_stock(w, skus[0]) == 100
        confirmed = w.http.post(
            "/api/integrations/woocommerce/inventory/confirm", json={"skus": [skus[0]]}
        )
        assert confirmed.status_code == 202, confirmed.text
        wait_job(w, confirmed.json()["job"])
        assert store_stock(w, skus[0]) == 0
        assert store_stock(w, skus[1]) == 100
        held = w.http.get("/api/integrations/woocommerce/inventory/held").json()["held"]
        assert [h["sku"] for h in held] == [skus[1]]


def test_unexplained_store_value_imports_orders_before_pushing(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        skus = add_products(w, 3, stock=10)
        assert w.sync(full=True)["status"] == "succeeded"
        assert push(w)["status"] == "succeeded"
        # An online sale the hub has not seen, and a till sale of the same product.
        w.store.place_order([(skus[0], 3)])
        w.http.post("/api/orders", json={"lines": [{"sku": skus[0], "quantity": 2}]})
        job = push(w)
        assert job["status"] == "succeeded", job
        assert job["result"]["counts"]["unexplained"] >= 1
        # 10 - 3 online - 2 at the till, once each, in both places.
        wait_for(lambda: pos_stock(w, skus[0]) == 5 and store_stock(w, skus[0]) == 5)
        changes = w.http.get("/api/integrations/woocommerce/changes").json()["changes"]
        sale = next(c for c in changes if c["sku"] == skus[0])
        assert sale["explained"] and sale["order_id"]


def test_push_and_scan_on_postgresql_and_redis(tmp_path: Path) -> None:
    from hub.testing import postgres_database

    with (
        postgres_database() as url,
        world(tmp_path, backend={"database_url": url, "queue_backend": "redis"}) as w,
    ):
        skus = add_products(w, 120, stock=4)
        assert w.sync(full=True)["status"] == "succeeded"
        assert push(w)["status"] == "succeeded"
        w.http.put(f"/api/stock/{skus[0]}", json={"on_hand": 9})
        w.store.place_order([(skus[1], 1)])
        w.store.set_stock(skus[2], 40)
        job = push(w, full=True)
        assert job["status"] == "succeeded", job
        assert store_stock(w, skus[0]) == 9
        wait_for(lambda: pos_stock(w, skus[1]) == 3 and store_stock(w, skus[1]) == 3)
        assert store_stock(w, skus[2]) == 4


def test_a_write_held_twice_at_once_is_held_once_with_the_latest_reason(tmp_path: Path) -> None:
    # The push and the drift scan may hold the same SKU at the same moment: neither may fail.
    from plugins.woocommerce.inventory import InventoryPush
    from plugins.woocommerce.tables import HeldStock

    with world(tmp_path) as w:
        with w.rt.session() as s:
            InventoryPush.save_held(s, [HeldStock(sku="H-1", wanted=0, reason="zero")])
            s.commit()
        with w.rt.session() as s:
            InventoryPush.save_held(
                s, [HeldStock(sku="H-1", store_value=9, wanted=1, reason="big drop")]
            )
            s.commit()
            rows = s.exec(select(HeldStock)).all()
        assert [(r.sku, r.store_value, r.wanted, r.reason) for r in rows] == [
            ("H-1", 9, 1, "big drop")
        ]
