"""Change detection: store-side stock and price changes logged, explained, corrected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.testing import wait_for
from tests.plugins.woocommerce.hub_fixtures import World, world
from tests.plugins.woocommerce.test_inventory_push import add_products, push, store_stock, wait_job

BASE = "/api/integrations/woocommerce"


def scan(w: World) -> dict[str, Any]:
    response = w.http.post(f"{BASE}/changes/scan")
    assert response.status_code == 202, response.text
    return wait_job(w, response.json())


def test_store_edits_are_logged_and_corrected_by_batch(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        skus = add_products(w, 6, stock=10)
        assert w.sync(full=True)["status"] == "succeeded"
        assert push(w)["status"] == "succeeded"
        w.store.set_stock(skus[0], 4)  # an edit in wp-admin
        w.store.set_stock(skus[1], 3)
        w.store.set_price(skus[2], "7.77")
        w.store.place_order([(skus[3], 2)])  # an online sale: explained, not corrected
        w.store.reset_counters()
        job = scan(w)
        assert job["status"] == "succeeded", job
        counts = job["result"]["counts"]
        assert counts["stock_drift"] == 3 and counts["price_drift"] == 1
        assert store_stock(w, skus[0]) == 10 and store_stock(w, skus[1]) == 10
        product = w.store.product_by_sku(skus[2])
        assert product is not None and product["regular_price"] == "10.00"
        assert store_stock(w, skus[3]) == 8
        assert w.http.get(f"/api/products/{skus[3]}").json()["stock"] == 8
        # One batch for the stock corrections, one for the price.
        assert w.store.counters["POST /products/batch"] == 2
        changes = {
            (c["sku"], c["field"]): c for c in w.http.get(f"{BASE}/changes").json()["changes"]
        }
        edit = changes[(skus[0], "stock")]
        assert edit["store_value"] == "4" and edit["expected_value"] == "10"
        assert not edit["explained"] and edit["corrected_at"]
        assert changes[(skus[2], "price")]["store_value"] == "7.77"
        sale = changes[(skus[3], "stock")]
        assert sale["explained"] and sale["order_id"]
        health = w.http.get(f"{BASE}/status").json()["change_detection"]
        assert health["unexplained"] == 3 and health["corrected"] == 3
        assert health["explained"] == 1 and health["max_seconds_to_correct"] is not None
        # Nothing left: the next scan finds nothing.
        assert scan(w)["result"]["counts"]["stock_drift"] == 0


def test_auto_correction_off_only_logs_and_can_be_switched_at_run_time(tmp_path: Path) -> None:
    with world(tmp_path) as w:
        skus = add_products(w, 2, stock=10)
        assert w.sync(full=True)["status"] == "succeeded"
        assert push(w)["status"] == "succeeded"
        assert w.http.put(f"{BASE}/auto-correct", json={"enabled": False}).status_code == 200
        assert w.http.get(f"{BASE}/status").json()["auto_correct"] is False
        w.store.set_stock(skus[0], 30)
        scan(w)
        scan(w)  # the same difference is logged once
        assert store_stock(w, skus[0]) == 30
        logged = w.http.get(f"{BASE}/changes", params={"sku": skus[0]}).json()["changes"]
        assert len(logged) == 1 and logged[0]["outcome"] == "auto-correction is off"
        # A full push leaves the store's edit alone too.
        push(w, full=True)
        assert store_stock(w, skus[0]) == 30
        w.http.put(f"{BASE}/auto-correct", json={"enabled": True})
        scan(w)
        assert store_stock(w, skus[0]) == 10


def test_periodic_scan_corrects_within_an_interval(tmp_path: Path) -> None:
    settings = {"drift_scan_interval_seconds": 1}
    with world(tmp_path, settings=settings) as w:
        skus = add_products(w, 2, stock=10)
        assert w.sync(full=True)["status"] == "succeeded"
        assert push(w)["status"] == "succeeded"
        w.store.set_stock(skus[1], 1)
        wait_for(lambda: store_stock(w, skus[1]) == 10, timeout=10)
